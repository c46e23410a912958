//! The conversation as data: messages and tool calls, in the shape OpenAI-compatible
//! chat completions use on the wire, which is also how sessions store them.

use serde::{Deserialize, Serialize};

use crate::image::Image;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
        /// Pictures that go with the text (`--image`, `/image`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<Image>,
    },
    Assistant {
        /// The visible answer; `None` when the turn is only tool calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// A reasoning model's thinking (DeepSeek's `reasoning_content`), kept so it can
        /// be sent back where the API requires it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning_content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
        /// Pictures the tool returned (a `read` of an image), for a model that sees them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<Image>,
    },
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Message::User {
            content: content.into(),
            images: Vec::new(),
        }
    }

    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
            images: Vec::new(),
        }
    }

    /// The message with `more` images (a user or tool message; others carry none).
    pub fn with_images(mut self, more: Vec<Image>) -> Self {
        if let Message::User { images, .. } | Message::Tool { images, .. } = &mut self {
            images.extend(more);
        }
        self
    }

    /// The images the message carries.
    pub fn images(&self) -> &[Image] {
        match self {
            Message::User { images, .. } | Message::Tool { images, .. } => images,
            _ => &[],
        }
    }

    /// The tool calls of an assistant message (none for other roles).
    pub fn tool_calls(&self) -> &[ToolCall] {
        match self {
            Message::Assistant { tool_calls, .. } => tool_calls,
            _ => &[],
        }
    }

    /// The text the message carries, whatever its role.
    pub fn text(&self) -> &str {
        match self {
            Message::System { content }
            | Message::User { content, .. }
            | Message::Tool { content, .. } => content,
            Message::Assistant { content, .. } => content.as_deref().unwrap_or(""),
        }
    }
}

/// A call the model asked for. `arguments` is the JSON text exactly as the model sent
/// it (it may not parse; the agent validates it before anything runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireToolCall", into = "WireToolCall")]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Serialize, Deserialize)]
struct WireToolCall {
    id: String,
    #[serde(rename = "type", default = "function_type")]
    kind: String,
    function: WireFunction,
}

#[derive(Serialize, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

fn function_type() -> String {
    "function".into()
}

impl From<WireToolCall> for ToolCall {
    fn from(wire: WireToolCall) -> Self {
        ToolCall {
            id: wire.id,
            name: wire.function.name,
            arguments: wire.function.arguments,
        }
    }
}

impl From<ToolCall> for WireToolCall {
    fn from(call: ToolCall) -> Self {
        WireToolCall {
            id: call.id,
            kind: function_type(),
            function: WireFunction {
                name: call.name,
                arguments: call.arguments,
            },
        }
    }
}

/// Token counts the provider reported for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of the prompt tokens, those the provider served from its prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_prompt_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assistant_tool_calls_use_the_wire_shape() {
        let message = Message::Assistant {
            content: None,
            reasoning_content: Some("think".into()),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "read".into(),
                arguments: r#"{"path":"a"}"#.into(),
            }],
        };
        let value = serde_json::to_value(&message).unwrap();
        assert_eq!(
            value,
            json!({"role": "assistant", "reasoning_content": "think", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}
            ]})
        );
        assert_eq!(serde_json::from_value::<Message>(value).unwrap(), message);
    }

    #[test]
    fn tool_result_round_trips() {
        let message = Message::tool_result("call_1", "ok");
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(
            text,
            r#"{"role":"tool","tool_call_id":"call_1","content":"ok"}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), message);
    }

    #[test]
    fn images_are_recorded_with_the_message_and_only_when_there_are_some() {
        let png = crate::image::Image::from_bytes(b"\x89PNG\r\n\x1a\n").unwrap();
        let message = Message::user("look").with_images(vec![png.clone()]);
        let value = serde_json::to_value(&message).unwrap();
        assert_eq!(
            value,
            json!({"role": "user", "content": "look", "images": [
                {"media_type": "image/png", "data": png.base64()}
            ]})
        );
        assert_eq!(serde_json::from_value::<Message>(value).unwrap(), message);
        let tool = Message::tool_result("c", "x").with_images(vec![png]);
        assert_eq!(tool.images().len(), 1);
        assert!(
            !serde_json::to_string(&Message::user("a"))
                .unwrap()
                .contains("images")
        );
    }
}
