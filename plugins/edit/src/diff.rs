//! What a change looks like: the unified diff the UI shows (and the gate's prompt), and the
//! compact +/- summary the model reads. Line diffs come from `similar` (Myers, with a
//! deadline so a rewritten 100k-line file cannot stall a call).

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

use crate::patch::FileChange;

/// How long the line diff of one file may take before `similar` settles for a coarser,
/// still correct, diff.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// Lines added and removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines only in the new content.
    pub added: usize,
    /// Lines only in the old content.
    pub removed: usize,
}

/// Lines added and removed between two contents (non-UTF-8 content counts as no lines).
pub fn stats(old: &[u8], new: &[u8]) -> Stats {
    let (old, new) = (as_text(old).unwrap_or(""), as_text(new).unwrap_or(""));
    let diff = line_diff(old, new);
    let mut stats = Stats::default();
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => stats.added += 1,
            ChangeTag::Delete => stats.removed += 1,
            ChangeTag::Equal => {}
        }
    }
    stats
}

/// The changes as one git-style unified diff (3 lines of context), which
/// [`apply_patch`](crate::apply_patch) applies back.
pub fn render_diff(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        match change {
            FileChange::Create { path, content } => {
                out.push_str(&format!("diff --git a/{path} b/{path}\n"));
                file_diff(&mut out, b"", content, "/dev/null", &format!("b/{path}"));
            }
            FileChange::Update { path, old, new } => {
                out.push_str(&format!("diff --git a/{path} b/{path}\n"));
                file_diff(
                    &mut out,
                    old,
                    new,
                    &format!("a/{path}"),
                    &format!("b/{path}"),
                );
            }
            FileChange::Delete { path, old } => {
                out.push_str(&format!("diff --git a/{path} b/{path}\n"));
                file_diff(&mut out, old, b"", &format!("a/{path}"), "/dev/null");
            }
            FileChange::Rename { from, to, old, new } => {
                out.push_str(&format!(
                    "diff --git a/{from} b/{to}\nrename from {from}\nrename to {to}\n"
                ));
                if old != new {
                    file_diff(&mut out, old, new, &format!("a/{from}"), &format!("b/{to}"));
                }
            }
        }
    }
    out
}

/// One line per file ("updated src/a.rs (+3 -1)"), and a total when there are several.
pub fn summary(changes: &[FileChange]) -> String {
    let mut lines = Vec::new();
    let mut total = Stats::default();
    for change in changes {
        let (what, old, new): (String, &[u8], &[u8]) = match change {
            FileChange::Create { path, content } => (format!("created {path}"), b"", content),
            FileChange::Update { path, old, new } => (format!("updated {path}"), old, new),
            FileChange::Delete { path, old } => (format!("deleted {path}"), old, b""),
            FileChange::Rename { from, to, old, new } => {
                (format!("renamed {from} \u{2192} {to}"), old, new)
            }
        };
        let s = stats(old, new);
        total.added += s.added;
        total.removed += s.removed;
        lines.push(format!("{what} (+{} -{})", s.added, s.removed));
    }
    if changes.len() > 1 {
        lines.push(format!(
            "{} files changed, +{} -{}",
            changes.len(),
            total.added,
            total.removed
        ));
    }
    lines.join("\n")
}

fn file_diff(out: &mut String, old: &[u8], new: &[u8], old_name: &str, new_name: &str) {
    match (as_text(old), as_text(new)) {
        (Some(old), Some(new)) => {
            let diff = line_diff(old, new);
            let body = diff
                .unified_diff()
                .context_radius(3)
                .header(old_name, new_name)
                .to_string();
            if body.is_empty() {
                // No hunks (an empty file created or deleted): the headers still say what.
                out.push_str(&format!("--- {old_name}\n+++ {new_name}\n"));
            }
            out.push_str(&body);
        }
        _ => out.push_str(&format!("Binary files {old_name} and {new_name} differ\n")),
    }
}

fn line_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
}

/// UTF-8 text without its BOM (which the text model keeps apart from the first line).
fn as_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(text.strip_prefix('\u{feff}').unwrap_or(text))
}
