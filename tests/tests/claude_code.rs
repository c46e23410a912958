//! The real Claude Code CLI as conch's model: installed from npm by this test (once per
//! build dir), pointed at a mock Anthropic Messages API on 127.0.0.1, it runs its own
//! tools — every use of which conch's gate decides first, with conch's rules, flags and
//! headless behaviour, and records — in the workspace conch was given, and answers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use conch_tests::anthropic::{MockAnthropic, ToolUse};
use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{json_lines, run};
use serde_json::{Value, json};

/// A project whose provider is Claude Code talking to `api`, with a home of its own
/// (so nothing of the user's ~/.claude is read or written).
fn claude_project(api: &MockAnthropic) -> Project {
    let project = Project::new(&MockLlm::start(vec![]).url());
    use_claude(&project, api);
    project
}

/// Makes Claude Code talking to `api` the provider of `project`.
fn use_claude(project: &Project, api: &MockAnthropic) {
    let home = project.path().join("../claude-home");
    std::fs::create_dir_all(&home).unwrap();
    project.write_config(&format!(
            "provider = \"claude\"\nidle_timeout_secs = 60\nretries = 0\n\
             [providers.claude]\nkind = \"agent-cli\"\ncommand = {:?}\nmodel = \"sonnet\"\n\
             [providers.claude.env]\nANTHROPIC_BASE_URL = {:?}\nANTHROPIC_API_KEY = \"sk-ant-test\"\n\
             HOME = {:?}\nCLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = \"1\"\nDISABLE_TELEMETRY = \"1\"\n\
             DISABLE_AUTOUPDATER = \"1\"\nDISABLE_ERROR_REPORTING = \"1\"\n",
            conch_tests::anthropic::claude().display().to_string(),
            api.url(),
            home.display().to_string(),
        ),
    );
}

#[test]
fn claude_code_runs_its_tool_after_conchs_gate_allows_it_and_answers() {
    let api = MockAnthropic::start("touch made-by-claude.txt").unwrap();
    let project = claude_project(&api);

    // Headless without a grant: the gate denies, the CLI is told so, nothing is made.
    let out = run(&mut project.conch(&["run", "make the file"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("I could not run it"), "{out:?}");
    assert!(!project.path().join("made-by-claude.txt").exists());

    // With --yes: allowed, run by Claude Code, shown as remote activity, answered.
    let out = run(&mut project.conch(&["run", "--yes", "--format", "json", "make the file"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        project.path().join("made-by-claude.txt").exists(),
        "{out:?}"
    );
    let events = json_lines(&out.stdout);
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["type"] == kind).collect() };
    let uses = of("remote_tool_use");
    assert!(
        uses.iter().any(|e| e["name"] == "Bash"
            && e["input"]
                .as_str()
                .unwrap()
                .contains("touch made-by-claude.txt")),
        "{events:?}"
    );
    assert!(!of("remote_tool_result").is_empty(), "{events:?}");
    assert!(
        of("permission")
            .iter()
            .any(|e| e["tool"] == "Bash" && e["allowed"] == true && e["by"] == "flag"),
        "the request reached conch's gate: {events:?}"
    );
    let text: String = of("text_delta")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(text.contains("It ran"), "{events:?}");

    // conch's system prompt reached the API through the CLI's system-prompt option.
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r["system"].to_string().contains("conch")),
        "{requests:?}"
    );
}

/// Appends `toml` (permission rules) to the project's config.
fn add_config(project: &Project, toml: &str) {
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!("{config}\n{toml}"));
}

/// Every entry of type `kind` in the project's sessions, oldest session first.
fn entries(project: &Project, kind: &str) -> Vec<Value> {
    project
        .session_files()
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str::<Value>(line).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|entry| entry["type"] == kind)
        .collect()
}

/// The permission entries recorded for the CLI's `tool`.
fn decisions(project: &Project, tool: &str) -> Vec<Value> {
    entries(project, "permission")
        .into_iter()
        .filter(|entry| entry["tool"] == tool)
        .collect()
}

#[test]
fn a_deny_rule_on_cat_denies_the_clis_bash_and_conch_records_the_decision() {
    // Claude Code runs `cat` by itself, as a read-only command, unless told to ask.
    let api = MockAnthropic::start("cat hello.txt").unwrap();
    let project = claude_project(&api);
    project.write("hello.txt", "the secret greeting\n");
    add_config(
        &project,
        "[[permission.rules]]\ntool = \"bash\"\npattern = \"cat *\"\ndecision = \"deny\"\n",
    );
    let out = run(&mut project.conch(&["run", "--yes", "show me hello.txt"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("I could not run it"), "{out:?}");
    assert!(!out.stdout.contains("the secret greeting"), "{out:?}");
    let bash = decisions(&project, "Bash");
    assert_eq!(bash.len(), 1, "{bash:?}");
    assert_eq!(
        (&bash[0]["allowed"], &bash[0]["by"], &bash[0]["key"]),
        (&json!(false), &json!("rule"), &json!("cat hello.txt")),
        "{bash:?}"
    );
    // The decision names the CLI's tool use.
    let uses = entries(&project, "remote_tool_use");
    assert!(
        uses.iter()
            .any(|u| u["name"] == "Bash" && u["id"] == bash[0]["call_id"]),
        "{uses:?} {bash:?}"
    );
}

#[test]
fn a_read_deny_rule_holds_for_the_clis_read_and_other_reads_are_decided_by_conch() {
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write("secrets/key.txt", "hunter2\n");
    let secret = project.path().join("secrets/key.txt");
    let api = MockAnthropic::scripted(vec![ToolUse::new(
        "Read",
        json!({"file_path": secret.to_str().unwrap()}),
    )])
    .unwrap();
    use_claude(&project, &api);

    // Claude Code reads in its directory without asking, unless told to ask: conch's
    // gate allows it (read is allowed by default) and records that it did.
    let out = run(&mut project.conch(&["run", "read the key"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("hunter2"), "{out:?}");
    let read = decisions(&project, "Read");
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        (&read[0]["allowed"], &read[0]["by"], &read[0]["key"]),
        (&json!(true), &json!("default"), &json!("secrets/key.txt")),
        "the absolute path is seen as conch's own tools' paths are: {read:?}"
    );

    add_config(
        &project,
        "[[permission.rules]]\ntool = \"read\"\npattern = \"secrets/*\"\ndecision = \"deny\"\n",
    );
    let out = run(&mut project.conch(&["run", "--yes", "read the key"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stdout.contains("hunter2"), "{out:?}");
    let read = decisions(&project, "Read");
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(
        (&read[1]["allowed"], &read[1]["by"]),
        (&json!(false), &json!("rule")),
        "{read:?}"
    );
}

#[test]
fn headless_without_yes_conch_denies_the_clis_bash() {
    let api = MockAnthropic::start("cat hello.txt").unwrap();
    let project = claude_project(&api);
    project.write("hello.txt", "the greeting\n");
    let out = run(&mut project.conch(&["run", "show me hello.txt"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("I could not run it"), "{out:?}");
    assert!(!out.stdout.contains("the greeting"), "{out:?}");
    let bash = decisions(&project, "Bash");
    assert_eq!(bash.len(), 1, "{bash:?}");
    assert_eq!(
        (&bash[0]["allowed"], &bash[0]["by"]),
        (&json!(false), &json!("headless")),
        "{bash:?}"
    );
}

#[test]
fn the_clis_bash_runs_in_the_workspace_conch_was_given_and_sessions_show_it() {
    let api = MockAnthropic::start("cat hello.txt").unwrap();
    let project = claude_project(&api);
    project.write("sub/hello.txt", "hello from sub\n");
    let workspace = project.path().join("sub");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(project
        .conch(&[
            "run",
            "--yes",
            "--cwd",
            workspace.to_str().unwrap(),
            "show me hello.txt",
        ])
        .current_dir(elsewhere.path()));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("It ran; the output was: hello from sub"),
        "{out:?}"
    );

    let session = project.session_files()[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let shown = run(&mut project.conch(&["sessions", "show", &session]));
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(
        shown.stdout.contains("⤷ Bash") && shown.stdout.contains("cat hello.txt"),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("│ hello from sub"), "{shown:?}");
    assert!(
        shown
            .stdout
            .contains("[permission] Bash cat hello.txt allowed by flag"),
        "{shown:?}"
    );
}

/// A project with `notes.txt` whose Claude Code reads it and replaces `two` with
/// `three` (it edits only a file it has read); returns the file's path too.
fn notes_project() -> (Project, MockAnthropic, PathBuf) {
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write("notes.txt", "one\ntwo\n");
    let notes = project.path().join("notes.txt");
    let file = notes.to_str().unwrap();
    let api = MockAnthropic::scripted(vec![
        ToolUse::new("Read", json!({"file_path": file})),
        ToolUse::new(
            "Edit",
            json!({"file_path": file, "old_string": "two", "new_string": "three"}),
        ),
    ])
    .unwrap();
    use_claude(&project, &api);
    (project, api, notes)
}

#[test]
fn on_a_terminal_the_clis_edit_is_asked_about_with_its_diff() {
    let (project, _api, notes) = notes_project();
    let out = project.on_terminal("run 'change the notes'", "n\n", &[]);
    assert!(
        out.stdout.contains("-two") && out.stdout.contains("+three"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "one\ntwo\n");
    let edit = decisions(&project, "Edit");
    assert_eq!(
        (&edit[0]["allowed"], &edit[0]["by"]),
        (&json!(false), &json!("user")),
        "{edit:?}"
    );
}

#[test]
fn an_edit_conch_approved_is_undone_by_conch_undo() {
    let (project, _api, notes) = notes_project();
    let out = run(&mut project.conch(&["run", "--allow-edit", "change the notes"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "one\nthree\n",
        "{out:?}"
    );
    let edit = decisions(&project, "Edit");
    assert_eq!(
        (&edit[0]["allowed"], &edit[0]["by"], &edit[0]["key"]),
        (&json!(true), &json!("flag"), &json!("notes.txt")),
        "{edit:?}"
    );
    let changes = entries(&project, "changeset");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["tool"], "Edit");
    assert_eq!(changes[0]["call_id"], edit[0]["call_id"]);

    let undone = run(&mut project.conch(&["undo"]));
    assert_eq!(undone.code, Some(0), "{undone:?}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "one\ntwo\n");

    // As for conch's own edits: a file changed since is not put back.
    let out = run(&mut project.conch(&["run", "--allow-edit", "change the notes"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    project.write("notes.txt", "edited by hand\n");
    let refused = run(&mut project.conch(&["undo"]));
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("changed since"), "{refused:?}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "edited by hand\n");
}
