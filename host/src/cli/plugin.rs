//! `conch plugin`: create, build, install, list, inspect and remove third-party plugins.
//!
//! Installing copies a validated component to a plugin directory (the user's, or the
//! project's with `--project`), after showing what it asks for; conch then discovers it
//! on every run. Installing also compiles it into the compile cache, so that its first
//! call does not wait; nothing here runs the plugin.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CliError, plugin_build, plugin_new};
use crate::plugin::discovery::{self, Scope};
use crate::plugin::{Capability, CompileCache, PluginInfo, PluginRegistry};

/// What `conch plugin` was asked to do.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Create a Rust plugin crate with one working tool and a test.
    New {
        /// The plugin's name (also its crate's and its example tool's).
        name: String,
        /// The directory to create it in (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The conch-plugin SDK (default: plugins/sdk of the conch this was built from).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate for wasm32-wasip2 and embed its manifest.json.
    Build {
        /// The crate's directory (default: the current directory).
        path: Option<PathBuf>,
    },
    /// Embed a manifest into a component built by other tools (componentize-py,
    /// componentize-js, …), making it an installable plugin.
    Package {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The manifest (JSON: name, version, capabilities, tools with their schemas).
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// Where to write the plugin (default: NAME.wasm beside the component).
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Validate a plugin, show its tools and capabilities, and install it.
    Install {
        /// A packaged `.wasm` component, or a plugin crate's directory (built first).
        source: PathBuf,
        /// Install for this project (`.conch/plugins/`) instead of for the user.
        #[arg(long)]
        project: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// List the installed plugins (project first, then the user's).
    List,
    /// Show a plugin's manifest, tools with their input schemas, and its imports.
    Inspect {
        /// A `.wasm` file, or the name of an installed plugin.
        plugin: String,
    },
    /// Remove an installed plugin.
    Remove {
        /// The plugin's name.
        name: String,
        /// Remove it from this project's plugins instead of the user's.
        #[arg(long)]
        project: bool,
    },
}

pub fn run(command: PluginCommand, trust_project: bool) -> Result<ExitCode, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?;
    match command {
        PluginCommand::New { name, dir, sdk } => {
            let made = plugin_new::scaffold(&name, dir.as_deref().unwrap_or(&cwd), sdk.as_deref())?;
            println!(
                "created {}; build and install it with: conch plugin install {}",
                made.display(),
                made.display()
            );
        }
        PluginCommand::Build { path } => {
            let file = plugin_build::build(path.as_deref().unwrap_or(&cwd))?;
            println!("built {}", file.display());
        }
        PluginCommand::Package {
            component,
            manifest,
            out,
        } => {
            let file = plugin_build::package(&component, &manifest, out)?;
            println!("packaged {}", file.display());
        }
        PluginCommand::Install {
            source,
            project,
            yes,
        } => install(&source, &cwd, project, yes, trust_project)?,
        PluginCommand::List => list(&cwd),
        PluginCommand::Inspect { plugin } => inspect(&plugin, &cwd)?,
        PluginCommand::Remove { name, project } => {
            let scope = if project { Scope::Project } else { Scope::User };
            let file = dir(scope, &cwd)?.join(format!("{name}.wasm"));
            std::fs::remove_file(&file).map_err(|e| {
                CliError::Usage(format!(
                    "no plugin `{name}` is installed at {} ({e}); see `conch plugin list`",
                    file.display()
                ))
            })?;
            println!("removed {name} ({})", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The plugin directory of `scope`.
fn dir(scope: Scope, cwd: &Path) -> Result<PathBuf, CliError> {
    discovery::dir(scope, cwd).ok_or_else(|| {
        CliError::Usage("no config directory here; set CONCH_CONFIG_DIR or use --project".into())
    })
}

fn install(
    source: &Path,
    cwd: &Path,
    project: bool,
    yes: bool,
    trust_project: bool,
) -> Result<(), CliError> {
    let file = if source.is_dir() {
        plugin_build::build(source)?
    } else {
        source.to_path_buf()
    };
    // It must be a valid plugin that loads beside the built-ins: no built-in's plugin
    // name, and no built-in's tool name unless the config lets plugins replace that tool.
    let mut registry = PluginRegistry::with_builtins(CompileCache::in_cache_dir());
    let config = super::load_config(cwd, trust_project, std::io::stdin().is_terminal())?;
    let replaceable = super::replaceable_builtins(&registry, &config);
    let plugin = registry
        .add_file(&file, &replaceable)
        .map_err(|e| CliError::Usage(format!("cannot install it: {e}")))?;
    let info = &plugin.info;
    let name = &info.manifest.name;
    let scope = if project { Scope::Project } else { Scope::User };
    let dest_dir = dir(scope, cwd)?;
    let dest = dest_dir.join(format!("{name}.wasm"));
    eprint!("{}", describe(info));
    for tool in &plugin.replaces {
        eprintln!("replaces the built-in tool `{tool}` ([plugins] replace_builtins)");
    }
    if dest.exists() {
        eprintln!("replaces {}", dest.display());
    }
    if !yes && !confirm(&format!("install {name} to {}?", dest.display()))? {
        return Err(CliError::Usage("not installed".into()));
    }
    // Compiled now, into the cache every run reads, so that its first call does not wait
    // (seconds for a Python or JavaScript component); one that cannot link is refused.
    let started = std::time::Instant::now();
    eprint!("compiling {name}…");
    let _ = std::io::stderr().flush();
    registry.prepare_now(name).map_err(|e| {
        eprintln!();
        CliError::Usage(format!("cannot install it: {e}"))
    })?;
    eprintln!(" {:.1} s", started.elapsed().as_secs_f64());
    std::fs::create_dir_all(&dest_dir)
        .and_then(|()| {
            let temp = dest_dir.join(format!(".{name}.wasm.tmp"));
            // The bytes that were validated, not the file again: it may have changed since.
            std::fs::write(&temp, plugin.bytes().map_err(std::io::Error::other)?)?;
            std::fs::rename(&temp, &dest)
        })
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", dest.display())))?;
    println!(
        "installed {name} {} ({})",
        info.manifest.version,
        dest.display()
    );
    Ok(())
}

/// Asks y/N on the terminal; refuses plainly when there is none.
fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to confirm on; re-run with --yes to install".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Usage(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// What a plugin is and asks for, for people.
fn describe(info: &PluginInfo) -> String {
    let m = &info.manifest;
    let mut out = format!("{} {}", m.name, m.version);
    if !m.description.is_empty() {
        out.push_str(&format!(" — {}", m.description));
    }
    out.push_str("\ntools:\n");
    for tool in &m.tools {
        out.push_str(&format!(
            "  {} (permission {}): {}\n",
            tool.name,
            tool.permission,
            tool.description.lines().next().unwrap_or_default()
        ));
    }
    out.push_str("capabilities:\n");
    if m.capabilities.is_empty() {
        out.push_str("  none: it sees nothing but its input\n");
    }
    for capability in &m.capabilities {
        out.push_str(&format!(
            "  {}: {}\n",
            capability.as_str(),
            capability.meaning()
        ));
        let declared = match capability {
            Capability::Process => m.commands.as_ref().map(|c| ("commands", c)),
            Capability::Http => m.hosts.as_ref().map(|h| ("hosts", h)),
            _ => None,
        };
        if let Some((what, patterns)) = declared {
            out.push_str(&format!("    only these {what}: {}\n", patterns.join(", ")));
        }
    }
    out
}

fn list(cwd: &Path) {
    let installed = discovery::installed(cwd);
    if installed.is_empty() {
        println!("no plugins installed (conch plugin install FILE.wasm)");
        return;
    }
    // Project plugins come first and win: a user copy of the same name is not loaded.
    let mut names: Vec<String> = Vec::new();
    for (scope, file) in installed {
        let scope = match scope {
            Scope::Project => "project",
            Scope::User => "user",
        };
        match std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| PluginInfo::read(&b).map_err(|e| e.to_string()))
        {
            Ok(info) => {
                let shadowed = names.contains(&info.manifest.name);
                names.push(info.manifest.name.clone());
                let tools: Vec<&str> = info
                    .manifest
                    .tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                let caps: Vec<&str> = info
                    .manifest
                    .capabilities
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                println!(
                    "{:<16} {:<8} {scope:<7} tools: {}  capabilities: {}  {}{}",
                    info.manifest.name,
                    info.manifest.version,
                    tools.join(", "),
                    if caps.is_empty() {
                        "none".into()
                    } else {
                        caps.join(", ")
                    },
                    file.display(),
                    if shadowed {
                        "  (not loaded: the project's copy wins)"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => println!("{:<16} invalid  {scope:<7} {e}  {}", "?", file.display()),
        }
    }
}

fn inspect(plugin: &str, cwd: &Path) -> Result<(), CliError> {
    let file = if Path::new(plugin).is_file() {
        PathBuf::from(plugin)
    } else {
        discovery::installed(cwd)
            .into_iter()
            .map(|(_, f)| f)
            .find(|f| f.file_stem().is_some_and(|s| s == plugin))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no file or installed plugin `{plugin}`; see `conch plugin list`"
                ))
            })?
    };
    let bytes = std::fs::read(&file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let info = PluginInfo::read(&bytes)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    print!("{}", describe(&info));
    println!("imports:");
    for import in &info.imports {
        println!("  {import}");
    }
    println!("manifest:");
    println!(
        "{}",
        serde_json::to_string_pretty(&info.manifest).unwrap_or_default()
    );
    Ok(())
}
