//! `patch`: apply a unified diff (git style) or a `*** Begin Patch` patch to several files.
//!
//! Parsing ([`unified`], [`begin`]) turns either format into [`FilePatch`]es; this module
//! reads each file through the caller's `read_file`, places every hunk, and returns the
//! [`FileChange`]s for the host to stage. Nothing is written here. Hunks are placed against
//! the file as it was (so stated line numbers mean what the diff's author saw), nearest to
//! the stated line first, exact before whitespace-tolerant; one hunk that cannot be placed
//! fails the whole patch, and the error reports every hunk so the model can fix the ones
//! that failed.

mod begin;
#[cfg(test)]
mod tests;
mod unified;

use std::collections::HashMap;

use crate::EditError;
use crate::matching::{MatchKind, describe_closest, matches_at, span};
use crate::text::{Splice, Text};

/// One file operation of a patch, with the bytes before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileChange {
    /// A new file.
    Create {
        /// Where, as written in the patch (relative paths are relative to the cwd).
        path: String,
        /// Its content.
        content: Vec<u8>,
    },
    /// An existing file's content changes.
    Update {
        /// The file.
        path: String,
        /// Its content before.
        old: Vec<u8>,
        /// Its content after.
        new: Vec<u8>,
    },
    /// A file is removed.
    Delete {
        /// The file.
        path: String,
        /// Its content before.
        old: Vec<u8>,
    },
    /// A file moves, and its content may change on the way.
    Rename {
        /// Where it was.
        from: String,
        /// Where it goes (must not exist yet).
        to: String,
        /// Its content before.
        old: Vec<u8>,
        /// Its content after (equal to `old` for a pure rename).
        new: Vec<u8>,
    },
}

/// Where one hunk was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HunkReport {
    /// The file the hunk belongs to.
    pub path: String,
    /// 1-based index of the hunk within its file.
    pub hunk: usize,
    /// 1-based line of the file (before the patch) where the hunk's first old line was found.
    pub line: usize,
    /// Found line minus the line the hunk stated (0 when it stated none).
    pub offset: isize,
    /// How its lines matched the file.
    pub matched: MatchKind,
}

impl HunkReport {
    /// "src/a.rs: hunk 2 applied at line 57 (offset +3, ignoring whitespace)"
    pub fn describe(&self) -> String {
        let mut notes = Vec::new();
        if self.offset != 0 {
            notes.push(format!("offset {:+}", self.offset));
        }
        if self.matched != MatchKind::Exact {
            notes.push(self.matched.describe().to_owned());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        format!(
            "{}: hunk {} applied at line {}{notes}",
            self.path, self.hunk, self.line
        )
    }
}

/// What a patch does: the file operations in order, and where each hunk went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchOutcome {
    /// The operations, in patch order; a path may appear twice if the patch touches it
    /// twice, and staging them in order gives the final state.
    pub changes: Vec<FileChange>,
    /// Every hunk, in patch order.
    pub hunks: Vec<HunkReport>,
}

/// Apply `patch` — a unified diff, or a `*** Begin Patch` … `*** End Patch` block — to the
/// files `read_file` gives: `Ok(None)` for a file that does not exist, `Err(message)` for
/// any other failure (passed on as [`EditError::Read`]).
pub fn apply_patch<F>(patch: &str, mut read_file: F) -> Result<PatchOutcome, EditError>
where
    F: FnMut(&str) -> Result<Option<Vec<u8>>, String>,
{
    let patch = strip_fence(patch);
    // A diff may well contain `*** Begin Patch` as text; only a leading one decides.
    let first = patch.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let begin_patch = first.trim() == "*** Begin Patch";
    let files = if begin_patch {
        begin::parse(patch)?
    } else {
        unified::parse(patch)?
    };
    if files.is_empty() && begin_patch {
        return Err(EditError::InvalidInput(
            "the *** Begin Patch block changes nothing: it has no *** Add File:, *** Update \
             File: or *** Delete File: section"
                .to_owned(),
        ));
    }
    if files.is_empty() {
        return Err(EditError::InvalidInput(
            "the patch changes no file: expected a unified diff (--- a/path, +++ b/path, @@ \
             hunks) or a *** Begin Patch block"
                .to_owned(),
        ));
    }
    let mut applier = Applier {
        read_file: &mut read_file,
        overlay: HashMap::new(),
        outcome: PatchOutcome {
            changes: Vec::new(),
            hunks: Vec::new(),
        },
        failures: Vec::new(),
        only_missing: true,
    };
    for file in files {
        applier.file(file)?;
    }
    if applier.failures.is_empty() {
        return Ok(applier.outcome);
    }
    let mut message = format!(
        "The patch was not applied; no file was changed. {} problem{}:\n",
        applier.failures.len(),
        if applier.failures.len() == 1 { "" } else { "s" }
    );
    for failure in &applier.failures {
        message.push_str(&format!("- {failure}\n"));
    }
    if !applier.outcome.hunks.is_empty() {
        message.push_str("These hunks did fit:\n");
        for hunk in &applier.outcome.hunks {
            message.push_str(&format!("- {}\n", hunk.describe()));
        }
    }
    message.push_str("Fix the failed parts and send the whole patch again.");
    Err(if applier.only_missing {
        EditError::NotFound(message)
    } else {
        EditError::InvalidInput(message)
    })
}

/// Models sometimes wrap a patch in a Markdown code fence.
fn strip_fence(patch: &str) -> &str {
    let trimmed = patch.trim();
    match trimmed.strip_prefix("```") {
        Some(rest) if trimmed.ends_with("```") && trimmed.len() > 6 => {
            let body = &rest[..rest.len() - 3];
            body.split_once('\n').map_or(body, |(_, b)| b)
        }
        _ => patch,
    }
}

/// A parsed file section, either format.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FilePatch {
    Create {
        path: String,
        lines: Vec<String>,
        missing_newline: bool,
    },
    Delete {
        path: String,
        hunks: Vec<Hunk>,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

/// A hunk line's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Context,
    Remove,
    Add,
}

/// One hunk, either format.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Hunk {
    /// How the patch names it in reports: "@@ -40,7 +40,8 @@" or "@@ fn main".
    pub header: String,
    /// The 1-based old line the hunk states (unified only); with no old lines, the line
    /// it inserts after.
    pub old_start: Option<usize>,
    pub lines: Vec<(Tag, String)>,
    /// Begin Patch `@@ line`: a line to find first; the hunk goes after it.
    pub anchor: Option<String>,
    /// Begin Patch `*** End of File`: the hunk ends at the end of the file.
    pub at_eof: bool,
    /// `\ No newline at end of file` after an old-side line.
    pub old_missing_newline: bool,
    /// `\ No newline at end of file` after a new-side line.
    pub new_missing_newline: bool,
}

impl Hunk {
    fn old_side(&self) -> Vec<&str> {
        self.side(Tag::Add)
    }

    fn new_side(&self) -> Vec<String> {
        self.side(Tag::Remove)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn side(&self, without: Tag) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(tag, _)| *tag != without)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

struct Applier<'a, F> {
    read_file: &'a mut F,
    /// Files this patch already changed: `None` = removed.
    overlay: HashMap<String, Option<Vec<u8>>>,
    outcome: PatchOutcome,
    failures: Vec<String>,
    /// Every failure is a missing (or already existing) file.
    only_missing: bool,
}

impl<F> Applier<'_, F>
where
    F: FnMut(&str) -> Result<Option<Vec<u8>>, String>,
{
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, EditError> {
        match self.overlay.get(path) {
            Some(state) => Ok(state.clone()),
            None => (self.read_file)(path).map_err(EditError::Read),
        }
    }

    fn fail(&mut self, message: String, missing: bool) {
        self.failures.push(message);
        self.only_missing &= missing;
    }

    fn file(&mut self, file: FilePatch) -> Result<(), EditError> {
        match file {
            FilePatch::Create {
                path,
                lines,
                missing_newline,
            } => {
                if self.read(&path)?.is_some() {
                    let message = format!(
                        "{path}: cannot create it, it already exists; change it with a diff \
                         against its current content"
                    );
                    self.fail(message, true);
                    return Ok(());
                }
                let empty = Text::decode(b"")?;
                let splice = Splice {
                    start: 0,
                    end: 0,
                    lines,
                };
                let content = empty.apply(vec![splice], Some(!missing_newline)).encode();
                self.overlay.insert(path.clone(), Some(content.clone()));
                self.outcome
                    .changes
                    .push(FileChange::Create { path, content });
            }
            FilePatch::Delete { path, hunks } => {
                let Some((old, text)) = self.existing(&path)? else {
                    return Ok(());
                };
                if !hunks.is_empty() {
                    let Some(after) = self.hunks(&path, &text, &hunks) else {
                        return Ok(());
                    };
                    if !after.lines.is_empty() {
                        let message = format!(
                            "{path}: the patch deletes the file, but its hunks leave {} \
                             line(s) in it; the file has more lines than the patch removes",
                            after.lines.len()
                        );
                        self.fail(message, false);
                        return Ok(());
                    }
                }
                self.overlay.insert(path.clone(), None);
                self.outcome.changes.push(FileChange::Delete { path, old });
            }
            FilePatch::Update {
                path,
                move_to,
                hunks,
            } => {
                let Some((old, text)) = self.existing(&path)? else {
                    return Ok(());
                };
                let Some(after) = self.hunks(&path, &text, &hunks) else {
                    return Ok(());
                };
                let new = if hunks.is_empty() {
                    old.clone()
                } else {
                    after.encode()
                };
                match move_to.filter(|to| *to != path) {
                    Some(to) => {
                        if self.read(&to)?.is_some() {
                            let message =
                                format!("{path}: cannot move it to {to}, which already exists");
                            self.fail(message, true);
                            return Ok(());
                        }
                        self.overlay.insert(path.clone(), None);
                        self.overlay.insert(to.clone(), Some(new.clone()));
                        self.outcome.changes.push(FileChange::Rename {
                            from: path,
                            to,
                            old,
                            new,
                        });
                    }
                    None => {
                        self.overlay.insert(path.clone(), Some(new.clone()));
                        self.outcome
                            .changes
                            .push(FileChange::Update { path, old, new });
                    }
                }
            }
        }
        Ok(())
    }

    /// The file's bytes and text, or `None` after recording why it cannot be patched.
    fn existing(&mut self, path: &str) -> Result<Option<(Vec<u8>, Text)>, EditError> {
        let Some(bytes) = self.read(path)? else {
            let message = format!(
                "{path}: no such file; to create it, diff from /dev/null (or use *** Add File:)"
            );
            self.fail(message, true);
            return Ok(None);
        };
        match Text::decode(&bytes) {
            Ok(text) => Ok(Some((bytes, text))),
            Err(e) => {
                self.fail(format!("{path}: {e}"), false);
                Ok(None)
            }
        }
    }

    /// Place every hunk against `text`; `None` after recording the failures.
    fn hunks(&mut self, path: &str, text: &Text, hunks: &[Hunk]) -> Option<Text> {
        let contents = text.contents();
        let mut splices = Vec::with_capacity(hunks.len());
        let mut reports = Vec::new();
        let mut failed = false;
        let mut next = 0; // hunks are in file order and do not overlap
        let mut final_newline = None;
        for (i, hunk) in hunks.iter().enumerate() {
            match locate(&contents, hunk, next) {
                Ok((at, matched, old_len)) => {
                    let window = &contents[at..at + old_len];
                    splices.push(Splice {
                        start: at,
                        end: at + old_len,
                        lines: new_lines(hunk, window, old_len),
                    });
                    if at + old_len == contents.len()
                        && (hunk.old_missing_newline || hunk.new_missing_newline)
                    {
                        final_newline = Some(!hunk.new_missing_newline);
                    }
                    let stated = hunk
                        .old_start
                        .map(|s| if old_len == 0 { s } else { s.saturating_sub(1) });
                    reports.push(HunkReport {
                        path: path.to_owned(),
                        hunk: i + 1,
                        line: at + 1,
                        offset: stated.map_or(0, |s| at as isize - s as isize),
                        matched,
                    });
                    next = at + old_len;
                }
                Err(why) => {
                    failed = true;
                    self.fail(
                        format!("{path}: hunk {} ({}) failed: {why}", i + 1, hunk.header),
                        false,
                    );
                }
            }
        }
        self.outcome.hunks.extend(reports);
        (!failed).then(|| text.apply(splices, final_newline))
    }
}

/// The hunk's new lines, with context lines as the file has them (they may differ in
/// whitespace when the hunk matched tolerantly).
fn new_lines(hunk: &Hunk, window: &[&str], old_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut j = 0;
    for (tag, line) in &hunk.lines {
        match tag {
            Tag::Context if j < old_len => {
                out.push(window[j].to_owned());
                j += 1;
            }
            Tag::Remove if j < old_len => j += 1,
            Tag::Add => out.push(line.clone()),
            // Lines past `old_len` were a trailing blank line dropped to find a match.
            Tag::Context | Tag::Remove => {}
        }
    }
    out
}

/// Where the hunk's old lines are: (0-based line, how they matched, how many old lines
/// were used), searching at or after `from`.
fn locate(
    contents: &[&str],
    hunk: &Hunk,
    from: usize,
) -> Result<(usize, MatchKind, usize), String> {
    let mut from = from;
    if let Some(anchor) = &hunk.anchor {
        let found = MatchKind::ALL
            .iter()
            .find_map(|&kind| (from..contents.len()).find(|&i| kind.lines_eq(contents[i], anchor)));
        match found {
            Some(i) => from = i + 1,
            None => {
                return Err(format!(
                    "its context line `@@ {anchor}` was not found{}. {}",
                    after(from),
                    describe_closest(contents, from, &[anchor.as_str()], None)
                ));
            }
        }
    }
    let old = hunk.old_side();
    if old.is_empty() {
        let at = match (hunk.old_start, &hunk.anchor) {
            (Some(line), _) => line,
            (None, Some(_)) => from,
            (None, None) => contents.len(),
        };
        return if at < from || at > contents.len() {
            Err(format!(
                "it inserts after line {at}, but the file has {} lines{}",
                contents.len(),
                if at < from {
                    " and an earlier hunk ends past there"
                } else {
                    ""
                }
            ))
        } else {
            Ok((at, MatchKind::Exact, 0))
        };
    }
    let hint = if hunk.at_eof {
        Some(contents.len().saturating_sub(old.len()))
    } else {
        hunk.old_start.map(|s| s.saturating_sub(1))
    };
    let mut candidates = vec![&old[..]];
    // A blank last context line is often an artefact of how the patch was written.
    if old.len() > 1 && old.last().is_some_and(|l| l.trim().is_empty()) {
        candidates.push(&old[..old.len() - 1]);
    }
    for wanted in candidates {
        if let Some((at, kind)) = search(contents, wanted, from, hint) {
            return Ok((at, kind, wanted.len()));
        }
    }
    Err(format!(
        "its {} context and removed lines were not found{}{}, not even ignoring whitespace. {}",
        old.len(),
        hint.map_or(String::new(), |h| format!(" near line {}", h + 1)),
        after(from),
        describe_closest(contents, from, &old, hint)
    ))
}

fn after(from: usize) -> String {
    if from == 0 {
        String::new()
    } else {
        format!(
            " after {} (where the previous hunk ended)",
            span(from, from)
        )
    }
}

/// The match of `wanted` at or after `from` at the strictest level that has one, nearest
/// to `hint` (or the first, without a hint).
fn search(
    contents: &[&str],
    wanted: &[&str],
    from: usize,
    hint: Option<usize>,
) -> Option<(usize, MatchKind)> {
    if from + wanted.len() > contents.len() {
        return None;
    }
    let last = contents.len() - wanted.len();
    for kind in MatchKind::ALL {
        let found = match hint {
            None => (from..=last).find(|&at| matches_at(contents, wanted, at, kind)),
            Some(hint) => {
                let hint = hint.clamp(from, last);
                let reach = (hint - from).max(last - hint);
                (0..=reach)
                    .flat_map(|d| [hint.checked_sub(d), Some(hint + d)])
                    .flatten()
                    .filter(|&at| at >= from && at <= last)
                    .find(|&at| matches_at(contents, wanted, at, kind))
            }
        };
        if let Some(at) = found {
            return Some((at, kind));
        }
    }
    None
}
