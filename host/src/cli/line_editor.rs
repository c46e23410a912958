//! The repl's line editor: reedline on a terminal that answers its queries, with the
//! keys that start a new line instead of sending (Shift-Enter and Ctrl-Enter where the
//! terminal reports them, Alt-Enter, Enter after a backslash at the end); plain lines
//! from a pipe, a dumb terminal or one that does not answer.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use reedline::{
    EditCommand, EditMode, Emacs, FileBackedHistory, Prompt, PromptEditMode, PromptHistorySearch,
    PromptHistorySearchStatus, Reedline, ReedlineEvent, ReedlineRawEvent, Signal,
};

const PROMPT: &str = "conch> ";

/// Entries the history file keeps.
const HISTORY_ENTRIES: usize = 1000;

/// How reedline's history file writes a newline inside an entry.
const HISTORY_NEWLINE: &str = "<\\n>";

/// What a read gave the repl.
pub enum Typed {
    /// A prompt to act on, with any continued lines joined by newlines.
    Line(String),
    /// Ctrl-C at the prompt: the line was dropped.
    Cleared,
    /// Ctrl-D on an empty line, or the end of the input.
    End,
}

/// Reads the repl's prompts.
pub enum LineEditor {
    Terminal(Box<TerminalLines>),
    Plain(PlainLines),
}

impl LineEditor {
    /// reedline when stdin and stdout are a terminal that is not dumb and answers where
    /// its cursor is; plain lines otherwise. `history` is the file of earlier prompts.
    pub fn open(history: Option<&Path>, colour: bool) -> LineEditor {
        let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if !on_terminal {
            return LineEditor::Plain(PlainLines { prompt: false });
        }
        if term_is_dumb(std::env::var_os("TERM").as_deref()) {
            return LineEditor::Plain(PlainLines { prompt: true });
        }
        // reedline asks where the cursor is at every prompt and waits up to 2 s for the
        // answer; a terminal that does not answer is asked once, here.
        if crossterm::cursor::position().is_err() {
            eprintln!("the terminal does not report its cursor: reading plain lines");
            return LineEditor::Plain(PlainLines { prompt: true });
        }
        LineEditor::Terminal(Box::new(TerminalLines::new(history, colour)))
    }

    /// The next prompt. A line that ends in a backslash goes on, as in a shell: the
    /// backslash becomes a newline and the reading goes on after it.
    pub fn read(&mut self) -> std::io::Result<Typed> {
        match self {
            LineEditor::Terminal(lines) => lines.read(),
            LineEditor::Plain(lines) => lines.read(),
        }
    }

    /// Clears the screen; the next prompt starts at its top.
    pub fn clear_screen(&mut self) -> std::io::Result<()> {
        match self {
            LineEditor::Terminal(lines) => lines.editor.clear_screen(),
            LineEditor::Plain(_) => {
                let mut out = std::io::stdout();
                out.write_all(b"\x1b[2J\x1b[1;1H")?;
                out.flush()
            }
        }
    }

    /// Writes the history file.
    pub fn close(&mut self) -> std::io::Result<()> {
        match self {
            LineEditor::Terminal(lines) => lines.editor.sync_history(),
            LineEditor::Plain(_) => Ok(()),
        }
    }
}

/// `TERM=dumb`: a terminal that cannot move the cursor or answer queries.
fn term_is_dumb(term: Option<&std::ffi::OsStr>) -> bool {
    term.is_some_and(|term| term == "dumb")
}

/// The line with its continuing backslash replaced by a newline, when it ends in one.
fn continued(line: &str) -> Option<String> {
    line.strip_suffix('\\').map(|text| format!("{text}\n"))
}

/// Prompts read with reedline.
pub struct TerminalLines {
    editor: Reedline,
    just_continued: Arc<AtomicBool>,
}

impl TerminalLines {
    fn new(history: Option<&Path>, colour: bool) -> TerminalLines {
        let just_continued = Arc::new(AtomicBool::new(false));
        let keys = NewLineKeys {
            emacs: Emacs::new(key_bindings()),
            just_continued: just_continued.clone(),
        };
        let mut editor = Reedline::create()
            .with_edit_mode(Box::new(keys))
            .with_ansi_colors(colour)
            .use_bracketed_paste(true)
            // Pushed only when the terminal says it has the protocol; popped after
            // each prompt, so a running turn gets Ctrl-C as a signal again.
            .use_kitty_keyboard_enhancement(true);
        if let Some(file) = history {
            match history_in_reedline_form(file) {
                Ok(history) => editor = editor.with_history(Box::new(history)),
                Err(e) => eprintln!(
                    "warning: history off: cannot read {}: {e}; move the file away to start a new one",
                    file.display()
                ),
            }
        }
        TerminalLines {
            editor,
            just_continued,
        }
    }

    fn read(&mut self) -> std::io::Result<Typed> {
        loop {
            match self.editor.read_line(&ReplPrompt)? {
                Signal::Success(line) => match continued(&line) {
                    Some(text) => {
                        self.editor
                            .run_edit_commands(&[EditCommand::InsertString(text)]);
                        self.just_continued.store(true, Ordering::Relaxed);
                    }
                    None => return Ok(Typed::Line(line)),
                },
                Signal::CtrlC => return Ok(Typed::Cleared),
                Signal::CtrlD => return Ok(Typed::End),
                // Neither is set up; should one come, the line is kept.
                Signal::HostCommand(line) | Signal::ExternalBreak(line) => {
                    return Ok(Typed::Line(line));
                }
                // A signal of a later reedline: nothing typed to act on.
                _ => return Ok(Typed::Cleared),
            }
        }
    }
}

/// reedline's emacs keys, with Enter that Shift, Ctrl or Alt hold inserting a newline.
fn key_bindings() -> reedline::Keybindings {
    let mut keys = reedline::default_emacs_keybindings();
    let newline = ReedlineEvent::Edit(vec![EditCommand::InsertNewline]);
    for modifiers in [
        KeyModifiers::SHIFT,
        KeyModifiers::CONTROL,
        KeyModifiers::ALT,
    ] {
        keys.add_binding(modifiers, KeyCode::Enter, newline.clone());
    }
    keys
}

/// The emacs edit mode, but for the LF of a `\` CR LF: a terminal mapped to send that
/// for Shift-Enter (what Claude Code's setup writes for VS Code) ends the line with the
/// CR, and the LF that follows (Ctrl-J, which sends) belongs to the same key press.
struct NewLineKeys {
    emacs: Emacs,
    just_continued: Arc<AtomicBool>,
}

impl EditMode for NewLineKeys {
    fn parse_event(&mut self, event: ReedlineRawEvent) -> ReedlineEvent {
        let just_continued = self.just_continued.swap(false, Ordering::Relaxed);
        let event: Event = event.into();
        let ctrl_j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL);
        if just_continued && matches!(&event, Event::Key(key) if *key == ctrl_j) {
            return ReedlineEvent::None;
        }
        match ReedlineRawEvent::try_from(event) {
            Ok(event) => self.emacs.parse_event(event),
            Err(()) => ReedlineEvent::None,
        }
    }

    fn edit_mode(&self) -> PromptEditMode {
        self.emacs.edit_mode()
    }
}

/// `conch> `, and two spaces before each further line.
struct ReplPrompt;

impl Prompt for ReplPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(PROMPT)
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("  ")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failed = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failed ",
        };
        Cow::Owned(format!("({failed}search: {}) ", search.term))
    }
}

/// The history file, in reedline's form. A file rustyline wrote (a `#V2` first line,
/// `\n` and `\\` escaped) is rewritten first, so the prompts typed before stay.
fn history_in_reedline_form(file: &Path) -> std::io::Result<FileBackedHistory> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            if let Some(entries) = rustyline_entries(&text) {
                let encoded: String = entries
                    .iter()
                    .map(|entry| format!("{}\n", entry.replace('\n', HISTORY_NEWLINE)))
                    .collect();
                let dir = file.parent().unwrap_or(Path::new("."));
                let mut rewritten = tempfile::NamedTempFile::new_in(dir)?;
                rewritten.write_all(encoded.as_bytes())?;
                rewritten.persist(file).map_err(|e| e.error)?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    FileBackedHistory::with_file(HISTORY_ENTRIES, PathBuf::from(file))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The entries of a history file rustyline wrote, or `None` for another file.
fn rustyline_entries(text: &str) -> Option<Vec<String>> {
    let mut lines = text.lines();
    if lines.next()? != "#V2" {
        return None;
    }
    let entries = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut entry = String::with_capacity(line.len());
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some('n')) => {
                        entry.push('\n');
                        chars.next();
                    }
                    ('\\', Some('\\')) => {
                        entry.push('\\');
                        chars.next();
                    }
                    _ => entry.push(c),
                }
            }
            entry
        })
        .collect();
    Some(entries)
}

/// Prompts read as plain lines: from a pipe (no prompt shown), or from a terminal that
/// cannot be edited on (the prompt shown, the terminal's own line editing).
pub struct PlainLines {
    prompt: bool,
}

impl PlainLines {
    fn read(&mut self) -> std::io::Result<Typed> {
        let mut text = String::new();
        loop {
            if self.prompt {
                let mut out = std::io::stdout();
                out.write_all(if text.is_empty() { PROMPT } else { "  " }.as_bytes())?;
                out.flush()?;
            }
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line)? == 0 {
                return Ok(if text.is_empty() {
                    Typed::End
                } else {
                    Typed::Line(text)
                });
            }
            let line = line.trim_end_matches(['\n', '\r']);
            match continued(line) {
                Some(part) => text.push_str(&part),
                None => {
                    text.push_str(line);
                    return Ok(Typed::Line(text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_backslash_at_the_end_continues_a_line() {
        assert_eq!(
            continued("copy C:\\temp\\").as_deref(),
            Some("copy C:\\temp\n")
        );
        assert_eq!(continued("copy C:\\temp"), None);
        assert_eq!(continued("a \\ b"), None);
    }

    #[test]
    fn a_rustyline_history_file_gives_its_entries_unescaped() {
        let text = "#V2\nfirst\nsecond\\nline\ncopy C:\\\\temp\n";
        assert_eq!(
            rustyline_entries(text),
            Some(vec![
                "first".to_string(),
                "second\nline".to_string(),
                "copy C:\\temp".to_string()
            ])
        );
        assert_eq!(rustyline_entries("first\nsecond<\\n>line\n"), None);
    }

    #[test]
    fn no_term_or_a_dumb_one_is_dumb() {
        assert!(!term_is_dumb(None));
        assert!(term_is_dumb(Some("dumb".as_ref())));
        assert!(!term_is_dumb(Some("xterm-256color".as_ref())));
    }
}
