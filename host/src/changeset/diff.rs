//! Showing a change: a unified diff per file and a one-line summary with line counts.

use similar::{ChangeTag, TextDiff};

use super::FileChange;

/// The change as a git-style unified diff (3 lines of context).
pub fn unified(change: &FileChange) -> String {
    let (old, new) = (
        text(change.before.as_deref()),
        text(change.after.as_deref()),
    );
    let (Some(old), Some(new)) = (old, new) else {
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
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    out.push_str(&format!("--- {from}\n+++ {to}\n"));
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let hunk = hunk.to_string();
        out.push_str(&hunk);
        if !hunk.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
    out
}

/// `path +added -removed`, marking new and removed files.
pub fn summary(change: &FileChange) -> String {
    let (added, removed) = match (
        text(change.before.as_deref()),
        text(change.after.as_deref()),
    ) {
        (Some(old), Some(new)) => {
            let diff = TextDiff::from_lines(old, new);
            diff.iter_all_changes()
                .fold((0, 0), |(a, r), change| match change.tag() {
                    ChangeTag::Insert => (a + 1, r),
                    ChangeTag::Delete => (a, r + 1),
                    ChangeTag::Equal => (a, r),
                })
        }
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
        assert!(
            text.starts_with("--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,4 @@\n"),
            "{text}"
        );
        assert!(text.contains("-two\n+2\n"), "{text}");
        assert_eq!(summary(&change(None, Some("x\n"))), "a.txt (new) +1 -0");
        assert!(unified(&change(Some("x"), None)).contains("+++ /dev/null"));
        assert!(unified(&change(Some("x"), Some("y"))).contains("\\ No newline at end of file"));
    }
}
