//! Images a conversation carries (`--image`, `/image`, a `read` of a picture): the four
//! formats every vision API takes, told apart by their first bytes rather than a file
//! name, and capped in size, since each one is sent with every later request.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The largest image conch sends: what the strictest hosted APIs take per image.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// One image: its media type and its bytes, kept base64-encoded as the APIs and the
/// session file want them (encoded once, not at every request).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The bytes, base64 (standard alphabet, padded).
    #[serde(rename = "data")]
    base64: String,
}

/// Why bytes are not an image conch sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNG, JPEG, GIF or WebP image")]
    Unsupported,
    #[error("{} is over the {} MB an image may have", size_text(*.size), MAX_IMAGE_BYTES >> 20)]
    TooLarge { size: u64 },
}

impl Image {
    /// The image in `bytes`, its type read from its first bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, ImageError> {
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(ImageError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        let media_type = media_type(bytes).ok_or(ImageError::Unsupported)?;
        Ok(Image {
            media_type: media_type.to_string(),
            base64: STANDARD.encode(bytes),
        })
    }

    /// The image in the file at `path`; the message names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Image, String> {
        let shown = path.display();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let size = file
            .metadata()
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .len();
        if size > MAX_IMAGE_BYTES as u64 {
            return Err(format!("{shown}: {}", ImageError::TooLarge { size }));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // One byte more than the cap shows a file that grew while being read.
        file.take(MAX_IMAGE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        Image::from_bytes(&bytes).map_err(|e| format!("{shown}: {e}"))
    }

    /// The bytes, base64-encoded.
    pub fn base64(&self) -> &str {
        &self.base64
    }

    /// `data:MEDIA;base64,…`, as chat completions take an image.
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.media_type, self.base64)
    }

    /// How many bytes the image has (from the length of its encoding).
    pub fn byte_len(&self) -> u64 {
        let padding = self.base64.bytes().rev().take_while(|&b| b == b'=').count();
        ((self.base64.len() / 4 * 3).saturating_sub(padding)) as u64
    }

    /// A line for people and for models that cannot see it: `[image: image/png, 12.3 KB]`.
    pub fn notice(&self) -> String {
        format!(
            "[image: {}, {}]",
            self.media_type,
            size_text(self.byte_len())
        )
    }
}

/// Never the bytes: an image in a log or a test failure is a notice.
impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.notice())
    }
}

/// The media type `bytes` start like, if it is one of the four formats.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

fn size_text(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn formats_are_known_by_their_first_bytes_not_their_name() {
        assert_eq!(media_type(PNG_HEAD), Some("image/png"));
        assert_eq!(
            media_type(b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
            Some("image/jpeg")
        );
        assert_eq!(media_type(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(media_type(b"GIF87a\x01\0"), Some("image/gif"));
        assert_eq!(media_type(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(media_type(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(media_type(b"<svg xmlns="), None);
        assert_eq!(media_type(b"\x89PN"), None);
    }

    #[test]
    fn an_image_keeps_its_bytes_and_says_its_size() {
        for len in [0, 1, 2, 3, 100] {
            let mut bytes = PNG_HEAD.to_vec();
            bytes.extend(std::iter::repeat_n(7u8, len));
            let image = Image::from_bytes(&bytes).unwrap();
            assert_eq!(image.byte_len(), bytes.len() as u64);
            assert_eq!(STANDARD.decode(image.base64()).unwrap(), bytes);
            assert!(
                image
                    .data_url()
                    .starts_with("data:image/png;base64,iVBORw0KGgo")
            );
        }
    }

    #[test]
    fn too_large_and_unknown_bytes_are_refused() {
        let mut big = PNG_HEAD.to_vec();
        big.resize(MAX_IMAGE_BYTES + 1, 0);
        assert_eq!(
            Image::from_bytes(&big),
            Err(ImageError::TooLarge {
                size: big.len() as u64
            })
        );
        assert_eq!(
            Image::from_bytes(b"just text"),
            Err(ImageError::Unsupported)
        );
    }

    #[test]
    fn the_session_form_is_media_type_and_base64() {
        let image = Image::from_bytes(PNG_HEAD).unwrap();
        let json = serde_json::to_value(&image).unwrap();
        assert_eq!(json["media_type"], "image/png");
        assert_eq!(json["data"], STANDARD.encode(PNG_HEAD));
        assert_eq!(serde_json::from_value::<Image>(json).unwrap(), image);
        assert_eq!(format!("{image:?}"), "[image: image/png, 16 bytes]");
    }
}
