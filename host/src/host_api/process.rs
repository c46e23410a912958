//! `conch:tool/process`: a plugin asks the host to run a command. The host runs only
//! the command the gate approved for this call, and only one the plugin declares when it
//! declares its commands, in a working directory inside the roots, through the sandbox
//! (see `sandbox`). Refusals reach the guest as `Err`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::CallState;
use crate::plugin::bindings::conch::tool::process::{Command, Completed, Host};
use crate::plugin::reach;
use crate::sandbox::{CommandRequest, DEFAULT_TIMEOUT, MAX_TIMEOUT, SandboxPolicy};

/// What a call with the `process` capability may run, and how.
#[derive(Debug, Clone)]
pub struct ProcessAccess {
    /// The command the gate approved (the tool's key argument).
    pub approved: Option<String>,
    /// The commands the plugin declares it runs, if it narrowed them (see `reach`).
    pub commands: Option<Vec<String>>,
    pub cwd: PathBuf,
    pub roots: Vec<PathBuf>,
    pub policy: SandboxPolicy,
    pub output_dir: Option<PathBuf>,
    pub cancel: Arc<AtomicBool>,
}

impl Host for CallState {
    fn run(&mut self, cmd: Command) -> Result<Completed, String> {
        let access = self
            .process
            .as_ref()
            .ok_or("this plugin has no process capability")?;
        if access.approved.as_deref() != Some(cmd.command.as_str()) {
            return Err(match &access.approved {
                Some(approved) => {
                    format!("refused: only the approved command `{approved}` may run in this call")
                }
                None => "refused: no command was approved for this call".into(),
            });
        }
        if let Some(patterns) = &access.commands {
            reach::check_command(&self.plugin, patterns, &cmd.command)?;
        }
        let cwd = if cmd.cwd.is_empty() {
            access.cwd.clone()
        } else {
            let joined = access.cwd.join(&cmd.cwd);
            std::fs::canonicalize(&joined)
                .map_err(|e| format!("the working directory {}: {e}", cmd.cwd))?
        };
        let timeout = cmd
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(ms.into()))
            .min(MAX_TIMEOUT);
        let done = self.clock.excluding(|| {
            crate::sandbox::run(&CommandRequest {
                command: crate::sandbox::Program::Shell(&cmd.command),
                cwd: &cwd,
                roots: &access.roots,
                timeout,
                env: &cmd.env,
                policy: &access.policy,
                output_dir: access.output_dir.as_deref(),
                cancel: Some(&access.cancel),
            })
        })?;
        if done.cancelled {
            return Err("the user interrupted the command".into());
        }
        Ok(Completed {
            exit_code: done.exit_code,
            timed_out: done.timed_out,
            stdout: done.stdout.text,
            stdout_truncated: done.stdout.truncated,
            stderr: done.stderr.text,
            stderr_truncated: done.stderr.truncated,
            duration_ms: u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
        })
    }
}
