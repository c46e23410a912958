//! Providers: where the model's answers come from. Each one turns a [`ChatRequest`] into
//! a stream of [`ProviderEvent`]s; the agent loop knows nothing else about them.
//!
//! A stream is a channel: the provider runs as a task that sends events and ends with
//! exactly one `Finish` or one `Err`. Dropping the receiver cancels the request (that
//! is how Ctrl-C stops a turn). Retrying is the agent's job: a provider reports what
//! went wrong ([`ProviderError::is_retryable`], [`ProviderError::retry_after`]) and
//! never retries on its own, so text already shown is never silently repeated.

pub mod agent_cli;
pub mod openai;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::ResolvedConfig;
use crate::message::{Message, ToolCall, Usage};

/// The provider `config` describes: an agent CLI when it has a `command`, else an
/// OpenAI-compatible API.
pub fn from_config(
    config: &ResolvedConfig,
    workdir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Provider>> {
    if let Some(cli) = &config.provider.agent_cli {
        return Ok(Arc::new(agent_cli::AgentCliProvider::new(
            &config.provider,
            cli.clone(),
            config.idle_timeout,
            workdir,
        )));
    }
    let provider = openai::OpenAiProvider::new(&config.provider, config.idle_timeout)?;
    Ok(Arc::new(provider))
}

/// What the model is asked: the conversation so far and the tools it may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Shared with the agent, which sends the same tools with every request.
    pub tools: Arc<[ToolDefinition]>,
}

/// A tool as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema of the input.
    pub parameters: serde_json::Value,
}

/// One thing that arrived from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// Part of the visible answer.
    TextDelta(String),
    /// Part of a reasoning model's thinking.
    ReasoningDelta(String),
    /// A tool call, complete (assembled from its deltas).
    ToolCall(ToolCall),
    Usage(Usage),
    /// The answer is complete; always the last event of a good stream.
    Finish(FinishReason),
    /// A tool the provider ran itself (an agent CLI's own tools): shown, never run here.
    RemoteTool(RemoteTool),
    /// The provider asks whether one of its own tools may run (an agent CLI's
    /// `can_use_tool`); the loop answers through conch's permission gate.
    PermissionRequest(PermissionAsk),
}

/// Allowed, or denied with a message for the model.
pub type PermissionAnswer = Result<(), String>;

/// A provider's question about one of its own tools, and where the answer goes (once:
/// the event may be cloned, the answer is taken by the first to give it).
#[derive(Debug, Clone)]
pub struct PermissionAsk {
    /// The provider's id for this tool use (its `tool_use` block's), so the decision,
    /// the use and its result can be told apart from other uses of the same tool.
    pub id: String,
    pub tool: String,
    pub input: serde_json::Value,
    /// How conch's gate sees the tool.
    pub terms: GateTerms,
    answer: std::sync::Arc<std::sync::Mutex<Option<oneshot::Sender<PermissionAnswer>>>>,
}

/// How conch's gate sees a provider's tool: the permission key of the conch tool that
/// does the same (`bash`, `edit`, `read`, …) and the argument rules match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateTerms {
    pub permission: crate::permission::PermissionKey,
    pub key: Option<String>,
    /// The key is a file path as the provider wrote it (absolute, or relative to the
    /// directory it runs in), to be seen by rules as conch's own tools' paths are.
    pub key_is_path: bool,
}

impl PermissionAsk {
    /// A question and the receiver its answer arrives on.
    pub fn new(
        id: String,
        tool: String,
        input: serde_json::Value,
        terms: GateTerms,
    ) -> (Self, oneshot::Receiver<PermissionAnswer>) {
        let (sender, receiver) = oneshot::channel();
        let ask = PermissionAsk {
            id,
            tool,
            input,
            terms,
            answer: std::sync::Arc::new(std::sync::Mutex::new(Some(sender))),
        };
        (ask, receiver)
    }

    /// Answers: `Ok` allows, `Err` denies with a message for the model. Only the first
    /// answer counts.
    pub fn answer(&self, decision: PermissionAnswer) {
        let sender = self.answer.lock().ok().and_then(|mut slot| slot.take());
        if let Some(sender) = sender {
            let _ = sender.send(decision);
        }
    }
}

impl PartialEq for PermissionAsk {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.tool == other.tool && self.input == other.input
    }
}

impl Eq for PermissionAsk {}

/// One step of a provider's own tool use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteTool {
    Use {
        id: String,
        name: String,
        /// The input as JSON text.
        input: String,
    },
    Result {
        id: String,
        output: String,
        is_error: bool,
    },
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    ToolCalls,
    /// It hit the output token limit.
    Length,
    ContentFilter,
    Other(String),
}

impl FinishReason {
    pub fn parse(reason: &str) -> Self {
        match reason {
            "stop" => FinishReason::Stop,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        }
    }
}

/// The receiving end of a provider's stream.
pub type EventStream = mpsc::Receiver<Result<ProviderEvent, ProviderError>>;

/// A source of model answers.
pub trait Provider: Send + Sync {
    /// The provider's name in the config (for messages).
    fn name(&self) -> &str;
    /// The model it asks.
    fn model(&self) -> &str;
    /// Whether the model is sent the images a conversation carries (`vision`); when
    /// not, each is a line of text saying what it was.
    fn accepts_images(&self) -> bool {
        false
    }
    /// Starts a request; must be called inside a tokio runtime.
    fn stream(&self, request: ChatRequest) -> EventStream;
}

/// Why a request failed. Messages say what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error(
        "the API key for provider `{provider}` was rejected (HTTP {status}): {detail}; check the key (api_key in conch.toml or CONCH_API_KEY)"
    )]
    Auth {
        provider: String,
        status: u16,
        detail: String,
    },
    #[error(
        "provider `{provider}` does not know the model `{model}`: {detail}; set `model` in conch.toml or pass --model"
    )]
    UnknownModel {
        provider: String,
        model: String,
        detail: String,
    },
    #[error("the conversation is longer than the model's context window: {detail}")]
    ContextOverflow { detail: String },
    #[error("rate limited by provider `{provider}` (HTTP 429): {detail}")]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
        detail: String,
    },
    #[error("provider `{provider}` failed (HTTP {status}): {detail}")]
    Server {
        provider: String,
        status: u16,
        retry_after: Option<Duration>,
        detail: String,
    },
    #[error("provider `{provider}` refused the request (HTTP {status}): {detail}")]
    Rejected {
        provider: String,
        status: u16,
        detail: String,
    },
    #[error("cannot reach provider `{provider}` at {url}: {detail}")]
    Network {
        provider: String,
        url: String,
        detail: String,
    },
    #[error("provider `{provider}` sent nothing for {} s", .after.as_secs())]
    Timeout { provider: String, after: Duration },
    #[error("provider `{provider}` sent a malformed response: {detail}")]
    Protocol { provider: String, detail: String },
    #[error("provider `{provider}` cannot be used: {detail}")]
    Unavailable { provider: String, detail: String },
}

impl ProviderError {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Network { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::Protocol { .. }
        )
    }

    /// How long the server asked us to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
