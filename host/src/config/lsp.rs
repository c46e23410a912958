//! `[lsp]` and `[lsp.NAME]`: the language servers conch may start, as written in a file
//! ([`LspTable`]), as a layer merged by server name ([`LspLayer`]), and resolved for a run
//! ([`LspSettings`]) over the built-in presets, each kept only when its program is found
//! on `PATH` (a server is never downloaded).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::Secret;
use super::file::Text;
use super::placeholder;

/// How long diagnostics for an edited file are waited for, by default.
pub const DEFAULT_DIAGNOSTICS_WAIT_MS: u64 = 3000;
/// The longest wait a config may set: an edit's result must not hang on a server.
const MAX_DIAGNOSTICS_WAIT_MS: u64 = 60_000;

/// What an edit's result gets from the language servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterEdit {
    /// The errors the edit introduced.
    #[default]
    Errors,
    /// Nothing: edits do not wait for servers.
    Off,
}

/// `[lsp]` as written: two settings, and one table per server.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LspTable {
    diagnostics_wait_ms: Option<u64>,
    after_edit: Option<AfterEdit>,
    /// Every other key is a server's table (checked field by field there).
    #[serde(flatten)]
    servers: BTreeMap<String, LspServerTable>,
}

/// One `[lsp.NAME]` table as written. Named like a preset, it changes that preset's
/// fields (e.g. `init_options`, or `enabled = false`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LspServerTable {
    /// The program (argv\[0\], no shell), looked up on `PATH`.
    command: Option<String>,
    args: Option<Vec<String>>,
    /// File name extensions it serves, without the dot (`rs`, `py`).
    extensions: Option<Vec<String>>,
    /// File names whose nearest directory is the server's root (`Cargo.toml`).
    root_markers: Option<Vec<String>>,
    /// Variables set for the server (values may use `${VAR}`).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Sent as `initializationOptions`.
    init_options: Option<toml::Value>,
    enabled: Option<bool>,
}

/// The `[lsp]` settings of one file.
#[derive(Debug, Clone, Default)]
pub struct LspLayer {
    pub diagnostics_wait_ms: Option<u64>,
    pub after_edit: Option<AfterEdit>,
    /// A closer file's server of the same name replaces it.
    pub servers: BTreeMap<String, LspServerLayer>,
}

/// A server as one file sets it.
#[derive(Debug, Clone)]
pub struct LspServerLayer {
    /// The file that declares it.
    pub file: PathBuf,
    command: Option<Text>,
    args: Option<Vec<Text>>,
    extensions: Option<Vec<String>>,
    root_markers: Option<Vec<String>>,
    env: BTreeMap<String, Text>,
    init_options: Option<serde_json::Value>,
    enabled: Option<bool>,
}

impl LspLayer {
    /// This layer with `over`'s settings on top.
    pub fn merge(mut self, over: LspLayer) -> LspLayer {
        self.diagnostics_wait_ms = over.diagnostics_wait_ms.or(self.diagnostics_wait_ms);
        self.after_edit = over.after_edit.or(self.after_edit);
        self.servers.extend(over.servers);
        self
    }

    /// What an untrusted project may keep: its settings, never a server (a program to
    /// run); a line for each server left out.
    pub fn untrusted(self) -> (LspLayer, Vec<String>) {
        let ignored = self
            .servers
            .keys()
            .map(|name| format!("lsp.{name} (a language server)"))
            .collect();
        let kept = LspLayer {
            diagnostics_wait_ms: self.diagnostics_wait_ms,
            after_edit: self.after_edit,
            servers: BTreeMap::new(),
        };
        (kept, ignored)
    }
}

/// A built-in server definition, used when its program is on `PATH`.
struct LspPreset {
    name: &'static str,
    command: &'static str,
    args: &'static [&'static str],
    extensions: &'static [&'static str],
    root_markers: &'static [&'static str],
    /// JSON text of its `initializationOptions`.
    init_options: &'static str,
}

const PYTHON_MARKERS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "pyrightconfig.json",
];

/// In order of preference: for a file, every found server serving its extension reports
/// diagnostics, and navigation asks the first that supports the request.
const PRESETS: &[LspPreset] = &[
    LspPreset {
        name: "rust-analyzer",
        command: "rust-analyzer",
        args: &[],
        extensions: &["rs"],
        root_markers: &["Cargo.toml", "rust-project.json"],
        // Check-on-save would build every dependency into the server's private target
        // dir: a full build the user did not ask for.
        init_options: r#"{"checkOnSave": false, "check": {"workspace": false}}"#,
    },
    LspPreset {
        name: "pyright",
        command: "pyright-langserver",
        args: &["--stdio"],
        extensions: &["py", "pyi"],
        root_markers: PYTHON_MARKERS,
        init_options: "null",
    },
    LspPreset {
        name: "basedpyright",
        command: "basedpyright-langserver",
        args: &["--stdio"],
        extensions: &["py", "pyi"],
        root_markers: PYTHON_MARKERS,
        init_options: "null",
    },
    LspPreset {
        name: "jedi-language-server",
        command: "jedi-language-server",
        args: &[],
        extensions: &["py", "pyi"],
        root_markers: PYTHON_MARKERS,
        init_options: "null",
    },
    LspPreset {
        name: "ruff",
        command: "ruff",
        args: &["server"],
        extensions: &["py", "pyi"],
        root_markers: &["pyproject.toml", "ruff.toml", ".ruff.toml"],
        init_options: "null",
    },
    LspPreset {
        name: "typescript-language-server",
        command: "typescript-language-server",
        args: &["--stdio"],
        extensions: &["ts", "tsx", "js", "jsx", "mjs", "cjs", "mts", "cts"],
        root_markers: &["tsconfig.json", "jsconfig.json", "package.json"],
        init_options: "null",
    },
    LspPreset {
        name: "gopls",
        command: "gopls",
        args: &[],
        extensions: &["go"],
        root_markers: &["go.work", "go.mod"],
        init_options: "null",
    },
    LspPreset {
        name: "clangd",
        command: "clangd",
        args: &[],
        extensions: &["c", "h", "cc", "cpp", "cxx", "hpp", "hh", "hxx"],
        root_markers: &[
            "compile_commands.json",
            "compile_flags.txt",
            ".clangd",
            "CMakeLists.txt",
        ],
        init_options: "null",
    },
];

/// A server as a run may start it.
#[derive(Debug, Clone, PartialEq)]
pub struct LspServerConfig {
    pub name: String,
    /// The file that declares or changes it; `None` for a preset as built in.
    pub file: Option<PathBuf>,
    /// As configured (for messages).
    pub command: String,
    /// Where it was found on `PATH`.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub extensions: Vec<String>,
    pub root_markers: Vec<String>,
    /// Set for the server on top of the sandbox's allowlist; never printed in full.
    pub env: BTreeMap<String, Secret>,
    pub init_options: Option<serde_json::Value>,
}

impl LspServerConfig {
    /// Whether it serves `path` (by its extension).
    pub fn serves(&self, path: &Path) -> bool {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|ext| self.extensions.iter().any(|e| e == ext))
    }
}

/// A server conch knows of but whose program is not on `PATH`.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingServer {
    pub name: String,
    pub command: String,
    pub extensions: Vec<String>,
}

/// The `[lsp]` settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LspSettings {
    /// Found on `PATH`, in order of preference.
    pub servers: Vec<LspServerConfig>,
    /// Enabled but not found: named when no server serves a file.
    pub missing: Vec<MissingServer>,
    pub diagnostics_wait: Duration,
    pub after_edit: AfterEdit,
}

impl LspSettings {
    /// The servers of `path` (by its extension), in order of preference: each reports
    /// diagnostics on it, and navigation asks the first that supports the request.
    pub fn servers_for(&self, path: &Path) -> Vec<&LspServerConfig> {
        self.servers.iter().filter(|s| s.serves(path)).collect()
    }

    /// Why no server serves `path`: what was looked for and how to configure one.
    pub fn none_for(&self, path: &Path) -> String {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let looked: Vec<String> = self
            .missing
            .iter()
            .filter(|m| m.extensions.iter().any(|e| e == ext))
            .map(|m| format!("`{}` ({})", m.command, m.name))
            .collect();
        let looked = if looked.is_empty() {
            format!("conch has no preset for `.{ext}` files")
        } else {
            format!("looked on PATH for {}", looked.join(", "))
        };
        format!(
            "no language server for {}: {looked}; install one, or configure it in conch.toml, e.g.\n\
             [lsp.NAME]\ncommand = \"my-language-server\"\nargs = [\"--stdio\"]\nextensions = [\"{ext}\"]",
            path.display()
        )
    }
}

/// Whether `name` can be a server name: letters, digits, `-` and `_`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The `[lsp]` table of a file as a layer, checked.
pub(super) fn to_layer(
    table: LspTable,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<LspLayer, ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid {
        file: path.to_path_buf(),
        at: String::new(),
        key,
        message,
    };
    if let Some(ms) = table.diagnostics_wait_ms
        && ms > MAX_DIAGNOSTICS_WAIT_MS
    {
        return Err(invalid(
            "lsp.diagnostics_wait_ms".into(),
            format!("is at most {MAX_DIAGNOSTICS_WAIT_MS} (a minute)"),
        ));
    }
    let mut servers = BTreeMap::new();
    for (name, table) in table.servers {
        if !valid_name(&name) {
            return Err(invalid(
                format!("lsp.{name}"),
                "a server name is letters, digits, `-` or `_`, e.g. `rust-analyzer`".into(),
            ));
        }
        let key = |field: &str| format!("lsp.{name}.{field}");
        let expand =
            |value: String, field: &str| placeholder::expand(&value, env, path, &key(field));
        let preset = PRESETS.iter().any(|p| p.name == name);
        if !preset && table.command.is_none() && table.enabled != Some(false) {
            return Err(invalid(
                key("command"),
                "a server needs the program to start, e.g. `command = \"my-language-server\"` \
                 (only a preset's table may leave it out)"
                    .into(),
            ));
        }
        if !preset && table.command.is_some() && table.extensions.is_none() {
            return Err(invalid(
                key("extensions"),
                "say which files it serves, e.g. `extensions = [\"rs\"]`".into(),
            ));
        }
        for ext in table.extensions.iter().flatten() {
            if ext.is_empty() || ext.starts_with('.') || ext.contains('/') {
                return Err(invalid(
                    key("extensions"),
                    format!("`{ext}` is not an extension: write it without the dot, e.g. \"rs\""),
                ));
            }
        }
        for marker in table.root_markers.iter().flatten() {
            if marker.is_empty() || marker.contains('/') {
                return Err(invalid(
                    key("root_markers"),
                    format!("`{marker}` is not a file name (e.g. \"Cargo.toml\")"),
                ));
            }
        }
        let init_options = match table.init_options {
            Some(value) => Some(
                serde_json::to_value(value)
                    .map_err(|e| invalid(key("init_options"), e.to_string()))?,
            ),
            None => None,
        };
        let layer = LspServerLayer {
            file: path.to_path_buf(),
            command: table.command.map(|v| expand(v, "command")),
            args: table
                .args
                .map(|args| args.into_iter().map(|v| expand(v, "args")).collect()),
            extensions: table.extensions,
            root_markers: table.root_markers,
            env: table
                .env
                .into_iter()
                .map(|(var, v)| {
                    let value = expand(v, &format!("env.{var}"));
                    (var, value)
                })
                .collect(),
            init_options,
            enabled: table.enabled,
        };
        servers.insert(name, layer);
    }
    Ok(LspLayer {
        diagnostics_wait_ms: table.diagnostics_wait_ms,
        after_edit: table.after_edit,
        servers,
    })
}

/// The servers of a run: the configured ones (in name order), then the presets not
/// configured; each enabled one kept if `search_path` (a `PATH` value) has its program.
pub(super) fn resolve(layer: &LspLayer, search_path: &str) -> Result<LspSettings, ConfigError> {
    let mut candidates: Vec<(String, Option<&LspServerLayer>, Option<&LspPreset>)> = Vec::new();
    for (name, server) in &layer.servers {
        let preset = PRESETS.iter().find(|p| p.name == name);
        if preset.is_none() {
            candidates.push((name.clone(), Some(server), None));
        }
    }
    for preset in PRESETS {
        candidates.push((
            preset.name.to_string(),
            layer.servers.get(preset.name),
            Some(preset),
        ));
    }
    let mut servers = Vec::new();
    let mut missing = Vec::new();
    for (name, table, preset) in candidates {
        if table.and_then(|t| t.enabled) == Some(false) {
            continue;
        }
        let command = match (table.and_then(|t| t.command.as_ref()), preset) {
            (Some(command), _) => command.clone()?,
            (None, Some(preset)) => preset.command.to_string(),
            (None, None) => continue,
        };
        let args = match (table.and_then(|t| t.args.as_ref()), preset) {
            (Some(args), _) => args.iter().cloned().collect::<Result<_, _>>()?,
            (None, Some(preset)) => preset.args.iter().map(|a| a.to_string()).collect(),
            (None, None) => Vec::new(),
        };
        let listed = |set: Option<&Vec<String>>, built_in: Option<&[&str]>| match set {
            Some(values) => values.clone(),
            None => built_in
                .unwrap_or_default()
                .iter()
                .map(|v| v.to_string())
                .collect(),
        };
        let extensions = listed(
            table.and_then(|t| t.extensions.as_ref()),
            preset.map(|p| p.extensions),
        );
        let root_markers = listed(
            table.and_then(|t| t.root_markers.as_ref()),
            preset.map(|p| p.root_markers),
        );
        let init_options = match (table.and_then(|t| t.init_options.clone()), preset) {
            (Some(options), _) => Some(options),
            (None, Some(preset)) => serde_json::from_str::<serde_json::Value>(preset.init_options)
                .ok()
                .filter(|v| !v.is_null()),
            (None, None) => None,
        };
        let env = match table {
            Some(t) => t
                .env
                .iter()
                .map(|(var, value)| Ok((var.clone(), Secret::new(value.clone()?))))
                .collect::<Result<_, ConfigError>>()?,
            None => BTreeMap::new(),
        };
        match find_program(&command, search_path) {
            Some(program) => servers.push(LspServerConfig {
                name,
                file: table.map(|t| t.file.clone()),
                command,
                program,
                args,
                extensions,
                root_markers,
                env,
                init_options,
            }),
            None => missing.push(MissingServer {
                name,
                command,
                extensions,
            }),
        }
    }
    Ok(LspSettings {
        servers,
        missing,
        diagnostics_wait: Duration::from_millis(
            layer
                .diagnostics_wait_ms
                .unwrap_or(DEFAULT_DIAGNOSTICS_WAIT_MS),
        ),
        after_edit: layer.after_edit.unwrap_or_default(),
    })
}

/// `command` as an executable file: itself when it is a path, else the first match in
/// the directories of `search_path`.
pub fn find_program(command: &str, search_path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.is_empty() {
        return None;
    }
    if command.contains('/') {
        let path = PathBuf::from(command);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(command))
        .find(|path| executable(path))
        .filter(|path| !is_empty_rustup_proxy(path, command, &rustup_home()))
}

/// Where rustup keeps its toolchains' parent: `RUSTUP_HOME`, else `~/.rustup`.
fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".rustup")))
}

/// Whether `path` is rustup's proxy for `command` with no toolchain holding the real
/// program: rustup puts a `rust-analyzer` proxy on PATH whether or not the component is
/// installed, and that proxy only prints an error.
fn is_empty_rustup_proxy(path: &Path, command: &str, rustup_home: &Option<PathBuf>) -> bool {
    let is_proxy = std::fs::canonicalize(path)
        .is_ok_and(|real| real.file_name().is_some_and(|name| name == "rustup"));
    if !is_proxy || command == "rustup" {
        return false;
    }
    let Some(toolchains) = rustup_home.as_ref().map(|home| home.join("toolchains")) else {
        return false;
    };
    let installed = std::fs::read_dir(toolchains).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|toolchain| toolchain.path().join("bin").join(command).is_file())
    });
    !installed
}

/// The `[lsp]` settings as they apply, for `conch config show`: `env` values masked.
pub(super) fn render(layer: &LspLayer) -> String {
    let mut out = String::new();
    if layer.diagnostics_wait_ms.is_none() && layer.after_edit.is_none() && layer.servers.is_empty()
    {
        return out;
    }
    let _ = writeln!(out, "\n[lsp]");
    if let Some(ms) = layer.diagnostics_wait_ms {
        let _ = writeln!(out, "diagnostics_wait_ms = {ms}");
    }
    match layer.after_edit {
        Some(AfterEdit::Errors) => {
            let _ = writeln!(out, "after_edit = \"errors\"");
        }
        Some(AfterEdit::Off) => {
            let _ = writeln!(out, "after_edit = \"off\"");
        }
        None => {}
    }
    let shown = |text: &Text| match text {
        Ok(value) => value.clone(),
        Err(e) => format!("(error: {e})"),
    };
    for (name, server) in &layer.servers {
        let _ = writeln!(out, "\n[lsp.{name}]");
        let _ = writeln!(out, "# from: {}", server.file.display());
        if let Some(command) = &server.command {
            let _ = writeln!(out, "command = {:?}", shown(command));
        }
        if let Some(args) = &server.args {
            let args: Vec<String> = args.iter().map(shown).collect();
            let _ = writeln!(out, "args = {args:?}");
        }
        if let Some(extensions) = &server.extensions {
            let _ = writeln!(out, "extensions = {extensions:?}");
        }
        if let Some(markers) = &server.root_markers {
            let _ = writeln!(out, "root_markers = {markers:?}");
        }
        for (var, value) in &server.env {
            let masked = match value {
                Ok(value) => Secret::new(value.as_str()).masked(),
                Err(_) => "(unset variable)".into(),
            };
            let _ = writeln!(out, "env.{var} = {masked:?}");
        }
        if let Some(options) = &server.init_options {
            let _ = writeln!(out, "# init_options: {options}");
        }
        if let Some(enabled) = server.enabled {
            let _ = writeln!(out, "enabled = {enabled}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<super::super::file::Layer, String> {
        super::super::file::parse(text, Path::new("/proj/conch.toml"), &HashMap::new())
            .map_err(|e| e.to_string())
    }

    /// A directory holding executables named `names`, as a `PATH` value.
    fn path_with(names: &[&str]) -> (tempfile::TempDir, String) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let file = dir.path().join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().display().to_string();
        (dir, path)
    }

    #[test]
    fn a_rustup_proxy_counts_only_when_a_toolchain_has_the_program() {
        let (dir, _) = path_with(&["rustup"]);
        let proxy = dir.path().join("rust-analyzer");
        std::os::unix::fs::symlink("rustup", &proxy).unwrap();
        let home = tempfile::tempdir().unwrap();
        let bin = home
            .path()
            .join("toolchains/stable-x86_64-unknown-linux-gnu/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let rustup_home = Some(home.path().to_path_buf());
        assert!(is_empty_rustup_proxy(&proxy, "rust-analyzer", &rustup_home));
        std::fs::write(bin.join("rust-analyzer"), "").unwrap();
        assert!(!is_empty_rustup_proxy(
            &proxy,
            "rust-analyzer",
            &rustup_home
        ));
        let (plain, _) = path_with(&["rust-analyzer"]);
        let real = plain.path().join("rust-analyzer");
        assert!(!is_empty_rustup_proxy(&real, "rust-analyzer", &None));
    }

    #[test]
    fn a_preset_is_used_only_when_its_program_is_on_path() {
        let (_dir, path) = path_with(&["gopls"]);
        let settings = resolve(&LspLayer::default(), &path).unwrap();
        let names: Vec<&str> = settings.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gopls"]);
        assert_eq!(settings.servers_for(Path::new("/w/main.go")).len(), 1);
        assert!(settings.servers_for(Path::new("/w/main.rs")).is_empty());
        let why = settings.none_for(Path::new("/w/main.rs"));
        assert!(why.contains("`rust-analyzer`"), "{why}");
        assert!(why.contains("[lsp.NAME]"), "{why}");
        assert_eq!(settings.after_edit, AfterEdit::Errors);
        assert_eq!(
            settings.diagnostics_wait,
            Duration::from_millis(DEFAULT_DIAGNOSTICS_WAIT_MS)
        );
    }

    #[test]
    fn the_rust_analyzer_preset_turns_check_on_save_off_unless_the_user_turns_it_on() {
        let (_dir, path) = path_with(&["rust-analyzer"]);
        let settings = resolve(&LspLayer::default(), &path).unwrap();
        let options = settings.servers[0].init_options.clone().unwrap();
        assert_eq!(options["checkOnSave"], false);
        let layer = parse("[lsp.rust-analyzer]\ninit_options = { checkOnSave = true }\n").unwrap();
        let settings = resolve(&layer.lsp, &path).unwrap();
        let server = &settings.servers[0];
        assert_eq!(server.init_options.clone().unwrap()["checkOnSave"], true);
        assert_eq!(server.command, "rust-analyzer");
        assert_eq!(server.extensions, ["rs"]);
    }

    #[test]
    fn a_configured_server_comes_first_with_its_settings() {
        let (_dir, path) = path_with(&["pyright-langserver", "my-ls"]);
        let text = "[lsp]\ndiagnostics_wait_ms = 500\nafter_edit = \"off\"\n\
                    [lsp.mine]\ncommand = \"my-ls\"\nargs = [\"--stdio\"]\nextensions = [\"py\"]\n\
                    root_markers = [\"setup.py\"]\nenv = { LEVEL = \"3\" }\n";
        let layer = parse(text).unwrap();
        let settings = resolve(&layer.lsp, &path).unwrap();
        let server = settings.servers_for(Path::new("/w/a.py"))[0];
        assert_eq!(server.name, "mine");
        assert_eq!(server.args, ["--stdio"]);
        assert_eq!(server.root_markers, ["setup.py"]);
        assert_eq!(server.env["LEVEL"].expose(), "3");
        assert_eq!(settings.after_edit, AfterEdit::Off);
        assert_eq!(settings.diagnostics_wait, Duration::from_millis(500));
        assert_eq!(settings.servers.len(), 2);
    }

    #[test]
    fn every_server_of_a_file_type_is_kept_configured_first_then_presets_in_order() {
        let (_dir, path) = path_with(&["ruff", "jedi-language-server", "pyright-langserver"]);
        let layer = parse("[lsp.mine]\ncommand = \"ruff\"\nextensions = [\"py\"]\n").unwrap();
        let settings = resolve(&layer.lsp, &path).unwrap();
        let names: Vec<&str> = settings
            .servers_for(Path::new("/w/a.py"))
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["mine", "pyright", "jedi-language-server", "ruff"]);
        assert!(settings.servers_for(Path::new("/w/a.rs")).is_empty());
    }

    #[test]
    fn a_disabled_preset_is_not_used() {
        let (_dir, path) = path_with(&["gopls"]);
        let layer = parse("[lsp.gopls]\nenabled = false\n").unwrap();
        assert!(resolve(&layer.lsp, &path).unwrap().servers.is_empty());
    }

    #[test]
    fn bad_server_tables_are_named() {
        let err = parse("[lsp.mine]\nargs = []\n").unwrap_err();
        assert!(err.contains("lsp.mine.command"), "{err}");
        let err = parse("[lsp.mine]\ncommand = \"x\"\n").unwrap_err();
        assert!(err.contains("lsp.mine.extensions"), "{err}");
        let err = parse("[lsp.mine]\ncommand = \"x\"\nextensions = [\".rs\"]\n").unwrap_err();
        assert!(err.contains("without the dot"), "{err}");
        let err =
            parse("[lsp.mine]\ncommand = \"x\"\nextensions = [\"rs\"]\nurl = \"u\"\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
        let err = parse("[lsp]\nafter_edit = \"warnings\"\n").unwrap_err();
        assert!(
            err.contains("after_edit") || err.contains("warnings"),
            "{err}"
        );
        let err = parse("[lsp]\ndiagnostics_wait_ms = 600000\n").unwrap_err();
        assert!(err.contains("lsp.diagnostics_wait_ms"), "{err}");
    }

    #[test]
    fn an_untrusted_project_keeps_its_settings_but_never_its_servers() {
        let project = parse(
            "[lsp]\nafter_edit = \"off\"\n[lsp.evil]\ncommand = \"./run-me\"\nextensions = [\"rs\"]\n",
        )
        .unwrap();
        let (kept, ignored) = project.untrusted(&super::super::file::Layer::default());
        assert!(kept.lsp.servers.is_empty());
        assert_eq!(kept.lsp.after_edit, Some(AfterEdit::Off));
        assert!(
            ignored.iter().any(|line| line.contains("lsp.evil")),
            "{ignored:?}"
        );
    }

    #[test]
    fn a_program_is_found_by_path_or_on_path_and_must_be_executable() {
        let (dir, path) = path_with(&["tool"]);
        assert_eq!(find_program("tool", &path), Some(dir.path().join("tool")));
        assert_eq!(find_program("absent", &path), None);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find_program(&plain.display().to_string(), ""), None);
        assert_eq!(find_program("plain", &path), None);
    }
}
