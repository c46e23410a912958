//! The `mcp` import (capability `mcp`): one call of one MCP tool. The host binds each
//! call to exactly the server and tool the gate approved (`mcp` permission, key
//! `SERVER/TOOL`); the plugin only passes the arguments and renders what comes back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::CallState;
use crate::plugin::bindings::conch::tool::mcp as wit;

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

impl wit::Host for CallState {
    fn call(&mut self, arguments: String) -> Result<String, String> {
        let Some(access) = &self.mcp else {
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
