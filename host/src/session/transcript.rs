//! Reading a session file back: the conversation to continue, what it cost, and a
//! readable rendering for `conch sessions show`.

use std::fmt::Write as _;
use std::path::Path;

use super::store::{SessionError, SessionStore};
use super::{Entry, Header};
use crate::message::{Message, Usage};

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

impl Transcript {
    /// Loads session `id` from `store`.
    pub fn load(store: &SessionStore, id: &str) -> Result<Self, SessionError> {
        let path = store.path(id);
        if !path.is_file() {
            return Err(SessionError::NotFound { id: id.to_string() });
        }
        Self::read(&path)
    }

    /// The newest session whose working directory is `cwd`.
    pub fn latest_in(store: &SessionStore, cwd: &Path) -> Result<Self, SessionError> {
        let cwd = cwd.to_string_lossy();
        for id in store.ids()? {
            // Read only the header line first: most sessions are elsewhere.
            let Ok(header) = read_header(&store.path(&id)) else {
                continue;
            };
            if header.cwd == cwd {
                return Self::load(store, &id);
            }
        }
        Err(SessionError::NoneHere {
            cwd: cwd.into_owned(),
        })
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
            }
            Entry::Compaction { messages, .. } => self.messages = messages.clone(),
            Entry::Permission(_)
            | Entry::Error { .. }
            | Entry::Interrupted
            | Entry::Changeset(_)
            | Entry::Undone { .. }
            | Entry::FileSeen { .. }
            | Entry::State { .. } => {}
        }
        self.entries.push(entry);
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
            Entry::Message(Message::User { content }) => Some(content.as_str()),
            _ => None,
        });
        let first_prompt = prompts.next().unwrap_or("").to_string();
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
                Entry::Message(Message::User { content }) => {
                    let _ = writeln!(out, "> {}", content.replace('\n', "\n> "));
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
                Entry::Message(Message::Tool { content, .. }) => {
                    let _ = writeln!(out, "{}", indent_preview(content, 6));
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
                Entry::FileSeen { .. } => {}
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
