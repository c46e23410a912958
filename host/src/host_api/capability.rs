//! The shape of one host capability: what a manifest calls it, the `conch:tool`
//! interfaces it provides, how it is linked, what one call is granted and what the call
//! hands back. Each capability is one module implementing [`HostCapability`]; the list in
//! `host_api/mod.rs` wires them all (Spin's "factors" are the model).

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use super::{CallContext, CallLimits, CallState, McpAccess, ToolError, ToolOutput};

/// One host capability. Its methods are associated functions, not methods on a value:
/// the list in `host_api/mod.rs` calls each by its type, so a call pays no dynamic
/// dispatch and no allocation beyond what a capability's own grant makes.
pub trait HostCapability {
    /// Its name in manifests and messages, e.g. `fs:edit`.
    const NAME: &'static str;
    /// What a plugin with it can do, for `conch plugin info`.
    const MEANING: &'static str;
    /// The `conch:tool` interfaces it provides; empty when it only shapes the call's WASI
    /// (`fs:read`, `skills`: preopens).
    const INTERFACES: &'static [&'static str] = &[];
    /// What one call holds in its Store while it runs (`()` for nothing).
    type Access: Send + 'static;

    /// Adds its interfaces to the linker, once per engine. Imports stay generic over the
    /// Store's data: `wit::NAME::add_to_linker::<CallState, HasSelf<CallState>>`.
    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        let _ = linker;
        Ok(())
    }

    /// What one call of a plugin that declares it gets: its access (`None`: nothing for
    /// this call), and anything it adds to the call's WASI (preopens). Called only for
    /// plugins that declare the capability.
    fn grant(
        grant: &Grant<'_>,
        wasi: &mut WasiCtxBuilder,
    ) -> Result<Option<Self::Access>, ToolError>;

    /// What a call that succeeded hands back to the host (staged changes, state changes),
    /// put into its output for the dispatcher to decide on.
    fn finish(access: Self::Access, output: &mut ToolOutput) {
        let _ = (access, output);
    }
}

/// What a capability may draw on to grant one call.
#[derive(Clone, Copy)]
pub struct Grant<'a> {
    /// The plugin's name, for messages and logs.
    pub plugin: &'a str,
    /// Where and for whom the call runs (cwd, roots, cancel, the session's state, …).
    pub ctx: &'a CallContext,
    /// The run's bounds and policies (sandbox, http).
    pub limits: &'a CallLimits,
    /// The tool's key argument the gate approved: for plugins that run commands or fetch
    /// URLs, the only command or URL they may use.
    pub approved: Option<&'a str>,
    /// The commands the plugin's manifest declares it runs, if it narrowed them.
    pub commands: Option<&'a [String]>,
    /// The hosts the plugin's manifest declares it fetches from, if it narrowed them.
    pub hosts: Option<&'a [String]>,
    /// The one MCP tool the registry bound this call to (the built-in `mcp` plugin).
    pub mcp: Option<&'a McpAccess>,
}
