//! Parse the `*** Begin Patch` format that OpenAI's models are trained to write for
//! `apply_patch`:
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path        then `+line` for each line
//! *** Delete File: path
//! *** Update File: path
//! *** Move to: new/path     (optional)
//! @@ fn context             (optional: a line to find first; chunks follow it)
//!  context / -removed / +added
//! *** End of File           (optional: the chunk ends at the end of the file)
//! *** End Patch
//! ```
//!
//! Chunks carry no line numbers: each is found after the previous one, in order.

use super::{FilePatch, Hunk, Tag};
use crate::EditError;

pub(super) fn parse(patch: &str) -> Result<Vec<FilePatch>, EditError> {
    let lines: Vec<&str> = patch.lines().collect();
    // The caller saw `*** Begin Patch` as the first non-blank line.
    let mut i = lines
        .iter()
        .position(|l| l.trim() == "*** Begin Patch")
        .map_or(0, |p| p + 1);
    let mut files = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        let at = i + 1;
        let error =
            move |what: String| EditError::InvalidInput(format!("line {at} of the patch: {what}"));
        let trimmed = line.trim();
        if trimmed == "*** End Patch" {
            break;
        } else if let Some(path) = trimmed.strip_prefix("*** Add File:") {
            let path =
                file_path(path).ok_or_else(|| error("*** Add File: needs a path".to_owned()))?;
            let mut body = Vec::new();
            i += 1;
            while let Some(rest) = lines.get(i).and_then(|l| l.strip_prefix('+')) {
                body.push(rest.to_owned());
                i += 1;
            }
            files.push(FilePatch::Create {
                path,
                lines: body,
                missing_newline: false,
            });
            continue;
        } else if let Some(path) = trimmed.strip_prefix("*** Delete File:") {
            let path =
                file_path(path).ok_or_else(|| error("*** Delete File: needs a path".to_owned()))?;
            files.push(FilePatch::Delete {
                path,
                hunks: Vec::new(),
            });
        } else if let Some(path) = trimmed.strip_prefix("*** Update File:") {
            let path =
                file_path(path).ok_or_else(|| error("*** Update File: needs a path".to_owned()))?;
            i += 1;
            let mut move_to = None;
            if let Some(to) = lines
                .get(i)
                .and_then(|l| l.trim().strip_prefix("*** Move to:"))
            {
                move_to = Some(
                    file_path(to).ok_or_else(|| error("*** Move to: needs a path".to_owned()))?,
                );
                i += 1;
            }
            let (hunks, used) = chunks(&lines[i..], i)?;
            i += used;
            if hunks.is_empty() && move_to.is_none() {
                return Err(error(format!("*** Update File: {path} has no changes")));
            }
            files.push(FilePatch::Update {
                path,
                move_to,
                hunks,
            });
            continue;
        } else if !trimmed.is_empty() {
            return Err(error(format!(
                "expected `*** Add File:`, `*** Update File:`, `*** Delete File:` or \
                 `*** End Patch`, found `{line}`"
            )));
        }
        i += 1;
    }
    Ok(files)
}

/// A line that ends an update's chunks, indented or not (as the top level reads them): a
/// context line of a file can start with `*** ` too, so only the format's own markers count.
fn is_marker(line: &str) -> bool {
    let line = line.trim();
    line == "*** End Patch"
        || [
            "*** Add File:",
            "*** Update File:",
            "*** Delete File:",
            "*** Move to:",
        ]
        .iter()
        .any(|m| line.starts_with(m))
}

fn file_path(text: &str) -> Option<String> {
    let path = text.trim();
    (!path.is_empty()).then(|| path.to_owned())
}

/// The chunks of one `*** Update File:`, up to the next `*** ` line; `offset` is the
/// index of `lines[0]` in the patch, for messages.
fn chunks(lines: &[&str], offset: usize) -> Result<(Vec<Hunk>, usize), EditError> {
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut used = 0;
    for (n, &line) in lines.iter().enumerate() {
        if is_marker(line) {
            break;
        }
        used = n + 1;
        if line.trim() == "*** End of File" {
            if let Some(hunk) = hunks.last_mut() {
                hunk.at_eof = true;
            }
            continue;
        }
        if let Some(context) = line.strip_prefix("@@") {
            let context = context.trim();
            hunks.push(Hunk {
                header: line.trim().to_owned(),
                anchor: (!context.is_empty()).then(|| context.to_owned()),
                ..Hunk::default()
            });
            continue;
        }
        let (tag, text) = match line.as_bytes().first() {
            Some(b' ') => (Tag::Context, &line[1..]),
            Some(b'-') => (Tag::Remove, &line[1..]),
            Some(b'+') => (Tag::Add, &line[1..]),
            None => (Tag::Context, ""),
            _ => {
                return Err(EditError::InvalidInput(format!(
                    "line {} of the patch: `{line}` starts with none of ' ' (context), '-' \
                     (remove), '+' (add) or @@",
                    offset + n + 1
                )));
            }
        };
        let hunk = match hunks.last_mut() {
            // Lines after `*** End of File` would follow the end; start a new chunk.
            Some(hunk) if !hunk.at_eof => hunk,
            _ => {
                hunks.push(Hunk {
                    header: format!("chunk at patch line {}", offset + n + 1),
                    ..Hunk::default()
                });
                let last = hunks.len() - 1;
                &mut hunks[last]
            }
        };
        hunk.lines.push((tag, text.to_owned()));
    }
    // A chunk that is only `@@ …` changes nothing.
    hunks.retain(|h| !h.lines.is_empty());
    Ok((hunks, used))
}
