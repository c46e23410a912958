//! Reading what a plugin is — its manifest and the interfaces it imports — straight from
//! the component's bytes, without compiling or running any of it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use wasmparser::{Chunk, Encoding, Parser, Payload};

use super::package::MANIFEST_SECTION;
pub use crate::host_api::Capability;
use crate::host_api::{BASE_INTERFACES, CallContext};
use crate::permission::{PermissionKey, Request, workspace_path};

/// The WIT package every plugin is built against.
pub const WIT_PACKAGE: &str = "conch:tool";

/// What a plugin declares about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name, e.g. `fs`.
    pub name: String,
    /// Its version (semver).
    pub version: String,
    /// One line on what it offers.
    #[serde(default)]
    pub description: String,
    /// What it asks of the host; the host grants no more.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// With `process`: the only commands it runs (patterns, `*` any text); absent, the
    /// user decides on every command (see `reach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// With `http`: the only hosts it fetches from (`api.example.com`, `*.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// The tools it provides.
    pub tools: Vec<ToolSpec>,
}

/// One tool as the model and the permission gate see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The permission key the gate decides on: `read`, `edit`, `bash`, `webfetch`, …
    pub permission: PermissionKey,
    /// The input field that says what the call touches (a path, a pattern, a command);
    /// shown in the UI and matched by permission rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_arg: Option<String>,
    /// The input field that keys a call whose input leaves `key_arg` out (`lsp`'s
    /// `workspace_symbols` names a query, not a file); only for the gate and the UI: a
    /// capability is bound to `key_arg` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_arg_fallback: Option<String>,
    /// JSON Schema of the input (an object).
    pub input_schema: serde_json::Value,
    /// For tools that change files: the agent refuses a change to an existing file the
    /// session has not read, or that changed on disk since. `false` for tools that carry
    /// their own check (a patch's context lines).
    #[serde(default = "stale_check_default", skip_serializing_if = "Clone::clone")]
    pub stale_check: bool,
    /// A second permission the call is also decided under, on the same key argument: a
    /// tool whose plugin can both run commands and fetch is asked as `bash` and as
    /// `webfetch` (set by the host from the capabilities, never read from a manifest).
    #[serde(skip)]
    pub also_decided_as: Option<PermissionKey>,
    /// The key argument as a fixed value rather than an input field: an MCP tool's
    /// `SERVER/TOOL` (set by the host, never read from a manifest).
    #[serde(skip)]
    pub fixed_key: Option<String>,
}

impl ToolSpec {
    /// The value of the key argument in `input`, as the gate and the UI see it: a string
    /// as it is, any other JSON value as JSON text. The one place that reads it.
    pub fn key_value(&self, input: &serde_json::Value) -> Option<String> {
        if let Some(key) = &self.fixed_key {
            return Some(key.clone());
        }
        let (_, value) = self.key_field(input)?;
        Some(match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }

    /// The field that keys a call with `input`, and its value: `key_arg`, or
    /// `key_arg_fallback` when the input leaves `key_arg` out.
    fn key_field<'a>(
        &'a self,
        input: &'a serde_json::Value,
    ) -> Option<(&'a str, &'a serde_json::Value)> {
        [&self.key_arg, &self.key_arg_fallback]
            .into_iter()
            .flatten()
            .find_map(|field| Some((field.as_str(), input.get(field)?)))
    }

    /// The gate's request for calling this tool with `input` in `ctx`: the key argument is the
    /// input field the manifest names (a string as is, any other JSON value as JSON text).
    ///
    /// A key argument named `path` is a file path, and rules see it as the sandbox will:
    /// relative to the workspace root with `.` and `..` resolved, so `./secret/x`,
    /// `src/../secret/x` and the absolute path all match `secret/*`. A path leading out
    /// of the workspace stays absolute.
    pub fn request(&self, input: &serde_json::Value, ctx: &CallContext) -> Request {
        let mut key = self.key_value(input);
        let field = self.key_field(input).map(|(field, _)| field);
        if let (Some("path"), Some(path), Some(root)) = (field, &key, ctx.roots.first()) {
            key = Some(workspace_path(path, &ctx.cwd, root));
        }
        Request {
            tool: self.name.clone(),
            permission: self.permission.clone(),
            key,
        }
    }

    /// Every request a call of this tool must pass: [`ToolSpec::request`], and the same call under
    /// the second permission its plugin's reach calls for, if any.
    pub fn requests(&self, input: &serde_json::Value, ctx: &CallContext) -> Vec<Request> {
        let first = self.request(input, ctx);
        let also = self.also_decided_as.as_ref().map(|permission| Request {
            permission: permission.clone(),
            ..first.clone()
        });
        std::iter::once(first).chain(also).collect()
    }

    /// The key argument a call may use as a command or URL: only a string is approved
    /// (a `process` or `http` import compares the command or URL with it byte for byte).
    pub fn approved_value(&self, input: &serde_json::Value) -> Option<String> {
        input
            .get(self.key_arg.as_deref()?)?
            .as_str()
            .map(str::to_string)
    }
}

fn stale_check_default() -> bool {
    true
}

/// Why a file is not a usable plugin.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a WebAssembly component ({0}); build it for wasm32-wasip2")]
    NotAComponent(String),
    #[error("it is a core wasm module, not a component; build it for wasm32-wasip2")]
    CoreModule,
    #[error("it has no `{MANIFEST_SECTION}` section; package it with `conch plugin build`")]
    Missing,
    #[error("its manifest is not valid: {0}")]
    Invalid(String),
    #[error(
        "it imports `{import}`, which needs the `{capability}` capability that its manifest does not declare"
    )]
    Undeclared {
        import: String,
        capability: &'static str,
    },
    #[error("it imports `{0}`, which conch does not provide")]
    UnknownImport(String),
}

/// A plugin's manifest and the component-level imports it declares.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub manifest: Manifest,
    /// Import names, e.g. `conch:tool/log@0.1.0`, `wasi:filesystem/types@0.2.6`.
    pub imports: Vec<String>,
}

impl PluginInfo {
    /// Reads the manifest and imports from a component's bytes (top level only; nested
    /// modules are skipped, never parsed) and checks that they agree.
    pub fn read(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut manifest = None;
        let mut imports = Vec::new();
        walk_top_level(bytes, |payload, _| {
            match payload {
                Payload::ComponentImportSection(reader) => {
                    for import in reader {
                        let import =
                            import.map_err(|e| ManifestError::NotAComponent(e.to_string()))?;
                        imports.push(import.name.name.to_string());
                    }
                }
                Payload::CustomSection(section) if section.name() == MANIFEST_SECTION => {
                    manifest = Some(section.data());
                }
                _ => {}
            }
            Ok(())
        })?;
        Self::from_parts(manifest.ok_or(ManifestError::Missing)?, imports)
    }

    /// The info of a component whose manifest section holds `manifest_json` and whose
    /// imports are `imports` (a built-in's, which build.rs read), checked as `read` does.
    pub fn from_parts(manifest_json: &[u8], imports: Vec<String>) -> Result<Self, ManifestError> {
        let mut manifest: Manifest = serde_json::from_slice(manifest_json)
            .map_err(|e| ManifestError::Invalid(e.to_string()))?;
        manifest.validate()?;
        manifest.decide_by_capability();
        let info = PluginInfo { manifest, imports };
        info.check_imports()?;
        Ok(info)
    }

    /// The `conch:tool` interfaces this component imports (e.g. `log`, `process`).
    pub fn conch_imports(&self) -> impl Iterator<Item = &str> {
        self.imports.iter().filter_map(|name| {
            let rest = name.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
            Some(rest.split('@').next().unwrap_or(rest))
        })
    }

    /// Every import must be WASI (which the host confines per call) or a `conch:tool`
    /// interface whose capability the manifest declares.
    fn check_imports(&self) -> Result<(), ManifestError> {
        let declared: HashSet<Capability> = self.manifest.capabilities.iter().copied().collect();
        for import in &self.imports {
            if import.starts_with("wasi:") {
                continue;
            }
            let Some(interface) = import
                .strip_prefix(WIT_PACKAGE)
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|r| r.split('@').next())
            else {
                return Err(ManifestError::UnknownImport(import.clone()));
            };
            if BASE_INTERFACES.contains(&interface) {
                continue;
            }
            let needed = Capability::of_interface(interface)
                .ok_or_else(|| ManifestError::UnknownImport(import.clone()))?;
            if !declared.contains(&needed) {
                return Err(ManifestError::Undeclared {
                    import: import.clone(),
                    capability: needed.as_str(),
                });
            }
        }
        Ok(())
    }
}

/// `bytes` without its manifest section(s), so that packaging a component again leaves
/// one manifest in it, not a trail of old ones.
pub fn strip_manifest(bytes: &[u8]) -> Result<Vec<u8>, ManifestError> {
    let mut manifests = Vec::new();
    walk_top_level(bytes, |payload, range| {
        if let Payload::CustomSection(section) = payload
            && section.name() == MANIFEST_SECTION
        {
            manifests.push(range);
        }
        Ok(())
    })?;
    let mut kept = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for range in manifests {
        kept.extend_from_slice(&bytes[from..range.start]);
        from = range.end;
    }
    kept.extend_from_slice(&bytes[from..]);
    Ok(kept)
}

/// Calls `visit` with each top-level payload of a component and where it lies in `bytes`;
/// nested modules and components are skipped, never parsed.
fn walk_top_level<'a>(
    bytes: &'a [u8],
    mut visit: impl FnMut(Payload<'a>, std::ops::Range<usize>) -> Result<(), ManifestError>,
) -> Result<(), ManifestError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ManifestError::NotAComponent(
            "not WebAssembly at all".into(),
        ));
    }
    let truncated = || ManifestError::NotAComponent("truncated".into());
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        let start = bytes.len() - rest.len();
        let (payload, consumed) = match parser.parse(rest, true) {
            Ok(Chunk::Parsed { consumed, payload }) => (payload, consumed),
            Ok(Chunk::NeedMoreData(_)) => return Err(truncated()),
            Err(e) => return Err(ManifestError::NotAComponent(e.message().to_string())),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::Version { encoding, .. } if encoding != Encoding::Component => {
                return Err(ManifestError::CoreModule);
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                rest = bytes.get(unchecked_range.end..).ok_or_else(truncated)?;
            }
            Payload::End(_) => return Ok(()),
            payload => visit(payload, start..start + consumed)?,
        }
    }
}

impl Manifest {
    /// A tool is decided by what its plugin can reach, not by the label in its manifest:
    /// one whose plugin can run commands is decided as `bash` on its key argument (the
    /// only command the `process` import will run for that call), one whose plugin can
    /// fetch as `webfetch`. A plugin with both has each call decided under both.
    fn decide_by_capability(&mut self) {
        let process = self.capabilities.contains(&Capability::Process);
        let http = self.capabilities.contains(&Capability::Http);
        let key = match (process, http) {
            (true, _) => PermissionKey::BASH,
            (false, true) => PermissionKey::WEBFETCH,
            (false, false) => return,
        };
        for tool in &mut self.tools {
            if process && http {
                tool.also_decided_as = Some(PermissionKey::WEBFETCH);
            }
            if tool.permission != key {
                tracing::debug!(
                    plugin = %self.name,
                    tool = %tool.name,
                    label = %tool.permission,
                    "decided as `{key}`: its plugin can reach that far"
                );
                tool.permission = key.clone();
            }
        }
    }

    /// Checks names and schemas: what the model and the providers' APIs will rely on.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |m: String| Err(ManifestError::Invalid(m));
        if !is_name(&self.name) {
            return invalid(format!(
                "plugin name {:?} must be 1-64 letters, digits, '_' or '-'",
                self.name
            ));
        }
        // The `mcp` plugin's tools come from the MCP servers at run time.
        if self.tools.is_empty() && !self.capabilities.contains(&Capability::Mcp) {
            return invalid("it declares no tools".into());
        }
        let mut seen = HashSet::new();
        for tool in &self.tools {
            if !is_name(&tool.name) {
                return invalid(format!(
                    "tool name {:?} must be 1-64 letters, digits, '_' or '-'",
                    tool.name
                ));
            }
            if !seen.insert(tool.name.as_str()) {
                return invalid(format!("tool {} is declared twice", tool.name));
            }
            if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                return invalid(format!(
                    "tool {}: input_schema must be a JSON Schema with \"type\": \"object\"",
                    tool.name
                ));
            }
        }
        super::reach::validate(self).map_err(ManifestError::Invalid)
    }
}

/// Names the providers' function-calling APIs accept.
fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::builtin::builtin;
    use crate::plugin::package::embed_manifest;

    fn fs_component() -> &'static [u8] {
        builtin("fs")
            .and_then(|fs| fs.wasm().ok())
            .unwrap_or_default()
    }

    #[test]
    fn builtin_fs_manifest_is_read_without_compiling() {
        let info = PluginInfo::read(fs_component()).expect("fs manifest");
        assert_eq!(info.manifest.name, "fs");
        let tools: Vec<_> = info
            .manifest
            .tools
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(tools, ["read", "listdir", "glob", "grep"]);
        assert!(
            info.conch_imports()
                .all(|i| matches!(i, "log" | "types" | "output" | "files")),
            "{:?}",
            info.imports
        );
        assert!(
            info.imports.iter().any(|i| i == "conch:tool/output@0.1.2"),
            "{:?}",
            info.imports
        );
        // Its walks and grep read through `files` (fs:read).
        assert!(info.conch_imports().any(|i| i == "files"));
    }

    #[test]
    fn packaging_again_replaces_the_manifest_instead_of_adding_one() {
        let component = fs_component();
        let stripped = strip_manifest(component).expect("strip");
        assert!(matches!(
            PluginInfo::read(&stripped),
            Err(ManifestError::Missing)
        ));
        let mut other = PluginInfo::read(component).expect("fs").manifest;
        other.name = "renamed".into();
        let json = serde_json::to_vec(&other).expect("json");
        let once = embed_manifest(&strip_manifest(component).expect("strip"), &json);
        let twice = embed_manifest(&strip_manifest(&once).expect("strip"), &json);
        assert_eq!(once, twice);
        assert_eq!(
            PluginInfo::read(&twice).expect("read").manifest.name,
            "renamed"
        );
    }

    #[test]
    fn a_core_module_is_refused() {
        let module = b"\0asm\x01\0\0\0";
        assert!(matches!(
            PluginInfo::read(module),
            Err(ManifestError::CoreModule)
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            PluginInfo::read(b"not wasm at all"),
            Err(ManifestError::NotAComponent(_))
        ));
    }

    #[test]
    fn an_undeclared_capability_is_refused() {
        let mut info = PluginInfo::read(fs_component()).expect("fs manifest");
        info.imports.push("conch:tool/process@0.1.0".into());
        assert!(matches!(
            info.check_imports(),
            Err(ManifestError::Undeclared {
                capability: "process",
                ..
            })
        ));
    }

    #[test]
    fn a_bad_manifest_names_the_problem() {
        let component = fs_component();
        let bad = br#"{"name":"x","version":"1","tools":[{"name":"has space","description":"","permission":"read","input_schema":{"type":"object"}}]}"#;
        // A second manifest section later in the file wins; the bad one must be refused.
        let err = PluginInfo::read(&embed_manifest(component, bad)).err();
        assert!(
            matches!(&err, Some(ManifestError::Invalid(m)) if m.contains("has space")),
            "{err:?}"
        );
    }

    fn spec_with_key(key_arg: &str) -> ToolSpec {
        serde_json::from_value(serde_json::json!({
            "name": "t", "description": "", "permission": "read", "key_arg": key_arg,
            "input_schema": {"type": "object"}
        }))
        .unwrap()
    }

    fn ctx(cwd: &str) -> CallContext {
        CallContext {
            cwd: cwd.into(),
            roots: vec!["/ws".into()],
            ..CallContext::default()
        }
    }

    fn key(key_arg: &str, input: serde_json::Value, cwd: &str) -> Option<String> {
        spec_with_key(key_arg).request(&input, &ctx(cwd)).key
    }

    #[test]
    fn the_key_argument_comes_from_the_field_the_manifest_names() {
        let input = serde_json::json!({"pattern": "src/*.rs", "path": "x", "limit": 3});
        assert_eq!(key("pattern", input, "/ws").as_deref(), Some("src/*.rs"));
        assert_eq!(key("pattern", serde_json::json!({}), "/ws"), None);
        let number = serde_json::json!({"pattern": 7});
        assert_eq!(key("pattern", number, "/ws").as_deref(), Some("7"));
    }

    #[test]
    fn a_call_without_the_key_argument_is_keyed_on_the_fallback_field_as_it_is() {
        let spec: ToolSpec = serde_json::from_value(serde_json::json!({
            "name": "t", "description": "", "permission": "lsp", "key_arg": "path",
            "key_arg_fallback": "query", "input_schema": {"type": "object"}
        }))
        .unwrap();
        let key = |input| spec.request(&input, &ctx("/ws/src")).key;
        let both = serde_json::json!({"path": "./a.rs", "query": "Secret"});
        assert_eq!(key(both).as_deref(), Some("src/a.rs"));
        // A query is not a path: no workspace-relative rewriting of `../`.
        let query = serde_json::json!({"query": "../Secret"});
        assert_eq!(key(query).as_deref(), Some("../Secret"));
        assert_eq!(key(serde_json::json!({})), None);
        // The capability is bound to the key argument only, never to the fallback.
        let query = serde_json::json!({"query": "Secret"});
        assert_eq!(spec.approved_value(&query), None);
    }

    #[test]
    fn a_path_key_is_seen_relative_to_the_workspace_root_with_dots_resolved() {
        let path = |p: &str, cwd: &str| key("path", serde_json::json!({"path": p}), cwd);
        assert_eq!(path("secret/x", "/ws").as_deref(), Some("secret/x"));
        assert_eq!(path("./secret/x", "/ws").as_deref(), Some("secret/x"));
        assert_eq!(path("src/../secret/x", "/ws").as_deref(), Some("secret/x"));
        assert_eq!(path("/ws/secret/x", "/ws").as_deref(), Some("secret/x"));
        assert_eq!(path("x", "/ws/secret").as_deref(), Some("secret/x"));
        assert_eq!(
            path("../../etc/passwd", "/ws/a").as_deref(),
            Some("/etc/passwd")
        );
        assert_eq!(path(".", "/ws").as_deref(), Some(""));
    }
}
