//! The `output` import (since 0.1.2, no capability): images a plugin attaches to the
//! result of the current call, for a model that takes them. The host, not the plugin,
//! decides what the bytes are, and caps how many and how large.

use super::CallState;
use super::bindings::conch::tool::output as wit;
use crate::image::Image;

/// Most images one call may attach: each goes with every later request.
pub const MAX_IMAGES_PER_CALL: usize = 4;

/// One call's attached images, and whether the model takes any.
#[derive(Debug, Clone, Default)]
pub struct OutputAccess {
    accepts_images: bool,
    /// What the call attached so far.
    pub images: Vec<Image>,
}

impl OutputAccess {
    pub fn new(accepts_images: bool) -> Self {
        OutputAccess {
            accepts_images,
            images: Vec::new(),
        }
    }

    /// Takes `data` as an image of `media_type` for the call's result; the error is
    /// worded for the model.
    pub fn attach_image(&mut self, media_type: &str, data: &[u8]) -> Result<(), String> {
        if !self.accepts_images {
            return Err("this model does not take images".into());
        }
        if self.images.len() >= MAX_IMAGES_PER_CALL {
            return Err(format!(
                "a tool result carries at most {MAX_IMAGES_PER_CALL} images"
            ));
        }
        let image = Image::from_bytes(data).map_err(|e| format!("image refused: {e}"))?;
        if image.media_type != media_type {
            return Err(format!(
                "image refused: its bytes are {}, not {media_type}",
                image.media_type
            ));
        }
        self.images.push(image);
        Ok(())
    }
}

impl wit::Host for CallState {
    fn attach_image(&mut self, media_type: String, data: Vec<u8>) -> Result<(), String> {
        let result = self.output.attach_image(&media_type, &data);
        if let Err(reason) = &result {
            tracing::debug!(plugin = %self.plugin, %media_type, bytes = data.len(), "{reason}");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn a_model_without_vision_gets_no_image_and_the_plugin_hears_why() {
        let mut output = OutputAccess::new(false);
        let refused = output.attach_image("image/png", PNG).unwrap_err();
        assert!(refused.contains("does not take images"), "{refused}");
        assert!(output.images.is_empty());
    }

    #[test]
    fn the_host_checks_the_bytes_and_the_count() {
        let mut output = OutputAccess::new(true);
        let wrong = output.attach_image("image/jpeg", PNG).unwrap_err();
        assert!(wrong.contains("its bytes are image/png"), "{wrong}");
        let text = output.attach_image("image/png", b"hello").unwrap_err();
        assert!(text.contains("not a PNG, JPEG, GIF or WebP"), "{text}");
        for _ in 0..MAX_IMAGES_PER_CALL {
            output.attach_image("image/png", PNG).unwrap();
        }
        let more = output.attach_image("image/png", PNG).unwrap_err();
        assert!(more.contains("at most"), "{more}");
        assert_eq!(output.images.len(), MAX_IMAGES_PER_CALL);
    }
}
