//! `conch.toml`: where the files are, their schema, and reading one into a [`Layer`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use super::placeholder;
use super::preset;
use crate::permission::{Decision, PermissionKey, PermissionRule, Policy};

/// The file name looked for in the project and in the user config dir.
pub const FILE_NAME: &str = "conch.toml";

/// The project's `conch.toml`: the nearest one from `cwd` upward, not looking above the
/// git root (the first ancestor holding `.git`).
pub fn project_file(cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

/// The file as written, checked by serde: unknown keys and wrong types are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    provider: Option<String>,
    model: Option<String>,
    max_steps: Option<u32>,
    retries: Option<u32>,
    idle_timeout_secs: Option<u64>,
    compact_at: Option<f64>,
    #[serde(default)]
    providers: BTreeMap<String, ProviderTable>,
    #[serde(default)]
    permission: PermissionTable,
    #[serde(default)]
    sandbox: SandboxTable,
    #[serde(default)]
    agents: BTreeMap<String, AgentTable>,
    #[serde(default)]
    webfetch: WebfetchTable,
    #[serde(default)]
    plugins: PluginsTable,
    /// `[pricing."MODEL"]`, by model name.
    #[serde(default)]
    pricing: BTreeMap<String, super::Pricing>,
    #[serde(default)]
    mcp: BTreeMap<String, super::mcp::McpTable>,
    #[serde(default)]
    lsp: super::lsp::LspTable,
}

/// `[plugins]`: what installed plugins may do beyond adding tools.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginsTable {
    /// Built-in tools an installed plugin may replace (by tool name).
    #[serde(default)]
    replace_builtins: Vec<String>,
}

/// `[webfetch]`: which hosts the `http` import may reach.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebfetchTable {
    allow_hosts: Option<Vec<String>>,
    #[serde(default)]
    deny_hosts: Vec<String>,
    allow_private: Option<bool>,
}

/// `[agents.NAME]`: an agent profile of the user's (see `agent::profile`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentTable {
    description: Option<String>,
    /// Added to the system prompt.
    prompt: Option<String>,
    /// The tools it is offered and may call, by name (default: all).
    tools: Option<Vec<String>>,
    model: Option<String>,
    /// Decisions and rules over the config's `[permission]`.
    #[serde(default)]
    permission: PermissionTable,
}

/// `[sandbox]`: how commands are confined.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxTable {
    mode: Option<crate::sandbox::SandboxMode>,
    network: Option<bool>,
    /// Variables commands may see beside the built-in allowlist.
    env: Option<Vec<String>>,
    /// Paths commands may not read, beside the built-in list (`~/` is the home dir).
    #[serde(default)]
    deny_read: Vec<String>,
}

/// `[permission]`: a decision per permission key, and `[[permission.rules]]`. Keys other
/// than these four are set with a rule of pattern `*`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionTable {
    read: Option<Decision>,
    edit: Option<Decision>,
    bash: Option<Decision>,
    webfetch: Option<Decision>,
    #[serde(default)]
    rules: Vec<PermissionRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderTable {
    /// `openai` (default: an OpenAI-compatible HTTP API) or `agent-cli`.
    kind: Option<ProviderKind>,
    /// For `agent-cli`: the program, its extra arguments and environment.
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// For `agent-cli`: one CLI process per session (`persistent`, default) or one per
    /// turn (`stateless`).
    mode: Option<AgentCliMode>,
    preset: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    context_window: Option<u64>,
    max_output_tokens: Option<u64>,
    /// Whether the model takes images (over what a preset knows).
    vision: Option<bool>,
}

/// A string from a file with its placeholders filled, or the error saying which one is
/// unset. The error only matters if the value is used: an unset key variable of a
/// provider that is not active, or that a closer file overrides, is no error.
pub type Text = Result<String, ConfigError>;

/// One source of settings (a file, or the environment); layers merge key by key.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    pub provider: Option<Text>,
    pub model: Option<Text>,
    pub max_steps: Option<u32>,
    pub retries: Option<u32>,
    pub idle_timeout_secs: Option<u64>,
    pub compact_at: Option<f64>,
    pub providers: BTreeMap<String, ProviderLayer>,
    /// Defaults merge by key; rules of a closer file come after (so they win).
    pub permission: Policy,
    pub sandbox_mode: Option<crate::sandbox::SandboxMode>,
    pub sandbox_network: Option<bool>,
    pub sandbox_env: Vec<String>,
    /// Paths commands may not read, beside the built-in list; lists of every file add up.
    pub sandbox_deny_read: Vec<String>,
    /// Agent profiles by name; a closer file's profile replaces one of the same name.
    pub agents: BTreeMap<String, AgentConfig>,
    /// A closer file's list replaces the other's.
    pub webfetch_allow_hosts: Option<Vec<String>>,
    /// Lists of every file add up.
    pub webfetch_deny_hosts: Vec<String>,
    pub webfetch_allow_private: Option<bool>,
    /// Built-in tools an installed plugin may replace; lists of every file add up.
    pub replace_builtins: Vec<String>,
    /// Prices by model; a closer file's table for a model replaces the other's.
    pub pricing: BTreeMap<String, super::Pricing>,
    /// `[mcp.NAME]` servers; a closer file's server replaces one of the same name.
    pub mcp: BTreeMap<String, super::mcp::McpServerLayer>,
    /// `[lsp]` settings and `[lsp.NAME]` servers.
    pub lsp: super::lsp::LspLayer,
}

/// An `[agents.NAME]` table as plain data (`agent::profile` makes it a profile).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub name: String,
    pub description: String,
    /// Added to the system prompt.
    pub prompt: Option<String>,
    /// The tools it is offered and may call, by name (`None`: all).
    pub tools: Option<Vec<String>>,
    pub model: Option<String>,
    /// Decisions and rules over the config's `[permission]`.
    pub permission: Policy,
}

/// What kind of provider a `[providers.NAME]` table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// An OpenAI-compatible chat completions API over HTTP.
    Openai,
    /// An agent CLI (Claude Code and the like) run as a child process.
    AgentCli,
}

/// How an agent CLI is driven across the turns of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentCliMode {
    /// One CLI process per session; each user turn goes to it over stdin, so it keeps
    /// its own context. A new process (sent the whole history) replaces one that died.
    #[default]
    Persistent,
    /// One CLI process per turn, sent the whole history each time.
    Stateless,
}

#[derive(Debug, Default, Clone)]
pub struct ProviderLayer {
    pub kind: Option<ProviderKind>,
    pub command: Option<Text>,
    pub mode: Option<AgentCliMode>,
    pub args: Vec<Text>,
    pub env: BTreeMap<String, Text>,
    /// A known preset name (checked when the file is read).
    pub preset: Option<String>,
    pub base_url: Option<Text>,
    pub model: Option<Text>,
    pub api_key: Option<Text>,
    pub headers: BTreeMap<String, Text>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub vision: Option<bool>,
}

impl Layer {
    /// This layer with `over`'s settings on top: providers merge by name, and their
    /// fields (headers by name) one by one.
    pub fn merge(mut self, over: Layer) -> Layer {
        self.provider = over.provider.or(self.provider);
        self.model = over.model.or(self.model);
        self.max_steps = over.max_steps.or(self.max_steps);
        self.retries = over.retries.or(self.retries);
        self.idle_timeout_secs = over.idle_timeout_secs.or(self.idle_timeout_secs);
        self.compact_at = over.compact_at.or(self.compact_at);
        self.sandbox_mode = over.sandbox_mode.or(self.sandbox_mode);
        self.sandbox_network = over.sandbox_network.or(self.sandbox_network);
        self.sandbox_env.extend(over.sandbox_env);
        self.sandbox_deny_read.extend(over.sandbox_deny_read);
        self.webfetch_allow_hosts = over.webfetch_allow_hosts.or(self.webfetch_allow_hosts);
        self.webfetch_deny_hosts.extend(over.webfetch_deny_hosts);
        self.webfetch_allow_private = over.webfetch_allow_private.or(self.webfetch_allow_private);
        self.replace_builtins.extend(over.replace_builtins);
        self.pricing.extend(over.pricing);
        for (name, provider) in over.providers {
            let merged = match self.providers.remove(&name) {
                Some(under) => under.merge(provider),
                None => provider,
            };
            self.providers.insert(name, merged);
        }
        self.permission.defaults.extend(over.permission.defaults);
        self.permission.rules.extend(over.permission.rules);
        self.permission
            .restrictions
            .extend(over.permission.restrictions);
        self.agents.extend(over.agents);
        self.mcp.extend(over.mcp);
        self.lsp = self.lsp.merge(over.lsp);
        self
    }
}

impl Layer {
    /// What a file the user has not trusted may set over `under` (the user's settings):
    /// only what narrows. It may pick a provider and model, and make permissions and the
    /// sandbox stricter; it may not run a program, send a key or a header anywhere, or
    /// loosen a rule, a default or the sandbox. Returns the kept settings and a line for
    /// each setting left out.
    pub fn untrusted(self, under: &Layer) -> (Layer, Vec<String>) {
        let mut ignored = Vec::new();
        let mut kept = Layer {
            provider: self.provider,
            model: self.model,
            max_steps: self.max_steps,
            retries: self.retries,
            idle_timeout_secs: self.idle_timeout_secs,
            compact_at: self.compact_at,
            webfetch_deny_hosts: self.webfetch_deny_hosts,
            // A price only changes a figure conch prints.
            pricing: self.pricing,
            ..Layer::default()
        };
        for (name, p) in self.providers {
            let mut loosening = Vec::new();
            let present = [
                ("kind", p.kind.is_some()),
                ("command", p.command.is_some()),
                ("args", !p.args.is_empty()),
                ("env", !p.env.is_empty()),
                ("preset", p.preset.is_some()),
                ("base_url", p.base_url.is_some()),
                ("api_key", p.api_key.is_some()),
                ("headers", !p.headers.is_empty()),
            ];
            for (field, set) in present {
                if set {
                    loosening.push(format!("providers.{name}.{field}"));
                }
            }
            ignored.extend(loosening);
            kept.providers.insert(
                name,
                ProviderLayer {
                    model: p.model,
                    mode: p.mode,
                    context_window: p.context_window,
                    max_output_tokens: p.max_output_tokens,
                    // Says only whether images go to the provider the user chose.
                    vision: p.vision,
                    ..ProviderLayer::default()
                },
            );
        }
        for (key, decision) in self.permission.defaults {
            let base = under
                .permission
                .defaults
                .get(&key)
                .copied()
                .unwrap_or_else(|| crate::permission::builtin_default(&key));
            if decision.strictness() >= base.strictness() {
                kept.permission.defaults.insert(key, decision);
            } else {
                ignored.push(format!("permission.{key} = \"{decision}\""));
            }
        }
        for rule in self
            .permission
            .rules
            .into_iter()
            .chain(self.permission.restrictions)
        {
            if rule.decision == Decision::Allow {
                ignored.push(format!("an allow rule ({rule})"));
            } else {
                // Evaluated apart from the user's rules, and only ever stricter.
                kept.permission.restrictions.push(rule);
            }
        }
        let sandbox_base = under
            .sandbox_mode
            .unwrap_or(crate::sandbox::SandboxMode::WorkspaceWrite);
        match self.sandbox_mode {
            Some(mode) if sandbox_strictness(mode) >= sandbox_strictness(sandbox_base) => {
                kept.sandbox_mode = Some(mode);
            }
            Some(mode) => ignored.push(format!("sandbox.mode = \"{}\"", mode.as_str())),
            None => {}
        }
        match self.sandbox_network {
            Some(true) => ignored.push("sandbox.network = true".into()),
            other => kept.sandbox_network = other,
        }
        if !self.sandbox_env.is_empty() {
            ignored.push(format!("sandbox.env = {:?}", self.sandbox_env));
        }
        kept.sandbox_deny_read = self.sandbox_deny_read;
        match self.webfetch_allow_hosts {
            // With no list of the user's, a list only narrows.
            Some(hosts) if under.webfetch_allow_hosts.is_none() => {
                kept.webfetch_allow_hosts = Some(hosts);
            }
            Some(_) => ignored.push("webfetch.allow_hosts (the user's list applies)".into()),
            None => {}
        }
        match self.webfetch_allow_private {
            Some(true) => ignored.push("webfetch.allow_private = true".into()),
            other => kept.webfetch_allow_private = other,
        }
        if !self.replace_builtins.is_empty() {
            ignored.push(format!(
                "plugins.replace_builtins = {:?}",
                self.replace_builtins
            ));
        }
        for (name, mut agent) in self.agents {
            let before = agent.permission.rules.len() + agent.permission.defaults.len();
            // A profile's decisions override the config's, so only its denials can stay.
            agent
                .permission
                .defaults
                .retain(|_, decision| *decision == Decision::Deny);
            agent
                .permission
                .rules
                .retain(|rule| rule.decision == Decision::Deny);
            if agent.permission.rules.len() + agent.permission.defaults.len() < before {
                ignored.push(format!(
                    "agents.{name}.permission (its allow and ask decisions)"
                ));
            }
            kept.agents.insert(name, agent);
        }
        // A server is a program to run, or (HTTP) a place contacted at every start:
        // never from an untrusted file.
        let (mcp, left_out) = super::mcp::untrusted(self.mcp);
        kept.mcp = mcp;
        ignored.extend(left_out);
        let (lsp, lsp_ignored) = self.lsp.untrusted();
        kept.lsp = lsp;
        ignored.extend(lsp_ignored);
        (kept, ignored)
    }
}

/// How much a sandbox mode holds back: off < workspace-write < read-only.
fn sandbox_strictness(mode: crate::sandbox::SandboxMode) -> u8 {
    use crate::sandbox::SandboxMode;
    match mode {
        SandboxMode::Off => 0,
        SandboxMode::WorkspaceWrite => 1,
        SandboxMode::ReadOnly => 2,
    }
}

impl ProviderLayer {
    pub fn merge(mut self, over: ProviderLayer) -> ProviderLayer {
        self.kind = over.kind.or(self.kind);
        self.command = over.command.or(self.command);
        self.mode = over.mode.or(self.mode);
        if !over.args.is_empty() {
            self.args = over.args;
        }
        self.env.extend(over.env);
        self.preset = over.preset.or(self.preset);
        self.base_url = over.base_url.or(self.base_url);
        self.model = over.model.or(self.model);
        self.api_key = over.api_key.or(self.api_key);
        self.headers.extend(over.headers);
        self.context_window = over.context_window.or(self.context_window);
        self.max_output_tokens = over.max_output_tokens.or(self.max_output_tokens);
        self.vision = over.vision.or(self.vision);
        self
    }
}

/// Parses the text of `path`.
pub fn parse(text: &str, path: &Path, env: &HashMap<String, String>) -> Result<Layer, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
        file: path.to_path_buf(),
        at: position(text, e.span()),
        message: e.message().trim_end().to_string(),
    })?;
    let file: ConfigFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Invalid {
            file: path.to_path_buf(),
            at: position(text, inner.span()),
            key,
            message: inner.message().trim_end().to_string(),
        }
    })?;
    to_layer(file, path, env)
}

/// `line:column` (1-based) of the start of a span, or empty without one.
fn position(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

fn to_layer(
    file: ConfigFile,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<Layer, ConfigError> {
    let expand = |value: String, key: &str| placeholder::expand(&value, env, path, key);
    let invalid = |key: &str, message: &str| ConfigError::Invalid {
        file: path.to_path_buf(),
        at: String::new(),
        key: key.to_string(),
        message: message.to_string(),
    };
    if file
        .compact_at
        .is_some_and(|share| !(share > 0.0 && share <= 1.0))
    {
        return Err(invalid(
            "compact_at",
            "must be a share of the context window above 0 and at most 1, e.g. 0.8",
        ));
    }
    if file.idle_timeout_secs == Some(0) {
        return Err(invalid("idle_timeout_secs", "must be at least 1"));
    }
    super::pricing::validate(&file.pricing).map_err(|(key, message)| invalid(&key, &message))?;
    let mut providers = BTreeMap::new();
    for (name, table) in file.providers {
        let key = |field: &str| format!("providers.{name}.{field}");
        let preset = match table.preset {
            Some(preset) => {
                let preset = expand(preset, &key("preset"))?;
                if preset::find(&preset).is_none() {
                    return Err(ConfigError::Invalid {
                        file: path.to_path_buf(),
                        at: String::new(),
                        key: key("preset"),
                        message: format!(
                            "unknown preset `{preset}`; known presets: {}",
                            preset::names()
                        ),
                    });
                }
                Some(preset)
            }
            None => None,
        };
        let layer = ProviderLayer {
            kind: table.kind,
            command: table.command.map(|v| expand(v, &key("command"))),
            mode: table.mode,
            args: table
                .args
                .into_iter()
                .map(|v| expand(v, &key("args")))
                .collect(),
            env: table
                .env
                .into_iter()
                .map(|(name, v)| {
                    let value = expand(v, &key(&format!("env.{name}")));
                    (name, value)
                })
                .collect(),
            preset,
            base_url: table.base_url.map(|v| expand(v, &key("base_url"))),
            model: table.model.map(|v| expand(v, &key("model"))),
            api_key: table.api_key.map(|v| expand(v, &key("api_key"))),
            headers: table
                .headers
                .into_iter()
                .map(|(header, v)| {
                    let value = expand(v, &key(&format!("headers.{header}")));
                    (header, value)
                })
                .collect(),
            context_window: table.context_window,
            max_output_tokens: table.max_output_tokens,
            vision: table.vision,
        };
        providers.insert(name, layer);
    }
    let mcp = super::mcp::to_layers(file.mcp, path, env)?;
    let lsp = super::lsp::to_layer(file.lsp, path, env)?;
    let agents = file
        .agents
        .into_iter()
        .map(|(name, table)| {
            let agent = AgentConfig {
                description: table
                    .description
                    .unwrap_or_else(|| format!("defined in {}", path.display())),
                prompt: table.prompt,
                tools: table.tools,
                permission: policy(table.permission),
                model: table.model,
                name: name.clone(),
            };
            (name, agent)
        })
        .collect();
    Ok(Layer {
        permission: policy(file.permission),
        agents,
        provider: file.provider.map(|v| expand(v, "provider")),
        model: file.model.map(|v| expand(v, "model")),
        max_steps: file.max_steps,
        retries: file.retries,
        idle_timeout_secs: file.idle_timeout_secs,
        compact_at: file.compact_at,
        sandbox_mode: file.sandbox.mode,
        sandbox_network: file.sandbox.network,
        sandbox_env: file.sandbox.env.unwrap_or_default(),
        sandbox_deny_read: file.sandbox.deny_read,
        webfetch_allow_hosts: file.webfetch.allow_hosts,
        webfetch_deny_hosts: file.webfetch.deny_hosts,
        webfetch_allow_private: file.webfetch.allow_private,
        replace_builtins: file.plugins.replace_builtins,
        pricing: file.pricing,
        providers,
        mcp,
        lsp,
    })
}

/// A `[permission]` table as the gate's policy.
fn policy(table: PermissionTable) -> Policy {
    let defaults = [
        (PermissionKey::READ, table.read),
        (PermissionKey::EDIT, table.edit),
        (PermissionKey::BASH, table.bash),
        (PermissionKey::WEBFETCH, table.webfetch),
    ]
    .into_iter()
    .filter_map(|(key, decision)| Some((key, decision?)))
    .collect();
    Policy {
        defaults,
        rules: table.rules,
        ..Policy::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        match parse(text, Path::new("/proj/conch.toml"), &HashMap::new()) {
            Ok(_) => "parsed".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_key_names_file_and_dotted_key() {
        let err = parse_err("[providers.deepseek]\nmodel = \"m\"\napi_kee = \"x\"\n");
        assert!(err.contains("/proj/conch.toml:3:1"), "{err}");
        assert!(err.contains("providers.deepseek.api_kee"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse_err("max_steps = \"many\"\n");
        assert!(err.contains("max_steps"), "{err}");
        assert!(err.contains("/proj/conch.toml:1:"), "{err}");
    }

    #[test]
    fn syntax_error_names_the_file_and_line() {
        let err = parse_err("provider = \"x\"\nmodel = \n");
        assert!(err.contains("/proj/conch.toml:2:"), "{err}");
        assert!(err.contains("syntax"), "{err}");
    }

    #[test]
    fn unknown_preset_is_refused_with_the_known_ones() {
        let err = parse_err("[providers.mine]\npreset = \"openia\"\n");
        assert!(err.contains("providers.mine.preset"), "{err}");
        assert!(err.contains("openai, deepseek"), "{err}");
    }

    #[test]
    fn permission_table_reads_defaults_and_rules() {
        let text = "[permission]\nedit = \"allow\"\n\n[[permission.rules]]\ntool = \"read\"\npattern = \"secret/*\"\ndecision = \"deny\"\n";
        let layer = parse(text, Path::new("/proj/conch.toml"), &HashMap::new()).unwrap();
        assert_eq!(
            layer.permission.defaults.get("edit"),
            Some(&Decision::Allow)
        );
        assert_eq!(
            layer.permission.rules,
            [PermissionRule::new("read", "secret/*", Decision::Deny)]
        );
    }

    #[test]
    fn a_misspelt_decision_or_rule_key_names_the_key() {
        let err = parse_err("[permission]\nedit = \"alow\"\n");
        assert!(err.contains("permission.edit"), "{err}");
        assert!(err.contains("allow"), "{err}");
        let err = parse_err("[[permission.rules]]\ntool = \"read\"\npatern = \"x\"\n");
        assert!(err.contains("permission.rules[0].patern"), "{err}");
        let err = parse_err("[permission]\nshell = \"deny\"\n");
        assert!(err.contains("permission.shell"), "{err}");
    }

    #[test]
    fn an_agents_table_becomes_a_profile_and_a_misspelt_key_is_named() {
        let text = "[agents.review]\nprompt = \"hawk\"\ntools = [\"read\"]\n[agents.review.permission]\nbash = \"deny\"\n";
        let layer = parse(text, Path::new("/proj/conch.toml"), &HashMap::new()).unwrap();
        let review = &layer.agents["review"];
        assert_eq!(review.prompt.as_deref(), Some("hawk"));
        assert_eq!(review.tools, Some(vec!["read".to_string()]));
        assert_eq!(
            review.permission.defaults.get("bash"),
            Some(&Decision::Deny)
        );
        let err = parse_err("[agents.review]\npromt = \"x\"\n");
        assert!(err.contains("agents.review.promt"), "{err}");
    }

    #[test]
    fn project_file_search_stops_at_the_git_root() {
        let outer = tempfile::tempdir().unwrap();
        let repo = outer.path().join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(outer.path().join(FILE_NAME), "").unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(project_file(&deep), None);
        std::fs::write(repo.join("a").join(FILE_NAME), "").unwrap();
        assert_eq!(project_file(&deep), Some(repo.join("a").join(FILE_NAME)));
    }
}
