//! What comes back: the wire shape shared by stream chunks (`chat.completion.chunk`,
//! parts in `delta`) and whole answers (`chat.completion`, all in `message`), and the
//! [`Answer`] that turns either into events.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::Value;
use tracing::debug;

use super::Endpoint;
use super::error::{self, ApiError};
use crate::message::{ToolCall, Usage};
use crate::provider::{FinishReason, ProviderError, ProviderEvent};

/// A chunk of a stream, or a whole answer. Fields are optional and `null`-tolerant:
/// servers differ in what they leave out.
#[derive(Debug, Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    choices: Option<Vec<WireChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: Option<u32>,
    /// In a stream chunk.
    #[serde(default)]
    delta: Option<WireMessage>,
    /// In a whole answer.
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    /// DeepSeek and most servers.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

/// A tool call, or a piece of one in a stream.
#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    /// A piece of JSON text; a few servers send a whole answer's arguments as an object.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    /// OpenAI's count of cached prompt tokens.
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
    /// DeepSeek's count of the same.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// An answer being put together. Text and reasoning pass straight through; tool calls,
/// usage and the finish reason are held until the answer is complete, so a broken
/// stream never yields half a tool call.
#[derive(Debug)]
pub(super) struct Answer<'a> {
    endpoint: &'a Endpoint,
    /// The response's HTTP status, for errors reported inside it.
    status: u16,
    /// By index; a call's id and name come in its first piece.
    tool_calls: BTreeMap<u32, PartialCall>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl<'a> Answer<'a> {
    pub(super) fn new(endpoint: &'a Endpoint, status: u16) -> Self {
        Answer {
            endpoint,
            status,
            tool_calls: BTreeMap::new(),
            usage: None,
            finish: None,
        }
    }

    /// Whether the model said why it stopped.
    pub(super) fn has_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Parses one chunk (or a whole answer), returning the events it lets out now.
    pub(super) fn add_json(&mut self, json: &str) -> Result<Vec<ProviderEvent>, ProviderError> {
        let response: WireResponse = serde_json::from_str(json)
            .map_err(|e| self.protocol(format!("invalid JSON ({e}): {}", error::clip(json))))?;
        self.add(response)
    }

    fn add(&mut self, response: WireResponse) -> Result<Vec<ProviderEvent>, ProviderError> {
        if let Some(error) = response.error.as_ref().and_then(ApiError::from_value) {
            return Err(error::classify_in_answer(
                self.endpoint,
                self.status,
                &error,
            ));
        }
        if let Some(usage) = response.usage {
            // Some servers repeat a running count in every chunk: the last one holds.
            self.usage = Some(Usage {
                prompt_tokens: usage.prompt_tokens.unwrap_or(0),
                completion_tokens: usage.completion_tokens.unwrap_or(0),
                cached_prompt_tokens: usage
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .or(usage.prompt_cache_hit_tokens)
                    .unwrap_or(0),
            });
        }
        let mut events = Vec::new();
        // Only the first choice: conch never asks for more than one.
        let choices = response.choices.unwrap_or_default();
        for choice in choices.into_iter().filter(|c| c.index.unwrap_or(0) == 0) {
            // A whole answer lists its calls without indexes.
            let whole = choice.delta.is_none();
            if let Some(message) = choice.delta.or(choice.message) {
                let reasoning = message.reasoning_content.or(message.reasoning);
                if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
                    events.push(ProviderEvent::ReasoningDelta(text));
                }
                if let Some(text) = message.content.filter(|t| !t.is_empty()) {
                    events.push(ProviderEvent::TextDelta(text));
                }
                let calls = message.tool_calls.unwrap_or_default();
                for (position, call) in calls.into_iter().enumerate() {
                    let index = match call.index {
                        Some(index) => index,
                        None if whole => u32::try_from(position).unwrap_or(u32::MAX),
                        None => self.guess_index(call.id.as_deref()),
                    };
                    self.add_tool_call(index, call);
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(FinishReason::parse(&reason));
            }
        }
        Ok(events)
    }

    /// The index of a streamed piece that has none (a few servers): a new id starts a
    /// new call, and a piece without one continues the last call.
    fn guess_index(&self, id: Option<&str>) -> u32 {
        let last = self.tool_calls.keys().next_back().copied();
        match id.filter(|id| !id.is_empty()) {
            None => last.unwrap_or(0),
            Some(id) => self
                .tool_calls
                .iter()
                .find(|(_, call)| call.id == id)
                .map(|(index, _)| *index)
                .unwrap_or_else(|| last.map_or(0, |last| last.saturating_add(1))),
        }
    }

    /// Adds a tool call, or a piece of the one at `index`.
    fn add_tool_call(&mut self, index: u32, call: WireToolCall) {
        let id = call.id.filter(|id| !id.is_empty());
        let partial = self.tool_calls.entry(index).or_default();
        if let Some(id) = id
            && partial.id.is_empty()
        {
            partial.id = id;
        }
        let Some(function) = call.function else {
            return;
        };
        if let Some(name) = function.name
            && partial.name.is_empty()
        {
            partial.name = name;
        }
        match function.arguments {
            Some(Value::String(piece)) => partial.arguments.push_str(&piece),
            Some(Value::Null) | None => {}
            Some(other) => partial.arguments.push_str(&other.to_string()),
        }
    }

    /// The events held back, in order: the tool calls by index, the usage, `Finish`.
    /// Call only once the answer is known to be complete.
    pub(super) fn finish(self) -> Result<Vec<ProviderEvent>, ProviderError> {
        let mut events = Vec::with_capacity(self.tool_calls.len() + 2);
        let taken: HashSet<String> = self.tool_calls.values().map(|c| c.id.clone()).collect();
        for (index, call) in self.tool_calls {
            if call.name.is_empty() {
                return Err(ProviderError::Protocol {
                    provider: self.endpoint.provider.clone(),
                    detail: format!("tool call {index} has no function name"),
                });
            }
            let id = if call.id.is_empty() {
                generated_call_id(&taken)
            } else {
                call.id
            };
            events.push(ProviderEvent::ToolCall(ToolCall {
                id,
                name: call.name,
                arguments: call.arguments,
            }));
        }
        let has_tool_calls = !events.is_empty();
        let finish = match self.finish {
            // Some servers (Ollama) say `stop` after tool calls; the calls are what counts.
            Some(FinishReason::Stop) | None if has_tool_calls => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Stop,
        };
        debug!(
            provider = %self.endpoint.provider,
            tool_calls = events.len(),
            finish = ?finish,
            usage = ?self.usage,
            "answer complete"
        );
        events.extend(self.usage.map(ProviderEvent::Usage));
        events.push(ProviderEvent::Finish(finish));
        Ok(events)
    }

    pub(super) fn protocol(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::Protocol {
            provider: self.endpoint.provider.clone(),
            detail: detail.into(),
        }
    }
}

/// An id for a call the server sent without one: not one of the answer's other ids
/// (`taken`), and numbered across the process so turns do not repeat each other's.
fn generated_call_id(taken: &HashSet<String>) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        let id = format!("call_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        if !taken.contains(&id) {
            return id;
        }
    }
}

/// The events of a whole (non-streamed) `chat.completion` body.
pub(super) fn parse_completion(
    endpoint: &Endpoint,
    status: u16,
    body: &[u8],
) -> Result<Vec<ProviderEvent>, ProviderError> {
    let mut answer = Answer::new(endpoint, status);
    let text = String::from_utf8_lossy(body);
    let response: WireResponse = serde_json::from_str(&text)
        .map_err(|e| answer.protocol(format!("invalid JSON ({e}): {}", error::clip(&text))))?;
    // An error object is reported as such; anything else without an answer is no answer.
    if response.error.is_none() && response.choices.as_ref().is_none_or(Vec::is_empty) {
        return Err(answer.protocol(format!(
            "the response holds no answer: {}",
            error::clip(&text)
        )));
    }
    let mut events = answer.add(response)?;
    events.extend(answer.finish()?);
    Ok(events)
}
