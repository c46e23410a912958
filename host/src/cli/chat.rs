//! `conch run`: set up an agent (config, provider, tools, gate, session) and run one
//! turn. The setup is shared with the repl.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{ChatArgs, CliError, Format};
use crate::agent::{
    Agent, AgentError, AgentEvent, AgentProfile, AgentProfiles, DEFAULT_AGENT, EventSink, Settings,
    ToolBox, TurnEnd, TurnIo,
};
use crate::config::{self, FlagOverrides};
use crate::custom_command::{CustomCommand, CustomCommands};
use crate::image::Image;
use crate::message::Message;
use crate::permission::{Approver, Gate};
use crate::session::{Entry, Header, SessionStore, Transcript};
use crate::ui::{JsonEvents, Tally, TerminalApprover, TextRenderer};

/// Exit code for a run the user interrupted (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An agent ready to work, and what the UI needs to say about it.
pub struct Prepared {
    pub agent: Agent,
    pub start: AgentEvent,
    /// The agent profiles it can switch to.
    pub profiles: AgentProfiles,
    /// The configuration it was built from (read once per process).
    pub config: config::Config,
    /// The arguments as they apply: with the model a continued session switched to
    /// (`/model`) unless `--model` chose one.
    pub args: ChatArgs,
}

/// The questions setting up an agent may ask on the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Questions {
    /// Whether to trust the project's conch.toml, where it sets what only a trusted
    /// project may.
    pub project_config: bool,
    /// Whether the project's language servers may run (asked at their first use).
    pub language_servers: bool,
}

impl Questions {
    /// Every question when someone is on the terminal to answer, none otherwise.
    pub fn all(someone_present: bool) -> Self {
        Self {
            project_config: someone_present,
            language_servers: someone_present,
        }
    }
}

/// Builds the agent for `args`: a usage error (exit 2) for bad config, an unknown
/// session or agent profile, or an unusable directory; `questions` says what may be
/// asked on the terminal.
pub fn prepare(args: &ChatArgs, questions: Questions) -> Result<Prepared, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| usage(&e))?;
    let loaded = super::load_config(&ctx.cwd, args.trust_project, questions.project_config)?;
    let sandbox = args.sandbox.policy(&loaded);
    // The first command must not wait for the sandbox's one-time probe, which starts the
    // run's warm namespace (~5-10 ms of bwrap): started first, it is ready sooner.
    crate::sandbox::probe_ahead(&sandbox, &ctx.roots, &ctx.cwd);
    // MCP servers start now, in the background, while the rest is set up.
    let mcp = super::mcp::start_servers(&loaded, &ctx, &sandbox)?;
    let mut ctx = ctx;
    ctx.lsp = super::lsp::manager(
        &loaded,
        &ctx,
        &sandbox,
        args.permission.yes,
        questions.language_servers,
    )?;
    let store = SessionStore::open_default().map_err(|e| usage(&e))?;
    let resume = match (&args.session, args.continue_latest) {
        (Some(id), _) => Some(Transcript::load(&store, id).map_err(|e| usage(&e))?),
        (None, true) => Some(Transcript::latest_in(&store, &ctx.cwd).map_err(|e| usage(&e))?),
        (None, false) => None,
    };
    // A continued session keeps its agent profile unless --agent says otherwise.
    let recorded_agent = resume.as_ref().and_then(|t| t.agent().map(str::to_string));
    let mut args = args.clone();
    if args.model.is_none() && args.provider.is_none() {
        args.model = resume.as_ref().and_then(|t| recorded_model(&t.entries));
    }
    let args = &args;
    let profiles = AgentProfiles::from_config(loaded.agents());
    let agent_name = args
        .agent
        .clone()
        .or_else(|| recorded_agent.clone())
        .unwrap_or_else(|| DEFAULT_AGENT.to_string());
    let profile = profiles.find(&agent_name).map_err(|e| usage(&e))?.clone();
    let mut registry = super::registry(&args.plugins, Some((&ctx.cwd, &loaded)))?;
    if ctx.lsp.is_none() {
        registry.withhold_builtin(crate::lsp::TOOL);
    }
    let registry = Arc::new(registry);
    check_tools(&profile, &registry)?;
    let config = resolve_config(args, &loaded, &profile)?;
    if !args.images.is_empty() && !config.provider.vision {
        return Err(CliError::Usage(no_vision(&config.provider)));
    }
    let policy = loaded.permission();
    // Compile (or load) the plugins while the first request is on its way.
    registry.warm_up();
    let provider = crate::provider::from_config(&config, &ctx.cwd).map_err(|e| usage(&e))?;
    // The first request carries the MCP tools of the servers ready by then.
    super::mcp::offer_tools(&registry, mcp);
    let mut gate = Gate::new(policy, args.permission.flags());
    let tools = ToolBox::new(registry);
    ToolBox::check_ahead();
    let settings = Settings {
        max_steps: args.max_steps.unwrap_or(config.max_steps),
        retries: config.retries,
        compact_at: config.compact_at,
        context_window: config
            .provider
            .context_window
            .unwrap_or(config::DEFAULT_CONTEXT_WINDOW),
        tool_limits: args.sandbox.call_limits(&loaded),
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
                // A tool not offered (yet: MCP tools come later) is remembered whole,
                // as for any key but `bash`.
                let permission = tools
                    .spec(&record.tool)
                    .map_or(crate::permission::PermissionKey::REMOTE, |spec| {
                        spec.permission.clone()
                    });
                gate.allow_for_session(&crate::permission::Request {
                    tool: record.tool.clone(),
                    permission,
                    key: record.key.clone(),
                });
            }
            let writer = store
                .append_to(&transcript.header.id)
                .map_err(|e| usage(&e))?;
            let mut agent = Agent::new(
                provider,
                tools,
                gate,
                ctx,
                writer,
                transcript.messages,
                settings,
            )
            .with_history(&transcript.entries);
            let was = recorded_agent.as_deref().unwrap_or(DEFAULT_AGENT);
            if profile.name == was {
                agent.use_profile(&profile);
            } else {
                agent
                    .switch_agent(&profile, None)
                    .map_err(|e| CliError::Failed(e.into()))?;
            }
            agent
        }
        None => {
            let header = Header {
                id: String::new(),
                cwd: cwd_text.clone(),
                provider: config.provider.name.clone(),
                model: config.provider.model.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                created: crate::session::now_rfc3339(),
                replay_of: None,
                tool_run: None,
            };
            let writer = store
                .create(header)
                .map_err(|e| CliError::Failed(e.into()))?;
            // An agent CLI brings its own tools; conch's are not offered to it.
            let offered = if config.provider.agent_cli.is_some() {
                Vec::new()
            } else {
                tools.definitions_for(&profile)
            };
            let mut prompt =
                crate::agent::system_prompt(&ctx, &offered, crate::dirs::config_dir().as_deref());
            if let Some(extra) = &profile.prompt {
                prompt.push_str(&format!(
                    "\n# Agent: {}\n{}\n",
                    profile.name,
                    extra.trim_end()
                ));
            }
            let mut agent = Agent::new(provider, tools, gate, ctx, writer, Vec::new(), settings);
            agent.use_profile(&profile);
            for entry in [
                Entry::Message(Message::system(prompt)),
                Entry::Agent {
                    name: profile.name.clone(),
                },
            ] {
                agent
                    .record(entry)
                    .map_err(|e| CliError::Failed(e.into()))?;
            }
            agent
        }
    };
    let start = AgentEvent::SessionStart {
        session_id: agent.session_id().to_string(),
        resumed,
        provider: config.provider.name.clone(),
        model: config.provider.model.clone(),
        cwd: cwd_text,
        agent: profile.name.clone(),
    };
    Ok(Prepared {
        agent,
        start,
        profiles,
        config: loaded,
        args: args.clone(),
    })
}

/// The model a session switched to with `/model`, unless it switched agent profile
/// after that (the profile's model applies then).
pub fn recorded_model(entries: &[Entry]) -> Option<String> {
    entries.iter().rev().find_map(|entry| match entry {
        Entry::Model { name } => Some(Some(name.clone())),
        Entry::Agent { .. } => Some(None),
        _ => None,
    })?
}

/// A usage error when `profile` names a tool there is none of (a typo would otherwise
/// leave the agent without it, silently).
fn check_tools(
    profile: &AgentProfile,
    registry: &crate::plugin::PluginRegistry,
) -> Result<(), CliError> {
    let crate::permission::ToolSet::Named(names) = &profile.tools else {
        return Ok(());
    };
    let unknown: Vec<&str> = names
        .iter()
        .filter(|name| registry.find(name).is_none())
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = registry.tools().map(|(_, t)| t.name.as_str()).collect();
    Err(CliError::Usage(format!(
        "agent `{}`: `tools` names {}, which there is no tool of; fix [agents.{}] in conch.toml (tools: {})",
        profile.name,
        unknown.join(", "),
        profile.name,
        known.join(", ")
    )))
}

/// The images of `--image`, read and checked: a usage error names the file and what is
/// wrong with it.
pub fn load_images(paths: &[PathBuf]) -> Result<Vec<Image>, CliError> {
    paths
        .iter()
        .map(|path| Image::load(path).map_err(CliError::Usage))
        .collect()
}

/// Why `provider` is sent no images, and what to do.
pub fn no_vision(provider: &config::ResolvedProvider) -> String {
    if provider.agent_cli.is_some() {
        return format!(
            "provider `{}` is an agent CLI, and conch passes it text only: it cannot be sent images; use an API provider whose model takes images",
            provider.name
        );
    }
    format!(
        "model `{}` of provider `{}` is not known to take images; if it does, set `vision = true` in [providers.{}] in conch.toml, or choose one that does (--provider, --model)",
        provider.model, provider.name, provider.name
    )
}

/// The provider configuration for a run as `profile`: its model, unless --model or
/// --provider chose otherwise.
fn resolve_config(
    args: &ChatArgs,
    loaded: &config::Config,
    profile: &AgentProfile,
) -> Result<config::ResolvedConfig, CliError> {
    let model = match (&args.model, &args.provider) {
        (Some(model), _) => Some(model.clone()),
        (None, Some(_)) => None,
        (None, None) => profile.model.clone(),
    };
    let flags = FlagOverrides {
        provider: args.provider.clone(),
        model,
    };
    loaded
        .resolve(&flags)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The provider to ask as `profile` (for switching agents or models in the repl), and
/// the name of the model it asks.
pub fn provider_for(
    args: &ChatArgs,
    loaded: &config::Config,
    profile: &AgentProfile,
    workdir: &std::path::Path,
) -> Result<(Arc<dyn crate::provider::Provider>, String), CliError> {
    let config = resolve_config(args, loaded, profile)?;
    let provider = crate::provider::from_config(&config, workdir)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((provider, config.provider.model))
}

/// The custom commands for a run with `args` (see [`crate::custom_command`]).
pub fn custom_commands(args: &ChatArgs) -> Result<CustomCommands, CliError> {
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    CustomCommands::load(&cwd, crate::dirs::config_dir().as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The custom command `name`, or a usage error listing the known ones.
fn find_command(args: &ChatArgs, name: &str) -> Result<CustomCommand, CliError> {
    custom_commands(args)?
        .find(name)
        .cloned()
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// A single-threaded runtime: the loop is one task, tools run on blocking threads.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))
}

/// Runs `work` on a [`runtime`] that is not waited for once `work` is done: a tool call
/// given up on while stuck in host work keeps its thread until the process exits.
pub fn block_on<F: std::future::Future>(work: F) -> Result<F::Output, CliError> {
    let runtime = runtime()?;
    let output = runtime.block_on(work);
    runtime.shutdown_background();
    Ok(output)
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

/// How `conch run` reports: the format, whether only the final answer is printed, and
/// where the final answer is written too.
#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    pub final_only: bool,
    pub last_message: Option<PathBuf>,
}

/// The task of `conch run`: the argument; `-`, or no argument with a stdin that is not a
/// terminal (and no session to continue), reads it from stdin. Returns it and whether
/// stdin carried it.
fn task(prompt: Option<String>, args: &ChatArgs) -> Result<(String, bool), CliError> {
    let continuing = args.session.is_some() || args.continue_latest;
    let from_stdin = match prompt.as_deref() {
        Some("-") => true,
        Some(_) => false,
        None => !continuing && !std::io::stdin().is_terminal(),
    };
    if !from_stdin {
        return Ok((prompt.unwrap_or_default(), false));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the prompt from stdin: {e}")))?;
    Ok((text, true))
}

/// `conch run PROMPT`, or `conch run --command NAME ARGUMENTS`.
pub fn run(
    prompt: Option<String>,
    command: Option<&str>,
    output: &Output,
    mut args: ChatArgs,
) -> Result<ExitCode, CliError> {
    let images = load_images(&args.images)?;
    let (prompt, prompt_from_stdin) = task(prompt, &args)?;
    let prompt = match command {
        Some(name) => {
            let command = find_command(&args, name)?;
            // The command's agent and model, unless the command line chose.
            args.agent = args.agent.or(command.agent.clone());
            args.model = args.model.or(command.model.clone());
            command.expand(&prompt)
        }
        None => prompt,
    };
    if prompt.trim().is_empty()
        && images.is_empty()
        && args.session.is_none()
        && !args.continue_latest
    {
        return Err(CliError::Usage(
            "the prompt is empty; say what the agent should do (`conch run TASK`, or the task on stdin)".into(),
        ));
    }
    // Someone can be asked only on a terminal whose stdin did not carry the prompt.
    let present = !prompt_from_stdin && std::io::stdin().is_terminal();
    let Prepared {
        mut agent,
        start,
        config,
        ..
    } = prepare(&args, Questions::all(present))?;
    let inner: Box<dyn EventSink> = match output.format {
        _ if output.final_only => Box::new(crate::ui::FinalAnswer),
        Format::Json => Box::new(JsonEvents::new(std::io::stdout())),
        Format::Text => {
            let terminal = std::io::stderr().is_terminal();
            Box::new(TextRenderer::new(crate::ui::use_colour(terminal), terminal))
        }
    };
    let pricing = match &start {
        AgentEvent::SessionStart { model, .. } => config.pricing(model),
        _ => None,
    };
    let mut sink = Tally::new(inner, pricing);
    sink.emit(&start);
    let mut terminal = TerminalApprover;
    let approver: Option<&mut dyn Approver> = if present { Some(&mut terminal) } else { None };
    if present {
        agent.set_asker(Some(Arc::new(crate::ui::TerminalAsker)));
    }
    let prompt = Some(prompt).filter(|p| !p.trim().is_empty());
    let outcome = block_on(async {
        let (interrupt, watcher) = interrupt_on_ctrl_c();
        let mut io = TurnIo {
            events: &mut sink,
            approver,
            interrupt,
        };
        let outcome = agent
            .run_turn_with_images(prompt.as_deref(), images, &mut io)
            .await;
        watcher.abort();
        outcome
    })?;
    if let Some(file) = &output.last_message {
        let text = sink.last().map(|s| s.text.as_str()).unwrap_or_default();
        std::fs::write(file, text).map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "cannot write the final answer to {}: {e}",
                file.display()
            ))
        })?;
    }
    drop(sink);
    // The answer is shown and the session is on disk: leave the agent (its engine and
    // pool, its connections) and the runtime's threads to the OS.
    super::exit_now(exit_code(&outcome))
}

/// The exit code for how a turn ended; failures were already shown as events.
fn exit_code(outcome: &Result<TurnEnd, AgentError>) -> u8 {
    match outcome {
        Ok(TurnEnd::Answered) => 0,
        Ok(TurnEnd::Interrupted) => EXIT_INTERRUPTED,
        Ok(TurnEnd::MaxSteps | TurnEnd::RepeatedFailure) | Err(_) => 1,
    }
}

/// The history file of the repl.
pub fn history_file() -> Option<PathBuf> {
    crate::dirs::data_dir().map(|d| d.join("history"))
}
