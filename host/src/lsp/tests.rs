//! The manager against an in-process language server speaking the real framing over a
//! pipe: diagnostics for lines containing `ERROR` (versioned), definition and references
//! of `target`, and the misbehaviours of the end-to-end fixture (slow, stale, crashing,
//! never initializing).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicUsize;

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};

use super::position::{path_of, uri_of};
use super::query::{Answer, Operation, Request, Visibility, render};
use super::rpc::{frame, read_message};
use super::*;
use crate::config::{AfterEdit, LspServerConfig, LspSettings};
use crate::sandbox::child::StderrTail;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    /// Diagnostics only for the version before the one just sent.
    Stale,
    /// Diagnostics never come.
    Silent,
    /// Exits when asked for references.
    CrashOnReferences,
    NeverInitialize,
    /// Declares no definition or references (diagnostics only).
    NoNavigation,
}

/// Starts in-process servers, each in the mode its server name has.
struct FakeLaunch {
    modes: HashMap<String, Mode>,
    launches: Arc<AtomicUsize>,
}

impl Launch for FakeLaunch {
    fn launch(&self, server: &LspServerConfig, _root: &Path) -> Result<Launched, String> {
        self.launches.fetch_add(1, Ordering::SeqCst);
        let mode = self
            .modes
            .get(&server.name)
            .copied()
            .unwrap_or(Mode::Normal);
        let (client, server) = tokio::io::duplex(1 << 20);
        let (exit_tx, exited) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            serve(server, mode).await;
            let _ = exit_tx.send(Some("exit status: 1".into()));
        });
        let (output, input) = tokio::io::split(client);
        Ok(Launched {
            input: Box::new(input),
            output: Box::new(output),
            exited,
            stderr: StderrTail::default(),
            group: None,
        })
    }
}

async fn serve(stream: tokio::io::DuplexStream, mode: Mode) {
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let mut texts: HashMap<String, String> = HashMap::new();
    while let Ok(Some(message)) = read_message(&mut read).await {
        let method = message["method"].as_str().unwrap_or("").to_string();
        let id = message["id"].clone();
        let params = &message["params"];
        let mut out: Vec<Value> = Vec::new();
        let reply = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        match method.as_str() {
            "initialize" if mode == Mode::NeverInitialize => {}
            "initialize" if mode == Mode::NoNavigation => out.push(reply(
                json!({"capabilities": {"positionEncoding": "utf-16"}}),
            )),
            "initialize" => out.push(reply(json!({"capabilities": {
                "positionEncoding": "utf-16",
                "definitionProvider": true,
                "referencesProvider": true,
            }}))),
            "textDocument/didOpen" | "textDocument/didChange" => {
                let doc = &params["textDocument"];
                let uri = doc["uri"].as_str().unwrap_or("").to_string();
                let text = if method == "textDocument/didOpen" {
                    doc["text"].as_str().unwrap_or("").to_string()
                } else {
                    params["contentChanges"][0]["text"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                };
                let version = doc["version"].as_i64().unwrap_or(0);
                let diagnostics: Vec<Value> = text
                    .lines()
                    .enumerate()
                    .filter_map(|(i, line)| {
                        let at = line.find("ERROR")?;
                        Some(json!({
                            "range": {"start": {"line": i, "character": at}, "end": {"line": i, "character": at + 5}},
                            "severity": 1,
                            "message": format!("{} is wrong", line.trim()),
                        }))
                    })
                    .collect();
                texts.insert(uri.clone(), text);
                let published_version = match mode {
                    Mode::Stale => Some(version - 1),
                    Mode::Silent => None,
                    _ => Some(version),
                };
                if let Some(v) = published_version {
                    out.push(
                        json!({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                        "params": {"uri": uri, "version": v, "diagnostics": diagnostics}}),
                    );
                }
            }
            "textDocument/references" if mode == Mode::CrashOnReferences => return,
            // Asked anyway, it finds nothing: an answer tells which server was asked.
            "textDocument/definition" | "textDocument/references" if mode == Mode::NoNavigation => {
                out.push(reply(json!([])))
            }
            "textDocument/definition" | "textDocument/references" => {
                let all = method == "textDocument/references";
                let mut found = Vec::new();
                for (uri, text) in &texts {
                    for (i, line) in text.lines().enumerate() {
                        let Some(at) = line.find("target") else {
                            continue;
                        };
                        let definition = line[..at].ends_with("fn ");
                        if all || definition {
                            let character = line[..at].encode_utf16().count();
                            found.push(json!({"uri": uri, "range": {
                                "start": {"line": i, "character": character},
                                "end": {"line": i, "character": character + 6}}}));
                        }
                    }
                }
                out.push(reply(Value::Array(found)));
            }
            "shutdown" => out.push(reply(Value::Null)),
            "exit" => return,
            _ if !id.is_null() => out.push(reply(Value::Null)),
            _ => {}
        }
        for message in out {
            if write.write_all(&frame(&message)).await.is_err() {
                return;
            }
        }
    }
}

struct Setup {
    dir: tempfile::TempDir,
    root: PathBuf,
    launches: Arc<AtomicUsize>,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        Setup {
            dir,
            root,
            launches: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn manager(&self, mode: Mode, trust: Trust, options: Options) -> Arc<LanguageServers> {
        self.manager_of(&[("fake", mode)], trust, options)
    }

    /// A manager whose servers (by name, in order of preference) all serve `.rs`.
    fn manager_of(
        &self,
        servers: &[(&str, Mode)],
        trust: Trust,
        options: Options,
    ) -> Arc<LanguageServers> {
        let settings = LspSettings {
            servers: servers
                .iter()
                .map(|(name, _)| LspServerConfig {
                    name: name.to_string(),
                    file: None,
                    command: "fake-ls".into(),
                    program: "/fake-ls".into(),
                    args: Vec::new(),
                    extensions: vec!["rs".into()],
                    root_markers: vec!["Cargo.toml".into()],
                    env: BTreeMap::new(),
                    init_options: None,
                })
                .collect(),
            missing: Vec::new(),
            diagnostics_wait: Duration::from_millis(300),
            after_edit: AfterEdit::Errors,
        };
        let launcher = Arc::new(FakeLaunch {
            modes: servers
                .iter()
                .map(|(name, mode)| (name.to_string(), *mode))
                .collect(),
            launches: self.launches.clone(),
        });
        LanguageServers::new(settings, &self.root, trust, launcher, options)
            .unwrap()
            .unwrap()
    }

    fn launches(&self) -> usize {
        self.launches.load(Ordering::SeqCst)
    }
}

fn ask(
    manager: &Arc<LanguageServers>,
    operation: Operation,
    path: &Path,
    line: u32,
    symbol: &str,
) -> Result<String, String> {
    let request = Request {
        operation,
        path: path.to_path_buf(),
        line: Some(line),
        column: None,
        symbol: Some(symbol.into()),
        occurrence: None,
        query: None,
    };
    let answer = manager.query(request, &AtomicBool::new(false))?;
    Ok(render(&answer, manager.workspace(), &|_| Visibility::Shown))
}

fn edit(manager: &Arc<LanguageServers>, path: &Path, text: &str) -> Option<String> {
    let before = std::fs::read_to_string(path).ok();
    std::fs::write(path, text).unwrap();
    manager.after_edit(&[EditedFile {
        path: path.to_path_buf(),
        before,
    }])
}

#[test]
fn definition_and_references_by_symbol_name_as_path_line_col_and_source() {
    let setup = Setup::new();
    let main = setup.write("src/main.rs", "fn main() {\n    let é = target();\n}\n");
    let lib = setup.write("src/lib.rs", "pub fn target() -> u8 {\n    1\n}\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    // The server learns of lib.rs when it is opened.
    ask(&manager, Operation::Definition, &lib, 1, "target").unwrap();
    let definition = ask(&manager, Operation::Definition, &main, 2, "target").unwrap();
    assert_eq!(definition, "src/lib.rs:1:8 | pub fn target() -> u8 {");
    let mut references = ask(&manager, Operation::References, &main, 2, "target")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>();
    references.sort();
    assert_eq!(
        references,
        [
            "src/lib.rs:1:8 | pub fn target() -> u8 {",
            "src/main.rs:2:13 | let é = target();"
        ]
    );
    let err = ask(&manager, Operation::Definition, &main, 2, "absent").unwrap_err();
    assert!(err.contains("`absent` is not on line 2"), "{err}");
    assert_eq!(setup.launches(), 1, "one instance for the root");
}

#[test]
fn places_are_capped_hidden_when_denied_and_textless_outside_the_workspace() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "x\n");
    let place = |path: &Path| super::query::Place {
        path: path.to_path_buf(),
        line: 0,
        character: 0,
        label: None,
    };
    let mut places: Vec<_> = (0..60).map(|_| place(&file)).collect();
    places.push(place(Path::new("/outside/b.rs")));
    places.push(place(&setup.root.join("secret.rs")));
    let answer = Answer::Places {
        places,
        encoding: position::Encoding::Utf16,
        none: "none".into(),
    };
    let text = render(&answer, &setup.root, &|path| {
        if path.ends_with("secret.rs") {
            Visibility::Hidden
        } else if path.starts_with("/outside") {
            Visibility::WithoutText
        } else {
            Visibility::Shown
        }
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "a.rs:1:1 | x");
    assert_eq!(lines.len(), 52, "{text}");
    assert!(lines[50].contains("11 more not shown"), "{text}");
    assert!(
        lines[51].contains("1 in files a read rule denies"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn an_edit_reports_only_the_errors_it_introduced() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\nlet old = ERROR_OLD;\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
    let reported = edit(
        &manager,
        &file,
        "fn target() {}\nlet old = ERROR_OLD;\nlet new = ERROR_NEW;\n",
    )
    .unwrap();
    assert!(reported.contains("1 new error in a.rs"), "{reported}");
    assert!(
        reported.contains("a.rs:3:11: error: let new = ERROR_NEW; is wrong"),
        "{reported}"
    );
    assert!(!reported.contains("ERROR_OLD"), "{reported}");
    // The error that was there is not reported again; the fix reports nothing.
    let again = edit(
        &manager,
        &file,
        "// moved\nfn target() {}\nlet old = ERROR_OLD;\nlet new = ERROR_NEW;\n",
    );
    assert_eq!(again, None);
    assert_eq!(edit(&manager, &file, "fn target() {}\n"), None);
}

#[test]
fn a_file_seen_first_at_its_edit_is_compared_with_its_text_before() {
    let setup = Setup::new();
    let other = setup.write("b.rs", "fn target() {}\n");
    let file = setup.write("a.rs", "let old = ERROR_OLD;\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    ask(&manager, Operation::Definition, &other, 1, "target").unwrap();
    let reported = edit(&manager, &file, "let old = ERROR_OLD;\nlet x = ERROR_X;\n").unwrap();
    assert!(reported.contains("ERROR_X"), "{reported}");
    assert!(!reported.contains("ERROR_OLD"), "{reported}");
}

#[test]
fn stale_or_missing_diagnostics_are_not_ready_never_clean() {
    for mode in [Mode::Stale, Mode::Silent] {
        let setup = Setup::new();
        let file = setup.write("a.rs", "fn target() {}\n");
        let manager = setup.manager(mode, Trust::Granted, Options::default());
        ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
        let reported = edit(&manager, &file, "fn target() {}\nERROR\n").unwrap();
        assert!(
            reported.contains("diagnostics not ready after 0.3 s"),
            "{mode:?}: {reported}"
        );
    }
}

#[test]
fn the_first_edit_starts_the_server_within_the_wait() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "let old = ERROR_OLD;\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    let reported = edit(&manager, &file, "let old = ERROR_OLD;\nERROR_NEW\n").unwrap();
    assert!(reported.contains("ERROR_NEW"), "{reported}");
    assert!(!reported.contains("ERROR_OLD"), "{reported}");
    ask(&manager, Operation::Definition, &file, 1, "old").unwrap();
    assert_eq!(setup.launches(), 1);
}

#[test]
fn a_server_still_starting_is_not_waited_for_and_the_result_says_so() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "x\n");
    let manager = setup.manager(Mode::NeverInitialize, Trust::Granted, Options::default());
    let reported = edit(&manager, &file, "ERROR\n").unwrap();
    assert!(
        reported.contains("`fake` is still starting after 0.3 s"),
        "{reported}"
    );
    let reported = edit(&manager, &file, "ERROR again\n").unwrap();
    assert!(reported.contains("`fake` is still starting;"), "{reported}");
    assert_eq!(setup.launches(), 1);
}

#[test]
fn a_crashed_server_is_restarted_at_most_three_times() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    let manager = setup.manager(Mode::CrashOnReferences, Trust::Granted, Options::default());
    for _ in 0..=MAX_RESTARTS {
        ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
        let err = ask(&manager, Operation::References, &file, 1, "target").unwrap_err();
        assert!(err.contains("closed"), "{err}");
    }
    let err = ask(&manager, Operation::Definition, &file, 1, "target").unwrap_err();
    assert!(err.contains("not restarted again"), "{err}");
    assert_eq!(setup.launches(), 1 + MAX_RESTARTS as usize);
    let status = &manager.statuses()[0];
    assert_eq!(status.restarts, MAX_RESTARTS);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("exited")
    );
}

#[test]
fn a_server_that_never_initializes_is_reported() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    let options = Options {
        initialize_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let manager = setup.manager(Mode::NeverInitialize, Trust::Granted, options);
    let err = ask(&manager, Operation::Definition, &file, 1, "target").unwrap_err();
    assert!(err.contains("did not answer `initialize`"), "{err}");
    assert!(matches!(manager.statuses()[0].state, State::Failed(_)));
}

#[test]
fn an_untrusted_project_starts_no_server_and_the_error_says_why() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    let manager = setup.manager(Mode::Normal, Trust::Headless, Options::default());
    let err = ask(&manager, Operation::Definition, &file, 1, "target").unwrap_err();
    assert!(err.contains("not trusted"), "{err}");
    assert!(err.contains("--trust-project"), "{err}");
    assert_eq!(edit(&manager, &file, "ERROR\n"), None);
    assert_eq!(setup.launches(), 0);
}

#[test]
fn a_file_without_a_server_names_what_was_looked_for() {
    let setup = Setup::new();
    let file = setup.write("a.py", "x = 1\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    let err = ask(&manager, Operation::Definition, &file, 1, "x").unwrap_err();
    assert!(err.contains("no language server for"), "{err}");
    assert!(err.contains("[lsp.NAME]"), "{err}");
}

#[test]
fn each_root_is_the_nearest_marker_and_gets_one_instance() {
    let setup = Setup::new();
    setup.write("Cargo.toml", "");
    setup.write("crates/a/Cargo.toml", "");
    let inner = setup.write("crates/a/src/lib.rs", "fn target() {}\n");
    let outer = setup.write("src/main.rs", "fn target() {}\n");
    let manager = setup.manager(Mode::Normal, Trust::Granted, Options::default());
    let server = manager.settings().servers[0].clone();
    assert_eq!(
        manager.root_for(&server, &inner),
        setup.root.join("crates/a")
    );
    assert_eq!(manager.root_for(&server, &outer), setup.root);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let manager = manager.clone();
            let path = if i % 2 == 0 {
                inner.clone()
            } else {
                outer.clone()
            };
            std::thread::spawn(move || ask(&manager, Operation::Definition, &path, 1, "target"))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    assert_eq!(setup.launches(), 2, "one per root, never two at once");
    let roots: Vec<PathBuf> = manager.statuses().into_iter().map(|s| s.root).collect();
    assert_eq!(roots, [setup.root.clone(), setup.root.join("crates/a")]);
}

#[test]
fn an_idle_server_is_stopped_and_started_again_when_needed() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    let options = Options {
        idle: Duration::from_millis(40),
        ..Options::default()
    };
    let manager = setup.manager(Mode::Normal, Trust::Granted, options);
    ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
    let mut stopped = false;
    for _ in 0..500 {
        if manager.statuses()[0].state == State::Stopped {
            stopped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stopped, "{:?}", manager.statuses());
    ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
    assert_eq!(setup.launches(), 2);
    assert_eq!(
        manager.statuses()[0].restarts,
        0,
        "an idle stop is no crash"
    );
}

#[test]
fn uris_name_the_files_the_server_sees() {
    let setup = Setup::new();
    let path = setup.root.join("a b.rs");
    assert_eq!(path_of(&uri_of(&path)), Some(path));
    drop(setup.dir);
}

#[test]
fn on_a_terminal_the_user_is_asked_once_at_the_first_start() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    for answer in [false, true] {
        let asked = Arc::new(AtomicUsize::new(0));
        let count = asked.clone();
        let trust = Trust::Ask(Box::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
            answer
        }));
        let manager = setup.manager(Mode::Normal, trust, Options::default());
        assert_eq!(asked.load(Ordering::SeqCst), 0, "asked before any need");
        let first = ask(&manager, Operation::Definition, &file, 1, "target");
        let second = ask(&manager, Operation::Definition, &file, 1, "target");
        edit(&manager, &file, "fn target() {}\nERROR\n");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once per session");
        if answer {
            assert_eq!(first.unwrap(), "a.rs:1:4 | fn target() {}");
            assert!(second.is_ok());
        } else {
            for refused in [first, second] {
                let err = refused.unwrap_err();
                assert!(err.contains("answered no"), "{err}");
            }
        }
    }
    assert_eq!(setup.launches(), 1, "only the yes started a server");
}

#[test]
fn every_server_of_a_file_reports_and_navigation_skips_one_without_the_method() {
    let setup = Setup::new();
    let file = setup.write("a.rs", "fn target() {}\n");
    let manager = setup.manager_of(
        &[("diag", Mode::NoNavigation), ("nav", Mode::Normal)],
        Trust::Granted,
        Options::default(),
    );
    let reported = edit(&manager, &file, "fn target() {}\nERROR\n").unwrap();
    for name in ["diag", "nav"] {
        assert!(
            reported.contains(&format!("1 new error in a.rs (language server `{name}`):")),
            "{reported}"
        );
    }
    let definition = ask(&manager, Operation::Definition, &file, 1, "target").unwrap();
    assert_eq!(definition, "a.rs:1:4 | fn target() {}");
    assert_eq!(setup.launches(), 2);
    // A server without the method is still asked when no other has it.
    let alone = setup.manager_of(
        &[("diag", Mode::NoNavigation)],
        Trust::Granted,
        Options::default(),
    );
    let answer = ask(&alone, Operation::Definition, &file, 1, "target").unwrap();
    assert_eq!(answer, "no definition found there");
}
