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
    let toml = std::fs::read_to_string(project.config_file())
        .unwrap()
        .replace(&mock.url(), &mock2.url());
    project.write_config(&toml);
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

/// The names of the tools offered in request `index`.
fn offered_tools(mock: &MockLlm, index: usize) -> Vec<String> {
    mock.requests()[index].body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The text of message `at` of request `index`.
fn message(mock: &MockLlm, index: usize, at: usize) -> String {
    mock.requests()[index].body["messages"][at]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn plan_denies_an_edit_even_with_yes_allows_a_read_and_is_kept_by_continue() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call("write", json!({"path": "a.txt", "content": "changed\n"})),
        Reply::text("here is the plan"),
        Reply::tool_call("bash", json!({"command": "touch made-by-bash"})),
        Reply::text("still planning"),
    ]);
    let project = Project::new(&mock.url());
    project.write("a.txt", "original\n");
    let out = run_in(&project, &["run", "--agent", "plan", "--yes", "plan it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        mock.last_tool_result(1).contains("original"),
        "the read ran"
    );
    let denied = mock.last_tool_result(2);
    assert!(denied.contains("plan mode"), "{denied}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("a.txt")).unwrap(),
        "original\n"
    );
    let offered = offered_tools(&mock, 0);
    assert!(offered.contains(&"read".to_string()), "{offered:?}");
    assert!(!offered.contains(&"write".to_string()), "{offered:?}");
    assert!(!offered.contains(&"bash".to_string()), "{offered:?}");
    assert!(message(&mock, 0, 0).contains("plan mode"));
    assert!(
        project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "agent" && l["name"] == "plan")
    );

    let out = run_in(&project, &["run", "--continue", "--yes", "go on"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        mock.last_tool_result(4).contains("plan mode"),
        "plan is kept"
    );
    assert!(!project.path().join("made-by-bash").exists());

    // Replayed, the calls are decided as plan decided them: all match, nothing changes.
    let id = only_session_id(&project);
    let out = run_in(&project, &["replay", &id, "--yes"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("3 match, 0 differ"), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("a.txt")).unwrap(),
        "original\n"
    );
}

#[test]
fn a_profile_from_the_config_adds_to_the_prompt_and_limits_the_tools() {
    let mock = MockLlm::start(vec![Reply::text("reviewed")]);
    let project = Project::with_config(
        &mock.url(),
        "[agents.reviewer]\ndescription = \"reviews\"\nprompt = \"Review like a hawk.\"\ntools = [\"read\", \"grep\"]\nmodel = \"review-model\"\n",
    );
    let out = run_in(
        &project,
        &["run", "--agent", "reviewer", "--format", "json", "review"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(json_lines(&out.stdout)[0]["agent"], "reviewer");
    assert!(message(&mock, 0, 0).contains("Review like a hawk."));
    assert_eq!(offered_tools(&mock, 0), ["read", "grep"]);
    assert_eq!(mock.requests()[0].body["model"], "review-model");
}

#[test]
fn an_unknown_agent_is_a_usage_error_naming_the_known_ones() {
    let mock = MockLlm::start(vec![]);
    let project = Project::with_config(&mock.url(), "[agents.reviewer]\nprompt = \"x\"\n");
    let out = run_in(&project, &["run", "--agent", "planner", "hi"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("there is no agent `planner`; known agents: build, plan, reviewer"),
        "{out:?}"
    );
    let project = Project::with_config(&mock.url(), "[agents.typo]\ntools = [\"reed\"]\n");
    let out = run_in(&project, &["run", "--agent", "typo", "hi"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("`tools` names reed, which there is no tool of"),
        "{out:?}"
    );
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn the_repl_lists_agents_and_switches_to_plan() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("write", json!({"path": "a.txt", "content": "changed\n"})),
        Reply::text("cannot"),
    ]);
    let project = Project::with_config(&mock.url(), "[permission]\nedit = \"allow\"\n");
    project.write("a.txt", "original\n");
    let out = project.repl(
        &[],
        "/agent\n/agent plan\n/agent nope\nchange a.txt\n/exit\n",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("agent build · /help"), "{out:?}");
    assert!(out.stderr.contains("* build"), "{out:?}");
    assert!(out.stderr.contains("  plan"), "{out:?}");
    assert!(out.stderr.contains("there is no agent `nope`"), "{out:?}");
    assert!(mock.last_tool_result(1).contains("plan mode"));
    // The model is told of the switch: its system prompt was written for build.
    let told = mock.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| {
            m["role"] == "user"
                && m["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("switched to the `plan` agent")
        });
    assert!(told);
    assert_eq!(
        std::fs::read_to_string(project.path().join("a.txt")).unwrap(),
        "original\n"
    );
    assert!(!offered_tools(&mock, 0).contains(&"write".to_string()));
}

/// The last user message of request `index`.
fn user_message(mock: &MockLlm, index: usize) -> String {
    mock.requests()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Writes a command file into the user config dir of `project`.
fn write_user_command(project: &Project, name: &str, text: &str) {
    let dir = project.path().parent().unwrap().join("config/commands");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.md")), text).unwrap();
}

#[test]
fn a_project_command_expands_its_arguments_and_runs_as_its_agent() {
    let mock = MockLlm::start(vec![Reply::text("reviewed")]);
    let project = Project::new(&mock.url());
    project.write(
        ".conch/commands/review.md",
        "---\ndescription: Review one file\nagent: plan\n---\nReview $1 with care. Focus: $ARGUMENTS\n",
    );
    // A user command of the same name loses to the project's.
    write_user_command(&project, "review", "the user's review $ARGUMENTS");
    let out = run_in(&project, &["run", "--command", "review", "src/a.rs speed"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        user_message(&mock, 0),
        "Review src/a.rs with care. Focus: src/a.rs speed\n"
    );
    assert!(!offered_tools(&mock, 0).contains(&"write".to_string()));
}

#[test]
fn a_user_command_without_placeholders_gets_the_arguments_appended() {
    let mock = MockLlm::start(vec![Reply::text("done")]);
    let project = Project::new(&mock.url());
    write_user_command(
        &project,
        "fix-tests",
        "---\nmodel: fixer-model\n---\nFix the failing tests.\n",
    );
    let out = run_in(&project, &["run", "--command", "fix-tests", "in core only"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        user_message(&mock, 0),
        "Fix the failing tests.\n\nin core only"
    );
    assert_eq!(mock.requests()[0].body["model"], "fixer-model");
}

#[test]
fn an_unknown_command_is_a_usage_error_naming_the_known_ones() {
    let mock = MockLlm::start(vec![]);
    let project = Project::new(&mock.url());
    project.write(".conch/commands/review.md", "Review.");
    write_user_command(&project, "explain", "Explain $ARGUMENTS");
    let out = run_in(&project, &["run", "--command", "reveiw", "x"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("there is no command `reveiw`; known commands: explain, review"),
        "{out:?}"
    );
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn the_repl_runs_a_custom_command_and_lists_it_in_help() {
    let mock = MockLlm::start(vec![Reply::text("explained")]);
    let project = Project::new(&mock.url());
    project.write(
        ".conch/commands/explain.md",
        "---\ndescription: Explain some code\n---\nExplain $1 to $2.",
    );
    let out = project.repl(&[], "/help\n/explain lib.rs newcomers\n/nothing\n/exit\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("/explain   Explain some code"),
        "{out:?}"
    );
    assert!(out.stderr.contains("unknown command /nothing"), "{out:?}");
    assert_eq!(user_message(&mock, 0), "Explain lib.rs to newcomers.");
    assert_eq!(mock.request_count(), 1);
}

#[test]
fn plan_denies_every_edit_tool_and_bash_even_when_the_config_and_flags_allow_them() {
    let patch = "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-original\n+patched\n";
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "a.txt"})),
        Reply::tool_call(
            "replace",
            json!({"path": "a.txt", "old_string": "original", "new_string": "x"}),
        ),
        Reply::tool_call(
            "edit",
            json!({"path": "a.txt", "start_line": 1, "new_text": "x"}),
        ),
        Reply::tool_call(
            "multiedit",
            json!({"path": "a.txt", "edits": [{"start_line": 1, "new_text": "x"}]}),
        ),
        Reply::tool_call("patch", json!({"patch": patch})),
        Reply::tool_call("write", json!({"path": "new.txt", "content": "x"})),
        Reply::tool_call("bash", json!({"command": "touch by-bash"})),
        Reply::text("nothing changed"),
    ]);
    let project = Project::with_config(
        &mock.url(),
        "[permission]\nedit = \"allow\"\nbash = \"allow\"\n\n[[permission.rules]]\ntool = \"bash\"\npattern = \"*\"\ndecision = \"allow\"\n",
    );
    project.write("a.txt", "original\n");
    let out = run_in(
        &project,
        &["run", "--agent", "plan", "--yes", "--allow-edit", "try"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    for index in 2..=7 {
        let result = mock.last_tool_result(index);
        assert!(result.contains("plan mode"), "request {index}: {result}");
    }
    assert_eq!(
        std::fs::read_to_string(project.path().join("a.txt")).unwrap(),
        "original\n"
    );
    assert!(!project.path().join("new.txt").exists());
    assert!(!project.path().join("by-bash").exists());
    assert!(
        !project
            .session_lines()
            .iter()
            .any(|l| l["type"] == "changeset")
    );
}

#[test]
fn a_tool_outside_a_profiles_set_is_denied_even_if_the_config_allows_it() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", json!({"command": "touch by-bash"})),
        Reply::text("could not"),
    ]);
    let project = Project::with_config(
        &mock.url(),
        "[permission]\nbash = \"allow\"\n\n[agents.reader]\ntools = [\"read\"]\n",
    );
    let out = run_in(&project, &["run", "--agent", "reader", "--yes", "run it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains("is not allowed for the `reader` agent"),
        "{result}"
    );
    assert!(!project.path().join("by-bash").exists());
    assert_eq!(offered_tools(&mock, 0), ["read"]);
}

#[test]
fn command_and_session_names_cannot_reach_other_files() {
    let mock = MockLlm::start(vec![]);
    let project = Project::new(&mock.url());
    write_user_command(&project, "real", "x");
    project.write("secret.md", "not a command");
    for name in ["../secret", "../../config/commands/real", "/etc/passwd"] {
        let out = run_in(&project, &["run", "--command", name, "x"]);
        assert_eq!(out.code, Some(2), "{name}: {out:?}");
        assert!(out.stderr.contains("known commands: real"), "{out:?}");
    }
    let out = run_in(&project, &["replay", "../../etc/passwd"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("there is no session"), "{out:?}");
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn ctrl_c_stops_a_replay_and_its_command() {
    use std::process::Stdio;
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            json!({"command": "if [ -f slow ]; then sleep 60 & echo $! $(readlink /proc/self/ns/pid) > bg.pid; wait; fi; echo ok"}),
        ),
        Reply::tool_call("read", json!({"path": "slow"})),
        Reply::text("done"),
    ]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "--yes", "run it"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = only_session_id(&project);
    project.write("slow", "");
    let child = project
        .conch(&["replay", &id, "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = project.path().join("bg.pid");
    conch_tests::wait_for_pid(&pid_file);
    conch_tests::interrupt_and_check_gone(child, &pid_file);
    let replay = project
        .session_files()
        .into_iter()
        .find(|file| !file.ends_with(format!("{id}.jsonl")))
        .unwrap();
    let text = std::fs::read_to_string(replay).unwrap();
    assert!(
        text.trim_end().ends_with(r#"{"type":"interrupted"}"#),
        "{text}"
    );
    assert!(
        !text.contains(r#""content":"     1\t"#),
        "the read after it never ran"
    );
}
