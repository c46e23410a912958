//! MCP servers end to end: the real binary starts the fixture server (tests/src/bin/
//! mcp_fixture.rs) in its sandbox, offers its tools as `mcp__fix__TOOL`, and every call
//! goes through the gate and the `mcp` plugin. The fixture logs what it received to
//! `calls.log` in its private directory (under each test's own cache dir), so a test can
//! tell "denied" from "called and failed".
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::ServerProject;
use conch_tests::run;
use serde_json::{Value, json};

const FIXTURE: &str = env!("CARGO_BIN_EXE_mcp_fixture");

/// The user config's `[mcp.NAME]` table for the fixture with `flags`, and `more` lines.
fn server(name: &str, flags: &[&str], more: &str) -> String {
    format!("[mcp.{name}]\ncommand = {FIXTURE:?}\nargs = {flags:?}\n{more}\n")
}

const ALLOW_FIX: &str =
    "[[permission.rules]]\ntool = \"mcp\"\npattern = \"fix/*\"\ndecision = \"allow\"\n";

/// What server `name` logged, one JSON value per event.
fn log(p: &ServerProject, name: &str) -> Vec<Value> {
    p.logged("mcp", name, "calls.log")
}

fn events(p: &ServerProject, name: &str, event: &str) -> Vec<Value> {
    log(p, name)
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_tool_allowed_by_a_rule_is_called_and_its_result_reaches_the_model() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__echo", json!({"text": "hello there"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &[], "")),
    );
    let out = run(&mut p.conch(&["run", "echo it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let first = &mock.requests()[0].body;
    assert!(
        tool_names(first).contains(&"mcp__fix__echo".to_string()),
        "{first}"
    );
    assert_eq!(mock.last_tool_result(1), "echo: hello there");
    let calls = events(&p, "fix", "call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["name"], "echo");
    assert_eq!(calls[0]["arguments"], json!({"text": "hello there"}));
}

#[test]
fn a_tool_call_that_would_ask_is_denied_headless_and_never_reaches_the_server() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__echo", json!({"text": "secret"})),
        Reply::text("I was not allowed."),
    ]);
    let p = ServerProject::new(&mock.url(), &server("fix", &[], ""));
    let out = run(&mut p.conch(&["run", "echo it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines = p.project.session_lines();
    assert!(
        lines.iter().any(|l| l["type"] == "permission"
            && l["allowed"] == false
            && l["tool"] == "mcp__fix__echo"),
        "{lines:?}"
    );
    assert!(
        mock.last_tool_result(1).contains("fix/echo"),
        "{}",
        mock.last_tool_result(1)
    );
    assert_eq!(
        events(&p, "fix", "started").len(),
        1,
        "{:?}",
        log(&p, "fix")
    );
    assert!(events(&p, "fix", "call").is_empty(), "{:?}", log(&p, "fix"));
}

#[test]
fn a_call_past_its_timeout_is_cancelled_and_the_model_told() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__sleep", json!({"secs": 60})),
        Reply::text("it was too slow"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &[], "tool_timeout_secs = 1")),
    );
    let out = run(&mut p.conch(&["run", "sleep"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.contains("did not answer within 1 s"), "{result}");
    assert_eq!(events(&p, "fix", "call").len(), 1, "{:?}", log(&p, "fix"));
}

#[test]
fn a_crashed_server_fails_the_call_with_its_stderr_and_is_restarted_for_the_next() {
    // Each process of the fixture crashes at its second call.
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__echo", json!({"text": "first"})),
        Reply::tool_call("mcp__fix__echo", json!({"text": "second"})),
        Reply::tool_call("mcp__fix__echo", json!({"text": "third"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &["--crash-after", "2"], "")),
    );
    let out = run(&mut p.conch(&["run", "echo thrice"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(mock.last_tool_result(1), "echo: first");
    let crashed = mock.last_tool_result(2);
    assert!(crashed.contains("exited during the call"), "{crashed}");
    assert!(crashed.contains("crashing on purpose"), "{crashed}");
    assert_eq!(mock.last_tool_result(3), "echo: third");
    assert_eq!(
        events(&p, "fix", "started").len(),
        2,
        "{:?}",
        log(&p, "fix")
    );
}

#[test]
fn an_untrusted_projects_server_is_never_started_headless() {
    let mock = MockLlm::start(vec![Reply::text("hello")]);
    let p = ServerProject::new(&mock.url(), "");
    p.project.write("conch.toml", &server("fix", &[], ""));
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("is not trusted"), "{out:?}");
    assert!(out.stderr.contains("mcp.fix"), "{out:?}");
    assert!(log(&p, "fix").is_empty(), "the project's server started");
    let first = &mock.requests()[0].body;
    assert!(
        !tool_names(first).iter().any(|n| n.starts_with("mcp__")),
        "{first}"
    );
}

#[test]
fn a_server_that_never_initializes_is_reported_and_the_run_goes_on() {
    let mock = MockLlm::start(vec![Reply::text("answered anyway")]);
    let config = format!(
        "{}{}",
        server("fix", &[], ""),
        server("stuck", &["--never-init"], "startup_timeout_secs = 1")
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("answered anyway"), "{out:?}");
    assert!(
        out.stderr.contains("`stuck` did not answer `initialize`"),
        "{out:?}"
    );
    assert!(out.stderr.contains("mcp_fixture: started"), "{out:?}");
    let names = tool_names(&mock.requests()[0].body);
    assert!(names.contains(&"mcp__fix__echo".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("mcp__stuck")),
        "{names:?}"
    );
}

#[test]
fn mcp_list_shows_each_servers_state_tools_and_last_error() {
    let mock = MockLlm::start(vec![]);
    let config = format!(
        "{}{}",
        server("fix", &["--slow-start", "300"], ""),
        server("stuck", &["--never-init"], "startup_timeout_secs = 1")
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(&mut p.conch(&["mcp", "list"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let fix = out
        .stdout
        .lines()
        .find(|l| l.starts_with("fix "))
        .unwrap_or("");
    assert!(
        fix.contains("ready") && fix.contains("echo,sleep"),
        "{out:?}"
    );
    let stuck = out
        .stdout
        .lines()
        .find(|l| l.starts_with("stuck "))
        .unwrap_or("");
    assert!(stuck.contains("failed"), "{out:?}");
    assert!(stuck.contains("initialize"), "{out:?}");
}

#[test]
fn long_names_are_cut_and_huge_schemas_made_usable_in_the_tool_list() {
    let mock = MockLlm::start(vec![]);
    let p = ServerProject::new(
        &mock.url(),
        &server("fix", &["--long-name", "--huge-schema"], ""),
    );
    let out = run(&mut p.conch(&["tools", "--json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let tools: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let mcp: Vec<&Value> = tools.iter().filter(|t| t["mcp_server"] == "fix").collect();
    let long = mcp
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("mcp__fix__xxxx"))
        .expect("the long-named tool is listed");
    assert_eq!(long["name"].as_str().unwrap().len(), 64);
    assert_eq!(long["permission"], "mcp");
    let huge = mcp
        .iter()
        .find(|t| t["name"] == "mcp__fix__huge")
        .expect("the huge tool is listed");
    let schema = &huge["input_schema"];
    assert_eq!(schema["type"], "object");
    assert!(schema.get("$defs").is_none(), "{schema}");
    assert_eq!(schema["properties"]["field_7"]["type"], "string");
    assert!(schema["properties"]["field_7"].get("format").is_none());
}

#[test]
fn a_hostile_server_cannot_write_outside_connect_or_read_conchs_secrets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let outside = tempfile::tempdir().unwrap();
    let target: PathBuf = outside.path().join("escaped.txt");
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "mcp__fix__hostile",
            json!({"outside": target.to_string_lossy(), "port": port}),
        ),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &["--hostile"], "")),
    );
    let out = run(p
        .conch(&["run", "try"])
        .env("OPENAI_API_KEY", "sk-canary-must-not-leak-1234")
        .env("SOME_TOKEN", "token-canary-5678"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = mock.last_tool_result(1);
    assert!(report.contains("refused"), "{report}");
    assert!(!report.contains("WROTE"), "{report}");
    assert!(!report.contains("CONNECTED"), "{report}");
    assert!(!target.exists());
    assert!(
        listener.accept().is_err(),
        "the server reached the listener"
    );
    assert!(report.contains("PATH="), "{report}");
    assert!(!report.contains("sk-canary-must-not-leak"), "{report}");
    assert!(!report.contains("token-canary"), "{report}");
    assert!(!report.contains("sk-test-key"), "{report}");
}

/// The fixture's private directory is where it may write, and nowhere else: checked by
/// the log itself existing there.
#[test]
fn the_servers_private_dir_is_under_conchs_cache_dir() {
    let mock = MockLlm::start(vec![Reply::text("hi")]);
    let p = ServerProject::new(&mock.url(), &server("fix", &[], ""));
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let private: &Path = &p.cache.path().join("mcp/fix");
    assert!(private.join("calls.log").is_file(), "{out:?}");
}

/// The files of the tool-list cache (one per server config seen).
fn cached_lists(p: &ServerProject) -> Vec<PathBuf> {
    std::fs::read_dir(p.cache.path().join("mcp-tools"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|path| path.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until `ready` holds (a process of its own gets there); panics after a minute.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < until,
            "waited too long for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_second_run_offers_the_cached_tools_before_the_server_is_ready() {
    // The server answers nothing until `go` exists in the workspace.
    let config = server("fix", &["--wait-for", "go"], "");
    let mock = MockLlm::start(vec![Reply::text("first"), Reply::text("second")]);
    let p = ServerProject::new(&mock.url(), &config);
    p.project.write("go", "");
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(cached_lists(&p).len(), 1, "{out:?}");
    let first = tool_names(&mock.requests()[0].body);
    assert!(first.contains(&"mcp__fix__echo".to_string()), "{first:?}");

    // Now it never gets ready; its tools come from the cache, and nobody waits for it.
    std::fs::remove_file(p.project.path().join("go")).unwrap();
    let out = run(&mut p.conch(&["run", "hi again"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let second = tool_names(&mock.requests()[1].body);
    assert!(second.contains(&"mcp__fix__echo".to_string()), "{second:?}");
    assert!(
        !out.stderr.contains("not ready"),
        "a cached server is not waited for: {out:?}"
    );
    assert!(
        events(&p, "fix", "listed").len() == 1,
        "only the first run's server listed its tools: {:?}",
        log(&p, "fix")
    );
}

#[test]
fn a_changed_server_config_does_not_use_the_old_list() {
    let mock = MockLlm::start(vec![Reply::text("first"), Reply::text("second")]);
    let p = ServerProject::new(&mock.url(), &server("fix", &[], ""));
    assert_eq!(run(&mut p.conch(&["run", "hi"])).code, Some(0));
    // Another server of the same name (other args) that never answers: the first run's
    // list is not its list.
    p.project.write_config(
        &std::fs::read_to_string(p.project.config_file())
            .unwrap()
            .replace(
                "args = []",
                "args = [\"--never-init\"]\nstartup_timeout_secs = 1",
            ),
    );
    let out = run(&mut p.conch(&["run", "hi again"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("did not answer `initialize`"),
        "{out:?}"
    );
    let second = tool_names(&mock.requests()[1].body);
    assert!(!second.iter().any(|n| n.starts_with("mcp__")), "{second:?}");
    assert_eq!(cached_lists(&p).len(), 1);
}

#[test]
fn a_server_ready_after_the_first_request_joins_the_next_one() {
    // `late` waits for `go`, which the test writes once the first request went out;
    // `fix` holds the model's call until `release` exists, written once conch has
    // `late`'s list (its cache file appears).
    let config = format!(
        "{ALLOW_FIX}{}{}",
        server("fix", &[], ""),
        server("late", &["--wait-for", "go"], "startup_timeout_secs = 1")
    );
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__wait", json!({"path": "release"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(&mock.url(), &config);
    let child = p
        .conch(&["run", "wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first request", || mock.request_count() >= 1);
    p.project.write("go", "");
    wait_until("late's list", || cached_lists(&p).len() == 2);
    p.project.write("release", "");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = tool_names(&mock.requests()[0].body);
    assert!(
        !first.iter().any(|n| n.starts_with("mcp__late")),
        "{first:?}"
    );
    assert!(
        stderr.contains("`late` did not answer `initialize` within 1 s"),
        "{stderr}"
    );
    let second = tool_names(&mock.requests()[1].body);
    assert!(
        second.contains(&"mcp__late__echo".to_string()),
        "{second:?}"
    );
    assert_eq!(
        stderr.matches("`late` is ready now").count(),
        1,
        "said once: {stderr}"
    );
}

#[test]
fn a_list_changed_notification_updates_the_tools_of_later_requests() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__echo", json!({"text": "one"})),
        Reply::tool_call("mcp__fix__added", json!({})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!(
            "{ALLOW_FIX}{}",
            server("fix", &["--change-tools-at", "1"], "")
        ),
    );
    let out = run(&mut p.conch(&["run", "go"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let first = tool_names(&mock.requests()[0].body);
    assert!(!first.contains(&"mcp__fix__added".to_string()), "{first:?}");
    let second = tool_names(&mock.requests()[1].body);
    assert!(
        second.contains(&"mcp__fix__added".to_string()),
        "{second:?}"
    );
    assert_eq!(mock.last_tool_result(2), "added tool ran");
    assert_eq!(events(&p, "fix", "listed").len(), 2, "{:?}", log(&p, "fix"));
    // The cache has the new list for the next run.
    let cached = std::fs::read_to_string(&cached_lists(&p)[0]).unwrap();
    assert!(cached.contains("\"added\""), "{cached}");
}

#[test]
fn replay_skips_mcp_calls_unless_asked_to_include_them() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__echo", json!({"text": "again"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &[], "")),
    );
    assert_eq!(run(&mut p.conch(&["run", "echo"])).code, Some(0));
    assert_eq!(events(&p, "fix", "call").len(), 1);
    let id = p.project.session_lines()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let out = run(&mut p.conch(&["replay", &id]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("mcp__fix__echo") && out.stdout.contains("skipped: an MCP call"),
        "{out:?}"
    );
    assert!(out.stdout.contains("1 skipped"), "{out:?}");
    assert_eq!(
        events(&p, "fix", "call").len(),
        1,
        "the replay called the server"
    );
    assert_eq!(
        events(&p, "fix", "started").len(),
        1,
        "the replay started the server"
    );

    let out = run(&mut p.conch(&["replay", &id, "--include-mcp", "--format", "json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let call: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(call["status"], "match", "{out:?}");
    assert_eq!(events(&p, "fix", "call").len(), 2, "{:?}", log(&p, "fix"));
}

#[test]
fn conch_tool_starts_just_the_named_server_and_calls_through_the_gate() {
    let mock = MockLlm::start(vec![]);
    let config = format!(
        "{ALLOW_FIX}{}{}",
        server("fix", &[], ""),
        server("other", &[], "")
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(&mut p.conch(&["tool", "mcp__fix__echo", r#"{"text":"direct"}"#]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "echo: direct");
    assert_eq!(events(&p, "fix", "call").len(), 1);
    assert!(log(&p, "other").is_empty(), "another server was started");

    // Without the rule it would ask; nobody can answer here, so it is refused.
    let q = ServerProject::new(&mock.url(), &server("fix", &[], ""));
    let out = run(&mut q.conch(&["tool", "mcp__fix__echo", r#"{"text":"no"}"#]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("fix/echo"), "{out:?}");
    assert!(events(&q, "fix", "call").is_empty(), "{:?}", log(&q, "fix"));

    let out = run(&mut p.conch(&["tool", "mcp__nope__echo", "{}"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("no enabled MCP server `nope`"),
        "{out:?}"
    );
    assert!(out.stderr.contains("fix, other"), "{out:?}");
}

#[test]
fn schemas_over_the_token_budget_are_warned_about_once_naming_the_largest() {
    let mock = MockLlm::start(vec![Reply::text("hi")]);
    let config = format!(
        "{}{}{}",
        server("small", &[], ""),
        server("big1", &["--huge-schema"], ""),
        server("big2", &["--huge-schema"], "")
    );
    let p = ServerProject::new(&mock.url(), &config);
    let out = run(&mut p.conch(&["run", "hi"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stderr.matches("schemas take").count(), 1, "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("schemas take"))
        .unwrap();
    assert!(line.contains("`big1`") && line.contains("`big2`"), "{line}");
    assert!(line.contains("enabled_tools"), "{line}");
}

#[test]
fn a_server_that_writes_the_workspace_is_refused_headless_even_with_allow_edit() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__hostile", json!({"outside": "made.txt"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &server("fix", &["--hostile"], "write = \"workspace\""),
    );
    let out = run(&mut p.conch(&["run", "--allow-edit", "write it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.contains("fix/hostile"), "{result}");
    assert!(events(&p, "fix", "call").is_empty(), "{:?}", log(&p, "fix"));
    assert!(!p.project.path().join("made.txt").exists());
    let offered = &mock.requests()[0].body["tools"];
    assert!(
        offered.to_string().contains("not staged, not undoable"),
        "{offered}"
    );
}

#[test]
fn a_server_that_writes_the_workspace_writes_it_when_the_users_rule_allows() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__hostile", json!({"outside": "made.txt"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!(
            "{ALLOW_FIX}{}",
            server("fix", &["--hostile"], "write = \"workspace\"")
        ),
    );
    let out = run(&mut p.conch(&["run", "write it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(result.contains("made.txt: WROTE"), "{result}");
    assert_eq!(
        std::fs::read_to_string(p.project.path().join("made.txt")).unwrap(),
        "escaped"
    );
    // Without it, the same server may not.
    let mock = MockLlm::start(vec![
        Reply::tool_call("mcp__fix__hostile", json!({"outside": "other.txt"})),
        Reply::text("done"),
    ]);
    let q = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &["--hostile"], "")),
    );
    assert_eq!(run(&mut q.conch(&["run", "write it"])).code, Some(0));
    assert!(mock.last_tool_result(1).contains("other.txt: refused"));
    assert!(!q.project.path().join("other.txt").exists());
}

#[test]
fn a_project_file_may_not_let_a_server_write_the_workspace_even_trusted() {
    let mock = MockLlm::start(vec![Reply::text("hello")]);
    let p = ServerProject::new(&mock.url(), "");
    p.project
        .write("conch.toml", &server("fix", &[], "write = \"workspace\""));
    let out = run(&mut p.conch(&["--trust-project", "run", "hi"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("mcp.fix.write"), "{out:?}");
    assert!(out.stderr.contains("only your own conch.toml"), "{out:?}");
    assert!(log(&p, "fix").is_empty());
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn a_cached_server_that_fails_to_start_is_reported_and_its_tools_withdrawn() {
    let mock = MockLlm::start(vec![
        Reply::text("first"),
        Reply::tool_call("mcp__fix__echo", json!({"text": "anyone?"})),
        Reply::text("done"),
    ]);
    let p = ServerProject::new(
        &mock.url(),
        &format!("{ALLOW_FIX}{}", server("fix", &["--exit-if", "broken"], "")),
    );
    assert_eq!(run(&mut p.conch(&["run", "hi"])).code, Some(0));
    assert_eq!(cached_lists(&p).len(), 1);
    p.project.write("broken", "");
    let out = run(&mut p.conch(&["run", "echo"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        mock.last_tool_result(2).starts_with("error:"),
        "{}",
        mock.last_tool_result(2)
    );
    let after = tool_names(&mock.requests()[2].body);
    assert!(
        !after.iter().any(|n| n.starts_with("mcp__fix")),
        "{after:?}"
    );
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("MCP server `fix`"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {out:?}");
    assert!(out.stderr.contains("exiting on purpose"), "{out:?}");
}
