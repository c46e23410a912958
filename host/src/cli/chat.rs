//! `conch run`: set up an agent (config, provider, tools, gate, session) and run one
//! turn. The setup is shared with the repl.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{ChatArgs, CliError, Format};
use crate::agent::{Agent, AgentError, AgentEvent, EventSink, Settings, ToolBox, TurnEnd, TurnIo};
use crate::config::{self, FlagOverrides};
use crate::message::Message;
use crate::permission::{Approver, Gate};
use crate::plugin::CallLimits;
use crate::session::{Entry, Header, SessionStore, Transcript};
use crate::ui::{JsonEvents, TerminalApprover, TextRenderer};

/// Exit code for a run the user interrupted (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An agent ready to work, and what the UI needs to say about it.
pub struct Prepared {
    pub agent: Agent,
    pub start: AgentEvent,
}

/// Builds the agent for `args`: a usage error (exit 2) for bad config, an unknown
/// session or an unusable directory.
pub fn prepare(args: &ChatArgs) -> Result<Prepared, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| usage(&e))?;
    let flags = FlagOverrides {
        provider: args.provider.clone(),
        model: args.model.clone(),
    };
    let config = config::load_with(Some(&ctx.cwd), &flags).map_err(|e| usage(&e))?;
    let policy = config::load_permission(Some(&ctx.cwd)).map_err(|e| usage(&e))?;
    let registry = Arc::new(super::registry(&args.plugins)?);
    // Compile (or load) the plugins while the first request is on its way.
    registry.warm_up();
    let provider = crate::provider::from_config(&config).map_err(|e| usage(&e))?;
    let store = SessionStore::open_default().map_err(|e| usage(&e))?;
    let mut gate = Gate::new(policy, args.permission.flags());
    let tools = ToolBox::new(registry);
    let settings = Settings {
        max_steps: args.max_steps.unwrap_or(config.max_steps),
        retries: config.retries,
        compact_at: config.compact_at,
        context_window: config
            .provider
            .context_window
            .unwrap_or(config::DEFAULT_CONTEXT_WINDOW),
        tool_limits: CallLimits {
            sandbox: args.sandbox.policy(&ctx.cwd)?,
            http: config::load_webfetch(Some(&ctx.cwd)).map_err(|e| usage(&e))?,
            ..CallLimits::default()
        },
    };
    let resume = match (&args.session, args.continue_latest) {
        (Some(id), _) => Some(Transcript::load(&store, id).map_err(|e| usage(&e))?),
        (None, true) => Some(Transcript::latest_in(&store, &ctx.cwd).map_err(|e| usage(&e))?),
        (None, false) => None,
    };
    let resumed = resume.is_some();
    let cwd_text = ctx.cwd.to_string_lossy().into_owned();
    let agent = match resume {
        Some(transcript) => {
            if !transcript.skipped.is_empty() {
                tracing::warn!(
                    lines = ?transcript.skipped,
                    "some lines of the session could not be read and were skipped"
                );
            }
            for record in transcript.remembered() {
                let permission = tools
                    .spec(&record.tool)
                    .map_or_else(String::new, |spec| spec.permission.clone());
                gate.allow_for_session(&crate::permission::Request {
                    tool: record.tool.clone(),
                    permission,
                    key: record.key.clone(),
                });
            }
            let writer = store
                .append_to(&transcript.header.id)
                .map_err(|e| usage(&e))?;
            Agent::new(
                provider,
                tools,
                gate,
                ctx,
                writer,
                transcript.messages,
                settings,
            )
            .with_history(&transcript.entries)
        }
        None => {
            let header = Header {
                id: String::new(),
                cwd: cwd_text.clone(),
                provider: config.provider.name.clone(),
                model: config.provider.model.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                created: crate::session::now_rfc3339(),
            };
            let writer = store
                .create(header)
                .map_err(|e| CliError::Failed(e.into()))?;
            // An agent CLI brings its own tools; conch's are not offered to it.
            let offered = if config.provider.agent_cli.is_some() {
                Vec::new()
            } else {
                tools.definitions()
            };
            let prompt =
                crate::agent::system_prompt(&ctx, &offered, crate::dirs::config_dir().as_deref());
            let mut agent = Agent::new(provider, tools, gate, ctx, writer, Vec::new(), settings);
            agent
                .record(Entry::Message(Message::system(prompt)))
                .map_err(|e| CliError::Failed(e.into()))?;
            agent
        }
    };
    let start = AgentEvent::SessionStart {
        session_id: agent.session_id().to_string(),
        resumed,
        provider: config.provider.name.clone(),
        model: config.provider.model.clone(),
        cwd: cwd_text,
    };
    Ok(Prepared { agent, start })
}

/// A single-threaded runtime: the loop is one task, tools run on blocking threads.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))
}

/// A token cancelled by the next Ctrl-C (SIGINT), and the task that waits for it.
pub fn interrupt_on_ctrl_c() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    (token, watcher)
}

/// `conch run PROMPT`.
pub fn run(prompt: String, format: Format, args: &ChatArgs) -> Result<ExitCode, CliError> {
    let prompt_from_stdin = prompt == "-";
    let prompt = if prompt_from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("cannot read the prompt from stdin: {e}")))?;
        text
    } else {
        prompt
    };
    if prompt.trim().is_empty() && args.session.is_none() && !args.continue_latest {
        return Err(CliError::Usage(
            "the prompt is empty; say what the agent should do".into(),
        ));
    }
    let Prepared { mut agent, start } = prepare(args)?;
    let mut sink: Box<dyn EventSink> = match format {
        Format::Json => Box::new(JsonEvents::new(std::io::stdout())),
        Format::Text => {
            let terminal = std::io::stderr().is_terminal();
            Box::new(TextRenderer::new(crate::ui::use_colour(terminal), terminal))
        }
    };
    sink.emit(&start);
    // Someone can be asked only on a terminal whose stdin did not carry the prompt.
    let mut terminal = TerminalApprover;
    let present = !prompt_from_stdin && std::io::stdin().is_terminal();
    let approver: Option<&mut dyn Approver> = if present { Some(&mut terminal) } else { None };
    if present {
        agent.set_asker(Some(Arc::new(crate::ui::TerminalAsker)));
    }
    let prompt = Some(prompt).filter(|p| !p.trim().is_empty());
    let outcome = runtime()?.block_on(async {
        let (interrupt, watcher) = interrupt_on_ctrl_c();
        let mut io = TurnIo {
            events: &mut *sink,
            approver,
            interrupt,
        };
        let outcome = agent.run_turn(prompt.as_deref(), &mut io).await;
        watcher.abort();
        outcome
    });
    exit_for(outcome)
}

/// The exit code for how a turn ended; failures were already shown as events.
fn exit_for(outcome: Result<TurnEnd, AgentError>) -> Result<ExitCode, CliError> {
    match outcome {
        Ok(TurnEnd::Answered) => Ok(ExitCode::SUCCESS),
        Ok(TurnEnd::Interrupted) => Err(CliError::Reported(EXIT_INTERRUPTED)),
        Ok(TurnEnd::MaxSteps | TurnEnd::RepeatedFailure) | Err(_) => Err(CliError::Reported(1)),
    }
}

/// The history file of the repl.
pub fn history_file() -> Option<PathBuf> {
    crate::dirs::data_dir().map(|d| d.join("history"))
}
