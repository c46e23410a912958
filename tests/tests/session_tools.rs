//! The conversation tools end to end: the todo list kept in the session (shown when it
//! changes, read back after `--continue`), and `question`, refused with "proceed on your
//! own judgement" when no one can answer and answered on a pseudo-terminal.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, json_lines, run};
use serde_json::json;

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

#[test]
fn the_todo_list_survives_continue() {
    let todos = json!({"todos": [
        {"id": "1", "content": "read the parser", "status": "completed", "priority": "high"},
        {"id": "2", "content": "fix the off-by-one", "status": "in_progress"},
        {"id": "3", "content": "add a regression test", "status": "pending", "priority": "low"}
    ]});
    let mock = MockLlm::start(vec![
        Reply::tool_call("todowrite", todos),
        Reply::text("planned"),
        Reply::tool_call("todoread", json!({})),
        Reply::text("still on it"),
    ]);
    let project = Project::new(&mock.url());
    let first = run_in(&project, &["run", "--format", "json", "plan the fix"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        mock.last_tool_result(1)
            .contains("[~] 2 fix the off-by-one")
    );
    let events = json_lines(&first.stdout);
    let shown = events
        .iter()
        .find(|e| e["type"] == "state" && e["key"] == "todos")
        .expect("a state event for the todo list");
    assert_eq!(shown["value"][1]["status"], "in_progress", "{shown}");
    assert!(
        project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "state" && l["key"] == "todos"),
        "the list is in the session file"
    );

    let second = run_in(&project, &["run", "--continue", "where are we?"]);
    assert_eq!(second.code, Some(0), "{second:?}");
    let read = mock.last_tool_result(3);
    assert!(read.contains("[x] 1 (high) read the parser"), "{read}");
    assert!(read.contains("[ ] 3 (low) add a regression test"), "{read}");
    assert!(read.contains("1 of 3 done"), "{read}");
}

#[test]
fn the_text_ui_shows_the_list_when_it_changes() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "todowrite",
            json!({"todos": [{"id": "a", "content": "write the docs", "status": "pending"}]}),
        ),
        Reply::text("ok"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "plan"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("todo list:"), "{}", out.stderr);
    assert!(out.stderr.contains("[ ] write the docs"), "{}", out.stderr);
}

#[test]
fn a_list_with_duplicate_ids_is_refused_and_not_stored() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "todowrite",
            json!({"todos": [
                {"id": "1", "content": "one", "status": "pending"},
                {"id": "1", "content": "again", "status": "pending"}
            ]}),
        ),
        Reply::text("oops"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "plan"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(mock.last_tool_result(1).contains("used twice"));
    assert!(
        !project.session_lines().iter().any(|l| l["type"] == "state"),
        "a failed call changes no state"
    );
}

#[test]
fn a_question_in_a_headless_run_tells_the_model_to_proceed() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "question",
            json!({"question": "Postgres or SQLite?", "choices": ["Postgres", "SQLite"]}),
        ),
        Reply::text("going with SQLite"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "add a database"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.starts_with("error:"), "{result}");
    assert!(result.contains("proceed on your own judgement"), "{result}");
}

#[test]
fn a_question_from_the_cli_without_a_terminal_is_refused() {
    let project = Project::new("http://127.0.0.1:9/v1");
    let out = run_in(
        &project,
        &["tool", "question", r#"{"question": "Which name?"}"#],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("proceed on your own judgement"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_question_on_a_terminal_gets_the_users_answer() {
    // `script` gives conch a pseudo-terminal; the piped "2" is typed into it.
    let project = Project::new("http://127.0.0.1:9/v1");
    let conch = conch_tests::conch_bin();
    let input = r#"{"question": "Which database?", "choices": ["Postgres", "SQLite"]}"#;
    let command = format!("{} tool question '{input}'", conch.display());
    let cmd = project.conch(&[]);
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .current_dir(project.path())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script
        .spawn()
        .expect("`script` (util-linux) runs the command on a pseudo-terminal");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"2\n").unwrap();
    }
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("[2] SQLite"), "{}", out.stdout);
    assert!(
        out.stdout.contains("The user answered: SQLite"),
        "{}",
        out.stdout
    );
}
