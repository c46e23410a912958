//! `conch mcp list` and `conch mcp tools SERVER`, and what `run`, `repl` and `tools`
//! share: starting the configured MCP servers and offering their tools.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use super::{CliError, SandboxArgs, cwd_or_current, load_config};
use crate::config::Config;
use crate::mcp::{McpServers, State};
use crate::plugin::{CallContext, PluginRegistry};
use crate::sandbox::SandboxPolicy;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Start the configured servers and show each one's state, tools and last error.
    List {
        /// The project (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Start server SERVER and list its tools as the model sees them.
    Tools {
        server: String,
        /// The project (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Serve conch's tools (built-ins and installed plugins) over MCP on stdio, through
    /// the same gate, sandbox and undo journal as `conch tool`; one session per run.
    /// Nobody can be asked: calls that would ask are refused unless --yes/--allow-edit.
    Serve(super::mcp_serve::ServeArgs),
}

/// Starts the enabled `[mcp.NAME]` servers of `config` in the background, in the
/// workspace of `ctx`; `None` when there are none.
pub fn start_servers(
    config: &Config,
    ctx: &CallContext,
    policy: &SandboxPolicy,
) -> Result<Option<Arc<McpServers>>, CliError> {
    let configs = config
        .mcp_servers()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let root = ctx.roots.first().unwrap_or(&ctx.cwd);
    McpServers::start(configs, root, policy).map_err(|e| CliError::Failed(anyhow::anyhow!(e)))
}

/// Waits for the `servers` whose tool lists are not cached (each at most its startup
/// timeout) and offers the tools known by then through `registry` (those of servers ready
/// later join later requests); says on stderr which are not ready, and why.
pub fn offer_tools(registry: &PluginRegistry, servers: Option<Arc<McpServers>>) {
    let Some(servers) = servers else {
        return;
    };
    let mut warnings = servers.wait_for_first_request();
    warnings.extend(registry.set_mcp(servers));
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

pub fn run(command: McpCommand, trust: bool) -> Result<ExitCode, CliError> {
    let (cwd, sandbox, only) = match command {
        McpCommand::Serve(args) => return super::mcp_serve::run(args, trust),
        McpCommand::List { cwd, sandbox } => (cwd, sandbox, None),
        McpCommand::Tools {
            server,
            cwd,
            sandbox,
        } => (cwd, sandbox, Some(server)),
    };
    let cwd = cwd_or_current(cwd)?;
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let config = load_config(&ctx.cwd, trust, false)?;
    let mut configs = config
        .mcp_servers()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(name) = &only {
        let known: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        configs.retain(|c| &c.name == name);
        if configs.is_empty() {
            return Err(CliError::Usage(format!(
                "there is no enabled MCP server `{name}`; configured: {}",
                if known.is_empty() {
                    "none (add an [mcp.NAME] table to conch.toml)".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    if configs.is_empty() {
        println!("no MCP servers are configured (add an [mcp.NAME] table to conch.toml)");
        return Ok(ExitCode::SUCCESS);
    }
    let root = ctx.roots.first().unwrap_or(&ctx.cwd);
    let servers = McpServers::start(configs, root, &sandbox.policy(&config))
        .map_err(|e| CliError::Failed(anyhow::anyhow!(e)))?
        .ok_or_else(|| CliError::Usage("no MCP servers to start".into()))?;
    let (tools, problems) = servers.wait_for_tools();
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").map_err(|e| CliError::Failed(e.into()))
    };
    if only.is_some() {
        for tool in &tools {
            write(&mut out, format!("{}  ({})", tool.spec.name, tool.tool))?;
            write(
                &mut out,
                format!("  {}", tool.spec.description.lines().next().unwrap_or("")),
            )?;
            write(&mut out, format!("  input: {}", tool.spec.input_schema))?;
        }
        for problem in problems {
            eprintln!("warning: {problem}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    write(&mut out, "SERVER  STATE  TOOLS  LAST ERROR".into())?;
    for (name, status) in servers.statuses() {
        let state = match &status.state {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Failed(_) => "failed",
        };
        let names: Vec<&str> = tools
            .iter()
            .filter(|t| t.server == name)
            .map(|t| t.tool.as_str())
            .collect();
        let error = status
            .last_error
            .as_deref()
            .map_or("-".to_string(), |e| e.replace('\n', " | "));
        write(
            &mut out,
            format!(
                "{name}  {state}  {}  {error}",
                if names.is_empty() {
                    "-".to_string()
                } else {
                    names.join(",")
                }
            ),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
