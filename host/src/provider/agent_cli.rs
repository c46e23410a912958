//! An agent CLI as the model (Claude Code and CLIs of the same agent-SDK shape): conch
//! sends each user turn as a stream-json user message on the CLI's stdin and reads its
//! stream-json lines. The CLI runs its own tools; they are reported as remote tool
//! activity, never run by conch — and before it runs one, it asks (`can_use_tool` over
//! `--permission-prompt-tool stdio`), and conch's permission gate answers.
//!
//! Persistent mode (the default) keeps one CLI process per session: a turn that continues
//! the conversation the process already holds sends only the new user message, so the
//! CLI keeps its own context. When there is no such process (the first turn, a process
//! that died or was stopped by Ctrl-C, a conversation conch compacted) a new one starts
//! and is sent the conversation the stateless way. Stateless mode starts one per turn.
//!
//! Stateless, as the agent SDK does it: the history before the current user message is
//! sent as JSON (Anthropic Messages shape) inside `<conversation_history>`, the message
//! itself inside `<current_message>`; a single-turn conversation is sent unchanged.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{
    ChatRequest, EventStream, FinishReason, GateTerms, Provider, ProviderError, ProviderEvent,
    RemoteTool,
};
use crate::config::{AgentCli, AgentCliMode, ResolvedProvider};
use crate::message::{Message, Usage};
use crate::permission::PermissionKey;
use crate::sandbox::ProcessGroup;

/// Settings for the CLI (`--settings`, inline, so nothing of the user's own is
/// written) that make it ask `can_use_tool` before every tool use. Left alone, Claude
/// Code runs what it judges safe (read-only commands, reads in its directory, whatever
/// an allow rule or hook approves) without asking. A tool-wide `ask` rule is checked
/// before its own judgement, its allow rules and hooks' approvals, and `*` names every
/// tool, MCP tools too; the one exemption, Bash auto-allowed when its sandbox is on, is
/// switched off. See ARCHITECTURE.md.
const ASK_FOR_EVERY_TOOL: &str =
    r#"{"permissions":{"ask":["*"]},"sandbox":{"autoAllowBashIfSandboxed":false}}"#;

/// The CLI option that makes it run every tool without asking, ask rules included.
const BYPASS: &str = "--dangerously-skip-permissions";

/// How much of the CLI's stderr is kept for an error message.
const STDERR_TAIL: usize = 2000;

/// Drives one agent CLI.
pub struct AgentCliProvider {
    name: String,
    model: String,
    cli: AgentCli,
    idle_timeout: Duration,
    /// The workspace directory the CLI runs in.
    workdir: std::path::PathBuf,
    /// Persistent mode: the CLI kept between turns, idle, with what it knows.
    kept: Arc<Mutex<Option<Process>>>,
}

impl AgentCliProvider {
    pub fn new(
        config: &ResolvedProvider,
        cli: AgentCli,
        idle_timeout: Duration,
        workdir: &std::path::Path,
    ) -> Self {
        AgentCliProvider {
            name: config.name.clone(),
            model: config.model.clone(),
            cli,
            idle_timeout,
            workdir: workdir.to_path_buf(),
            kept: Arc::default(),
        }
    }
}

impl Provider for AgentCliProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn stream(&self, request: ChatRequest) -> EventStream {
        let (events, receiver) = mpsc::channel(64);
        let turn = Turn {
            conversation: Conversation::of(&request.messages),
            provider: self.name.clone(),
            model: self.model.clone(),
            cli: self.cli.clone(),
            idle_timeout: self.idle_timeout,
            workdir: self.workdir.clone(),
            kept: Arc::clone(&self.kept),
            events,
        };
        tokio::spawn(async move {
            if let Err(e) = turn.run().await {
                let _ = turn.events.send(Err(e)).await;
            }
        });
        receiver
    }
}

/// One running CLI process. Dropping it kills the CLI and everything it started.
struct Process {
    child: Child,
    /// The CLI leads its own group; whatever it started dies with it.
    _group: Option<ProcessGroup>,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// The end of what it wrote on stderr (drained as it comes, so it never blocks).
    stderr: Arc<Mutex<String>>,
    stderr_done: Option<JoinHandle<()>>,
    /// The system prompt it was started with.
    system: String,
    /// The conversation it holds, up to the last user message it was sent.
    known: Vec<Value>,
}

impl Process {
    /// Whether `conversation` goes on from what this process holds: the same system
    /// prompt, its history starting with what the process knows followed only by the
    /// CLI's own answers, and the process still alive.
    fn continues(&mut self, conversation: &Conversation) -> bool {
        self.system == conversation.system
            && conversation.history.starts_with(&self.known)
            && conversation.history[self.known.len()..]
                .iter()
                .all(|m| m["role"] == "assistant")
            && matches!(self.child.try_wait(), Ok(None))
    }

    /// Writes one JSON line to the CLI's stdin; a CLI that closed it has ended (its
    /// output says why).
    async fn write_line(&mut self, value: &Value) {
        use tokio::io::AsyncWriteExt;
        if let Some(pipe) = self.stdin.as_mut() {
            let line = format!("{value}\n");
            if pipe.write_all(line.as_bytes()).await.is_err() || pipe.flush().await.is_err() {
                self.stdin = None;
            }
        }
    }

    /// Sends a user message.
    async fn send(&mut self, text: &str) {
        let message = json!({"type": "user", "message": {"role": "user", "content": text}});
        self.write_line(&message).await;
    }

    /// How it ended, once its output stopped before a `result`: exit status and the end
    /// of its stderr.
    async fn ending(mut self) -> String {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        if let Some(drain) = self.stderr_done.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
        }
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .trim()
            .to_string();
        format!(
            "({}){}",
            match status {
                Ok(Ok(status)) => status.to_string(),
                _ => "no exit status".into(),
            },
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        )
    }
}

/// How reading one turn's output ended.
enum Ended {
    /// The CLI's `result` arrived (its events were sent).
    Done,
    /// The turn was cancelled (Ctrl-C).
    Cancelled,
    /// The output ended first; `started` when any line of this turn had arrived.
    Closed { started: bool },
}

/// One turn.
struct Turn {
    conversation: Conversation,
    provider: String,
    model: String,
    cli: AgentCli,
    idle_timeout: Duration,
    workdir: std::path::PathBuf,
    kept: Arc<Mutex<Option<Process>>>,
    events: mpsc::Sender<Result<ProviderEvent, ProviderError>>,
}

impl Turn {
    async fn run(&self) -> Result<(), ProviderError> {
        let persistent = self.cli.mode == AgentCliMode::Persistent;
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut process) =
            kept.and_then(|mut p| (persistent && p.continues(&self.conversation)).then_some(p))
        {
            process.send(&self.conversation.current).await;
            match self.read(&mut process).await? {
                Ended::Done => {
                    self.keep(process);
                    return Ok(());
                }
                Ended::Cancelled => return Ok(()),
                Ended::Closed { started: true } => return Err(self.crashed(process).await),
                // It died while idle: start again, stateless.
                Ended::Closed { started: false } => {}
            }
        }
        let mut process = self.spawn()?;
        process.send(&self.conversation.prompt()).await;
        match self.read(&mut process).await? {
            Ended::Done if persistent => self.keep(process),
            Ended::Done | Ended::Cancelled => {}
            Ended::Closed { .. } => return Err(self.crashed(process).await),
        }
        Ok(())
    }

    /// Keeps `process` for the next turn, knowing the conversation up to this turn's
    /// user message.
    fn keep(&self, mut process: Process) {
        process.known = self.conversation.history.clone();
        process
            .known
            .push(json!({"role": "user", "content": self.conversation.current}));
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(process);
    }

    /// Starts the CLI (the prompt goes on stdin).
    fn spawn(&self) -> Result<Process, ProviderError> {
        // Claude Code's bypass mode skips even ask rules, and no later option undoes it.
        if let Some(bypass) = self.cli.args.iter().find(|a| a.starts_with(BYPASS)) {
            return Err(ProviderError::Unavailable {
                provider: self.provider.clone(),
                detail: format!(
                    "`{bypass}` in providers.{}.args would let the CLI run its tools without conch's permission gate; remove it (conch's rules and --yes decide instead)",
                    self.provider
                ),
            });
        }
        let mut command = tokio::process::Command::new(&self.cli.command);
        // The CLI's own tools work where conch was told to (`--cwd`), not where conch
        // happened to be started.
        command.current_dir(&self.workdir);
        command.arg("-p").args([
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
        if !self.model.is_empty() {
            command.arg("--model").arg(&self.model);
        }
        let system = &self.conversation.system;
        if !system.is_empty() {
            command.arg("--append-system-prompt").arg(system);
        }
        // After the user's arguments: the CLI takes the last of a repeated option, so
        // an `--settings` or `--permission-mode` in `args` cannot switch the gate off.
        command.args(&self.cli.args).args([
            "--permission-prompt-tool",
            "stdio",
            "--permission-mode",
            "default",
            "--settings",
            ASK_FOR_EVERY_TOOL,
        ]);
        command
            .envs(&self.cli.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| ProviderError::Unavailable {
            provider: self.provider.clone(),
            detail: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the agent CLI `{}` was not found; install it (Claude Code: `npm install -g @anthropic-ai/claude-code`) or set providers.{}.command",
                    self.cli.command, self.provider
                )
            } else {
                format!("cannot start `{}`: {e}", self.cli.command)
            },
        })?;
        let group = child.id().map(ProcessGroup::new);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| self.protocol("no stdout"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = child.stderr.take().map(|mut pipe| {
            let tail = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    tail.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    if tail.len() > 2 * STDERR_TAIL {
                        let cut = tail.ceil_char_boundary(tail.len() - STDERR_TAIL);
                        tail.drain(..cut);
                    }
                }
            })
        });
        Ok(Process {
            stdin: child.stdin.take(),
            child,
            _group: group,
            lines: BufReader::new(stdout).lines(),
            stderr,
            stderr_done,
            system: system.clone(),
            known: Vec::new(),
        })
    }

    /// Reads the CLI's output for this turn, passing its events on and answering its
    /// control requests, until its `result`.
    async fn read(&self, process: &mut Process) -> Result<Ended, ProviderError> {
        let mut started = false;
        loop {
            let next = tokio::select! {
                () = self.events.closed() => return Ok(Ended::Cancelled),
                next = tokio::time::timeout(self.idle_timeout, process.lines.next_line()) => next,
            };
            let line = next
                .map_err(|_| ProviderError::Timeout {
                    provider: self.provider.clone(),
                    after: self.idle_timeout,
                })?
                .map_err(|e| self.protocol(&format!("reading its output: {e}")))?;
            let Some(line) = line else {
                return Ok(Ended::Closed { started });
            };
            started = true;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| self.protocol(&format!("a line is not JSON ({e}): {line}")))?;
            if value["type"] == "control_request" {
                let response = self.control(&value).await;
                process.write_line(&response).await;
                continue;
            }
            match self.translate(&value)? {
                Step::Events(events) => {
                    for event in events {
                        if self.events.send(Ok(event)).await.is_err() {
                            return Ok(Ended::Cancelled);
                        }
                    }
                }
                Step::Done(events) => {
                    if self.cli.mode == AgentCliMode::Stateless {
                        process.stdin = None; // the CLI ends when its input does
                    }
                    for event in events {
                        let _ = self.events.send(Ok(event)).await;
                    }
                    return Ok(Ended::Done);
                }
            }
        }
    }

    /// The error for a CLI whose output ended before its result.
    async fn crashed(&self, process: Process) -> ProviderError {
        ProviderError::Server {
            provider: self.provider.clone(),
            status: 0,
            retry_after: None,
            detail: format!(
                "`{}` stopped before its result {}",
                self.cli.command,
                process.ending().await
            ),
        }
    }

    /// Answers a control request: `can_use_tool` goes to conch's gate through the loop;
    /// anything else is refused as unsupported.
    async fn control(&self, request: &Value) -> Value {
        let id = request["request_id"].clone();
        let body = &request["request"];
        if body["subtype"] != "can_use_tool" {
            return json!({"type": "control_response", "response": {
                "subtype": "error", "request_id": id,
                "error": format!("conch does not support {}", body["subtype"])}});
        }
        let input = body["input"].clone();
        let tool = body["tool_name"].as_str().unwrap_or("tool").to_string();
        let tool_use = body["tool_use_id"].as_str().unwrap_or_default().to_string();
        let terms = gate_terms(&tool, &input);
        let (ask, answer) = super::PermissionAsk::new(tool_use, tool, input.clone(), terms);
        let decision = if self
            .events
            .send(Ok(ProviderEvent::PermissionRequest(ask)))
            .await
            .is_err()
        {
            Err("the turn was stopped".to_string())
        } else {
            answer
                .await
                .unwrap_or_else(|_| Err("no one answered".to_string()))
        };
        let behaviour = match decision {
            Ok(()) => json!({"behavior": "allow", "updatedInput": input}),
            Err(message) => json!({"behavior": "deny", "message": message}),
        };
        json!({"type": "control_response", "response": {
            "subtype": "success", "request_id": id, "response": behaviour}})
    }

    /// What one stream-json line means.
    fn translate(&self, line: &Value) -> Result<Step, ProviderError> {
        let blocks = || {
            line["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        match line["type"].as_str() {
            Some("assistant") => Ok(Step::Events(
                blocks()
                    .iter()
                    .filter_map(|block| match block["type"].as_str()? {
                        "text" => Some(ProviderEvent::TextDelta(block["text"].as_str()?.into())),
                        "thinking" => Some(ProviderEvent::ReasoningDelta(
                            block["thinking"].as_str()?.into(),
                        )),
                        "tool_use" => Some(ProviderEvent::RemoteTool(RemoteTool::Use {
                            id: block["id"].as_str().unwrap_or_default().into(),
                            name: block["name"].as_str().unwrap_or("tool").into(),
                            input: block["input"].to_string(),
                        })),
                        _ => None,
                    })
                    .collect(),
            )),
            Some("user") => Ok(Step::Events(
                blocks()
                    .iter()
                    .filter(|block| block["type"] == "tool_result")
                    .map(|block| {
                        ProviderEvent::RemoteTool(RemoteTool::Result {
                            id: block["tool_use_id"].as_str().unwrap_or_default().into(),
                            output: text_of(&block["content"]),
                            is_error: block["is_error"].as_bool().unwrap_or(false),
                        })
                    })
                    .collect(),
            )),
            Some("result") => {
                if line["is_error"].as_bool().unwrap_or(false)
                    || line["subtype"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("error"))
                {
                    let detail = line["result"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| line.get("errors").map(Value::to_string))
                        .unwrap_or_else(|| line.to_string());
                    return Err(ProviderError::Rejected {
                        provider: self.provider.clone(),
                        status: 0,
                        detail: format!("`{}` reported an error: {detail}", self.cli.command),
                    });
                }
                let usage = &line["usage"];
                let tokens = |key: &str| usage[key].as_u64().unwrap_or(0);
                Ok(Step::Done(vec![
                    ProviderEvent::Usage(Usage {
                        prompt_tokens: tokens("input_tokens")
                            + tokens("cache_read_input_tokens")
                            + tokens("cache_creation_input_tokens"),
                        completion_tokens: tokens("output_tokens"),
                        cached_prompt_tokens: tokens("cache_read_input_tokens"),
                    }),
                    ProviderEvent::Finish(FinishReason::Stop),
                ]))
            }
            // `system` (init, status) and anything newer: nothing for conch.
            _ => Ok(Step::Events(Vec::new())),
        }
    }

    fn protocol(&self, detail: &str) -> ProviderError {
        ProviderError::Protocol {
            provider: self.provider.clone(),
            detail: detail.to_string(),
        }
    }
}

/// What a line asks for: events to pass on, or the end of the turn.
enum Step {
    Events(Vec<ProviderEvent>),
    Done(Vec<ProviderEvent>),
}

/// How conch's gate sees one of the CLI's own tools (Claude Code's names): the
/// permission key of the conch tool that does the same, and the argument rules match.
/// Other tools are asked about under the key `remote`.
fn gate_terms(tool: &str, input: &Value) -> GateTerms {
    let field = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    let path = |permission: PermissionKey, key: Option<String>| GateTerms {
        permission,
        key,
        key_is_path: true,
    };
    let other = |permission: PermissionKey, key: Option<String>| GateTerms {
        permission,
        key,
        key_is_path: false,
    };
    match tool {
        "Bash" => other(PermissionKey::BASH, field("command")),
        "Write" | "Edit" | "MultiEdit" => path(PermissionKey::EDIT, field("file_path")),
        "NotebookEdit" => path(PermissionKey::EDIT, field("notebook_path")),
        "Read" | "LS" => path(
            PermissionKey::READ,
            field("file_path").or_else(|| field("path")),
        ),
        // As conch's own glob and grep: decided on the pattern.
        "Glob" | "Grep" => other(PermissionKey::READ, field("pattern")),
        "WebFetch" => other(PermissionKey::WEBFETCH, field("url")),
        "WebSearch" => other(PermissionKey::WEBFETCH, field("query")),
        // The CLI's task list (TodoWrite before 2.1): as conch's todo tools.
        "TodoWrite" | "TaskCreate" | "TaskGet" | "TaskList" | "TaskUpdate" => {
            other(PermissionKey::TODO, None)
        }
        "AskUserQuestion" => other(PermissionKey::QUESTION, None),
        "Skill" => other(PermissionKey::SKILL, None),
        _ => other(PermissionKey::REMOTE, None),
    }
}

/// A tool result's content: a string, or text blocks.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// A conversation as the CLI is told it.
struct Conversation {
    /// conch's system prompt, for the CLI's system-prompt option.
    system: String,
    /// The messages before the current user message, in Anthropic Messages shape.
    history: Vec<Value>,
    /// The current user message.
    current: String,
}

impl Conversation {
    fn of(messages: &[Message]) -> Self {
        let system: Vec<&str> = messages
            .iter()
            .filter_map(|m| match m {
                Message::System { content } => Some(content.as_str()),
                _ => None,
            })
            .collect();
        let turns: Vec<&Message> = messages
            .iter()
            .filter(|m| matches!(m, Message::User { .. } | Message::Assistant { .. }))
            .collect();
        let current = turns
            .iter()
            .rposition(|m| matches!(m, Message::User { .. }))
            .unwrap_or(turns.len());
        let history = turns[..current]
            .iter()
            .filter(|m| !m.text().is_empty())
            .map(|m| match m {
                Message::User { content, .. } => json!({"role": "user", "content": content}),
                other => {
                    json!({"role": "assistant", "content": [{"type": "text", "text": other.text()}]})
                }
            })
            .collect();
        Conversation {
            system: system.join("\n\n"),
            history,
            current: turns.get(current).map_or("", |m| m.text()).to_string(),
        }
    }

    /// The whole conversation as one prompt (see the module docs).
    fn prompt(&self) -> String {
        if self.history.is_empty() {
            return self.current.clone();
        }
        let history = serde_json::to_string(&self.history).unwrap_or_default();
        format!(
            "<conversation_history>\n{history}\n</conversation_history>\n\n<current_message>\n{}\n</current_message>",
            self.current
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_tools_are_decided_as_conchs_tools_that_do_the_same() {
        let terms = |tool: &str, input: Value| {
            let t = gate_terms(tool, &input);
            (t.permission, t.key, t.key_is_path)
        };
        assert_eq!(
            terms("Bash", json!({"command": "cat a"})),
            (PermissionKey::BASH, Some("cat a".into()), false)
        );
        assert_eq!(
            terms("Read", json!({"file_path": "/w/secrets/k"})),
            (PermissionKey::READ, Some("/w/secrets/k".into()), true)
        );
        assert_eq!(
            terms("MultiEdit", json!({"file_path": "a.rs", "edits": []})),
            (PermissionKey::EDIT, Some("a.rs".into()), true)
        );
        assert_eq!(
            terms("Grep", json!({"pattern": "fn main", "path": "src"})),
            (PermissionKey::READ, Some("fn main".into()), false)
        );
        assert_eq!(terms("TodoWrite", json!({})).0, "todo");
        assert_eq!(terms("TaskCreate", json!({"subject": "x"})).0, "todo");
        // A background task's output or a git worktree are not a todo list.
        assert_eq!(terms("TaskOutput", json!({"task_id": "1"})).0, "remote");
        assert_eq!(terms("EnterWorktree", json!({})).0, "remote");
        // Unknown tools (subagents, MCP tools) are asked about, never allowed by default.
        assert_eq!(
            terms("mcp__db__query", json!({"sql": "drop"})),
            (PermissionKey::REMOTE, None, false)
        );
    }

    #[test]
    fn one_turn_is_sent_as_is_and_history_is_wrapped() {
        let single = Conversation::of(&[Message::system("be brief"), Message::user("hello")]);
        assert_eq!(
            (single.system.as_str(), single.prompt()),
            ("be brief", "hello".into())
        );
        let multi = vec![
            Message::system("be brief"),
            Message::user("first"),
            Message::Assistant {
                content: Some("answer one".into()),
                reasoning_content: None,
                tool_calls: Vec::new(),
            },
            Message::user("second"),
        ];
        assert_eq!(
            Conversation::of(&multi).prompt(),
            "<conversation_history>\n[{\"content\":\"first\",\"role\":\"user\"},{\"content\":[{\"text\":\"answer one\",\"type\":\"text\"}],\"role\":\"assistant\"}]\n</conversation_history>\n\n<current_message>\nsecond\n</current_message>"
        );
    }
}
