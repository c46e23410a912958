//! The command line: parsing (clap) and dispatch to the commands.
//!
//! Exit codes: 0 success, 1 a tool, provider or runtime failure, 2 a usage error (bad
//! arguments or config, unknown tool or session, an unusable plugin file), 130 the user
//! interrupted a run with Ctrl-C.

mod chat;
mod init;
mod line_editor;
mod lsp;
mod mcp;
mod mcp_serve;
mod models;
mod plugin;
mod plugin_build;
mod plugin_new;
mod repl;
mod replay;
mod resume;
mod sandbox_command;
mod sessions;
mod tool;
mod undo;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ProjectTrust};
use crate::permission::Flags;
use crate::plugin::{CompileCache, Origin, PluginRegistry, RegistryError, ToolError, discovery};

/// conch: a local coding agent whose tools are sandboxed WebAssembly components.
///
/// Without a command, on a terminal: the repl (`conch repl`).
#[derive(Debug, Parser)]
#[command(name = "conch", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Trust the project's conch.toml for this run: apply what it sets that can run a
    /// program, send a key or loosen a permission or the sandbox (see `conch config trust`).
    #[arg(long, global = true)]
    pub trust_project: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Give the agent a task and let it work until it answers.
    Run {
        /// The task, or `-` to read it from stdin; with --command, the command's arguments.
        /// Without it (and without --continue or --session), a stdin that is not a
        /// terminal is read as the task: `echo task | conch run`.
        prompt: Option<String>,
        /// Run the custom command NAME (`.conch/commands/NAME.md`, or `commands/` in the
        /// user config dir) with the prompt as its arguments.
        #[arg(long, value_name = "NAME")]
        command: Option<String>,
        /// Output: `text` (the answer on stdout, tool calls on stderr) or `json` (one
        /// event per line on stdout).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write the final answer (the text of the last message) to FILE when the run ends.
        #[arg(long, value_name = "FILE")]
        output_last_message: Option<PathBuf>,
        /// Print only the final answer on stdout, and errors on stderr; no tool calls,
        /// no streaming.
        #[arg(long, visible_alias = "quiet", short = 'q', conflicts_with = "format")]
        final_only: bool,
        /// Send an image (PNG, JPEG, GIF or WebP, at most 5 MB) with the task; repeatable.
        /// The model must take images (`vision` in conch.toml).
        #[arg(long = "image", value_name = "FILE")]
        images: Vec<PathBuf>,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Work with the agent interactively: line editing, history, /help for commands.
    Repl {
        /// A first prompt to run before reading from the terminal.
        prompt: Option<String>,
        /// Continue a recent session of this directory, picked from a list (headless:
        /// the list, and exit 2 asking for an id).
        #[arg(long, conflicts_with_all = ["session", "continue_latest"])]
        resume: bool,
        /// Send an image (PNG, JPEG, GIF or WebP, at most 5 MB) with the first prompt;
        /// repeatable. `/image FILE` adds one to the next prompt.
        #[arg(long = "image", value_name = "FILE")]
        images: Vec<PathBuf>,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Continue a session in the repl: the one with this id, or one picked from this
    /// directory's recent sessions (headless: the list, and exit 2 asking for an id).
    Resume {
        /// The session's id, or the start of one.
        id: Option<String>,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Ask the agent to write (or update) AGENTS.md for this project, through its tools
    /// and the permission gate (edits ask as usual; --allow-edit or --yes to approve).
    Init {
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// List the models the provider offers (`GET {base_url}/models`); `*` marks the
    /// configured one.
    Models {
        /// The provider to ask (a name from conch.toml or a preset).
        #[arg(long)]
        provider: Option<String>,
    },
    /// Print a completion script for SHELL: e.g. `conch completions bash >
    /// ~/.local/share/bash-completion/completions/conch`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Put back the files the last change of a session wrote.
    Undo {
        /// The session (default: the latest in the working directory).
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Working directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Restore even files that changed since the tool wrote them.
        #[arg(long)]
        force: bool,
    },
    /// Run a session's recorded tool calls again (no model) and report which results
    /// differ now. Exit 0 when all match, 1 when any differs.
    Replay(replay::ReplayArgs),
    /// List the saved sessions (newest first), or show one.
    Sessions {
        #[command(subcommand)]
        command: Option<SessionsCommand>,
    },
    /// List the tools the agent can use: name, plugin, permission, description.
    Tools {
        /// Print JSON (with each tool's input schema) instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Run one tool directly, through the same sandbox the agent uses.
    Tool {
        /// The tool's name (see `conch tools`).
        name: String,
        /// The input as JSON, or `-` to read it from stdin.
        input: String,
        /// Working directory for the call (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Seconds before the tool is stopped.
        #[arg(long, value_name = "SECS", default_value_t = 60.0)]
        timeout: f64,
        /// Print the result as JSON: {"text", "metadata"} or {"error": {"kind", "message"}}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        permission: PermissionArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Run a command under the sandbox the bash tool uses, to check what it allows.
    Sandbox {
        /// Working directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        #[command(flatten)]
        sandbox: SandboxArgs,
        /// Print what this machine enforces (namespaces, Landlock, seccomp, hidden and
        /// read-only paths) and run nothing.
        #[arg(long)]
        check: bool,
        /// The program and its arguments (after `--`), exec'd as given: no shell.
        #[arg(last = true, required_unless_present = "check")]
        command: Vec<String>,
    },
    /// Measure conch's hot paths on this machine (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Build, install, list, inspect and remove plugins (third-party tools).
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Model Context Protocol: the servers of `[mcp.NAME]` in conch.toml (their state
    /// and tools), and serving conch's own tools to other agents.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
    /// Language servers: those found for `[lsp]` (configured or preset) and whether
    /// they may run here.
    Lsp {
        #[command(subcommand)]
        command: lsp::LspCommand,
    },
    /// Inspect the configuration (conch.toml files and CONCH_* variables).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration (secrets masked) and the files it came from.
    Show {
        /// Resolve as if run in this directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// Trust the project's conch.toml as it is now, in this project (asked again when it
    /// changes): what it sets that needs trust then applies.
    Trust {
        /// The project (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
}

/// How `conch run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List them (the default).
    List,
    /// Print one session readably.
    Show {
        /// The session's id, or the start of one (see `conch sessions`).
        id: String,
    },
}

/// What `run` and `repl` share: where, with which model, which session, what is allowed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ChatArgs {
    /// Working directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The provider to use (a name from conch.toml or a preset).
    #[arg(long)]
    pub provider: Option<String>,
    /// The model to ask.
    #[arg(long)]
    pub model: Option<String>,
    /// Most requests to the model in one turn.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Continue the session with this id.
    #[arg(long, value_name = "ID", conflicts_with = "continue_latest")]
    pub session: Option<String>,
    /// Continue the latest session of this directory.
    #[arg(long = "continue", short = 'c')]
    pub continue_latest: bool,
    /// The agent profile: `build` (default), `plan` (read-only), or one from
    /// `[agents.NAME]` in conch.toml. A continued session keeps its own otherwise.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    #[command(flatten)]
    pub permission: PermissionArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
    /// `--trust-project` (a global flag, copied here by `run`).
    #[arg(skip)]
    pub trust_project: bool,
    /// `--image` of `run` and `repl` (copied here): the model must take images.
    #[arg(skip)]
    pub images: Vec<PathBuf>,
}

/// How commands are confined (over `[sandbox]` in conch.toml).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SandboxArgs {
    /// workspace-write (default): write only in the workspace; read-only; or off.
    #[arg(long = "sandbox", value_enum, value_name = "MODE")]
    pub mode: Option<crate::sandbox::SandboxMode>,
    /// Let commands use the network.
    #[arg(long)]
    pub network: bool,
}

impl SandboxArgs {
    /// The config's sandbox settings with these flags on top.
    pub fn policy(&self, config: &Config) -> crate::sandbox::SandboxPolicy {
        let mut policy = config.sandbox();
        if let Some(mode) = self.mode {
            policy.mode = mode;
        }
        policy.network |= self.network;
        policy
    }

    /// The bounds of a tool call: the sandbox with these flags, the config's webfetch
    /// settings, and the default deadline and caps. Every command builds its calls' limits
    /// here.
    pub fn call_limits(&self, config: &Config) -> crate::plugin::CallLimits {
        crate::plugin::CallLimits {
            sandbox: self.policy(config),
            http: config.webfetch(),
            ..crate::plugin::CallLimits::default()
        }
    }
}

/// `cwd`, or the current directory.
fn cwd_or_current(cwd: Option<PathBuf>) -> Result<PathBuf, CliError> {
    cwd.map_or_else(std::env::current_dir, Ok)
        .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))
}

/// The configuration for work in `cwd`, read once for the whole command.
///
/// A project's conch.toml that sets what only a trusted project may (a provider's
/// command, URL or key, an allow rule, a looser sandbox…) has those settings ignored
/// until the user trusts it: on a terminal (`can_ask`) the user is asked once per
/// version of the file; otherwise one warning names what is ignored and how to trust it.
pub fn load_config(cwd: &Path, trust_flag: bool, can_ask: bool) -> Result<Config, CliError> {
    let usage = |e: crate::config::ConfigError| CliError::Usage(e.to_string());
    let trust = if trust_flag {
        ProjectTrust::Granted
    } else {
        ProjectTrust::Stored
    };
    let config = crate::config::load(Some(cwd), trust).map_err(usage)?;
    let Some(project) = config
        .project
        .as_ref()
        .filter(|_| !config.ignored().is_empty())
    else {
        return Ok(config);
    };
    let file = project.file.display().to_string();
    if can_ask {
        let settings: String = config
            .ignored()
            .iter()
            .map(|s| format!("\n  - {s}"))
            .collect();
        let question = format!(
            "This project's {file} sets what only a trusted project may:{settings}\n\
             It can run programs, send keys or loosen conch's permissions and sandbox. \
             Trust this file in this project (asked again if it changes)?"
        );
        if crate::ui::confirm(&question) {
            if let Err(e) = config.trust_project() {
                eprintln!("warning: cannot record the trust in {file}: {e}");
            }
            return crate::config::load(Some(cwd), ProjectTrust::Granted).map_err(usage);
        }
    }
    eprintln!(
        "warning: {file} is not trusted, so conch ignores: {}; if you trust this project, run `conch config trust` (or pass --trust-project for one run)",
        config.ignored().join(", ")
    );
    Ok(config)
}

/// Extra plugins to load beside the built-ins.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PluginArgs {
    /// Load a plugin component from this file (repeatable).
    #[arg(long = "plugin", value_name = "FILE.wasm")]
    pub files: Vec<PathBuf>,
}

/// Command-line overrides of the permission gate (see `[permission]` in conch.toml).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PermissionArgs {
    /// Approve every call that would ask (explicit denies still deny).
    #[arg(long)]
    pub yes: bool,
    /// Approve edits that would ask.
    #[arg(long)]
    pub allow_edit: bool,
    /// Deny every bash call.
    #[arg(long)]
    pub no_bash: bool,
}

impl PermissionArgs {
    pub fn flags(&self) -> Flags {
        Flags {
            yes: self.yes,
            allow_edit: self.allow_edit,
            no_bash: self.no_bash,
        }
    }
}

/// A failed command and how the process should exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user asked for something that cannot be done as asked: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed: exit 1.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    /// The failure was already shown (e.g. as an event); only the exit code is left.
    #[error("")]
    Reported(u8),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
            CliError::Reported(code) => ExitCode::from(*code),
        }
    }
}

/// Ends the process with `code` at once, without dropping what the command built: for
/// `conch run` once its answer is shown. The session needs nothing more (each entry is
/// written to the file as it is recorded, unbuffered); stdout and stderr are flushed
/// here. Dropping the rest (the engine's instance pool, the runtime and its threads,
/// open connections) took milliseconds the user waited for at the end of every run
/// (issue 17), and the OS reclaims all of it faster when the process exits.
pub fn exit_now(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code.into())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let trust = cli.trust_project;
    let Some(command) = cli.command else {
        return bare(trust);
    };
    match command {
        Command::Run {
            prompt,
            command,
            format,
            output_last_message,
            final_only,
            images,
            mut chat,
        } => {
            chat.trust_project = trust;
            chat.images = images;
            let output = chat::Output {
                format,
                final_only,
                last_message: output_last_message,
            };
            chat::run(prompt, command.as_deref(), &output, chat)
        }
        Command::Repl {
            prompt,
            resume,
            images,
            mut chat,
        } => {
            chat.trust_project = trust;
            chat.images = images;
            if resume {
                chat.session = Some(resume::choose(&cwd_or_current(chat.cwd.clone())?)?);
            }
            repl::run(&chat, prompt)
        }
        Command::Resume { id, mut chat } => {
            chat.trust_project = trust;
            let id = match id.or(chat.session.take()) {
                Some(id) => id,
                None if chat.continue_latest => String::new(),
                None => resume::choose(&cwd_or_current(chat.cwd.clone())?)?,
            };
            if !id.is_empty() {
                chat.session = Some(id);
            }
            repl::run(&chat, None)
        }
        Command::Replay(args) => replay::run(&args, trust),
        Command::Init { mut chat } => {
            chat.trust_project = trust;
            init::run(chat)
        }
        Command::Models { provider } => models::run(provider, trust),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails, and a
            // closed pipe (`conch completions zsh | head`) must end quietly.
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "conch", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(anyhow::Error::from)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox {
            cwd,
            sandbox,
            check,
            command,
        } => sandbox_command::run(cwd.as_deref(), &sandbox, check, &command, trust),
        Command::Undo {
            session,
            cwd,
            force,
        } => undo::run(session.as_deref(), cwd.as_deref(), force),
        Command::Sessions { command } => sessions::run(command.unwrap_or(SessionsCommand::List)),
        Command::Plugin { command } => plugin::run(command, trust),
        Command::Mcp { command } => mcp::run(command, trust),
        Command::Lsp { command } => lsp::run(command, trust),
        Command::Tools { json, plugins } => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let config = load_config(&cwd, trust, false)?;
            let registry = registry(&plugins, Some((&cwd, &config)))?;
            if let Ok(ctx) = crate::workspace::context_for(&cwd) {
                let policy = config.sandbox();
                mcp::offer_tools(&registry, mcp::start_servers(&config, &ctx, &policy)?);
            }
            print_tools(&registry, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tool {
            name,
            input,
            cwd,
            timeout,
            json,
            permission,
            sandbox,
            plugins,
        } => {
            let call = tool::ToolRun {
                name,
                input,
                cwd,
                timeout,
                json,
                flags: permission.flags(),
                sandbox,
                plugins,
                trust_project: trust,
            };
            tool::run_tool(call)
        }
        Command::Bench(args) => {
            crate::bench::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Show { cwd },
        } => {
            let cwd = cwd_or_current(cwd)?;
            let config = load_config(&cwd, trust, false)?;
            let flags = crate::config::FlagOverrides::default();
            // An unusable provider is when the rest is most worth seeing: print it, then
            // say what is wrong (exit 2, as `run` would).
            match config.resolve(&flags) {
                Ok(provider) => {
                    print!(
                        "{}{}{}",
                        provider.render(),
                        config.render_rest(),
                        config.render_origins(&flags, &provider.provider.name)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    print!(
                        "{}{}",
                        config.render_rest(),
                        config.render_origins(&flags, "")
                    );
                    Err(CliError::Usage(e.to_string()))
                }
            }
        }
        Command::Config {
            command: ConfigCommand::Trust { cwd },
        } => {
            let cwd = cwd_or_current(cwd)?;
            let config = crate::config::load(Some(&cwd), ProjectTrust::Granted)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let Some(project) = &config.project else {
                // Without a conch.toml, what there is to trust is the project's code that
                // its language servers run (build scripts, macros).
                let ctx = crate::workspace::context_for(&cwd)
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                let root = ctx.roots.first().unwrap_or(&ctx.cwd).clone();
                crate::trust::record(&root, crate::trust::LANGUAGE_SERVERS).map_err(|e| {
                    CliError::Failed(anyhow::anyhow!("cannot record the trust: {e}"))
                })?;
                println!(
                    "trusted {}: language servers may run there (they run the project's code); it has no conch.toml",
                    root.display()
                );
                return Ok(ExitCode::SUCCESS);
            };
            config
                .trust_project()
                .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot record the trust: {e}")))?;
            if project.needs_trust.is_empty() {
                println!(
                    "trusted {} (it only narrows the user's settings)",
                    project.file.display()
                );
            } else {
                println!(
                    "trusted {} in {}; now applied: {}",
                    project.file.display(),
                    project.root.display(),
                    project.needs_trust.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `conch` alone: the repl when someone is at a terminal; otherwise the usage on stderr
/// and exit 2 (a script that forgot its command should not wait for typing).
fn bare(trust: bool) -> Result<ExitCode, CliError> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let chat = ChatArgs {
            trust_project: trust,
            ..ChatArgs::default()
        };
        return repl::run(&chat, None);
    }
    let usage = <Cli as clap::CommandFactory>::command().render_usage();
    Err(CliError::Usage(format!(
        "{usage}\nno command given; `conch run TASK` works headless, `conch --help` lists the commands"
    )))
}

/// The built-ins, the plugins installed for work in `discover_in` (an invalid one is
/// skipped with a warning naming the file and the reason), and the plugins named on the
/// command line.
pub fn registry(
    args: &PluginArgs,
    discover_in: Option<(&Path, &Config)>,
) -> Result<PluginRegistry, CliError> {
    let mut registry = PluginRegistry::with_builtins(CompileCache::in_cache_dir());
    let replaceable = discover_in
        .map(|(_, config)| replaceable_builtins(&registry, config))
        .unwrap_or_default();
    let mut from_project: Vec<String> = Vec::new();
    for (scope, file) in discover_in
        .map(|(dir, _)| discovery::installed(dir))
        .unwrap_or_default()
    {
        match registry.add_installed(&file, &replaceable) {
            Ok(plugin) if scope == discovery::Scope::Project => {
                from_project.push(plugin.name().to_owned());
            }
            Ok(_) => {}
            // The documented order: a project's copy shadows the user's (`conch plugin
            // list` shows which), so this is no surprise worth a warning on every command.
            Err(RegistryError::NameTaken { name, .. })
                if scope == discovery::Scope::User && from_project.contains(&name) =>
            {
                tracing::debug!(plugin = %name, "user plugin shadowed by the project's");
            }
            Err(e) => eprintln!("warning: plugin skipped: {e}"),
        }
    }
    for file in &args.files {
        registry
            .add_file(file, &replaceable)
            .map_err(|e| CliError::Usage(format!("cannot load plugin {e}")))?;
    }
    Ok(registry)
}

/// The built-in tools the config lets a plugin replace (`[plugins] replace_builtins`); a
/// name that is no built-in tool gets a warning.
pub fn replaceable_builtins(builtins: &PluginRegistry, config: &Config) -> Vec<String> {
    let names = config.replace_builtins().to_vec();
    for name in &names {
        if builtins.find(name).is_none() {
            eprintln!(
                "warning: [plugins] replace_builtins names `{name}`, which is not a built-in tool"
            );
        }
    }
    names
}

fn print_tools(registry: &PluginRegistry, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let tools: Vec<_> = registry
            .tools()
            .map(|(plugin, tool)| {
                serde_json::json!({
                    "name": tool.name,
                    "plugin": plugin.name(),
                    "mcp_server": registry.mcp_tool(&tool.name).map(|t| &t.server),
                    "builtin": plugin.origin == Origin::Builtin,
                    "permission": tool.permission,
                    "key_arg": tool.key_arg,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&tools)?)?;
        return Ok(());
    }
    let rows: Vec<[String; 4]> = registry
        .tools()
        .map(|(plugin, tool)| {
            // An MCP tool's plugin is `mcp`; its server is what the user configured.
            let source = match registry.mcp_tool(&tool.name) {
                Some(mcp) => format!("mcp:{}", mcp.server),
                None => plugin.name().to_string(),
            };
            [
                tool.name.clone(),
                source,
                tool.permission.to_string(),
                first_sentence(&tool.description).to_string(),
            ]
        })
        .collect();
    let header = ["TOOL", "PLUGIN", "PERMISSION"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let [h0, h1, h2] = header;
    writeln!(out, "{h0:w0$}  {h1:w1$}  {h2:w2$}  DESCRIPTION")?;
    let rows = rows.iter().map(|[a, b, c, d]| [a.as_str(), b, c, d]);
    for [name, plugin, permission, description] in rows {
        writeln!(
            out,
            "{name:w0$}  {plugin:w1$}  {permission:w2$}  {description}"
        )?;
    }
    Ok(())
}

/// The first sentence of a description, for one-line listings: up to the first ". "
/// that is followed by a capital letter (so "e.g. `x`" does not end it).
fn first_sentence(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    let end = line.match_indices(". ").find(|(at, _)| {
        line[at + 2..]
            .chars()
            .next()
            .is_some_and(char::is_uppercase)
    });
    match end {
        Some((at, _)) => &line[..=at],
        None => line,
    }
}

/// A stable name for each kind of tool error, for JSON output.
pub fn error_kind(error: &ToolError) -> &'static str {
    match error {
        ToolError::InvalidInput(_) => "invalid_input",
        ToolError::OutsideWorkspace(_) => "outside_workspace",
        ToolError::NotFound(_) => "not_found",
        ToolError::Denied(_) => "denied",
        ToolError::UnknownTool(_) => "unknown_tool",
        ToolError::Failed(_) => "failed",
        ToolError::Timeout(_) => "timeout",
        ToolError::OutOfMemory(_) => "out_of_memory",
        ToolError::Crashed(_) => "crashed",
        ToolError::InvalidOutput(_) => "invalid_output",
        ToolError::Unavailable { .. } => "unavailable",
    }
}
