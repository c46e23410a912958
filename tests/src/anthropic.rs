//! A mock Anthropic Messages API on loopback, for driving a real agent CLI (Claude Code)
//! in tests: the first request of a conversation is answered with one `tool_use` of the
//! CLI's own Bash tool, the request carrying its result with a text saying what the tool
//! returned; requests without tools (a CLI's side queries) get a short text.
//!
//! [`MockAnthropic::scripted`] answers with a list of tool calls instead, one per
//! request in order (the first request without a result yet gets the first call), each
//! made only when the request offers that tool.
//!
//! Unlike [`crate::mock::MockLlm`] it is not scripted turn by turn: a real CLI decides on
//! its own how many requests it sends, so the answer depends only on what is asked.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use serde_json::{Value, json};

use crate::wire::{Incoming, read_request};

/// The mock server; it runs until the test process ends.
pub struct MockAnthropic {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl MockAnthropic {
    /// Starts a server whose tool call runs `command` with the CLI's Bash tool.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start(command: &str) -> io::Result<Self> {
        Self::scripted(vec![(
            "Bash".into(),
            json!({"command": command, "description": "Run the command the user asked for"}),
        )])
    }

    /// Starts a server that calls the tools `calls` names with their inputs, in order.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn scripted(calls: Vec<(String, Value)>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let calls = Arc::new(calls);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = Arc::clone(&recorded);
                let calls = Arc::clone(&calls);
                thread::spawn(move || serve(stream, &recorded, &calls));
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

fn serve(mut stream: TcpStream, recorded: &Mutex<Vec<Value>>, calls: &[(String, Value)]) {
    let mut unread = Vec::new();
    while let Ok(Some(request)) = read_request(&mut stream, &mut unread) {
        if respond(&mut stream, recorded, calls, &request).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn respond(
    stream: &mut TcpStream,
    recorded: &Mutex<Vec<Value>>,
    calls: &[(String, Value)],
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
            let (blocks, stop) = reply(&body, calls);
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

/// The content blocks and stop reason answering `request`: the next scripted call, or
/// once the script is done, a text saying what the last tool returned.
fn reply(request: &Value, calls: &[(String, Value)]) -> (Vec<Value>, &'static str) {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let is_result = |b: &Value| b["type"] == "tool_result";
    let answered = messages
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| is_result(b))
        .count();
    let offered = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
    };
    if let Some((name, input)) = calls.get(answered)
        && offered(name)
    {
        let call = json!({"type": "tool_use", "id": format!("toolu_mock_{}", answered + 1),
            "name": name, "input": input});
        return (vec![call], "tool_use");
    }
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let result = last["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| is_result(b)));
    if let Some(result) = result {
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
        return (vec![json!({"type": "text", "text": text})], "end_turn");
    }
    (vec![json!({"type": "text", "text": "none"})], "end_turn")
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
