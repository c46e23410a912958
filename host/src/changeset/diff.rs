//! Showing a change: a unified diff per file and a one-line summary with line counts.
//!
//! Lines the two versions share at the start and the end are set aside before `similar`
//! runs, so a one-line edit of a 100k-line file diffs a handful of lines, not all of them.

use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp, DiffTag};

use super::FileChange;

/// How long one file's diff may take before `similar` settles for a coarser one.
const DIFF_DEADLINE: Duration = Duration::from_millis(500);
const CONTEXT: usize = 3;

/// One file's line diff.
struct LineDiff<'a> {
    old: Vec<&'a str>,
    new: Vec<&'a str>,
    ops: Vec<DiffOp>,
}

impl<'a> LineDiff<'a> {
    fn new(old: &'a str, new: &'a str) -> Self {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let new: Vec<&str> = new.split_inclusive('\n').collect();
        let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
        let suffix = old[prefix..]
            .iter()
            .rev()
            .zip(new[prefix..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
        let middle = similar::capture_diff_slices_deadline(
            Algorithm::Myers,
            &old[prefix..old_end],
            &new[prefix..new_end],
            Some(Instant::now() + DIFF_DEADLINE),
        );
        let mut ops = Vec::with_capacity(middle.len() + 2);
        if prefix > 0 {
            ops.push(DiffOp::Equal {
                old_index: 0,
                new_index: 0,
                len: prefix,
            });
        }
        ops.extend(middle.into_iter().map(|op| shift(op, prefix)));
        if suffix > 0 {
            ops.push(DiffOp::Equal {
                old_index: old_end,
                new_index: new_end,
                len: suffix,
            });
        }
        LineDiff { old, new, ops }
    }

    /// Lines added and removed.
    fn counts(&self) -> (usize, usize) {
        self.ops.iter().fold((0, 0), |(added, removed), op| {
            let (_, old, new) = op.as_tag_tuple();
            match op.tag() {
                DiffTag::Equal => (added, removed),
                _ => (added + new.len(), removed + old.len()),
            }
        })
    }
}

/// `op` moved down by `by` lines on both sides.
fn shift(op: DiffOp, by: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// The change as a git-style unified diff (3 lines of context).
pub fn unified(change: &FileChange) -> String {
    let (Some(old), Some(new)) = (
        text(change.before.as_deref()),
        text(change.after.as_deref()),
    ) else {
        return format!("Binary file {} changed\n", change.display);
    };
    let from = match change.before {
        Some(_) => format!("a/{}", change.display),
        None => "/dev/null".into(),
    };
    let to = match change.after {
        Some(_) => format!("b/{}", change.display),
        None => "/dev/null".into(),
    };
    let diff = LineDiff::new(old, new);
    let mut out = format!("--- {from}\n+++ {to}\n");
    for hunk in similar::group_diff_ops(diff.ops.clone(), CONTEXT) {
        let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(&old_range),
            range(&new_range)
        ));
        for op in &hunk {
            for change in op.iter_changes(&diff.old[..], &diff.new[..]) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                };
                out.push(sign);
                out.push_str(change.value());
                if !change.value().ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// `start,len` of a hunk side, 1-based (`0,0` for nothing at the top).
fn range(lines: &std::ops::Range<usize>) -> String {
    let len = lines.end - lines.start;
    let start = if len == 0 {
        lines.start
    } else {
        lines.start + 1
    };
    format!("{start},{len}")
}

/// `path +added -removed`, marking new and removed files.
pub fn summary(change: &FileChange) -> String {
    let (added, removed) = match (
        text(change.before.as_deref()),
        text(change.after.as_deref()),
    ) {
        (Some(old), Some(new)) => LineDiff::new(old, new).counts(),
        _ => (0, 0),
    };
    let kind = match (&change.before, &change.after) {
        (None, Some(_)) => " (new)",
        (Some(_), None) => " (removed)",
        _ => "",
    };
    format!("{}{kind} +{added} -{removed}", change.display)
}

/// The contents as text: empty for a missing file, `None` for bytes that are not UTF-8.
fn text(contents: Option<&[u8]>) -> Option<&str> {
    std::str::from_utf8(contents.unwrap_or_default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changeset::WorkspacePath;

    fn change(before: Option<&str>, after: Option<&str>) -> FileChange {
        FileChange {
            path: WorkspacePath {
                root: 0,
                relative: "a.txt".into(),
            },
            display: "a.txt".into(),
            before: before.map(|t| t.as_bytes().to_vec()),
            after: after.map(|t| t.as_bytes().to_vec()),
            mode_from: None,
        }
    }

    #[test]
    fn diffs_and_summaries_count_lines() {
        let edit = change(Some("one\ntwo\nthree\n"), Some("one\n2\nthree\nfour\n"));
        assert_eq!(summary(&edit), "a.txt +2 -1");
        let text = unified(&edit);
        assert_eq!(
            text,
            "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four\n"
        );
        assert_eq!(summary(&change(None, Some("x\n"))), "a.txt (new) +1 -0");
        assert!(unified(&change(Some("x"), None)).contains("+++ /dev/null"));
        assert!(unified(&change(Some("x"), Some("y"))).contains("\\ No newline at end of file"));
    }

    #[test]
    fn a_small_edit_in_a_long_file_has_the_right_line_numbers() {
        let old: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 500\n", "LINE 500\n");
        let text = unified(&change(Some(&old), Some(&new)));
        assert_eq!(
            text,
            "--- a/a.txt\n+++ b/a.txt\n@@ -497,7 +497,7 @@\n line 497\n line 498\n line 499\n-line 500\n+LINE 500\n line 501\n line 502\n line 503\n"
        );
        let appended = format!("{old}line 1001\n");
        assert!(unified(&change(Some(&old), Some(&appended))).contains("@@ -998,3 +998,4 @@"));
        let top = format!("line 0\n{old}");
        assert!(unified(&change(Some(&old), Some(&top))).contains("@@ -1,3 +1,4 @@\n+line 0\n"));
        assert!(unified(&change(Some(""), Some("a\n"))).contains("@@ -0,0 +1,1 @@"));
    }
}
