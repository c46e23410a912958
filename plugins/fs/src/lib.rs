//! The fs plugin: conch's read-only file tools — `read`, `listdir`, `glob` and `grep`.
//!
//! Each tool is one module with a `run(workspace, input_json)` entry point; this file only
//! dispatches. The host hands the plugin read-only preopens of the workspace roots, so the
//! tools can never write, and a link leading out of the roots fails in the sandbox.

mod disk;
mod glob;
mod grep;
mod listdir;
mod locate;
mod read;
#[cfg(test)]
mod scratch;
mod walk;

use conch_plugin::{CallContext, Guest, ToolError, ToolOutput, Workspace};

/// The tools this plugin exports, as named in its manifest.
const TOOLS: [&str; 4] = ["read", "listdir", "glob", "grep"];

struct Fs;

impl Guest for Fs {
    fn invoke(tool: String, input: String, ctx: CallContext) -> Result<ToolOutput, ToolError> {
        let ws = Workspace::new(&ctx);
        match tool.as_str() {
            "read" => read::run(&ws, &input),
            "listdir" => listdir::run(&ws, &input),
            "glob" => glob::run(&ws, &input),
            "grep" => grep::run(&ws, &input),
            other => Err(ToolError::UnknownTool(format!(
                "the fs plugin has no tool `{other}`; its tools are {}",
                TOOLS.join(", ")
            ))),
        }
    }
}

conch_plugin::export_plugin!(Fs);

/// `1 line`, `2 lines`: a count with its noun.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A displayed directory in a sentence: `.` reads as "the working directory".
fn place(shown: &str) -> String {
    if shown == "." {
        "the working directory".to_string()
    } else {
        shown.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tools_are_named_with_the_available_ones() {
        let ctx = CallContext {
            cwd: "/".into(),
            roots: vec!["/".into()],
            session_id: String::new(),
            call_id: String::new(),
        };
        match Fs::invoke("write".into(), "{}".into(), ctx) {
            Err(ToolError::UnknownTool(m)) => {
                assert!(
                    m.contains("`write`") && m.contains("read, listdir, glob, grep"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
