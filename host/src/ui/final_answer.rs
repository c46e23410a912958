//! `conch run --final-only`: nothing but the final answer on stdout (for scripts that
//! want only the answer), and errors on stderr; the work in between is not shown.

use std::io::Write;

use crate::agent::{AgentEvent, EventSink};

/// Prints the text of the turn's `done` event (see [`super::Tally`]) and errors.
#[derive(Debug, Default)]
pub struct FinalAnswer;

impl EventSink for FinalAnswer {
    fn emit(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::Error { message } => eprintln!("error: {message}"),
            AgentEvent::Done {
                summary: Some(summary),
                ..
            } if !summary.text.is_empty() => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(summary.text.as_bytes());
                if !summary.text.ends_with('\n') {
                    let _ = out.write_all(b"\n");
                }
                let _ = out.flush();
            }
            _ => {}
        }
    }
}
