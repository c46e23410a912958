//! Sessions: one append-only JSONL file per conversation, written a line at a time so
//! that a crash, Ctrl-C or a full disk loses at most the line being written.
//!
//! Line 1 is the [`Header`]; every later line is an [`Entry`]: a message in the wire
//! shape, or an event (usage, a permission decision, an error, a compaction). Loading
//! ([`Transcript::load`]) skips a torn or unreadable line with a warning, and
//! [`repair`] makes any message list one an API accepts before it is sent.

mod repair;
mod store;
mod transcript;

use serde::{Deserialize, Serialize};

use crate::message::{Message, Usage};

pub use repair::{pending_calls, repair};
pub use store::{SessionError, SessionStore, SessionWriter};
pub use transcript::{RecordedCall, SessionSummary, Transcript};

/// The first line of a session file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub id: String,
    pub cwd: String,
    pub provider: String,
    pub model: String,
    /// The conch version that created it.
    pub version: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// Set on the session `conch replay` records: the session it replayed. Such a
    /// session is never the one `--continue` picks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// Set on the session a direct `conch tool` call that changed files records: the
    /// tool's name. Such a session is never the one `--continue` picks either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_run: Option<String>,
}

impl Header {
    /// The header of a session that records direct tool calls (`conch tool NAME`,
    /// `conch mcp serve`) in `cwd`: no provider or model.
    pub fn tool_run(cwd: &std::path::Path, run: &str) -> Self {
        Header {
            id: String::new(),
            cwd: cwd.to_string_lossy().into_owned(),
            provider: String::new(),
            model: String::new(),
            version: env!("CARGO_PKG_VERSION").into(),
            created: now_rfc3339(),
            replay_of: None,
            tool_run: Some(run.to_string()),
        }
    }
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A message of the conversation (`role`, `content`, `tool_calls`…, flattened).
    Message(Message),
    /// Tokens one request used.
    Usage(Usage),
    /// What the permission gate decided for one call.
    Permission(PermissionRecord),
    /// Something that went wrong in the run (not a tool error: those are messages).
    Error { message: String },
    /// The conversation from here on is `messages` (the compacted history), replacing
    /// every message before this line.
    Compaction {
        messages: Vec<Message>,
        /// Estimated prompt tokens before and after.
        tokens_before: u64,
        tokens_after: u64,
    },
    /// The user interrupted the turn (Ctrl-C).
    Interrupted,
    /// A tool's changes were written to disk; the pre-images are kept for undo.
    Changeset(crate::changeset::ChangeRecord),
    /// The changeset of this call was undone.
    Undone { call_id: String },
    /// From here on the session works as this agent profile (`build`, `plan`, or one
    /// from `[agents.NAME]`); `--continue` keeps the last one.
    Agent { name: String },
    /// From here on the session asks this model (the repl's `/model`); `--continue` keeps
    /// the last one unless `--model` says otherwise.
    Model { name: String },
    /// A tool read this file with this content (SHA-256, hex): edits may start from it.
    FileSeen {
        path: std::path::PathBuf,
        digest: String,
    },
    /// The provider ran one of its own tools (an agent CLI's); conch decided whether it
    /// may, but did not run it. `input` is JSON text.
    RemoteToolUse {
        id: String,
        name: String,
        input: String,
    },
    /// What one of the provider's own tools returned.
    RemoteToolResult {
        id: String,
        output: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// A tool set (or, with no value, removed) a key of the session's state.
    State {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
}

/// The session's key/value state after `entries`: the last value of each key wins.
pub fn state_from(entries: &[Entry]) -> std::collections::BTreeMap<String, String> {
    let mut state = std::collections::BTreeMap::new();
    for entry in entries {
        if let Entry::State { key, value } = entry {
            match value {
                Some(value) => state.insert(key.clone(), value.clone()),
                None => state.remove(key),
            };
        }
    }
    state
}

/// A permission decision, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRecord {
    pub call_id: String,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub allowed: bool,
    /// Who decided: `default`, `rule`, `flag`, `user`, `session` (an earlier "yes for
    /// this session"), or `headless` (an ask with no one to ask).
    pub by: String,
    /// The user said yes for the rest of the session to this tool.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remember: bool,
}

/// The time now, RFC 3339 to the second, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_entry_is_the_wire_message_with_a_type() {
        let line = serde_json::to_string(&Entry::Message(Message::user("hi"))).unwrap();
        assert_eq!(line, r#"{"type":"message","role":"user","content":"hi"}"#);
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, Entry::Message(Message::user("hi")));
    }
}
