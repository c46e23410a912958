//! `conch tool`: run one tool directly, through the same dispatch (gate, sandbox, journal)
//! the agent uses; a call that changes files is kept as a one-call session.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::chat::{EXIT_INTERRUPTED, block_on, interrupt_on_ctrl_c};
use super::{CliError, error_kind};
use crate::agent::{AgentEvent, CallOutcome, Dispatcher, Journal, StaleCheck, ToolBox, TurnIo};
use crate::message::{Message, ToolCall};
use crate::permission::{Flags, Gate};
use crate::plugin::{CallContext, CallLimits, ToolError};
use crate::session::{Entry, Header, SessionError, SessionStore, SessionWriter};

/// What `conch tool` was asked to do.
pub struct ToolRun {
    pub name: String,
    pub input: String,
    pub cwd: Option<PathBuf>,
    pub timeout: f64,
    pub json: bool,
    pub flags: Flags,
    pub sandbox: super::SandboxArgs,
    pub plugins: super::PluginArgs,
    pub trust_project: bool,
}

pub fn run_tool(run: ToolRun) -> Result<ExitCode, CliError> {
    let ToolRun {
        name,
        input,
        cwd,
        timeout,
        json,
        flags,
        sandbox,
        plugins,
        trust_project,
    } = run;
    let cwd = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let input_from_stdin = input == "-";
    // Someone can be asked only on a terminal whose stdin does not carry the input.
    let present = !input_from_stdin && std::io::stdin().is_terminal();
    let config = super::load_config(&cwd, trust_project, present)?;
    let registry = super::registry(&plugins, Some((&cwd, &config)))?;
    let name = name.as_str();
    if let Some(server) = mcp_server_of(name) {
        start_mcp_server(&registry, &config, &cwd, &sandbox, server)?;
    }
    if registry.find(name).is_none() {
        return Err(CliError::Usage(registry.unknown_tool(name).to_string()));
    }
    // Compile (or load) while we read the input and set up the workspace.
    registry.warm_up_tool(name);
    let input = if input_from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("cannot read the input from stdin: {e}")))?;
        text
    } else {
        input
    };
    serde_json::from_str::<serde_json::Value>(&input)
        .map_err(|e| CliError::Usage(format!("the input is not valid JSON: {e}")))?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Usage(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    let mut ctx =
        crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    if present {
        ctx.asker = Some(std::sync::Arc::new(crate::ui::TerminalAsker));
    }
    // Only the `lsp` tool gets language servers: an edit's diagnostics would start a
    // server in every one-call session a script runs.
    if name == crate::lsp::TOOL {
        ctx.lsp = super::lsp::manager(&config, &ctx, &sandbox.policy(&config), flags.yes, present)?;
    }
    let call = ToolCall {
        id: "tool-1".into(),
        name: name.to_string(),
        arguments: input,
    };
    let mut session = ToolRunSession::new(&call, &ctx);
    let limits = CallLimits {
        timeout: Duration::from_secs_f64(timeout),
        ..sandbox.call_limits(&config)
    };
    let mut dispatcher = Dispatcher::new(
        ToolBox::new(std::sync::Arc::new(registry)),
        Gate::new(config.permission(), flags),
        ctx,
        limits,
    )
    .with_stale_check(StaleCheck::Off);
    let mut terminal = crate::ui::TerminalApprover;
    let mut events: Vec<AgentEvent> = Vec::new();
    let outcome = block_on(async {
        let (interrupt, watcher) = interrupt_on_ctrl_c();
        let mut io = TurnIo {
            events: &mut events,
            approver: if present { Some(&mut terminal) } else { None },
            interrupt,
        };
        let outcome = dispatcher.dispatch(&call, &mut session, &mut io).await;
        watcher.abort();
        outcome
    })?
    .map_err(|e| CliError::Failed(e.into()))?;
    let result = match &outcome {
        CallOutcome::Ran { text, .. } => text.clone(),
        CallOutcome::Failed(error) => format!("error: {error}"),
        CallOutcome::Interrupted => "error: not run: the user interrupted it".into(),
    };
    if let Some(writer) = &mut session.writer
        && let Err(e) = writer.append(&Entry::Message(Message::tool_result(&call.id, result)))
    {
        eprintln!("warning: the change was made but its session is incomplete: {e}");
    }
    let (text, metadata) = match outcome {
        CallOutcome::Ran {
            text,
            metadata,
            diff,
            ..
        } => {
            let metadata = match diff {
                Some(diff) => {
                    let mut metadata = metadata.unwrap_or_else(|| serde_json::json!({}));
                    if let Some(fields) = metadata.as_object_mut() {
                        fields.insert("diff".into(), diff.into());
                    }
                    Some(metadata)
                }
                None => metadata,
            };
            (text, metadata)
        }
        CallOutcome::Failed(error) => return report_error(&error, json),
        CallOutcome::Interrupted => return Err(CliError::Reported(EXIT_INTERRUPTED)),
    };
    let mut out = std::io::stdout().lock();
    let written = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"text": text, "metadata": metadata})
        )
    } else if text.ends_with('\n') {
        write!(out, "{text}")
    } else {
        writeln!(out, "{text}")
    };
    written.map_err(|e| CliError::Failed(e.into()))?;
    Ok(ExitCode::SUCCESS)
}

/// The server part of an MCP tool's name (`mcp__SERVER__TOOL`): server names never
/// contain `__` (see `config::valid_server_name`).
fn mcp_server_of(name: &str) -> Option<&str> {
    let (server, _) = name
        .strip_prefix(crate::mcp::naming::PREFIX)?
        .split_once("__")?;
    Some(server)
}

/// Starts the one configured MCP server whose tools are named `mcp__SERVER__…` (no other:
/// a direct call needs only its own) and offers its tools; an unknown server is a usage
/// error naming those configured.
fn start_mcp_server(
    registry: &crate::plugin::PluginRegistry,
    config: &crate::config::Config,
    cwd: &std::path::Path,
    sandbox: &super::SandboxArgs,
    server: &str,
) -> Result<(), CliError> {
    let configs = config
        .mcp_servers()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let known: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
    let Some(wanted) = configs.into_iter().find(|c| c.name == server) else {
        return Err(CliError::Usage(format!(
            "there is no enabled MCP server `{server}`; configured: {}",
            if known.is_empty() {
                "none (add an [mcp.NAME] table to conch.toml)".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let ctx = crate::workspace::context_for(cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let root = ctx.roots.first().unwrap_or(&ctx.cwd);
    let servers = crate::mcp::McpServers::start(vec![wanted], root, &sandbox.policy(config))
        .map_err(|e| CliError::Failed(anyhow::anyhow!(e)))?;
    super::mcp::offer_tools(registry, servers);
    Ok(())
}

/// The one-call session a direct call is recorded in (listed by `conch sessions` as a
/// tool run), created when the call changes files so that `conch undo` can put them back.
/// Until then its entries wait in memory: a call that changes nothing leaves no session
/// behind (scripts call `conch tool` many times).
struct ToolRunSession {
    header: Header,
    pending: Vec<Entry>,
    writer: Option<SessionWriter>,
}

impl ToolRunSession {
    fn new(call: &ToolCall, ctx: &CallContext) -> Self {
        ToolRunSession {
            header: Header::tool_run(&ctx.cwd, &call.name),
            pending: vec![Entry::Message(Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: vec![call.clone()],
            })],
            writer: None,
        }
    }

    /// The session file, created now if it is not yet.
    fn writer(&mut self) -> Result<&mut SessionWriter, SessionError> {
        match &mut self.writer {
            Some(writer) => Ok(writer),
            slot @ None => {
                let mut writer = SessionStore::open_default()?.create(self.header.clone())?;
                for entry in self.pending.drain(..) {
                    writer.append(&entry)?;
                }
                Ok(slot.insert(writer))
            }
        }
    }
}

impl Journal for ToolRunSession {
    fn append(&mut self, entry: &Entry) -> Result<(), SessionError> {
        match &mut self.writer {
            Some(writer) => writer.append(entry),
            None => {
                self.pending.push(entry.clone());
                Ok(())
            }
        }
    }

    fn blob_dir(&mut self) -> Result<std::path::PathBuf, SessionError> {
        Ok(SessionWriter::blob_dir(self.writer()?))
    }
}

/// Prints a tool error (as JSON with `--json`) and exits 1.
fn report_error(error: &ToolError, json: bool) -> Result<ExitCode, CliError> {
    if json {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::json!({"error": {"kind": error_kind(error), "message": error.to_string()}})
        )
        .map_err(|e| CliError::Failed(e.into()))?;
    } else {
        eprintln!("error: {error}");
    }
    Ok(ExitCode::from(1))
}
