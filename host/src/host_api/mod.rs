//! What a plugin can reach during one call: the per-call state behind the WIT imports,
//! and the one place that wires the imports into the linker.
//!
//! Each `conch:tool` import lives in its own module here. A plugin is only instantiated
//! when every import it has is provided, and its manifest declares the capability behind
//! each one (checked when the manifest is read).

pub mod http;
pub mod interact;
pub mod log;
pub mod lsp;
pub mod mcp;
pub mod process;
pub mod state;
pub mod workspace;

pub use http::{HttpAccess, HttpPolicy};
pub use interact::{Asker, InteractAccess};
pub use lsp::LspAccess;
pub use mcp::{McpAccess, McpCaller};
pub use process::ProcessAccess;
pub use state::StateAccess;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::plugin::bindings::conch::tool as wit;

/// Everything a Store holds for one tool call.
pub struct CallState {
    /// The plugin's name, for logs.
    pub plugin: String,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: MemoryCap,
    /// What the call has used of its deadline; host calls that wait (commands, fetches,
    /// questions) are left out of it.
    pub clock: crate::plugin::CallClock,
    /// What the call may run, for plugins with `process`.
    pub process: Option<ProcessAccess>,
    /// The call's staged changes, for plugins with `fs:edit`.
    pub staging: Option<crate::changeset::Staging>,
    /// What the call may fetch, for plugins with `http`.
    pub http: Option<HttpAccess>,
    /// Who answers questions, for plugins with `interact`.
    pub interact: Option<InteractAccess>,
    /// The session's state and the call's changes to it, for plugins with `state`.
    pub state: Option<StateAccess>,
    /// The one MCP tool the call may reach, for the `mcp` plugin.
    pub mcp: Option<McpAccess>,
    /// The language servers, bound to the approved path, for the `lsp` plugin.
    pub lsp: Option<LspAccess>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Adds WASI (confined per call by the `WasiCtx`) and conch's imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    wit::log::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::workspace::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::process::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::http::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::interact::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::state::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::mcp::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    wit::lsp::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    Ok(())
}

/// The `conch:tool` interfaces this host provides today.
pub const PROVIDED: &[&str] = &[
    "log",
    "types",
    "workspace",
    "process",
    "http",
    "interact",
    "state",
    "mcp",
    "lsp",
];

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
