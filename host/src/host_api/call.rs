//! What one call is given and what it gives back: where and for whom it runs, the bounds
//! it runs within, its result or its error. Plain data shared by the runtime (`plugin`),
//! which runs the call, and the capabilities here, which grant it what it may reach.

use std::path::PathBuf;
use std::time::Duration;

use super::bindings::exports::conch::tool::tool as wit_tool;
use super::{Asker, CallClock, HttpPolicy};
use crate::changeset::Changeset;
use crate::sandbox::SandboxPolicy;

/// Where and for whom a call runs. Paths are absolute and canonical.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub cwd: PathBuf,
    pub roots: Vec<PathBuf>,
    pub session_id: String,
    pub call_id: String,
    /// Where commands the call runs keep their full output (the session's directory).
    pub output_dir: Option<PathBuf>,
    /// Set when the user interrupts the call: a running command is killed.
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The session's key/value state as the call starts (empty outside a session).
    pub state: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    /// Who answers a plugin's questions; `None` when no one can (headless).
    pub asker: Option<std::sync::Arc<dyn Asker>>,
    /// What the call has used of its deadline (started when the call starts).
    pub clock: CallClock,
    /// Whether the model takes images: a plugin may attach some to its result only then
    /// (the `output` import).
    pub accepts_images: bool,
    /// The session's language servers, when one was found: the dispatcher asks them
    /// about the errors an edit introduced.
    pub lsp: Option<std::sync::Arc<crate::lsp::LanguageServers>>,
}

/// The bounds every call runs within.
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// Wall time before the guest is interrupted.
    pub timeout: Duration,
    /// Linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// Text returned to the model before it is cut with a notice.
    pub output_bytes: usize,
    /// How commands run through the `process` import are confined.
    pub sandbox: SandboxPolicy,
    /// Which hosts the `http` import may reach.
    pub http: HttpPolicy,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            timeout: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            output_bytes: 100 * 1024,
            sandbox: SandboxPolicy::default(),
            http: HttpPolicy::default(),
        }
    }
}

/// A tool's successful result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// What the model reads.
    pub text: String,
    /// Structured data for the UI.
    pub metadata: Option<serde_json::Value>,
    /// What the tool staged through the `workspace` import: not on disk yet.
    pub changes: Option<Changeset>,
    /// Session state keys the tool set (`Some`) or removed (`None`): not recorded yet.
    pub state_changes: Vec<(String, Option<String>)>,
    /// Images the tool attached for the model (the `output` import).
    pub images: Vec<crate::image::Image>,
}

/// A failed call. The message is written for the model, which gets it as the result.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ToolError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    OutsideWorkspace(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    UnknownTool(String),
    #[error("{0}")]
    Failed(String),
    #[error("the tool ran longer than its {} s limit and was stopped", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("the tool used more than {} MiB of memory and was stopped", .0 >> 20)]
    OutOfMemory(usize),
    #[error("the tool crashed: {0}")]
    Crashed(String),
    #[error("the tool returned an invalid result: {0}")]
    InvalidOutput(String),
    #[error("plugin {plugin} cannot run: {reason}")]
    Unavailable { plugin: String, reason: String },
}

impl From<wit_tool::ToolError> for ToolError {
    fn from(e: wit_tool::ToolError) -> Self {
        use wit_tool::ToolError as W;
        match e {
            W::InvalidInput(m) => ToolError::InvalidInput(m),
            W::OutsideWorkspace(m) => ToolError::OutsideWorkspace(m),
            W::NotFound(m) => ToolError::NotFound(m),
            W::Denied(m) => ToolError::Denied(m),
            W::UnknownTool(m) => ToolError::UnknownTool(m),
            W::Failed(m) => ToolError::Failed(m),
        }
    }
}
