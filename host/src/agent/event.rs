//! What the loop reports while it works: one [`AgentEvent`] per thing that happened,
//! for the terminal renderer or for `--format json` (one event per line).

use serde::Serialize;

/// One thing that happened during a run. Serialised with a `type` field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    SessionStart {
        session_id: String,
        /// Continuing an earlier session rather than starting one.
        resumed: bool,
        provider: String,
        model: String,
        cwd: String,
        /// The agent profile in use (`build`, `plan`, …).
        agent: String,
    },
    /// A request went to the provider; nothing has arrived yet.
    Request {
        step: u32,
    },
    TextDelta {
        text: String,
    },
    ReasoningDelta {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        /// The tool's key argument (a path, a pattern, a command), if it has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The arguments as the model sent them.
        arguments: String,
    },
    Permission {
        id: String,
        tool: String,
        allowed: bool,
        by: String,
    },
    ToolResult {
        id: String,
        name: String,
        ok: bool,
        /// One line for people, e.g. "42 lines" or the error.
        summary: String,
        /// What the model reads.
        output: String,
    },
    /// A call's changes were committed; `diff` is their unified diff (the same the
    /// permission prompt shows).
    Changes {
        id: String,
        diff: String,
    },
    /// A tool the provider ran itself (an agent CLI's own tools): shown, not run here.
    RemoteToolUse {
        id: String,
        name: String,
        input: String,
    },
    RemoteToolResult {
        id: String,
        output: String,
        is_error: bool,
    },
    Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
        /// Of the prompt tokens, those served from the provider's cache.
        #[serde(skip_serializing_if = "is_zero")]
        cached_prompt_tokens: u64,
    },
    /// A request failed and will be sent again after `delay_ms`.
    Retry {
        attempt: u32,
        of: u32,
        delay_ms: u64,
        error: String,
    },
    Compaction {
        tokens_before: u64,
        tokens_after: u64,
    },
    /// A tool changed a key of the session's state; `value` is its JSON (or text), or
    /// none when removed. The key `todos` holds the todo list.
    State {
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
    },
    Error {
        message: String,
    },
    /// The turn is over. `reason`: answered, max_steps, interrupted, repeated_failure,
    /// or error.
    Done {
        reason: String,
        steps: u32,
        /// The answer and the tokens it took; filled in by [`crate::ui::Tally`], which
        /// every front end wraps its sink in (the loop itself does not sum usage).
        #[serde(flatten)]
        summary: Option<TurnSummary>,
    },
}

/// Tokens the provider reported, summed over requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenTotals {
    /// Requests that reported usage.
    pub requests: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of the prompt tokens, those served from the provider's cache.
    pub cached_prompt_tokens: u64,
}

impl TokenTotals {
    /// Adds one request's usage.
    pub fn add(&mut self, usage: crate::message::Usage) {
        self.requests += 1;
        self.prompt_tokens += usage.prompt_tokens;
        self.completion_tokens += usage.completion_tokens;
        self.cached_prompt_tokens += usage.cached_prompt_tokens;
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a turn came to: the text of its last answer, its tokens and the session's so
/// far, and what they cost when the config has a price for the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TurnSummary {
    /// The final answer (the text of the turn's last assistant message).
    pub text: String,
    /// This turn's tokens.
    pub usage: TokenTotals,
    /// The tokens of every turn of this process's session so far, this one included.
    pub session_usage: TokenTotals,
    /// This turn's cost in US dollars, from `[pricing."MODEL"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The session's cost so far, when every turn of it had a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_cost_usd: Option<f64>,
}

/// Where events go.
pub trait EventSink {
    fn emit(&mut self, event: &AgentEvent);
}

/// Events into a list (for tests and for `conch bench`).
impl EventSink for Vec<AgentEvent> {
    fn emit(&mut self, event: &AgentEvent) {
        self.push(event.clone());
    }
}

/// A boxed sink, so a front end can pick one at run time and still wrap it.
impl<S: EventSink + ?Sized> EventSink for Box<S> {
    fn emit(&mut self, event: &AgentEvent) {
        (**self).emit(event);
    }
}
