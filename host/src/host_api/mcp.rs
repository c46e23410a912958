//! The `mcp` import (capability `mcp`): one call of one MCP tool. The host binds each
//! call to exactly the server and tool the gate approved (`mcp` permission, key
//! `SERVER/TOOL`); the plugin only passes the arguments and renders what comes back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::mcp as wit;
use super::{CallState, Grant, HostCapability, ToolError};

/// What reaches MCP servers: the host's MCP client (see `crate::mcp`).
pub trait McpCaller: Send + Sync {
    /// Calls `tool` on `server` with `arguments` (a JSON object) and returns the
    /// server's `tools/call` result as JSON; `Err` is written for the model. Returns
    /// early, cancelling the request, once `cancel` is set.
    fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: &str,
        cancel: &AtomicBool,
    ) -> Result<String, String>;
}

/// The one tool a call may reach.
#[derive(Clone)]
pub struct McpAccess {
    pub server: String,
    /// The server's own name for the tool.
    pub tool: String,
    pub caller: Arc<dyn McpCaller>,
    /// Set when the user interrupts the call.
    pub cancel: Arc<AtomicBool>,
}

/// The `mcp` capability: granted only when the registry bound the call to an MCP tool.
pub struct Mcp;

impl HostCapability for Mcp {
    const NAME: &'static str = "mcp";
    const MEANING: &'static str = "nothing: only the built-in `mcp` plugin is bound to MCP tools";
    const INTERFACES: &'static [&'static str] = &["mcp"];
    type Access = McpAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(grant: &Grant<'_>, _: &mut WasiCtxBuilder) -> Result<Option<McpAccess>, ToolError> {
        Ok(grant.mcp.cloned())
    }
}

impl wit::Host for CallState {
    fn call(&mut self, arguments: String) -> Result<String, String> {
        let Some(access) = &self.granted.mcp else {
            return Err("this call was not granted an MCP tool".into());
        };
        // The server's answer is bounded by its own `tool_timeout_secs`.
        self.clock.excluding(|| {
            access
                .caller
                .call_tool(&access.server, &access.tool, &arguments, &access.cancel)
        })
    }
}
