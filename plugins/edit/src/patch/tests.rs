//! The patch engine on both formats: placing hunks, creating, deleting, renaming, and
//! failing whole.

use std::collections::HashMap;

use super::*;

fn files(entries: &[(&str, &str)]) -> HashMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect()
}

fn run(patch: &str, fs: &HashMap<String, Vec<u8>>) -> Result<PatchOutcome, EditError> {
    apply_patch(patch, |path| Ok(fs.get(path).cloned()))
}

fn new_text(change: &FileChange) -> String {
    match change {
        FileChange::Update { new, .. } | FileChange::Rename { new, .. } => {
            String::from_utf8(new.clone()).unwrap()
        }
        FileChange::Create { content, .. } => String::from_utf8(content.clone()).unwrap(),
        FileChange::Delete { .. } => panic!("deleted"),
    }
}

const TEN: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

#[test]
fn git_diff_updates_a_file() {
    let fs = files(&[("src/a.txt", TEN)]);
    let patch = "diff --git a/src/a.txt b/src/a.txt\nindex 1..2 100644\n--- a/src/a.txt\n+++ b/src/a.txt\n@@ -2,3 +2,3 @@\n two\n-three\n+THREE\n four\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(new_text(&out.changes[0]), TEN.replace("three", "THREE"));
    assert_eq!(
        out.hunks[0].describe(),
        "src/a.txt: hunk 1 applied at line 2"
    );
}

#[test]
fn offset_hunks_are_found_nearest_the_stated_line() {
    let fs = files(&[("a", "x\nx\nx\nx\nx\nx\nx\nx\n")]);
    // Stated at line 6, the context also matches at 1..=7; the nearest wins.
    let patch = "--- a/a\n+++ b/a\n@@ -6,2 +6,2 @@\n x\n-x\n+y\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "x\nx\nx\nx\nx\nx\ny\nx\n");
    let fs = files(&[("a", &format!("new\nlines\nabove\n{TEN}"))]);
    let patch = "--- a/a\n+++ b/a\n@@ -4,2 +4,2 @@\n four\n-five\n+FIVE\n@@ -9,2 +9,2 @@\n nine\n-ten\n+TEN\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(
        out.hunks[0].describe(),
        "a: hunk 1 applied at line 7 (offset +3)"
    );
    assert_eq!(out.hunks[1].offset, 3);
    assert!(new_text(&out.changes[0]).ends_with("four\nFIVE\nsix\nseven\neight\nnine\nTEN\n"));
}

#[test]
fn whitespace_tolerant_hunks_keep_the_files_context() {
    let fs = files(&[("a.py", "def f():\n\tif x:   \n\t\treturn 1\n")]);
    let patch = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n def f():\n     if x:\n-        return 1\n+\t\treturn 2\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(out.hunks[0].matched, MatchKind::Whitespace);
    assert_eq!(
        new_text(&out.changes[0]),
        "def f():\n\tif x:   \n\t\treturn 2\n"
    );
}

#[test]
fn crlf_bom_and_missing_final_newline_survive() {
    let fs = files(&[("w.txt", "\u{feff}a\r\nb\r\nc")]);
    let patch = "--- a/w.txt\n+++ b/w.txt\n@@ -2,2 +2,3 @@\n b\n-c\n+C\n+d\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "\u{feff}a\r\nb\r\nC\r\nd");
}

#[test]
fn no_newline_markers_are_honoured() {
    let fs = files(&[("f", "a\nb")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "a\nb\n");
    let fs = files(&[("f", "a\nb\n")]);
    let patch = "--- a/f\n+++ b/f\n@@ -2 +2 @@\n-b\n+c\n\\ No newline at end of file\n";
    assert_eq!(new_text(&run(patch, &fs).unwrap().changes[0]), "a\nc");
}

#[test]
fn create_delete_and_rename() {
    let fs = files(&[("old.rs", "fn a() {}\n"), ("gone.rs", "x\ny\n")]);
    let patch = "\
diff --git a/new.rs b/new.rs
new file mode 100644
--- /dev/null
+++ b/new.rs
@@ -0,0 +1,2 @@
+fn new() {}
+\u{1F980}
diff --git a/gone.rs b/gone.rs
deleted file mode 100644
--- a/gone.rs
+++ /dev/null
@@ -1,2 +0,0 @@
-x
-y
diff --git a/old.rs b/moved.rs
similarity index 100%
rename from old.rs
rename to moved.rs
";
    let out = run(patch, &fs).unwrap();
    assert_eq!(
        out.changes,
        vec![
            FileChange::Create {
                path: "new.rs".into(),
                content: "fn new() {}\n\u{1F980}\n".as_bytes().to_vec()
            },
            FileChange::Delete {
                path: "gone.rs".into(),
                old: b"x\ny\n".to_vec()
            },
            FileChange::Rename {
                from: "old.rs".into(),
                to: "moved.rs".into(),
                old: b"fn a() {}\n".to_vec(),
                new: b"fn a() {}\n".to_vec()
            },
        ]
    );
}

#[test]
fn rename_by_differing_paths_with_an_edit() {
    let fs = files(&[("src/x.rs", TEN)]);
    let patch = "--- a/src/x.rs\n+++ b/src/y.rs\n@@ -1,2 +1,2 @@\n-one\n+ONE\n two\n";
    let out = run(patch, &fs).unwrap();
    match &out.changes[0] {
        FileChange::Rename { from, to, .. } => {
            assert_eq!((from.as_str(), to.as_str()), ("src/x.rs", "src/y.rs"))
        }
        other => panic!("{other:?}"),
    }
    assert!(new_text(&out.changes[0]).starts_with("ONE\ntwo\n"));
}

#[test]
fn diff_run_between_directories_strips_the_directory() {
    let fs = files(&[("src/lib.rs", "a\nb\n")]);
    let patch = "diff -ruN crate-1.0/src/lib.rs crate-1.1/src/lib.rs
--- crate-1.0/src/lib.rs\t2024-01-01 00:00:00.000000000 +0000
+++ crate-1.1/src/lib.rs\t2024-02-01 00:00:00.000000000 +0000
@@ -1,2 +1,2 @@
 a
-b
+c
diff -ruN crate-1.0/src/new.rs crate-1.1/src/new.rs
--- crate-1.0/src/new.rs\t1970-01-01 00:00:00.000000000 +0000
+++ crate-1.1/src/new.rs\t2024-02-01 00:00:00.000000000 +0000
@@ -0,0 +1 @@
+new
";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "a\nc\n");
    assert_eq!(
        out.changes[1],
        FileChange::Create {
            path: "src/new.rs".into(),
            content: b"new\n".to_vec()
        }
    );
}

#[test]
fn a_real_file_dated_at_the_epoch_is_changed_not_created() {
    // Files unpacked from old crate archives carry the epoch as their date: `diff -ruN`
    // prints it, and only the hunks tell such a file from one `-N` made up.
    let fs = files(&[("CHANGELOG.md", "a\nb\n"), ("gone.md", "x\n")]);
    let patch = "diff -ruN c-1/CHANGELOG.md c-2/CHANGELOG.md
--- c-1/CHANGELOG.md\t1970-01-01 00:00:00.000000000 +0000
+++ c-2/CHANGELOG.md\t2006-07-24 01:21:28.000000000 +0000
@@ -1,2 +1,2 @@
 a
-b
+c
diff -ruN c-1/gone.md c-2/gone.md
--- c-1/gone.md\t2006-07-24 01:21:28.000000000 +0000
+++ c-2/gone.md\t1970-01-01 00:00:00.000000000 +0000
@@ -1 +0,0 @@
-x
";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "a\nc\n");
    assert!(
        matches!(&out.changes[1], FileChange::Delete { path, .. } if path == "gone.md"),
        "{:?}",
        out.changes[1]
    );
}

#[test]
fn second_of_three_files_failing_fails_the_patch() {
    let fs = files(&[("a", TEN), ("b", TEN), ("c", TEN)]);
    let patch = "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-one\n+ONE\n\
                 --- a/b\n+++ b/b\n@@ -5,2 +5,2 @@\n five\n-sixty\n+SIX\n\
                 --- a/c\n+++ b/c\n@@ -10 +10 @@\n-ten\n+TEN\n";
    let err = run(patch, &fs).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EditError::InvalidInput(_)), "{err:?}");
    assert!(message.contains("no file was changed"), "{message}");
    assert!(
        message.contains("b: hunk 1 (@@ -5,2 +5,2 @@) failed"),
        "{message}"
    );
    assert!(
        message.contains("closest lines are lines 5\u{2013}6"),
        "{message}"
    );
    assert!(message.contains("a: hunk 1 applied at line 1"), "{message}");
    assert!(
        message.contains("c: hunk 1 applied at line 10"),
        "{message}"
    );
}

#[test]
fn missing_files_and_existing_creations_are_refused() {
    let fs = files(&[("here", "x\n")]);
    let err = run("--- a/nope\n+++ b/nope\n@@ -1 +1 @@\n-x\n+y\n", &fs).unwrap_err();
    assert!(matches!(err, EditError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("nope: no such file"));
    let err = run("--- /dev/null\n+++ b/here\n@@ -0,0 +1 @@\n+y\n", &fs).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn read_errors_pass_through() {
    let err = apply_patch("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", |_| {
        Err("x is outside the workspace".to_owned())
    })
    .unwrap_err();
    assert_eq!(err, EditError::Read("x is outside the workspace".into()));
}

#[test]
fn non_utf8_targets_are_refused() {
    let mut fs = HashMap::new();
    fs.insert("bin".to_owned(), vec![0xFF, 0xFE, b'\n']);
    let err = run("--- a/bin\n+++ b/bin\n@@ -1 +1 @@\n-a\n+b\n", &fs).unwrap_err();
    assert!(
        err.to_string().contains("bin: the file is not UTF-8 text"),
        "{err}"
    );
}

#[test]
fn loose_model_diffs_apply() {
    // No diff --git, wrong counts, a blank context line without its space, a code fence.
    let fs = files(&[("m.rs", "fn a() {\n\n    1\n}\n")]);
    let patch =
        "```diff\n--- m.rs\n+++ m.rs\n@@ -1,9 +1,9 @@\n fn a() {\n\n-    1\n+    2\n }\n```";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "fn a() {\n\n    2\n}\n");
}

#[test]
fn a_100k_line_file_takes_a_hunk_far_from_its_stated_line() {
    let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
    let fs = files(&[("big", &text)]);
    let patch = "--- a/big\n+++ b/big\n@@ -10,3 +10,3 @@\n line 89999\n-line 90000\n+changed\n line 90001\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(out.hunks[0].line, 90_000);
    assert_eq!(out.hunks[0].offset, 89_990);
}

#[test]
fn begin_patch_adds_updates_deletes_and_moves() {
    let fs = files(&[
        (
            "src/app.py",
            "import os\n\ndef main():\n    print(\u{201C}hi\u{201D})\n    return 0\n\ndef other():\n    return 0\n",
        ),
        ("obsolete.txt", "bye\n"),
        ("src/util.py", "def u():\n    pass\n"),
    ]);
    let patch = "\
*** Begin Patch
*** Add File: docs/readme.md
+# Title
+
+text
*** Update File: src/app.py
@@ def main():
-    print(\"hi\")
+    print(\"hello\")
@@ def other():
-    return 0
+    return 1
*** Delete File: obsolete.txt
*** Update File: src/util.py
*** Move to: src/helpers.py
@@
 def u():
-    pass
+    return 42
*** End of File
*** End Patch
";
    let out = run(patch, &fs).unwrap();
    assert_eq!(
        out.changes[0],
        FileChange::Create {
            path: "docs/readme.md".into(),
            content: b"# Title\n\ntext\n".to_vec()
        }
    );
    assert_eq!(
        new_text(&out.changes[1]),
        "import os\n\ndef main():\n    print(\"hello\")\n    return 0\n\ndef other():\n    return 1\n"
    );
    assert_eq!(out.hunks[0].matched, MatchKind::Unicode);
    assert_eq!(
        out.hunks[1].line, 8,
        "the anchor moves the second chunk past main's return"
    );
    assert!(matches!(&out.changes[2], FileChange::Delete { path, .. } if path == "obsolete.txt"));
    match &out.changes[3] {
        FileChange::Rename { from, to, new, .. } => {
            assert_eq!(
                (from.as_str(), to.as_str()),
                ("src/util.py", "src/helpers.py")
            );
            assert_eq!(new, b"def u():\n    return 42\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn begin_patch_failures_show_the_closest_lines() {
    let fs = files(&[("a.rs", TEN)]);
    let patch = "*** Begin Patch\n*** Update File: a.rs\n@@\n four\n-fiver\n+5\n*** End Patch\n";
    let message = run(patch, &fs).unwrap_err().to_string();
    assert!(message.contains("a.rs: hunk 1"), "{message}");
    assert!(
        message.contains("closest lines are lines 4\u{2013}5"),
        "{message}"
    );
    let patch = "*** Begin Patch\n*** Update File: a.rs\nfour\n*** End Patch\n";
    let message = run(patch, &fs).unwrap_err().to_string();
    assert!(message.contains("line 3 of the patch"), "{message}");
}

#[test]
fn garbage_is_not_a_patch() {
    let message = run("please change line 3", &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(message.contains("changes no file"), "{message}");
}

#[test]
fn indented_markers_inside_an_update_end_its_chunks() {
    let fs = files(&[("a.rs", TEN), ("b.rs", "x\ny\n")]);
    // Models indent the markers after a chunk; they are markers, not context lines.
    let patch = "*** Begin Patch\n*** Update File: a.rs\n@@\n four\n-five\n+5\n  *** Update File: b.rs\n@@\n x\n-y\n+z\n *** End Patch\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(out.changes.len(), 2);
    assert_eq!(new_text(&out.changes[0]), TEN.replace("five\n", "5\n"));
    assert_eq!(new_text(&out.changes[1]), "x\nz\n");
    // A file line that merely starts with `*** ` is still context.
    let fs = files(&[("n.md", "*** note\ntext\n")]);
    let patch = "*** Begin Patch\n*** Update File: n.md\n *** note\n-text\n+prose\n*** End Patch\n";
    let out = run(patch, &fs).unwrap();
    assert_eq!(new_text(&out.changes[0]), "*** note\nprose\n");
}

#[test]
fn an_empty_begin_patch_block_is_said_to_change_nothing() {
    let message = run("*** Begin Patch\n*** End Patch\n", &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(message.contains("block changes nothing"), "{message}");
    assert!(!message.contains("unified diff"), "{message}");
}
