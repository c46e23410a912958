//! What a plugin can reach during one call: one module per host capability, each
//! implementing [`HostCapability`] (its name, interfaces, linking, grant per call and
//! what the call hands back), wired by the one list (`capabilities!`) below; the
//! per-call state behind the WIT imports ([`CallState`]); and the data a call is given and
//! gives back (`call`).
//!
//! This module is below the runtime (`plugin`), which runs calls with it: nothing here
//! uses `plugin`. A plugin is only instantiated when every import it has is provided, and
//! its manifest declares the capability behind each one (checked when the manifest is
//! read).

pub mod bindings;
pub mod call;
mod capability;
pub mod clock;
pub mod files;
pub mod fs_read;
pub mod http;
pub mod interact;
pub mod log;
pub mod lsp;
pub mod mcp;
pub mod output;
pub mod process;
pub mod skills;
pub mod state;
pub mod workspace;

pub use call::{CallContext, CallLimits, ToolError, ToolOutput};
pub use capability::{Grant, HostCapability};
pub use clock::CallClock;
pub use files::FilesAccess;
pub use http::{HttpAccess, HttpPolicy};
pub use interact::{Asker, InteractAccess};
pub use lsp::LspAccess;
pub use mcp::{McpAccess, McpCaller};
pub use output::OutputAccess;
pub use process::ProcessAccess;
pub use state::StateAccess;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use bindings::conch::tool as wit;

/// Generates, from one line per capability (`Variant => field: module::Type`), the
/// [`Capability`] enum of manifests, the [`Granted`] fields of a call's Store, granting
/// and finishing a call, and linking; so a capability is its module plus its line.
macro_rules! capabilities {
    ($($(#[$doc:meta])* $variant:ident => $field:ident: $cap:ty,)*) => {
        /// A capability a plugin may declare in its manifest (see [`HostCapability`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Capability {
            $($(#[$doc])* $variant,)*
        }

        impl Capability {
            /// Every capability, in the order calls are granted them.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];
            /// Their names, in the same order.
            const NAMES: &'static [&'static str] = &[$(<$cap as HostCapability>::NAME,)*];

            /// The name used in manifests and messages.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => <$cap as HostCapability>::NAME,)*
                }
            }

            /// What a plugin with it can do, for `conch plugin info`.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Capability::$variant => <$cap as HostCapability>::MEANING,)*
                }
            }

            /// The `conch:tool` interfaces it provides.
            pub fn interfaces(self) -> &'static [&'static str] {
                match self {
                    $(Capability::$variant => <$cap as HostCapability>::INTERFACES,)*
                }
            }
        }

        /// What one call was granted: a field per capability, `None` when its plugin does
        /// not declare it (or the capability granted nothing for this call).
        pub struct Granted {
            $(pub $field: Option<<$cap as HostCapability>::Access>,)*
        }

        impl Granted {
            /// Grants a call of a plugin declaring `declared` what each of those
            /// capabilities gives it, in the order of the list.
            pub fn new(
                declared: &[Capability],
                grant: &Grant<'_>,
                wasi: &mut WasiCtxBuilder,
            ) -> Result<Self, ToolError> {
                Ok(Granted {
                    $($field: if declared.contains(&Capability::$variant) {
                        <$cap as HostCapability>::grant(grant, wasi)?
                    } else {
                        None
                    },)*
                })
            }

            /// Hands back what a successful call left with each capability.
            pub fn finish(self, output: &mut ToolOutput) {
                $(if let Some(access) = self.$field {
                    <$cap as HostCapability>::finish(access, output);
                })*
            }
        }

        fn link_capabilities(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
            $(<$cap as HostCapability>::add_to_linker(linker)?;)*
            Ok(())
        }
    };
}

capabilities! {
    /// A read-only view of the workspace roots: preopens and the `files` import.
    FsRead => fs_read: fs_read::FsRead,
    /// Staged writes through the `workspace` import.
    FsEdit => fs_edit: workspace::FsEdit,
    /// Commands through the `process` import.
    Process => process: process::Process,
    /// Outbound HTTP through the `http` import.
    Http => http: http::Http,
    /// Questions to the user through the `interact` import.
    Interact => interact: interact::Interact,
    /// Session key/value state through the `state` import.
    State => state: state::State,
    /// A read-only view of the skill directories (see `skills`), nothing else.
    Skills => skills: skills::Skills,
    /// One MCP tool per call through the `mcp` import, bound by the host to the server
    /// and tool the gate approved (the built-in `mcp` plugin).
    Mcp => mcp: mcp::Mcp,
    /// Language-server queries through the `lsp` import, bound by the host to the path
    /// the gate approved (the built-in `lsp` plugin).
    Lsp => lsp: lsp::Lsp,
}

/// The `conch:tool` interfaces every plugin may import, with no capability: `log` (into
/// the host's tracing), `types` (shared type definitions) and `output` (images attached
/// to the call's own result, since 0.1.2).
pub const BASE_INTERFACES: &[&str] = &["log", "types", "output"];

impl Capability {
    /// The capability a manifest calls `name`.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL
            .iter()
            .copied()
            .find(|capability| capability.as_str() == name)
    }

    /// The capability that provides `conch:tool` interface `interface`.
    pub fn of_interface(interface: &str) -> Option<Capability> {
        Capability::ALL
            .iter()
            .copied()
            .find(|capability| capability.interfaces().contains(&interface))
    }
}

impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Capability::from_name(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, Capability::NAMES))
    }
}

/// Whether this host provides `conch:tool` interface `interface`.
pub fn provides(interface: &str) -> bool {
    BASE_INTERFACES.contains(&interface) || Capability::of_interface(interface).is_some()
}

/// Everything a Store holds for one tool call.
pub struct CallState {
    /// The plugin's name, for logs.
    pub plugin: String,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: MemoryCap,
    /// What the call has used of its deadline; host calls that wait (commands, fetches,
    /// questions) are left out of it.
    pub clock: CallClock,
    /// What each capability granted the call.
    pub granted: Granted,
    /// Images attached to the call's result (a base interface: it only adds to the
    /// call's own result).
    pub output: OutputAccess,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Adds WASI (confined per call by the `WasiCtx`), the base interfaces and every
/// capability's interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    wit::log::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::output::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    link_capabilities(linker)
}

/// A memory cap that remembers being hit, so that the trap it causes can be reported
/// as "used too much memory" rather than as a crash.
pub struct MemoryCap {
    inner: StoreLimits,
    bytes: usize,
    /// Set when the guest asked for more than `bytes`.
    pub exceeded: bool,
}

impl MemoryCap {
    /// A cap of `bytes` of linear memory.
    pub fn new(bytes: usize) -> Self {
        MemoryCap {
            inner: wasmtime::StoreLimitsBuilder::new()
                .memory_size(bytes)
                .table_elements(1 << 20)
                .trap_on_grow_failure(true)
                .build(),
            bytes,
            exceeded: false,
        }
    }

    /// The cap in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            self.exceeded = true;
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_read_and_written_by_their_manifest_names() {
        for capability in Capability::ALL {
            let json = serde_json::to_string(capability).expect("serialised");
            assert_eq!(json, format!("\"{}\"", capability.as_str()));
            let back: Capability = serde_json::from_str(&json).expect("read back");
            assert_eq!(back, *capability);
        }
        let unknown = serde_json::from_str::<Capability>("\"fs:write\"")
            .expect_err("not a capability")
            .to_string();
        assert!(
            unknown.contains("unknown variant `fs:write`")
                && unknown.contains("`fs:read`, `fs:edit`, `process`"),
            "{unknown}"
        );
    }

    #[test]
    fn each_interface_is_provided_by_one_capability_and_log_by_none() {
        for interface in ["workspace", "process", "http", "interact", "state", "mcp"] {
            assert!(provides(interface), "{interface}");
            let providers = Capability::ALL
                .iter()
                .filter(|c| c.interfaces().contains(&interface))
                .count();
            assert_eq!(providers, 1, "{interface}");
        }
        assert_eq!(
            Capability::of_interface("workspace"),
            Some(Capability::FsEdit)
        );
        assert!(provides("log") && provides("types"));
        assert_eq!(Capability::of_interface("log"), None);
        assert!(!provides("images"));
    }

    #[test]
    fn a_call_is_granted_only_what_its_plugin_declares_and_hands_back_its_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical");
        let ctx = CallContext {
            cwd: root.clone(),
            roots: vec![root.clone()],
            ..CallContext::default()
        };
        let limits = CallLimits::default();
        let grant = Grant {
            plugin: "p",
            ctx: &ctx,
            limits: &limits,
            approved: Some("git status"),
            commands: None,
            hosts: None,
            mcp: None,
        };
        let declared = [Capability::FsEdit, Capability::State, Capability::Process];
        let mut granted =
            Granted::new(&declared, &grant, &mut WasiCtxBuilder::new()).expect("granted");
        assert!(granted.fs_read.is_none() && granted.http.is_none() && granted.mcp.is_none());
        assert_eq!(
            granted.process.as_ref().and_then(|p| p.approved.as_deref()),
            Some("git status")
        );
        // The mcp capability grants nothing unless the registry bound the call to a tool.
        let unbound =
            Granted::new(&[Capability::Mcp], &grant, &mut WasiCtxBuilder::new()).expect("granted");
        assert!(unbound.mcp.is_none());

        granted
            .fs_edit
            .as_mut()
            .expect("fs:edit granted")
            .write_file("a.txt", b"staged\n".to_vec())
            .expect("staged");
        let mut output = ToolOutput {
            text: String::new(),
            metadata: None,
            changes: None,
            state_changes: Vec::new(),
            images: Vec::new(),
        };
        granted.finish(&mut output);
        let changes = output.changes.expect("the staged change handed back");
        assert_eq!(changes.paths(), ["a.txt"]);
        assert!(output.state_changes.is_empty());
        assert!(!root.join("a.txt").exists(), "staged, not written");
    }
}

#[cfg(test)]
mod layering {
    //! The runtime's layers, lowest first: `permission` (rules, keys, pattern matching),
    //! `host_api` (capabilities, the call's data, bindings), `plugin` (manifests, the
    //! registry, running a call). A lower layer never names a higher one, so no cycle
    //! can come back unnoticed.

    use std::path::Path;

    /// Lines of the `.rs` files under `src/<module>` that name any of `higher`.
    fn mentions(module: &str, higher: &[&str]) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(module);
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the module's directory") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in text.lines().enumerate() {
                if higher
                    .iter()
                    .any(|name| line.contains(&format!("crate::{name}")))
                {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
        found
    }

    #[test]
    fn lower_layers_never_name_higher_ones() {
        assert_eq!(
            mentions("permission", &["host_api", "plugin"]),
            Vec::<String>::new()
        );
        assert_eq!(mentions("host_api", &["plugin"]), Vec::<String>::new());
    }
}
