//! `conch mcp serve`: conch's tools served over MCP stdio, driven by plain JSON-RPC lines
//! and by the real Claude Code CLI (against the loopback mock Anthropic API) as the
//! client. Calls go through conch's gate: headless, an edit is refused and recorded in the
//! server's one session; allowed, it is journaled so `conch undo` puts it back.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use conch_tests::anthropic::{MockAnthropic, ToolUse};
use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{conch_bin, run, shared_cache, wait_or_fail};
use serde_json::{Value, json};

/// A running `conch mcp serve` and its lines of output.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(project: &Project, flags: &[&str]) -> Server {
        let cwd = project.path();
        let mut args = vec!["mcp", "serve", "--cwd", cwd.to_str().unwrap()];
        args.extend_from_slice(flags);
        let mut child = project
            .conch(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start conch mcp serve");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns the response with its id (fails rather than hangs).
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC: {line:?}: {e}"));
            if message["id"] == id {
                return message;
            }
        }
    }

    fn initialize(&mut self) -> Value {
        let answer = self.request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "conch-tests", "version": "0"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        answer
    }

    fn call(&mut self, id: u64, name: &str, arguments: Value) -> Value {
        let answer = self.request(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        );
        answer["result"].clone()
    }

    /// Closes stdin (the client is gone) and waits for the server to end.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        wait_or_fail(&mut self.child, "conch mcp serve after stdin closed")
    }
}

fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no content: {result}"))
        .iter()
        .filter_map(|block| block["text"].as_str())
        .collect()
}

fn permissions(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "permission").collect()
}

#[test]
fn json_rpc_client_lists_tools_reads_and_is_refused_an_edit_headless() {
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write("notes.txt", "the served line\n");
    let mut server = Server::start(&project, &[]);

    let init = server.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "conch", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );

    let list = server.request(2, "tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().expect("tools").clone();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
            .clone()
    };
    for name in ["read", "write", "edit", "grep", "bash"] {
        let tool = tool(name);
        assert!(!tool["description"].as_str().unwrap().is_empty(), "{tool}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    assert!(tool("read")["inputSchema"]["properties"]["path"].is_object());

    let read = server.call(3, "read", json!({"path": "notes.txt"}));
    assert_ne!(read["isError"], true, "{read}");
    assert!(text_of(&read).contains("the served line"), "{read}");

    // Nobody can be asked: an edit that would ask is refused, and says so.
    let write = server.call(
        4,
        "write",
        json!({"path": "notes.txt", "content": "overwritten\n"}),
    );
    assert_eq!(write["isError"], true, "{write}");
    assert!(!text_of(&write).is_empty(), "{write}");

    let bad = server.call(5, "read", json!({"no_such_argument": 1}));
    assert_eq!(bad["isError"], true, "{bad}");

    let ping = server.request(6, "ping", json!({}));
    assert!(ping["result"].is_object(), "{ping}");

    assert!(server.finish().success());
    assert_eq!(
        std::fs::read_to_string(project.path().join("notes.txt")).unwrap(),
        "the served line\n"
    );
    // One session for the run, marked as a server run, with the refusal in it.
    let lines = project.session_lines();
    assert_eq!(lines[0]["tool_run"], "mcp serve", "{:?}", lines[0]);
    assert!(
        permissions(&lines)
            .iter()
            .any(|p| p["tool"] == "write" && p["allowed"] == false),
        "{lines:?}"
    );
    let listed = run(&mut project.conch(&["sessions"]));
    assert!(listed.stdout.contains("(conch mcp serve)"), "{listed:?}");
}

#[test]
fn an_allowed_edit_is_journaled_undone_by_conch_undo_and_stale_checked_after_a_read() {
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write("notes.txt", "before\n");
    let mut server = Server::start(&project, &["--allow-edit"]);
    server.initialize();
    let first = server.call(
        2,
        "write",
        json!({"path": "notes.txt", "content": "after\n"}),
    );
    assert_ne!(first["isError"], true, "{first}");
    let second = server.call(3, "write", json!({"path": "new.txt", "content": "made\n"}));
    assert_ne!(second["isError"], true, "{second}");
    // A file read through this server and changed on disk since is not overwritten.
    project.write("seen.txt", "as read\n");
    let read = server.call(4, "read", json!({"path": "seen.txt"}));
    assert_ne!(read["isError"], true, "{read}");
    project.write("seen.txt", "changed behind conch's back\n");
    let stale = server.call(5, "write", json!({"path": "seen.txt", "content": "x\n"}));
    assert_eq!(stale["isError"], true, "{stale}");
    assert!(text_of(&stale).contains("changed since"), "{stale}");
    assert!(server.finish().success());
    assert_eq!(
        std::fs::read_to_string(project.path().join("seen.txt")).unwrap(),
        "changed behind conch's back\n"
    );
    let notes = project.path().join("notes.txt");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "after\n");
    assert_eq!(project.session_files().len(), 1, "one session per run");

    // `conch undo` finds the server's session and takes its changes back, last first.
    for _ in 0..2 {
        let out = run(&mut project.conch(&["undo"]));
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "before\n");
    assert!(!project.path().join("new.txt").exists());
}

#[test]
fn claude_code_reads_through_conch_and_is_refused_an_edit() {
    let api = MockAnthropic::scripted(vec![
        ToolUse::new("mcp__conch__read", json!({"path": "notes.txt"})),
        ToolUse::new(
            "mcp__conch__write",
            json!({"path": "notes.txt", "content": "written by claude\n"}),
        ),
    ])
    .unwrap();
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write("notes.txt", "a line only conch has read\n");
    let root = project.path().join("..");
    let home = root.join("claude-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = json!({"mcpServers": {"conch": {
        "type": "stdio",
        "command": conch_bin(),
        "args": ["mcp", "serve", "--cwd", project.path()],
        "env": {
            "CONCH_DATA_DIR": root.join("data"),
            "CONCH_CONFIG_DIR": root.join("config"),
            "CONCH_CACHE_DIR": shared_cache(),
        },
    }}});
    let config_file = root.join("mcp.json");
    std::fs::write(&config_file, config.to_string()).unwrap();

    let out = run(Command::new(conch_tests::anthropic::claude())
        .current_dir(project.path())
        .args([
            "-p",
            "read notes.txt, then overwrite it",
            "--output-format",
            "json",
        ])
        .arg("--mcp-config")
        .arg(&config_file)
        .args([
            "--strict-mcp-config",
            "--allowedTools",
            "mcp__conch",
            "--model",
            "sonnet",
        ])
        .env("ANTHROPIC_BASE_URL", api.url())
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .env("HOME", &home)
        .env("ENABLE_TOOL_SEARCH", "false")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .stdin(Stdio::null()));
    assert_eq!(out.code, Some(0), "{out:?}");

    // The read's content came back to the model as the tool's result.
    let requests = api.requests();
    let results: Vec<Value> = requests
        .iter()
        .filter_map(|r| r["messages"].as_array())
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .cloned()
        .collect();
    let result_text = |id: &str| -> Option<(String, bool)> {
        let result = results.iter().find(|r| r["tool_use_id"] == id)?;
        let text = match &result["content"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Some((text, result["is_error"] == true))
    };
    let (read, read_failed) = result_text("toolu_mock_1").expect("the read's result");
    assert!(!read_failed, "{read}");
    assert!(read.contains("a line only conch has read"), "{read}");
    let (write, write_failed) = result_text("toolu_mock_2").expect("the write's result");
    assert!(write_failed, "{write}");

    // conch refused it: the file is as it was, and the server's session says so.
    assert_eq!(
        std::fs::read_to_string(project.path().join("notes.txt")).unwrap(),
        "a line only conch has read\n"
    );
    let lines = project.session_lines();
    assert_eq!(lines[0]["tool_run"], "mcp serve", "{:?}", lines[0]);
    assert!(
        permissions(&lines)
            .iter()
            .any(|p| p["tool"] == "write" && p["allowed"] == false),
        "{lines:?}"
    );
}
