//! The names MCP tools go by: `mcp__SERVER__TOOL`, only `[A-Za-z0-9_-]`, at most 64
//! characters (what the model APIs accept), cut with a short hash suffix so that two long
//! names that share a beginning stay apart.

use sha2::{Digest, Sha256};

/// The longest tool name the model APIs accept.
pub const MAX_TOOL_NAME: usize = 64;
/// What every MCP tool name starts with.
pub const PREFIX: &str = "mcp__";

/// The model-facing name of `tool` on `server`.
pub fn tool_name(server: &str, tool: &str) -> String {
    let full = format!("{PREFIX}{}__{}", clean(server), clean(tool));
    if full.len() <= MAX_TOOL_NAME {
        return full;
    }
    let digest = Sha256::digest(format!("{server}/{tool}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    // `full` is ASCII, so any byte index is a char boundary.
    format!("{}_{hash}", &full[..MAX_TOOL_NAME - hash.len() - 1])
}

/// `name` with every character outside `[A-Za-z0-9_-]` replaced by `_`.
fn clean(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_prefixed_and_cleaned() {
        assert_eq!(tool_name("fix", "echo"), "mcp__fix__echo");
        assert_eq!(tool_name("fix", "get.file/v2"), "mcp__fix__get_file_v2");
    }

    #[test]
    fn long_names_are_cut_to_64_with_a_hash_that_keeps_them_apart() {
        let long = "a".repeat(80);
        let first = tool_name("fix", &format!("{long}1"));
        let second = tool_name("fix", &format!("{long}2"));
        assert_eq!(first.len(), MAX_TOOL_NAME);
        assert_eq!(second.len(), MAX_TOOL_NAME);
        assert_ne!(first, second);
        assert!(first.starts_with("mcp__fix__aaaa"), "{first}");
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }
}
