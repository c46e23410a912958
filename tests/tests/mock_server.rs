//! The mock LLM itself, driven by a raw TCP client: what it puts on the wire, what it
//! refuses, and what it records, so end-to-end tests can trust it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use conch_tests::mock::{MockLlm, Reply};
use serde_json::{Value, json};

/// A keep-alive connection to the mock, speaking just enough HTTP/1.1.
struct Client {
    reader: BufReader<TcpStream>,
}

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// False when the connection closed before the body ended.
    complete: bool,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The `data:` payloads of an event stream, in order.
    fn events(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .map(str::to_owned)
            .collect()
    }

    /// The JSON chunks of an event stream, `[DONE]` left out.
    fn chunks(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter(|e| *e != "[DONE]")
            .map(|e| serde_json::from_str(e).expect("a JSON chunk"))
            .collect()
    }
}

impl Client {
    fn connect(mock: &MockLlm) -> Client {
        let addr = mock
            .url()
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
            .to_owned();
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn post(&mut self, path: &str, body: &Value) -> Response {
        self.send(path, body);
        self.read_response()
    }

    fn send(&mut self, path: &str, body: &Value) {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer sk-test\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
    }

    fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(": ") else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        (status, headers)
    }

    fn read_response(&mut self) -> Response {
        let (status, headers) = self.read_head();
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().unwrap());
        let (body, complete) = match length {
            Some(length) => {
                let mut body = vec![0; length];
                let complete = self.reader.read_exact(&mut body).is_ok();
                (body, complete)
            }
            None => self.read_chunked(),
        };
        Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            complete,
        }
    }

    /// A chunked body up to its last chunk, or as much as came before the socket closed.
    fn read_chunked(&mut self) -> (Vec<u8>, bool) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            if self.reader.read_line(&mut size).unwrap_or(0) == 0 {
                return (body, false);
            }
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            if self.reader.read_exact(&mut chunk).is_err() {
                return (body, false);
            }
            if size == 0 {
                return (body, true);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// True when the server closed the connection (nothing more to read).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(0))
    }
}

fn chat(messages: Value, stream: bool) -> Value {
    json!({
        "model": "mock-model",
        "messages": messages,
        "stream": stream,
        "stream_options": { "include_usage": true },
    })
}

fn hello(stream: bool) -> Value {
    chat(json!([{ "role": "user", "content": "hello" }]), stream)
}

const CHAT: &str = "/v1/chat/completions";

#[test]
fn streamed_text_arrives_as_word_deltas_then_usage_then_done() {
    let mock = MockLlm::start(vec![Reply::text("Hello brave new world")]);
    let response = Client::connect(&mock).post(CHAT, &hello(true));

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.complete);
    assert_eq!(response.events().last().unwrap(), "[DONE]");
    let chunks = response.chunks();
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[0]["model"], "mock-model");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello brave new world");
    assert!(chunks.len() >= 4 + 2, "one delta per word: {chunks:?}");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["usage"]["total_tokens"].as_u64(),
        Some(
            usage["usage"]["prompt_tokens"].as_u64().unwrap()
                + usage["usage"]["completion_tokens"].as_u64().unwrap()
        )
    );
}

#[test]
fn reasoning_comes_before_the_answer() {
    let mock = MockLlm::start(vec![Reply::reasoning("let me see", "42").usage(10, 3)]);
    let chunks = Client::connect(&mock).post(CHAT, &hello(true)).chunks();
    let kinds: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].as_object())
        .flat_map(|d| d.keys())
        .map(String::as_str)
        .filter(|k| *k != "role")
        .collect();
    assert_eq!(
        kinds,
        [
            "reasoning_content",
            "reasoning_content",
            "reasoning_content",
            "content"
        ],
        "{chunks:?}"
    );
    assert_eq!(
        chunks.last().unwrap()["usage"],
        json!({ "prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13 })
    );
}

#[test]
fn tool_call_deltas_concatenate_to_the_arguments() {
    let read = json!({ "path": "src/main.rs" });
    let grep = json!({ "pattern": "fn main", "path": "." });
    let mock = MockLlm::start(vec![
        Reply::tool_calls(vec![("read", read.clone()), ("grep", grep.clone())])
            .with_text("Let me look"),
    ]);
    let chunks = Client::connect(&mock).post(CHAT, &hello(true)).chunks();

    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Let me look");
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    for (index, (id, name, args)) in [("call_1", "read", &read), ("call_2", "grep", &grep)]
        .into_iter()
        .enumerate()
    {
        let mine: Vec<&&Value> = deltas.iter().filter(|d| d["index"] == index).collect();
        assert_eq!(mine[0]["id"], id);
        assert_eq!(mine[0]["type"], "function");
        assert_eq!(mine[0]["function"]["name"], name);
        assert_eq!(mine[0]["function"]["arguments"], "");
        assert!(mine.len() >= 3, "arguments in two deltas or more: {mine:?}");
        for later in &mine[1..] {
            assert_eq!(later.as_object().unwrap().len(), 2, "{later}");
        }
        let joined: String = mine
            .iter()
            .filter_map(|d| d["function"]["arguments"].as_str())
            .collect();
        assert_eq!(&serde_json::from_str::<Value>(&joined).unwrap(), args);
    }
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}

#[test]
fn raw_arguments_are_sent_as_written() {
    let mock = MockLlm::start(vec![Reply::tool_call_raw("read", "{not json")]);
    let body = Client::connect(&mock).post(CHAT, &hello(false)).json();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], "{not json");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn unstreamed_request_gets_a_chat_completion_object() {
    let mock = MockLlm::start(vec![Reply::text("plain answer")]);
    let body = Client::connect(&mock).post(CHAT, &hello(false)).json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "plain answer");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn json_only_ignores_a_stream_request() {
    let mock = MockLlm::start(vec![Reply::json_only("no stream here")]);
    let response = Client::connect(&mock).post(CHAT, &hello(true));
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json()["choices"][0]["message"]["content"],
        "no stream here"
    );
}

#[test]
fn invalid_conversations_are_refused_without_using_the_script() {
    let mock = MockLlm::start(vec![Reply::text("fine")]);
    let mut client = Client::connect(&mock);

    let orphan = chat(
        json!([
            { "role": "user", "content": "hi" },
            { "role": "tool", "tool_call_id": "call_9", "content": "stray" },
        ]),
        true,
    );
    let response = client.post(CHAT, &orphan);
    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert!(
        error["message"].as_str().unwrap().contains("call_9"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("messages[1]"),
        "{error}"
    );

    let unanswered = chat(
        json!([
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_a", "type": "function", "function": { "name": "read", "arguments": "{}" } },
                { "id": "call_b", "type": "function", "function": { "name": "read", "arguments": "{}" } },
            ]},
            { "role": "tool", "tool_call_id": "call_b", "content": "ok" },
            { "role": "user", "content": "and?" },
        ]),
        true,
    );
    let response = client.post(CHAT, &unanswered);
    assert_eq!(response.status, 400);
    let message = response.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("call_a") && !message.contains("call_b"),
        "{message}"
    );

    let answered = chat(
        json!([
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_a", "type": "function", "function": { "name": "read", "arguments": "{}" } },
                { "id": "call_b", "type": "function", "function": { "name": "read", "arguments": "{}" } },
            ]},
            { "role": "tool", "tool_call_id": "call_b", "content": "ok" },
            { "role": "tool", "tool_call_id": "call_a", "content": "ok" },
        ]),
        true,
    );
    let response = client.post(CHAT, &answered);
    assert_eq!(response.status, 200, "the script entry is still there");

    let requests = mock.requests();
    assert!(requests[0].rejected.as_deref().unwrap().contains("call_9"));
    assert!(requests[1].rejected.as_deref().unwrap().contains("call_a"));
    assert_eq!(requests[2].rejected, None);
    assert_eq!(mock.remaining_replies(), 0);
}

#[test]
fn a_request_without_a_model_is_refused() {
    let mock = MockLlm::start(vec![Reply::text("unused")]);
    let body = json!({ "messages": [{ "role": "user", "content": "hi" }] });
    let response = Client::connect(&mock).post(CHAT, &body);
    assert_eq!(response.status, 400);
    assert!(response.body.contains("model"), "{}", response.body);
    assert_eq!(mock.remaining_replies(), 1);
}

#[test]
fn rate_limit_carries_retry_after() {
    let mock = MockLlm::start(vec![Reply::rate_limited(7), Reply::unauthorized()]);
    let mut client = Client::connect(&mock);
    let response = client.post(CHAT, &hello(true));
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("7"));
    assert_eq!(response.json()["error"]["code"], "rate_limit_exceeded");

    let response = client.post(CHAT, &hello(true));
    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error"]["code"], "invalid_api_key");
}

#[test]
fn drop_mid_tool_call_closes_without_finish_or_done() {
    let mock = MockLlm::start(vec![Reply::drop_mid_tool_call(
        "read",
        json!({ "path": "a/long/enough/path.txt" }),
    )]);
    let mut client = Client::connect(&mock);
    let response = client.post(CHAT, &hello(true));
    assert_eq!(response.status, 200);
    assert!(
        !response.complete,
        "the chunked body must not be terminated"
    );
    assert!(!response.events().iter().any(|e| e == "[DONE]"));
    let chunks = response.chunks();
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"],
        "call_1"
    );
    assert!(client.closed());
    assert!(mock.requests()[0].responded_at.is_some());
}

#[test]
fn malformed_stream_starts_with_a_line_that_is_not_json() {
    let mock = MockLlm::start(vec![Reply::malformed()]);
    let response = Client::connect(&mock).post(CHAT, &hello(true));
    assert_eq!(response.status, 200);
    let events = response.events();
    assert!(
        serde_json::from_str::<Value>(&events[0]).is_err(),
        "{events:?}"
    );
}

#[test]
fn exhausted_script_answers_500_on_the_same_connection() {
    let mock = MockLlm::start(vec![Reply::text("only one")]);
    let mut client = Client::connect(&mock);
    assert_eq!(client.post(CHAT, &hello(true)).status, 200);
    let response = client.post(CHAT, &hello(true));
    assert_eq!(response.status, 500);
    assert_eq!(
        response.json()["error"]["message"],
        "mock script exhausted after 1 requests"
    );
}

#[test]
fn requests_are_recorded_with_headers_and_bodies() {
    let mock = MockLlm::start(vec![Reply::text("ok")]);
    let mut client = Client::connect(&mock);
    let response = client.post("/v1/models", &json!({}));
    assert_eq!(response.status, 404);
    client.post(CHAT, &hello(true));

    assert!(mock.wait_for_requests(2, Duration::from_secs(1)));
    assert_eq!(mock.request_count(), 2);
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/models");
    assert_eq!(requests[1].path, CHAT);
    assert_eq!(requests[1].body, hello(true));
    assert_eq!(requests[1].header("Authorization"), Some("Bearer sk-test"));
    assert!(requests[1].headers.iter().any(|(n, _)| n == "content-type"));
    let responded = requests[1].responded_at.unwrap();
    assert!(responded >= requests[1].first_chunk_at.unwrap());
    assert!(requests[1].first_chunk_at.unwrap() >= requests[1].received_at);
}

#[test]
fn slow_text_reports_its_first_chunk_before_the_rest() {
    let mock = MockLlm::start(vec![Reply::slow_text(3, Duration::from_millis(50))]);
    let mut client = Client::connect(&mock);
    client.send(CHAT, &hello(true));
    assert!(mock.wait_for_first_chunk(0, Duration::from_secs(2)));
    assert!(mock.requests()[0].responded_at.is_none(), "still streaming");

    let chunks = client.read_response().chunks();
    let text: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, ["w1 ", "w2 ", "w3"]);
}

#[test]
fn dropping_the_mock_releases_a_hanging_client() {
    let mock = MockLlm::start(vec![Reply::hang(), Reply::hang_before_headers()]);
    let mut headers_only = Client::connect(&mock);
    headers_only.send(CHAT, &hello(true));
    let (status, _) = headers_only.read_head();
    assert_eq!(status, 200);
    let mut silent = Client::connect(&mock);
    silent.send(CHAT, &hello(true));
    assert!(mock.wait_for_requests(2, Duration::from_secs(2)));

    drop(mock);
    assert!(headers_only.closed());
    assert!(silent.closed());
}
