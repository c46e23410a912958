//! The command line: parsing (clap) and the commands that exist so far.
//!
//! Exit codes: 0 success, 1 a tool or runtime failure, 2 a usage error (bad arguments,
//! unknown tool, input that is not JSON, an unusable plugin file).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::permission::{Approver, Flags, Gate, Request};
use crate::plugin::{CallLimits, CompileCache, Origin, PluginRegistry, ToolError};

/// conch: a local coding agent whose tools are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "conch", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
        plugins: PluginArgs,
    },
    /// Measure conch's hot paths on this machine (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Inspect the configuration (conch.toml files and CONCH_* variables).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration (API key masked) and the files it came from.
    Show {
        /// Resolve as if run in this directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
}

/// Extra plugins to load beside the built-ins.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    /// Load a plugin component from this file (repeatable).
    #[arg(long = "plugin", value_name = "FILE.wasm")]
    pub files: Vec<PathBuf>,
}

/// Command-line overrides of the permission gate (see `[permission]` in conch.toml).
#[derive(Debug, clap::Args)]
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
    fn flags(&self) -> Flags {
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
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Tools { json, plugins } => {
            let registry = registry(&plugins)?;
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
            plugins,
        } => {
            let call = ToolRun {
                name,
                input,
                cwd,
                timeout,
                json,
                flags: permission.flags(),
            };
            run_tool(&registry(&plugins)?, call)
        }
        Command::Bench(args) => {
            crate::bench::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Show { cwd },
        } => {
            let config =
                crate::config::load(cwd.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
            print!("{}", config.render());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The built-ins plus the plugins named on the command line.
pub fn registry(args: &PluginArgs) -> Result<PluginRegistry, CliError> {
    let mut registry = PluginRegistry::with_builtins(CompileCache::new(
        crate::dirs::cache_dir().map(|d| d.join("components")),
    ));
    for file in &args.files {
        registry
            .add_file(file)
            .map_err(|e| CliError::Usage(format!("cannot load plugin {e}")))?;
    }
    Ok(registry)
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
    let rows: Vec<[&str; 4]> = registry
        .tools()
        .map(|(plugin, tool)| {
            [
                tool.name.as_str(),
                plugin.name(),
                tool.permission.as_str(),
                first_sentence(&tool.description),
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

/// What `conch tool` was asked to do.
struct ToolRun {
    name: String,
    input: String,
    cwd: Option<PathBuf>,
    timeout: f64,
    json: bool,
    flags: Flags,
}

fn run_tool(registry: &PluginRegistry, run: ToolRun) -> Result<ExitCode, CliError> {
    let ToolRun {
        name,
        input,
        cwd,
        timeout,
        json,
        flags,
    } = run;
    let name = name.as_str();
    let Some((_, spec)) = registry.find(name) else {
        return Err(CliError::Usage(registry.unknown_tool(name).to_string()));
    };
    // Compile (or load) while we read the input and set up the workspace.
    registry.warm_up();
    let input_from_stdin = input == "-";
    let input = if input_from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("cannot read the input from stdin: {e}")))?;
        text
    } else {
        input
    };
    let value = serde_json::from_str::<serde_json::Value>(&input)
        .map_err(|e| CliError::Usage(format!("the input is not valid JSON: {e}")))?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Usage(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    let cwd = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| CliError::Usage(e.to_string()))?;
    let policy =
        crate::config::load_permission(Some(&cwd)).map_err(|e| CliError::Usage(e.to_string()))?;
    let gate = Gate::new(policy, flags);
    // Someone can be asked only on a terminal whose stdin did not carry the input.
    let mut terminal = TerminalApprover;
    let approver: Option<&mut dyn Approver> = if !input_from_stdin && std::io::stdin().is_terminal()
    {
        Some(&mut terminal)
    } else {
        None
    };
    if let Err(denied) = gate.check(&Request::new(spec, &value, &ctx), approver) {
        let error = ToolError::Denied(denied.message);
        if json {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{}",
                serde_json::json!({"error": {"kind": error_kind(&error), "message": error.to_string()}})
            )
            .map_err(|e| CliError::Failed(e.into()))?;
        } else {
            eprintln!("error: {error}");
        }
        return Ok(ExitCode::from(1));
    }
    let limits = CallLimits {
        timeout: Duration::from_secs_f64(timeout),
        ..CallLimits::default()
    };
    let result = registry.call(name, &input, &ctx, &limits);
    let mut out = std::io::stdout().lock();
    let written = match (&result, json) {
        (Ok(output), true) => writeln!(
            out,
            "{}",
            serde_json::json!({"text": output.text, "metadata": output.metadata})
        ),
        (Ok(output), false) if output.text.ends_with('\n') => write!(out, "{}", output.text),
        (Ok(output), false) => writeln!(out, "{}", output.text),
        (Err(e), true) => writeln!(
            out,
            "{}",
            serde_json::json!({"error": {"kind": error_kind(e), "message": e.to_string()}})
        ),
        (Err(e), false) => {
            eprintln!("error: {e}");
            Ok(())
        }
    };
    written.map_err(|e| CliError::Failed(e.into()))?;
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Asks on stderr and reads the answer from stdin: `y` or `yes` allows the call once.
struct TerminalApprover;

impl Approver for TerminalApprover {
    fn approve(&mut self, question: &str) -> bool {
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
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
