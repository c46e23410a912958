//! Keeping output within what the model should read, always saying what was left out;
//! images for a model that sees them.

/// The largest image the host takes (`attach_image`); larger ones are not worth reading.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// The media type of an image in a format the host takes (PNG, JPEG, GIF, WebP), told
/// by its first bytes.
pub fn image_media_type(bytes: &[u8]) -> Option<&'static str> {
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

/// Attaches an image to the current call's result, for the model to see (the `output`
/// import). `Err` says why not — the model does not take images, or the host refused
/// the bytes — and the tool should then say in text what the file is.
pub fn attach_image(media_type: &str, data: &[u8]) -> Result<(), String> {
    crate::bindings::conch::tool::output::attach_image(media_type, data)
}

/// Cuts `text` to at most `max_bytes` (on a char boundary) and appends `notice` when it
/// had to cut. Returns the text and whether it was cut.
pub fn cap(mut text: String, max_bytes: usize, notice: &str) -> (String, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Prefer to cut at a line end so no line is shown half.
    if let Some(nl) = text[..end].rfind('\n') {
        end = nl + 1;
    }
    text.truncate(end);
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text.push_str(notice);
    (text, true)
}

/// Cuts one line to `max_chars` characters, marking the cut.
pub fn cut_line(line: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match line.char_indices().nth(max_chars) {
        None => std::borrow::Cow::Borrowed(line),
        Some((at, _)) => std::borrow::Cow::Owned(format!(
            "{}… [line cut at {max_chars} characters]",
            &line[..at]
        )),
    }
}
