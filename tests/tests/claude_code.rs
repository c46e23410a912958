//! The real Claude Code CLI as conch's model: installed from npm by this test (once per
//! build dir), pointed at a mock Anthropic Messages API on 127.0.0.1, it runs one of its
//! own tools, which conch's gate must approve first, and answers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use conch_tests::anthropic::MockAnthropic;
use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{json_lines, run};
use serde_json::Value;

/// The package and version the test runs (pinned: the stream-json protocol evolves).
const PACKAGE: &str = "@anthropic-ai/claude-code@2.1.197";

/// The `claude` program: `CONCH_TEST_CLAUDE` if set, else installed with npm into the
/// build dir. Fails plainly when it cannot be installed.
fn claude() -> PathBuf {
    if let Some(path) = std::env::var_os("CONCH_TEST_CLAUDE") {
        return PathBuf::from(path);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/claude-code");
    let bin = dir.join("node_modules/.bin/claude");
    if !bin.exists() {
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(PACKAGE)
            .output();
        let why = match out {
            Ok(out) if out.status.success() && bin.exists() => return bin,
            Ok(out) => format!(
                "`npm install {PACKAGE}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => format!("npm could not be run: {e}"),
        };
        panic!(
            "The real Claude Code CLI could not be installed, so this test cannot run: {why}. \
             Install Node.js and npm, or set CONCH_TEST_CLAUDE to a `claude` binary."
        );
    }
    bin
}

/// A project whose provider is Claude Code talking to `api`, with a home of its own
/// (so nothing of the user's ~/.claude is read or written).
fn claude_project(api: &MockAnthropic) -> Project {
    let project = Project::new(&MockLlm::start(vec![]).url());
    let home = project.path().join("../claude-home");
    std::fs::create_dir_all(&home).unwrap();
    project.write_config(&format!(
            "provider = \"claude\"\nidle_timeout_secs = 60\nretries = 0\n\
             [providers.claude]\nkind = \"agent-cli\"\ncommand = {:?}\nmodel = \"sonnet\"\n\
             [providers.claude.env]\nANTHROPIC_BASE_URL = {:?}\nANTHROPIC_API_KEY = \"sk-ant-test\"\n\
             HOME = {:?}\nCLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = \"1\"\nDISABLE_TELEMETRY = \"1\"\n\
             DISABLE_AUTOUPDATER = \"1\"\nDISABLE_ERROR_REPORTING = \"1\"\n",
            claude().display().to_string(),
            api.url(),
            home.display().to_string(),
        ),
    );
    project
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
