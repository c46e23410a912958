//! The text engine of conch's edit plugin: pure functions from a file's bytes (and the
//! tool's arguments) to new bytes, or to an error message written for the model.
//!
//! Nothing here touches the disk: the plugin's tool entry points read files through the
//! host, call into this crate, and stage what it returns. Every operation keeps the file's
//! BOM, its line endings (LF, CRLF, even a mix) and the presence or absence of a final
//! newline; non-UTF-8 files are refused, never corrupted.
//!
//! - [`text`]: bytes ⇄ lines.
//! - [`lines`]: `edit` and `multiedit`, by line numbers.
//! - [`replace`]: `old_string` → `new_string`, exact first, then more tolerant.
//! - `restyle`: after a tolerant match, `new_string` in the file's indentation and style.
//! - [`patch`]: unified diffs and the `*** Begin Patch` format, into [`FileChange`]s.
//! - `diff` (tests only): renders changes as unified diffs, so the round-trip tests can
//!   check that `patch` applies what an edit produced. The host renders the diffs users
//!   see, from the bytes before and after.

#[cfg(test)]
mod diff;
pub mod lines;
mod matching;
pub mod patch;
pub mod replace;
mod restyle;
pub mod text;
mod tools;

#[cfg(test)]
mod restyle_tests;
#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
use diff::{render_diff, summary};
pub use lines::{LineEdit, LineRange, edit, multiedit};
pub use matching::MatchKind;
pub use patch::{FileChange, HunkReport, PatchOutcome, apply_patch};
pub use replace::{Replaced, replace};
pub use text::{LineEnding, Text};

/// Why an operation refused. Each message is written for the model to read and correct
/// its next call; `Display` is the message alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// The file is not UTF-8 text.
    NotText(String),
    /// The arguments do not fit the file: a line out of range, overlapping edits, an
    /// `expected` or `old_string` that does not match, a hunk that cannot be placed.
    InvalidInput(String),
    /// A file the change needs does not exist (or, for a creation, already does).
    NotFound(String),
    /// The caller's `read_file` failed; its message is passed on.
    Read(String),
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::NotText(m)
            | EditError::InvalidInput(m)
            | EditError::NotFound(m)
            | EditError::Read(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EditError {}
