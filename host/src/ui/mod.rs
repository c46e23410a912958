//! What the user sees and answers: the streamed text renderer, `--format json` events,
//! the permission prompt and the prompt for a tool's question.

mod final_answer;
mod json;
mod picker;
mod prompt;
mod result;
mod tally;
mod text;

pub use final_answer::FinalAnswer;
pub use json::JsonEvents;
pub use picker::pick;
pub use prompt::{TerminalApprover, TerminalAsker, confirm};
pub use result::CommandReport;
pub use tally::Tally;
pub use text::{TextRenderer, token_line, totals};

/// Whether to colour output: only on a terminal, and never with `NO_COLOR` set.
pub fn use_colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The first line of `text`, cut to `max` characters (with `…` when anything was left).
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > max || text.trim_end().contains('\n') {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_string()
    }
}
