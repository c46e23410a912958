//! Agent profiles (`--agent`, `[agents.NAME]`, `/agent`), custom commands
//! (`.conch/commands/NAME.md`, `--command`, `/NAME` in the repl) and `conch replay`,
//! end to end with the real binary and the mock model.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, json_lines, run};
use serde_json::json;

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// The id of the only session so far.
fn only_session_id(project: &Project) -> String {
    project.session_lines()[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn replay_matches_then_shows_what_changed_and_leaves_the_session_alone() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call("grep", json!({"pattern": "needle"})),
        Reply::text("looked"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "first line\nneedle here\n");
    let out = run_in(&project, &["run", "look around"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = only_session_id(&project);
    let session_file = project.sessions_dir().join(format!("{id}.jsonl"));
    let original = std::fs::read_to_string(&session_file).unwrap();

    // An id prefix is enough.
    let out = run_in(&project, &["replay", &id[..15]]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("[1/2] read a.txt … matches"), "{out:?}");
    assert!(out.stdout.contains("2 match, 0 differ"), "{out:?}");
    assert_eq!(mock.request_count(), 3, "a replay asks no model");

    project.write("a.txt", "first line\nneedle moved\n");
    let out = run_in(&project, &["replay", &id]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("read a.txt … differs"), "{out:?}");
    assert!(out.stdout.contains("-     2\tneedle here"), "{out:?}");
    assert!(out.stdout.contains("+     2\tneedle moved"), "{out:?}");
    assert!(out.stdout.contains("0 match, 2 differ"), "{out:?}");

    assert!(std::fs::read_to_string(&session_file).unwrap() == original);
    // Each replay is a session of its own, and never the one --continue picks.
    let replays = project
        .session_files()
        .iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let header: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            header["replay_of"] == id.as_str()
        })
        .count();
    assert_eq!(replays, 2);
    let mock2 = MockLlm::start(vec![Reply::text("continued")]);
    let toml = std::fs::read_to_string(project.path().join("conch.toml"))
        .unwrap()
        .replace(&mock.url(), &mock2.url());
    project.write("conch.toml", &toml);
    let out = run_in(&project, &["run", "--continue", "--format", "json", "more"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(json_lines(&out.stdout)[0]["session_id"], id.as_str());
}

#[test]
fn replay_dry_run_lists_the_calls_and_runs_none() {
    let mock = MockLlm::start(vec![
        Reply::tool_calls([
            ("read", json!({"path": "a.txt"})),
            ("write", json!({"path": "b.txt", "content": "new\n"})),
        ]),
        Reply::text("done"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "alpha\n");
    let out = run_in(&project, &["run", "--allow-edit", "copy it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = only_session_id(&project);
    std::fs::remove_file(project.path().join("b.txt")).unwrap();

    let out = run_in(&project, &["replay", &id, "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("[1/2] read a.txt … would run"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("[2/2] write b.txt … would run"),
        "{out:?}"
    );
    let out = run_in(&project, &["replay", &id, "--dry-run", "--format", "json"]);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[1]["name"], "write");
    assert_eq!(lines[1]["status"], "would_run");
    assert_eq!(lines[2]["type"], "summary");
    assert!(!project.path().join("b.txt").exists());
    assert_eq!(project.session_files().len(), 1);

    // Replayed for real, the write goes through the same gate: headless, it is denied.
    let out = run_in(&project, &["replay", &id, "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["status"], "match");
    assert_eq!(lines[1]["status"], "differs");
    assert!(
        lines[1]["diff"]
            .as_str()
            .unwrap()
            .contains("needs approval"),
        "{lines:?}"
    );
    assert!(!project.path().join("b.txt").exists());
    let out = run_in(&project, &["replay", &id, "--allow-edit"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("b.txt")).unwrap(),
        "new\n"
    );
}

#[test]
fn replay_of_an_unknown_session_is_a_usage_error() {
    let mock = MockLlm::start(vec![]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["replay", "1999"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("no session `1999`"), "{out:?}");
}
