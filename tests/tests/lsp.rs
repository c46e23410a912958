//! Language servers end to end: the real binary starts the fixture server (tests/src/bin/
//! lsp_fixture.rs) in its sandbox for `.fx` files when an edit needs it, and appends the
//! errors an edit introduced to the edit's result. The fixture logs what it received to
//! `lsp.log` in its private directory (under each test's own cache dir).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::ServerProject;
use conch_tests::terminal::Terminal;
use conch_tests::{run, running};
use serde_json::{Value, json};

const FIXTURE: &str = env!("CARGO_BIN_EXE_lsp_fixture");

/// The user config's `[lsp]` settings and `[lsp.fix]` for the fixture with `flags`.
fn server(flags: &[&str], wait_ms: u64) -> String {
    format!(
        "[lsp]\ndiagnostics_wait_ms = {wait_ms}\n[lsp.fix]\ncommand = {FIXTURE:?}\nargs = {flags:?}\nextensions = [\"fx\"]\n"
    )
}

/// What server `name` logged as `event`.
fn events_of(p: &ServerProject, name: &str, event: &str) -> Vec<Value> {
    p.logged("lsp", name, "lsp.log")
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

/// What the server `fix` logged as `event`.
fn events(p: &ServerProject, event: &str) -> Vec<Value> {
    events_of(p, "fix", event)
}

fn project(mock: &MockLlm, config: &str) -> ServerProject {
    ServerProject::new(&mock.url(), config)
}

fn write(content: &str) -> Reply {
    Reply::tool_call("write", json!({"path": "a.fx", "content": content}))
}

#[test]
fn an_edit_gets_the_errors_it_introduced_and_no_others() {
    let mock = MockLlm::start(vec![
        write("ok\nERROR old\n"),
        write("ok\nERROR old\nERROR new\n"),
        write("moved down\nok\nERROR old\nERROR new\n"),
        write("ok\n"),
        Reply::text("done"),
    ]);
    let p = project(&mock, &server(&[], 3000));
    let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let created = mock.last_tool_result(1);
    assert!(
        created.contains("1 new error in a.fx (language server `fix`):"),
        "{created}"
    );
    assert!(
        created.contains("a.fx:2:1: error: bad line: ERROR old [fixture]"),
        "{created}"
    );
    let introduced = mock.last_tool_result(2);
    assert!(
        introduced.contains("a.fx:3:1: error: bad line: ERROR new"),
        "{introduced}"
    );
    assert!(!introduced.contains("ERROR old"), "{introduced}");
    let moved = mock.last_tool_result(3);
    assert!(!moved.contains("error"), "{moved}");
    let fixed = mock.last_tool_result(4);
    assert!(!fixed.contains("error"), "{fixed}");
    assert!(!fixed.contains("diagnostics"), "{fixed}");
    assert_eq!(events(&p, "started").len(), 1, "one server for the session");
}

#[test]
fn stale_or_slow_diagnostics_are_reported_as_not_ready() {
    for flags in [&["--stale"][..], &["--slow-diagnostics", "5000"][..]] {
        let mock = MockLlm::start(vec![
            write("ok\n"),
            write("ok\nERROR new\n"),
            Reply::text("done"),
        ]);
        let p = project(&mock, &server(flags, 700));
        let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
        assert_eq!(out.code, Some(0), "{out:?}");
        let result = mock.last_tool_result(2);
        assert!(
            result.contains("diagnostics not ready after 0.7 s for a.fx"),
            "{flags:?}: {result}"
        );
        assert!(!result.contains("bad line"), "{flags:?}: {result}");
    }
}

#[test]
fn a_crashing_server_is_restarted_at_most_three_times() {
    let mut replies: Vec<Reply> = (0..7).map(|i| write(&format!("v{i}\n"))).collect();
    replies.push(Reply::text("done"));
    let mock = MockLlm::start(replies);
    let p = project(&mock, &server(&["--crash-on-change"], 1000));
    let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        events(&p, "started").len(),
        4,
        "the first start and 3 restarts"
    );
    let given_up = mock.last_tool_result(6);
    assert!(given_up.contains("not restarted again"), "{given_up}");
    assert!(given_up.contains("crashing on a change"), "{given_up}");
    let last = mock.last_tool_result(7);
    assert!(!last.contains("language server"), "{last}");
    assert_eq!(
        std::fs::read_to_string(p.project.path().join("a.fx")).unwrap(),
        "v6\n"
    );
}

#[test]
fn without_a_server_edits_work_as_before() {
    let mock = MockLlm::start(vec![write("ERROR\n"), Reply::text("done")]);
    let config = "[lsp.fix]\ncommand = \"/nonexistent/lsp_fixture\"\nextensions = [\"fx\"]\n";
    let p = project(&mock, config);
    let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(!result.contains("error"), "{result}");
    assert!(!result.contains("language server"), "{result}");
    let status = run(&mut p.conch(&["lsp", "status"]));
    assert!(
        status
            .stdout
            .contains("fix: `/nonexistent/lsp_fixture` not found on PATH"),
        "{status:?}"
    );
}

#[test]
fn an_untrusted_run_starts_no_server() {
    let mock = MockLlm::start(vec![write("ERROR\n"), Reply::text("done")]);
    let allow_edit = "[permission]\nedit = \"allow\"\n";
    let p = project(&mock, &format!("{allow_edit}{}", server(&[], 1000)));
    let out = run(&mut p.conch(&["run", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!mock.last_tool_result(1).contains("bad line"));
    assert!(events(&p, "started").is_empty());
    let status = run(&mut p.conch(&["lsp", "status"]));
    assert!(status.stdout.contains("not trusted"), "{status:?}");
    std::fs::write(p.project.path().join("b.fx"), "x\n").unwrap();
    let started = run(&mut p.conch(&["lsp", "status", "--yes", "--file", "b.fx"]));
    assert_eq!(started.code, Some(0), "{started:?}");
    assert!(
        started.stdout.contains("fix: running for root"),
        "{started:?}"
    );
    // Trusted once for good (the project has no conch.toml): servers may run after.
    let trusted = run(&mut p.conch(&["config", "trust"]));
    assert_eq!(trusted.code, Some(0), "{trusted:?}");
    assert!(
        trusted.stdout.contains("language servers may run there"),
        "{trusted:?}"
    );
    let status = run(&mut p.conch(&["lsp", "status"]));
    assert!(!status.stdout.contains("not trusted"), "{status:?}");
}

#[test]
fn no_server_process_outlives_the_run_not_even_a_setsid_child() {
    let mock = MockLlm::start(vec![write("ok\n"), Reply::text("done")]);
    let p = project(&mock, &server(&["--setsid-child"], 1000));
    let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(events(&p, "started").len(), 1, "{out:?}");
    for name in ["server.pid", "child.pid"] {
        let pid_file = p.private_dir("lsp", "fix").join(name);
        assert!(pid_file.exists(), "{name} was not written");
        let mut gone = false;
        for _ in 0..200 {
            if !running(&pid_file) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(gone, "the process in {name} outlived conch");
    }
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
fn the_lsp_tool_finds_a_definition_and_references_by_symbol_name() {
    let place = json!({"path": "main.fx", "line": 2, "symbol": "target"});
    let ask = |operation: &str| {
        let mut input = place.clone();
        input["operation"] = operation.into();
        Reply::tool_call("lsp", input)
    };
    let mock = MockLlm::start(vec![
        ask("definition"),
        ask("references"),
        Reply::tool_call(
            "lsp",
            json!({"operation": "definition", "path": "main.fx", "line": 2, "symbol": "absent"}),
        ),
        Reply::text("done"),
    ]);
    let p = project(&mock, &server(&[], 1000));
    std::fs::write(
        p.project.path().join("main.fx"),
        "fn target() {}\ncall target();\n",
    )
    .unwrap();
    let out = run(&mut p.conch(&["run", "--yes", "where is it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(tool_names(&mock.requests()[0].body).contains(&"lsp".to_string()));
    assert_eq!(mock.last_tool_result(1), "main.fx:1:4 | fn target() {}");
    assert_eq!(
        mock.last_tool_result(2),
        "main.fx:1:4 | fn target() {}\nmain.fx:2:6 | call target();"
    );
    let missing = mock.last_tool_result(3);
    assert!(missing.contains("`absent` is not on line 2"), "{missing}");
}

#[test]
fn without_a_server_the_lsp_tool_is_not_offered() {
    let mock = MockLlm::start(vec![Reply::text("done")]);
    let config = "[lsp.fix]\ncommand = \"/nonexistent/lsp_fixture\"\nextensions = [\"fx\"]\n";
    let p = project(&mock, config);
    // Only the system's directories: no preset's program is found there.
    let out = run(p.conch(&["run", "hi"]).env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let names = tool_names(&mock.requests()[0].body);
    assert!(names.contains(&"read".to_string()), "{names:?}");
    assert!(!names.contains(&"lsp".to_string()), "{names:?}");
}

/// jedi-language-server from the package index, installed on first use into a venv under
/// target/ (so later runs work offline); its program.
fn jedi_language_server() -> PathBuf {
    let target = conch_tests::conch_bin()
        .parent()
        .and_then(|release| release.parent())
        .expect("the binary is under target/")
        .to_path_buf();
    let venv = conch_tests::server_install_dir(&target, "lsp-servers/jedi");
    let program = venv.join("bin/jedi-language-server");
    // Written last: a venv without it is an interrupted install.
    let complete = venv.join("installed");
    if complete.exists() {
        return program;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let ok = |cmd: &mut Command| cmd.status().is_ok_and(|s| s.success());
    assert!(
        ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)),
        "python3 -m venv failed: the real language server test needs Python 3 with venv"
    );
    assert!(
        ok(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "jedi-language-server"])),
        "installing jedi-language-server failed: the package index must be reachable on the first run"
    );
    std::fs::write(&complete, "").unwrap();
    program
}

#[test]
fn a_real_language_server_navigates_and_reports_an_edits_error() {
    let program = jedi_language_server();
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "lsp",
            json!({"operation": "definition", "path": "main.py", "line": 3, "symbol": "target"}),
        ),
        Reply::tool_call(
            "lsp",
            json!({"operation": "references", "path": "lib.py", "line": 1, "symbol": "target"}),
        ),
        Reply::tool_call("read", json!({"path": "main.py"})),
        Reply::tool_call(
            "write",
            json!({"path": "main.py", "content": "from lib import target\n\nprint(target(\n"}),
        ),
        Reply::text("done"),
    ]);
    let config = format!(
        "[lsp]\ndiagnostics_wait_ms = 20000\n[lsp.jedi-language-server]\ncommand = {:?}\n",
        program.display().to_string()
    );
    let p = project(&mock, &config);
    std::fs::write(
        p.project.path().join("lib.py"),
        "def target():\n    return 1\n",
    )
    .unwrap();
    std::fs::write(
        p.project.path().join("main.py"),
        "from lib import target\n\nprint(target())\n",
    )
    .unwrap();
    let out = run(&mut p.conch(&["run", "--yes", "navigate"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let definition = mock.last_tool_result(1);
    assert!(
        definition.contains("lib.py:1:5 | def target():"),
        "{definition}"
    );
    let references = mock.last_tool_result(2);
    assert!(
        references.contains("main.py:3:7 | print(target())"),
        "{references}"
    );
    assert!(references.contains("lib.py:1:5"), "{references}");
    let edited = mock.last_tool_result(4);
    assert!(
        edited.contains("in main.py (language server `jedi-language-server`):"),
        "{edited}"
    );
    assert!(edited.contains("main.py:"), "{edited}");
}

#[test]
fn no_server_process_outlives_an_interrupted_run() {
    let mock = MockLlm::start(vec![write("ok\n"), Reply::hang()]);
    let p = project(&mock, &server(&["--setsid-child"], 3000));
    let child = p
        .conch(&["run", "--yes", "edit it"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = p.private_dir("lsp", "fix").join("child.pid");
    conch_tests::wait_for_pid(&pid_file);
    // The edit's result reached the model: the server ran and conch waits on the model.
    while mock.request_count() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(running(&pid_file), "the setsid child runs while conch does");
    assert!(
        running(&p.private_dir("lsp", "fix").join("server.pid")),
        "the server runs while conch does"
    );
    conch_tests::interrupt_and_check_gone(child, &pid_file);
    let server_pid = p.private_dir("lsp", "fix").join("server.pid");
    let mut gone = false;
    for _ in 0..200 {
        if !running(&server_pid) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gone, "the server outlived the interrupted run");
}

#[test]
fn a_server_that_failed_to_start_is_started_again_by_the_next_edit() {
    let mock = MockLlm::start(vec![
        write("ok\n"),
        write("ok\nERROR new\n"),
        Reply::text("done"),
    ]);
    let p = project(&mock, &server(&["--fail-first-start"], 3000));
    let out = run(&mut p.conch(&["run", "--yes", "edit it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let failed = mock.last_tool_result(1);
    assert!(failed.contains("cannot start"), "{failed}");
    assert!(failed.contains("failing the first start"), "{failed}");
    let restarted = mock.last_tool_result(2);
    assert!(
        restarted.contains("a.fx:2:1: error: bad line: ERROR new"),
        "{restarted}"
    );
    assert_eq!(events(&p, "started").len(), 2);
}

/// `[[permission.rules]]` denying `read` under `dir`.
fn deny_read(dir: &str) -> String {
    format!("[[permission.rules]]\ntool = \"read\"\npattern = \"{dir}/*\"\ndecision = \"deny\"\n")
}

fn lsp_call(input: Value) -> Reply {
    Reply::tool_call("lsp", input)
}

#[test]
fn places_a_read_rule_denies_are_left_out_and_symbols_need_no_path_once_a_server_runs() {
    let symbols = json!({"operation": "workspace_symbols", "query": "target"});
    let mock = MockLlm::start(vec![
        lsp_call(symbols.clone()),
        lsp_call(
            json!({"operation": "references", "path": "main.fx", "line": 2, "symbol": "target"}),
        ),
        lsp_call(symbols),
        lsp_call(
            json!({"operation": "definition", "path": "hidden/other.fx", "line": 2, "symbol": "target"}),
        ),
        Reply::text("done"),
    ]);
    let p = project(
        &mock,
        &format!("{}{}", deny_read("hidden"), server(&[], 1000)),
    );
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    p.project
        .write("hidden/other.fx", "fn hidden_target() {}\ncall target();\n");
    let out = run(&mut p.conch(&["run", "--yes", "where is it"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let nothing_yet = mock.last_tool_result(1);
    assert!(nothing_yet.contains("give `path`"), "{nothing_yet}");
    assert!(nothing_yet.contains("fix (.fx)"), "{nothing_yet}");
    assert_eq!(
        mock.last_tool_result(2),
        "main.fx:1:4 | fn target() {}\nmain.fx:2:6 | call target();\n(2 in files a read rule denies left out)"
    );
    assert_eq!(
        mock.last_tool_result(3),
        "main.fx:1:4 function target | fn target() {}\n(1 in files a read rule denies left out)"
    );
    let denied = mock.last_tool_result(4);
    assert!(denied.contains("may not be read"), "{denied}");
    assert_eq!(events(&p, "started").len(), 1);
}

#[test]
fn conch_tool_lsp_asks_the_server_in_a_one_call_session() {
    let mock = MockLlm::start(vec![]);
    let p = project(&mock, &server(&[], 1000));
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let input = r#"{"operation":"definition","path":"main.fx","line":2,"symbol":"target"}"#;
    let out = run(&mut p.conch(&["tool", "lsp", input, "--yes"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "main.fx:1:4 | fn target() {}\n");
    assert_eq!(events(&p, "started").len(), 1);
    // Headless and not trusted: not started, and the error says why.
    let refused = run(&mut p.conch(&["tool", "lsp", input]));
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("not trusted"), "{refused:?}");
    assert_eq!(events(&p, "started").len(), 1);
}

#[test]
fn a_symbol_search_without_a_path_is_decided_on_its_query() {
    let mock = MockLlm::start(vec![]);
    let rule =
        "[[permission.rules]]\ntool = \"lsp\"\npattern = \"*secret*\"\ndecision = \"deny\"\n";
    let p = project(&mock, &format!("{rule}{}", server(&[], 1000)));
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let symbols = |query: &str| {
        let input = json!({"operation": "workspace_symbols", "query": query}).to_string();
        run(&mut p.conch(&["tool", "lsp", &input, "--yes"]))
    };
    let denied = symbols("the_secret_key");
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(denied.stderr.contains("denied"), "{denied:?}");
    assert!(denied.stderr.contains("the_secret_key"), "{denied:?}");
    // Another query passes the gate and reaches the manager (no server runs yet, so it
    // asks for a path to choose the language).
    let allowed = symbols("target");
    assert!(!allowed.stderr.contains("denied"), "{allowed:?}");
    assert!(allowed.stderr.contains("give `path`"), "{allowed:?}");
}

#[test]
fn every_server_of_a_file_reports_its_errors_and_navigation_asks_one_that_can() {
    let mock = MockLlm::start(vec![
        write("ok\nERROR new\n"),
        lsp_call(
            json!({"operation": "definition", "path": "main.fx", "line": 2, "symbol": "target"}),
        ),
        Reply::text("done"),
    ]);
    let config = format!(
        "[lsp.diag]\ncommand = {FIXTURE:?}\nargs = [\"--no-navigation\"]\nextensions = [\"fx\"]\n\
         [lsp.nav]\ncommand = {FIXTURE:?}\nextensions = [\"fx\"]\n"
    );
    let p = project(&mock, &config);
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let out = run(&mut p.conch(&["run", "--yes", "edit and look"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let edited = mock.last_tool_result(1);
    for name in ["diag", "nav"] {
        assert!(
            edited.contains(&format!("1 new error in a.fx (language server `{name}`):")),
            "{edited}"
        );
    }
    assert_eq!(mock.last_tool_result(2), "main.fx:1:4 | fn target() {}");
    let asked = |name: &str| {
        events_of(&p, name, "received")
            .iter()
            .any(|e| e["method"] == "textDocument/definition")
    };
    assert!(asked("nav"));
    assert!(!asked("diag"), "a server without definitions was asked");
}

/// The question conch asks on a terminal before a project's first language server.
const TRUST_QUESTION: &str = "Let language servers run in this project?";

#[test]
fn on_a_terminal_the_user_is_asked_once_and_a_yes_is_kept() {
    let ask = json!({"operation": "definition", "path": "main.fx", "line": 2, "symbol": "target"});
    let mock = MockLlm::start(vec![
        lsp_call(ask.clone()),
        lsp_call(ask),
        Reply::text("done"),
    ]);
    let p = project(&mock, &server(&[], 1000));
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let cache = p.cache.path().display().to_string();
    let out = p.project.on_terminal(
        "run 'where is it'",
        "y\n",
        &[("CONCH_CACHE_DIR", cache.as_str())],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.matches(TRUST_QUESTION).count(), 1, "{out:?}");
    assert_eq!(mock.last_tool_result(1), "main.fx:1:4 | fn target() {}");
    assert_eq!(mock.last_tool_result(2), "main.fx:1:4 | fn target() {}");
    // Kept: a headless run starts servers in this project from now on.
    let status = run(&mut p.conch(&["lsp", "status"]));
    assert!(
        status.stdout.contains("servers may run (trusted)"),
        "{status:?}"
    );
}

#[test]
fn on_a_terminal_a_no_is_not_asked_again_and_the_tool_says_why() {
    let ask = json!({"operation": "definition", "path": "main.fx", "line": 2, "symbol": "target"});
    let mock = MockLlm::start(vec![
        lsp_call(ask.clone()),
        write("ERROR\n"),
        lsp_call(ask),
        Reply::text("done"),
    ]);
    let allow_edit = "[permission]\nedit = \"allow\"\n";
    let p = project(&mock, &format!("{allow_edit}{}", server(&[], 1000)));
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let cache = p.cache.path().display().to_string();
    let out = p.project.on_terminal(
        "run 'where is it'",
        "n\n",
        &[("CONCH_CACHE_DIR", cache.as_str())],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.matches(TRUST_QUESTION).count(), 1, "{out:?}");
    for call in [1, 3] {
        let refused = mock.last_tool_result(call);
        assert!(refused.contains("answered no"), "{refused}");
    }
    assert!(!mock.last_tool_result(2).contains("bad line"));
    assert!(events(&p, "started").is_empty());
    let status = run(&mut p.conch(&["lsp", "status"]));
    assert!(status.stdout.contains("not trusted"), "{status:?}");
}

#[test]
fn a_new_repl_session_asks_before_its_first_language_server_too() {
    let ask = json!({"operation": "definition", "path": "main.fx", "line": 2, "symbol": "target"});
    let mock = MockLlm::start(vec![lsp_call(ask), Reply::text("done")]);
    let p = project(&mock, &server(&[], 1000));
    p.project
        .write("main.fx", "fn target() {}\ncall target();\n");
    let cache = p.cache.path().display().to_string();
    let mut terminal =
        Terminal::start_with(&p.project, "repl", &[("CONCH_CACHE_DIR", cache.as_str())]);
    terminal.wait_for("conch> ", 1);
    terminal.type_line("/new");
    terminal.wait_for("new session ", 1);
    terminal.wait_for("conch> ", 2);
    terminal.type_line("where is it");
    terminal.wait_for(TRUST_QUESTION, 1);
    terminal.type_line("y");
    terminal.wait_for("conch> ", 3);
    terminal.type_line("/exit");
    let (code, shown) = terminal.finish();
    assert_eq!(code, Some(0), "{shown:?}");
    assert_eq!(shown.matches(TRUST_QUESTION).count(), 1, "{shown:?}");
    assert_eq!(mock.last_tool_result(1), "main.fx:1:4 | fn target() {}");
}
