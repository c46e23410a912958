//! `conch lsp status`, and what `run`, `chat` and `repl` share: the language-server
//! manager of a session (nothing starts until a file needs a server).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Subcommand;

use super::{CliError, SandboxArgs, cwd_or_current, load_config};
use crate::config::{AfterEdit, Config};
use crate::lsp::query::Operation;
use crate::lsp::{DeniesRead, LanguageServers, Options, SandboxLaunch, State, Trust};
use crate::permission::{Decision, Flags, Gate, PermissionKey, Request, workspace_path};
use crate::plugin::CallContext;
use crate::sandbox::SandboxPolicy;

#[derive(Debug, Subcommand)]
pub enum LspCommand {
    /// Show the language servers found (configured or preset, on PATH), those looked
    /// for and not found, and whether this project lets them run; with --file, start
    /// the server for that file and show how it went.
    Status {
        /// The project (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Start the server for this file (relative to the project) and report it.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Let servers run in this project for this command (they run its code).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

/// The language servers of a session in the workspace of `ctx`; `None` when none was
/// found. They may run when the project is trusted, or `yes` trusts it for the run;
/// otherwise, when `can_ask` (someone is on the terminal), the user is asked the first
/// time one would start, and a yes is kept in the trust store. Places a `read` rule of
/// the config denies are left out of their answers.
pub fn manager(
    config: &Config,
    ctx: &CallContext,
    policy: &SandboxPolicy,
    yes: bool,
    can_ask: bool,
) -> Result<Option<Arc<LanguageServers>>, CliError> {
    let settings = config.lsp().map_err(|e| CliError::Usage(e.to_string()))?;
    let root = ctx.roots.first().unwrap_or(&ctx.cwd).clone();
    let trust = if yes || config.servers_trusted(&root) {
        Trust::Granted
    } else if can_ask {
        let project = root.clone();
        let names: Vec<String> = settings.servers.iter().map(|s| s.name.clone()).collect();
        Trust::Ask(Box::new(move || ask_trust(&project, &names)))
    } else {
        Trust::Headless
    };
    let launcher = Arc::new(SandboxLaunch {
        workspace: root.clone(),
        policy: policy.clone(),
    });
    let gate = Gate::new(config.permission(), Flags::default());
    let cwd = ctx.cwd.clone();
    let workspace = root.clone();
    let denies_read: DeniesRead = Arc::new(move |path: &Path| {
        let request = Request {
            tool: "read".into(),
            permission: PermissionKey::READ,
            key: Some(workspace_path(&path.to_string_lossy(), &cwd, &workspace)),
        };
        gate.decide(&request).decision == Decision::Deny
    });
    let options = Options {
        denies_read: Some(denies_read),
        ..Options::default()
    };
    LanguageServers::new(settings, &root, trust, launcher, options)
        .map_err(|e| CliError::Failed(anyhow::anyhow!(e)))
}

/// Asks on the terminal whether language servers may run in the project at `root`
/// (they run its code); a yes is kept in the trust store, so it is not asked again.
fn ask_trust(root: &Path, servers: &[String]) -> bool {
    eprintln!();
    let yes = crate::ui::confirm(&format!(
        "A language server ({}) would start for {}. It can run the project's code (build scripts, macros). Let language servers run in this project?",
        servers.join(", "),
        root.display()
    ));
    if yes && let Err(e) = crate::trust::record(root, crate::trust::LANGUAGE_SERVERS) {
        eprintln!(
            "warning: language servers may run for this session, but the answer could not be kept: {e}"
        );
    }
    yes
}

pub fn run(command: LspCommand, trust: bool) -> Result<ExitCode, CliError> {
    let LspCommand::Status {
        cwd,
        file,
        yes,
        sandbox,
    } = command;
    let cwd = cwd_or_current(cwd)?;
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let config = load_config(&ctx.cwd, trust, false)?;
    let settings = config.lsp().map_err(|e| CliError::Usage(e.to_string()))?;
    let root = ctx.roots.first().unwrap_or(&ctx.cwd).clone();
    let mut out = std::io::stdout().lock();
    let mut lines = Vec::new();
    if settings.servers.is_empty() {
        lines.push(
            "no language server found on PATH (configure one with an [lsp.NAME] table in conch.toml, or install a preset's program)".to_string(),
        );
    }
    for server in &settings.servers {
        let from = server
            .file
            .as_ref()
            .map_or_else(|| "preset".to_string(), |f| f.display().to_string());
        lines.push(format!(
            "{}  {} {}  (.{}; root by {})  [{from}]",
            server.name,
            server.program.display(),
            server.args.join(" "),
            server.extensions.join(", ."),
            if server.root_markers.is_empty() {
                "the workspace".to_string()
            } else {
                server.root_markers.join(", ")
            }
        ));
    }
    for missing in &settings.missing {
        lines.push(format!(
            "{}: `{}` not found on PATH (for .{})",
            missing.name,
            missing.command,
            missing.extensions.join(", .")
        ));
    }
    let trusted = yes || config.servers_trusted(&root);
    lines.push(format!(
        "project {}: {}",
        root.display(),
        if trusted {
            "servers may run (trusted)"
        } else {
            "servers do not run: not trusted (they can run the project's code; asked on a terminal at the first start, or pass --trust-project or --yes, or run `conch config trust`)"
        }
    ));
    lines.push(format!(
        "after edits: {}",
        match settings.after_edit {
            AfterEdit::Errors => format!(
                "new errors reported (waiting up to {} ms)",
                settings.diagnostics_wait.as_millis()
            ),
            AfterEdit::Off => "off".to_string(),
        }
    ));
    if let Some(file) = file {
        let path = ctx.cwd.join(file);
        let servers = manager(&config, &ctx, &sandbox.policy(&config), yes, false)?
            .ok_or_else(|| CliError::Usage(settings.none_for(&path)))?;
        let request = crate::lsp::query::Request {
            operation: Operation::DocumentSymbols,
            path: path.clone(),
            line: None,
            column: None,
            symbol: None,
            occurrence: None,
            query: None,
        };
        let outcome = servers.query(request, &AtomicBool::new(false));
        if let Err(e) = &outcome
            && servers.statuses().is_empty()
        {
            lines.push(format!("{}: {e}", path.display()));
        }
        for status in servers.statuses() {
            let state = match &status.state {
                State::Stopped => "stopped".to_string(),
                State::Starting => "starting".to_string(),
                State::Ready => "running".to_string(),
                State::Failed(_) => "failed".to_string(),
            };
            lines.push(format!(
                "{}: {state} for root {}{}",
                status.server,
                status.root.display(),
                status
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |e| format!("; last error: {e}"))
            ));
        }
        for line in lines {
            writeln!(out, "{line}").map_err(|e| CliError::Failed(e.into()))?;
        }
        return Ok(if outcome.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    for line in lines {
        writeln!(out, "{line}").map_err(|e| CliError::Failed(e.into()))?;
    }
    Ok(ExitCode::SUCCESS)
}
