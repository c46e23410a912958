//! The terminal renderer: the answer streams to stdout; tool calls (one line each with
//! a short result), retries, notices and errors go to stderr, so `conch run … > file`
//! keeps only the answer. A spinner shows while waiting, only on a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::one_line;
use crate::agent::{AgentEvent, EventSink};

const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Renders events for a person.
pub struct TextRenderer {
    colour: bool,
    /// stderr is a terminal: spinner and reasoning are shown.
    interactive: bool,
    /// Whether the last thing written (to either stream) ended a line.
    at_line_start: bool,
    spinner: Option<Spinner>,
}

impl TextRenderer {
    pub fn new(colour: bool, interactive: bool) -> Self {
        TextRenderer {
            colour,
            interactive,
            at_line_start: true,
            spinner: None,
        }
    }

    fn paint(&self, colour: &'static str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// Writes a whole line to stderr, starting a new line first if needed.
    fn note(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if !self.at_line_start {
            let _ = writeln!(std::io::stdout());
            let _ = std::io::stdout().flush();
        }
        let _ = writeln!(err, "{line}");
        self.at_line_start = true;
    }

    fn stop_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.stop();
        }
    }
}

impl EventSink for TextRenderer {
    fn emit(&mut self, event: &AgentEvent) {
        if !matches!(event, AgentEvent::Usage { .. }) {
            self.stop_spinner();
        }
        match event {
            AgentEvent::Request { .. } => {
                if self.interactive {
                    self.spinner = Some(Spinner::start());
                }
            }
            AgentEvent::TextDelta { text } => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                if !text.is_empty() {
                    self.at_line_start = text.ends_with('\n');
                }
            }
            AgentEvent::ReasoningDelta { text } => {
                if self.interactive {
                    let text = self.paint(DIM, text);
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(text.as_bytes());
                    self.at_line_start = text.ends_with('\n');
                }
            }
            AgentEvent::ToolCall { name, key, .. } => {
                let line = match key {
                    Some(key) => format!("→ {name} {}", one_line(key, 100)),
                    None => format!("→ {name}"),
                };
                let line = self.paint(CYAN, &line);
                self.note(&line);
            }
            AgentEvent::ToolResult { ok, summary, .. } => {
                let line = if *ok {
                    self.paint(GREEN, &format!("  ✓ {summary}"))
                } else {
                    self.paint(RED, &format!("  ✗ {summary}"))
                };
                self.note(&line);
            }
            AgentEvent::RemoteToolUse { name, input, .. } => {
                let line = self.paint(CYAN, &format!("⤷ {name} {} (remote)", one_line(input, 100)));
                self.note(&line);
            }
            AgentEvent::RemoteToolResult {
                output, is_error, ..
            } => {
                let summary = one_line(output, 100);
                let line = if *is_error {
                    self.paint(RED, &format!("  ✗ {summary}"))
                } else {
                    self.paint(GREEN, &format!("  ✓ {summary}"))
                };
                self.note(&line);
            }
            AgentEvent::Retry {
                attempt,
                of,
                delay_ms,
                error,
            } => {
                let line = format!(
                    "{error}; retrying in {:.1} s ({attempt}/{of})",
                    *delay_ms as f64 / 1000.0
                );
                let line = self.paint(DIM, &line);
                self.note(&line);
            }
            AgentEvent::Compaction {
                tokens_before,
                tokens_after,
            } => {
                let line = format!(
                    "compacted the conversation: ~{tokens_before} → ~{tokens_after} tokens"
                );
                let line = self.paint(DIM, &line);
                self.note(&line);
            }
            AgentEvent::State { key, value } => {
                let text = match (key.as_str(), value) {
                    ("todos", Some(todos)) => todo_list(todos),
                    (_, Some(_)) => format!("state {key} updated"),
                    (_, None) => format!("state {key} removed"),
                };
                let text = self.paint(DIM, &text);
                self.note(&text);
            }
            AgentEvent::Error { message } => {
                let line = self.paint(RED, &format!("error: {message}"));
                self.note(&line);
            }
            AgentEvent::Done { .. } => {
                if !self.at_line_start {
                    let _ = writeln!(std::io::stdout());
                    self.at_line_start = true;
                }
            }
            AgentEvent::SessionStart { .. }
            | AgentEvent::Permission { .. }
            | AgentEvent::Usage { .. } => {}
        }
    }
}

impl Drop for TextRenderer {
    fn drop(&mut self) {
        self.stop_spinner();
    }
}

/// The todo list (the session plugin's `todos` state) as lines with check marks.
fn todo_list(todos: &serde_json::Value) -> String {
    let items = todos.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "todo list: empty".into();
    }
    let mut out = String::from("todo list:");
    for item in items {
        let mark = match item["status"].as_str() {
            Some("completed") => "[x]",
            Some("in_progress") => "[~]",
            _ => "[ ]",
        };
        let content = item["content"].as_str().unwrap_or("");
        out.push_str(&format!("\n  {mark} {}", one_line(content, 100)));
    }
    out
}

/// A spinner on stderr, drawn by its own thread until stopped.
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("conch-spinner".into())
            .spawn(move || {
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                for frame in frames.iter().cycle() {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let _ = write!(std::io::stderr(), "\r{frame} ");
                    std::thread::park_timeout(Duration::from_millis(80));
                }
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            })
            .ok();
        Spinner { stop, thread }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
