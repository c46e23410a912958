//! A fixture language server for the end-to-end tests: `Content-Length` framed JSON-RPC
//! on stdio, no network, written by hand so that it can misbehave. It publishes versioned
//! diagnostics (one error per line containing `ERROR`), answers definition and references
//! for the symbol `target` (defined where a line has `fn target`) in the `.fx` files of its
//! root and those it was shown, and workspace symbols (every `fn NAME`), and logs what it
//! receives (one JSON line per event) to `lsp.log` in `$XDG_CACHE_HOME`, the private
//! directory conch gives it. Flags choose the misbehaviour:
//!
//! `--no-navigation` (declare only diagnostics: no definition, references or symbols),
//! `--fail-first-start` (exit at the first `initialize` of the private dir, noted there),
//! `--slow-diagnostics MS` (publish that late, from a thread), `--stale` (publish for the
//! version before the one received), `--crash-on-change` (exit at any `didChange`),
//! `--never-init` (never answer `initialize`), `--setsid-child` (start a `sleep` in a
//! session of its own and write its pid to `child.pid`; its own pid goes to `server.pid`,
//! both as `PID NAMESPACE`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Default)]
struct Options {
    no_navigation: bool,
    fail_first_start: bool,
    slow_diagnostics: u64,
    stale: bool,
    crash_on_change: bool,
    never_init: bool,
    setsid_child: bool,
}

type Out = Arc<Mutex<std::io::Stdout>>;

fn main() {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--slow-diagnostics" => {
                options.slow_diagnostics = args.next().and_then(|v| v.parse().ok()).unwrap_or(0)
            }
            "--stale" => options.stale = true,
            "--no-navigation" => options.no_navigation = true,
            "--fail-first-start" => options.fail_first_start = true,
            "--crash-on-change" => options.crash_on_change = true,
            "--never-init" => options.never_init = true,
            "--setsid-child" => options.setsid_child = true,
            other => {
                eprintln!("lsp_fixture: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    log(&json!({"event": "started", "pid": std::process::id()}));
    write_private("server.pid", &format!("{} {namespace}", std::process::id()));
    if options.setsid_child {
        // Left running on purpose: the test checks that conch's sandbox ends it.
        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new("setsid")
            .args(["sleep", "300"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("setsid sleep");
        write_private("child.pid", &format!("{} {namespace}", child.id()));
    }
    eprintln!("lsp_fixture: started");
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    let mut input = std::io::BufReader::new(std::io::stdin().lock());
    let mut texts: HashMap<String, String> = HashMap::new();
    while let Some(message) = read_message(&mut input) {
        let method = message["method"].as_str().unwrap_or("").to_string();
        let id = message["id"].clone();
        let params = message["params"].clone();
        log(
            &json!({"event": "received", "method": method, "version": params.pointer("/textDocument/version")}),
        );
        let reply = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        match method.as_str() {
            "initialize" if options.never_init => {}
            "initialize"
                if options.fail_first_start
                    && private_dir().is_some_and(|dir| !dir.join("failed-once").exists()) =>
            {
                write_private("failed-once", "");
                eprintln!("lsp_fixture: failing the first start as told");
                std::process::exit(4);
            }
            "initialize" => {
                if let Some(root) = params["rootUri"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("file://"))
                {
                    index(&PathBuf::from(root), &mut texts);
                }
                let capabilities = if options.no_navigation {
                    json!({"positionEncoding": "utf-16", "textDocumentSync": 1})
                } else {
                    json!({
                        "positionEncoding": "utf-16",
                        "textDocumentSync": 1,
                        "definitionProvider": true,
                        "referencesProvider": true,
                        "workspaceSymbolProvider": true,
                    })
                };
                send(&out, &reply(json!({"capabilities": capabilities})));
            }
            "textDocument/didChange" if options.crash_on_change => {
                eprintln!("lsp_fixture: crashing on a change as told");
                std::process::exit(3);
            }
            "textDocument/didOpen" | "textDocument/didChange" => {
                let doc = &params["textDocument"];
                let uri = doc["uri"].as_str().unwrap_or("").to_string();
                let text = if method == "textDocument/didOpen" {
                    doc["text"].as_str().unwrap_or("")
                } else {
                    params["contentChanges"][0]["text"].as_str().unwrap_or("")
                }
                .to_string();
                let version = doc["version"].as_i64().unwrap_or(0);
                let published = if options.stale { version - 1 } else { version };
                let diagnostics = diagnostics(&text);
                texts.insert(uri.clone(), text);
                let notification = json!({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                    "params": {"uri": uri, "version": published, "diagnostics": diagnostics}});
                if options.slow_diagnostics > 0 {
                    let out = out.clone();
                    let delay = Duration::from_millis(options.slow_diagnostics);
                    std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        send(&out, &notification);
                    });
                } else {
                    send(&out, &notification);
                }
            }
            "textDocument/definition" | "textDocument/references" => {
                let all = method == "textDocument/references";
                let mut found = Vec::new();
                for (uri, text) in &texts {
                    for (i, line) in text.lines().enumerate() {
                        let Some(at) = line.find("target") else {
                            continue;
                        };
                        if all || line[..at].ends_with("fn ") {
                            let character = line[..at].encode_utf16().count();
                            found.push(json!({"uri": uri, "range": {
                                "start": {"line": i, "character": character},
                                "end": {"line": i, "character": character + 6}}}));
                        }
                    }
                }
                send(&out, &reply(Value::Array(found)));
            }
            "workspace/symbol" => {
                let query = params["query"].as_str().unwrap_or("");
                let mut found = Vec::new();
                for (uri, text) in &texts {
                    for (i, line) in text.lines().enumerate() {
                        let Some(at) = line.find("fn ") else {
                            continue;
                        };
                        let name: String = line[at + 3..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if name.is_empty() || !name.contains(query) {
                            continue;
                        }
                        let character = line[..at + 3].encode_utf16().count();
                        found.push(json!({"name": name, "kind": 12, "location": {"uri": uri,
                            "range": {"start": {"line": i, "character": character},
                                      "end": {"line": i, "character": character + name.len()}}}}));
                    }
                }
                send(&out, &reply(Value::Array(found)));
            }
            "shutdown" => send(&out, &reply(Value::Null)),
            "exit" => std::process::exit(0),
            _ if !id.is_null() => send(&out, &reply(Value::Null)),
            _ => {}
        }
    }
}

/// The `.fx` files under `dir` (as a workspace-wide server indexes its root), unless
/// already shown.
fn index(dir: &std::path::Path, texts: &mut HashMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            index(&path, texts);
        } else if path.extension().is_some_and(|e| e == "fx")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            texts
                .entry(format!("file://{}", path.display()))
                .or_insert(text);
        }
    }
}

/// One error per line containing `ERROR`.
fn diagnostics(text: &str) -> Vec<Value> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let at = line.find("ERROR")?;
            let character = line[..at].encode_utf16().count();
            Some(json!({
                "range": {"start": {"line": i, "character": character},
                          "end": {"line": i, "character": character + 5}},
                "severity": 1,
                "source": "fixture",
                "message": format!("bad line: {}", line.trim()),
            }))
        })
        .collect()
}

fn read_message(input: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if length.is_some() {
                break;
            }
            continue;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    input.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn send(out: &Out, message: &Value) {
    let body = message.to_string();
    let mut out = out.lock().unwrap();
    let _ = write!(out, "Content-Length: {}\r\n\r\n{body}", body.len());
    let _ = out.flush();
}

fn private_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from)
}

fn write_private(name: &str, text: &str) {
    if let Some(dir) = private_dir() {
        let _ = std::fs::write(dir.join(name), text);
    }
}

fn log(event: &Value) {
    if let Some(dir) = private_dir()
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("lsp.log"))
    {
        let _ = writeln!(file, "{event}");
    }
}
