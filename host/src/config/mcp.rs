//! `[mcp.NAME]`: the MCP servers conch starts, as written in a file ([`McpTable`]), as a
//! layer merged by server name ([`McpServerLayer`]), and resolved for a run
//! ([`McpServerConfig`]), with `${VAR}` placeholders filled and secrets masked when shown.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::Secret;
use super::file::Text;
use super::placeholder;

/// How long the first request waits for a server to list its tools, by default.
pub const DEFAULT_STARTUP_TIMEOUT_SECS: u64 = 10;
/// How long one tool call may take, by default.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 60;
/// The longest server name: `mcp__NAME__TOOL` must leave room for the tool in 64.
const MAX_NAME_CHARS: usize = 32;

/// One `[mcp.NAME]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct McpTable {
    /// The program (argv\[0\], no shell).
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    /// Variables set for the server (values may use `${VAR}`).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Variables passed through from conch's environment.
    #[serde(default)]
    env_vars: Vec<String>,
    /// Working directory, relative to the workspace root.
    cwd: Option<String>,
    network: Option<bool>,
    enabled: Option<bool>,
    startup_timeout_secs: Option<u64>,
    tool_timeout_secs: Option<u64>,
    enabled_tools: Option<Vec<String>>,
    disabled_tools: Option<Vec<String>>,
    /// `"workspace"`: it may write the workspace (only from the user's own config).
    write: Option<String>,
}

/// A server as one file sets it; a closer file's server of the same name replaces it.
#[derive(Debug, Clone)]
pub struct McpServerLayer {
    /// The file that declares it.
    pub file: PathBuf,
    command: Option<Text>,
    args: Vec<Text>,
    env: BTreeMap<String, Text>,
    env_vars: Vec<String>,
    cwd: Option<String>,
    network: bool,
    enabled: bool,
    startup_timeout_secs: u64,
    tool_timeout_secs: u64,
    tools: ToolFilter,
    /// `write = "workspace"`.
    pub write_workspace: bool,
}

/// Which of a server's tools are offered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolFilter {
    #[default]
    All,
    /// Only these (`enabled_tools`).
    Only(Vec<String>),
    /// All but these (`disabled_tools`).
    Except(Vec<String>),
}

impl ToolFilter {
    /// Whether tool `name` (the server's own name for it) is offered.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::Only(names) => names.iter().any(|n| n == name),
            ToolFilter::Except(names) => !names.iter().any(|n| n == name),
        }
    }
}

/// A server as a run starts it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    pub name: String,
    /// The file that declares it.
    pub file: PathBuf,
    pub command: String,
    pub args: Vec<String>,
    /// Set for the server on top of the sandbox's allowlist; never printed in full.
    pub env: BTreeMap<String, Secret>,
    /// Passed through from conch's environment.
    pub env_vars: Vec<String>,
    /// Relative to the workspace root (`None`: the root).
    pub cwd: Option<PathBuf>,
    pub network: bool,
    pub startup_timeout: Duration,
    pub tool_timeout: Duration,
    pub tools: ToolFilter,
    /// It may write the workspace itself (`write = "workspace"`): its calls bypass
    /// staging and undo, so they are always asked.
    pub write_workspace: bool,
}

/// Whether `name` can be a server name: letters, digits, `-` and `_` (never two `_` in a
/// row, which separate the parts of `mcp__SERVER__TOOL`), at most 32 characters.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.contains("__")
}

/// The `[mcp]` tables of a file as layers, checked.
pub(super) fn to_layers(
    tables: BTreeMap<String, McpTable>,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<BTreeMap<String, McpServerLayer>, ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid {
        file: path.to_path_buf(),
        at: String::new(),
        key,
        message,
    };
    let mut layers = BTreeMap::new();
    for (name, table) in tables {
        if !valid_server_name(&name) {
            return Err(invalid(
                format!("mcp.{name}"),
                format!(
                    "a server name is 1 to {MAX_NAME_CHARS} letters, digits, `-` or `_` \
                     (without `__`, which separates the parts of its tool names), e.g. `github`"
                ),
            ));
        }
        let key = |field: &str| format!("mcp.{name}.{field}");
        let expand =
            |value: String, field: &str| placeholder::expand(&value, env, path, &key(field));
        if table.command.is_none() {
            return Err(invalid(
                key("command"),
                "a server needs the program to start, e.g. `command = \"github-mcp-server\"`"
                    .into(),
            ));
        }
        let tools = match (table.enabled_tools, table.disabled_tools) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    key("enabled_tools"),
                    "set either enabled_tools or disabled_tools, not both".into(),
                ));
            }
            (Some(only), None) => ToolFilter::Only(only),
            (None, Some(except)) => ToolFilter::Except(except),
            (None, None) => ToolFilter::All,
        };
        for (field, secs) in [
            ("startup_timeout_secs", table.startup_timeout_secs),
            ("tool_timeout_secs", table.tool_timeout_secs),
        ] {
            if secs == Some(0) {
                return Err(invalid(key(field), "must be at least 1".into()));
            }
        }
        if let Some(cwd) = &table.cwd
            && (Path::new(cwd).is_absolute()
                || Path::new(cwd)
                    .components()
                    .any(|c| c == std::path::Component::ParentDir))
        {
            return Err(invalid(
                key("cwd"),
                "is a directory inside the workspace, relative to its root (e.g. \".\" or \"tools\")".into(),
            ));
        }
        let write_workspace = match table.write.as_deref() {
            None | Some("private") => false,
            Some("workspace") => true,
            Some(other) => {
                return Err(invalid(
                    key("write"),
                    format!(
                        "is \"workspace\" (the server may write the workspace) or \"private\" (the default: only its own directory), not {other:?}"
                    ),
                ));
            }
        };
        for var in &table.env_vars {
            if var.is_empty() || var.contains('=') {
                return Err(invalid(
                    key("env_vars"),
                    format!("`{var}` is not a variable name"),
                ));
            }
        }
        let layer = McpServerLayer {
            file: path.to_path_buf(),
            command: table.command.map(|v| expand(v, "command")),
            args: table.args.into_iter().map(|v| expand(v, "args")).collect(),
            env: table
                .env
                .into_iter()
                .map(|(var, v)| {
                    let value = expand(v, &format!("env.{var}"));
                    (var, value)
                })
                .collect(),
            env_vars: table.env_vars,
            cwd: table.cwd,
            network: table.network.unwrap_or(false),
            enabled: table.enabled.unwrap_or(true),
            startup_timeout_secs: table
                .startup_timeout_secs
                .unwrap_or(DEFAULT_STARTUP_TIMEOUT_SECS),
            tool_timeout_secs: table.tool_timeout_secs.unwrap_or(DEFAULT_TOOL_TIMEOUT_SECS),
            tools,
            write_workspace,
        };
        layers.insert(name, layer);
    }
    Ok(layers)
}

/// Refuses a project file's `write = "workspace"`: letting a program write the
/// workspace outside staging and undo loosens what the user set, trusted or not.
pub(super) fn refuse_project_writes(
    layers: &BTreeMap<String, McpServerLayer>,
) -> Result<(), ConfigError> {
    match layers.iter().find(|(_, layer)| layer.write_workspace) {
        Some((name, layer)) => Err(ConfigError::Invalid {
            file: layer.file.clone(),
            at: String::new(),
            key: format!("mcp.{name}.write"),
            message: "only your own conch.toml (in conch's config dir) may let an MCP server write the workspace; remove it here, or declare the server there".into(),
        }),
        None => Ok(()),
    }
}

/// The enabled servers, resolved: a placeholder whose variable is unset is an error
/// only for an enabled server.
pub(super) fn resolve(
    layers: &BTreeMap<String, McpServerLayer>,
) -> Result<Vec<McpServerConfig>, ConfigError> {
    let mut servers = Vec::new();
    for (name, layer) in layers.iter().filter(|(_, layer)| layer.enabled) {
        let command = match &layer.command {
            Some(command) => command.clone()?,
            None => continue,
        };
        servers.push(McpServerConfig {
            name: name.clone(),
            file: layer.file.clone(),
            command,
            args: layer.args.iter().cloned().collect::<Result<_, _>>()?,
            env: layer
                .env
                .iter()
                .map(|(var, value)| Ok((var.clone(), Secret::new(value.clone()?))))
                .collect::<Result<_, ConfigError>>()?,
            env_vars: layer.env_vars.clone(),
            cwd: layer.cwd.as_ref().map(PathBuf::from),
            network: layer.network,
            startup_timeout: Duration::from_secs(layer.startup_timeout_secs),
            tool_timeout: Duration::from_secs(layer.tool_timeout_secs),
            tools: layer.tools.clone(),
            write_workspace: layer.write_workspace,
        });
    }
    Ok(servers)
}

/// The `[mcp.NAME]` tables as they apply, for `conch config show`: `env` values masked.
pub(super) fn render(layers: &BTreeMap<String, McpServerLayer>) -> String {
    let mut out = String::new();
    for (name, layer) in layers {
        let _ = writeln!(out, "\n[mcp.{name}]");
        let _ = writeln!(out, "# from: {}", layer.file.display());
        let shown = |text: &Text| match text {
            Ok(value) => value.clone(),
            Err(e) => format!("(error: {e})"),
        };
        if let Some(command) = &layer.command {
            let _ = writeln!(out, "command = {:?}", shown(command));
        }
        if !layer.args.is_empty() {
            let args: Vec<String> = layer.args.iter().map(shown).collect();
            let _ = writeln!(out, "args = {args:?}");
        }
        for (var, value) in &layer.env {
            let masked = match value {
                Ok(value) => Secret::new(value.as_str()).masked(),
                Err(_) => "(unset variable)".into(),
            };
            let _ = writeln!(out, "env.{var} = {masked:?}");
        }
        if !layer.env_vars.is_empty() {
            let _ = writeln!(out, "env_vars = {:?}", layer.env_vars);
        }
        if let Some(cwd) = &layer.cwd {
            let _ = writeln!(out, "cwd = {cwd:?}");
        }
        let _ = writeln!(out, "network = {}", layer.network);
        if layer.write_workspace {
            let _ = writeln!(out, "write = \"workspace\"");
        }
        let _ = writeln!(out, "enabled = {}", layer.enabled);
        let _ = writeln!(out, "startup_timeout_secs = {}", layer.startup_timeout_secs);
        let _ = writeln!(out, "tool_timeout_secs = {}", layer.tool_timeout_secs);
        match &layer.tools {
            ToolFilter::All => {}
            ToolFilter::Only(names) => {
                let _ = writeln!(out, "enabled_tools = {names:?}");
            }
            ToolFilter::Except(names) => {
                let _ = writeln!(out, "disabled_tools = {names:?}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<super::super::file::Layer, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        super::super::file::parse(text, Path::new("/proj/conch.toml"), &env)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_server_table_resolves_with_placeholders_and_defaults() {
        let text = "[mcp.github]\ncommand = \"gh-mcp\"\nargs = [\"stdio\"]\nenv = { TOKEN = \"${GH}\" }\nenv_vars = [\"GH_HOST\"]\nnetwork = true\nenabled_tools = [\"create_issue\"]\n";
        let layer = parse(text, &[("GH", "ghp_0123456789abcdef")]).unwrap();
        let servers = resolve(&layer.mcp).unwrap();
        assert_eq!(servers.len(), 1);
        let github = &servers[0];
        assert_eq!(github.command, "gh-mcp");
        assert_eq!(github.args, ["stdio"]);
        assert_eq!(github.env["TOKEN"].expose(), "ghp_0123456789abcdef");
        assert!(github.network);
        assert_eq!(
            github.startup_timeout,
            Duration::from_secs(DEFAULT_STARTUP_TIMEOUT_SECS)
        );
        assert!(github.tools.allows("create_issue") && !github.tools.allows("delete_repo"));
        let shown = render(&layer.mcp);
        assert!(!shown.contains("ghp_0123456789abcdef"), "{shown}");
        assert!(shown.contains("env.TOKEN"), "{shown}");
    }

    #[test]
    fn write_is_workspace_or_private_and_a_project_may_not_set_it() {
        let layer = parse("[mcp.a]\ncommand = \"x\"\nwrite = \"workspace\"\n", &[]).unwrap();
        assert!(resolve(&layer.mcp).unwrap()[0].write_workspace);
        assert!(render(&layer.mcp).contains("write = \"workspace\""));
        let err = refuse_project_writes(&layer.mcp).unwrap_err().to_string();
        assert!(err.contains("mcp.a.write"), "{err}");
        let private = parse("[mcp.a]\ncommand = \"x\"\nwrite = \"private\"\n", &[]).unwrap();
        assert!(!resolve(&private.mcp).unwrap()[0].write_workspace);
        assert!(refuse_project_writes(&private.mcp).is_ok());
        let err = parse("[mcp.a]\ncommand = \"x\"\nwrite = \"all\"\n", &[]).unwrap_err();
        assert!(err.contains("mcp.a.write"), "{err}");
    }

    #[test]
    fn both_tool_lists_are_a_config_error() {
        let err = parse(
            "[mcp.a]\ncommand = \"x\"\nenabled_tools = [\"t\"]\ndisabled_tools = [\"u\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("mcp.a.enabled_tools"), "{err}");
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn a_bad_server_name_or_missing_command_is_named() {
        let err = parse("[mcp.\"my server\"]\ncommand = \"x\"\n", &[]).unwrap_err();
        assert!(err.contains("mcp.my server"), "{err}");
        let err = parse("[mcp.a__b]\ncommand = \"x\"\n", &[]).unwrap_err();
        assert!(err.contains("without `__`"), "{err}");
        let err = parse("[mcp.a]\nargs = []\n", &[]).unwrap_err();
        assert!(err.contains("mcp.a.command"), "{err}");
        let err = parse("[mcp.a]\ncommand = \"x\"\nurl = \"http://x\"\n", &[]).unwrap_err();
        assert!(err.contains("mcp.a.url"), "{err}");
    }

    #[test]
    fn an_untrusted_project_never_starts_its_servers_and_says_so() {
        let project = parse("[mcp.fix]\ncommand = \"./server\"\n", &[]).unwrap();
        let (kept, ignored) = project.untrusted(&super::super::file::Layer::default());
        assert!(kept.mcp.is_empty());
        assert!(
            ignored.iter().any(|line| line.contains("mcp.fix")),
            "{ignored:?}"
        );
    }

    #[test]
    fn an_unset_variable_matters_only_for_an_enabled_server() {
        let text = "[mcp.a]\ncommand = \"x\"\nenabled = false\nenv = { K = \"${NOPE}\" }\n";
        assert!(resolve(&parse(text, &[]).unwrap().mcp).unwrap().is_empty());
        let text = "[mcp.a]\ncommand = \"x\"\nenv = { K = \"${NOPE}\" }\n";
        let err = resolve(&parse(text, &[]).unwrap().mcp).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }
}
