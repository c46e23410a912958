//! Editing end to end: the mock model changes files through each edit tool, the gate
//! decides on the diff, commits are atomic, stale writes are refused, and `conch undo`
//! puts things back.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, run, tool};
use serde_json::{Value, json};

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

fn read_file(project: &Project, name: &str) -> String {
    std::fs::read_to_string(project.path().join(name)).unwrap()
}

#[test]
fn each_edit_tool_changes_files_through_the_agent_with_yes() {
    let patch = "--- a/b.txt\n+++ b/b.txt\n@@ -1,2 +1,2 @@\n beta\n-gamma\n+GAMMA\n";
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call(
            "edit",
            json!({"path": "a.txt", "start_line": 2, "new_text": "TWO", "expected": "two"}),
        ),
        Reply::tool_call(
            "replace",
            json!({"path": "a.txt", "old_string": "three", "new_string": "THREE"}),
        ),
        Reply::tool_call(
            "multiedit",
            json!({"path": "a.txt", "edits": [
                {"start_line": 1, "new_text": "ONE"},
                {"insert_after": 3, "new_text": "four"}
            ]}),
        ),
        Reply::tool_call(
            "write",
            json!({"path": "new/c.txt", "content": "brand new\n"}),
        ),
        Reply::tool_call("patch", json!({"patch": patch})),
        Reply::text("all edited"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "one\r\ntwo\r\nthree\r\n");
    project.write("b.txt", "beta\ngamma\n");
    let out = run_in(&project, &["run", "--yes", "edit everything"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for i in 2..=6 {
        let result = mock.last_tool_result(i);
        assert!(
            !result.starts_with("error") && !result.starts_with("denied"),
            "step {i}: {result}"
        );
    }
    assert_eq!(
        read_file(&project, "a.txt"),
        "ONE\r\nTWO\r\nTHREE\r\nfour\r\n"
    );
    assert_eq!(read_file(&project, "new/c.txt"), "brand new\n");
    assert_eq!(read_file(&project, "b.txt"), "beta\nGAMMA\n");
    let changesets = project
        .session_lines()
        .into_iter()
        .filter(|l| l["type"] == "changeset")
        .count();
    assert_eq!(changesets, 5);
}

#[test]
fn a_headless_edit_is_denied_and_the_file_stays_byte_identical() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call("write", json!({"path": "a.txt", "content": "replaced\n"})),
        Reply::text("could not"),
    ]);
    let project = Project::new(&mock.url());
    let original = "keep\r\nme\r\n\u{feff}exactly";
    project.write("a.txt", original);
    let out = run_in(&project, &["run", "overwrite a.txt"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(2);
    assert!(result.contains("needs approval"), "{result}");
    assert!(result.contains("--allow-edit"), "{result}");
    assert_eq!(read_file(&project, "a.txt"), original);
    let lines = project.session_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "permission" && l["by"] == "headless")
    );
    assert!(!lines.iter().any(|l| l["type"] == "changeset"));
}

#[test]
fn an_edit_without_a_read_is_refused_until_the_file_is_read() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "replace",
            json!({"path": "a.txt", "old_string": "old", "new_string": "new"}),
        ),
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call(
            "replace",
            json!({"path": "a.txt", "old_string": "old", "new_string": "new"}),
        ),
        Reply::text("done"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "old text\n");
    let out = run_in(&project, &["run", "--allow-edit", "change a.txt"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        mock.last_tool_result(1).contains("has not been read"),
        "{}",
        mock.last_tool_result(1)
    );
    assert_eq!(read_file(&project, "a.txt"), "new text\n");
}

#[test]
fn a_patch_failing_on_its_second_file_changes_none() {
    let patch = "\
--- a/one.txt\n+++ b/one.txt\n@@ -1 +1 @@\n-one\n+ONE\n\
--- a/two.txt\n+++ b/two.txt\n@@ -1 +1 @@\n-not what is there\n+TWO\n\
--- a/three.txt\n+++ b/three.txt\n@@ -1 +1 @@\n-three\n+THREE\n";
    let mock = MockLlm::start(vec![
        Reply::tool_call("patch", json!({"patch": patch})),
        Reply::text("the patch failed"),
    ]);
    let project = Project::new(&mock.url());
    for (name, text) in [
        ("one.txt", "one\n"),
        ("two.txt", "two\n"),
        ("three.txt", "three\n"),
    ] {
        project.write(name, text);
    }
    let out = run_in(&project, &["run", "--yes", "apply it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.starts_with("error"), "{result}");
    assert!(result.contains("two.txt"), "{result}");
    for (name, text) in [
        ("one.txt", "one\n"),
        ("two.txt", "two\n"),
        ("three.txt", "three\n"),
    ] {
        assert_eq!(read_file(&project, name), text);
    }
}

#[test]
fn writes_cannot_leave_the_workspace_or_touch_git() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("write", json!({"path": "../outside.txt", "content": "x"})),
        Reply::tool_call("write", json!({"path": ".git/config", "content": "x"})),
        Reply::tool_call(
            "patch",
            json!({"patch": "--- /dev/null\n+++ b/../../evil.txt\n@@ -0,0 +1 @@\n+x\n"}),
        ),
        Reply::text("refused"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--yes", "escape"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        mock.last_tool_result(1).contains("outside the workspace"),
        "{}",
        mock.last_tool_result(1)
    );
    assert!(
        mock.last_tool_result(2).contains(".git"),
        "{}",
        mock.last_tool_result(2)
    );
    assert!(
        mock.last_tool_result(3).starts_with("error"),
        "{}",
        mock.last_tool_result(3)
    );
    assert!(!project.path().join("../outside.txt").exists());
    assert!(!project.path().join(".git/config").exists());
}

#[test]
fn undo_restores_the_last_change_and_refuses_after_an_outside_edit() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call("write", json!({"path": "a.txt", "content": "changed\n"})),
        Reply::text("changed it"),
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call(
            "write",
            json!({"path": "a.txt", "content": "changed again\n"}),
        ),
        Reply::text("changed it again"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "original\n");
    assert_eq!(
        run_in(&project, &["run", "--yes", "change it"]).code,
        Some(0)
    );
    assert_eq!(read_file(&project, "a.txt"), "changed\n");
    let undone = run_in(&project, &["undo"]);
    assert_eq!(undone.code, Some(0), "{undone:?}");
    assert!(undone.stdout.contains("a.txt"), "{undone:?}");
    assert_eq!(read_file(&project, "a.txt"), "original\n");
    let nothing = run_in(&project, &["undo"]);
    assert_eq!(nothing.code, Some(2), "{nothing:?}");
    assert!(nothing.stderr.contains("no changes left"), "{nothing:?}");

    assert_eq!(
        run_in(&project, &["run", "--continue", "--yes", "again"]).code,
        Some(0)
    );
    assert_eq!(read_file(&project, "a.txt"), "changed again\n");
    project.write("a.txt", "edited by hand\n");
    let refused = run_in(&project, &["undo"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("changed since"), "{refused:?}");
    assert_eq!(read_file(&project, "a.txt"), "edited by hand\n");
    let forced = run_in(&project, &["undo", "--force"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert_eq!(read_file(&project, "a.txt"), "original\n");
}

#[test]
fn conch_tool_edits_without_a_prior_read_but_still_asks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("a.txt"), "x = 1\n").unwrap();
    let input = r#"{"path": "a.txt", "old_string": "x = 1", "new_string": "x = 2"}"#;
    let denied = tool(dir.path(), "replace", input);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(denied.stderr.contains("needs approval"), "{denied:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "x = 1\n"
    );
    let cwd = dir.path().to_string_lossy().into_owned();
    let out = run(&mut conch_tests::conch(&[
        "tool",
        "replace",
        input,
        "--cwd",
        &cwd,
        "--allow-edit",
        "--json",
    ]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        value["metadata"]["diff"]
            .as_str()
            .unwrap()
            .contains("+x = 2"),
        "{value}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "x = 2\n"
    );
}

#[test]
fn what_was_read_counts_when_the_session_is_continued() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::text("read it"),
        Reply::tool_call(
            "replace",
            json!({"path": "a.txt", "old_string": "one", "new_string": "two"}),
        ),
        Reply::text("changed it"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "one\n");
    assert_eq!(run_in(&project, &["run", "read a.txt"]).code, Some(0));
    let out = run_in(&project, &["run", "--continue", "--yes", "now change it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        !mock.last_tool_result(3).starts_with("error"),
        "{}",
        mock.last_tool_result(3)
    );
    assert_eq!(read_file(&project, "a.txt"), "two\n");
}

#[test]
fn a_patch_naming_a_directory_says_so_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let patch = "*** Begin Patch\n*** Update File: src\n@@\n-a\n+b\n*** End Patch\n";
    let input = json!({ "patch": patch }).to_string();
    let cwd = dir.path().to_string_lossy().into_owned();
    let out = run(&mut conch_tests::conch(&[
        "tool",
        "patch",
        &input,
        "--cwd",
        &cwd,
        "--allow-edit",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("is a directory"), "{out:?}");
    assert!(!out.stderr.contains("Failed("), "{out:?}");
}

#[test]
fn a_replace_matched_ignoring_indentation_writes_the_files_indentation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let file = "package main\n\nfunc main() {\n\tif ok {\n\t\trun()\n\t}\n}\n";
    std::fs::write(dir.path().join("main.go"), file).unwrap();
    // The model's copy: indentation stripped to spaces, trailing blanks added.
    let input = json!({
        "path": "main.go",
        "old_string": "if ok {  \n    run()\n}",
        "new_string": "if ok {  \n    run()\n    report()  \n}",
    })
    .to_string();
    let cwd = dir.path().to_string_lossy().into_owned();
    let out = run(&mut conch_tests::conch(&[
        "tool",
        "replace",
        &input,
        "--cwd",
        &cwd,
        "--allow-edit",
    ]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("main.go")).unwrap(),
        "package main\n\nfunc main() {\n\tif ok {\n\t\trun()\n\t\treport()\n\t}\n}\n"
    );
}

#[test]
fn a_direct_tool_call_that_changes_a_file_is_journaled_and_undone() {
    let project = conch_tests::project::Project::new("http://127.0.0.1:9/v1");
    project.write("notes.txt", "before\n");
    let input = serde_json::json!({"path": "notes.txt", "content": "after\n"}).to_string();
    let out = conch_tests::run(&mut project.conch(&["tool", "write", &input, "--yes"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let path = project.path().join("notes.txt");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    let out = conch_tests::run(&mut project.conch(&["sessions"]));
    assert!(out.stdout.contains("(conch tool write)"), "{out:?}");
    let out = conch_tests::run(&mut project.conch(&["undo"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\n");
    // A call that changes nothing leaves no session behind.
    let out = conch_tests::run(&mut project.conch(&["tool", "read", r#"{"path":"notes.txt"}"#]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(project.session_files().len(), 1);
}
