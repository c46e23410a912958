//! The terminal renderer: the answer goes to stdout; tool calls (one line each with a
//! short result, and under it a command's output, a denial's hint or an edit's diff),
//! retries, notices and errors go to stderr, so `conch run … > file` keeps only the
//! answer. On a terminal the answer streams; into a file or a pipe each message is written
//! once it is complete, so a retried stream never leaves a partial copy. A spinner (saying
//! how long the model has been thinking or a command running) shows while waiting, only
//! on a terminal.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CommandReport, one_line};
use crate::agent::{AgentEvent, EventSink, TokenTotals, TurnSummary};

/// Lines of a diff shown under an edit; the rest is counted.
const DIFF_LINES: usize = 80;

/// Lines of an error (a denial's hint, say) shown under its call.
const ERROR_LINES: usize = 20;

const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Renders events for a person.
pub struct TextRenderer {
    colour: bool,
    /// stderr is a terminal: spinner and reasoning are shown.
    interactive: bool,
    /// Whether the last thing written (to either stream) ended a line.
    at_line_start: bool,
    spinner: Option<Spinner>,
    /// stdout is not a terminal: the message being received, written once complete.
    pending: Option<String>,
    /// Answer text went to stdout since the last request (a retry starts it over).
    streamed: bool,
    /// The session, once announced, to say how to continue it.
    session: Option<String>,
    /// Calls whose diff the user saw at the permission prompt.
    asked: HashSet<String>,
    /// Diffs of committed changes, shown under their call's result.
    diffs: HashMap<String, String>,
}

impl TextRenderer {
    pub fn new(colour: bool, interactive: bool) -> Self {
        TextRenderer {
            colour,
            interactive,
            at_line_start: true,
            spinner: None,
            pending: (!std::io::stdout().is_terminal()).then(String::new),
            streamed: false,
            session: None,
            asked: HashSet::new(),
            diffs: HashMap::new(),
        }
    }

    /// Writes the complete message held back for stdout.
    fn flush_message(&mut self) {
        let Some(text) = self.pending.as_mut().map(std::mem::take) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.at_line_start = text.ends_with('\n');
    }

    /// Forgets a message that will not complete (retried, failed, interrupted).
    fn drop_message(&mut self) {
        if let Some(text) = self.pending.as_mut() {
            text.clear();
        }
    }

    /// Lines under a call's result, indented and dimmed.
    fn details<I: IntoIterator<Item = String>>(&mut self, lines: I) {
        for line in lines {
            let line = self.paint(DIM, &format!("    {line}"));
            self.note(&line);
        }
    }

    /// A unified diff, coloured by line kind and cut after [`DIFF_LINES`] lines.
    fn show_diff(&mut self, diff: &str) {
        let lines: Vec<&str> = diff.lines().collect();
        for line in lines.iter().take(DIFF_LINES) {
            let colour = if line.starts_with("+++") || line.starts_with("---") {
                BOLD
            } else if line.starts_with('+') {
                GREEN
            } else if line.starts_with('-') {
                RED
            } else if line.starts_with("@@") {
                CYAN
            } else {
                DIM
            };
            let line = self.paint(colour, &format!("    {line}"));
            self.note(&line);
        }
        if lines.len() > DIFF_LINES {
            let more = format!("    … {} more diff lines", lines.len() - DIFF_LINES);
            let more = self.paint(DIM, &more);
            self.note(&more);
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
                self.flush_message();
                self.streamed = false;
                if self.interactive {
                    self.spinner = Some(Spinner::start("thinking"));
                }
            }
            AgentEvent::TextDelta { text } => {
                if let Some(pending) = self.pending.as_mut() {
                    pending.push_str(text);
                    return;
                }
                self.streamed |= !text.is_empty();
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
                self.flush_message();
                let line = match key {
                    Some(key) => format!("→ {name} {}", one_line(key, 100)),
                    None => format!("→ {name}"),
                };
                let line = self.paint(CYAN, &line);
                self.note(&line);
            }
            AgentEvent::ToolResult {
                id,
                ok,
                summary,
                output,
                ..
            } => {
                let command = CommandReport::parse(output).filter(|_| *ok);
                let failed = !ok || command.as_ref().is_some_and(|c| !c.succeeded());
                let line = if failed {
                    self.paint(RED, &format!("  ✗ {summary}"))
                } else {
                    self.paint(GREEN, &format!("  ✓ {summary}"))
                };
                self.note(&line);
                if let Some(command) = command {
                    self.details(command.glimpse());
                } else if !ok {
                    // The summary is the first line; a hint (a rule to add, say) follows.
                    let rest: Vec<&str> = output.lines().skip(1).collect();
                    let mut lines: Vec<String> = rest
                        .iter()
                        .take(ERROR_LINES)
                        .map(|l| one_line(l, 200))
                        .collect();
                    if rest.len() > ERROR_LINES {
                        lines.push(format!("… {} more lines", rest.len() - ERROR_LINES));
                    }
                    self.details(lines);
                }
                if let Some(diff) = self.diffs.remove(id) {
                    self.show_diff(&diff);
                }
            }
            AgentEvent::Permission {
                id,
                tool,
                allowed,
                by,
            } => {
                if by == "user" {
                    self.asked.insert(id.clone());
                }
                // Only a command runs long enough to watch; other tools may ask questions
                // on the terminal while they run.
                if *allowed && tool == "bash" && self.interactive {
                    self.spinner = Some(Spinner::start("running"));
                }
            }
            AgentEvent::Changes { id, diff } => {
                if self.interactive && !self.asked.contains(id) {
                    self.diffs.insert(id.clone(), diff.clone());
                }
            }
            AgentEvent::RemoteToolUse { name, input, .. } => {
                self.flush_message();
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
                self.drop_message();
                let mut line = format!(
                    "{error}; retrying in {:.1} s ({attempt}/{of})",
                    *delay_ms as f64 / 1000.0
                );
                if std::mem::take(&mut self.streamed) {
                    line.push_str("; the answer starts over");
                }
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
                self.drop_message();
                let line = self.paint(RED, &format!("error: {message}"));
                self.note(&line);
            }
            AgentEvent::Done {
                reason, summary, ..
            } => {
                // Interrupted, the partial answer is what the session keeps: it is shown.
                if reason == "error" {
                    self.drop_message();
                } else {
                    self.flush_message();
                }
                if !self.at_line_start {
                    let _ = writeln!(std::io::stdout());
                    self.at_line_start = true;
                }
                if let Some(line) = summary.as_ref().and_then(token_line) {
                    let line = self.paint(DIM, &line);
                    self.note(&line);
                }
                if let Some(id) = self.session.clone() {
                    let line = format!(
                        "session {id} · continue with: conch run --continue \"…\" (or --session {id})"
                    );
                    let line = self.paint(DIM, &line);
                    self.note(&line);
                }
            }
            AgentEvent::SessionStart {
                session_id,
                resumed,
                ..
            } => {
                self.session = Some(session_id.clone());
                if *resumed {
                    let line = self.paint(DIM, &format!("continuing session {session_id}"));
                    self.note(&line);
                }
            }
            AgentEvent::Usage { .. } => {}
        }
    }
}

impl Drop for TextRenderer {
    fn drop(&mut self) {
        self.stop_spinner();
    }
}

/// `tokens 1200 in · 35 out · 2 requests · $0.0042`, and the session's after ` · session `
/// when it had more than this turn; `None` when the provider reported no usage.
pub fn token_line(summary: &TurnSummary) -> Option<String> {
    if summary.usage.requests == 0 && summary.session_usage.requests == 0 {
        return None;
    }
    let mut line = format!("tokens {}", totals(&summary.usage, summary.cost_usd));
    if summary.session_usage != summary.usage {
        line.push_str(&format!(
            " · session {}",
            totals(&summary.session_usage, summary.session_cost_usd)
        ));
    }
    Some(line)
}

/// `1200 in · 35 out · 2 requests`, and ` · $0.0042` with a cost.
pub fn totals(usage: &TokenTotals, cost: Option<f64>) -> String {
    let s = if usage.requests == 1 { "" } else { "s" };
    let cached = match usage.cached_prompt_tokens {
        0 => String::new(),
        n => format!(" ({n} cached)"),
    };
    let mut text = format!(
        "{} in{cached} · {} out · {} request{s}",
        usage.prompt_tokens, usage.completion_tokens, usage.requests
    );
    if let Some(cost) = cost {
        text.push_str(&format!(" · ${cost:.4}"));
    }
    text
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
    /// Once a second has passed, `what` is going on and for how long follow the frame.
    fn start(what: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("conch-spinner".into())
            .spawn(move || {
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                for frame in frames.iter().cycle() {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let time = started.elapsed();
                    if time >= Duration::from_secs(1) {
                        let _ = write!(
                            std::io::stderr(),
                            "\r{frame} {what} · {} s ",
                            time.as_secs()
                        );
                    } else {
                        let _ = write!(std::io::stderr(), "\r{frame} ");
                    }
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
