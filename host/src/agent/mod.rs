//! The agent loop: send the conversation to the provider, run the tool calls it asks
//! for through the permission gate and the sandbox, append everything to the session,
//! and go on until the model answers without calls, a limit is hit, or the user stops.
//!
//! Errors are results: invalid arguments, unknown tools, denials and tool failures go
//! back to the model as the call's result. Only the provider giving up (after retries)
//! or the session file becoming unwritable end a turn with an error.

pub mod compaction;
mod dispatch;
mod event;
mod freshness;
mod profile;
mod prompt;
mod retry;
mod tools;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use dispatch::{CallOutcome, Dispatcher, Journal, StaleCheck};
pub use event::{AgentEvent, EventSink, TokenTotals, TurnSummary};
pub use profile::{AgentProfile, AgentProfiles, DEFAULT_AGENT, UnknownAgent};
pub use prompt::system_prompt;
pub use tools::{InvalidArguments, ToolBox};

use crate::image::Image;
use crate::message::{Message, ToolCall};
use crate::permission::{Approver, Gate};
use crate::plugin::{CallContext, CallLimits};
use crate::provider::{ChatRequest, Provider, ProviderError, ProviderEvent, ToolDefinition};
use crate::session::{Entry, SessionError, SessionWriter, pending_calls, repair};

/// The same failing call this many times in a row stops the turn.
const REPEATED_FAILURE_LIMIT: u32 = 3;
/// Share of the compaction threshold that recent turns may keep.
const TAIL_SHARE: f64 = 0.3;

/// The limits and thresholds of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_steps: u32,
    pub retries: u32,
    /// Compact when the prompt is estimated above this share of the context window.
    pub compact_at: f64,
    pub context_window: u64,
    pub tool_limits: CallLimits,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// The model answered without tool calls.
    Answered,
    /// `max_steps` requests were made and the model still wanted tools.
    MaxSteps,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// The model made the same failing call again and again.
    RepeatedFailure,
}

impl TurnEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnEnd::Answered => "answered",
            TurnEnd::MaxSteps => "max_steps",
            TurnEnd::Interrupted => "interrupted",
            TurnEnd::RepeatedFailure => "repeated_failure",
        }
    }
}

/// Why a turn failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What a turn talks to besides the model: where events go, who is asked, and the
/// signal that the user wants to stop.
pub struct TurnIo<'a> {
    pub events: &'a mut dyn EventSink,
    pub approver: Option<&'a mut dyn Approver>,
    pub interrupt: CancellationToken,
}

/// The tools offered to the model, and what they add to each prompt's estimated size
/// (computed once: serialising every schema for each request's estimate showed up in
/// profiles).
struct Offered {
    definitions: Arc<[ToolDefinition]>,
    tokens: u64,
}

impl Offered {
    fn new(definitions: Vec<ToolDefinition>) -> Self {
        let chars: usize = definitions
            .iter()
            .map(|d| d.description.len() + d.parameters.to_string().len())
            .sum();
        Offered {
            definitions: definitions.into(),
            tokens: (chars / 4) as u64,
        }
    }
}

/// One conversation being worked on.
pub struct Agent {
    provider: Arc<dyn Provider>,
    offered: Offered,
    /// Runs the model's tool calls.
    dispatch: Dispatcher,
    session: SessionWriter,
    messages: Vec<Message>,
    settings: Settings,
    /// The name of the agent profile in use.
    agent: String,
    /// The profile whose tools are offered (`None`: every tool).
    offering: Option<AgentProfile>,
}

/// What the model gets for one call: the text, whether it succeeded, and the images
/// it returned (for a model that takes them).
struct CallResult {
    output: String,
    ok: bool,
    images: Vec<Image>,
}

/// What arrived for one request.
#[derive(Debug, Default)]
struct Reply {
    text: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
}

/// A request's outcome when it did not fail.
enum Streamed {
    Complete(Reply),
    /// Ctrl-C: what had arrived.
    Interrupted(Reply),
}

/// Whether the calls of one step let the turn go on.
enum Flow {
    Continue,
    Interrupted,
    RepeatedFailure(String),
}

/// Consecutive failures of one identical call.
#[derive(Default)]
struct FailureStreak {
    last: Option<(String, String)>,
    count: u32,
}

impl FailureStreak {
    /// Notes a call's outcome; true when the same call has now failed too often.
    fn note(&mut self, call: &ToolCall, ok: bool) -> bool {
        if ok {
            *self = FailureStreak::default();
            return false;
        }
        let this = (call.name.clone(), call.arguments.clone());
        if self.last.as_ref() == Some(&this) {
            self.count += 1;
        } else {
            self.last = Some(this);
            self.count = 1;
        }
        self.count >= REPEATED_FAILURE_LIMIT
    }
}

impl Agent {
    /// An agent on `session`, whose conversation so far is `messages` (the system
    /// prompt first; empty only for a session that has nothing yet).
    pub fn new(
        provider: Arc<dyn Provider>,
        tools: ToolBox,
        gate: Gate,
        ctx: CallContext,
        session: SessionWriter,
        messages: Vec<Message>,
        settings: Settings,
    ) -> Self {
        let offered = Offered::new(tools.definitions());
        let mut ctx = ctx;
        ctx.session_id = session.id().to_string();
        ctx.accepts_images = provider.accepts_images();
        ctx.output_dir = Some(session.output_dir());
        let dispatch = Dispatcher::new(tools, gate, ctx, settings.tool_limits.clone());
        Agent {
            provider,
            offered,
            dispatch,
            session,
            messages,
            settings,
            agent: DEFAULT_AGENT.into(),
            offering: None,
        }
    }

    /// Works as `profile` from now on: only its tools are offered, and the gate decides
    /// as it says. Nothing is recorded (see [`Agent::switch_agent`]).
    pub fn use_profile(&mut self, profile: &AgentProfile) {
        self.offered = Offered::new(self.dispatch.tools().definitions_for(profile));
        self.dispatch.gate_mut().set_agent(profile.restriction());
        self.agent = profile.name.clone();
        self.offering = Some(profile.clone());
    }

    /// Switches to `profile` in the middle of a session (asking `provider` from now on,
    /// if given): the session records it, and the model is told in a user message,
    /// since the system prompt it already has cannot change.
    pub fn switch_agent(
        &mut self,
        profile: &AgentProfile,
        provider: Option<Arc<dyn Provider>>,
    ) -> Result<(), SessionError> {
        self.use_profile(profile);
        if let Some(provider) = provider {
            self.replace_provider(provider);
        }
        self.record(Entry::Agent {
            name: profile.name.clone(),
        })?;
        let mut note = format!(
            "[conch] The user switched to the `{}` agent: {}.",
            profile.name, profile.description
        );
        if let Some(prompt) = &profile.prompt {
            note.push('\n');
            note.push_str(prompt);
        }
        self.record(Entry::Message(Message::user(note)))
    }

    /// Asks `provider` from now on; returns the one it asked before.
    pub fn replace_provider(&mut self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        self.dispatch.context_mut().accepts_images = provider.accepts_images();
        std::mem::replace(&mut self.provider, provider)
    }

    /// Whether the model asked now is sent images.
    pub fn accepts_images(&self) -> bool {
        self.provider.accepts_images()
    }

    /// The name of the agent profile in use.
    pub fn agent_name(&self) -> &str {
        &self.agent
    }

    /// Takes what an earlier part of the session read and wrote (its `entries`) as seen,
    /// so stale-write protection carries over when a session is continued, and the
    /// session's state (the todo list) as it was.
    pub fn with_history(mut self, entries: &[Entry]) -> Self {
        self.dispatch.resume(entries);
        self
    }

    /// Who answers the questions tools ask (`None`: no one, a headless run).
    pub fn set_asker(&mut self, asker: Option<Arc<dyn crate::host_api::Asker>>) {
        self.dispatch.context_mut().asker = asker;
    }

    pub fn session_id(&self) -> &str {
        self.session.id()
    }

    /// The tools it can call.
    pub fn tools(&self) -> &ToolBox {
        self.dispatch.tools()
    }

    /// The directory the agent works in.
    pub fn working_dir(&self) -> &std::path::Path {
        &self.dispatch.context().cwd
    }

    /// Appends an entry to the session file (and a message to the conversation).
    pub fn record(&mut self, entry: Entry) -> Result<(), SessionError> {
        self.session.append(&entry)?;
        if let Entry::Message(message) = entry {
            self.messages.push(message);
        }
        Ok(())
    }

    /// Runs one turn: `prompt` (if any) is added as the user's message; calls a crash
    /// left without results run first.
    pub async fn run_turn(
        &mut self,
        prompt: Option<&str>,
        io: &mut TurnIo<'_>,
    ) -> Result<TurnEnd, AgentError> {
        self.run_turn_with_images(prompt, Vec::new(), io).await
    }

    /// [`Agent::run_turn`] with `images` in the user's message (the caller has checked
    /// that the model takes them: [`Agent::accepts_images`]).
    pub async fn run_turn_with_images(
        &mut self,
        prompt: Option<&str>,
        images: Vec<Image>,
        io: &mut TurnIo<'_>,
    ) -> Result<TurnEnd, AgentError> {
        let mut steps = 0;
        let result = self.turn(prompt, images, io, &mut steps).await;
        let reason = match &result {
            Ok(end) => end.as_str(),
            Err(e) => {
                io.events.emit(&AgentEvent::Error {
                    message: e.to_string(),
                });
                "error"
            }
        };
        io.events.emit(&AgentEvent::Done {
            reason: reason.into(),
            steps,
            summary: None,
        });
        result
    }

    async fn turn(
        &mut self,
        prompt: Option<&str>,
        images: Vec<Image>,
        io: &mut TurnIo<'_>,
        steps: &mut u32,
    ) -> Result<TurnEnd, AgentError> {
        let mut streak = FailureStreak::default();
        let pending = pending_calls(&self.messages);
        if !pending.is_empty() {
            tracing::info!(
                calls = pending.len(),
                "running the calls a crash left without results"
            );
            match self.run_calls(&pending, io, &mut streak).await? {
                Flow::Continue => {}
                Flow::Interrupted => return self.interrupted(),
                Flow::RepeatedFailure(message) => return self.repeated_failure(message, io),
            }
        }
        if prompt.is_some() || !images.is_empty() {
            let message = Message::user(prompt.unwrap_or_default()).with_images(images);
            self.record(Entry::Message(message))?;
        }
        let mut compacted_for_overflow = false;
        loop {
            if *steps >= self.settings.max_steps {
                let message = format!(
                    "stopped after {} steps (max_steps); continue with `conch run --continue`",
                    self.settings.max_steps
                );
                self.record(Entry::Error {
                    message: message.clone(),
                })?;
                io.events.emit(&AgentEvent::Error { message });
                return Ok(TurnEnd::MaxSteps);
            }
            *steps += 1;
            self.compact_if_needed(io).await?;
            self.refresh_tools();
            let request = ChatRequest {
                messages: repair(&self.messages),
                tools: self.offered.definitions.clone(),
            };
            io.events.emit(&AgentEvent::Request { step: *steps });
            let reply = match self.ask(request, io, true).await {
                Ok(Streamed::Complete(reply)) => reply,
                Ok(Streamed::Interrupted(partial)) => {
                    if !partial.text.is_empty() {
                        self.record(Entry::Message(assistant(partial)))?;
                    }
                    return self.interrupted();
                }
                Err(AgentError::Provider(ProviderError::ContextOverflow { .. }))
                    if !compacted_for_overflow =>
                {
                    compacted_for_overflow = true;
                    *steps -= 1;
                    self.compact(io, true).await?;
                    continue;
                }
                Err(e) => {
                    // The error is in the session too, so `sessions show` tells the story.
                    let _ = self.record(Entry::Error {
                        message: e.to_string(),
                    });
                    return Err(e);
                }
            };
            let calls = reply.tool_calls.clone();
            self.record(Entry::Message(assistant(reply)))?;
            if calls.is_empty() {
                return Ok(TurnEnd::Answered);
            }
            match self.run_calls(&calls, io, &mut streak).await? {
                Flow::Continue => {}
                Flow::Interrupted => return self.interrupted(),
                Flow::RepeatedFailure(message) => return self.repeated_failure(message, io),
            }
        }
    }

    /// Offers the MCP tools as they are now (a server that became ready, a list that
    /// changed), telling the user what joined.
    fn refresh_tools(&mut self) {
        let Some(news) = self.dispatch.tools_mut().refresh() else {
            return;
        };
        for line in news {
            tracing::warn!("{line}");
        }
        let tools = self.dispatch.tools();
        self.offered = Offered::new(match &self.offering {
            Some(profile) => tools.definitions_for(profile),
            None => tools.definitions(),
        });
    }

    fn interrupted(&mut self) -> Result<TurnEnd, AgentError> {
        self.record(Entry::Interrupted)?;
        Ok(TurnEnd::Interrupted)
    }

    fn repeated_failure(
        &mut self,
        message: String,
        io: &mut TurnIo<'_>,
    ) -> Result<TurnEnd, AgentError> {
        self.record(Entry::Error {
            message: message.clone(),
        })?;
        io.events.emit(&AgentEvent::Error { message });
        Ok(TurnEnd::RepeatedFailure)
    }

    /// Sends `request`, retrying what can be retried; text and tool calls are shown when
    /// `show` is set.
    async fn ask(
        &mut self,
        request: ChatRequest,
        io: &mut TurnIo<'_>,
        show: bool,
    ) -> Result<Streamed, AgentError> {
        let mut attempt = 0;
        loop {
            match self.stream_once(request.clone(), io, show).await {
                Ok(streamed) => return Ok(streamed),
                Err(AgentError::Provider(e))
                    if e.is_retryable() && attempt < self.settings.retries =>
                {
                    attempt += 1;
                    let wait = retry::delay(attempt, e.retry_after());
                    tracing::info!(attempt, wait_ms = wait.as_millis() as u64, "retrying: {e}");
                    io.events.emit(&AgentEvent::Retry {
                        attempt,
                        of: self.settings.retries,
                        delay_ms: wait.as_millis() as u64,
                        error: e.to_string(),
                    });
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = io.interrupt.cancelled() => return Ok(Streamed::Interrupted(Reply::default())),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request, streamed. Usage is recorded as it arrives.
    async fn stream_once(
        &mut self,
        request: ChatRequest,
        io: &mut TurnIo<'_>,
        show: bool,
    ) -> Result<Streamed, AgentError> {
        tracing::debug!(messages = request.messages.len(), "request");
        let mut events = self.provider.stream(request);
        let mut reply = Reply::default();
        let mut remote_edits = dispatch::PendingEdits::default();
        loop {
            let event = tokio::select! {
                biased;
                () = io.interrupt.cancelled() => return Ok(Streamed::Interrupted(reply)),
                event = events.recv() => event,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(ProviderError::Protocol {
                        provider: self.provider.name().to_string(),
                        detail: "the provider stopped before the answer was complete".into(),
                    }
                    .into());
                }
            };
            match event {
                ProviderEvent::TextDelta(text) => {
                    if show {
                        io.events
                            .emit(&AgentEvent::TextDelta { text: text.clone() });
                    }
                    reply.text.push_str(&text);
                }
                ProviderEvent::ReasoningDelta(text) => {
                    if show {
                        io.events
                            .emit(&AgentEvent::ReasoningDelta { text: text.clone() });
                    }
                    reply.reasoning.push_str(&text);
                }
                ProviderEvent::ToolCall(mut call) => {
                    // Each result must answer one call: a repeated (or missing) id would
                    // leave the model seeing one result for several calls.
                    let taken = |id: &str| reply.tool_calls.iter().any(|c| c.id == id);
                    if call.id.is_empty() || taken(&call.id) {
                        let base = if call.id.is_empty() { "call" } else { &call.id };
                        let mut n = reply.tool_calls.len() + 1;
                        while taken(&format!("{base}_{n}")) {
                            n += 1;
                        }
                        call.id = format!("{base}_{n}");
                    }
                    reply.tool_calls.push(call);
                }
                ProviderEvent::RemoteTool(activity) => {
                    self.dispatch.note_remote_tool(
                        activity,
                        &mut remote_edits,
                        &mut self.session,
                        io,
                        show,
                    )?;
                }
                ProviderEvent::PermissionRequest(ask) => {
                    self.dispatch.answer_remote_ask(
                        &ask,
                        &mut remote_edits,
                        &mut self.session,
                        io,
                    )?;
                }
                ProviderEvent::Usage(usage) => {
                    io.events.emit(&AgentEvent::Usage {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                        cached_prompt_tokens: usage.cached_prompt_tokens,
                    });
                    self.record(Entry::Usage(usage))?;
                }
                ProviderEvent::Finish(reason) => {
                    tracing::debug!(?reason, calls = reply.tool_calls.len(), "reply complete");
                    return Ok(Streamed::Complete(reply));
                }
            }
        }
    }

    /// Runs `calls` in order, appending a result for each.
    async fn run_calls(
        &mut self,
        calls: &[ToolCall],
        io: &mut TurnIo<'_>,
        streak: &mut FailureStreak,
    ) -> Result<Flow, AgentError> {
        for (index, call) in calls.iter().enumerate() {
            let outcome = if io.interrupt.is_cancelled() {
                None
            } else {
                self.run_call(call, io).await?
            };
            let Some(CallResult { output, ok, images }) = outcome else {
                // Ctrl-C: the rest did not run, and the session says so.
                for skipped in &calls[index..] {
                    self.record(Entry::Message(Message::tool_result(
                        &skipped.id,
                        "error: not run: the user interrupted the turn",
                    )))?;
                }
                return Ok(Flow::Interrupted);
            };
            let summary = summarise_output(&output, ok);
            io.events.emit(&AgentEvent::ToolResult {
                id: call.id.clone(),
                name: call.name.clone(),
                ok,
                summary,
                output: output.clone(),
            });
            self.record(Entry::Message(
                Message::tool_result(&call.id, output).with_images(images),
            ))?;
            if streak.note(call, ok) {
                // Results for the rest, so the session stays well formed.
                for skipped in &calls[index + 1..] {
                    self.record(Entry::Message(Message::tool_result(
                        &skipped.id,
                        "error: not run: the turn was stopped",
                    )))?;
                }
                return Ok(Flow::RepeatedFailure(format!(
                    "stopped: `{}` failed {REPEATED_FAILURE_LIMIT} times in a row with the same arguments",
                    call.name
                )));
            }
        }
        Ok(Flow::Continue)
    }

    /// Runs a call of an earlier session again, as the loop would (schema, gate, sandbox,
    /// changes), and records its result; for `conch replay`. `None` when the user
    /// interrupted it (its result then says so).
    pub async fn rerun_call(
        &mut self,
        call: &ToolCall,
        io: &mut TurnIo<'_>,
    ) -> Result<Option<(String, bool)>, AgentError> {
        let outcome = self.run_call(call, io).await?;
        let message = match &outcome {
            Some(result) => {
                Message::tool_result(&call.id, &result.output).with_images(result.images.clone())
            }
            None => {
                Message::tool_result(&call.id, "error: not run: the user interrupted the replay")
            }
        };
        self.record(Entry::Message(message))?;
        Ok(outcome.map(|result| (result.output, result.ok)))
    }

    /// Runs one call through the dispatcher. `None` when the user interrupted it.
    async fn run_call(
        &mut self,
        call: &ToolCall,
        io: &mut TurnIo<'_>,
    ) -> Result<Option<CallResult>, AgentError> {
        let outcome = self.dispatch.dispatch(call, &mut self.session, io).await?;
        let images = outcome.images().to_vec();
        Ok(outcome
            .for_model()
            .map(|(output, ok)| CallResult { output, ok, images }))
    }

    /// Compacts when the conversation is estimated above the threshold.
    async fn compact_if_needed(&mut self, io: &mut TurnIo<'_>) -> Result<(), AgentError> {
        if self.estimated_prompt() > self.threshold() {
            self.compact(io, false).await?;
        }
        Ok(())
    }

    fn threshold(&self) -> u64 {
        (self.settings.context_window as f64 * self.settings.compact_at) as u64
    }

    /// The estimated size of the next prompt, tool definitions included.
    fn estimated_prompt(&self) -> u64 {
        compaction::estimate_tokens(&self.messages) + self.offered.tokens
    }

    /// Whether compacting now could shrink the conversation (`/compact` asks first, so a
    /// short conversation costs no summary request that would only make it larger).
    pub fn can_compact(&self) -> bool {
        compaction::can_shrink(&repair(&self.messages))
    }

    /// Shrinks the conversation: prunes old tool outputs and, if that is not enough (or
    /// `force`), has the model summarise older turns. Returns whether anything changed.
    pub async fn compact(&mut self, io: &mut TurnIo<'_>, force: bool) -> Result<bool, AgentError> {
        let before = compaction::estimate_tokens(&self.messages);
        let threshold = self.threshold();
        let mut messages = repair(&self.messages);
        let pruned = compaction::prune_tool_outputs(&mut messages);
        let fits = compaction::estimate_tokens(&messages) <= threshold;
        // Forced (an overflow the estimate did not see, or /compact): keep only the
        // latest block as it is.
        let tail_budget = if force {
            0
        } else {
            (threshold as f64 * TAIL_SHARE) as u64
        };
        let plan = if fits && !force {
            None
        } else {
            compaction::plan(&messages, tail_budget)
        };
        if let Some(plan) = plan {
            let request = ChatRequest {
                messages: compaction::summary_request(&plan.middle),
                tools: Arc::from([]),
            };
            match self.ask(request, io, false).await? {
                Streamed::Complete(reply) if !reply.text.trim().is_empty() => {
                    messages = compaction::assemble(plan, &reply.text);
                }
                Streamed::Complete(_) => {
                    tracing::warn!("the model's summary was empty; only pruning");
                }
                Streamed::Interrupted(_) => return Ok(false),
            }
        } else if !pruned {
            return Ok(false);
        }
        let after = compaction::estimate_tokens(&messages);
        self.record(Entry::Compaction {
            messages: messages.clone(),
            tokens_before: before,
            tokens_after: after,
        })?;
        self.messages = messages;
        io.events.emit(&AgentEvent::Compaction {
            tokens_before: before,
            tokens_after: after,
        });
        Ok(true)
    }
}

/// The assistant message for a reply.
fn assistant(reply: Reply) -> Message {
    Message::Assistant {
        content: Some(reply.text).filter(|t| !t.is_empty()),
        reasoning_content: Some(reply.reasoning).filter(|t| !t.is_empty()),
        tool_calls: reply.tool_calls,
    }
}

/// One line about a result: the error's first line, how a command ended, or how much came
/// back.
fn summarise_output(output: &str, ok: bool) -> String {
    let first = output.lines().next().unwrap_or("").trim();
    if !ok {
        // Cut with a mark, so a cut line is not read as the whole message.
        let mut line: String = first.chars().take(160).collect();
        if line.len() < first.len() {
            line.push('…');
        }
        return line;
    }
    // A command says how it ended first (`exit 3 · 0.2 s`), whatever it printed.
    if let Some(command) = crate::ui::CommandReport::parse(output) {
        return command.summary();
    }
    match output.lines().count() {
        0 => "no output".into(),
        1 if first.len() <= 80 => first.to_string(),
        n => format!("{n} lines"),
    }
}
