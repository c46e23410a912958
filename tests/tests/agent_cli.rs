//! The agent-CLI provider end to end: conch drives a fake agent CLI (a script speaking
//! stream-json) as its model.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{Run, run};
use serde_json::Value;

fn fake_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fake-agent-cli.sh")
}

/// A project whose provider is the fake CLI in `scenario`; its arguments go to the
/// returned log file.
fn cli_project(scenario: &str) -> (Project, PathBuf) {
    // The mock is not used; Project wants a URL for its default provider table.
    let project = Project::new(&MockLlm::start(vec![]).url());
    let log = project.path().join("../cli-args.log");
    project.write_config(&format!(
            "provider = \"cli\"\nidle_timeout_secs = 2\nretries = 0\n[providers.cli]\nkind = \"agent-cli\"\ncommand = {:?}\nmodel = \"sonnet\"\n[providers.cli.env]\nFAKE_CLI_SCENARIO = {scenario:?}\nFAKE_CLI_LOG = {:?}\n",
            fake_cli().display().to_string(),
            log.display().to_string()
        ),
    );
    (project, log)
}

/// The `content` of the user message the CLI read from stdin.
fn cli_prompt(log: &Path) -> String {
    let line = std::fs::read_to_string(log.with_extension("log.stdin")).unwrap();
    let message: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(message["type"], "user");
    message["message"]["content"].as_str().unwrap().to_string()
}

fn cli_args(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .split('\0')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

fn conch_run(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

#[test]
fn the_clis_text_streams_and_the_prompt_and_system_prompt_reach_it() {
    let (project, log) = cli_project("text");
    let out = conch_run(&project, &["run", "say hello"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Hello from the CLI"), "{out:?}");
    let args = cli_args(&log);
    let at = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert_eq!(
        cli_prompt(&log),
        "say hello",
        "a single turn is sent unchanged"
    );
    assert!(args.contains(&"-p".to_string()));
    assert_eq!(at("--input-format").as_deref(), Some("stream-json"));
    assert_eq!(at("--output-format").as_deref(), Some("stream-json"));
    assert_eq!(at("--permission-prompt-tool").as_deref(), Some("stdio"));
    // Every tool use asks (see claude_code.rs for the real CLI honouring it).
    assert_eq!(at("--permission-mode").as_deref(), Some("default"));
    let settings: Value = serde_json::from_str(&at("--settings").unwrap()).unwrap();
    assert_eq!(settings["permissions"]["ask"], serde_json::json!(["*"]));
    assert!(args.contains(&"--verbose".to_string()));
    assert_eq!(at("--model").as_deref(), Some("sonnet"));
    assert!(
        at("--append-system-prompt")
            .unwrap()
            .contains("You are conch")
    );
    assert!(
        !args.iter().any(|a| a.contains("dangerously")),
        "no bypass flag: {args:?}"
    );
}

#[test]
fn remote_tool_activity_is_shown_but_never_run_here() {
    let (project, _) = cli_project("tools");
    let out = conch_run(&project, &["run", "--format", "json", "what is here?"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let events = conch_tests::json_lines(&out.stdout);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds.contains(&"remote_tool_use") && kinds.contains(&"remote_tool_result"),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"tool_call"),
        "conch ran nothing: {kinds:?}"
    );
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "text_delta")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(text, "Let me look. There is a.txt.");
    let usage = events.iter().find(|e| e["type"] == "usage").unwrap();
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(12), Some(7))
    );
}

#[test]
fn later_turns_carry_the_history_in_the_prompt() {
    let (project, log) = cli_project("text");
    assert_eq!(
        conch_run(&project, &["run", "first question"]).code,
        Some(0)
    );
    let out = conch_run(&project, &["run", "--continue", "second question"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let prompt = &cli_prompt(&log);
    assert!(prompt.starts_with("<conversation_history>\n"), "{prompt}");
    assert!(
        prompt.contains(r#"{"content":"first question","role":"user"}"#),
        "{prompt}"
    );
    assert!(prompt.contains("Hello from the CLI"), "{prompt}");
    assert!(
        prompt.ends_with("<current_message>\nsecond question\n</current_message>"),
        "{prompt}"
    );
}

/// The user messages the CLI read, in order (over all its processes), and how many
/// processes were started.
fn cli_messages(log: &Path) -> (Vec<String>, usize) {
    let messages = std::fs::read_to_string(log.with_extension("log.messages"))
        .unwrap()
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line).unwrap();
            message["message"]["content"].as_str().unwrap().to_string()
        })
        .collect();
    let spawns = std::fs::read_to_string(log.with_extension("log.spawns"))
        .unwrap()
        .lines()
        .count();
    (messages, spawns)
}

#[test]
fn persistent_mode_keeps_one_cli_for_the_session_and_sends_only_new_messages() {
    let (project, log) = cli_project("count");
    let out = project.repl(&[], "first question\nsecond question\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    let (messages, spawns) = cli_messages(&log);
    assert_eq!(spawns, 1, "one process for the session: {out:?}");
    assert_eq!(messages, ["first question", "second question"]);
    assert!(out.stdout.contains("Answer 1 of process"), "{out:?}");
    assert!(out.stdout.contains("Answer 2 of process"), "{out:?}");

    // `mode = "stateless"`: a process per turn, each sent the whole conversation.
    let (project, log) = cli_project("count");
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace(
            "model = \"sonnet\"\n",
            "model = \"sonnet\"\nmode = \"stateless\"\n",
        );
    project.write_config(&toml);
    let out = project.repl(&[], "first question\nsecond question\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    let (messages, spawns) = cli_messages(&log);
    assert_eq!(spawns, 2, "{out:?}");
    assert_eq!(messages[0], "first question");
    assert!(
        messages[1].starts_with("<conversation_history>\n") && messages[1].contains("Answer 1"),
        "{messages:?}"
    );
}

#[test]
fn a_cli_that_died_is_replaced_by_one_sent_the_whole_history() {
    // The `once` CLI exits after each answer, like a persistent process that died.
    let (project, log) = cli_project("once");
    let out = project.repl(&[], "first question\nsecond question\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Answer 1 of process"), "{out:?}");
    let (messages, spawns) = cli_messages(&log);
    assert_eq!(spawns, 2, "{out:?}");
    assert_eq!(messages[0], "first question");
    let second = &messages[1];
    assert!(second.starts_with("<conversation_history>\n"), "{second}");
    assert!(
        second.contains(r#"{"content":"first question","role":"user"}"#)
            && second.contains("Answer 1 of process"),
        "{second}"
    );
    assert!(
        second.ends_with("<current_message>\nsecond question\n</current_message>"),
        "{second}"
    );
    assert!(out.stdout.contains("Answer 1 of process"), "{out:?}");
    assert_eq!(
        out.stdout.matches("Answer 1 of process").count(),
        2,
        "{out:?}"
    );
}

#[test]
fn errors_crashes_hangs_and_a_missing_cli_are_clear() {
    let (project, _) = cli_project("error");
    let out = conch_run(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Credit balance is too low"), "{out:?}");

    let (project, _) = cli_project("crash");
    let out = conch_run(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("segmentation fault in the fake"),
        "{out:?}"
    );

    let (project, _) = cli_project("hang");
    let out = conch_run(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("sent nothing for 2 s"), "{out:?}");

    let (project, _) = cli_project("text");
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace(&fake_cli().display().to_string(), "no-such-agent-cli");
    project.write_config(&toml);
    let out = conch_run(&project, &["run", "hi"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("`no-such-agent-cli` was not found"),
        "{out:?}"
    );
    assert!(out.stderr.contains("npm install"), "{out:?}");
}

#[test]
fn the_clis_permission_requests_are_answered_by_conchs_gate() {
    let (project, log) = cli_project("permission");
    let out = conch_run(&project, &["run", "clean up"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("I was not allowed"),
        "headless: denied: {out:?}"
    );
    let answer = std::fs::read_to_string(log.with_extension("log.answer")).unwrap();
    assert!(answer.contains(r#""behavior":"deny""#), "{answer}");
    assert!(answer.contains(r#""request_id":"req_1""#), "{answer}");
    assert!(
        answer.contains("needs approval"),
        "the CLI is told why: {answer}"
    );

    let out = conch_run(&project, &["run", "--yes", "clean up"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Removed build."), "{out:?}");
    let answer = std::fs::read_to_string(log.with_extension("log.answer")).unwrap();
    assert!(answer.contains(r#""behavior":"allow""#), "{answer}");

    let toml = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!(
        "{toml}\n[[permission.rules]]\ntool = \"Bash\"\npattern = \"rm *\"\ndecision = \"deny\"\n"
    ));
    let out = conch_run(&project, &["run", "--yes", "clean up"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("I was not allowed"),
        "a rule denies even with --yes: {out:?}"
    );
    let decisions: Vec<Value> = project
        .session_files()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|l| l["type"] == "permission" && l["tool"] == "Bash")
        .collect();
    let mut by: Vec<&str> = decisions.iter().filter_map(|d| d["by"].as_str()).collect();
    by.sort_unstable();
    assert_eq!(by, ["flag", "headless", "rule"], "{decisions:?}");
}

#[test]
fn ctrl_c_kills_the_cli_and_what_it_started() {
    let (project, log) = cli_project("linger");
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace("idle_timeout_secs = 2", "idle_timeout_secs = 60");
    project.write_config(&toml);
    let child = project
        .conch(&["run", "take your time"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = log.with_extension("log.pid");
    conch_tests::wait_for_pid(&pid_file);
    assert!(conch_tests::running(&pid_file));
    conch_tests::interrupt_and_check_gone(child, &pid_file);
}

#[test]
fn the_cli_runs_in_the_workspace_conch_was_given() {
    let (project, log) = cli_project("text");
    project.write("sub/here.txt", "x");
    let workspace = project.path().join("sub");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(project
        .conch(&["run", "--cwd", workspace.to_str().unwrap(), "say hello"])
        .current_dir(elsewhere.path()));
    assert_eq!(out.code, Some(0), "{out:?}");
    let cwd = std::fs::read_to_string(log.with_extension("log.cwd")).unwrap();
    assert_eq!(
        std::path::Path::new(cwd.trim()),
        workspace.canonicalize().unwrap(),
        "{out:?}"
    );
}

#[test]
fn the_users_cli_arguments_cannot_switch_off_asking_for_every_tool() {
    let (project, log) = cli_project("text");
    let toml = std::fs::read_to_string(project.config_file()).unwrap().replace(
        "model = \"sonnet\"\n",
        "model = \"sonnet\"\nargs = [\"--settings\", \"{}\", \"--permission-mode\", \"bypassPermissions\"]\n",
    );
    project.write_config(&toml);
    let out = conch_run(&project, &["run", "say hello"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let args = cli_args(&log);
    // The CLI takes the last of a repeated option.
    let last = |flag: &str| {
        args.iter()
            .rposition(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert!(args.contains(&"bypassPermissions".to_string()), "{args:?}");
    assert_eq!(last("--permission-mode").as_deref(), Some("default"));
    let settings: Value = serde_json::from_str(&last("--settings").unwrap()).unwrap();
    assert_eq!(settings["permissions"]["ask"], serde_json::json!(["*"]));
}

#[test]
fn a_permission_bypass_in_the_users_cli_arguments_is_refused() {
    let (project, log) = cli_project("text");
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace(
            "model = \"sonnet\"\n",
            "model = \"sonnet\"\nargs = [\"--dangerously-skip-permissions\"]\n",
        );
    project.write_config(&toml);
    let out = conch_run(&project, &["run", "say hello"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("--dangerously-skip-permissions")
            && out.stderr.contains("permission gate"),
        "{out:?}"
    );
    assert!(!log.exists(), "the CLI was not started");
}
