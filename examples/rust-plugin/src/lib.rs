//! A conch plugin in Rust: `sortlines` sorts the lines of a text, optionally in reverse
//! and without repeated lines. Built with the conch-plugin SDK (`plugins/sdk`).

use conch_plugin::{CallContext, Guest, ToolError, ToolOutput};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    text: String,
    #[serde(default)]
    reverse: bool,
    #[serde(default)]
    unique: bool,
}

struct SortLines;

impl Guest for SortLines {
    fn invoke(tool: String, input: String, _ctx: CallContext) -> Result<ToolOutput, ToolError> {
        if tool != "sortlines" {
            return Err(ToolError::UnknownTool(format!(
                "this plugin has no tool `{tool}`"
            )));
        }
        let input: Input = conch_plugin::parse_input("sortlines", &input)?;
        if input.text.trim().is_empty() {
            return Err(ToolError::InvalidInput(
                "`text` is empty: give the lines to sort".into(),
            ));
        }
        let mut lines: Vec<&str> = input.text.lines().collect();
        lines.sort_unstable();
        if input.unique {
            lines.dedup();
        }
        if input.reverse {
            lines.reverse();
        }
        Ok(ToolOutput::text(lines.join("\n")))
    }
}

conch_plugin::export_plugin!(SortLines);
