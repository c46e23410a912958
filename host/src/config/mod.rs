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
mod lsp;
mod mcp;
mod origin;
mod placeholder;
mod preset;
mod pricing;
mod secret;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use env::EnvOverrides;
pub use file::{AgentCliMode, AgentConfig, FILE_NAME};
pub use lsp::{AfterEdit, LspServerConfig, LspSettings, MissingServer, find_program};
pub use mcp::{McpHttpConfig, McpServerConfig, ToolFilter, valid_server_name};
pub use preset::{PRESETS, Preset};
pub use pricing::Pricing;
pub use secret::Secret;

use crate::permission::{PermissionKey, Policy};
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
    /// Whether the model takes images: `vision` in its table, else what its preset knows
    /// of its default model, else no.
    pub vision: bool,
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
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::sync::Arc<std::io::Error>,
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
    Cwd(std::sync::Arc<std::io::Error>),
}

/// Whether a project's `conch.toml` may loosen what the user's file sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectTrust {
    /// As the trust store says (see `crate::trust`).
    Stored,
    /// Trusted for this run: `--trust-project`, or the user just said yes.
    Granted,
}

/// A project's `conch.toml` and whether what it sets applies.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    pub file: PathBuf,
    /// The project root it is trusted under (the enclosing git root, else the cwd).
    pub root: PathBuf,
    /// The trust store's name for this file as it is now (changes with its contents).
    pub subject: String,
    /// Each setting that needs the user's trust, as `key` (empty: it only narrows).
    pub needs_trust: Vec<String>,
    /// Whether those settings apply.
    pub trusted: bool,
}

/// Every setting of a run, read once from the files and the environment: the provider
/// (resolved on demand, so commands that need none work without one), permissions,
/// sandbox, webfetch, agent profiles and plugins.
#[derive(Debug, Clone)]
pub struct Config {
    /// The files read, weakest first.
    pub sources: Vec<PathBuf>,
    /// The project's file, if there is one.
    pub project: Option<ProjectFile>,
    /// The files' settings merged (the project's narrowed when it is not trusted).
    layer: Layer,
    /// Each file's settings as they apply (narrowed when untrusted), weakest first.
    files: Vec<(PathBuf, Layer)>,
    env: HashMap<String, String>,
    /// `--trust-project`: the project is trusted for this run.
    granted: bool,
}

/// Reads the configuration for a run in `cwd` (default: the current directory) from the
/// files and the process environment.
pub fn load(cwd: Option<&Path>, trust: ProjectTrust) -> Result<Config, ConfigError> {
    let (cwd, env) = process_context(cwd)?;
    read(&cwd, env, trust)
}

/// What the command line chose (`--provider`, `--model`): stronger than the files and
/// the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlagOverrides {
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// The absolute working directory (default: the current one) and the process
/// environment as a map (variables that are not UTF-8 are left out).
fn process_context(
    cwd: Option<&Path>,
) -> Result<(std::path::PathBuf, HashMap<String, String>), ConfigError> {
    let cwd = match cwd {
        Some(dir) => std::path::absolute(dir),
        None => std::env::current_dir(),
    }
    .map_err(|e| ConfigError::Cwd(std::sync::Arc::new(e)))?;
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    Ok((cwd, env))
}

/// Reads the configuration for a run in `cwd`, with `env` standing for the environment
/// (including `CONCH_CONFIG_DIR`).
pub fn read(
    cwd: &Path,
    env: HashMap<String, String>,
    trust: ProjectTrust,
) -> Result<Config, ConfigError> {
    let mut sources = Vec::new();
    let mut files = Vec::new();
    let mut layer = Layer::default();
    let user_dir = crate::dirs::config_dir_with(env.get("CONCH_CONFIG_DIR").map(Into::into));
    let user_file = user_dir.map(|d| d.join(FILE_NAME)).filter(|f| f.is_file());
    if let Some(user) = &user_file {
        layer = file::parse(&read_text(user)?, user, &env)?;
        files.push((user.clone(), layer.clone()));
        sources.push(user.clone());
    }
    let mut project = None;
    if let Some(path) = file::project_file(cwd).filter(|p| Some(p) != user_file.as_ref()) {
        let text = read_text(&path)?;
        let parsed = file::parse(&text, &path, &env)?;
        // Trusted or not: a project may not let a server write past staging and undo.
        mcp::refuse_project_writes(&parsed.mcp)?;
        let root = crate::workspace::root_of(path.parent().unwrap_or(cwd));
        let subject = crate::trust::config_subject(text.as_bytes());
        let trusted = trust == ProjectTrust::Granted || crate::trust::is_trusted(&root, &subject);
        let (narrowed, needs_trust) = parsed.clone().untrusted(&layer);
        let applied = if trusted { parsed } else { narrowed };
        files.push((path.clone(), applied.clone()));
        layer = layer.merge(applied);
        project = Some(ProjectFile {
            file: path.clone(),
            root,
            subject,
            needs_trust,
            trusted,
        });
        sources.push(path);
    }
    Ok(Config {
        sources,
        project,
        layer,
        files,
        env,
        granted: trust == ProjectTrust::Granted,
    })
}

/// `~/x` as a path under the home directory (`HOME`); other paths as written.
fn expand_home(path: &str, env: &HashMap<String, String>) -> PathBuf {
    match (path.strip_prefix("~/"), env.get("HOME")) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source: std::sync::Arc::new(source),
    })
}

/// Resolves the provider configuration for a run in `cwd`, with `env` standing for the
/// environment and the project's file trusted (for tests of resolution).
pub fn resolve(cwd: &Path, env: &HashMap<String, String>) -> Result<ResolvedConfig, ConfigError> {
    read(cwd, env.clone(), ProjectTrust::Granted)?.resolve(&FlagOverrides::default())
}

impl Config {
    /// The provider and run limits, with the command line's choices on top.
    pub fn resolve(&self, flags: &FlagOverrides) -> Result<ResolvedConfig, ConfigError> {
        let mut overrides = EnvOverrides::from_env(&self.env);
        if let Some(provider) = &flags.provider {
            overrides.provider = Some(provider.clone());
        }
        if let Some(model) = &flags.model {
            overrides.model = Some(model.clone());
        }
        let mut config = resolve_layer(self.layer.clone(), &overrides, &self.env)?;
        config.sources = self.sources.clone();
        Ok(config)
    }

    /// Where the settings `config show` prints came from (`provider` is the one chosen),
    /// as comment lines.
    pub fn render_origins(&self, flags: &FlagOverrides, provider: &str) -> String {
        let env = EnvOverrides::from_env(&self.env);
        let mut out = String::new();
        origin::render(
            &origin::origins(&self.files, provider, flags, &env),
            &mut out,
        );
        out
    }

    /// The permission policy: the `[permission]` tables, the project's rules last.
    pub fn permission(&self) -> Policy {
        self.layer.permission.clone()
    }

    /// How commands are confined: `[sandbox]` over the default (workspace-write, no
    /// network).
    pub fn sandbox(&self) -> crate::sandbox::SandboxPolicy {
        let default = crate::sandbox::SandboxPolicy::default();
        crate::sandbox::SandboxPolicy {
            mode: self.layer.sandbox_mode.unwrap_or(default.mode),
            network: self.layer.sandbox_network.unwrap_or(default.network),
            pass_env: self.layer.sandbox_env.clone(),
            deny_read: self
                .layer
                .sandbox_deny_read
                .iter()
                .map(|path| expand_home(path, &self.env))
                .collect(),
        }
    }

    /// The hosts tools may fetch from: `[webfetch]` over the default (any public host,
    /// no private or loopback addresses).
    pub fn webfetch(&self) -> crate::host_api::HttpPolicy {
        crate::host_api::HttpPolicy {
            allow_hosts: self.layer.webfetch_allow_hosts.clone().unwrap_or_default(),
            deny_hosts: self.layer.webfetch_deny_hosts.clone(),
            allow_private: self.layer.webfetch_allow_private.unwrap_or(false),
        }
    }

    /// The `[agents.NAME]` tables (the project's replacing the user's of the same name).
    pub fn agents(&self) -> Vec<AgentConfig> {
        self.layer.agents.values().cloned().collect()
    }

    /// The built-in tools installed plugins may replace (`[plugins] replace_builtins`).
    pub fn replace_builtins(&self) -> &[String] {
        &self.layer.replace_builtins
    }

    /// The price of `model`'s tokens (`[pricing."MODEL"]`), if the config has one.
    pub fn pricing(&self, model: &str) -> Option<Pricing> {
        self.layer.pricing.get(model).copied()
    }

    /// The enabled `[mcp.NAME]` servers; `Err` names a placeholder whose variable is
    /// unset.
    pub fn mcp_servers(&self) -> Result<Vec<McpServerConfig>, ConfigError> {
        mcp::resolve(&self.layer.mcp, self.user_file())
    }

    /// The user's own `conch.toml`, when it exists.
    fn user_file(&self) -> Option<&Path> {
        let project = self.project.as_ref().map(|p| p.file.as_path());
        self.files
            .first()
            .map(|(file, _)| file.as_path())
            .filter(|file| Some(*file) != project)
    }

    /// The `[lsp]` settings and the language servers found on `PATH` (configured ones
    /// first, then the presets); `Err` names a placeholder whose variable is unset.
    pub fn lsp(&self) -> Result<LspSettings, ConfigError> {
        lsp::resolve(
            &self.layer.lsp,
            self.env.get("PATH").map_or("", String::as_str),
        )
    }

    /// Whether language servers may run for the project at `root`: they run its code
    /// (build scripts, proc macros, plugins of its tooling), so only when the project is
    /// trusted: for this run (`--trust-project`), by a trusted conch.toml, or by the
    /// user's answer kept in the trust store ([`crate::trust::LANGUAGE_SERVERS`]).
    pub fn servers_trusted(&self, root: &Path) -> bool {
        self.granted
            || self
                .project
                .as_ref()
                .is_some_and(|p| p.trusted && p.root == root)
            || crate::trust::is_trusted(root, crate::trust::LANGUAGE_SERVERS)
    }

    /// The project's settings that are left out because it is not trusted (empty when it
    /// is, or when it sets nothing that needs trust).
    pub fn ignored(&self) -> &[String] {
        match &self.project {
            Some(p) if !p.trusted => &p.needs_trust,
            _ => &[],
        }
    }

    /// Records that the user trusts the project's file as it is now.
    pub fn trust_project(&self) -> std::io::Result<()> {
        match &self.project {
            Some(p) => crate::trust::record(&p.root, &p.subject),
            None => Ok(()),
        }
    }

    /// `[permission]`, `[sandbox]`, `[webfetch]`, `[plugins]` and `[agents]` as they apply,
    /// for `conch config show`.
    pub fn render_rest(&self) -> String {
        let mut out = String::new();
        let policy = &self.layer.permission;
        out.push_str("\n[permission]\n");
        let table = [
            PermissionKey::READ,
            PermissionKey::EDIT,
            PermissionKey::BASH,
            PermissionKey::WEBFETCH,
        ];
        for key in &table {
            let decision = policy
                .defaults
                .get(key)
                .copied()
                .unwrap_or_else(|| crate::permission::builtin_default(key));
            let _ = writeln!(out, "{key} = \"{decision}\"");
        }
        for (key, decision) in policy.defaults.iter().filter(|(k, _)| !table.contains(k)) {
            let _ = writeln!(out, "{key} = \"{decision}\"");
        }
        for rule in &policy.rules {
            let _ = writeln!(out, "# rule: {rule}");
        }
        for rule in &policy.restrictions {
            let _ = writeln!(out, "# rule (untrusted project, only stricter): {rule}");
        }
        let sandbox = self.sandbox();
        let _ = writeln!(
            out,
            "\n[sandbox]\nmode = {:?}\nnetwork = {}\nenv = {:?}",
            sandbox.mode.as_str(),
            sandbox.network,
            sandbox.pass_env
        );
        if !self.layer.sandbox_deny_read.is_empty() {
            let _ = writeln!(out, "deny_read = {:?}", self.layer.sandbox_deny_read);
        }
        out.push_str("\n[webfetch]\n");
        match &self.layer.webfetch_allow_hosts {
            Some(hosts) => {
                let _ = writeln!(out, "allow_hosts = {hosts:?}");
            }
            None => out.push_str("# allow_hosts: any public host\n"),
        }
        let _ = writeln!(out, "deny_hosts = {:?}", self.layer.webfetch_deny_hosts);
        let _ = writeln!(
            out,
            "allow_private = {}",
            self.layer.webfetch_allow_private.unwrap_or(false)
        );
        let _ = writeln!(
            out,
            "\n[plugins]\nreplace_builtins = {:?}",
            self.layer.replace_builtins
        );
        for agent in self.layer.agents.values() {
            let _ = writeln!(out, "\n[agents.{}]", agent.name);
            let _ = writeln!(out, "description = {:?}", agent.description);
            if let Some(tools) = &agent.tools {
                let _ = writeln!(out, "tools = {tools:?}");
            }
            if let Some(model) = &agent.model {
                let _ = writeln!(out, "model = {model:?}");
            }
            for (key, decision) in &agent.permission.defaults {
                let _ = writeln!(out, "permission.{key} = \"{decision}\"");
            }
            for rule in &agent.permission.rules {
                let _ = writeln!(out, "# rule: {rule}");
            }
        }
        out.push_str(&mcp::render(&self.layer.mcp));
        out.push_str(&lsp::render(&self.layer.lsp));
        if let Some(project) = &self.project {
            let state = match (project.trusted, project.needs_trust.is_empty()) {
                (_, true) => "it only narrows, so it needs no trust".to_string(),
                (true, false) => "trusted".to_string(),
                (false, false) => format!(
                    "NOT trusted, so these settings are ignored: {} (trust it with `conch config trust`, or --trust-project for one run)",
                    project.needs_trust.join(", ")
                ),
            };
            let _ = writeln!(out, "\n# project file {}: {state}", project.file.display());
        }
        out
    }
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
        vision,
        ..
    } = p;

    let url_from_preset = overrides.base_url.is_none() && base_url.is_none();
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
    // A hosted preset's own server refuses every request without its key: say so now,
    // rather than after a round of retries.
    if api_key.is_none()
        && url_from_preset
        && let Some(var) = preset.and_then(|p| p.key_env)
    {
        return Err(ConfigError::Missing {
            field: "api key",
            fix: format!("set {var} (or providers.{name}.api_key in conch.toml, or CONCH_API_KEY)"),
            provider: name,
        });
    }
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
        vision: vision.or(preset.map(|p| p.vision)).unwrap_or(false),
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
        // Images do not pass the bridge: it sends the CLI text.
        vision: false,
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
        if p.agent_cli.is_none() {
            let _ = writeln!(out, "vision = {}", p.vision);
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
