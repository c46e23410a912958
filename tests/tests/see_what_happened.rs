//! What a user sees of a run, in pipes and on a pseudo-terminal: `conch undo` after a
//! replay, and a quiet exit when a pipe's reader leaves.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Stdio;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, run};
use serde_json::json;

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

fn only_session_id(project: &Project) -> String {
    project.session_lines()[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_closed_pipe_ends_conch_sessions_quietly() {
    let project = Project::new("http://127.0.0.1:9/v1");
    let mut child = project
        .conch(&["sessions"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before conch writes a byte.
    drop(child.stdout.take());
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("Broken pipe"), "{out:?}");
    assert!(!out.stderr.contains("error"), "{out:?}");
}

#[test]
fn undo_right_after_a_replay_undoes_the_replays_change() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("write", json!({"path": "made.txt", "content": "made\n"})),
        Reply::text("made it"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--yes", "make a file"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = only_session_id(&project);
    let made = project.path().join("made.txt");
    let out = run_in(&project, &["undo"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!made.exists());

    let out = run_in(&project, &["replay", "--yes", &id]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(made.exists(), "{out:?}");
    let out = run_in(&project, &["undo"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!made.exists(), "{out:?}");
    assert!(out.stdout.contains("of session"), "{out:?}");
    assert!(!out.stdout.contains(&format!("of session {id}")), "{out:?}");
}
