//! Reading a session file back: the conversation to continue, what it cost, and a
//! readable rendering for `conch sessions show`.

use std::fmt::Write as _;
use std::path::Path;

use super::store::{SessionError, SessionStore};
use super::{Entry, Header};
use crate::message::{Message, ToolCall, Usage};

/// A session as loaded from disk.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub header: Header,
    /// The conversation to send on with (after the last compaction).
    pub messages: Vec<Message>,
    /// Every line after the header, in order (for `sessions show`).
    pub entries: Vec<Entry>,
    /// Token use summed over all requests.
    pub usage: Usage,
    /// Lines that could not be read and were skipped (1-based line numbers).
    pub skipped: Vec<usize>,
}

/// One row of `conch sessions`.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: String,
    pub created: String,
    pub cwd: String,
    pub first_prompt: String,
    pub turns: usize,
    pub tokens: u64,
}

/// A tool call of the session, the result it got then (`None`: it has none, e.g. after
/// a crash), and the agent profile in use when it was made (`None`: none recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub call: ToolCall,
    pub result: Option<String>,
    pub agent: Option<String>,
}

impl Transcript {
    /// Loads the session `id` names: an id, or the start of exactly one.
    pub fn load(store: &SessionStore, id: &str) -> Result<Self, SessionError> {
        Self::read(&store.path(&store.resolve(id)?))
    }

    /// The newest session whose working directory is `cwd`.
    pub fn latest_in(store: &SessionStore, cwd: &Path) -> Result<Self, SessionError> {
        let cwd = cwd.to_string_lossy();
        for id in store.ids()? {
            // Read only the header line first: most sessions are elsewhere.
            let Ok(header) = read_header(&store.path(&id)) else {
                continue;
            };
            if header.cwd == cwd && header.replay_of.is_none() && header.tool_run.is_none() {
                return Self::load(store, &id);
            }
        }
        Err(SessionError::NoneHere {
            cwd: cwd.into_owned(),
        })
    }

    /// The latest session of `cwd`, replays included, with a change left to undo: what
    /// `conch undo` means when no session is named. `None` when there is none.
    pub fn latest_with_changes_in(
        store: &SessionStore,
        cwd: &Path,
    ) -> Result<Option<Self>, SessionError> {
        let cwd = cwd.to_string_lossy();
        for id in store.ids()? {
            let Ok(header) = read_header(&store.path(&id)) else {
                continue;
            };
            if header.cwd != cwd {
                continue;
            }
            let transcript = Self::load(store, &id)?;
            if transcript.last_changeset().is_some() {
                return Ok(Some(transcript));
            }
        }
        Ok(None)
    }

    /// Reads a session file. A line that does not parse (a torn last line after a
    /// crash, or a damaged one) is skipped with a warning; only a missing or unreadable
    /// header is an error.
    pub fn read(path: &Path) -> Result<Self, SessionError> {
        let text = std::fs::read(path).map_err(|source| SessionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&text);
        let mut lines = text.lines();
        let header: Header = lines
            .next()
            .and_then(|line| serde_json::from_str(line).ok())
            .ok_or_else(|| SessionError::NotASession {
                path: path.to_path_buf(),
                why: "the first line is not a session header".into(),
            })?;
        let mut transcript = Transcript {
            header,
            messages: Vec::new(),
            entries: Vec::new(),
            usage: Usage::default(),
            skipped: Vec::new(),
        };
        for (index, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => transcript.apply(entry),
                Err(e) => {
                    let number = index + 2;
                    tracing::warn!(
                        file = %path.display(),
                        line = number,
                        "skipping an unreadable session line: {e}"
                    );
                    transcript.skipped.push(number);
                }
            }
        }
        Ok(transcript)
    }

    fn apply(&mut self, entry: Entry) {
        match &entry {
            Entry::Message(message) => self.messages.push(message.clone()),
            Entry::Usage(usage) => {
                self.usage.prompt_tokens += usage.prompt_tokens;
                self.usage.completion_tokens += usage.completion_tokens;
                self.usage.cached_prompt_tokens += usage.cached_prompt_tokens;
            }
            Entry::Compaction { messages, .. } => self.messages = messages.clone(),
            Entry::Permission(_)
            | Entry::Error { .. }
            | Entry::Interrupted
            | Entry::Changeset(_)
            | Entry::Undone { .. }
            | Entry::Agent { .. }
            | Entry::Model { .. }
            | Entry::FileSeen { .. }
            | Entry::RemoteToolUse { .. }
            | Entry::RemoteToolResult { .. }
            | Entry::State { .. } => {}
        }
        self.entries.push(entry);
    }

    /// Every tool call of the session in order, each assistant message's calls as one
    /// group, with the result each got. Results are matched by call id among the calls
    /// of the latest assistant message (ids need not be unique across a session).
    pub fn recorded_calls(&self) -> Vec<Vec<RecordedCall>> {
        let mut groups: Vec<Vec<RecordedCall>> = Vec::new();
        let mut agent = None;
        for entry in &self.entries {
            match entry {
                Entry::Agent { name } => agent = Some(name.clone()),
                Entry::Message(Message::Assistant { tool_calls, .. }) if !tool_calls.is_empty() => {
                    groups.push(
                        tool_calls
                            .iter()
                            .map(|call| RecordedCall {
                                call: call.clone(),
                                result: None,
                                agent: agent.clone(),
                            })
                            .collect(),
                    );
                }
                Entry::Message(Message::Tool {
                    tool_call_id,
                    content,
                    ..
                }) => {
                    let unanswered = groups.last_mut().and_then(|group| {
                        group
                            .iter_mut()
                            .find(|r| r.call.id == *tool_call_id && r.result.is_none())
                    });
                    if let Some(recorded) = unanswered {
                        recorded.result = Some(content.clone());
                    }
                }
                _ => {}
            }
        }
        groups
    }

    /// The agent profile the session works as: the last one it recorded, if any.
    pub fn agent(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|entry| match entry {
            Entry::Agent { name } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The last changeset that has not been undone.
    pub fn last_changeset(&self) -> Option<&crate::changeset::ChangeRecord> {
        let undone: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Undone { call_id } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        self.entries.iter().rev().find_map(|entry| match entry {
            Entry::Changeset(record) if !undone.contains(&record.call_id.as_str()) => Some(record),
            _ => None,
        })
    }

    /// The decisions where the user said "yes for this session".
    pub fn remembered(&self) -> Vec<&crate::session::PermissionRecord> {
        self.entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Permission(record) if record.remember && record.allowed => Some(record),
                _ => None,
            })
            .collect()
    }

    /// The row for `conch sessions`.
    pub fn summary(&self) -> SessionSummary {
        let mut prompts = self.entries.iter().filter_map(|entry| match entry {
            Entry::Message(Message::User { content, .. }) => Some(content.as_str()),
            _ => None,
        });
        let first_prompt = match (&self.header.replay_of, &self.header.tool_run) {
            (Some(original), _) => format!("(replay of {original})"),
            (None, Some(run)) if run == "mcp serve" => "(conch mcp serve)".to_string(),
            (None, Some(tool)) => format!("(conch tool {tool})"),
            (None, None) => prompts.next().unwrap_or("").to_string(),
        };
        SessionSummary {
            id: self.header.id.clone(),
            created: self.header.created.clone(),
            cwd: self.header.cwd.clone(),
            turns: usize::from(!first_prompt.is_empty()) + prompts.count(),
            first_prompt,
            tokens: self.usage.prompt_tokens + self.usage.completion_tokens,
        }
    }

    /// The whole session as text for a person.
    pub fn render(&self) -> String {
        let h = &self.header;
        let mut out = String::new();
        let _ = writeln!(out, "session {}  {}", h.id, h.created);
        let _ = writeln!(out, "cwd      {}", h.cwd);
        let _ = writeln!(out, "model    {} ({})", h.model, h.provider);
        let _ = writeln!(
            out,
            "tokens   {} in, {} out",
            self.usage.prompt_tokens, self.usage.completion_tokens
        );
        for entry in &self.entries {
            if matches!(entry, Entry::Usage(_) | Entry::FileSeen { .. }) {
                continue;
            }
            out.push('\n');
            match entry {
                Entry::Message(Message::System { .. }) => out.push_str("[system prompt]\n"),
                Entry::Message(Message::User { content, images }) => {
                    let _ = writeln!(out, "> {}", content.replace('\n', "\n> "));
                    for image in images {
                        let _ = writeln!(out, "> {}", image.notice());
                    }
                }
                Entry::Message(Message::Assistant {
                    content,
                    tool_calls,
                    ..
                }) => {
                    if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                        let _ = writeln!(out, "{}", text.trim_end());
                    }
                    for call in tool_calls {
                        let _ = writeln!(out, "→ {} {}", call.name, call.arguments);
                    }
                }
                Entry::Message(Message::Tool {
                    content, images, ..
                }) => {
                    let _ = writeln!(out, "{}", indent_preview(content, 6));
                    for image in images {
                        let _ = writeln!(out, "  │ {}", image.notice());
                    }
                }
                Entry::Usage(_) => {}
                Entry::Permission(p) => {
                    let verdict = if p.allowed { "allowed" } else { "denied" };
                    let _ = writeln!(
                        out,
                        "[permission] {} {} {verdict} by {}",
                        p.tool,
                        p.key.as_deref().unwrap_or(""),
                        p.by
                    );
                }
                Entry::Error { message } => {
                    let _ = writeln!(out, "[error] {message}");
                }
                Entry::Compaction {
                    tokens_before,
                    tokens_after,
                    ..
                } => {
                    let _ = writeln!(
                        out,
                        "[compacted: ~{tokens_before} → ~{tokens_after} tokens]"
                    );
                }
                Entry::Interrupted => out.push_str("[interrupted]\n"),
                Entry::Changeset(record) => {
                    let _ = writeln!(out, "[changed] {}", record.summary);
                }
                Entry::Undone { call_id } => {
                    let _ = writeln!(out, "[undone] the changes of {call_id}");
                }
                Entry::Agent { name } => {
                    let _ = writeln!(out, "[agent] {name}");
                }
                Entry::Model { name } => {
                    let _ = writeln!(out, "[model] {name}");
                }
                Entry::FileSeen { .. } => {}
                Entry::RemoteToolUse { name, input, .. } => {
                    let _ = writeln!(out, "⤷ {name} {input} (remote)");
                }
                Entry::RemoteToolResult {
                    output, is_error, ..
                } => {
                    let output = if *is_error {
                        format!("error: {output}")
                    } else {
                        output.clone()
                    };
                    let _ = writeln!(out, "{}", indent_preview(&output, 6));
                }
                Entry::State { key, value } => {
                    let verdict = if value.is_some() { "set" } else { "removed" };
                    let _ = writeln!(out, "[state] {key} {verdict}");
                }
            }
        }
        out
    }
}

/// The header of a session file, reading only its first line.
fn read_header(path: &Path) -> Result<Header, SessionError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|source| SessionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(|source| SessionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    serde_json::from_str(&line).map_err(|e| SessionError::NotASession {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// The first `lines` lines of a tool result, indented, with a count of the rest.
fn indent_preview(text: &str, lines: usize) -> String {
    let total = text.lines().count();
    let mut out: Vec<String> = text
        .lines()
        .take(lines)
        .map(|l| format!("  │ {l}"))
        .collect();
    if total > lines {
        out.push(format!("  │ … {} more lines", total - lines));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Header, PermissionRecord};
    use std::io::Write;

    fn header() -> Header {
        Header {
            id: String::new(),
            cwd: "/proj".into(),
            provider: "mock".into(),
            model: "m".into(),
            version: "0.1.0".into(),
            created: "2026-11-23T12:00:00Z".into(),
            replay_of: None,
            tool_run: None,
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::at(dir.path().to_path_buf());
        let mut writer = store.create(header()).unwrap();
        writer
            .append(&Entry::Message(Message::user("hello")))
            .unwrap();
        writer
            .append(&Entry::Usage(Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
                cached_prompt_tokens: 0,
            }))
            .unwrap();
        writer
            .append(&Entry::Permission(PermissionRecord {
                call_id: "c".into(),
                tool: "write".into(),
                key: None,
                allowed: true,
                by: "user".into(),
                remember: true,
            }))
            .unwrap();
        let id = writer.id().to_string();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(store.path(&id))
            .unwrap();
        file.write_all(br#"{"type":"message","role":"assi"#)
            .unwrap();
        let transcript = Transcript::load(&store, &id).unwrap();
        assert_eq!(transcript.messages, vec![Message::user("hello")]);
        assert_eq!(transcript.skipped, vec![5]);
        assert_eq!(transcript.usage.prompt_tokens, 10);
        let remembered: Vec<&str> = transcript
            .remembered()
            .iter()
            .map(|r| r.tool.as_str())
            .collect();
        assert_eq!(remembered, ["write"]);
        let summary = transcript.summary();
        assert_eq!((summary.turns, summary.tokens), (1, 12));
        assert_eq!(
            Transcript::latest_in(&store, Path::new("/proj"))
                .unwrap()
                .header
                .id,
            id
        );
        assert!(matches!(
            Transcript::latest_in(&store, Path::new("/other")),
            Err(SessionError::NoneHere { .. })
        ));
    }

    #[test]
    fn recorded_calls_pair_results_within_their_turn_and_carry_the_agent() {
        use crate::message::ToolCall;
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::at(dir.path().to_path_buf());
        let mut writer = store.create(header()).unwrap();
        let call = |args: &str| ToolCall {
            id: "call_1".into(),
            name: "read".into(),
            arguments: args.into(),
        };
        let asks = |args: &str| {
            Entry::Message(Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: vec![call(args)],
            })
        };
        for entry in [
            Entry::Agent {
                name: "plan".into(),
            },
            asks("first"),
            Entry::Message(Message::tool_result("call_1", "one")),
            Entry::Agent {
                name: "build".into(),
            },
            // The same id again in a later turn, and a crash before its result.
            asks("second"),
        ] {
            writer.append(&entry).unwrap();
        }
        let transcript = Transcript::load(&store, writer.id()).unwrap();
        let groups = transcript.recorded_calls();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0][0].result.as_deref(), Some("one"));
        assert_eq!(groups[0][0].agent.as_deref(), Some("plan"));
        assert_eq!(groups[1][0].call.arguments, "second");
        assert_eq!(groups[1][0].result, None);
        assert_eq!(groups[1][0].agent.as_deref(), Some("build"));
        assert_eq!(transcript.agent(), Some("build"));
    }

    #[test]
    fn a_session_is_found_by_the_start_of_its_id_when_only_one_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::at(dir.path().to_path_buf());
        for id in [
            "20261123-120000-aaaa",
            "20261123-120000-aabb",
            "20261124-090000-cccc",
        ] {
            std::fs::write(store.path(id), "").unwrap();
        }
        assert_eq!(store.resolve("20261124").unwrap(), "20261124-090000-cccc");
        assert_eq!(
            store.resolve("20261123-120000-aaaa").unwrap(),
            "20261123-120000-aaaa"
        );
        let err = store.resolve("20261123-120000-aa").unwrap_err().to_string();
        assert!(err.contains("could name several sessions"), "{err}");
        assert!(matches!(
            store.resolve("2027"),
            Err(SessionError::NotFound { .. })
        ));
        assert!(matches!(
            store.resolve("../x"),
            Err(SessionError::NotFound { .. })
        ));
    }

    #[test]
    fn a_compaction_replaces_the_messages_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::at(dir.path().to_path_buf());
        let mut writer = store.create(header()).unwrap();
        for text in ["one", "two"] {
            writer.append(&Entry::Message(Message::user(text))).unwrap();
        }
        writer
            .append(&Entry::Compaction {
                messages: vec![Message::user("summary")],
                tokens_before: 100,
                tokens_after: 10,
            })
            .unwrap();
        writer
            .append(&Entry::Message(Message::user("three")))
            .unwrap();
        let transcript = Transcript::load(&store, writer.id()).unwrap();
        assert_eq!(
            transcript.messages,
            vec![Message::user("summary"), Message::user("three")]
        );
        assert!(
            transcript
                .render()
                .contains("[compacted: ~100 → ~10 tokens]")
        );
    }
}
