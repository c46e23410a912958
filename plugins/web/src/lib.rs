//! The web plugin: the `webfetch` tool. WebAssembly has no sockets here, so the host
//! fetches the URL through the `http` import (after the gate, its host lists and its
//! private-address check, following redirects itself); this plugin decodes the body by
//! its charset and turns HTML into Markdown or plain text for the model.

mod convert;

use conch_plugin::bindings::conch::tool::http::{self, Request, Response};
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

/// Body bytes downloaded when the model does not say (also the most it may ask for).
const MAX_BODY_BYTES: u64 = 2_000_000;
/// Text handed to the model; longer pages are cut with a notice.
const MAX_TEXT_BYTES: usize = 80 * 1024;
const DEFAULT_TIMEOUT_SECS: u32 = 30;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FetchInput {
    /// An http:// or https:// URL
    #[schemars(length(min = 1))]
    url: String,
    /// How to return an HTML page (default markdown)
    #[serde(default)]
    format: convert::Format,
    /// Seconds before the fetch is abandoned (default 30)
    #[schemars(range(min = 1, max = 120))]
    timeout_secs: Option<u32>,
    /// The most body bytes to download (default and maximum 2000000)
    #[schemars(range(min = 1))]
    max_bytes: Option<u64>,
}

/// The `webfetch` tool.
struct Webfetch;

impl Tool for Webfetch {
    const NAME: &'static str = "webfetch";
    const DESCRIPTION: &'static str = "Fetch a web page or file over HTTP(S) and read it \
        as Markdown (default), plain text, or the raw HTML. Redirects are followed. Only text \
        is returned (HTML, plain text, JSON, XML…); the body is capped (default 2 MB) and a \
        page longer than what you can read is cut with a notice. Default timeout 30 s \
        (timeout_secs, at most 120). Private and local network addresses are refused unless the \
        user allowed them. The user may be asked to approve each URL.";
    const PERMISSION: &'static str = "webfetch";
    const KEY_ARG: Option<&'static str> = Some("url");
    type Input = FetchInput;

    fn run(input: FetchInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        if !(input.url.starts_with("http://") || input.url.starts_with("https://")) {
            return Err(ToolError::InvalidInput(format!(
                "`{}` is not an http:// or https:// URL",
                input.url
            )));
        }
        let response = http::fetch(&Request {
            method: "GET".into(),
            url: input.url.clone(),
            headers: vec![(
                "accept".into(),
                "text/html, text/markdown, text/plain, application/json;q=0.9, */*;q=0.5".into(),
            )],
            body: None,
            timeout_ms: Some(
                input
                    .timeout_secs
                    .unwrap_or(DEFAULT_TIMEOUT_SECS)
                    .saturating_mul(1000),
            ),
            max_bytes: Some(
                input
                    .max_bytes
                    .unwrap_or(MAX_BODY_BYTES)
                    .min(MAX_BODY_BYTES),
            ),
        })
        .map_err(ToolError::Failed)?;
        page(&response, input.format)
    }
}

conch_plugin::plugin!(Webfetch);

/// The model's view of a response: an error for an HTTP error status or a binary body,
/// else a header line and the converted text.
fn page(response: &Response, format: convert::Format) -> Result<ToolOutput, ToolError> {
    let content_type = header(response, "content-type").unwrap_or("");
    if response.status >= 400 {
        let reason = match response.status {
            404 | 410 => ToolError::NotFound,
            401 | 403 => ToolError::Denied,
            _ => ToolError::Failed,
        };
        return Err(reason(format!(
            "{} answered HTTP {}",
            response.final_url, response.status
        )));
    }
    let text =
        convert::body_text(&response.body, content_type, format).map_err(ToolError::Failed)?;
    let notice = "[… the rest of the page is not shown: fetch with format \"text\" for less markup, or ask for a more specific URL]";
    let (text, cut) = conch_plugin::output::cap(text, MAX_TEXT_BYTES, notice);
    let mut out = format!("{} · HTTP {}", response.final_url, response.status);
    if !content_type.is_empty() {
        out.push_str(&format!(" · {content_type}"));
    }
    if response.truncated {
        out.push_str(&format!(
            " · body cut at {} bytes (the download limit)",
            response.body.len()
        ));
    }
    out.push_str("\n\n");
    out.push_str(text.trim_end());
    Ok(ToolOutput::text(out).with_metadata(&serde_json::json!({
        "url": response.final_url,
        "status": response.status,
        "content_type": content_type,
        "bytes": response.body.len(),
        "truncated": response.truncated || cut,
    })))
}

/// The value of header `name` (case-insensitive).
fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }
}
