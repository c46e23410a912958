//! A scriptable OpenAI-compatible chat-completions server on loopback, so end-to-end
//! tests can run the real `conch` binary against a model whose every answer they chose.
//!
//! Plain `std::net` and a thread per connection: the tests need byte-level control over
//! what goes on the wire (a stream cut mid tool call, headers then silence), which an
//! HTTP framework would hide. Like a real API it checks each request's messages before
//! answering, so a client that sends a malformed conversation fails here as it would
//! against a hosted model.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::wire::{Incoming, header, read_request};

/// The route the mock answers with its script; every other path gets a 404, except
/// [`MODELS_PATH`] once [`MockLlm::serve_models`] gave it a list.
const CHAT_PATH: &str = "/v1/chat/completions";

/// `GET` lists the models (the OpenAI shape), when the test gave a list.
const MODELS_PATH: &str = "/v1/models";

/// What the mock answers to one chat-completions request, in script order.
///
/// Built with the constructors below; `retry_after` and `usage` apply to any reply.
#[derive(Debug, Clone)]
pub struct Reply {
    kind: Kind,
    retry_after: Option<u64>,
    usage: Option<(u64, u64)>,
    /// Reported as `prompt_tokens_details.cached_tokens` when set.
    cached_tokens: Option<u64>,
}

#[derive(Debug, Clone)]
enum Kind {
    Answer(Answer),
    Status {
        code: u16,
        body: Value,
    },
    Hang {
        send_headers: bool,
    },
    Malformed,
    DropMidToolCall(ScriptedCall),
    /// The first `chunks` words of a text streamed, then the connection closed.
    CutText {
        text: String,
        chunks: usize,
    },
    JsonOnly(String),
}

/// A complete assistant turn: optional reasoning, text, then tool calls.
#[derive(Debug, Clone, Default)]
struct Answer {
    reasoning: String,
    text: String,
    calls: Vec<ScriptedCall>,
    /// Sleep between two streamed deltas (zero: no sleep).
    pause: Duration,
}

#[derive(Debug, Clone)]
struct ScriptedCall {
    name: String,
    /// The arguments exactly as sent, which need not be valid JSON.
    arguments: String,
    /// The id to send instead of the next `call_N` (a misbehaving server's).
    id: Option<String>,
}

impl Reply {
    fn new(kind: Kind) -> Self {
        Reply {
            kind,
            retry_after: None,
            usage: None,
            cached_tokens: None,
        }
    }

    fn answer(answer: Answer) -> Self {
        Reply::new(Kind::Answer(answer))
    }

    /// An assistant text, streamed as one delta per word; finish reason `stop`.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::answer(Answer {
            text: text.into(),
            ..Answer::default()
        })
    }

    /// `reasoning_content` deltas first, then the text; finish reason `stop`.
    pub fn reasoning(reasoning: impl Into<String>, text: impl Into<String>) -> Self {
        Reply::answer(Answer {
            reasoning: reasoning.into(),
            text: text.into(),
            ..Answer::default()
        })
    }

    /// One tool call with these arguments; finish reason `tool_calls`.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Reply::tool_calls([(name, arguments)])
    }

    /// Several tool calls in one turn, in this order.
    ///
    /// Ids are `call_1`, `call_2`, … counted across the whole server in the order the
    /// calls are sent. Each call streams a first delta with `index`, `id`, `type`, the
    /// function name and empty arguments, then its arguments in at least two deltas
    /// (when they are two characters or more).
    pub fn tool_calls<N: Into<String>>(calls: impl IntoIterator<Item = (N, Value)>) -> Self {
        Reply::answer(Answer {
            calls: calls
                .into_iter()
                .map(|(name, arguments)| ScriptedCall {
                    name: name.into(),
                    arguments: arguments.to_string(),
                    id: None,
                })
                .collect(),
            ..Answer::default()
        })
    }

    /// Several tool calls that all carry the same `id`, as a misbehaving server sends.
    pub fn tool_calls_sharing_id<N: Into<String>>(
        id: &str,
        calls: impl IntoIterator<Item = (N, Value)>,
    ) -> Self {
        let mut reply = Reply::tool_calls(calls);
        if let Kind::Answer(answer) = &mut reply.kind {
            for call in &mut answer.calls {
                call.id = Some(id.to_string());
            }
        }
        reply
    }

    /// One tool call whose arguments text is sent as given, valid JSON or not.
    pub fn tool_call_raw(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Reply::answer(Answer {
            calls: vec![ScriptedCall {
                name: name.into(),
                arguments: arguments.into(),
                id: None,
            }],
            ..Answer::default()
        })
    }

    /// The assistant text streamed before the tool calls of this reply.
    ///
    /// # Panics
    /// On a reply that is not an assistant turn (a status, a hang…): a bug in the script.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        match &mut self.kind {
            Kind::Answer(answer) => answer.text = text.into(),
            other => panic!("with_text applies to an assistant turn, not {other:?}"),
        }
        self
    }

    /// An HTTP error status with a generic OpenAI-style error body.
    pub fn status(code: u16) -> Self {
        let body = error_body(&format!("mock error (status {code})"), "mock_error", None);
        Reply::new(Kind::Status { code, body })
    }

    /// Adds a `Retry-After: SECS` header to the response.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Replaces the JSON body of a status reply.
    ///
    /// # Panics
    /// On a reply made by anything but a status constructor: a bug in the script.
    pub fn error_body(mut self, json: Value) -> Self {
        match &mut self.kind {
            Kind::Status { body, .. } => *body = json,
            other => panic!("error_body applies to a status reply, not {other:?}"),
        }
        self
    }

    /// The usage reported for this reply, instead of the estimate (request body
    /// length / 4 for the prompt, generated text length / 4 for the completion).
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// Of the prompt tokens, `cached` reported as served from the prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`, as OpenAI sends it).
    pub fn cached_tokens(mut self, cached: u64) -> Self {
        self.cached_tokens = Some(cached);
        self
    }

    /// 429 with `Retry-After: SECS`, as a provider's rate limiter answers.
    pub fn rate_limited(secs: u64) -> Self {
        Reply::status(429).retry_after(secs).error_body(error_body(
            "Rate limit reached for requests. Please try again later.",
            "requests",
            Some("rate_limit_exceeded"),
        ))
    }

    /// 500, the provider's own failure.
    pub fn server_error() -> Self {
        Reply::status(500).error_body(error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ))
    }

    /// 401 for a wrong API key.
    pub fn unauthorized() -> Self {
        Reply::status(401).error_body(error_body(
            "Incorrect API key provided",
            "invalid_request_error",
            Some("invalid_api_key"),
        ))
    }

    /// 404 for a model the key cannot use.
    pub fn model_not_found(model: &str) -> Self {
        Reply::status(404).error_body(error_body(
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        ))
    }

    /// 400 for a conversation longer than the model's context window.
    pub fn context_overflow() -> Self {
        Reply::status(400).error_body(error_body(
            "This model's maximum context length is 128000 tokens. However, your messages \
             resulted in 200000 tokens.",
            "invalid_request_error",
            Some("context_length_exceeded"),
        ))
    }

    /// 200 headers, then silence until the mock is dropped (a client's idle timeout).
    pub fn hang() -> Self {
        Reply::new(Kind::Hang { send_headers: true })
    }

    /// Reads the request and sends nothing at all until the mock is dropped.
    pub fn hang_before_headers() -> Self {
        Reply::new(Kind::Hang {
            send_headers: false,
        })
    }

    /// A 200 whose first data line is not JSON (then `[DONE]`); unstreamed, a body that
    /// is not JSON.
    pub fn malformed() -> Self {
        Reply::new(Kind::Malformed)
    }

    /// The first delta of a tool call and part of its arguments, then the socket closes:
    /// no finish reason, no `[DONE]`, the chunked body never terminated.
    pub fn drop_mid_tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Reply::new(Kind::DropMidToolCall(ScriptedCall {
            name: name.into(),
            arguments: arguments.to_string(),
            id: None,
        }))
    }

    /// The first `chunks` words of `text` streamed as deltas, then the connection closed
    /// mid-answer (a cut stream the client retries).
    pub fn cut_text(text: impl Into<String>, chunks: usize) -> Self {
        Reply::new(Kind::CutText {
            text: text.into(),
            chunks,
        })
    }

    /// `chunks` text deltas (`w1 `, `w2 `, …) with `delay` between two of them, for
    /// tests that interrupt the client mid-stream (see [`MockLlm::wait_for_first_chunk`]).
    /// Unstreamed, the text comes at once.
    pub fn slow_text(chunks: usize, delay: Duration) -> Self {
        let text: Vec<String> = (1..=chunks).map(|k| format!("w{k}")).collect();
        Reply::answer(Answer {
            text: text.join(" "),
            pause: delay,
            ..Answer::default()
        })
    }

    /// A non-streaming `chat.completion` JSON object even when the request asked for a
    /// stream (a client's fallback for servers that ignore `stream`).
    pub fn json_only(text: impl Into<String>) -> Self {
        Reply::new(Kind::JsonOnly(text.into()))
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request target as sent, query included.
    pub path: String,
    /// Header names in lowercase, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` when it was empty or not JSON.
    pub body: Value,
    /// When the whole request had been read.
    pub received_at: Instant,
    /// When the first streamed data chunk went to the socket, for streamed replies
    /// (stamped just before the write, so it is set before the client can read it).
    pub first_chunk_at: Option<Instant>,
    /// When the last bytes of the reply went to the socket (stamped just before that
    /// write, so it is set once a client has the whole reply); `None` while the reply is
    /// still being sent, when it failed, and for replies that never finish (hangs).
    pub responded_at: Option<Instant>,
    /// Why the mock refused the request as a real API would (HTTP 400); a refused
    /// request consumes no script entry.
    pub rejected: Option<String>,
}

impl Recorded {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A running mock; dropping it stops the server and releases every open connection.
pub struct MockLlm {
    addr: SocketAddr,
    server: Arc<Server>,
    acceptor: Option<JoinHandle<()>>,
}

impl MockLlm {
    /// Binds `127.0.0.1:0` and serves `script`, one reply per chat-completions request.
    ///
    /// # Panics
    /// When loopback cannot be bound or a thread cannot be started.
    pub fn start(script: Vec<Reply>) -> MockLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("binding the mock LLM to loopback: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("reading the mock LLM's address: {e}"));
        let server = Arc::new(Server {
            script: Mutex::new(Script {
                replies: script.into(),
                served: 0,
            }),
            requests: Mutex::new(Vec::new()),
            next_call_id: AtomicU64::new(1),
            stop: Stop::default(),
            connections: Mutex::new(Connections::default()),
            models: Mutex::new(None),
        });
        let acceptor = {
            let server = Arc::clone(&server);
            thread::Builder::new()
                .name("mock-llm-accept".into())
                .spawn(move || accept_connections(&listener, &server))
                .unwrap_or_else(|e| panic!("starting the mock LLM: {e}"))
        };
        MockLlm {
            addr,
            server,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL a client is configured with: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// From now on `GET /v1/models` answers with these ids (`{"object": "list",
    /// "data": [{"id": …, "object": "model", …}]}`), using no script entry.
    pub fn serve_models(&self, ids: &[&str]) {
        *lock(&self.server.models) = Some(ids.iter().map(|id| (*id).to_string()).collect());
    }

    /// Every request received so far, on any path, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.server.requests).clone()
    }

    /// The result the model was given for its last tool call before request `index`
    /// (counting from 0): the content of the last `tool` message that request carried,
    /// or "" when it carried none.
    pub fn last_tool_result(&self, index: usize) -> String {
        let requests = lock(&self.server.requests);
        requests
            .get(index)
            .and_then(|r| r.body["messages"].as_array())
            .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "tool"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// How many requests were received so far, on any path, refused ones included.
    pub fn request_count(&self) -> usize {
        lock(&self.server.requests).len()
    }

    /// Script entries not used yet.
    pub fn remaining_replies(&self) -> usize {
        lock(&self.server.script).replies.len()
    }

    /// Waits until at least `n` requests were received; false on timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        poll_until(timeout, || self.request_count() >= n)
    }

    /// Waits until the reply to request `index` (0-based, as in [`MockLlm::requests`])
    /// wrote its first data chunk; false on timeout.
    pub fn wait_for_first_chunk(&self, index: usize, timeout: Duration) -> bool {
        poll_until(timeout, || {
            lock(&self.server.requests)
                .get(index)
                .is_some_and(|r| r.first_chunk_at.is_some())
        })
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.server.stop.set();
        // The acceptor blocks in accept(); a connection of our own wakes it to see the stop.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = {
            let mut connections = lock(&self.server.connections);
            for stream in connections.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut connections.threads)
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// What the connection threads share.
struct Server {
    script: Mutex<Script>,
    requests: Mutex<Vec<Recorded>>,
    next_call_id: AtomicU64,
    stop: Stop,
    connections: Mutex<Connections>,
    /// What `GET /v1/models` lists; `None`: that route is a 404 like any other.
    models: Mutex<Option<Vec<String>>>,
}

struct Script {
    replies: VecDeque<Reply>,
    served: usize,
}

/// Open connections (clones, so `Drop` can shut them) and their threads.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    fn record(&self, recorded: Recorded) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(recorded);
        requests.len() - 1
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut Recorded)) {
        if let Some(recorded) = lock(&self.requests).get_mut(index) {
            change(recorded);
        }
    }

    /// The next reply, or how many were served when the script ran out.
    fn next_reply(&self) -> Result<Reply, usize> {
        let mut script = lock(&self.script);
        let reply = script.replies.pop_front().ok_or(script.served)?;
        script.served += 1;
        Ok(reply)
    }

    fn call_id(&self) -> String {
        format!("call_{}", self.next_call_id.fetch_add(1, Ordering::Relaxed))
    }
}

/// The stop flag, with a condition variable so sleeping replies wake at once on drop.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    signal: Condvar,
}

impl Stop {
    fn set(&self) {
        *lock(&self.stopped) = true;
        self.signal.notify_all();
    }

    fn is_set(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps for `duration` (until the stop when `None`); true if the server still runs.
    fn sleep(&self, duration: Option<Duration>) -> bool {
        let deadline = duration.map(|d| Instant::now() + d);
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return false;
            }
            stopped = match deadline {
                None => self
                    .signal
                    .wait(stopped)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return true;
                    }
                    self.signal
                        .wait_timeout(stopped, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// A panicking test thread must not take the mock down with a poisoned lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_connections(listener: &TcpListener, server: &Arc<Server>) {
    for stream in listener.incoming() {
        if server.stop.is_set() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let mut connections = lock(&server.connections);
        let id = connections.next_id;
        connections.next_id += 1;
        connections.open.insert(id, handle);
        let shared = Arc::clone(server);
        let spawned = thread::Builder::new()
            .name(format!("mock-llm-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, &shared);
                lock(&shared.connections).open.remove(&id);
            });
        match spawned {
            Ok(thread) => connections.threads.push(thread),
            Err(_) => {
                connections.open.remove(&id);
            }
        }
    }
}

/// Serves requests on one keep-alive connection until either side closes it; an I/O
/// error only ends this connection.
fn serve_connection(mut stream: TcpStream, server: &Server) {
    let _ = stream.set_nodelay(true);
    let mut unread = Vec::new();
    while let Ok(Some(request)) = read_request(&mut stream, &mut unread) {
        match answer(&mut stream, server, request) {
            Ok(Finish::KeepAlive) if !server.stop.is_set() => {}
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// What becomes of the connection after a reply.
enum Finish {
    KeepAlive,
    /// The client asked to close, or the reply was cut or never completed.
    Close,
}

/// Records, checks and answers one request.
fn answer(stream: &mut TcpStream, server: &Server, incoming: Incoming) -> io::Result<Finish> {
    let parsed = serde_json::from_slice::<Value>(&incoming.body);
    let index = server.record(Recorded {
        path: incoming.path.clone(),
        headers: incoming.headers.clone(),
        body: parsed.as_ref().cloned().unwrap_or(Value::Null),
        received_at: Instant::now(),
        first_chunk_at: None,
        responded_at: None,
        rejected: None,
    });
    let keep_alive =
        !header(&incoming.headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let route = incoming.path.split('?').next().unwrap_or_default();
    let mut exchange = Exchange {
        stream,
        server,
        index,
        keep_alive,
        model: String::new(),
        streaming: false,
        include_usage: false,
        prompt_tokens: (incoming.body.len() / 4) as u64,
        cached_tokens: None,
    };
    let models = lock(&server.models).clone();
    if let Some(ids) = models.filter(|_| incoming.method == "GET" && route == MODELS_PATH) {
        let data: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mock"}))
            .collect();
        return exchange.send_json(200, &[], &json!({"object": "list", "data": data}));
    }
    if incoming.method != "POST" || route != CHAT_PATH {
        let message = format!("no route for {} {}", incoming.method, incoming.path);
        let body = error_body(&message, "invalid_request_error", None);
        return exchange.send_json(404, &[], &body);
    }
    let checked = parsed
        .map_err(|e| format!("the request body is not valid JSON: {e}"))
        .and_then(|body| validate(&body).map(|()| body));
    let body = match checked {
        Ok(body) => body,
        Err(why) => {
            let body = error_body(&why, "invalid_request_error", None);
            server.update(index, |r| r.rejected = Some(why));
            return exchange.send_json(400, &[], &body);
        }
    };
    exchange.read_options(&body);
    match server.next_reply() {
        Ok(reply) => exchange.play(reply),
        Err(served) => {
            let message = format!("mock script exhausted after {served} requests");
            exchange.send_json(500, &[], &error_body(&message, "server_error", None))
        }
    }
}

/// Checks a chat-completions body as a real API does before it runs the model.
fn validate(body: &Value) -> Result<(), String> {
    if !body.is_object() {
        return Err("the request body must be a JSON object".into());
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("'model' must be a non-empty string".into());
    }
    let messages = body["messages"]
        .as_array()
        .ok_or("'messages' must be an array")?;
    // Ids of the tool calls of the assistant message the current run of tool messages
    // follows, and those of them not answered yet.
    let mut calls: Vec<String> = Vec::new();
    let mut unanswered: Vec<String> = Vec::new();
    let mut assistant_at = 0;
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"]
            .as_str()
            .ok_or_else(|| format!("messages[{i}]: 'role' must be a string"))?;
        if let Some(parts) = message["content"].as_array() {
            content_parts(role, parts, i)?;
        }
        if role == "tool" {
            let id = message["tool_call_id"]
                .as_str()
                .ok_or_else(|| format!("messages[{i}]: a tool message needs a 'tool_call_id'"))?;
            if !calls.iter().any(|c| c == id) {
                return Err(format!(
                    "messages[{i}]: the tool message answers tool_call_id '{id}', which is not \
                     a tool call of the preceding assistant message"
                ));
            }
            let Some(at) = unanswered.iter().position(|c| c == id) else {
                return Err(format!(
                    "messages[{i}]: tool_call_id '{id}' is answered twice"
                ));
            };
            unanswered.remove(at);
            continue;
        }
        if !unanswered.is_empty() {
            return Err(unanswered_calls(
                assistant_at,
                &unanswered,
                &format!("messages[{i}]"),
            ));
        }
        calls = match role {
            "system" | "user" => Vec::new(),
            "assistant" => tool_call_ids(message, i)?,
            other => return Err(format!("messages[{i}]: unknown role '{other}'")),
        };
        unanswered.clone_from(&calls);
        assistant_at = i;
    }
    if !unanswered.is_empty() {
        return Err(unanswered_calls(
            assistant_at,
            &unanswered,
            "the end of the messages",
        ));
    }
    Ok(())
}

/// A content array as chat completions take it: text parts, and image parts (a URL) in
/// user messages only.
fn content_parts(role: &str, parts: &[Value], i: usize) -> Result<(), String> {
    for (j, part) in parts.iter().enumerate() {
        let ok = match part["type"].as_str() {
            Some("text") => part["text"].is_string(),
            Some("image_url") if role == "user" => part["image_url"]["url"]
                .as_str()
                .is_some_and(|url| url.starts_with("data:image/") || url.starts_with("https://")),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "messages[{i}].content[{j}]: not a valid content part for a {role} message: {part}"
            ));
        }
    }
    Ok(())
}

fn unanswered_calls(assistant_at: usize, ids: &[String], reached: &str) -> String {
    format!(
        "messages[{assistant_at}]: an assistant message with 'tool_calls' must be followed by \
         tool messages responding to each 'tool_call_id'; {reached} came first. The following \
         tool_call_ids did not have response messages: {}",
        ids.join(", ")
    )
}

fn tool_call_ids(message: &Value, i: usize) -> Result<Vec<String>, String> {
    let calls = match &message["tool_calls"] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(calls) => calls,
        _ => return Err(format!("messages[{i}]: 'tool_calls' must be an array")),
    };
    calls
        .iter()
        .enumerate()
        .map(|(j, call)| {
            call["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("messages[{i}].tool_calls[{j}]: 'id' must be a string"))
        })
        .collect()
}

fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

/// One request being answered: the socket and what the reply needs from the request.
struct Exchange<'a> {
    stream: &'a mut TcpStream,
    server: &'a Server,
    index: usize,
    keep_alive: bool,
    model: String,
    streaming: bool,
    include_usage: bool,
    prompt_tokens: u64,
    /// The playing reply's cached prompt tokens, if it reports any.
    cached_tokens: Option<u64>,
}

impl Exchange<'_> {
    fn read_options(&mut self, body: &Value) {
        body["model"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut self.model);
        self.streaming = body["stream"].as_bool() == Some(true);
        self.include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    }

    fn play(&mut self, reply: Reply) -> io::Result<Finish> {
        self.cached_tokens = reply.cached_tokens;
        let extra: Vec<(&str, String)> = reply
            .retry_after
            .map(|secs| ("Retry-After", secs.to_string()))
            .into_iter()
            .collect();
        match reply.kind {
            Kind::Status { code, body } => self.send_json(code, &extra, &body),
            Kind::Answer(answer) if self.streaming => {
                self.stream_answer(&answer, reply.usage, &extra)
            }
            Kind::Answer(answer) => {
                let completion = self.completion(&answer, reply.usage);
                self.send_json(200, &extra, &completion)
            }
            Kind::JsonOnly(text) => {
                let answer = Answer {
                    text,
                    ..Answer::default()
                };
                let completion = self.completion(&answer, reply.usage);
                self.send_json(200, &extra, &completion)
            }
            Kind::Hang { send_headers } => {
                if send_headers {
                    self.start_chunked(&extra)?;
                }
                self.server.stop.sleep(None);
                Ok(Finish::Close)
            }
            Kind::Malformed if self.streaming => {
                self.start_chunked(&extra)?;
                self.send_event("{not json")?;
                self.end_stream()?;
                Ok(self.after_reply())
            }
            Kind::Malformed => {
                self.send_body(200, &extra, "application/json", b"{not json")?;
                Ok(self.after_reply())
            }
            Kind::DropMidToolCall(call) => self.drop_mid_tool_call(&call, &extra),
            Kind::CutText { text, chunks } => {
                self.start_chunked(&extra)?;
                for word in words(&text).take(chunks) {
                    let delta = json!({ "role": "assistant", "content": word });
                    self.send_event(&self.chunk(delta, None).to_string())?;
                }
                self.write_last(&[])?;
                let _ = self.stream.shutdown(Shutdown::Both);
                Ok(Finish::Close)
            }
        }
    }

    fn stream_answer(
        &mut self,
        answer: &Answer,
        usage: Option<(u64, u64)>,
        extra: &[(&str, String)],
    ) -> io::Result<Finish> {
        let mut deltas: Vec<Value> = Vec::new();
        deltas.extend(words(&answer.reasoning).map(|w| json!({ "reasoning_content": w })));
        deltas.extend(words(&answer.text).map(|w| json!({ "content": w })));
        for (index, call) in answer.calls.iter().enumerate() {
            deltas.push(json!({ "tool_calls": [{
                "index": index,
                "id": call.id.clone().unwrap_or_else(|| self.server.call_id()),
                "type": "function",
                "function": { "name": call.name, "arguments": "" },
            }]}));
            deltas.extend(thirds(&call.arguments).into_iter().map(|part| {
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": part } }] })
            }));
        }
        if deltas.is_empty() {
            deltas.push(json!({ "content": "" }));
        }
        deltas[0]["role"] = json!("assistant");

        self.start_chunked(extra)?;
        for (k, delta) in deltas.into_iter().enumerate() {
            if k > 0 && !answer.pause.is_zero() && !self.server.stop.sleep(Some(answer.pause)) {
                return Ok(Finish::Close);
            }
            self.send_event(&self.chunk(delta, None).to_string())?;
        }
        let finish = finish_reason(answer);
        self.send_event(&self.chunk(json!({}), Some(finish)).to_string())?;
        if self.include_usage {
            let mut last = self.chunk(json!({}), None);
            last["choices"] = json!([]);
            last["usage"] = self.usage(answer, usage);
            self.send_event(&last.to_string())?;
        }
        self.end_stream()?;
        Ok(self.after_reply())
    }

    fn drop_mid_tool_call(
        &mut self,
        call: &ScriptedCall,
        extra: &[(&str, String)],
    ) -> io::Result<Finish> {
        let cut = call.arguments.len() / 2;
        let cut = (0..=cut)
            .rev()
            .find(|&i| call.arguments.is_char_boundary(i))
            .unwrap_or(0);
        let part = &call.arguments[..cut];
        if self.streaming {
            self.start_chunked(extra)?;
            let first = json!({ "role": "assistant", "tool_calls": [{
                "index": 0, "id": self.server.call_id(), "type": "function",
                "function": { "name": call.name, "arguments": "" },
            }]});
            self.send_event(&self.chunk(first, None).to_string())?;
            let rest = json!({ "tool_calls": [{ "index": 0, "function": { "arguments": part } }] });
            let rest = event_chunk(&self.chunk(rest, None).to_string());
            self.write_last(rest.as_bytes())?;
        } else {
            let answer = Answer {
                calls: vec![call.clone()],
                ..Answer::default()
            };
            let full = self.completion(&answer, None).to_string();
            let head = self.head(200, extra, "application/json", Some(full.len()));
            let cut = full.len() / 2;
            self.write_last(&[head.as_bytes(), &full.as_bytes()[..cut]].concat())?;
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        Ok(Finish::Close)
    }

    /// The non-streaming `chat.completion` object for an answer.
    fn completion(&self, answer: &Answer, usage: Option<(u64, u64)>) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if answer.text.is_empty() && !answer.calls.is_empty() {
                Value::Null
            } else {
                json!(answer.text)
            },
        });
        if !answer.reasoning.is_empty() {
            message["reasoning_content"] = json!(answer.reasoning);
        }
        if !answer.calls.is_empty() {
            let calls: Vec<Value> = answer
                .calls
                .iter()
                .map(|call| {
                    json!({
                        "id": call.id.clone().unwrap_or_else(|| self.server.call_id()),
                        "type": "function",
                        "function": { "name": call.name, "arguments": call.arguments },
                    })
                })
                .collect();
            message["tool_calls"] = json!(calls);
        }
        json!({
            "id": self.completion_id(),
            "object": "chat.completion",
            "created": unix_now(),
            "model": self.model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason(answer) }],
            "usage": self.usage(answer, usage),
        })
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.completion_id(),
            "object": "chat.completion.chunk",
            "created": unix_now(),
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    }

    fn completion_id(&self) -> String {
        format!("chatcmpl-mock-{}", self.index)
    }

    fn usage(&self, answer: &Answer, scripted: Option<(u64, u64)>) -> Value {
        let (prompt, completion) = scripted.unwrap_or_else(|| {
            let generated = answer.reasoning.len()
                + answer.text.len()
                + answer
                    .calls
                    .iter()
                    .map(|c| c.arguments.len())
                    .sum::<usize>();
            (self.prompt_tokens, (generated / 4).max(1) as u64)
        });
        let mut usage = json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        });
        if let Some(cached) = self.cached_tokens {
            usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
        }
        usage
    }

    fn after_reply(&self) -> Finish {
        if self.keep_alive {
            Finish::KeepAlive
        } else {
            Finish::Close
        }
    }

    /// Status line and headers; a body without `length` is sent chunked.
    fn head(
        &self,
        code: u16,
        extra: &[(&str, String)],
        content_type: &str,
        length: Option<usize>,
    ) -> String {
        let mut head = format!("HTTP/1.1 {code} {}\r\n", reason_phrase(code));
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
        match length {
            Some(length) => head.push_str(&format!("Content-Length: {length}\r\n")),
            None => head.push_str("Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n"),
        }
        let connection = if self.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        head.push_str(&format!("Connection: {connection}\r\n"));
        for (name, value) in extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    fn send_json(
        &mut self,
        code: u16,
        extra: &[(&str, String)],
        body: &Value,
    ) -> io::Result<Finish> {
        self.send_body(code, extra, "application/json", body.to_string().as_bytes())?;
        Ok(self.after_reply())
    }

    fn send_body(
        &mut self,
        code: u16,
        extra: &[(&str, String)],
        content_type: &str,
        body: &[u8],
    ) -> io::Result<()> {
        let head = self.head(code, extra, content_type, Some(body.len()));
        self.write_last(&[head.as_bytes(), body].concat())
    }

    /// Status line and headers of a chunked reply: an event stream when the request
    /// asked for one.
    fn start_chunked(&mut self, extra: &[(&str, String)]) -> io::Result<()> {
        let content_type = if self.streaming {
            "text/event-stream"
        } else {
            "application/json"
        };
        let head = self.head(200, extra, content_type, None);
        self.write(head.as_bytes())
    }

    /// One `data:` line as its own HTTP chunk.
    fn send_event(&mut self, data: &str) -> io::Result<()> {
        // Stamped before the write, so a client can never have seen the chunk unrecorded.
        self.server.update(self.index, |r| {
            r.first_chunk_at.get_or_insert_with(Instant::now);
        });
        self.write(event_chunk(data).as_bytes())
    }

    /// `[DONE]` and the chunk that ends the body, in one write.
    fn end_stream(&mut self) -> io::Result<()> {
        let done = event_chunk("[DONE]") + "0\r\n\r\n";
        self.write_last(done.as_bytes())
    }

    /// The reply's last write: `responded_at` is stamped first, so it is set by the time
    /// a client can have read the whole reply, and taken back if the write fails.
    fn write_last(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.server
            .update(self.index, |r| r.responded_at = Some(Instant::now()));
        let written = self.write(bytes);
        if written.is_err() {
            self.server.update(self.index, |r| r.responded_at = None);
        }
        written
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }
}

/// A `data:` line framed as one HTTP chunk.
fn event_chunk(data: &str) -> String {
    let event = format!("data: {data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len())
}

fn finish_reason(answer: &Answer) -> &'static str {
    if answer.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

/// Text split after each whitespace, so the pieces concatenate back to it exactly.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(char::is_whitespace)
}

/// Up to three non-empty pieces, split on char boundaries; two or more when the text has
/// at least two characters.
fn thirds(text: &str) -> Vec<&str> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let size = chars.len().div_ceil(3).max(1);
    let mut pieces = Vec::new();
    let mut starts = chars.iter().step_by(size).peekable();
    while let Some(&start) = starts.next() {
        let end = starts.peek().map_or(text.len(), |&&end| end);
        pieces.push(&text[start..end]);
    }
    pieces
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
