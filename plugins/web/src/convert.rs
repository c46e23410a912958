//! From response bytes to text: the charset (Content-Type, then a BOM or `<meta>` in
//! the page, then UTF-8), and HTML to Markdown (htmd) or plain text (html2text).

use encoding_rs::{Encoding, UTF_8};
use schemars::JsonSchema;
use serde::Deserialize;

/// How an HTML page is returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Markdown,
    Text,
    Html,
}

/// Width plain text is wrapped at.
const TEXT_WIDTH: usize = 100;
/// How far into a page a `<meta charset>` is looked for (as browsers do).
const META_SNIFF_BYTES: usize = 1024;

/// The body as text in `format`; `Err` for a body that is not text.
pub fn body_text(body: &[u8], content_type: &str, format: Format) -> Result<String, String> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let html = mime == "text/html"
        || mime == "application/xhtml+xml"
        || (mime.is_empty() && looks_like_html(body));
    if !html && !is_text(&mime) {
        return Err(format!(
            "the response is `{mime}`, not text; webfetch only returns text pages"
        ));
    }
    let text = decode(body, content_type, html);
    if !html {
        return Ok(text);
    }
    match format {
        Format::Html => Ok(text),
        Format::Markdown => htmd::HtmlToMarkdown::builder()
            .skip_tags(vec!["script", "style", "noscript", "template", "head"])
            .build()
            .convert(&text)
            .map_err(|e| format!("cannot convert the page to Markdown: {e}")),
        Format::Text => html2text::config::plain()
            .no_link_wrapping()
            .string_from_read(text.as_bytes(), TEXT_WIDTH)
            .map_err(|e| format!("cannot convert the page to text: {e}")),
    }
}

fn is_text(mime: &str) -> bool {
    mime.is_empty()
        || mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-javascript"
                | "application/toml"
                | "application/yaml"
                | "application/x-yaml"
        )
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    let start = start.trim_start();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// Decodes `body`: a BOM wins, then the Content-Type's charset, then (for HTML) a
/// `<meta>` charset near the start, then UTF-8. Invalid bytes become U+FFFD.
fn decode(body: &[u8], content_type: &str, html: bool) -> String {
    let declared = charset_param(content_type)
        .or_else(|| html.then(|| meta_charset(body)).flatten())
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .unwrap_or(UTF_8);
    let (text, _, _) = declared.decode(body);
    text.into_owned()
}

/// `charset=…` of a Content-Type value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The charset of `<meta charset="…">` or `<meta http-equiv … content="…; charset=…">`.
fn meta_charset(body: &[u8]) -> Option<String> {
    let head =
        String::from_utf8_lossy(&body[..body.len().min(META_SNIFF_BYTES)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_markdown_without_scripts() {
        let page = b"<html><head><title>t</title><script>x()</script></head><body><h1>Hello</h1><p>A <a href=\"/x\">link</a>.</p></body></html>";
        let text = body_text(page, "text/html", Format::Markdown).unwrap();
        assert!(text.contains("# Hello"), "{text}");
        assert!(text.contains("[link](/x)"), "{text}");
        assert!(!text.contains("x()"), "{text}");
    }

    #[test]
    fn charset_comes_from_the_header_then_the_page() {
        let latin1 = b"caf\xe9";
        assert_eq!(
            body_text(latin1, "text/plain; charset=ISO-8859-1", Format::Text).unwrap(),
            "café"
        );
        let page =
            b"<html><head><meta charset=\"windows-1252\"></head><body><p>caf\xe9</p></body></html>";
        assert!(
            body_text(page, "text/html", Format::Text)
                .unwrap()
                .contains("café")
        );
        assert_eq!(
            body_text("é".as_bytes(), "text/plain", Format::Text).unwrap(),
            "é"
        );
    }

    #[test]
    fn binary_bodies_are_refused() {
        let err = body_text(b"\x89PNG", "image/png", Format::Markdown).unwrap_err();
        assert!(err.contains("image/png"), "{err}");
    }
}
