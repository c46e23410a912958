//! The JSON body of a chat completions request.

use std::borrow::Cow;

use serde::Serialize;

use crate::image::Image;
use crate::message::Message;
use crate::provider::{ChatRequest, ToolDefinition};

/// `{model, messages, tools?, stream, stream_options, max_tokens?}`.
#[derive(Debug, Serialize)]
pub(super) struct RequestBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
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

/// A message as sent: most go as conch stores them (the wire shape already); one that
/// carries images is rewritten (see [`body`]).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WireMessage<'a> {
    Stored(Cow<'a, Message>),
    /// A user message of text and image parts.
    Parts {
        role: &'static str,
        content: Vec<Part<'a>>,
    },
}

/// `{"type": "text", "text"}` or `{"type": "image_url", "image_url": {"url"}}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: Cow<'a, str> },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Serialize)]
struct ImageUrl {
    url: String,
}

/// The body for `request`, streamed, asking for usage.
///
/// `reasoning_content` is kept only on assistant messages after the last user message:
/// DeepSeek requires it back within the tool-calling turn in progress and rejects it on
/// earlier turns.
///
/// Images: for a model that sees them (`vision`), a user message's go as image parts
/// beside its text. A tool message cannot carry an image in chat completions, so a
/// tool's images follow the run of tool messages they belong to, in one user message
/// that says which call returned them (a user message between two results of one
/// assistant message would break their pairing). For a model that does not see
/// images, each becomes a line of text saying what it was.
pub(super) fn body<'a>(
    model: &'a str,
    request: &'a ChatRequest,
    max_tokens: Option<u64>,
    vision: bool,
) -> RequestBody<'a> {
    let current_turn = request
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let mut messages = Vec::with_capacity(request.messages.len());
    let mut tool_images: Vec<(&str, &[Image])> = Vec::new();
    for (i, message) in request.messages.iter().enumerate() {
        if !matches!(message, Message::Tool { .. }) && !tool_images.is_empty() {
            messages.push(tool_images_message(std::mem::take(&mut tool_images)));
        }
        let wire = match message {
            Message::Assistant {
                content,
                reasoning_content: Some(_),
                tool_calls,
            } if i < current_turn => WireMessage::Stored(Cow::Owned(Message::Assistant {
                content: content.clone(),
                reasoning_content: None,
                tool_calls: tool_calls.clone(),
            })),
            Message::User { content, images } if !images.is_empty() => {
                if vision {
                    let text = (!content.is_empty()).then_some(Part::Text {
                        text: Cow::Borrowed(content.as_str()),
                    });
                    WireMessage::Parts {
                        role: "user",
                        content: text
                            .into_iter()
                            .chain(images.iter().map(image_part))
                            .collect(),
                    }
                } else {
                    WireMessage::Stored(Cow::Owned(Message::user(with_notices(content, images))))
                }
            }
            Message::Tool {
                tool_call_id,
                content,
                images,
            } if !images.is_empty() => {
                let text = if vision {
                    tool_images.push((tool_call_id.as_str(), images.as_slice()));
                    content.clone()
                } else {
                    with_notices(content, images)
                };
                WireMessage::Stored(Cow::Owned(Message::tool_result(tool_call_id, text)))
            }
            _ => WireMessage::Stored(Cow::Borrowed(message)),
        };
        messages.push(wire);
    }
    if !tool_images.is_empty() {
        messages.push(tool_images_message(tool_images));
    }
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

fn image_part<'a>(image: &Image) -> Part<'a> {
    Part::ImageUrl {
        image_url: ImageUrl {
            url: image.data_url(),
        },
    }
}

/// The user message that shows the model what tool calls returned as images.
fn tool_images_message<'a>(calls: Vec<(&'a str, &'a [Image])>) -> WireMessage<'a> {
    let mut content = Vec::new();
    for (id, images) in calls {
        content.push(Part::Text {
            text: Cow::Owned(format!(
                "[the result of tool call {id} includes this image]"
            )),
        });
        content.extend(images.iter().map(image_part));
    }
    WireMessage::Parts {
        role: "user",
        content,
    }
}

/// `text` with a line per image saying what it was, for a model that cannot see it.
fn with_notices(text: &str, images: &[Image]) -> String {
    let mut out = text.to_string();
    for image in images {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&image.notice());
        out.push_str(" (not shown: this model does not take images)");
    }
    out
}
