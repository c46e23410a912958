//! Keeping output within what the model should read, always saying what was left out.

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
