//! The one path every tool call takes, whoever asked for it — the agent loop, `conch
//! replay`, `conch tool` — and the gate that answers an agent CLI about its own tools
//! (remote.rs): schema check → plugin trust → gate (and prompt) → the call in the sandbox → session
//! state → stale check → gate with the diff → journal → commit → session record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod remote;

pub use remote::PendingEdits;

use super::freshness::FileStates;
use super::{AgentEvent, ToolBox, TurnIo};
use crate::changeset::{ChangeRecord, Changeset, PathRules};
use crate::message::ToolCall;
use crate::permission::{Allowed, DecidedBy, Decision, Denied, Gate, PermissionKey, Request};
use crate::plugin::{CallClock, CallContext, CallLimits, ToolError, ToolSpec};
use crate::session::{Entry, PermissionRecord, SessionError, SessionWriter};

/// How long a tool that was interrupted gets to stop (its commands are killed) before
/// the call is given up on.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How often a running call's clock is looked at, and how far past its deadline a call
/// stuck in host work is given up on.
const WATCH_EVERY: Duration = Duration::from_millis(100);
const STUCK_GRACE: Duration = Duration::from_millis(500);

/// Where the dispatcher records what a call decided and changed: the session's file.
pub trait Journal {
    fn append(&mut self, entry: &Entry) -> Result<(), SessionError>;
    /// Where the pre-images of the files a change overwrites are saved.
    fn blob_dir(&mut self) -> Result<PathBuf, SessionError>;
}

impl Journal for SessionWriter {
    fn append(&mut self, entry: &Entry) -> Result<(), SessionError> {
        SessionWriter::append(self, entry)
    }

    fn blob_dir(&mut self) -> Result<PathBuf, SessionError> {
        Ok(SessionWriter::blob_dir(self))
    }
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// It ran, and what it changed is on disk.
    Ran {
        text: String,
        metadata: Option<serde_json::Value>,
        /// The change it made, as a unified diff.
        diff: Option<String>,
        /// Images for the model (a `read` of a picture, for a model that takes them).
        images: Vec<crate::image::Image>,
    },
    /// It was refused or failed; the error is the model's result.
    Failed(ToolError),
    /// The user stopped it (Ctrl-C while it ran or at its prompt).
    Interrupted,
}

impl CallOutcome {
    /// The images the call returned for the model.
    pub fn images(&self) -> &[crate::image::Image] {
        match self {
            CallOutcome::Ran { images, .. } => images,
            _ => &[],
        }
    }

    /// The result the model reads and whether the call succeeded; `None` when the user
    /// interrupted it.
    pub fn for_model(&self) -> Option<(String, bool)> {
        match self {
            CallOutcome::Ran { text, .. } => Some((text.clone(), true)),
            // A denial is worded for the model already.
            CallOutcome::Failed(ToolError::Denied(message)) => Some((message.clone(), false)),
            CallOutcome::Failed(error) => Some((format!("error: {error}"), false)),
            CallOutcome::Interrupted => None,
        }
    }
}

/// Whether a change is refused when its file changed since the model last read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleCheck {
    /// As the tool's manifest says (the agent loop).
    AsDeclared,
    /// Never: a person gave the call and has seen the file (`conch tool`).
    Off,
    /// Only for files this session read or wrote: others the caller may have read with
    /// tools conch does not see (`conch mcp serve`).
    SeenOnly,
}

/// Runs tool calls for one session.
pub struct Dispatcher {
    tools: ToolBox,
    gate: Gate,
    ctx: CallContext,
    rules: PathRules,
    files: FileStates,
    /// The session's key/value state (the `state` import), as its entries left it.
    state: Arc<BTreeMap<String, String>>,
    limits: CallLimits,
    stale_check: StaleCheck,
}

impl Dispatcher {
    pub fn new(tools: ToolBox, gate: Gate, ctx: CallContext, limits: CallLimits) -> Self {
        Dispatcher {
            tools,
            gate,
            rules: PathRules::new(ctx.roots.clone(), ctx.cwd.clone()),
            files: FileStates::default(),
            state: Arc::default(),
            ctx,
            limits,
            stale_check: StaleCheck::AsDeclared,
        }
    }

    pub fn with_stale_check(mut self, stale_check: StaleCheck) -> Self {
        self.stale_check = stale_check;
        self
    }

    /// Takes what an earlier part of the session read and wrote as seen (stale-write
    /// protection carries over) and its state as it was.
    pub fn resume(&mut self, entries: &[Entry]) {
        self.files = FileStates::from_entries(entries);
        self.state = Arc::new(crate::session::state_from(entries));
    }

    pub fn tools(&self) -> &ToolBox {
        &self.tools
    }

    pub fn tools_mut(&mut self) -> &mut ToolBox {
        &mut self.tools
    }

    pub fn gate_mut(&mut self) -> &mut Gate {
        &mut self.gate
    }

    pub fn context(&self) -> &CallContext {
        &self.ctx
    }

    pub fn context_mut(&mut self) -> &mut CallContext {
        &mut self.ctx
    }

    /// Validates, decides and runs `call`, recording its decisions, state and changes in
    /// `session` (the call and its result message are the caller's to record).
    pub async fn dispatch(
        &mut self,
        call: &ToolCall,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
    ) -> Result<CallOutcome, SessionError> {
        let parsed = self.tools.parse_arguments(&call.name, &call.arguments);
        let spec = self.tools.spec(&call.name).cloned();
        let key = match (&spec, &parsed) {
            (Some(spec), Ok(input)) => spec.key_value(input),
            _ => None,
        };
        io.events.emit(&AgentEvent::ToolCall {
            id: call.id.clone(),
            name: call.name.clone(),
            key,
            arguments: call.arguments.clone(),
        });
        let Some(spec) = spec else {
            let error = self.tools.registry().unknown_tool(&call.name);
            return Ok(CallOutcome::Failed(error));
        };
        let input = match parsed {
            Ok(input) => input,
            Err(e) => return Ok(CallOutcome::Failed(ToolError::InvalidInput(e.0))),
        };
        let mut ctx = self.ctx.clone();
        ctx.call_id = call.id.clone();
        ctx.state = self.state.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        ctx.cancel = cancel.clone();
        ctx.clock = CallClock::default();
        let clock = ctx.clock.clone();
        let request = spec.request(&input, &ctx);
        if let Some((plugin, _)) = self.tools.registry().find(&call.name)
            && let Some(root) = ctx.roots.first()
            && let Err(message) = crate::plugin::trust::admit(
                plugin,
                &spec,
                request.key.as_deref(),
                root,
                self.gate.flags().yes,
                io.approver.as_deref_mut(),
            )
        {
            return Ok(CallOutcome::Failed(ToolError::Denied(message)));
        }
        // A tool that changes files is asked about with its diff, after it ran (it only
        // stages); before that, only an outright denial stops it.
        let decide_on_changes = spec.permission == PermissionKey::EDIT
            && self.gate.decide(&request).decision != Decision::Deny;
        let requests = if decide_on_changes {
            Vec::new()
        } else {
            spec.requests(&input, &ctx)
        };
        for request in requests {
            let decision = self.gate.check(&request, io.approver.as_deref_mut());
            record_decision(call, request.key.clone(), &decision, session, io)?;
            if let Err(denied) = decision {
                if denied.by == DecidedBy::Interrupted {
                    // Ctrl-C at the prompt: the turn stops now.
                    io.interrupt.cancel();
                    return Ok(CallOutcome::Interrupted);
                }
                return Ok(CallOutcome::Failed(ToolError::Denied(denied.message)));
            }
        }
        tracing::debug!(tool = %call.name, "running");
        let registry = self.tools.registry().clone();
        let name = call.name.clone();
        let arguments = input.to_string();
        let limits = self.limits.clone();
        let running =
            tokio::task::spawn_blocking(move || registry.call(&name, &arguments, &ctx, &limits));
        tokio::pin!(running);
        let result = loop {
            tokio::select! {
                () = io.interrupt.cancelled() => {
                    // A command the tool started is killed; wait (briefly) until it is gone.
                    cancel.store(true, Ordering::Relaxed);
                    let _ = tokio::time::timeout(STOP_WAIT, &mut running).await;
                    return Ok(CallOutcome::Interrupted);
                }
                result = &mut running => break result,
                () = tokio::time::sleep(WATCH_EVERY) => {
                    // The guest is interrupted at its deadline; host work it is blocked in
                    // (a WASI open of a FIFO) is not, so the call is given up on here and
                    // its thread left to finish on its own.
                    if clock.used() > self.limits.timeout + STUCK_GRACE {
                        cancel.store(true, Ordering::Relaxed);
                        tracing::warn!(tool = %call.name, "the call is stuck in host work; given up");
                        return Ok(CallOutcome::Failed(ToolError::Timeout(self.limits.timeout)));
                    }
                }
            }
        };
        tracing::debug!(tool = %call.name, "returned");
        let mut output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => return Ok(CallOutcome::Failed(error)),
            Err(join) => {
                return Ok(CallOutcome::Failed(ToolError::Failed(format!(
                    "the tool stopped unexpectedly: {join}"
                ))));
            }
        };
        self.apply_state(std::mem::take(&mut output.state_changes), session, io)?;
        if let Some(changes) = output.changes {
            if let Err(refused) = self.apply_changes(call, &spec, &changes, session, io)? {
                return Ok(refused);
            }
            let mut text = changes.report(&output.text);
            if let Some(errors) = self.diagnostics_after(&changes).await {
                text.push_str("\n\n");
                text.push_str(&errors);
            }
            return Ok(CallOutcome::Ran {
                text,
                metadata: output.metadata,
                diff: Some(changes.diff()),
                images: output.images,
            });
        }
        // What a read tool returned is what later edits may start from.
        if spec.permission == PermissionKey::READ
            && let Some(path) = request
                .key
                .as_deref()
                .filter(|_| spec.key_arg.as_deref() == Some("path"))
            && let Some(seen) = self.files.note_read(&self.rules, path)
        {
            session.append(&seen)?;
        }
        Ok(CallOutcome::Ran {
            text: output.text,
            metadata: output.metadata,
            diff: None,
            images: output.images,
        })
    }

    /// Checks staged changes (freshness, then the gate with the diff), journals and
    /// commits them. The inner `Err` is the refusal; the disk is untouched then.
    fn apply_changes(
        &mut self,
        call: &ToolCall,
        spec: &ToolSpec,
        changes: &Changeset,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
    ) -> Result<Result<(), CallOutcome>, SessionError> {
        let refused = |message: String| Ok(Err(CallOutcome::Failed(ToolError::Failed(message))));
        let record = ChangeRecord::new(changes, &call.id, &call.name);
        let fresh = match self.stale_check {
            StaleCheck::AsDeclared => self.files.check(changes, &record, true),
            StaleCheck::SeenOnly => self.files.check(changes, &record, false),
            StaleCheck::Off => Ok(()),
        };
        if spec.stale_check
            && let Err(stale) = fresh
        {
            return refused(stale);
        }
        let requests: Vec<Request> = changes
            .paths()
            .into_iter()
            .map(|path| Request {
                tool: call.name.clone(),
                permission: PermissionKey::EDIT,
                key: Some(path),
            })
            .collect();
        let diff = changes.diff();
        let decision = self.gate.check_changeset(
            &requests,
            &diff,
            crate::changeset::path::is_protected,
            io.approver.as_deref_mut(),
        );
        record_decision(
            call,
            Some(changes.paths().join(", ")),
            &decision,
            session,
            io,
        )?;
        if let Err(denied) = decision {
            if denied.by == DecidedBy::Interrupted {
                io.interrupt.cancel();
                return Ok(Err(CallOutcome::Interrupted));
            }
            return Ok(Err(CallOutcome::Failed(ToolError::Denied(denied.message))));
        }
        let blobs = match session.blob_dir() {
            Ok(blobs) => blobs,
            Err(e) => {
                return refused(format!(
                    "cannot save the copy needed to undo this change ({e}); nothing was written"
                ));
            }
        };
        if let Err(e) = crate::changeset::commit_recorded(changes, &record, &blobs) {
            return refused(e.to_string());
        }
        self.files.note_written(&record);
        session.append(&Entry::Changeset(record))?;
        io.events.emit(&AgentEvent::Changes {
            id: call.id.clone(),
            diff,
        });
        Ok(Ok(()))
    }

    /// What the language servers report about a committed change: the errors it
    /// introduced, or that they could not tell in time (see `LanguageServers::after_edit`).
    async fn diagnostics_after(&self, changes: &Changeset) -> Option<String> {
        let servers = self.ctx.lsp.clone()?;
        let files: Vec<crate::lsp::EditedFile> = changes
            .files
            .iter()
            .filter(|file| file.after.is_some())
            .map(|file| crate::lsp::EditedFile {
                path: changes.rules.absolute(&file.path),
                before: file
                    .before
                    .as_ref()
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
            })
            .collect();
        tokio::task::spawn_blocking(move || servers.after_edit(&files))
            .await
            .ok()
            .flatten()
    }

    /// Records what a successful call changed in the session's state, and tells the UI.
    fn apply_state(
        &mut self,
        changes: Vec<(String, Option<String>)>,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
    ) -> Result<(), SessionError> {
        for (key, value) in changes {
            let state = Arc::make_mut(&mut self.state);
            match &value {
                Some(value) => state.insert(key.clone(), value.clone()),
                None => state.remove(&key),
            };
            io.events.emit(&AgentEvent::State {
                key: key.clone(),
                value: value.as_deref().map(|text| {
                    serde_json::from_str(text).unwrap_or_else(|_| text.to_string().into())
                }),
            });
            session.append(&Entry::State { key, value })?;
        }
        Ok(())
    }
}

/// Records a gate decision in the session and tells the UI.
fn record_decision(
    call: &ToolCall,
    key: Option<String>,
    decision: &Result<Allowed, Denied>,
    session: &mut dyn Journal,
    io: &mut TurnIo<'_>,
) -> Result<(), SessionError> {
    let (allowed, by, remember) = match decision {
        Ok(allowed) => (true, allowed.by, allowed.remember),
        Err(denied) => (false, denied.by, false),
    };
    session.append(&Entry::Permission(PermissionRecord {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        key,
        allowed,
        by: by.as_str().into(),
        remember,
    }))?;
    io.events.emit(&AgentEvent::Permission {
        id: call.id.clone(),
        tool: call.name.clone(),
        allowed,
        by: by.as_str().into(),
    });
    Ok(())
}
