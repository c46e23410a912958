//! `--format json`: every event as one JSON object per line on stdout.

use std::io::Write;

use crate::agent::{AgentEvent, EventSink};

/// Writes each event as a line of JSON.
pub struct JsonEvents<W: Write> {
    out: W,
}

impl<W: Write> JsonEvents<W> {
    pub fn new(out: W) -> Self {
        JsonEvents { out }
    }
}

impl<W: Write> EventSink for JsonEvents<W> {
    fn emit(&mut self, event: &AgentEvent) {
        let line = serde_json::to_string(event).unwrap_or_else(|e| {
            serde_json::json!({"type": "error", "message": format!("cannot encode an event: {e}")})
                .to_string()
        });
        // A closed stdout (a consumer that went away) must not stop the agent.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}
