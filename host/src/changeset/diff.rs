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

/// One file's line diff, over a window of the two versions: the lines they differ in
/// and up to `CONTEXT` equal lines on either side, which is all a hunk or a count needs.
struct LineDiff<'a> {
    old: Vec<&'a str>,
    new: Vec<&'a str>,
    /// The line number (0-based, the same in both) of the window's first line.
    first: usize,
    ops: Vec<DiffOp>,
}

impl<'a> LineDiff<'a> {
    fn new(old: &'a str, new: &'a str) -> Self {
        // The shared start and end are found on bytes and cut at line ends, so a one-line
        // edit of a large file is a compare and a count, not a string per line.
        let start = shared_lines_start(old.as_bytes(), new.as_bytes());
        let (old_rest, new_rest) = (&old[start..], &new[start..]);
        let end = shared_lines_end(old_rest.as_bytes(), new_rest.as_bytes());
        let (old_end, new_end) = (old_rest.len() - end, new_rest.len() - end);
        let before = context_before(&old[..start]);
        let after = context_after(&old_rest[old_end..]);
        let prefix = before.split_inclusive('\n').count();
        let first = count_lines(&old[..start]) - prefix;
        let old_middle: Vec<&str> = old_rest[..old_end].split_inclusive('\n').collect();
        let new_middle: Vec<&str> = new_rest[..new_end].split_inclusive('\n').collect();
        let middle = similar::capture_diff_slices_deadline(
            Algorithm::Myers,
            &old_middle,
            &new_middle,
            Some(Instant::now() + DIFF_DEADLINE),
        );
        let suffix = after.split_inclusive('\n').count();
        let window = |middle: Vec<&'a str>| -> Vec<&'a str> {
            let mut lines = Vec::with_capacity(prefix + middle.len() + suffix);
            lines.extend(before.split_inclusive('\n'));
            lines.extend(middle);
            lines.extend(after.split_inclusive('\n'));
            lines
        };
        let (old_len, new_len) = (old_middle.len(), new_middle.len());
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
                old_index: prefix + old_len,
                new_index: prefix + new_len,
                len: suffix,
            });
        }
        LineDiff {
            old: window(old_middle),
            new: window(new_middle),
            first,
            ops,
        }
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

/// Where the lines both versions start with end: a byte offset just after a `\n` (or 0),
/// the same in both. A line counts as shared only with its terminator, so `x` at the end
/// of one and `x\n` in the other differ, as `similar` would see them.
fn shared_lines_start(old: &[u8], new: &[u8]) -> usize {
    if old == new {
        return old.len();
    }
    let same = shared_prefix(old, new);
    old[..same]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1)
}

/// How many bytes of whole lines both versions end with (none of them before `old` and
/// `new` begin: the caller passes what is left after the shared start).
fn shared_lines_end(old: &[u8], new: &[u8]) -> usize {
    if old == new {
        return old.len();
    }
    let same = shared_suffix(old, new);
    let (at_old, at_new) = (old.len() - same, new.len() - same);
    let starts_line = |text: &[u8], at: usize| at == 0 || text[at - 1] == b'\n';
    if starts_line(old, at_old) && starts_line(new, at_new) {
        return same;
    }
    // The shared bytes begin inside a line: the shared lines begin after its end (a `\n`
    // that is the last byte ends the text, and begins no line).
    match old[at_old..].iter().position(|&b| b == b'\n') {
        Some(newline) => old.len() - (at_old + newline + 1),
        None => 0,
    }
}

/// The length of the bytes `a` and `b` start with, compared a block at a time.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let blocks = a
        .chunks_exact(BLOCK)
        .zip(b.chunks_exact(BLOCK))
        .take_while(|(x, y)| x == y)
        .count();
    let at = blocks * BLOCK;
    at + a[at..]
        .iter()
        .zip(&b[at..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the bytes `a` and `b` end with, compared a block at a time.
fn shared_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let blocks = a
        .rchunks_exact(BLOCK)
        .zip(b.rchunks_exact(BLOCK))
        .take_while(|(x, y)| x == y)
        .count();
    let at = blocks * BLOCK;
    at + a[..a.len() - at]
        .iter()
        .rev()
        .zip(b[..b.len() - at].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The last `CONTEXT` lines (at most) of `text`, which ends at a line end or is empty.
fn context_before(text: &str) -> &str {
    let mut start = text.len();
    for _ in 0..CONTEXT {
        if start == 0 {
            break;
        }
        start = text[..start - 1]
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
    }
    &text[start..]
}

/// The first `CONTEXT` lines (at most) of `text`.
fn context_after(text: &str) -> &str {
    let mut end = 0;
    for _ in 0..CONTEXT {
        if end == text.len() {
            break;
        }
        end = text[end..]
            .find('\n')
            .map_or(text.len(), |newline| end + newline + 1);
    }
    &text[..end]
}

/// How many lines `text` has (a last line without a terminator counts).
fn count_lines(text: &str) -> usize {
    let newlines = text.bytes().filter(|&b| b == b'\n').count();
    newlines + usize::from(!text.is_empty() && !text.ends_with('\n'))
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
        let old_range = diff.first + first.old_range().start..diff.first + last.old_range().end;
        let new_range = diff.first + first.new_range().start..diff.first + last.new_range().end;
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

    /// The shared start and end found on bytes are the lines a line-by-line comparison
    /// finds, byte for byte.
    #[test]
    fn shared_lines_found_on_bytes_are_the_shared_lines() {
        fn by_lines(old: &str, new: &str) -> (usize, usize) {
            let old: Vec<&str> = old.split_inclusive('\n').collect();
            let new: Vec<&str> = new.split_inclusive('\n').collect();
            let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
            let suffix = old[prefix..]
                .iter()
                .rev()
                .zip(new[prefix..].iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let bytes = |lines: &[&str]| lines.iter().map(|l| l.len()).sum::<usize>();
            (bytes(&old[..prefix]), bytes(&old[old.len() - suffix..]))
        }
        let long: String = (0..300).map(|i| format!("line {}\n", i % 7)).collect();
        let texts = [
            "".to_string(),
            "a".into(),
            "a\n".into(),
            "a\nb".into(),
            "a\nb\n".into(),
            "b\n".into(),
            "x\na\nb\n".into(),
            "a\r\nb\r\n".into(),
            "a\nb\nb\nb\n".into(),
            "ab\nb\n".into(),
            long.clone(),
            long.replacen("line 3\n", "line 3 changed\n", 1),
            format!("{long}tail"),
            format!("head\n{long}"),
            long.replace("line 6\n", ""),
        ];
        for old in &texts {
            for new in &texts {
                let start = shared_lines_start(old.as_bytes(), new.as_bytes());
                let end = shared_lines_end(&old.as_bytes()[start..], &new.as_bytes()[start..]);
                assert_eq!((start, end), by_lines(old, new), "{old:?} → {new:?}");
            }
        }
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
