//! A mock Anthropic Messages API on loopback, for driving a real agent CLI (Claude Code)
//! in tests: a conversation is answered with a script of the CLI's own tool uses, one
//! per request (the request carrying the n-th tool result gets the n+1-th use), then with
//! a text saying what the last tool returned; requests without tools (a CLI's side
//! queries) get a short text.
//!
//! Unlike [`crate::mock::MockLlm`] it is not scripted turn by turn: a real CLI decides on
//! its own how many requests it sends, so the answer depends only on what is asked.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use serde_json::{Value, json};

use crate::wire::{Incoming, read_request};

/// The mock server; it runs until the test process ends.
pub struct MockAnthropic {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// One use of a CLI's own tool: its name and input.
#[derive(Debug, Clone)]
pub struct ToolUse {
    pub name: String,
    pub input: Value,
}

impl ToolUse {
    pub fn new(name: &str, input: Value) -> Self {
        ToolUse {
            name: name.to_string(),
            input,
        }
    }

    /// Claude Code's Bash tool running `command`.
    pub fn bash(command: &str) -> Self {
        ToolUse::new(
            "Bash",
            json!({"command": command, "description": "Run the command the user asked for"}),
        )
    }
}

impl MockAnthropic {
    /// Starts a server whose tool call runs `command` with the CLI's Bash tool.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start(command: &str) -> io::Result<Self> {
        MockAnthropic::scripted(vec![ToolUse::bash(command)])
    }

    /// Starts a server that answers a conversation with the tool uses of `script`, one
    /// per request, in order.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn scripted(script: Vec<ToolUse>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let script = Arc::new(script);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = Arc::clone(&recorded);
                let script = Arc::clone(&script);
                thread::spawn(move || serve(stream, &recorded, &script));
            }
        });
        Ok(MockAnthropic { url, requests })
    }

    /// The base URL, for `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bodies of the Messages requests so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn serve(mut stream: TcpStream, recorded: &Mutex<Vec<Value>>, script: &[ToolUse]) {
    let mut unread = Vec::new();
    while let Ok(Some(request)) = read_request(&mut stream, &mut unread) {
        if respond(&mut stream, recorded, script, &request).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn respond(
    stream: &mut TcpStream,
    recorded: &Mutex<Vec<Value>>,
    script: &[ToolUse],
    request: &Incoming,
) -> io::Result<()> {
    let path = request.path.split('?').next().unwrap_or_default();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    match (request.method.as_str(), path) {
        ("POST", "/v1/messages/count_tokens") => {
            write(stream, 200, "application/json", &json!({"input_tokens": 100}).to_string())
        }
        ("POST", "/v1/messages") => {
            recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(body.clone());
            let (blocks, stop) = reply(&body, script);
            if body["stream"] == true {
                write(stream, 200, "text/event-stream", &events(&body, &blocks, stop))
            } else {
                let mut message = message(&body);
                message["content"] = Value::Array(blocks);
                message["stop_reason"] = json!(stop);
                write(stream, 200, "application/json", &message.to_string())
            }
        }
        _ => write(
            stream,
            404,
            "application/json",
            &json!({"type": "error", "error": {"type": "not_found_error", "message": "no such route"}})
                .to_string(),
        ),
    }
}

/// The content blocks and stop reason answering `request`: the next tool use of
/// `script`, or a text about the last tool result once the script is done.
fn reply(request: &Value, script: &[ToolUse]) -> (Vec<Value>, &'static str) {
    let results: Vec<&Value> = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .collect();
    let offered = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
    };
    match script.get(results.len()) {
        Some(next) if offered(&next.name) => {
            let call = json!({"type": "tool_use", "id": format!("toolu_mock_{}", results.len() + 1),
                "name": next.name, "input": next.input});
            (vec![call], "tool_use")
        }
        _ => {
            let Some(result) = results.last() else {
                return (vec![json!({"type": "text", "text": "none"})], "end_turn");
            };
            let output = match &result["content"] {
                Value::String(text) => text.clone(),
                Value::Array(blocks) => blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            let text = if result["is_error"] == true {
                format!("I could not run it: {output}")
            } else {
                format!("It ran; the output was: {output}")
            };
            (vec![json!({"type": "text", "text": text})], "end_turn")
        }
    }
}

/// An empty assistant message for `request`.
fn message(request: &Value) -> Value {
    json!({"id": "msg_mock", "type": "message", "role": "assistant",
        "model": request["model"], "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 1}})
}

/// The streamed form of an answer: Server-Sent Events as the Messages API sends them.
fn events(request: &Value, blocks: &[Value], stop: &str) -> String {
    let mut out = String::new();
    let mut event = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    event(
        "message_start",
        json!({"type": "message_start", "message": message(request)}),
    );
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = if block["type"] == "tool_use" {
            (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            )
        } else {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            )
        };
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": 20}}),
    );
    event("message_stop", json!({"type": "message_stop"}));
    out
}

fn write(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) -> io::Result<()> {
    let reason = if status == 200 { "OK" } else { "Not Found" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The package and version the test runs (pinned: the stream-json protocol evolves).
pub const PACKAGE: &str = "@anthropic-ai/claude-code@2.1.197";

/// The real `claude` program for the tests that drive it: `CONCH_TEST_CLAUDE` if set,
/// else installed with npm into the build dir once. Fails plainly when it cannot be
/// installed.
///
/// # Panics
/// When it is not installed and npm cannot install it.
pub fn claude() -> PathBuf {
    if let Some(path) = std::env::var_os("CONCH_TEST_CLAUDE") {
        return PathBuf::from(path);
    }
    // Once per test process: tests run on parallel threads, and two npm installs into
    // one dir let a test start the binary while the other install rewrites it
    // (`Text file busy` on a fresh checkout).
    static INSTALLED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
