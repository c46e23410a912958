use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::config::Secret;
use crate::message::{Message, ToolCall, Usage};
use crate::provider::{FinishReason, ToolDefinition};

type Item = Result<ProviderEvent, ProviderError>;

fn endpoint() -> Endpoint {
    Endpoint {
        provider: "test".into(),
        model: "gpt-test".into(),
        url: "http://127.0.0.1/v1/chat/completions".into(),
        models_url: "http://127.0.0.1/v1/models".into(),
    }
}

/// SSE for these `data` payloads, each its own event.
fn sse(data: &[&str]) -> Vec<u8> {
    data.iter()
        .map(|d| format!("data: {d}\n\n"))
        .collect::<String>()
        .into_bytes()
}

fn text_chunk(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string()
}

fn finish_chunk(reason: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}).to_string()
}

/// Feeds `chunks` to the stream reader and returns all it sent, ending as the task does.
async fn read_chunks(chunks: Vec<io::Result<Vec<u8>>>) -> Vec<Item> {
    read_body(stream::iter(chunks), Duration::from_secs(5)).await
}

async fn read_body<S>(body: S, idle_timeout: Duration) -> Vec<Item>
where
    S: futures_util::Stream<Item = io::Result<Vec<u8>>>,
{
    let (tx, mut rx) = mpsc::channel(1024);
    let sink = Sink(tx);
    let outcome = sse::read_stream(&endpoint(), 200, idle_timeout, body, &sink).await;
    sink.deliver(outcome).await;
    drop(sink);
    let mut items = Vec::new();
    while let Some(item) = rx.recv().await {
        items.push(item);
    }
    items
}

/// `bytes` cut every `size` bytes: through lines, JSON and UTF-8 characters.
fn split(bytes: &[u8], size: usize) -> Vec<io::Result<Vec<u8>>> {
    bytes.chunks(size).map(|c| Ok(c.to_vec())).collect()
}

fn ok(events: Vec<ProviderEvent>) -> Vec<Item> {
    events.into_iter().map(Ok).collect()
}

fn call(id: &str, name: &str, arguments: &str) -> ProviderEvent {
    ProviderEvent::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    })
}

fn protocol_detail(item: &Item) -> String {
    match item {
        Err(ProviderError::Protocol { detail, .. }) => detail.clone(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

// ---- streaming ----

#[tokio::test]
async fn text_deltas_survive_any_chunking() {
    let body = sse(&[
        &text_chunk("Hé"),
        &text_chunk("llo 🦀"),
        &finish_chunk("stop"),
        "[DONE]",
    ]);
    for size in [1, 2, 3, 5, 7, body.len()] {
        assert_eq!(
            read_chunks(split(&body, size)).await,
            ok(vec![
                ProviderEvent::TextDelta("Hé".into()),
                ProviderEvent::TextDelta("llo 🦀".into()),
                ProviderEvent::Finish(FinishReason::Stop),
            ]),
            "chunks of {size} bytes"
        );
    }
}

#[tokio::test]
async fn crlf_lines_and_comments_are_understood() {
    let body = format!(
        ": keep-alive\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n",
        text_chunk("hi"),
        finish_chunk("stop")
    );
    assert_eq!(
        read_chunks(split(body.as_bytes(), 4)).await,
        ok(vec![
            ProviderEvent::TextDelta("hi".into()),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
}

#[tokio::test]
async fn reasoning_is_told_apart_from_the_answer() {
    let body = sse(&[
        &json!({"choices": [{"delta": {"role": "assistant", "content": null, "reasoning_content": "Let me "}}]}).to_string(),
        &json!({"choices": [{"delta": {"reasoning": "think."}}]}).to_string(),
        &json!({"choices": [{"delta": {"content": "42", "reasoning_content": ""}}]}).to_string(),
        &finish_chunk("stop"),
        "[DONE]",
    ]);
    assert_eq!(
        read_chunks(split(&body, 9)).await,
        ok(vec![
            ProviderEvent::ReasoningDelta("Let me ".into()),
            ProviderEvent::ReasoningDelta("think.".into()),
            ProviderEvent::TextDelta("42".into()),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
}

#[tokio::test]
async fn interleaved_tool_calls_are_assembled_by_index() {
    let piece = |index: u32, extra: Value| {
        let mut call = json!({"index": index});
        if let (Some(call), Some(extra)) = (call.as_object_mut(), extra.as_object()) {
            call.extend(extra.clone());
        }
        json!({"choices": [{"delta": {"tool_calls": [call]}}]}).to_string()
    };
    let body = sse(&[
        &piece(
            0,
            json!({"id": "call_a", "type": "function", "function": {"name": "read", "arguments": ""}}),
        ),
        &piece(
            1,
            json!({"id": "call_b", "type": "function", "function": {"name": "grep", "arguments": "{\"pat"}}),
        ),
        &piece(0, json!({"function": {"arguments": "{\"path\":"}})),
        &piece(1, json!({"function": {"arguments": "tern\":\"fn\"}"}})),
        &piece(0, json!({"function": {"arguments": "\"a.rs\"}"}})),
        &finish_chunk("tool_calls"),
        &json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20}})
            .to_string(),
        "[DONE]",
    ]);
    assert_eq!(
        read_chunks(split(&body, 11)).await,
        ok(vec![
            call("call_a", "read", r#"{"path":"a.rs"}"#),
            call("call_b", "grep", r#"{"pattern":"fn"}"#),
            ProviderEvent::Usage(Usage {
                prompt_tokens: 100,
                completion_tokens: 20,
                cached_prompt_tokens: 0
            }),
            ProviderEvent::Finish(FinishReason::ToolCalls),
        ])
    );
}

#[tokio::test]
async fn usage_alone_in_a_chunk_comes_before_finish() {
    let body = sse(&[
        &text_chunk("ok"),
        &finish_chunk("stop"),
        &json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}).to_string(),
        "[DONE]",
    ]);
    assert_eq!(
        read_chunks(split(&body, 64)).await,
        ok(vec![
            ProviderEvent::TextDelta("ok".into()),
            ProviderEvent::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 1,
                cached_prompt_tokens: 0
            }),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
}

#[tokio::test]
async fn finish_reason_without_done_is_complete() {
    let body = sse(&[&text_chunk("ok"), &finish_chunk("length")]);
    assert_eq!(
        read_chunks(split(&body, 64)).await,
        ok(vec![
            ProviderEvent::TextDelta("ok".into()),
            ProviderEvent::Finish(FinishReason::Length),
        ])
    );
}

#[tokio::test]
async fn done_without_finish_reason_is_complete() {
    let body = sse(&[
        &json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "read", "arguments": "{}"}}]}}]}).to_string(),
        "[DONE]",
    ]);
    let items = read_chunks(split(&body, 64)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    match &items[0] {
        Ok(ProviderEvent::ToolCall(call)) => {
            assert!(call.id.starts_with("call_"), "a generated id: {call:?}");
            assert_eq!(
                (call.name.as_str(), call.arguments.as_str()),
                ("read", "{}")
            );
        }
        other => panic!("expected a tool call, got {other:?}"),
    }
    assert_eq!(items[1], Ok(ProviderEvent::Finish(FinishReason::ToolCalls)));
}

#[tokio::test]
async fn eof_in_the_middle_of_a_tool_call_lets_out_no_call() {
    let body = sse(&[
        &text_chunk("reading"),
        &json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "read", "arguments": "{\"pa"}}]}}]}).to_string(),
    ]);
    let items = read_chunks(split(&body, 10)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(ProviderEvent::TextDelta("reading".into())));
    assert_eq!(
        protocol_detail(&items[1]),
        "the stream ended before the answer was complete"
    );
}

#[tokio::test]
async fn a_broken_connection_is_a_network_error() {
    let mut chunks = split(&sse(&[&text_chunk("par")]), 64);
    chunks.push(Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "reset by peer",
    )));
    let items = read_chunks(chunks).await;
    assert_eq!(items[0], Ok(ProviderEvent::TextDelta("par".into())));
    match &items[1] {
        Err(ProviderError::Network { detail, url, .. }) => {
            assert!(detail.contains("reset by peer"), "{detail}");
            assert_eq!(url, &endpoint().url);
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn a_connection_lost_after_finish_keeps_the_answer() {
    let mut chunks = split(&sse(&[&text_chunk("done"), &finish_chunk("stop")]), 64);
    chunks.push(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")));
    assert_eq!(
        read_chunks(chunks).await,
        ok(vec![
            ProviderEvent::TextDelta("done".into()),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
}

#[tokio::test]
async fn malformed_json_is_a_protocol_error() {
    let body = sse(&[&text_chunk("a"), "{\"choices\": [", "[DONE]"]);
    let items = read_chunks(split(&body, 64)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(protocol_detail(&items[1]).starts_with("invalid JSON"));
}

#[tokio::test]
async fn an_error_inside_the_stream_is_classified() {
    let overloaded = sse(&[
        &text_chunk("a"),
        &json!({"error": {"message": "Overloaded", "type": "server_error"}}).to_string(),
    ]);
    let items = read_chunks(split(&overloaded, 64)).await;
    match &items[1] {
        Err(err @ ProviderError::Server { detail, .. }) => {
            assert!(detail.contains("Overloaded"), "{detail}");
            assert!(err.is_retryable());
        }
        other => panic!("expected a server error, got {other:?}"),
    }

    let limited = sse(&[&json!({"error": {"message": "slow down", "code": 429}}).to_string()]);
    let items = read_chunks(split(&limited, 64)).await;
    assert!(
        matches!(&items[..], [Err(ProviderError::RateLimited { .. })]),
        "{items:?}"
    );
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let first = split(&sse(&[&text_chunk("a")]), 64);
    let body = stream::iter(first).chain(stream::pending());
    let items = read_body(body, Duration::from_millis(50)).await;
    assert_eq!(items[0], Ok(ProviderEvent::TextDelta("a".into())));
    assert!(
        matches!(&items[1], Err(ProviderError::Timeout { after, .. }) if *after == Duration::from_millis(50)),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_tool_call_without_a_name_is_a_protocol_error() {
    let body = sse(&[
        &json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}).to_string(),
    ]);
    let items = read_chunks(split(&body, 64)).await;
    assert_eq!(items.len(), 1);
    assert!(protocol_detail(&items[0]).contains("no function name"));
}

// ---- whole answers ----

#[test]
fn a_whole_completion_gives_the_same_events() {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Reading.", "reasoning_content": "need the file",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}},
                {"type": "function", "function": {"name": "glob", "arguments": {"pattern": "*.rs"}}}
            ]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3}
    });
    let events = response::parse_completion(&endpoint(), 200, body.to_string().as_bytes()).unwrap();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(
        events[..3],
        [
            ProviderEvent::ReasoningDelta("need the file".into()),
            ProviderEvent::TextDelta("Reading.".into()),
            call("call_1", "read", r#"{"path":"a"}"#),
        ]
    );
    match &events[3] {
        ProviderEvent::ToolCall(call) => {
            assert!(call.id.starts_with("call_") && call.id != "call_1");
            assert_eq!(call.arguments, r#"{"pattern":"*.rs"}"#);
        }
        other => panic!("expected a tool call, got {other:?}"),
    }
    assert_eq!(
        events[4..],
        [
            ProviderEvent::Usage(Usage {
                prompt_tokens: 12,
                completion_tokens: 3,
                cached_prompt_tokens: 0
            }),
            ProviderEvent::Finish(FinishReason::ToolCalls),
        ]
    );
}

#[test]
fn a_whole_completion_that_is_an_error_is_classified() {
    let body = json!({"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}});
    let result = response::parse_completion(&endpoint(), 200, body.to_string().as_bytes());
    assert!(
        matches!(result, Err(ProviderError::ContextOverflow { .. })),
        "{result:?}"
    );
}

#[test]
fn a_json_body_without_choices_is_no_answer() {
    let result = response::parse_completion(&endpoint(), 200, br#"{"detail": "hm"}"#);
    assert!(
        matches!(&result, Err(ProviderError::Protocol { detail, .. }) if detail.contains("no answer")),
        "{result:?}"
    );
}

// ---- errors ----

fn classify(status: u16, body: &str, retry_after: Option<&str>) -> ProviderError {
    error::classify_response(
        &endpoint(),
        status,
        body,
        retry_after.and_then(error::parse_retry_after),
    )
}

fn openai_error(message: &str, kind: &str, code: Value) -> String {
    json!({"error": {"message": message, "type": kind, "code": code}}).to_string()
}

#[test]
fn error_responses_are_classified() {
    let invalid_key = openai_error(
        "Incorrect API key provided",
        "invalid_request_error",
        json!("invalid_api_key"),
    );
    assert!(
        matches!(classify(401, &invalid_key, None), ProviderError::Auth { status: 401, ref detail, .. } if detail == "Incorrect API key provided")
    );
    assert!(matches!(
        classify(403, "forbidden", None),
        ProviderError::Auth { status: 403, .. }
    ));

    let no_model = openai_error(
        "The model `gpt-test` does not exist or you do not have access to it.",
        "invalid_request_error",
        json!("model_not_found"),
    );
    assert!(
        matches!(classify(404, &no_model, None), ProviderError::UnknownModel { ref model, .. } if model == "gpt-test")
    );
    assert!(matches!(
        classify(400, &no_model, None),
        ProviderError::UnknownModel { .. }
    ));
    let ollama = json!({"error": {"message": "model \"gpt-test\" not found, try pulling it first", "type": "api_error"}}).to_string();
    assert!(matches!(
        classify(404, &ollama, None),
        ProviderError::UnknownModel { .. }
    ));
    match classify(404, "404 page not found", None) {
        ProviderError::Rejected {
            status: 404,
            detail,
            ..
        } => {
            assert!(detail.contains("base_url"), "{detail}");
        }
        other => panic!("expected rejected, got {other:?}"),
    }

    let overflow = openai_error(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        "invalid_request_error",
        json!("context_length_exceeded"),
    );
    assert!(matches!(
        classify(400, &overflow, None),
        ProviderError::ContextOverflow { .. }
    ));
    let vllm = json!({"object": "error", "message": "This model's maximum context length is 4096 tokens.", "type": "BadRequestError", "code": 400}).to_string();
    assert!(matches!(
        classify(400, &vllm, None),
        ProviderError::ContextOverflow { .. }
    ));
    assert!(matches!(
        classify(
            413,
            &openai_error("Request too large: too many tokens", "", Value::Null),
            None
        ),
        ProviderError::ContextOverflow { .. }
    ));

    let limited = openai_error(
        "Rate limit reached",
        "requests",
        json!("rate_limit_exceeded"),
    );
    assert_eq!(
        classify(429, &limited, Some("2")).retry_after(),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        classify(429, &limited, Some("1.5")).retry_after(),
        Some(Duration::from_millis(1500))
    );
    assert!(matches!(
        classify(429, &limited, None),
        ProviderError::RateLimited {
            retry_after: None,
            ..
        }
    ));
    let no_quota = openai_error(
        "You exceeded your current quota",
        "insufficient_quota",
        json!("insufficient_quota"),
    );
    assert!(matches!(
        classify(429, &no_quota, None),
        ProviderError::Rejected { status: 429, .. }
    ));

    let server = classify(
        500,
        "<html>\n<body>Internal  Server Error</body>\n</html>",
        None,
    );
    assert!(
        matches!(&server, ProviderError::Server { status: 500, detail, .. } if detail == "<html> <body>Internal Server Error</body> </html>")
    );
    assert!(server.is_retryable());
    assert_eq!(
        classify(503, "", Some("3")).retry_after(),
        Some(Duration::from_secs(3))
    );

    let teapot = classify(418, &openai_error("I'm a teapot", "", Value::Null), None);
    assert!(
        matches!(&teapot, ProviderError::Rejected { status: 418, detail, .. } if detail == "I'm a teapot")
    );
    assert!(!teapot.is_retryable());
}

#[test]
fn retry_after_takes_seconds_only() {
    assert_eq!(
        error::parse_retry_after(" 2 "),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        error::parse_retry_after("0.25"),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        error::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        None
    );
    assert_eq!(error::parse_retry_after("-1"), None);
    assert_eq!(error::parse_retry_after("inf"), None);
}

#[test]
fn long_error_bodies_are_clipped() {
    let detail = error::clip(&"é".repeat(2000));
    assert_eq!(detail.chars().count(), 501);
    assert!(detail.ends_with('…'));
    assert_eq!(error::clip("  \n "), "no details");
}

// ---- request body ----

fn assistant(reasoning: &str) -> Message {
    Message::Assistant {
        content: None,
        reasoning_content: Some(reasoning.into()),
        tool_calls: vec![ToolCall {
            id: "call_1".into(),
            name: "read".into(),
            arguments: "{}".into(),
        }],
    }
}

fn body_json(request: &ChatRequest, max_tokens: Option<u64>) -> Value {
    serde_json::to_value(request::body("gpt-test", request, max_tokens, true)).unwrap()
}

fn png(extra: &[u8]) -> crate::image::Image {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(extra);
    crate::image::Image::from_bytes(&bytes).unwrap()
}

#[test]
fn a_user_messages_images_go_as_data_url_parts_after_its_text() {
    let image = png(b"abc");
    let request = ChatRequest {
        messages: vec![Message::user("what is this?").with_images(vec![image.clone()])],
        tools: Arc::from([]),
    };
    assert_eq!(
        body_json(&request, None)["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": image.data_url()}},
        ]}])
    );
}

#[test]
fn a_tools_images_follow_the_whole_run_of_results_in_a_user_message() {
    let image = png(b"xyz");
    let calls = Message::Assistant {
        content: None,
        reasoning_content: None,
        tool_calls: ["call_1", "call_2"]
            .map(|id| ToolCall {
                id: id.into(),
                name: "read".into(),
                arguments: "{}".into(),
            })
            .to_vec(),
    };
    let request = ChatRequest {
        messages: vec![
            Message::user("look"),
            calls,
            Message::tool_result("call_1", "image a.png").with_images(vec![image.clone()]),
            Message::tool_result("call_2", "text"),
        ],
        tools: Arc::from([]),
    };
    let messages = body_json(&request, None)["messages"].clone();
    assert_eq!(
        messages[2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "image a.png"})
    );
    assert_eq!(messages[3]["role"], "tool");
    assert_eq!(
        messages[4],
        json!({"role": "user", "content": [
            {"type": "text", "text": "[the result of tool call call_1 includes this image]"},
            {"type": "image_url", "image_url": {"url": image.data_url()}},
        ]})
    );
    assert_eq!(messages.as_array().map(Vec::len), Some(5));
}

#[test]
fn a_model_without_vision_gets_a_line_of_text_for_each_image() {
    let request = ChatRequest {
        messages: vec![Message::user("see").with_images(vec![png(b"")])],
        tools: Arc::from([]),
    };
    let body = serde_json::to_value(request::body("m", &request, None, false)).unwrap();
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": "see\n[image: image/png, 8 bytes] (not shown: this model does not take images)"})
    );
}

#[test]
fn the_body_asks_for_a_stream_with_usage_and_omits_what_is_unset() {
    let request = ChatRequest {
        messages: vec![Message::system("be brief"), Message::user("hi")],
        tools: Arc::from([]),
    };
    assert_eq!(
        body_json(&request, None),
        json!({
            "model": "gpt-test",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
    assert_eq!(body_json(&request, Some(4096))["max_tokens"], 4096);
}

#[test]
fn tools_are_sent_as_functions() {
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: vec![ToolDefinition {
            name: "read".into(),
            description: "Reads a file".into(),
            parameters: json!({"type": "object"}),
        }]
        .into(),
    };
    assert_eq!(
        body_json(&request, None)["tools"],
        json!([{"type": "function", "function": {"name": "read", "description": "Reads a file", "parameters": {"type": "object"}}}])
    );
}

#[test]
fn reasoning_is_sent_back_only_within_the_current_turn() {
    let request = ChatRequest {
        messages: vec![
            Message::user("first"),
            assistant("old thought"),
            Message::tool_result("call_1", "ok"),
            Message::user("second"),
            assistant("new thought"),
            Message::tool_result("call_1", "ok"),
        ],
        tools: Arc::from([]),
    };
    let body = body_json(&request, None);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[1].get("reasoning_content"), None);
    assert_eq!(messages[1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(messages[4]["reasoning_content"], "new thought");
    // The caller's conversation is untouched.
    assert_eq!(request.messages[1], assistant("old thought"));
}

// ---- over HTTP ----

fn provider_config(base_url: &str) -> ResolvedProvider {
    ResolvedProvider {
        name: "test".into(),
        base_url: base_url.into(),
        model: "gpt-test".into(),
        api_key: Some(Secret::new("sk-test-key-1234567890")),
        headers: BTreeMap::from([("X-Team".to_string(), "blue".to_string())]),
        context_window: None,
        max_output_tokens: Some(100),
        vision: false,
        agent_cli: None,
    }
}

/// A server that answers one request with `response` (status line and headers; the
/// body and its length are added) and hands back the request it got.
fn serve_once(head: &str, body: &str) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let response = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let server = std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(socket);
        let mut request = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            request.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        request.push_str(&String::from_utf8(body).unwrap());
        reader.get_mut().write_all(response.as_bytes()).unwrap();
        request
    });
    (base_url, server)
}

async fn collect(mut events: EventStream) -> Vec<Item> {
    let mut items = Vec::new();
    while let Some(item) = events.recv().await {
        items.push(item);
    }
    items
}

fn hello_request() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Arc::from([]),
    }
}

#[tokio::test]
async fn a_streamed_answer_over_http() {
    let body = String::from_utf8(sse(&[
        &text_chunk("hello"),
        &finish_chunk("stop"),
        "[DONE]",
    ]))
    .unwrap();
    let (base_url, server) =
        serve_once("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream", &body);
    let provider =
        OpenAiProvider::new(&provider_config(&base_url), Duration::from_secs(5)).unwrap();
    assert_eq!((provider.name(), provider.model()), ("test", "gpt-test"));

    let items = collect(provider.stream(hello_request())).await;
    assert_eq!(
        items,
        ok(vec![
            ProviderEvent::TextDelta("hello".into()),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("authorization: bearer sk-test-key-1234567890\r\n"),
        "{request}"
    );
    assert!(lower.contains("x-team: blue\r\n"), "{request}");
    assert!(lower.contains("user-agent: conch/"), "{request}");
    let sent: Value =
        serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(sent["max_tokens"], 100);
    assert_eq!(sent["stream"], true);
}

#[tokio::test]
async fn a_json_answer_over_http_is_read_whole() {
    let body = json!({"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}]})
        .to_string();
    let (base_url, server) = serve_once(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8",
        &body,
    );
    let provider =
        OpenAiProvider::new(&provider_config(&base_url), Duration::from_secs(5)).unwrap();
    assert_eq!(
        collect(provider.stream(hello_request())).await,
        ok(vec![
            ProviderEvent::TextDelta("whole".into()),
            ProviderEvent::Finish(FinishReason::Stop),
        ])
    );
    server.join().unwrap();
}

#[tokio::test]
async fn a_rate_limit_over_http_carries_retry_after() {
    let body = openai_error(
        "Rate limit reached",
        "requests",
        json!("rate_limit_exceeded"),
    );
    let (base_url, server) = serve_once(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1.5",
        &body,
    );
    let provider =
        OpenAiProvider::new(&provider_config(&base_url), Duration::from_secs(5)).unwrap();
    let items = collect(provider.stream(hello_request())).await;
    assert_eq!(
        items,
        vec![Err(ProviderError::RateLimited {
            provider: "test".into(),
            retry_after: Some(Duration::from_millis(1500)),
            detail: "Rate limit reached".into(),
        })]
    );
    server.join().unwrap();
}

#[tokio::test]
async fn nobody_listening_is_a_network_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let provider =
        OpenAiProvider::new(&provider_config(&base_url), Duration::from_secs(5)).unwrap();
    let items = collect(provider.stream(hello_request())).await;
    match &items[..] {
        [Err(err @ ProviderError::Network { url, .. })] => {
            assert_eq!(url, &format!("{base_url}/chat/completions"));
            assert!(err.is_retryable());
        }
        other => panic!("expected one network error, got {other:?}"),
    }
}

#[test]
fn a_header_that_cannot_be_sent_is_refused_up_front() {
    let mut config = provider_config("http://127.0.0.1:1/v1");
    config.headers.insert("Bad Name".into(), "x".into());
    let err = OpenAiProvider::new(&config, Duration::from_secs(5)).unwrap_err();
    assert!(
        err.to_string()
            .contains("`Bad Name` is not a valid HTTP header name"),
        "{err}"
    );
}

#[tokio::test]
async fn dropping_the_receiver_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (arrived_tx, arrived) = std::sync::mpsc::channel();
    let (closed_tx, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buffer = [0; 4096];
        let _ = socket.read(&mut buffer).unwrap();
        arrived_tx.send(()).unwrap();
        // Never answer; reading ends only when the client hangs up.
        while socket.read(&mut buffer).is_ok_and(|n| n > 0) {}
        closed_tx.send(()).unwrap();
    });
    let provider =
        OpenAiProvider::new(&provider_config(&base_url), Duration::from_secs(60)).unwrap();
    let events = provider.stream(hello_request());
    tokio::task::spawn_blocking(move || arrived.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    drop(events);
    tokio::task::spawn_blocking(move || closed.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the connection is closed once nobody listens");
}
