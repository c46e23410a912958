//! The `mcp` plugin: every MCP tool (`mcp__SERVER__TOOL`) runs here. The host lists the
//! tools from the servers and binds each call's `mcp` import to exactly the server and
//! tool the gate approved, so this plugin cannot pick another; it passes the arguments
//! on and renders the `tools/call` result for the model: text as it is, structured
//! content as JSON, embedded resources by URI with their text, images and audio as a
//! notice, and `isError` as a failed call.

use conch_plugin::bindings::conch::tool::mcp;
use conch_plugin::{CallContext, Guest, ToolError, ToolOutput};
use serde_json::Value;

struct McpPlugin;

impl Guest for McpPlugin {
    fn invoke(
        _tool: String,
        input_json: String,
        _ctx: CallContext,
    ) -> Result<ToolOutput, ToolError> {
        let result = mcp::call(&input_json).map_err(ToolError::Failed)?;
        let result: Value = serde_json::from_str(&result)
            .map_err(|e| ToolError::Failed(format!("the MCP server's result is not JSON: {e}")))?;
        let text = render(&result);
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(ToolError::Failed(if text.is_empty() {
                "the MCP tool reported an error without a message".into()
            } else {
                text
            }));
        }
        Ok(ToolOutput::text(text))
    }
}

conch_plugin::export_plugin!(McpPlugin);

/// The text the model reads for a `tools/call` result.
pub fn render(result: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for block in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or("");
        match field("type") {
            "text" => parts.push(field("text").to_string()),
            "image" | "audio" => parts.push(format!(
                "[{} content ({}) not shown: conch passes only text to the model]",
                field("type"),
                if field("mimeType").is_empty() {
                    "no type given"
                } else {
                    field("mimeType")
                }
            )),
            "resource" => {
                let resource = block.get("resource").cloned().unwrap_or(Value::Null);
                let get = |name: &str| resource.get(name).and_then(Value::as_str);
                let uri = get("uri").unwrap_or("(no uri)");
                parts.push(match get("text") {
                    Some(text) => format!("[resource {uri}]\n{text}"),
                    None => format!("[resource {uri}: binary content not shown]"),
                });
            }
            "resource_link" => parts.push(format!(
                "[resource link {}{}]",
                field("uri"),
                match field("name") {
                    "" => String::new(),
                    name => format!(" ({name})"),
                }
            )),
            other => parts.push(format!("[content of type `{other}` not shown]")),
        }
    }
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        // Servers often send the same data as text too; the JSON is what is exact.
        let json = serde_json::to_string_pretty(structured).unwrap_or_default();
        if !parts.iter().any(|part| part.trim() == json.trim()) {
            parts.push(format!("structured content:\n{json}"));
        }
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_structured_resources_and_images_are_rendered_for_the_model() {
        let result = json!({
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "A"}},
                {"type": "resource_link", "uri": "file:///b", "name": "b"}
            ],
            "structuredContent": {"n": 1}
        });
        let text = render(&result);
        assert!(text.starts_with("hello\n"), "{text}");
        assert!(
            text.contains("[image content (image/png) not shown"),
            "{text}"
        );
        assert!(text.contains("[resource file:///a.txt]\nA"), "{text}");
        assert!(text.contains("[resource link file:///b (b)]"), "{text}");
        assert!(text.contains("\"n\": 1"), "{text}");
        assert!(!text.contains("AAAA"), "{text}");
    }
}
