//! `conch sandbox -- PROGRAM ARGS…`: run a program, exec'd with its arguments as given,
//! under the policy the bash tool gets, so a user can see what it may and may not do;
//! `conch sandbox --check`: what this machine enforces. No gate: the user typed it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{CliError, SandboxArgs};
use crate::sandbox::{CommandRequest, DEFAULT_TIMEOUT, Program};

/// Runs `command` (a program and its arguments) and exits with its status.
pub fn run(
    cwd: Option<&Path>,
    args: &SandboxArgs,
    check: bool,
    command: &[String],
    trust_project: bool,
) -> Result<ExitCode, CliError> {
    let cwd = match cwd {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let config = super::load_config(&ctx.cwd, trust_project, false)?;
    let policy = args.policy(&config);
    if check {
        for line in crate::sandbox::enforced(&policy, &ctx.roots) {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if command.is_empty() {
        return Err(CliError::Usage(
            "give the command after `--` (or --check)".into(),
        ));
    }
    eprintln!(
        "sandbox: {}, network {}; writable: {}",
        policy.mode.as_str(),
        if policy.network { "on" } else { "off" },
        match policy.mode {
            crate::sandbox::SandboxMode::WorkspaceWrite =>
                format!("{} and a temp dir", ctx.roots[0].display()),
            crate::sandbox::SandboxMode::ReadOnly => "a temp dir".into(),
            crate::sandbox::SandboxMode::Off => "everything".into(),
        }
    );
    let done = crate::sandbox::run(&CommandRequest {
        command: Program::Argv(command),
        cwd: &ctx.cwd,
        roots: &ctx.roots,
        timeout: DEFAULT_TIMEOUT,
        env: &[],
        policy: &policy,
        output_dir: None,
        cancel: None,
    })
    .map_err(|e| CliError::Failed(anyhow::anyhow!(e)))?;
    let _ = std::io::stdout().write_all(done.stdout.text.as_bytes());
    let _ = std::io::stderr().write_all(done.stderr.text.as_bytes());
    if done.timed_out {
        eprintln!(
            "timed out after {} s; the command was killed",
            DEFAULT_TIMEOUT.as_secs()
        );
    }
    let code = done.exit_code.unwrap_or(128);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
