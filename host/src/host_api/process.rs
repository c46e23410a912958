//! `conch:tool/process`: a plugin asks the host to run a command. The host runs only
//! the command the gate approved for this call, and only one the plugin declares when it
//! declares its commands, in a working directory inside the roots, through the sandbox
//! (see `sandbox`). Refusals reach the guest as `Err`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::process::{self as wit, Command, Completed, Host};
use super::{CallState, Grant, HostCapability, ToolError};
use crate::permission::declared;
use crate::sandbox::{CommandRequest, DEFAULT_TIMEOUT, MAX_TIMEOUT, SandboxPolicy};

/// What a call with the `process` capability may run, and how.
#[derive(Debug, Clone)]
pub struct ProcessAccess {
    /// The command the gate approved (the tool's key argument).
    pub approved: Option<String>,
    /// The commands the plugin declares it runs, if it narrowed them (see `plugin::reach`).
    pub commands: Option<Vec<String>>,
    pub cwd: PathBuf,
    pub roots: Vec<PathBuf>,
    pub policy: SandboxPolicy,
    pub output_dir: Option<PathBuf>,
    pub cancel: Arc<AtomicBool>,
}

/// The `process` capability.
pub struct Process;

impl HostCapability for Process {
    const NAME: &'static str = "process";
    const MEANING: &'static str = "run commands (each approved as `bash`, sandboxed)";
    const INTERFACES: &'static [&'static str] = &["process"];
    type Access = ProcessAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(
        grant: &Grant<'_>,
        _: &mut WasiCtxBuilder,
    ) -> Result<Option<ProcessAccess>, ToolError> {
        let ctx = grant.ctx;
        Ok(Some(ProcessAccess {
            approved: grant.approved.map(str::to_string),
            commands: grant.commands.map(<[String]>::to_vec),
            cwd: ctx.cwd.clone(),
            roots: ctx.roots.clone(),
            policy: grant.limits.sandbox.clone(),
            output_dir: ctx.output_dir.clone(),
            cancel: ctx.cancel.clone(),
        }))
    }
}

impl Host for CallState {
    fn run(&mut self, cmd: Command) -> Result<Completed, String> {
        let access = self
            .granted
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
            declared::check_command(&self.plugin, patterns, &cmd.command)?;
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
