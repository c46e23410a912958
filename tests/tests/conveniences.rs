//! The conveniences users of other agents reach for, end to end: headless conventions
//! (`--final-only`, `--output-last-message`, the task on stdin, bare `conch`, a first
//! prompt for the repl), tokens and cost, resuming without an id, the repl's `/model`,
//! `/new`, `/clear`, `/status`, `/cost`, Shift-Enter (kitty keyboard protocol), Alt-Enter
//! and backslash-Enter, the terminal queries of the line editor, `conch models`,
//! `conch completions` and `conch init`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::process::Stdio;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::terminal::{Plays, Terminal};
use conch_tests::{Run, json_lines, run};
use serde_json::json;

/// A price for the mock's model: $1 per million tokens in, $10 out.
const PRICING: &str = "\n[pricing.\"mock-model\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 10.0\n";

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// The user messages of request `index`, in order.
fn user_messages(mock: &MockLlm, index: usize) -> Vec<String> {
    mock.requests()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A tool call with a remark before it, then the final answer.
fn two_step_script() -> Vec<Reply> {
    vec![
        Reply::tool_call("listdir", json!({"path": "."})).with_text("let me look first"),
        Reply::text("the final answer"),
    ]
}

// Headless conventions.

#[test]
fn final_only_prints_nothing_but_the_last_answer() {
    let mock = MockLlm::start(two_step_script());
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--final-only", "what is here"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "the final answer\n", "{out:?}");
    assert!(!out.stderr.contains("listdir"), "{out:?}");

    let mock = MockLlm::start(two_step_script());
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--quiet", "what is here"]);
    assert_eq!(out.stdout, "the final answer\n", "{out:?}");
}

#[test]
fn output_last_message_writes_the_final_answer_to_a_file() {
    let mock = MockLlm::start(two_step_script());
    let project = Project::new(&mock.url());
    let file = project.path().join("answer.txt");
    let out = run_in(
        &project,
        &[
            "run",
            "--output-last-message",
            &file.to_string_lossy(),
            "what is here",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "the final answer");
    // The answer is still printed as usual.
    assert!(out.stdout.contains("let me look first"), "{out:?}");
}

#[test]
fn a_task_piped_to_run_without_an_argument_is_the_prompt() {
    let mock = MockLlm::start(vec![Reply::text("done")]);
    let project = Project::new(&mock.url());
    let mut child = project
        .conch(&["run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the task from a pipe\n")
        .unwrap();
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(user_messages(&mock, 0), ["the task from a pipe\n"]);
}

#[test]
fn continuing_without_a_task_does_not_wait_for_an_open_stdin() {
    let mock = MockLlm::start(vec![Reply::text("first"), Reply::text("went on")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "start"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // stdin stays open (and empty): reading it would hang.
    let mut child = project
        .conch(&["run", "--continue"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = conch_tests::wait_or_fail(&mut child, "run --continue with an open stdin");
    drop(child.stdin.take());
    assert!(status.success(), "{status:?}");
    assert_eq!(user_messages(&mock, 1), ["start"]);
}

#[test]
fn run_without_a_task_and_nothing_piped_says_what_to_do() {
    let project = Project::new("http://127.0.0.1:9/v1");
    let out = run_in(&project, &["run"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("the prompt is empty"), "{out:?}");
}

#[test]
fn bare_conch_without_a_terminal_prints_the_usage_and_exits_2() {
    let project = Project::new("http://127.0.0.1:9/v1");
    let out = run_in(&project, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("Usage: conch"), "{out:?}");
    assert!(out.stderr.contains("conch run TASK"), "{out:?}");
}

#[test]
fn bare_conch_on_a_terminal_opens_the_repl() {
    let mock = MockLlm::start(Vec::new());
    let project = Project::new(&mock.url());
    let out = project.on_terminal("", "/exit\n", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("/help for commands"), "{out:?}");
    assert!(out.stdout.contains("conch> "), "{out:?}");
}

#[test]
fn the_repl_starts_with_a_first_prompt() {
    let mock = MockLlm::start(vec![Reply::text("hello back")]);
    let project = Project::new(&mock.url());
    let out = project.repl(&["say hello"], "/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(user_messages(&mock, 0), ["say hello"]);
    assert!(out.stdout.contains("hello back"), "{out:?}");
}

// Tokens and cost.

#[test]
fn a_text_run_ends_with_its_tokens_and_cost_on_stderr() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("listdir", json!({"path": "."})).usage(1000, 20),
        Reply::text("done").usage(2000, 30),
    ]);
    let project = Project::with_config(&mock.url(), "");
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!("{config}{PRICING}"));
    let out = run_in(&project, &["run", "look around"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // 3000 in × $1/M + 50 out × $10/M = $0.0035
    assert!(
        out.stderr
            .contains("tokens 3000 in · 50 out · 2 requests · $0.0035\n"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("tokens"), "{out:?}");
}

#[test]
fn cached_prompt_tokens_cost_the_cached_price() {
    let reply = || {
        Reply::text("done")
            .usage(1_000_000, 0)
            .cached_tokens(600_000)
    };
    let mock = MockLlm::start(vec![reply(), reply()]);
    let project = Project::new(&mock.url());
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!("{config}{PRICING}cached_input_per_mtok = 0.25\n"));
    let out = run_in(&project, &["run", "--format", "json", "look around"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let done = events.last().unwrap();
    assert_eq!(done["usage"]["cached_prompt_tokens"], 600_000, "{done}");
    // 400k fresh × $1/M + 600k cached × $0.25/M = $0.55
    let cost = done["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.55).abs() < 1e-9, "{done}");
    let out = run_in(&project, &["run", "again"]);
    assert!(
        out.stderr
            .contains("tokens 1000000 in (600000 cached) · 0 out · 1 request · $0.5500\n"),
        "{out:?}"
    );
}

#[test]
fn the_json_done_event_carries_the_totals_and_the_final_text() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("listdir", json!({"path": "."}))
            .with_text("looking")
            .usage(100, 5),
        Reply::text("all done").usage(200, 7),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--format", "json", "look around"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["reason"], "answered");
    assert_eq!(done["text"], "all done");
    assert_eq!(done["usage"]["requests"], 2);
    assert_eq!(done["usage"]["prompt_tokens"], 300);
    assert_eq!(done["usage"]["completion_tokens"], 12);
    // No price for the model: no cost figure.
    assert!(done.get("cost_usd").is_none(), "{done}");
}

#[test]
fn slash_cost_in_the_repl_sums_the_session() {
    let mock = MockLlm::start(vec![
        Reply::text("one").usage(1000, 10),
        Reply::text("two").usage(3000, 40),
    ]);
    let project = Project::new(&mock.url());
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!("{config}{PRICING}"));
    let out = project.repl(&[], "first\nsecond\n/cost\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    // Each turn's line, the second with the session's so far.
    assert!(
        out.stderr
            .contains("tokens 1000 in · 10 out · 1 request · $0.0011\n"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(
            "tokens 3000 in · 40 out · 1 request · $0.0034 · session 4000 in · 50 out · 2 requests · $0.0045\n"
        ),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("this session: 4000 in · 50 out · 2 requests · $0.0045\n"),
        "{out:?}"
    );
}

// Resuming without an id.

/// Two finished sessions in the project, with the prompts `alpha` and `beta`.
fn two_sessions() -> (MockLlm, Project) {
    let mock = MockLlm::start(vec![Reply::text("a"), Reply::text("b")]);
    let project = Project::new(&mock.url());
    for prompt in ["alpha", "beta"] {
        let out = run_in(&project, &["run", prompt]);
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    (mock, project)
}

/// The prompt shown in the picker's row `n` (1-based) of `output`.
fn picker_row(output: &str, n: usize) -> &'static str {
    let marker = format!(" {n}  ");
    let line = output
        .lines()
        .find(|l| l.contains(&marker) && l.contains(" turn"))
        .unwrap_or_else(|| panic!("no row {n} in {output:?}"));
    if line.contains("alpha") {
        "alpha"
    } else if line.contains("beta") {
        "beta"
    } else {
        panic!("row {n} names no session: {line:?}")
    }
}

#[test]
fn resume_without_a_terminal_lists_the_sessions_and_asks_for_an_id() {
    let (_mock, project) = two_sessions();
    let out = run_in(&project, &["resume"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("conch resume ID"), "{out:?}");
    for file in project.session_files() {
        let id = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(out.stderr.contains(&id), "{id} missing: {out:?}");
    }
    assert!(
        out.stderr.contains("alpha") && out.stderr.contains("beta"),
        "{out:?}"
    );
    let out = run_in(&project, &["repl", "--resume"]);
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn resume_on_a_terminal_picks_with_the_arrow_keys() {
    let (_mock, project) = two_sessions();
    // Down, Enter: the second row; then leave the repl.
    let out = project.on_terminal("resume", "\x1b[B\r/exit\r", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("conch continuing "), "{out:?}");
    let second = picker_row(&out.stdout, 2);
    assert!(out.stdout.contains(&format!("> {second}")), "{out:?}");
}

#[test]
fn repl_resume_on_a_terminal_picks_by_number() {
    let (_mock, project) = two_sessions();
    let out = project.on_terminal("repl --resume", "1/exit\r", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let first = picker_row(&out.stdout, 1);
    assert!(out.stdout.contains(&format!("> {first}")), "{out:?}");
    // Only one session is continued: no new session file.
    assert_eq!(project.session_files().len(), 2);
}

// Repl commands.

#[test]
fn slash_model_switches_and_a_continued_session_keeps_it() {
    let mock = MockLlm::start(vec![Reply::text("one"), Reply::text("two")]);
    let project = Project::new(&mock.url());
    let out = project.repl(&[], "/model other-model\nhello\n/status\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(mock.requests()[0].body["model"], "other-model");
    assert!(out.stderr.contains("model    other-model"), "{out:?}");
    let lines = project.session_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "model" && l["name"] == "other-model"),
        "{lines:?}"
    );
    let out = run_in(&project, &["run", "--continue", "again"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(mock.requests()[1].body["model"], "other-model");
}

#[test]
fn slash_status_says_provider_model_agent_and_sandbox() {
    let mock = MockLlm::start(Vec::new());
    let project = Project::new(&mock.url());
    let out = project.repl(&[], "/status\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    for expected in [
        "provider mock\n",
        "model    mock-model\n",
        "agent    build\n",
        "sandbox  workspace-write · network off\n",
        "tokens   0 in · 0 out · 0 requests\n",
    ] {
        assert!(out.stderr.contains(expected), "{expected:?}: {out:?}");
    }
}

#[test]
fn slash_new_starts_a_session_without_the_earlier_turns() {
    let mock = MockLlm::start(vec![Reply::text("one"), Reply::text("two")]);
    let project = Project::new(&mock.url());
    let out = project.repl(&[], "first task\n/new\nsecond task\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("new session "), "{out:?}");
    assert_eq!(project.session_files().len(), 2);
    assert_eq!(user_messages(&mock, 1), ["second task"]);
}

#[test]
fn slash_clear_clears_the_screen_and_keeps_the_session() {
    let mock = MockLlm::start(vec![Reply::text("still here")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::start(&project, "repl");
    terminal.wait_for("conch> ", 1);
    terminal.type_line("/clear");
    terminal.wait_for("\x1b[2J", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("hello");
    terminal.wait_for("conch> ", 3);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(shown.contains("still here"), "{shown:?}");
    assert_eq!(project.session_files().len(), 1);
    assert_eq!(user_messages(&mock, 0), ["hello"]);
}

#[test]
fn alt_enter_puts_a_newline_in_the_prompt() {
    let mock = MockLlm::start(vec![Reply::text("two lines read")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::start(&project, "repl");
    terminal.wait_for("conch> ", 1);
    // Esc then Enter is what a terminal sends for Alt-Enter.
    terminal.type_line("first line\x1b\rsecond line");
    terminal.wait_for("conch> ", 2);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(shown.contains("two lines read"), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["first line\nsecond line"]);
    // A terminal without the kitty keyboard protocol is not asked to use it.
    assert!(!shown.contains(KITTY_PUSH), "{shown:?}");
}

/// What turns the kitty keyboard protocol on (its first flag: keys told apart), and
/// what turns it back off.
const KITTY_PUSH: &str = "\x1b[>1u";
const KITTY_POP: &str = "\x1b[<1u";

#[test]
fn shift_enter_and_ctrl_enter_put_a_newline_in_the_prompt_on_a_kitty_terminal() {
    let mock = MockLlm::start(vec![Reply::text("two lines read"), Reply::text("again")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::playing(&project, "repl", &[], Plays::Kitty);
    terminal.wait_for("conch> ", 1);
    terminal.wait_for(KITTY_PUSH, 1);
    // What a terminal with the protocol on sends for Shift-Enter, then Ctrl-Enter.
    terminal.type_line("first line\x1b[13;2usecond line");
    terminal.wait_for("two lines read", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("one\x1b[13;5utwo");
    terminal.wait_for("again", 1);
    terminal.wait_for("conch> ", 3);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert_eq!(mock.requests().len(), 2, "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["first line\nsecond line"]);
    assert_eq!(
        user_messages(&mock, 1),
        ["first line\nsecond line", "one\ntwo"]
    );
    // Popped after each prompt, so the terminal is left as it was.
    assert_eq!(
        shown.matches(KITTY_PUSH).count(),
        shown.matches(KITTY_POP).count(),
        "{shown:?}"
    );
    assert!(
        shown.rfind(KITTY_POP) > shown.rfind(KITTY_PUSH),
        "{shown:?}"
    );
}

#[test]
fn a_terminal_that_does_not_answer_is_asked_once_and_read_as_plain_lines() {
    let mock = MockLlm::start(vec![Reply::text("one read"), Reply::text("two read")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::playing(&project, "repl", &[], Plays::Mute);
    terminal.wait_for("conch> ", 1);
    terminal.type_line("first \\");
    terminal.type_line("and more");
    terminal.wait_for("one read", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("second");
    terminal.wait_for("two read", 1);
    terminal.wait_for("conch> ", 3);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(shown.contains("does not report its cursor"), "{shown:?}");
    // Three prompts, one question: no prompt waits for an answer that does not come.
    assert_eq!(shown.matches("\x1b[6n").count(), 1, "{shown:?}");
    assert!(!shown.contains(KITTY_PUSH), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["first \nand more"]);
    assert_eq!(user_messages(&mock, 1), ["first \nand more", "second"]);
}

#[test]
fn a_dumb_terminal_is_asked_nothing_and_read_as_plain_lines() {
    let mock = MockLlm::start(vec![Reply::text("one read")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::playing(&project, "repl", &[("TERM", "dumb")], Plays::Mute);
    terminal.wait_for("conch> ", 1);
    terminal.type_line("hello");
    terminal.wait_for("one read", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(!shown.contains("\x1b[6n"), "{shown:?}");
    assert!(!shown.contains("\x1b[?u"), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["hello"]);
}

#[test]
fn prompts_in_a_history_file_from_before_come_back_with_their_newlines() {
    let mock = MockLlm::start(vec![Reply::text("recalled")]);
    let project = Project::new(&mock.url());
    // What the repl's line editor before (rustyline) wrote: a version line, then each
    // prompt with its newlines and backslashes escaped.
    std::fs::create_dir_all(project.history_file().parent().unwrap()).unwrap();
    std::fs::write(project.history_file(), "#V2\ncopy C:\\\\temp\\nand more\n").unwrap();
    let mut terminal = Terminal::start(&project, "repl");
    terminal.wait_for("conch> ", 1);
    // Up, then Enter.
    terminal.type_line("\x1b[A");
    terminal.wait_for("recalled", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["copy C:\\temp\nand more"]);
    let history = std::fs::read_to_string(project.history_file()).unwrap();
    assert_eq!(history, "copy C:\\temp<\\n>and more\n/exit\n");
}

#[test]
fn backslash_then_enter_puts_a_newline_in_the_prompt() {
    let mock = MockLlm::start(vec![Reply::text("two lines read")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::start(&project, "repl");
    terminal.wait_for("conch> ", 1);
    // Only the backslash at the end starts a line; the one inside stays.
    terminal.type_line("copy C:\\temp\\");
    // The line is edited again, with the newline in the backslash's place.
    terminal.wait_for("conch> copy C:\\temp\r", 1);
    terminal.type_line("second line");
    terminal.wait_for("two lines read", 1);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(shown.contains("two lines read"), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["copy C:\\temp\nsecond line"]);
}

#[test]
fn a_shift_enter_mapped_to_backslash_cr_lf_puts_one_newline_in_the_prompt() {
    let mock = MockLlm::start(vec![Reply::text("two lines read")]);
    let project = Project::new(&mock.url());
    let mut terminal = Terminal::start(&project, "repl");
    terminal.wait_for("conch> ", 1);
    // What VS Code sends for Shift-Enter with the mapping Claude Code's setup writes.
    terminal.type_keys("first line\\\r\n");
    terminal.wait_for("conch> first line\r", 1);
    terminal.type_line("second line");
    terminal.wait_for("two lines read", 1);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert!(shown.contains("two lines read"), "{shown:?}");
    assert_eq!(user_messages(&mock, 0), ["first line\nsecond line"]);
}

// models, completions, init.

#[test]
fn models_lists_what_the_provider_offers_and_marks_the_configured_one() {
    let mock = MockLlm::start(Vec::new());
    mock.serve_models(&["zeta-model", "mock-model", "alpha-model"]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["models"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "  alpha-model\n* mock-model\n  zeta-model\n");
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/v1/models");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test-key"));
}

#[test]
fn models_from_a_server_without_the_route_says_which_provider_failed() {
    let mock = MockLlm::start(Vec::new());
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["models"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("provider `mock` refused the request (HTTP 404)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("/v1/models"), "{out:?}");
    assert!(!out.stderr.contains("chat/completions"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn completions_prints_a_script_for_the_shell() {
    let out = run(&mut conch_tests::conch(&["completions", "bash"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("complete -F _conch"), "{out:?}");
    assert!(out.stdout.contains("resume"), "{out:?}");
    let out = run(&mut conch_tests::conch(&["completions", "tcsh"]));
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn init_asks_the_agent_for_agents_md_through_the_edit_gate() {
    let script = || {
        vec![
            Reply::tool_call(
                "write",
                json!({"path": "AGENTS.md", "content": "# Agents\nRun `make test`.\n"}),
            ),
            Reply::text("wrote AGENTS.md"),
        ]
    };
    // Headless without approval, the edit asks, so it is denied.
    let mock = MockLlm::start(script());
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["init"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(user_messages(&mock, 0)[0].contains("AGENTS.md"));
    assert!(!project.path().join("AGENTS.md").exists());

    let mock = MockLlm::start(script());
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["init", "--allow-edit"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("AGENTS.md")).unwrap(),
        "# Agents\nRun `make test`.\n"
    );
}
