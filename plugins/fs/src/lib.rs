//! The fs plugin: conch's read-only file tools — `read`, `listdir`, `glob` and `grep`.
//!
//! Each tool is one module with a type implementing `conch_plugin::Tool`; this file
//! exports them. The host hands the plugin read-only preopens of the workspace roots, so the
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

conch_plugin::plugin!(read::Read, listdir::Listdir, glob::Glob, grep::Grep);

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
    use conch_plugin::{CallContext, Guest, ToolError};

    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }

    #[test]
    fn unknown_tools_are_named_with_the_available_ones() {
        let ctx = CallContext {
            cwd: "/".into(),
            roots: vec!["/".into()],
            session_id: String::new(),
            call_id: String::new(),
        };
        match ConchPlugin::invoke("write".into(), "{}".into(), ctx) {
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
