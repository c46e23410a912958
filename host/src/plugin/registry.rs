//! The plugins of one conch process: the built-ins and any given files, their tools by
//! name, and each one's compiled form, made on first need: a built-in at its first call,
//! a plugin that has to be compiled in the background from the start of a run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wasmtime::Engine;
use wasmtime::component::Linker;

use super::builtin::{self, BUILTINS, Builtin};
use super::cache::CompileCache;
use super::call::{self, Invocation};
use super::engine::{CallSlots, MAX_CONCURRENT_CALLS, new_engine};
use super::manifest::{ManifestError, PluginInfo, ToolSpec};
use crate::host_api::bindings::PluginPre;
use crate::host_api::{self, CallContext, CallLimits, CallState, ToolError, ToolOutput};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Carried inside the binary.
    Builtin,
    /// Loaded from this file, named on the command line (`--plugin`).
    File(PathBuf),
    /// Installed (found in a plugin directory): trusted per project (see `trust`).
    Installed(PathBuf),
}

/// One plugin: what its manifest says, and its compiled form once someone needs it.
pub struct Plugin {
    pub info: PluginInfo,
    pub origin: Origin,
    component: ComponentSource,
    prepared: OnceLock<Result<PluginPre<CallState>, String>>,
    /// SHA-256 of the component, in hex, once someone needs it.
    digest: OnceLock<String>,
    /// The built-in tools it replaces (the config allows it by name).
    pub replaces: Vec<String>,
}

impl Plugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info.manifest.name
    }

    /// The component, as it was read and validated (a built-in's decompressed the first
    /// time; the error says why it cannot be).
    pub fn bytes(&self) -> Result<&[u8], String> {
        match &self.component {
            ComponentSource::Read(bytes) => Ok(bytes),
            ComponentSource::Builtin(builtin) => builtin.wasm(),
        }
    }

    /// The SHA-256 of the component, in hex (computed once).
    pub fn digest(&self) -> Result<&str, String> {
        if let Some(digest) = self.digest.get() {
            return Ok(digest);
        }
        let bytes = self.bytes()?;
        Ok(self.digest.get_or_init(|| crate::trust::digest(bytes)))
    }
}

/// Where a plugin's component is.
enum ComponentSource {
    /// Read from its file.
    Read(Vec<u8>),
    /// In the binary (compressed: start reads only its manifest and imports).
    Builtin(&'static Builtin),
}

/// Why a plugin file was not added.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{path}: a plugin named `{name}` is already loaded")]
    NameTaken { path: PathBuf, name: String },
    #[error("{path}: tool `{tool}` is already provided by plugin `{owner}`")]
    Clash {
        path: PathBuf,
        tool: String,
        owner: String,
    },
    #[error(
        "{path}: tool `{tool}` is a built-in one; to let a plugin replace it, add \
         `replace_builtins = [\"{tool}\"]` under [plugins] in conch.toml"
    )]
    Builtin { path: PathBuf, tool: String },
}

/// The engine and linker every plugin shares; created on first need, never for listing.
struct Wasm {
    engine: Engine,
    linker: Linker<CallState>,
}

/// One version of the MCP tools of a run, served by the built-in `mcp` plugin. When the
/// servers' lists change, a newer version is chained after it; older ones stay (the
/// registry lends out references to their specs), so there are at most
/// [`MAX_MCP_VERSIONS`] in a run.
struct McpVersion {
    tools: Vec<crate::mcp::McpTool>,
    /// The catalog's version `tools` are known to be current for.
    seen: std::sync::atomic::AtomicU64,
    catalog: Arc<dyn crate::mcp::McpCatalog>,
    next: OnceLock<Box<McpVersion>>,
}

/// How many versions of the MCP tools one run makes; later changes are not followed.
const MAX_MCP_VERSIONS: usize = 64;

/// The name of the built-in plugin that serves MCP tools.
const MCP_PLUGIN: &str = "mcp";

/// The plugins and the runtime they share.
pub struct PluginRegistry {
    plugins: Vec<Arc<Plugin>>,
    /// MCP tools, set once the servers listed them (see `cli::chat`), and their newer
    /// versions.
    mcp: OnceLock<Box<McpVersion>>,
    /// The schema budget warning was given.
    warned_schema_size: std::sync::atomic::AtomicBool,
    wasm: Arc<OnceLock<Result<Wasm, String>>>,
    slots: Arc<CallSlots>,
    cache: CompileCache,
    /// Built-in tools not offered in this run (`lsp` without a language server).
    withheld: Vec<String>,
}

impl PluginRegistry {
    /// No plugins yet.
    pub fn empty(cache: CompileCache) -> Self {
        PluginRegistry {
            plugins: Vec::new(),
            mcp: OnceLock::new(),
            warned_schema_size: Default::default(),
            wasm: Arc::new(OnceLock::new()),
            slots: Arc::new(CallSlots::new(MAX_CONCURRENT_CALLS)),
            cache,
            withheld: Vec::new(),
        }
    }

    /// The built-in plugins, compiled through `cache` when first called.
    pub fn with_builtins(cache: CompileCache) -> Self {
        let plugins = BUILTINS
            .iter()
            .filter_map(|builtin| match builtin.info() {
                Ok(info) => Some(Arc::new(Plugin {
                    info,
                    origin: Origin::Builtin,
                    component: ComponentSource::Builtin(builtin),
                    prepared: OnceLock::new(),
                    digest: OnceLock::new(),
                    replaces: Vec::new(),
                })),
                Err(e) => {
                    tracing::error!(plugin = builtin.name, "built-in plugin is broken: {e}");
                    None
                }
            })
            .collect();
        PluginRegistry {
            plugins,
            ..PluginRegistry::empty(cache)
        }
    }

    /// Adds a plugin from a `.wasm` file named on the command line. Its tools may not
    /// reuse names already taken, except the built-in tools named in `replaceable`, which
    /// it then replaces.
    pub fn add_file(
        &mut self,
        path: &Path,
        replaceable: &[String],
    ) -> Result<Arc<Plugin>, RegistryError> {
        self.add(path, Origin::File(path.to_path_buf()), replaceable)
    }

    /// Adds an installed plugin (see [`PluginRegistry::add_file`]).
    pub fn add_installed(
        &mut self,
        path: &Path,
        replaceable: &[String],
    ) -> Result<Arc<Plugin>, RegistryError> {
        self.add(path, Origin::Installed(path.to_path_buf()), replaceable)
    }

    fn add(
        &mut self,
        path: &Path,
        origin: Origin,
        replaceable: &[String],
    ) -> Result<Arc<Plugin>, RegistryError> {
        let bytes = std::fs::read(path).map_err(|source| RegistryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let info = PluginInfo::read(&bytes).map_err(|source| RegistryError::Invalid {
            path: path.to_path_buf(),
            source,
        })?;
        if self.plugins.iter().any(|p| p.name() == info.manifest.name) {
            return Err(RegistryError::NameTaken {
                path: path.to_path_buf(),
                name: info.manifest.name,
            });
        }
        let mut replaces = Vec::new();
        for tool in &info.manifest.tools {
            let Some((owner, _)) = self.find(&tool.name) else {
                continue;
            };
            if owner.origin != Origin::Builtin {
                return Err(RegistryError::Clash {
                    path: path.to_path_buf(),
                    tool: tool.name.clone(),
                    owner: owner.name().to_string(),
                });
            }
            if !replaceable.contains(&tool.name) {
                return Err(RegistryError::Builtin {
                    path: path.to_path_buf(),
                    tool: tool.name.clone(),
                });
            }
            replaces.push(tool.name.clone());
        }
        let plugin = Arc::new(Plugin {
            info,
            origin,
            component: ComponentSource::Read(bytes),
            prepared: OnceLock::new(),
            digest: OnceLock::new(),
            replaces,
        });
        self.plugins.push(plugin.clone());
        Ok(plugin)
    }

    /// Every tool with the plugin that provides it, in plugin order, then the MCP tools
    /// (served by the `mcp` plugin); a built-in tool that a plugin replaces is not among
    /// them.
    pub fn tools(&self) -> impl Iterator<Item = (&Plugin, &ToolSpec)> {
        let mcp_plugin = self
            .plugins
            .iter()
            .find(|p| p.origin == Origin::Builtin && p.name() == MCP_PLUGIN);
        let mcp = mcp_plugin.into_iter().flat_map(move |plugin| {
            self.mcp_now()
                .into_iter()
                .flat_map(|version| version.tools.iter())
                .map(move |tool| (&**plugin, &tool.spec))
        });
        self.plugins
            .iter()
            .flat_map(|p| p.info.manifest.tools.iter().map(move |t| (&**p, t)))
            .filter(|(plugin, tool)| {
                plugin.origin != Origin::Builtin
                    || !(self.plugins.iter().any(|p| p.replaces.contains(&tool.name))
                        || self.withheld.contains(&tool.name))
            })
            .chain(mcp)
    }

    /// Leaves built-in tool `name` out of this run: not offered, not callable (the `lsp`
    /// tool when no language server was found).
    pub fn withhold_builtin(&mut self, name: &str) {
        self.withheld.push(name.to_string());
    }

    /// Offers the tools of `catalog` (once per run; [`PluginRegistry::refresh_mcp`]
    /// follows its changes): a tool whose name another tool has is left out, and named
    /// in the returned warnings.
    pub fn set_mcp(&self, catalog: Arc<dyn crate::mcp::McpCatalog>) -> Vec<String> {
        let (version, warnings) = self.mcp_version(catalog);
        if self.mcp.set(Box::new(version)).is_err() {
            return vec!["the MCP tools were already set".into()];
        }
        warnings
    }

    /// Takes in what changed in the MCP servers' tool lists since the last look (waiting
    /// for a re-list a server announced): `Some` with what to tell the user when the
    /// tools changed, `None` when they did not.
    pub fn refresh_mcp(&self) -> Option<Vec<String>> {
        let current = self.mcp_now()?;
        let mut news = current.catalog.settle();
        let seen = std::sync::atomic::Ordering::Relaxed;
        if current.catalog.version() == current.seen.load(seen) {
            return (!news.is_empty()).then_some(news);
        }
        let (version, warnings) = self.mcp_version(current.catalog.clone());
        let same = |a: &[crate::mcp::McpTool], b: &[crate::mcp::McpTool]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(a, b)| {
                    a.spec.name == b.spec.name
                        && a.spec.description == b.spec.description
                        && a.spec.input_schema == b.spec.input_schema
                })
        };
        news.extend(warnings);
        if same(&version.tools, &current.tools) {
            current.seen.store(version.seen.load(seen), seen);
            return (!news.is_empty()).then_some(news);
        }
        let mut count = 1;
        let mut last: &McpVersion = self.mcp.get()?;
        while let Some(next) = last.next.get() {
            last = next;
            count += 1;
        }
        if count >= MAX_MCP_VERSIONS {
            tracing::warn!(
                "the MCP tools changed too often in this run; later changes are not followed"
            );
            current.seen.store(version.seen.load(seen), seen);
            return None;
        }
        let _ = last.next.set(Box::new(version));
        Some(news)
    }

    /// The current version of the MCP tools, if there are any.
    fn mcp_now(&self) -> Option<&McpVersion> {
        let mut version: &McpVersion = self.mcp.get()?;
        while let Some(next) = version.next.get() {
            version = next;
        }
        Some(version)
    }

    /// The tools `catalog` offers now, less those whose names other tools have, with
    /// warnings for those and (once) for schemas over the budget.
    fn mcp_version(&self, catalog: Arc<dyn crate::mcp::McpCatalog>) -> (McpVersion, Vec<String>) {
        let seen = catalog.version();
        let (mut tools, mut warnings) = catalog.offered();
        tools.retain(|tool| {
            match self
                .plugins
                .iter()
                .flat_map(|p| p.info.manifest.tools.iter().map(move |t| (p, t)))
                .find(|(_, t)| t.name == tool.spec.name)
            {
                Some((owner, _)) => {
                    warnings.push(format!(
                        "MCP tool `{}` is left out: plugin `{}` has a tool of that name",
                        tool.spec.name,
                        owner.name()
                    ));
                    false
                }
                None => true,
            }
        });
        if let Some(warning) = crate::mcp::schema::over_budget(&tools)
            && !self
                .warned_schema_size
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            warnings.push(warning);
        }
        (
            McpVersion {
                tools,
                seen: seen.into(),
                catalog,
                next: OnceLock::new(),
            },
            warnings,
        )
    }

    /// The MCP tool called `name` (server, the server's name for it).
    pub fn mcp_tool(&self, name: &str) -> Option<&crate::mcp::McpTool> {
        self.mcp_now()?.tools.iter().find(|t| t.spec.name == name)
    }

    /// The plugin and spec of the tool called `name`.
    pub fn find(&self, name: &str) -> Option<(&Plugin, &ToolSpec)> {
        self.tools().find(|(_, tool)| tool.name == name)
    }

    /// The error for a call to a tool nobody provides: it lists the tools there are, so
    /// the model (or the user) can pick the right one.
    pub fn unknown_tool(&self, name: &str) -> ToolError {
        let names: Vec<&str> = self.tools().map(|(_, t)| t.name.as_str()).collect();
        ToolError::UnknownTool(format!(
            "there is no tool named `{name}`; available tools: {}",
            names.join(", ")
        ))
    }

    /// Gets the run ready for its first calls on a background thread, while the first
    /// request is on its way: starts the engine and linker every plugin shares, and
    /// compiles (or loads from the compile cache) each plugin with a tool to offer that
    /// is not built in, and the built-ins of [`FIRST_CALLED`]. Any other built-in is
    /// loaded at its first call: its code is in the binary, loading it takes about a
    /// millisecond, and a run then holds in memory only the built-ins it calls.
    pub fn warm_up(&self) {
        let offering = self
            .plugins
            .iter()
            .filter(|p| p.origin != Origin::Builtin || FIRST_CALLED.contains(&p.name()))
            .filter(|p| self.tools().any(|(owner, _)| owner.name() == p.name()))
            .cloned()
            .collect();
        self.warm_up_plugins(offering);
    }

    /// Starts the engine and linker now (they are otherwise started by the warm-up or
    /// the first call).
    pub fn start_engine(&self) -> Result<(), ToolError> {
        start_wasm(&self.wasm)
            .map(drop)
            .map_err(|reason| ToolError::Unavailable {
                plugin: "(all)".into(),
                reason: reason.clone(),
            })
    }

    /// [`PluginRegistry::warm_up`] for the plugin of tool `name` only (`conch tool`: one
    /// call, no need for the others).
    pub fn warm_up_tool(&self, name: &str) {
        if let Some((plugin, _)) = self.find(name) {
            let only = self
                .plugins
                .iter()
                .filter(|p| p.name() == plugin.name())
                .cloned()
                .collect();
            self.warm_up_plugins(only);
        }
    }

    fn warm_up_plugins(&self, plugins: Vec<Arc<Plugin>>) {
        let wasm = self.wasm.clone();
        let cache = self.cache.clone();
        let spawned = std::thread::Builder::new()
            .name("conch-warm-up".into())
            .spawn(move || {
                if start_wasm(&wasm).is_err() {
                    return;
                }
                for plugin in plugins {
                    let _ = prepare(&wasm, &cache, &plugin);
                }
            });
        if let Err(e) = spawned {
            tracing::debug!("no warm-up thread: {e}");
        }
    }

    /// Compiles (or loads from the cache) and links plugin `name` now rather than at its
    /// first call; the error says why it cannot run.
    pub fn prepare_now(&self, name: &str) -> Result<(), ToolError> {
        let plugin = self
            .plugins
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ToolError::Unavailable {
                plugin: name.to_string(),
                reason: "it is not loaded".into(),
            })?;
        prepare(&self.wasm, &self.cache, plugin).map(|_| ())
    }

    /// Calls tool `name` with `input_json`. Waits for the plugin's compilation if it has
    /// not finished, and for a free call slot.
    pub fn call(
        &self,
        name: &str,
        input_json: &str,
        ctx: &CallContext,
        limits: &CallLimits,
    ) -> Result<ToolOutput, ToolError> {
        let Some((plugin, spec)) = self.find(name) else {
            return Err(self.unknown_tool(name));
        };
        let approved = serde_json::from_str(input_json)
            .ok()
            .and_then(|input| spec.approved_value(&input));
        if spec.key_arg.as_deref() == Some("path")
            && let Some(path) = &approved
        {
            refuse_special_file(&ctx.cwd, path)?;
        }
        // An MCP tool reaches exactly its server and tool, nothing the plugin names.
        let mcp = match (self.mcp_now(), self.mcp_tool(name)) {
            (Some(version), Some(tool))
                if plugin.origin == Origin::Builtin && plugin.name() == MCP_PLUGIN =>
            {
                Some(crate::host_api::McpAccess {
                    server: tool.server.clone(),
                    tool: tool.tool.clone(),
                    caller: version.catalog.clone(),
                    cancel: ctx.cancel.clone(),
                })
            }
            _ => None,
        };
        let (engine, pre) = prepare(&self.wasm, &self.cache, plugin)?;
        let _slot = self.slots.take();
        call::invoke(
            engine,
            pre,
            &Invocation {
                manifest: &plugin.info.manifest,
                tool: name,
                input_json,
                ctx,
                limits,
                approved,
                mcp,
            },
        )
    }
}

/// Refuses a path that names a FIFO, a socket or a device: opening one for a plugin
/// could block the host forever (a FIFO with no writer), where no deadline reaches.
/// Links are followed, as the plugin's open would; a path that does not exist or leads
/// out of the workspace is for the plugin to report.
fn refuse_special_file(cwd: &Path, path: &str) -> Result<(), ToolError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(metadata) = std::fs::metadata(cwd.join(path)) else {
        return Ok(());
    };
    let kind = metadata.file_type();
    let what = if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        return Ok(());
    };
    Err(ToolError::InvalidInput(format!(
        "{path} is {what}, not a regular file; tools read and write regular files only \
         (reading it could wait forever)"
    )))
}

/// The engine and linker, made once; whoever comes second waits for the first.
fn start_wasm(wasm: &OnceLock<Result<Wasm, String>>) -> Result<&Wasm, &String> {
    wasm.get_or_init(|| {
        let started = std::time::Instant::now();
        let engine = new_engine().map_err(|e| format!("cannot start wasmtime: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        host_api::add_to_linker(&mut linker).map_err(|e| format!("{e:#}"))?;
        tracing::debug!(elapsed = ?started.elapsed(), "engine ready");
        Ok(Wasm { engine, linker })
    })
    .as_ref()
}

/// The built-ins a run's first tool call nearly always goes to (reading and searching
/// the workspace), loaded by the warm-up so that this call does not wait for it.
const FIRST_CALLED: &[&str] = &["fs"];

/// The plugin's `InstancePre`, made once: engine, then compiled component (a built-in's
/// embedded artifact, or through the cache) with its memory image, then linked. Whoever
/// comes second waits for the first.
fn prepare<'a>(
    wasm: &'a OnceLock<Result<Wasm, String>>,
    cache: &CompileCache,
    plugin: &'a Plugin,
) -> Result<(&'a Engine, &'a PluginPre<CallState>), ToolError> {
    let unavailable = |reason: String| ToolError::Unavailable {
        plugin: plugin.name().to_string(),
        reason,
    };
    let wasm = start_wasm(wasm).map_err(|e| unavailable(e.clone()))?;
    let pre = plugin
        .prepared
        .get_or_init(|| {
            if let Some(missing) = plugin.info.conch_imports().find(|i| !host_api::provides(i)) {
                return Err(format!(
                    "it imports conch:tool/{missing}, which this version of conch does not provide"
                ));
            }
            let _span = tracing::debug_span!("prepare", plugin = plugin.name()).entered();
            let started = std::time::Instant::now();
            let component = match &plugin.component {
                ComponentSource::Builtin(builtin) => builtin::load(&wasm.engine, cache, builtin),
                ComponentSource::Read(bytes) => cache.load_or_compile(&wasm.engine, bytes),
            }
            .map_err(|e| format!("{e:#}"))?;
            // The image each instance's memory starts from (fs: 552 KB written to a
            // memfd), made here rather than in the first call.
            component
                .initialize_copy_on_write_image()
                .map_err(|e| format!("{e:#}"))?;
            let pre = wasm
                .linker
                .instantiate_pre(&component)
                .and_then(PluginPre::new)
                .map_err(|e| format!("{e:#}"))?;
            tracing::debug!(plugin = plugin.name(), elapsed = ?started.elapsed(), "plugin ready");
            Ok(pre)
        })
        .as_ref()
        .map_err(|e| unavailable(e.clone()))?;
    Ok((&wasm.engine, pre))
}
