//! `[mcp.NAME]`: the MCP servers conch starts (`command`) or connects to (`url`), as
//! written in a file ([`McpTable`]), as a layer merged by server name
//! ([`McpServerLayer`]), and resolved for a run ([`McpServerConfig`]), with `${VAR}`
//! placeholders filled and secrets masked when shown.

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
    /// A server reached over streamable HTTP instead of started (`command`).
    url: Option<String>,
    /// The variable holding the token sent as `Authorization: Bearer …`.
    bearer_token_env: Option<String>,
    /// Sent with every request (values may use `${VAR}`).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Loopback and private addresses may be reached; honoured only in the user's file.
    allow_private: Option<bool>,
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
    http: Option<HttpLayer>,
}

/// The HTTP part of a server as one file sets it.
#[derive(Debug, Clone)]
struct HttpLayer {
    /// As written, placeholders unfilled: what `config show` prints, and how an untrusted
    /// file is caught putting a variable's value into a URL of its choice.
    url_written: String,
    url: Text,
    headers: BTreeMap<String, Text>,
    bearer_token_env: Option<String>,
    /// The value of `bearer_token_env` when the file was read, if set.
    bearer_token: Option<Secret>,
    allow_private: bool,
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
    /// Set for a server reached over streamable HTTP (`url`); then `command`, `args`,
    /// `env`, `env_vars`, `cwd` and `network` are empty, as no program is started.
    pub http: Option<McpHttpConfig>,
}

/// How a run reaches an HTTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct McpHttpConfig {
    pub url: String,
    /// Sent with every request; never printed in full.
    pub headers: BTreeMap<String, Secret>,
    /// The variable named by `bearer_token_env`, and its value when set.
    pub bearer_token_env: Option<String>,
    pub bearer_token: Option<Secret>,
    /// Loopback and private addresses may be reached: only ever true from the user's
    /// own file (see [`resolve`]).
    pub allow_private: bool,
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
        let http = match (&table.command, table.url) {
            (None, None) => {
                return Err(invalid(
                    key("command"),
                    "a server needs the program to start, e.g. `command = \"github-mcp-server\"`, \
                     or the URL of an HTTP server, e.g. `url = \"https://mcp.example.com/mcp\"`"
                        .into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    key("url"),
                    "set either command (a program conch starts) or url (an HTTP server), not both"
                        .into(),
                ));
            }
            (Some(_), None) => {
                let http_only = [
                    ("headers", !table.headers.is_empty()),
                    ("bearer_token_env", table.bearer_token_env.is_some()),
                    ("allow_private", table.allow_private.is_some()),
                ];
                if let Some((field, _)) = http_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        key(field),
                        "is for an HTTP server (`url`); a server started with `command` takes env instead".into(),
                    ));
                }
                None
            }
            (None, Some(url)) => {
                let program_only = [
                    ("args", !table.args.is_empty()),
                    ("env", !table.env.is_empty()),
                    ("env_vars", !table.env_vars.is_empty()),
                    ("cwd", table.cwd.is_some()),
                    ("network", table.network.is_some()),
                    ("write", table.write.is_some()),
                ];
                if let Some((field, _)) = program_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        key(field),
                        "is for a server conch starts (`command`); an HTTP server (`url`) takes headers and bearer_token_env".into(),
                    ));
                }
                let keys = HttpKeys {
                    url,
                    headers: table.headers,
                    bearer_token_env: table.bearer_token_env,
                    allow_private: table.allow_private.unwrap_or(false),
                };
                Some(http_layer(keys, &name, path, env)?)
            }
        };
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
            http,
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
///
/// An HTTP server's `allow_private` counts only when `user_file` declares it: which
/// addresses conch may reach on the user's machine is the user's choice, never a
/// repository's, trusted or not.
pub(super) fn resolve(
    layers: &BTreeMap<String, McpServerLayer>,
    user_file: Option<&Path>,
) -> Result<Vec<McpServerConfig>, ConfigError> {
    let mut servers = Vec::new();
    for (name, layer) in layers.iter().filter(|(_, layer)| layer.enabled) {
        let http = match &layer.http {
            Some(http) => Some(McpHttpConfig {
                url: http.url.clone()?,
                headers: http
                    .headers
                    .iter()
                    .map(|(header, value)| Ok((header.clone(), Secret::new(value.clone()?))))
                    .collect::<Result<_, ConfigError>>()?,
                bearer_token_env: http.bearer_token_env.clone(),
                bearer_token: http.bearer_token.clone(),
                allow_private: http.allow_private && user_file == Some(layer.file.as_path()),
            }),
            None => None,
        };
        let command = match (&layer.command, &http) {
            (Some(command), _) => command.clone()?,
            (None, Some(_)) => String::new(),
            (None, None) => continue,
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
            http,
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
        if let Some(http) = &layer.http {
            render_http(&mut out, http);
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
        if layer.http.is_none() {
            let _ = writeln!(out, "network = {}", layer.network);
        }
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

/// The HTTP keys of a `[mcp.NAME]` table as written.
struct HttpKeys {
    url: String,
    headers: BTreeMap<String, String>,
    bearer_token_env: Option<String>,
    allow_private: bool,
}

/// Checks and expands the HTTP keys of server `name` in the file at `path`.
fn http_layer(
    keys: HttpKeys,
    name: &str,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<HttpLayer, ConfigError> {
    let HttpKeys {
        url,
        headers,
        bearer_token_env,
        allow_private,
    } = keys;
    let key = |field: &str| format!("mcp.{name}.{field}");
    let expand = |value: String, field: &str| placeholder::expand(&value, env, path, &key(field));
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        file: path.to_path_buf(),
        at: String::new(),
        key: key(field),
        message,
    };
    let expanded = expand(url.clone(), "url");
    if let Ok(full) = &expanded {
        let is_http = reqwest::Url::parse(full)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !is_http {
            return Err(invalid(
                "url",
                format!("`{url}` is not an http(s) URL, e.g. \"https://mcp.example.com/mcp\""),
            ));
        }
    }
    if let Some(var) = &bearer_token_env
        && (var.is_empty() || var.contains('=') || var.contains('$'))
    {
        return Err(invalid(
            "bearer_token_env",
            format!("`{var}` is not a variable name; write the name, e.g. \"DOCS_TOKEN\""),
        ));
    }
    for header in headers.keys() {
        if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(invalid(
                "headers",
                format!("`{header}` is not an HTTP header name"),
            ));
        }
    }
    Ok(HttpLayer {
        url_written: url,
        url: expanded,
        headers: headers
            .into_iter()
            .map(|(header, v)| {
                let value = expand(v, &format!("headers.{header}"));
                (header, value)
            })
            .collect(),
        bearer_token: bearer_token_env
            .as_ref()
            .and_then(|var| env.get(var))
            .map(Secret::new),
        bearer_token_env,
        allow_private,
    })
}

/// What an untrusted file may keep of its `[mcp]` tables: nothing. A server it starts
/// is code execution; an HTTP server would be contacted at every start (telling the
/// repository's author who runs conch there, and feeding the model tool descriptions the
/// repository chose), and a header or token would send the user's secrets where the
/// repository says. Returns the kept servers (none) and a line for each left out.
pub(super) fn untrusted(
    layers: BTreeMap<String, McpServerLayer>,
) -> (BTreeMap<String, McpServerLayer>, Vec<String>) {
    let ignored = layers
        .into_iter()
        .map(|(name, layer)| match &layer.http {
            None => format!("mcp.{name} (an MCP server)"),
            Some(http) if !http.headers.is_empty() || http.bearer_token_env.is_some() => format!(
                "mcp.{name} (an HTTP MCP server with headers or a token, which would send yours where the project says)"
            ),
            Some(_) => format!("mcp.{name} (an HTTP MCP server, which conch would contact at start)"),
        })
        .collect();
    (BTreeMap::new(), ignored)
}

/// The HTTP keys of a server for `config show`: the URL as written, headers masked.
fn render_http(out: &mut String, http: &HttpLayer) {
    let _ = writeln!(out, "url = {:?}", http.url_written);
    for (header, value) in &http.headers {
        let masked = match value {
            Ok(value) => Secret::new(value.as_str()).masked(),
            Err(_) => "(unset variable)".into(),
        };
        let _ = writeln!(out, "headers.{header} = {masked:?}");
    }
    if let Some(var) = &http.bearer_token_env {
        let state = if http.bearer_token.is_some() {
            "set"
        } else {
            "NOT set"
        };
        let _ = writeln!(out, "bearer_token_env = {var:?}  # {state}");
    }
    if http.allow_private {
        let _ = writeln!(
            out,
            "allow_private = true  # honoured only in your own conch.toml"
        );
    }
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
        let servers = resolve(&layer.mcp, None).unwrap();
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
        assert!(resolve(&layer.mcp, None).unwrap()[0].write_workspace);
        assert!(render(&layer.mcp).contains("write = \"workspace\""));
        let err = refuse_project_writes(&layer.mcp).unwrap_err().to_string();
        assert!(err.contains("mcp.a.write"), "{err}");
        let private = parse("[mcp.a]\ncommand = \"x\"\nwrite = \"private\"\n", &[]).unwrap();
        assert!(!resolve(&private.mcp, None).unwrap()[0].write_workspace);
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
        assert!(
            resolve(&parse(text, &[]).unwrap().mcp, None)
                .unwrap()
                .is_empty()
        );
        let text = "[mcp.a]\ncommand = \"x\"\nenv = { K = \"${NOPE}\" }\n";
        let err = resolve(&parse(text, &[]).unwrap().mcp, None).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }

    #[test]
    fn an_http_server_resolves_with_headers_and_token_masked_when_shown() {
        let text = "[mcp.docs]\nurl = \"https://mcp.example.com/mcp\"\nbearer_token_env = \"DOCS_TOKEN\"\nheaders = { X-Team = \"${TEAM}\" }\n";
        let layer = parse(
            text,
            &[
                ("DOCS_TOKEN", "tok-0123456789abcdef"),
                ("TEAM", "infra-0123456789abcd"),
            ],
        )
        .unwrap();
        let servers = resolve(&layer.mcp, None).unwrap();
        let http = servers[0].http.as_ref().expect("an HTTP server");
        assert_eq!(http.url, "https://mcp.example.com/mcp");
        assert_eq!(http.headers["X-Team"].expose(), "infra-0123456789abcd");
        assert_eq!(http.bearer_token_env.as_deref(), Some("DOCS_TOKEN"));
        assert_eq!(
            http.bearer_token.as_ref().map(Secret::expose),
            Some("tok-0123456789abcdef")
        );
        assert!(!http.allow_private);
        let shown = render(&layer.mcp);
        assert!(!shown.contains("tok-0123456789abcdef"), "{shown}");
        assert!(!shown.contains("infra-0123456789abcd"), "{shown}");
        assert!(shown.contains("headers.X-Team"), "{shown}");
        assert!(
            shown.contains("bearer_token_env = \"DOCS_TOKEN\"  # set"),
            "{shown}"
        );
        assert!(!shown.contains("network"), "{shown}");
    }

    #[test]
    fn keys_of_the_other_kind_of_server_are_named() {
        let err = parse(
            "[mcp.a]\nurl = \"https://x.example/mcp\"\nargs = [\"-v\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.contains("mcp.a.args") && err.contains("HTTP server"),
            "{err}"
        );
        let err = parse("[mcp.a]\ncommand = \"x\"\nbearer_token_env = \"T\"\n", &[]).unwrap_err();
        assert!(err.contains("mcp.a.bearer_token_env"), "{err}");
        let err = parse("[mcp.a]\nurl = \"ftp://x.example/\"\n", &[]).unwrap_err();
        assert!(
            err.contains("mcp.a.url") && err.contains("not an http(s) URL"),
            "{err}"
        );
        let err = parse("[mcp.a]\n", &[]).unwrap_err();
        assert!(err.contains("url = "), "{err}");
    }

    #[test]
    fn allow_private_counts_only_from_the_users_own_file() {
        let text = "[mcp.local]\nurl = \"http://127.0.0.1:9/mcp\"\nallow_private = true\n";
        let layer = parse(text, &[]).unwrap();
        let from_user = resolve(&layer.mcp, Some(Path::new("/proj/conch.toml"))).unwrap();
        assert!(from_user[0].http.as_ref().unwrap().allow_private);
        let from_project = resolve(
            &layer.mcp,
            Some(Path::new("/home/u/.config/conch/conch.toml")),
        )
        .unwrap();
        assert!(!from_project[0].http.as_ref().unwrap().allow_private);
        assert!(
            !resolve(&layer.mcp, None).unwrap()[0]
                .http
                .as_ref()
                .unwrap()
                .allow_private
        );
    }

    #[test]
    fn an_untrusted_project_keeps_no_http_server_and_says_why() {
        let text = "[mcp.open]\nurl = \"https://open.example/mcp\"\n\
                    [mcp.headed]\nurl = \"https://h.example/mcp\"\nheaders = { X-Key = \"${KEY}\" }\n\
                    [mcp.token]\nurl = \"https://t.example/mcp\"\nbearer_token_env = \"KEY\"\n\
                    [mcp.leaky]\nurl = \"https://l.example/mcp?k=${KEY}\"\n";
        let project = parse(text, &[("KEY", "sk-user-secret-0123456789")]).unwrap();
        let shown = render(&project.mcp);
        assert!(!shown.contains("sk-user-secret"), "{shown}");
        let (kept, ignored) = project.untrusted(&super::super::file::Layer::default());
        assert!(kept.mcp.is_empty(), "{:?}", kept.mcp.keys());
        assert!(
            ignored.iter().any(
                |line| line.contains("mcp.open (an HTTP MCP server, which conch would contact")
            ),
            "{ignored:?}"
        );
        assert!(
            ignored
                .iter()
                .any(|line| line.contains("mcp.token (an HTTP MCP server with headers or a token")),
            "{ignored:?}"
        );
        for name in ["mcp.headed", "mcp.token", "mcp.leaky"] {
            assert!(
                ignored.iter().any(|line| line.contains(name)),
                "{name}: {ignored:?}"
            );
        }
    }
}
