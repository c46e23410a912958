//! Turning the model's JSON input into a typed value, with errors the model can act on.

use serde::de::DeserializeOwned;

use crate::ToolError;

/// Parses `json` into the tool's input type. A failure names the tool and says what
/// was wrong (missing field, wrong type), so the model can fix its call.
pub fn parse_input<T: DeserializeOwned>(tool: &str, json: &str) -> Result<T, ToolError> {
    serde_json::from_str(json)
        .map_err(|e| ToolError::InvalidInput(format!("invalid input for {tool}: {e}")))
}
