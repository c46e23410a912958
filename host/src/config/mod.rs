//! Configuration: which LLM provider to talk to and how, from `conch.toml` files and
//! `CONCH_*` variables, resolved into one [`ResolvedConfig`].
//!
//! Sources, weakest first: the user's file (`dirs::config_dir()/conch.toml`), the
//! project's file (nearest `conch.toml` up to the git root), then the environment.
//! Files merge key by key, so a project can change one field of a provider the user
//! defined. Resolution takes the environment as a map, so tests never touch the
//! process's own.

mod env;
mod file;
mod placeholder;
mod preset;
mod secret;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use env::EnvOverrides;
pub use file::{AgentCliMode, FILE_NAME};
pub use preset::{PRESETS, Preset};
pub use secret::Secret;

use crate::permission::Policy;
use file::{Layer, ProviderLayer};

/// Steps the agent may take in one turn when the config does not say.
pub const DEFAULT_MAX_STEPS: u32 = 50;

/// Times a failed request is sent again when the config does not say.
pub const DEFAULT_RETRIES: u32 = 4;
/// Seconds a stream may stay silent before it counts as timed out.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
/// Share of the context window the prompt may fill before it is compacted.
pub const DEFAULT_COMPACT_AT: f64 = 0.8;
/// The context window assumed for a model the config does not describe.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;

/// The configuration a run uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    pub provider: ResolvedProvider,
    pub max_steps: u32,
    /// How many times a failed request is retried (429, 5xx, network, timeouts).
    pub retries: u32,
    /// How long a response may stay silent.
    pub idle_timeout: std::time::Duration,
    /// Compact when the prompt is estimated above this share of the context window.
    pub compact_at: f64,
    /// The files it came from, weakest first.
    pub sources: Vec<PathBuf>,
}

/// The provider the agent talks to: an OpenAI-compatible chat completions server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedProvider {
    pub name: String,
    /// Without trailing `/`; the API paths go after it (`/chat/completions`).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub headers: BTreeMap<String, String>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Set when the provider is an agent CLI rather than an HTTP API.
    pub agent_cli: Option<AgentCli>,
}

/// An agent CLI used as the model: the program, extra arguments, extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCli {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub mode: AgentCliMode,
}

/// Why there is no usable configuration. Each names the file and key to fix where
/// there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{at}: TOML syntax error: {message}", file.display())]
    Syntax {
        file: PathBuf,
        at: String,
        message: String,
    },
    #[error("{}{}{at}: `{key}`: {message}", file.display(), if at.is_empty() { "" } else { ":" })]
    Invalid {
        file: PathBuf,
        at: String,
        key: String,
        message: String,
    },
    #[error(
        "{}: `{key}` uses ${{{var}}}, which is not set; set {var} or remove the placeholder",
        file.display()
    )]
    UnsetVariable {
        file: PathBuf,
        key: String,
        var: String,
    },
    #[error("no provider chosen; {0}")]
    NoProvider(String),
    #[error("there is no provider named `{name}`; {known}")]
    UnknownProvider { name: String, known: String },
    #[error("provider `{provider}` has no {field}; {fix}")]
    Missing {
        provider: String,
        field: &'static str,
        fix: String,
    },
    #[error("cannot read the current directory: {0}")]
    Cwd(std::io::Error),
}

/// Resolves the configuration for a run in `cwd` (default: the current directory) from
/// the files and the process environment.
pub fn load(cwd: Option<&Path>) -> Result<ResolvedConfig, ConfigError> {
    load_with(cwd, &FlagOverrides::default())
}

/// What the command line chose (`--provider`, `--model`): stronger than the files and
/// the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlagOverrides {
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// [`load`] with the command line's choices on top.
pub fn load_with(cwd: Option<&Path>, flags: &FlagOverrides) -> Result<ResolvedConfig, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    resolve_with(&cwd, &env, flags)
}

/// The absolute working directory (default: the current one) and the process
/// environment as a map (variables that are not UTF-8 are left out).
fn process_context(
    cwd: Option<&Path>,
) -> Result<(std::path::PathBuf, HashMap<String, String>), ConfigError> {
    let cwd = match cwd {
        Some(dir) => std::path::absolute(dir).map_err(ConfigError::Cwd)?,
        None => std::env::current_dir().map_err(ConfigError::Cwd)?,
    };
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    Ok((cwd, env))
}

/// Resolves the configuration for a run in `cwd`, with `env` standing for the
/// environment (including `CONCH_CONFIG_DIR`).
pub fn resolve(cwd: &Path, env: &HashMap<String, String>) -> Result<ResolvedConfig, ConfigError> {
    resolve_with(cwd, env, &FlagOverrides::default())
}

/// [`resolve`] with the command line's choices on top.
pub fn resolve_with(
    cwd: &Path,
    env: &HashMap<String, String>,
    flags: &FlagOverrides,
) -> Result<ResolvedConfig, ConfigError> {
    let (sources, layer) = read_layers(cwd, env)?;
    let mut overrides = EnvOverrides::from_env(env);
    if let Some(provider) = &flags.provider {
        overrides.provider = Some(provider.clone());
    }
    if let Some(model) = &flags.model {
        overrides.model = Some(model.clone());
    }
    let mut config = resolve_layer(layer, &overrides, env)?;
    config.sources = sources;
    Ok(config)
}

/// The permission policy for a run in `cwd` (default: the current directory): the
/// `[permission]` tables of the user's and the project's files, the project's rules
/// last. Needs no provider, so tools can run without one configured.
pub fn load_permission(cwd: Option<&Path>) -> Result<Policy, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    resolve_permission(&cwd, &env)
}

/// The sandbox settings for commands run in `cwd`: `[sandbox]` of the files, over the
/// default (workspace-write, no network).
pub fn load_sandbox(cwd: Option<&Path>) -> Result<crate::sandbox::SandboxPolicy, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    let layer = read_layers(&cwd, &env)?.1;
    let default = crate::sandbox::SandboxPolicy::default();
    Ok(crate::sandbox::SandboxPolicy {
        mode: layer.sandbox_mode.unwrap_or(default.mode),
        network: layer.sandbox_network.unwrap_or(default.network),
        pass_env: layer.sandbox_env,
        deny_read: default.deny_read,
    })
}

/// The agent profiles for a run in `cwd`: the built-ins and `[agents.NAME]` of the
/// files (the project's replacing the user's of the same name).
pub fn load_agents(cwd: Option<&Path>) -> Result<crate::agent::AgentProfiles, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    let layer = read_layers(&cwd, &env)?.1;
    Ok(crate::agent::AgentProfiles::new(
        layer.agents.into_values().collect(),
    ))
}

/// The hosts tools may fetch from, for a run in `cwd`: `[webfetch]` of the files, over
/// the default (any public host, no private or loopback addresses).
pub fn load_webfetch(cwd: Option<&Path>) -> Result<crate::host_api::HttpPolicy, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    resolve_webfetch(&cwd, &env)
}

/// [`load_webfetch`] with `env` standing for the environment.
pub fn resolve_webfetch(
    cwd: &Path,
    env: &HashMap<String, String>,
) -> Result<crate::host_api::HttpPolicy, ConfigError> {
    let layer = read_layers(cwd, env)?.1;
    Ok(crate::host_api::HttpPolicy {
        allow_hosts: layer.webfetch_allow_hosts.unwrap_or_default(),
        deny_hosts: layer.webfetch_deny_hosts,
        allow_private: layer.webfetch_allow_private.unwrap_or(false),
    })
}

/// The built-in tools installed plugins may replace, for a run in `cwd`: `replace_builtins`
/// under `[plugins]` of every file.
pub fn load_replace_builtins(cwd: Option<&Path>) -> Result<Vec<String>, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    Ok(read_layers(&cwd, &env)?.1.replace_builtins)
}

/// `[webfetch]` and `[plugins]` as they apply to a run in `cwd`, for `conch config show`.
pub fn render_reach(cwd: Option<&Path>) -> Result<String, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    let layer = read_layers(&cwd, &env)?.1;
    let mut out = String::from("\n[webfetch]\n");
    match &layer.webfetch_allow_hosts {
        Some(hosts) => {
            let _ = writeln!(out, "allow_hosts = {hosts:?}");
        }
        None => out.push_str("# allow_hosts: any public host\n"),
    }
    let _ = writeln!(out, "deny_hosts = {:?}", layer.webfetch_deny_hosts);
    let _ = writeln!(
        out,
        "allow_private = {}",
        layer.webfetch_allow_private.unwrap_or(false)
    );
    let _ = writeln!(
        out,
        "\n[plugins]\nreplace_builtins = {:?}",
        layer.replace_builtins
    );
    Ok(out)
}

/// [`load_permission`] with `env` standing for the environment.
pub fn resolve_permission(
    cwd: &Path,
    env: &HashMap<String, String>,
) -> Result<Policy, ConfigError> {
    Ok(read_layers(cwd, env)?.1.permission)
}

/// The files that apply to `cwd`, weakest first, and their settings merged.
fn read_layers(
    cwd: &Path,
    env: &HashMap<String, String>,
) -> Result<(Vec<PathBuf>, Layer), ConfigError> {
    let mut sources = Vec::new();
    let user_dir = crate::dirs::config_dir_with(env.get("CONCH_CONFIG_DIR").map(Into::into));
    if let Some(user) = user_dir.map(|d| d.join(FILE_NAME)).filter(|f| f.is_file()) {
        sources.push(user);
    }
    if let Some(project) = file::project_file(cwd).filter(|p| !sources.contains(p)) {
        sources.push(project);
    }
    let mut layer = Layer::default();
    for source in &sources {
        layer = layer.merge(file::read(source, env)?);
    }
    Ok((sources, layer))
}

/// Picks the active provider from merged files and the environment, and fills in
/// what its preset knows.
fn resolve_layer(
    mut layer: Layer,
    overrides: &EnvOverrides,
    env: &HashMap<String, String>,
) -> Result<ResolvedConfig, ConfigError> {
    let file_provider = layer.provider.take().transpose()?;
    let name = match (&overrides.provider, &file_provider) {
        (Some(name), _) | (None, Some(name)) => name.clone(),
        (None, None) => default_provider(&layer, overrides)?,
    };
    // The top-level `model` belongs to the file's provider, not to one the
    // environment switched to.
    let top_model = match &overrides.provider {
        Some(chosen) if file_provider.as_ref().is_some_and(|f| f != chosen) => None,
        _ => layer.model.take().transpose()?,
    };
    let configured = layer.providers.remove(&name);
    let preset = configured
        .as_ref()
        .and_then(|p| p.preset.as_deref())
        .or(Some(name.as_str()))
        .and_then(preset::find);
    if configured.is_none() && preset.is_none() && overrides.base_url.is_none() {
        return Err(ConfigError::UnknownProvider {
            known: known_providers(&layer),
            name,
        });
    }
    let p = configured.unwrap_or_default();
    let provider = if p.kind == Some(file::ProviderKind::AgentCli) {
        agent_cli_provider(name, p, overrides, top_model)?
    } else {
        api_provider(name, p, preset, overrides, top_model, env)?
    };
    Ok(ResolvedConfig {
        provider,
        max_steps: layer.max_steps.unwrap_or(DEFAULT_MAX_STEPS),
        retries: layer.retries.unwrap_or(DEFAULT_RETRIES),
        idle_timeout: std::time::Duration::from_secs(
            layer.idle_timeout_secs.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS),
        ),
        compact_at: layer.compact_at.unwrap_or(DEFAULT_COMPACT_AT),
        sources: Vec::new(),
    })
}

/// An OpenAI-compatible provider: what its table says over what its preset knows.
fn api_provider(
    name: String,
    p: ProviderLayer,
    preset: Option<&'static Preset>,
    overrides: &EnvOverrides,
    top_model: Option<String>,
    env: &HashMap<String, String>,
) -> Result<ResolvedProvider, ConfigError> {
    let ProviderLayer {
        base_url,
        model,
        api_key,
        headers,
        context_window,
        max_output_tokens,
        ..
    } = p;

    let base_url = match (&overrides.base_url, base_url) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url?,
        (None, None) => match preset {
            Some(preset) => preset.base_url.to_string(),
            None => {
                return Err(ConfigError::Missing {
                    field: "base_url",
                    fix: format!(
                        "set providers.{name}.base_url (or a preset) in conch.toml, or {}",
                        env::BASE_URL
                    ),
                    provider: name,
                });
            }
        },
    };
    let model = match (&overrides.model, top_model, model) {
        (Some(model), _, _) => model.clone(),
        (None, Some(model), _) => model,
        (None, None, Some(model)) => model?,
        (None, None, None) if preset.and_then(|p| p.model).is_some() => {
            preset.and_then(|p| p.model).unwrap_or_default().to_string()
        }
        (None, None, None) => {
            return Err(ConfigError::Missing {
                field: "model",
                fix: format!(
                    "set providers.{name}.model (or the top-level `model`) in conch.toml, or {}",
                    env::MODEL
                ),
                provider: name,
            });
        }
    };
    let api_key = match (&overrides.api_key, api_key) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(key)) => Some(key?),
        (None, None) => preset
            .and_then(|p| p.key_env)
            .and_then(|var| env.get(var))
            .filter(|key| !key.is_empty())
            .cloned(),
    };
    let headers = headers
        .into_iter()
        .map(|(header, value)| Ok((header, value?)))
        .collect::<Result<_, ConfigError>>()?;
    Ok(ResolvedProvider {
        base_url: preset::normalise_base_url(&base_url, preset),
        name,
        model,
        api_key: api_key.map(Secret::new),
        headers,
        context_window,
        max_output_tokens,
        agent_cli: None,
    })
}

/// An `agent-cli` provider: no URL or key (the CLI has its own), a command instead; the
/// model is optional (the CLI's default).
fn agent_cli_provider(
    name: String,
    p: ProviderLayer,
    overrides: &EnvOverrides,
    top_model: Option<String>,
) -> Result<ResolvedProvider, ConfigError> {
    let command = match p.command {
        Some(command) => command?,
        None => {
            return Err(ConfigError::Missing {
                field: "command",
                fix: format!("set providers.{name}.command (e.g. \"claude\") in conch.toml"),
                provider: name,
            });
        }
    };
    let model = match (&overrides.model, top_model, p.model) {
        (Some(model), _, _) => model.clone(),
        (None, Some(model), _) => model,
        (None, None, Some(model)) => model?,
        (None, None, None) => String::new(),
    };
    let args = p.args.into_iter().collect::<Result<_, _>>()?;
    let env = p
        .env
        .into_iter()
        .map(|(k, v)| Ok((k, v?)))
        .collect::<Result<_, ConfigError>>()?;
    Ok(ResolvedProvider {
        name,
        base_url: String::new(),
        model,
        api_key: None,
        headers: BTreeMap::new(),
        context_window: p.context_window,
        max_output_tokens: p.max_output_tokens,
        agent_cli: Some(AgentCli {
            command,
            args,
            env,
            mode: p.mode.unwrap_or_default(),
        }),
    })
}

/// The provider when nothing names one: the environment's own if it gives a URL, else
/// the only configured one.
fn default_provider(layer: &Layer, overrides: &EnvOverrides) -> Result<String, ConfigError> {
    if overrides.base_url.is_some() {
        return Ok(env::ENV_PROVIDER.to_string());
    }
    let mut names = layer.providers.keys();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only.clone()),
        (Some(_), Some(_)) => Err(ConfigError::NoProvider(format!(
            "set `provider` in conch.toml or {} to one of: {}",
            env::PROVIDER,
            layer
                .providers
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (None, _) => Err(ConfigError::NoProvider(format!(
            "write a conch.toml with `provider = \"…\"`, set {} to a preset ({}), or set {} and {}",
            env::PROVIDER,
            preset::names(),
            env::BASE_URL,
            env::MODEL
        ))),
    }
}

fn known_providers(layer: &Layer) -> String {
    let configured: Vec<&str> = layer.providers.keys().map(String::as_str).collect();
    if configured.is_empty() {
        format!("none is configured; presets: {}", preset::names())
    } else {
        format!(
            "configured: {}; presets: {}",
            configured.join(", "),
            preset::names()
        )
    }
}

impl ResolvedConfig {
    /// The configuration as TOML-like text for `conch config show`, secrets masked.
    pub fn render(&self) -> String {
        let p = &self.provider;
        let mut out = String::new();
        if self.sources.is_empty() {
            out.push_str("# from: the environment only (no conch.toml found)\n");
        } else {
            for source in &self.sources {
                let _ = writeln!(out, "# from: {}", source.display());
            }
        }
        let _ = writeln!(out, "provider = {:?}", p.name);
        let _ = writeln!(out, "max_steps = {}", self.max_steps);
        let _ = writeln!(out, "retries = {}", self.retries);
        let _ = writeln!(out, "idle_timeout_secs = {}", self.idle_timeout.as_secs());
        let _ = writeln!(out, "compact_at = {}", self.compact_at);
        let _ = writeln!(out, "\n[providers.{}]", p.name);
        match &p.agent_cli {
            Some(cli) => {
                let _ = writeln!(out, "kind = \"agent-cli\"");
                let _ = writeln!(out, "command = {:?}", cli.command);
                if !cli.args.is_empty() {
                    let _ = writeln!(out, "args = {:?}", cli.args);
                }
                let mode = match cli.mode {
                    AgentCliMode::Persistent => "persistent",
                    AgentCliMode::Stateless => "stateless",
                };
                let _ = writeln!(out, "mode = {mode:?}");
            }
            None => {
                let _ = writeln!(out, "base_url = {:?}", p.base_url);
            }
        }
        let _ = writeln!(out, "model = {:?}", p.model);
        match &p.api_key {
            Some(key) => {
                let _ = writeln!(out, "api_key = {:?}", key.masked());
            }
            None => out.push_str("api_key = \"(not set)\"\n"),
        }
        if let Some(n) = p.context_window {
            let _ = writeln!(out, "context_window = {n}");
        }
        if let Some(n) = p.max_output_tokens {
            let _ = writeln!(out, "max_output_tokens = {n}");
        }
        if !p.headers.is_empty() {
            let _ = writeln!(out, "\n[providers.{}.headers]", p.name);
            for (header, value) in &p.headers {
                let value = if looks_secret(header) {
                    Secret::new(value.as_str()).masked()
                } else {
                    value.clone()
                };
                let _ = writeln!(out, "{header:?} = {value:?}");
            }
        }
        out
    }
}

/// Headers that usually carry credentials, masked when shown.
fn looks_secret(header: &str) -> bool {
    let header = header.to_ascii_lowercase();
    ["auth", "key", "token", "secret", "cookie"]
        .iter()
        .any(|word| header.contains(word))
}

#[cfg(test)]
mod tests;
