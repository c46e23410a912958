//! The JSON body of a chat completions request.

use std::borrow::Cow;

use serde::Serialize;

use crate::message::Message;
use crate::provider::{ChatRequest, ToolDefinition};

/// `{model, messages, tools?, stream, stream_options, max_tokens?}`.
#[derive(Debug, Serialize)]
pub(super) struct RequestBody<'a> {
    model: &'a str,
    messages: Vec<Cow<'a, Message>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
}

/// `{"type": "function", "function": {name, description, parameters}}`.
#[derive(Debug, Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolDefinition,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    /// Asks for a last chunk with the token counts.
    include_usage: bool,
}

/// The body for `request`, streamed, asking for usage.
///
/// `reasoning_content` is kept only on assistant messages after the last user message:
/// DeepSeek requires it back within the tool-calling turn in progress and rejects it on
/// earlier turns.
pub(super) fn body<'a>(
    model: &'a str,
    request: &'a ChatRequest,
    max_tokens: Option<u64>,
) -> RequestBody<'a> {
    let current_turn = request
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let messages = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, message)| match message {
            Message::Assistant {
                content,
                reasoning_content: Some(_),
                tool_calls,
            } if i < current_turn => Cow::Owned(Message::Assistant {
                content: content.clone(),
                reasoning_content: None,
                tool_calls: tool_calls.clone(),
            }),
            _ => Cow::Borrowed(message),
        })
        .collect();
    RequestBody {
        model,
        messages,
        tools: request
            .tools
            .iter()
            .map(|function| WireTool {
                kind: "function",
                function,
            })
            .collect(),
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        max_tokens,
    }
}
