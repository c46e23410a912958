//! The agent loop end to end: the real binary against the scripted mock LLM on
//! loopback, on real files, with sessions on disk.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, run};
use serde_json::{Value, json};

/// The messages of a recorded request.
fn messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// The content of the tool message answering `call_id` in a request.
fn tool_result(body: &Value, call_id: &str) -> String {
    messages(body)
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == call_id)
        .and_then(|m| m["content"].as_str())
        .unwrap_or_else(|| panic!("no result for {call_id} in {body:#}"))
        .to_string()
}

/// The id of the only tool call of the assistant message in a request.
fn call_id(body: &Value) -> String {
    messages(body)
        .iter()
        .rev()
        .find_map(|m| m["tool_calls"][0]["id"].as_str())
        .expect("a tool call")
        .to_string()
}

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

#[test]
fn reads_a_file_then_answers() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "notes.txt"})).with_text("Let me look."),
        Reply::text("The notes say hello."),
    ]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "hello from the notes\n");
    let out = run_in(&project, &["run", "what do the notes say?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("The notes say hello."), "{out:?}");
    assert!(out.stderr.contains("→ read notes.txt"), "{out:?}");

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(first.body["model"], "mock-model");
    assert_eq!(first.body["stream"], true);
    let tools: Vec<&str> = first.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"read") && tools.contains(&"grep"),
        "{tools:?}"
    );
    let system = messages(&first.body)[0].clone();
    assert_eq!(system["role"], "system");
    assert!(
        system["content"]
            .as_str()
            .unwrap()
            .contains("Working directory")
    );
    let result = tool_result(&requests[1].body, &call_id(&requests[1].body));
    assert!(result.contains("hello from the notes"), "{result}");

    let lines = project.session_lines();
    assert_eq!(lines[0]["model"], "mock-model");
    let roles: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "message")
        .filter_map(|l| l["role"].as_str())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant"]);
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "permission" && l["allowed"] == true && l["by"] == "default")
    );
}

#[test]
fn a_headless_ask_is_denied_and_the_model_is_told_how_to_allow_it() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "notes.txt"})),
        Reply::text("I was not allowed to read it."),
    ]);
    let project = Project::with_config(&mock.url(), "[permission]\nread = \"ask\"\n");
    project.write("notes.txt", "secret notes\n");
    let out = run_in(&project, &["run", "read the notes"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let requests = mock.requests();
    let result = tool_result(&requests[1].body, &call_id(&requests[1].body));
    assert!(result.contains("needs approval"), "{result}");
    assert!(result.contains("--yes"), "{result}");
    assert!(!result.contains("secret notes"), "{result}");
    assert!(
        project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "permission" && l["allowed"] == false && l["by"] == "headless")
    );
}

#[test]
fn yes_approves_what_would_ask() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "notes.txt"})),
        Reply::text("done"),
    ]);
    let project = Project::with_config(&mock.url(), "[permission]\nread = \"ask\"\n");
    project.write("notes.txt", "visible notes\n");
    let out = run_in(&project, &["run", "--yes", "read the notes"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let requests = mock.requests();
    let result = tool_result(&requests[1].body, &call_id(&requests[1].body));
    assert!(result.contains("visible notes"), "{result}");
}

#[test]
fn a_rate_limit_is_retried_after_the_servers_delay() {
    let mock = MockLlm::start(vec![Reply::rate_limited(0), Reply::text("fine now")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hello"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("fine now"));
    assert!(out.stderr.contains("retrying"), "{out:?}");
    assert_eq!(mock.request_count(), 2);
}

#[test]
fn server_errors_exhaust_the_retries_with_a_clear_error_and_an_intact_session() {
    let mock = MockLlm::start(vec![
        Reply::server_error().retry_after(0),
        Reply::server_error().retry_after(0),
        Reply::server_error().retry_after(0),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hello there"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{out:?}");
    assert_eq!(mock.request_count(), 3, "one try and two retries");
    let lines = project.session_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["role"] == "user" && l["content"] == "hello there")
    );
    assert!(lines.iter().any(|l| l["type"] == "error"));
    let id = lines[0]["id"].as_str().unwrap();
    let shown = run_in(&project, &["sessions", "show", id]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(shown.stdout.contains("> hello there"), "{shown:?}");
}

#[test]
fn a_stream_cut_mid_tool_call_is_retried_and_the_call_runs_once() {
    let mock = MockLlm::start(vec![
        Reply::drop_mid_tool_call("read", json!({"path": "notes.txt"})),
        Reply::tool_call("read", json!({"path": "notes.txt"})),
        Reply::text("read it once"),
    ]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "the notes\n");
    let out = run_in(&project, &["run", "--format", "json", "read the notes"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let events = conch_tests::json_lines(&out.stdout);
    let results = events.iter().filter(|e| e["type"] == "tool_result").count();
    assert_eq!(results, 1, "{events:#?}");
    assert!(events.iter().any(|e| e["type"] == "retry"));
    assert_eq!(mock.request_count(), 3);
    assert!(mock.requests().iter().all(|r| r.rejected.is_none()));
}

#[test]
fn invalid_arguments_go_back_to_the_model_which_recovers() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"file": "notes.txt"})),
        Reply::tool_call_raw("read", "{not json"),
        Reply::tool_call("read", json!({"path": "notes.txt"})),
        Reply::text("recovered"),
    ]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "the notes\n");
    let out = run_in(&project, &["run", "read the notes"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let requests = mock.requests();
    let schema_error = tool_result(&requests[1].body, &call_id(&requests[1].body));
    assert!(
        schema_error.contains("invalid arguments for `read`"),
        "{schema_error}"
    );
    assert!(schema_error.contains("path"), "{schema_error}");
    let json_error = tool_result(&requests[2].body, &call_id(&requests[2].body));
    assert!(json_error.contains("not valid JSON"), "{json_error}");
    let good = tool_result(&requests[3].body, &call_id(&requests[3].body));
    assert!(good.contains("the notes"), "{good}");
}

#[test]
fn an_unknown_tool_is_answered_with_the_list_of_tools() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("frobnicate", json!({})),
        Reply::text("ok"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "go"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let requests = mock.requests();
    let result = tool_result(&requests[1].body, &call_id(&requests[1].body));
    assert!(result.contains("no tool named `frobnicate`"), "{result}");
    assert!(result.contains("read"), "{result}");
}

#[test]
fn the_same_failing_call_three_times_stops_the_run() {
    let missing = || Reply::tool_call("read", json!({"path": "missing.txt"}));
    let mock = MockLlm::start(vec![missing(), missing(), missing(), missing()]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "read missing.txt"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("failed 3 times in a row"), "{out:?}");
    assert_eq!(mock.request_count(), 3);
}

#[test]
fn max_steps_stops_a_model_that_never_answers() {
    let read = || Reply::tool_call("listdir", json!({}));
    let mock = MockLlm::start(vec![read(), read(), read()]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--max-steps", "2", "look around"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("stopped after 2 steps"), "{out:?}");
    assert_eq!(mock.request_count(), 2);
}

#[test]
fn ctrl_c_mid_stream_saves_the_session_and_continue_picks_it_up() {
    let mock = MockLlm::start(vec![
        Reply::slow_text(200, Duration::from_millis(50)),
        Reply::text("picking up where we left off"),
    ]);
    let project = Project::new(&mock.url());
    let child = project
        .conch(&["run", "tell me a long story"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(mock.wait_for_first_chunk(0, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(200));
    conch_tests::interrupt(&child);
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(130), "{out:?}");
    assert!(!out.stdout.is_empty(), "the partial answer was shown");

    let lines = project.session_lines();
    let partial = lines
        .iter()
        .find(|l| l["role"] == "assistant")
        .and_then(|l| l["content"].as_str())
        .expect("the partial answer is in the session")
        .to_string();
    assert!(
        out.stdout.starts_with(partial.trim_end()),
        "{partial:?} vs {out:?}"
    );
    assert!(lines.iter().any(|l| l["type"] == "interrupted"));

    let again = run_in(&project, &["run", "--continue", "go on"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(again.stdout.contains("picking up"));
    let sent = messages(&mock.requests()[1].body);
    let roles: Vec<&str> = sent.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent[2]["content"], partial);
    assert_eq!(
        project.session_files().len(),
        1,
        "continued, not a new session"
    );
}

#[test]
fn continuing_after_a_crash_runs_the_pending_calls_first() {
    let mock = MockLlm::start(vec![Reply::text("the pending read is done")]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "notes for the pending call\n");
    // A session as a crash leaves it: the model asked for a call that never ran.
    std::fs::create_dir_all(project.sessions_dir()).unwrap();
    let cwd = std::fs::canonicalize(project.path()).unwrap();
    let lines = [
        json!({"id": "20261123-120000-abcd", "cwd": cwd, "provider": "mock", "model": "mock-model", "version": "0.1.0", "created": "2026-11-23T12:00:00Z"}),
        json!({"type": "message", "role": "system", "content": "You are conch."}),
        json!({"type": "message", "role": "user", "content": "read the notes"}),
        json!({"type": "message", "role": "assistant", "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"notes.txt\"}"}}
        ]}),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{\"type\":\"message\",\"role\":\"to"); // torn by the crash
    let file = project.sessions_dir().join("20261123-120000-abcd.jsonl");
    std::fs::write(&file, text).unwrap();

    let out = run_in(&project, &["run", "--continue", "and then?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("→ read notes.txt"), "{out:?}");
    let body = &mock.requests()[0].body;
    assert!(tool_result(body, "call_9").contains("notes for the pending call"));
    let sent = messages(body);
    let roles: Vec<&str> = sent.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("\"role\":\"to\n"), "the torn line was ended");
    assert!(
        saved.lines().count() > 6,
        "and the session went on after it"
    );
    let shown = run_in(&project, &["sessions", "show", "20261123-120000-abcd"]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(
        shown.stdout.contains("the pending read is done"),
        "{shown:?}"
    );
}

#[test]
fn compaction_summarises_old_turns_without_splitting_a_call_from_its_result() {
    let big: String = (0..400)
        .map(|i| format!("line {i}: some text that fills the context window\n"))
        .collect();
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "big.txt"})),
        Reply::tool_call("read", json!({"path": "big.txt", "offset": 2})),
        Reply::text("- read big.txt twice"),
        Reply::text("all done"),
    ]);
    let project = Project::with_config(&mock.url(), "compact_at = 0.8\n");
    project.write("big.txt", &big);
    // A small window, so two reads of the file overflow it.
    let toml = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!("{toml}context_window = 6000\n"));
    let out = run_in(&project, &["run", "summarise big.txt"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("compacted the conversation"), "{out:?}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests.iter().all(|r| r.rejected.is_none()),
        "a pair was split"
    );
    let summary_request = &requests[2].body;
    assert!(summary_request.get("tools").is_none());
    assert!(
        messages(summary_request)[0]["content"]
            .as_str()
            .unwrap()
            .contains("summarise")
    );
    let last = messages(&requests[3].body);
    assert_eq!(last[0]["role"], "system");
    assert_eq!(last[1]["content"], "summarise big.txt");
    assert!(
        last[2]["content"]
            .as_str()
            .unwrap()
            .contains("- read big.txt twice")
    );
    assert!(
        project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "compaction")
    );
}

#[test]
fn provider_errors_say_what_to_fix() {
    let mock = MockLlm::start(vec![Reply::unauthorized()]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("API key for provider `mock` was rejected"),
        "{out:?}"
    );

    let mock = MockLlm::start(vec![Reply::model_not_found("mock-model")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("mock-model"), "{out:?}");
    assert!(out.stderr.contains("`mock`"), "{out:?}");
}

#[test]
fn a_silent_provider_times_out() {
    let mock = MockLlm::start(vec![Reply::hang()]);
    let project = Project::with_config(&mock.url(), "idle_timeout_secs = 1\n");
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace("retries = 2", "retries = 0")
        .replace("idle_timeout_secs = 5\n", "");
    project.write_config(&toml);
    let out = run_in(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("sent nothing for 1 s"), "{out:?}");
}

#[test]
fn a_bad_config_names_the_file_and_the_key() {
    let mock = MockLlm::start(vec![]);
    let project = Project::with_config(&mock.url(), "max_steps = \"lots\"\n");
    let out = run_in(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("conch.toml"), "{out:?}");
    assert!(out.stderr.contains("max_steps"), "{out:?}");
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn json_events_tell_the_whole_run() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "notes.txt"})).usage(100, 10),
        Reply::reasoning("thinking it over", "the answer").usage(120, 5),
    ]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "n\n");
    let out = run_in(&project, &["run", "--format", "json", "go"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let kinds: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let first = |kind: &str| {
        kinds
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert_eq!(kinds[0], "session_start");
    assert!(first("tool_call") < first("permission"));
    assert!(first("permission") < first("tool_result"));
    assert!(first("tool_result") < first("reasoning_delta"));
    assert!(first("reasoning_delta") < first("text_delta"));
    assert!(kinds.contains(&"usage".to_string()));
    assert_eq!(kinds.last().map(String::as_str), Some("done"));
    assert!(
        project
            .session_lines()
            .iter()
            .any(|l| l["reasoning_content"] == "thinking it over")
    );
}

#[test]
fn sessions_are_listed_and_shown() {
    let mock = MockLlm::start(vec![
        Reply::text("first answer"),
        Reply::text("second answer"),
    ]);
    let project = Project::new(&mock.url());
    assert_eq!(run_in(&project, &["run", "first question"]).code, Some(0));
    assert_eq!(run_in(&project, &["run", "second question"]).code, Some(0));
    let list = run_in(&project, &["sessions"]);
    assert_eq!(list.code, Some(0), "{list:?}");
    assert_eq!(list.stdout.lines().count(), 3, "{list:?}");
    assert!(list.stdout.contains("first question") && list.stdout.contains("second question"));
    let missing = run_in(&project, &["sessions", "show", "nope"]);
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains("conch sessions"), "{missing:?}");
}

#[test]
fn a_context_overflow_compacts_and_retries_once() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "notes.txt"})),
        Reply::tool_call("read", json!({"path": "notes.txt", "offset": 1})),
        Reply::context_overflow(),
        Reply::text("- the notes were read twice"),
        Reply::text("answer after compaction"),
    ]);
    let project = Project::new(&mock.url());
    project.write("notes.txt", "the notes\n");
    let out = run_in(&project, &["run", "read the notes twice"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("answer after compaction"), "{out:?}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    assert!(requests.iter().all(|r| r.rejected.is_none()));
    let retried = messages(&requests[4].body);
    assert!(
        retried[2]["content"]
            .as_str()
            .unwrap()
            .contains("the notes were read twice")
    );
    assert_eq!(
        retried.len(),
        5,
        "system, request, summary, the last call and its result"
    );
}

#[test]
fn the_repl_runs_turns_and_commands_from_piped_input() {
    let mock = MockLlm::start(vec![Reply::text("hello from the model")]);
    let project = Project::new(&mock.url());
    let out = project.repl(&[], "/help\nsay hello\n/session\n/bogus\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("hello from the model"), "{out:?}");
    assert!(out.stderr.contains("/compact"), "help was shown: {out:?}");
    assert!(out.stderr.contains("unknown command /bogus"), "{out:?}");
    let id = project.session_lines()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(out.stderr.contains(&format!("session {id}")), "{out:?}");
    assert_eq!(mock.request_count(), 1);
}

#[test]
fn compact_in_the_repl_skips_a_conversation_it_cannot_shrink() {
    let mock = MockLlm::start(vec![
        Reply::text("a short answer"),
        Reply::text("another"),
        Reply::text("- a summary longer than the turns it replaces"),
    ]);
    let project = Project::new(&mock.url());
    let mut child = project
        .conch(&["repl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\nagain\n/compact\n/exit\n").unwrap();
    }
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("nothing to compact"), "{out:?}");
    assert_eq!(mock.request_count(), 2, "no summary was asked for");
    assert!(
        !project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "compaction")
    );
}

#[test]
fn ctrl_c_in_the_repl_stops_only_the_turn() {
    let mock = MockLlm::start(vec![
        Reply::slow_text(200, Duration::from_millis(50)),
        Reply::text("second turn works"),
    ]);
    let project = Project::new(&mock.url());
    let mut child = project
        .conch(&["repl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    {
        use std::io::Write;
        stdin.write_all(b"tell me a long story\n").unwrap();
        stdin.flush().unwrap();
    }
    assert!(mock.wait_for_first_chunk(0, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(200));
    conch_tests::interrupt(&child);
    {
        use std::io::Write;
        stdin.write_all(b"and now?\n/exit\n").unwrap();
    }
    drop(stdin);
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("second turn works"), "{out:?}");
    let lines = project.session_lines();
    assert!(lines.iter().any(|l| l["type"] == "interrupted"));
    assert!(lines.iter().any(|l| l["content"] == "and now?"));
}

#[test]
fn an_unwritable_session_dir_is_a_clear_error_before_any_request() {
    let mock = MockLlm::start(vec![Reply::text("never asked")]);
    let project = Project::new(&mock.url());
    let blocker = project.path().join("not-a-dir");
    std::fs::write(&blocker, "a file where the data dir should be").unwrap();
    let out = run(project
        .conch(&["run", "hi"])
        .env("CONCH_DATA_DIR", &blocker));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("cannot write session file"), "{out:?}");
    assert!(out.stderr.contains("CONCH_DATA_DIR"), "{out:?}");
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn calls_that_share_one_id_each_get_their_own_result() {
    let mock = MockLlm::start(vec![
        Reply::tool_calls_sharing_id(
            "dup",
            [
                ("read", json!({"path": "a.txt"})),
                ("read", json!({"path": "b.txt"})),
                ("read", json!({"path": "c.txt"})),
            ],
        ),
        Reply::text("read them"),
    ]);
    let project = Project::new(&mock.url());
    for (file, text) in [("a.txt", "alpha"), ("b.txt", "bravo"), ("c.txt", "charlie")] {
        project.write(file, text);
    }
    let out = run(&mut project.conch(&["run", "read three files"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let messages = mock.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    let calls = messages
        .iter()
        .find_map(|m| m["tool_calls"].as_array())
        .unwrap()
        .clone();
    let results: Vec<&serde_json::Value> =
        messages.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 3, "{messages:?}");
    for (call, word) in calls.iter().zip(["alpha", "bravo", "charlie"]) {
        let answer = results
            .iter()
            .find(|r| r["tool_call_id"] == call["id"])
            .unwrap_or_else(|| panic!("no result for {call}"));
        assert!(
            answer["content"].as_str().unwrap().contains(word),
            "{answer}"
        );
    }
}
