//! A conch plugin in Rust: `sortlines` sorts the lines of a text, optionally in reverse
//! and without repeated lines. Built with the conch-plugin SDK (`plugins/sdk`).

use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

// The input: serde parses the model's call into it, and its JSON Schema (these doc
// comments are the descriptions) is what the model is shown.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The lines to sort.
    text: String,
    /// Sort from Z to A (default false).
    #[serde(default)]
    reverse: bool,
    /// Keep one of each repeated line (default false).
    #[serde(default)]
    unique: bool,
}

struct SortLines;

impl Tool for SortLines {
    const NAME: &'static str = "sortlines";
    const DESCRIPTION: &'static str = "Sort the lines of a text alphabetically; optionally in reverse and without repeated lines.";
    type Input = Input;

    fn run(input: Input, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
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

conch_plugin::plugin!(SortLines);
