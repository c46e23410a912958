//! What a user sees of a run, in pipes and on a pseudo-terminal: a command's exit code and
//! output under its call, a denial's whole hint, an edit's diff, an answer written once
//! even when its stream is retried, the session to continue, the last turns when the repl
//! continues one, `conch undo` after a replay, and a quiet exit when a pipe's reader leaves.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

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
fn a_closed_pipe_ends_conch_quietly() {
    let project = Project::new("http://127.0.0.1:9/v1");
    for args in [&["sessions"][..], &["completions", "zsh"], &["tools"]] {
        let mut child = project
            .conch(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before conch writes a byte.
        drop(child.stdout.take());
        let out = Run::from(child.wait_with_output().unwrap());
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("Broken pipe"), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("error"), "{args:?}: {out:?}");
    }
}

#[test]
fn a_failed_command_shows_its_exit_code_and_output() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            json!({"command": "echo first; echo second; echo oops >&2; exit 3"}),
        ),
        Reply::text("it failed"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--yes", "try it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("  ✗ exit 3 · "), "{out:?}");
    assert!(!out.stderr.contains("✓ exit 3"), "{out:?}");
    assert!(
        out.stderr.contains("    first\n    second\n    oops\n"),
        "{out:?}"
    );
    assert_eq!(out.stdout, "it failed\n");
}

#[test]
fn a_long_command_output_shows_its_first_and_last_lines() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", json!({"command": "seq 1 50"})),
        Reply::text("counted"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--yes", "count"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("  ✓ exit 0 · "), "{out:?}");
    assert!(out.stderr.contains("· 50 lines"), "{out:?}");
    assert!(
        out.stderr
            .contains("    1\n    2\n    3\n    … 44 more lines\n    48\n    49\n    50\n"),
        "{out:?}"
    );
}

#[test]
fn a_denial_hint_is_shown_whole() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", json!({"command": "echo hi"})),
        Reply::text("denied then"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "say hi"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("allow it in conch.toml:"), "{out:?}");
    assert!(out.stderr.contains("[[permission.rules]]"), "{out:?}");
    assert!(out.stderr.contains("decision = \"allow\""), "{out:?}");
}

#[test]
fn a_retried_stream_writes_the_answer_to_a_pipe_once() {
    let answer = "This is a long answer that goes on for a while";
    let mock = MockLlm::start(vec![Reply::cut_text(answer, 6), Reply::text(answer)]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "explain"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, format!("{answer}\n"), "{out:?}");
    assert!(out.stderr.contains("retrying"), "{out:?}");
}

#[test]
fn a_failed_stream_leaves_nothing_partial_in_a_pipe() {
    let mock = MockLlm::start(vec![
        Reply::cut_text("never finished answer", 2),
        Reply::cut_text("never finished answer", 2),
        Reply::cut_text("never finished answer", 2),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "explain"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
}

#[test]
fn on_a_terminal_a_retry_says_the_answer_starts_over() {
    let answer = "This is a long answer that goes on for a while";
    let mock = MockLlm::start(vec![Reply::cut_text(answer, 6), Reply::text(answer)]);
    let project = Project::new(&mock.url());
    let out = project.on_terminal("run explain", "", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let retry = out
        .stdout
        .find("the answer starts over")
        .expect("retry note");
    let whole = out.stdout.rfind(answer).expect("the whole answer");
    assert!(retry < whole, "{out:?}");
}

#[test]
fn an_edit_with_yes_on_a_terminal_shows_its_diff() {
    let reply = || {
        vec![
            Reply::tool_call(
                "write",
                json!({"path": "notes.txt", "content": "new line\n"}),
            ),
            Reply::text("written"),
        ]
    };
    let mock = MockLlm::start(reply());
    let project = Project::new(&mock.url());
    let out = project.on_terminal("run --yes write-it", "", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("    +new line"), "{out:?}");
    assert!(!out.stdout.contains("\x1b[3"), "NO_COLOR: {out:?}");

    let mock = MockLlm::start(reply());
    let project = Project::new(&mock.url());
    // The harness sets NO_COLOR; empty, it is as if unset.
    let out = project.on_terminal("run --yes write-it", "", &[("NO_COLOR", "")]);
    assert!(out.stdout.contains("\x1b[32m    +new line"), "{out:?}");
}

#[test]
fn a_run_names_its_session_and_continue_says_which_it_resumes() {
    let mock = MockLlm::start(vec![Reply::text("first"), Reply::text("second")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hello"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = only_session_id(&project);
    assert!(
        out.stderr.contains(&format!(
            "session {id} · continue with: conch run --continue"
        )),
        "{out:?}"
    );
    let out = run_in(&project, &["run", "--continue", "again"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!("continuing session {id}")),
        "{out:?}"
    );
}

#[test]
fn ctrl_c_names_the_session_to_continue() {
    let mock = MockLlm::start(vec![Reply::slow_text(200, Duration::from_millis(50))]);
    let project = Project::new(&mock.url());
    let child = project
        .conch(&["run", "tell me a long story"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(mock.wait_for_first_chunk(0, Duration::from_secs(30)));
    conch_tests::interrupt(&child);
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(130), "{out:?}");
    let id = only_session_id(&project);
    assert!(
        out.stderr
            .contains(&format!("session {id} · continue with")),
        "{out:?}"
    );
}

#[test]
fn the_repl_shows_the_last_turns_when_it_continues_a_session() {
    let mock = MockLlm::start(vec![Reply::text("the answer was 42")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "what is the answer"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = project.on_terminal("repl --continue", "/exit\n", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("> what is the answer"), "{out:?}");
    assert!(out.stdout.contains("  the answer was 42"), "{out:?}");
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

#[test]
fn ctrl_c_at_a_permission_prompt_stops_the_run_at_once() {
    use std::io::{Read, Write};
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", json!({"command": "touch never.txt"})),
        Reply::text("this is never asked for"),
    ]);
    let project = Project::new(&mock.url());
    let mut child = project.on_terminal_child("run 'make a file'", &[]);
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
    };
    let started = std::time::Instant::now();
    while !seen.lock().unwrap().contains("yes once") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no prompt: {}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let status = conch_tests::wait_or_fail(&mut child, "conch run after Ctrl-C at its prompt");
    drop(stdin);
    let _ = reader.join();
    let shown = seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(!project.path().join("never.txt").exists(), "{shown}");
    assert_eq!(
        mock.request_count(),
        1,
        "the model was asked again: {shown}"
    );
    let lines = project.session_lines();
    assert!(
        lines.iter().any(|l| l["type"] == "permission"
            && l["by"] == "interrupted"
            && l["allowed"] == false),
        "{lines:?}"
    );
}
