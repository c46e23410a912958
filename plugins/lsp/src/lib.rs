//! The lsp plugin: the `lsp` tool. It checks the input and passes it to the host's `lsp`
//! import, which the host binds to the path the gate approved (permission `lsp`): the
//! host's language-server manager answers, and this plugin returns its text.

use conch_plugin::bindings::conch::tool::lsp;
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the tool can ask.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Operation {
    Definition,
    References,
    Hover,
    DocumentSymbols,
    WorkspaceSymbols,
    Implementation,
    IncomingCalls,
    OutgoingCalls,
    Diagnostics,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LspInput {
    /// What to ask the language server
    operation: Operation,
    /// The file (relative to the working directory or absolute); for workspace_symbols,
    /// optional: a file of the language to search (without it, the servers already running
    /// are asked)
    #[schemars(length(min = 1))]
    path: Option<String>,
    /// 1-based line of the place asked about (definition, references, hover,
    /// implementation, incoming_calls, outgoing_calls)
    #[schemars(range(min = 1))]
    line: Option<u32>,
    /// 1-based column in characters; or give `symbol` instead
    #[schemars(range(min = 1))]
    column: Option<u32>,
    /// A name on that line to ask about, instead of a column
    #[schemars(length(min = 1))]
    symbol: Option<String>,
    /// Which occurrence of `symbol` on the line (1-based, default 1)
    #[schemars(range(min = 1))]
    occurrence: Option<u32>,
    /// What to search for (workspace_symbols)
    query: Option<String>,
}

/// The `lsp` tool.
struct Lsp;

impl Tool for Lsp {
    const NAME: &'static str = "lsp";
    const DESCRIPTION: &'static str = "Ask the project's language server: definition, \
        references, hover, document_symbols, workspace_symbols, implementation, \
        incoming_calls, outgoing_calls or diagnostics. Give the file and, for a place in \
        it, the 1-based line and either the symbol's name on that line (preferred) or its \
        1-based column; workspace_symbols takes a `query` (its path is optional). Answers \
        are path:line:col with the source line.";
    const PERMISSION: &'static str = "lsp";
    const KEY_ARG: Option<&'static str> = Some("path");
    const KEY_ARG_FALLBACK: Option<&'static str> = Some("query");
    type Input = LspInput;

    fn run(input: LspInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let positional = !matches!(
            input.operation,
            Operation::DocumentSymbols | Operation::WorkspaceSymbols | Operation::Diagnostics
        );
        if positional
            && (input.line.is_none() || (input.column.is_none() && input.symbol.is_none()))
        {
            return Err(ToolError::InvalidInput(
                "this operation asks about a place: give `line` and `symbol` (or `column`)".into(),
            ));
        }
        if input.operation == Operation::WorkspaceSymbols && input.query.is_none() {
            return Err(ToolError::InvalidInput(
                "workspace_symbols needs `query`".into(),
            ));
        }
        if input.operation != Operation::WorkspaceSymbols && input.path.is_none() {
            return Err(ToolError::InvalidInput(
                "give `path`, the file to ask about".into(),
            ));
        }
        let request = serde_json::to_string(&input)
            .map_err(|e| ToolError::Failed(format!("cannot encode the request: {e}")))?;
        lsp::query(&request)
            .map(ToolOutput::text)
            .map_err(ToolError::Failed)
    }
}

conch_plugin::plugin!(Lsp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }
}
