//! The repl's keys that start a new line instead of sending: Alt-Enter, and Enter on a
//! line ending in a backslash — the two forms a terminal can be set to send for
//! Shift-Enter.
//!
//! Shift-Enter itself reaches the repl as Enter: a terminal sends CR for both unless an
//! application turns on the kitty keyboard protocol or xterm's modifyOtherKeys, and
//! rustyline decodes neither (ARCHITECTURE.md, "The repl's line editor"), so the repl
//! turns neither on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::{
    Cmd, ConditionalEventHandler, Event, EventContext, EventHandler, KeyCode, KeyEvent, Modifiers,
    RepeatCount,
};

/// Binds the new-line keys on the repl's editor; the repl asks the returned
/// continuation whether a line it read goes on.
pub fn bind<H: rustyline::Helper, I: rustyline::history::History>(
    editor: &mut rustyline::Editor<H, I>,
) -> LineContinuation {
    // Alt-Enter (Esc then Enter) starts a new line instead of sending; Esc then Ctrl-J
    // is the same keys typed before the terminal left line mode (Enter arrived as \n).
    for key in [
        KeyEvent(KeyCode::Enter, Modifiers::ALT),
        KeyEvent(KeyCode::Char('J'), Modifiers::CTRL | Modifiers::ALT),
    ] {
        editor.bind_sequence(key, Cmd::Newline);
    }
    let continuation = LineContinuation::default();
    editor.bind_sequence(
        KeyEvent(KeyCode::Char('J'), Modifiers::CTRL),
        EventHandler::Conditional(Box::new(continuation.clone())),
    );
    continuation
}

/// A line sent with a backslash at its end goes on, as in a shell: the repl edits it
/// again with a newline in the backslash's place. rustyline has no command that deletes
/// the backslash and leaves the cursor after the newline, so this happens between two
/// reads rather than in a key binding.
///
/// The Ctrl-J (LF) binding is the other half: a terminal mapped to send `\` CR LF for
/// Shift-Enter (what Claude Code's setup writes for VS Code) ends the line with the CR,
/// and the LF that follows belongs to the same key press, so it must not send the text.
#[derive(Clone, Default)]
pub struct LineContinuation {
    just_continued: Arc<AtomicBool>,
}

impl LineContinuation {
    /// The text to go on editing when `line` (as read) ends in a backslash.
    pub fn continues(&self, line: &str) -> Option<String> {
        let text = line.strip_suffix('\\').map(|text| format!("{text}\n"));
        self.just_continued.store(text.is_some(), Ordering::Relaxed);
        text
    }
}

impl ConditionalEventHandler for LineContinuation {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        let just_continued = self.just_continued.swap(false, Ordering::Relaxed);
        let at_the_new_line = ctx.line()[..ctx.pos()].ends_with('\n');
        // Otherwise rustyline's own Ctrl-J: send the text.
        (just_continued && at_the_new_line).then_some(Cmd::Noop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_backslash_at_the_end_continues_a_line() {
        let continuation = LineContinuation::default();
        assert_eq!(
            continuation.continues("copy C:\\temp\\").as_deref(),
            Some("copy C:\\temp\n")
        );
        assert!(continuation.just_continued.load(Ordering::Relaxed));
        assert_eq!(continuation.continues("copy C:\\temp"), None);
        assert!(!continuation.just_continued.load(Ordering::Relaxed));
        assert_eq!(continuation.continues("a \\ b"), None);
    }
}
