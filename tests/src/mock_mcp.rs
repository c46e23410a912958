//! A streamable-HTTP MCP server on loopback for the end-to-end tests: JSON-RPC over
//! `POST` answered as JSON or as server-sent events, a session id, `GET` refused (no
//! server stream), `DELETE` ending the session. It records every request (method,
//! headers, body), so a test can tell what conch sent, and can demand a bearer token.
//!
//! Written by hand on `std::net`, as the LLM mock is: the tests crate stays free of an
//! HTTP framework, and each answer is exactly what the test chose.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::wire::{Incoming, header, read_request};

/// The path the server answers on; others get a 404.
pub const MCP_PATH: &str = "/mcp";
/// How long a hung call holds its connection before closing it.
const HANG: Duration = Duration::from_secs(30);
/// The session id it hands out at `initialize`.
pub const SESSION_ID: &str = "mock-session-1";

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct McpHttpOptions {
    /// Requests without `Authorization: Bearer TOKEN` get a 401.
    pub token: Option<String>,
    /// Answer requests as server-sent events instead of a JSON body.
    pub sse: bool,
    /// Never answer a `tools/call` (the connection is held, then closed).
    pub hang_calls: bool,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct McpRequest {
    pub method: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The JSON-RPC message, `Null` for a bodiless request.
    pub body: Value,
}

impl McpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The JSON-RPC method, if the body is a message.
    pub fn rpc_method(&self) -> Option<&str> {
        self.body["method"].as_str()
    }
}

/// A running server; it stops when the test process ends.
pub struct McpHttpMock {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<McpRequest>>>,
}

impl McpHttpMock {
    /// Starts the server on an ephemeral loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[allow(clippy::expect_used)]
    pub fn start(options: McpHttpOptions) -> McpHttpMock {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let _ = thread::Builder::new()
            .name("mock-mcp-http".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let options = options.clone();
                    let recorded = recorded.clone();
                    let _ = thread::Builder::new()
                        .name("mock-mcp-conn".into())
                        .spawn(move || serve_connection(stream, &options, &recorded));
                }
            });
        McpHttpMock { addr, requests }
    }

    /// The server's MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<McpRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `tools/call` requests so far.
    pub fn tool_calls(&self) -> Vec<McpRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.rpc_method() == Some("tools/call"))
            .collect()
    }
}

fn serve_connection(
    mut stream: TcpStream,
    options: &McpHttpOptions,
    recorded: &Mutex<Vec<McpRequest>>,
) {
    let mut unread = Vec::new();
    while let Ok(Some(request)) = read_request(&mut stream, &mut unread) {
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(McpRequest {
                method: request.method.clone(),
                headers: request.headers.clone(),
                body: body.clone(),
            });
        if answer(&mut stream, options, &request, &body).is_err() {
            return;
        }
    }
}

/// Writes the answer to one request.
fn answer(
    stream: &mut TcpStream,
    options: &McpHttpOptions,
    request: &Incoming,
    body: &Value,
) -> io::Result<()> {
    if request.path != MCP_PATH {
        return respond(stream, "404 Not Found", &[], "text/plain", b"no such path");
    }
    if let Some(token) = &options.token {
        let sent = header(&request.headers, "authorization");
        if sent != Some(format!("Bearer {token}").as_str()) {
            return respond(
                stream,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Bearer realm=\"mock\"")],
                "text/plain",
                b"a bearer token is required",
            );
        }
    }
    match request.method.as_str() {
        "GET" => respond(stream, "405 Method Not Allowed", &[], "text/plain", b""),
        "DELETE" => respond(stream, "200 OK", &[], "text/plain", b""),
        "POST" => post(stream, options, request, body),
        _ => respond(stream, "405 Method Not Allowed", &[], "text/plain", b""),
    }
}

fn post(
    stream: &mut TcpStream,
    options: &McpHttpOptions,
    request: &Incoming,
    body: &Value,
) -> io::Result<()> {
    let method = body["method"].as_str().unwrap_or("");
    let Some(id) = body.get("id").cloned() else {
        // A notification or a response: nothing to answer.
        return respond(stream, "202 Accepted", &[], "text/plain", b"");
    };
    if method != "initialize" && header(&request.headers, "mcp-session-id") != Some(SESSION_ID) {
        return respond(
            stream,
            "400 Bad Request",
            &[],
            "text/plain",
            b"missing or unknown Mcp-Session-Id",
        );
    }
    let result = match method {
        "initialize" => json!({
            "protocolVersion": body["params"]["protocolVersion"],
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "mock-mcp-http", "version": "0.1.0"}
        }),
        "tools/list" => json!({"tools": [{
            "name": "echo",
            "description": "Echoes its text back.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"]
            }
        }]}),
        "tools/call" if options.hang_calls => {
            thread::sleep(HANG);
            return Err(io::Error::other("hung on purpose"));
        }
        "tools/call" => {
            let text = body["params"]["arguments"]["text"].as_str().unwrap_or("");
            json!({"content": [{"type": "text", "text": format!("echo over http: {text}")}]})
        }
        "ping" => json!({}),
        other => {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {other}")}});
            return message(stream, options, &error);
        }
    };
    message(
        stream,
        options,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

/// One JSON-RPC message, as a JSON body or as one server-sent event.
fn message(stream: &mut TcpStream, options: &McpHttpOptions, message: &Value) -> io::Result<()> {
    let session = [("Mcp-Session-Id", SESSION_ID)];
    if options.sse {
        let event = format!("event: message\ndata: {message}\n\n");
        respond(
            stream,
            "200 OK",
            &session,
            "text/event-stream",
            event.as_bytes(),
        )
    } else {
        respond(
            stream,
            "200 OK",
            &session,
            "application/json",
            message.to_string().as_bytes(),
        )
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
