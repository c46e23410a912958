//! An agent CLI as the model (Claude Code and CLIs of the same agent-SDK shape): each
//! turn spawns the CLI, sends the prompt as a stream-json user message on stdin and reads
//! its stream-json lines. The CLI runs its own tools; they are reported as remote tool
//! activity, never run by conch — and before it runs one, it asks (`can_use_tool` over
//! `--permission-prompt-tool stdio`), and conch's permission gate answers.
//!
//! Stateless, as the agent SDK does it: the history before the current user message is
//! sent as JSON (Anthropic Messages shape) inside `<conversation_history>`, the message
//! itself inside `<current_message>`; a single-turn conversation is sent unchanged.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, RemoteTool,
};
use crate::config::{AgentCli, ResolvedProvider};
use crate::message::{Message, Usage};

/// Drives one agent CLI.
pub struct AgentCliProvider {
    name: String,
    model: String,
    cli: AgentCli,
    idle_timeout: Duration,
}

impl AgentCliProvider {
    pub fn new(config: &ResolvedProvider, cli: AgentCli, idle_timeout: Duration) -> Self {
        AgentCliProvider {
            name: config.name.clone(),
            model: config.model.clone(),
            cli,
            idle_timeout,
        }
    }

    /// The command line for one turn (the prompt goes on stdin).
    fn command(&self, system: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.cli.command);
        command.arg("-p").args([
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ]);
        if !self.model.is_empty() {
            command.arg("--model").arg(&self.model);
        }
        if !system.is_empty() {
            command.arg("--append-system-prompt").arg(system);
        }
        command
            .args(&self.cli.args)
            .envs(&self.cli.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
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
        let (system, prompt) = prompt(&request.messages);
        let command = self.command(&system);
        let turn = Turn {
            prompt,
            provider: self.name.clone(),
            program: self.cli.command.clone(),
            idle_timeout: self.idle_timeout,
            events,
        };
        tokio::spawn(async move {
            if let Err(e) = turn.run(command).await {
                let _ = turn.events.send(Err(e)).await;
            }
        });
        receiver
    }
}

/// One run of the CLI.
struct Turn {
    prompt: String,
    provider: String,
    program: String,
    idle_timeout: Duration,
    events: mpsc::Sender<Result<ProviderEvent, ProviderError>>,
}

impl Turn {
    async fn run(&self, mut command: tokio::process::Command) -> Result<(), ProviderError> {
        let mut child = command.spawn().map_err(|e| ProviderError::Unavailable {
            provider: self.provider.clone(),
            detail: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the agent CLI `{}` was not found; install it (Claude Code: `npm install -g @anthropic-ai/claude-code`) or set providers.{}.command",
                    self.program, self.provider
                )
            } else {
                format!("cannot start `{}`: {e}", self.program)
            },
        })?;
        // The CLI leads its own group; whatever it started dies with the turn (done,
        // failed or cancelled by Ctrl-C).
        let _group = child.id().map(crate::sandbox::ProcessGroup::new);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| self.protocol("no stdout"))?;
        let mut stderr = child.stderr.take();
        let mut stdin = child.stdin.take();
        let message = json!({"type": "user", "message": {"role": "user", "content": self.prompt}});
        self.write_line(&mut stdin, &message).await;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let next = tokio::select! {
                () = self.events.closed() => return Ok(()), // cancelled
                next = tokio::time::timeout(self.idle_timeout, lines.next_line()) => next,
            };
            let line = next
                .map_err(|_| ProviderError::Timeout {
                    provider: self.provider.clone(),
                    after: self.idle_timeout,
                })?
                .map_err(|e| self.protocol(&format!("reading its output: {e}")))?;
            let Some(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| self.protocol(&format!("a line is not JSON ({e}): {line}")))?;
            if value["type"] == "control_request" {
                let response = self.control(&value).await;
                self.write_line(&mut stdin, &response).await;
                continue;
            }
            match self.translate(&value)? {
                Step::Events(events) => {
                    for event in events {
                        if self.events.send(Ok(event)).await.is_err() {
                            return Ok(()); // the turn was cancelled; the child is killed on drop
                        }
                    }
                }
                Step::Done(events) => {
                    drop(stdin); // the CLI ends when its input does
                    for event in events {
                        let _ = self.events.send(Ok(event)).await;
                    }
                    return Ok(());
                }
            }
        }
        // The output ended without a `result`: the CLI failed or crashed.
        let status = child.wait().await.ok();
        let mut message = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_string(&mut message).await;
        }
        let tail: String = message
            .trim()
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(ProviderError::Server {
            provider: self.provider.clone(),
            status: 0,
            retry_after: None,
            detail: format!(
                "`{}` stopped before its result ({}){}",
                self.program,
                status.map_or_else(|| "no exit status".into(), |s| s.to_string()),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            ),
        })
    }

    /// Writes one JSON line to the CLI's stdin; a CLI that closed it has ended (what it
    /// printed says why).
    async fn write_line(&self, stdin: &mut Option<tokio::process::ChildStdin>, value: &Value) {
        use tokio::io::AsyncWriteExt;
        if let Some(pipe) = stdin.as_mut() {
            let line = format!("{value}\n");
            if pipe.write_all(line.as_bytes()).await.is_err() || pipe.flush().await.is_err() {
                *stdin = None;
            }
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
        let (permission, key) = gate_terms(&tool, &input);
        let (ask, answer) = super::PermissionAsk::new(tool, input.clone(), permission, key);
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
                        detail: format!("`{}` reported an error: {detail}", self.program),
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
fn gate_terms(tool: &str, input: &Value) -> (String, Option<String>) {
    let field = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    let (permission, key) = match tool {
        "Bash" => ("bash", field("command")),
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => (
            "edit",
            field("file_path").or_else(|| field("notebook_path")),
        ),
        "Read" | "Glob" | "Grep" | "LS" => (
            "read",
            field("file_path")
                .or_else(|| field("path"))
                .or_else(|| field("pattern")),
        ),
        "WebFetch" | "WebSearch" => ("webfetch", field("url").or_else(|| field("query"))),
        _ => ("remote", None),
    };
    (permission.to_string(), key)
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

/// The system prompt, and the prompt for this turn (see the module docs).
fn prompt(messages: &[Message]) -> (String, String) {
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
    let current_text = turns.get(current).map_or("", |m| m.text());
    if current == 0 {
        return (system.join("\n\n"), current_text.to_string());
    }
    let history: Vec<Value> = turns[..current]
        .iter()
        .filter(|m| !m.text().is_empty())
        .map(|m| match m {
            Message::User { content } => json!({"role": "user", "content": content}),
            other => {
                json!({"role": "assistant", "content": [{"type": "text", "text": other.text()}]})
            }
        })
        .collect();
    let history = serde_json::to_string(&history).unwrap_or_default();
    (
        system.join("\n\n"),
        format!(
            "<conversation_history>\n{history}\n</conversation_history>\n\n<current_message>\n{current_text}\n</current_message>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_is_sent_as_is_and_history_is_wrapped() {
        let single = vec![Message::system("be brief"), Message::user("hello")];
        assert_eq!(prompt(&single), ("be brief".into(), "hello".into()));
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
        let (_, text) = prompt(&multi);
        assert_eq!(
            text,
            "<conversation_history>\n[{\"content\":\"first\",\"role\":\"user\"},{\"content\":[{\"text\":\"answer one\",\"type\":\"text\"}],\"role\":\"assistant\"}]\n</conversation_history>\n\n<current_message>\nsecond\n</current_message>"
        );
    }
}
