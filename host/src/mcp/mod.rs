//! The MCP client: the configured `[mcp.NAME]` servers, each a sandboxed child
//! (`sandbox::child`) spoken to with rmcp over its stdio or an HTTP server (`http.rs`),
//! started in parallel in the background on a runtime thread of their own, their tools
//! offered as `mcp__SERVER__TOOL` through the built-in `mcp` plugin (the registry's MCP
//! tool source).
//!
//! The runtime thread lives as long as this value: the parent-death signal of every
//! server (bwrap's `--die-with-parent`) follows the thread that spawned it, so a server
//! dies with it at the latest; dropping the manager sends TERM first.

mod http;
pub mod naming;
pub mod schema;
mod server;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use server::{MAX_RESTARTS, State, Status};

use crate::config::McpServerConfig;
use crate::host_api::McpCaller;
use crate::permission::PermissionKey;
use crate::plugin::ToolSpec;
use crate::sandbox::SandboxPolicy;
use crate::sandbox::child::{ChildSpec, private_dir, terminate_group};
use server::{Server, WAIT_MARGIN};

/// The permission key of every MCP tool; its key argument is `SERVER/TOOL`.
pub const PERMISSION: PermissionKey = PermissionKey::MCP;

/// One MCP tool as the registry offers it.
#[derive(Debug, Clone)]
pub struct McpTool {
    pub spec: ToolSpec,
    pub server: String,
    /// The server's own name for it.
    pub tool: String,
}

/// The servers of a run.
pub struct McpServers {
    servers: Vec<Arc<Server>>,
    runtime: tokio::runtime::Handle,
    /// Dropped with the manager: ends the runtime thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl McpServers {
    /// Starts `configs` in the background (returns at once), each confined like a
    /// command under `policy` (its mode and hidden paths; never its network setting or
    /// workspace writes) with `root` as the workspace. `None` without servers.
    pub fn start(
        configs: Vec<McpServerConfig>,
        root: &Path,
        policy: &SandboxPolicy,
    ) -> Result<Option<Arc<Self>>, String> {
        if configs.is_empty() {
            return Ok(None);
        }
        let servers: Vec<Arc<Server>> = configs
            .into_iter()
            .map(|config| {
                let spec = child_spec(&config, root, policy);
                Arc::new(Server::new(config, spec))
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the MCP client's runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let starting = servers.clone();
        std::thread::Builder::new()
            .name("conch-mcp".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for server in starting {
                        tokio::spawn(async move { server.start().await });
                    }
                    let _ = stopped.await;
                });
            })
            .map_err(|e| format!("cannot start the MCP client's thread: {e}"))?;
        Ok(Some(Arc::new(McpServers {
            servers,
            runtime: handle,
            _stop: stop,
        })))
    }

    /// Waits for the servers still starting, each at most its startup timeout; then
    /// the tools of those ready, and a message for each that is not (with its stderr).
    pub fn wait_for_tools(&self) -> (Vec<McpTool>, Vec<String>) {
        let started = Instant::now();
        let mut tools: Vec<McpTool> = Vec::new();
        let mut failures = Vec::new();
        for server in &self.servers {
            let deadline = started + server.config.startup_timeout + WAIT_MARGIN;
            let status = server.wait_started(deadline);
            let name = &server.config.name;
            match status.state {
                State::Ready => {}
                State::Starting => {
                    failures.push(format!(
                        "MCP server `{name}` is not ready after {} s (startup_timeout_secs); going on without it",
                        server.config.startup_timeout.as_secs()
                    ));
                    continue;
                }
                State::Failed(why) => {
                    failures.push(why);
                    continue;
                }
            }
            for tool in status.tools {
                let model_name = naming::tool_name(name, &tool.name);
                if let Some(taken) = tools.iter().find(|t| t.spec.name == model_name) {
                    failures.push(format!(
                        "MCP tool `{}` of `{name}` is left out: its name `{model_name}` is taken by `{}` of `{}`",
                        tool.name, taken.tool, taken.server
                    ));
                    continue;
                }
                tools.push(McpTool {
                    spec: tool_spec(name, &tool, model_name),
                    server: name.clone(),
                    tool: tool.name.to_string(),
                });
            }
        }
        (tools, failures)
    }

    /// Each server's name and status, in config order.
    pub fn statuses(&self) -> Vec<(String, Status)> {
        self.servers
            .iter()
            .map(|s| (s.config.name.clone(), s.status()))
            .collect()
    }
}

impl McpCaller for McpServers {
    fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: &str,
        cancel: &AtomicBool,
    ) -> Result<String, String> {
        let Some(server) = self
            .servers
            .iter()
            .find(|s| s.config.name == server)
            .cloned()
        else {
            return Err(format!("there is no MCP server `{server}`"));
        };
        let arguments = match serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        }) {
            Ok(serde_json::Value::Object(object)) => object,
            _ => return Err("the arguments of an MCP tool are one JSON object".into()),
        };
        let tool = tool.to_string();
        let (done, result) = std::sync::mpsc::channel();
        let task = self.runtime.spawn({
            let tool = tool.clone();
            async move {
                let _ = done.send(server.call(tool, arguments).await);
            }
        });
        loop {
            match result.recv_timeout(Duration::from_millis(20)) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the call to MCP tool `{tool}` stopped unexpectedly"
                    ));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if cancel.load(Ordering::Relaxed) {
                // Dropping the request's future sends `notifications/cancelled`.
                task.abort();
                return Err(format!("the call to MCP tool `{tool}` was interrupted"));
            }
        }
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        // TERM now; the parent-death signal does the rest as the runtime thread or
        // conch ends. Nothing here waits.
        for server in &self.servers {
            for group in server.groups() {
                terminate_group(group);
            }
        }
    }
}

/// How `config` runs: in the workspace root (or its `cwd` under it), writing only its
/// private directory under conch's cache dir, with the network only if it says so.
fn child_spec(config: &McpServerConfig, root: &Path, policy: &SandboxPolicy) -> ChildSpec {
    let mut program = vec![config.command.clone()];
    program.extend(config.args.iter().cloned());
    ChildSpec {
        program,
        cwd: config
            .cwd
            .as_ref()
            .map_or_else(|| root.to_path_buf(), |cwd| root.join(cwd)),
        roots: vec![root.to_path_buf()],
        private_dir: private_dir("mcp", &config.name),
        network: config.network,
        mode: policy.mode,
        deny_read: policy.deny_read.clone(),
        pass_env: config.env_vars.clone(),
        env: config
            .env
            .iter()
            .map(|(var, value)| (var.clone(), value.expose().to_string()))
            .collect(),
    }
}

/// The spec the model and the gate see for `tool` of `server`: permission `mcp`, key
/// `SERVER/TOOL`, its schema made usable. Annotations are not used for decisions.
fn tool_spec(server: &str, tool: &rmcp::model::Tool, name: String) -> ToolSpec {
    let description = tool
        .description
        .as_deref()
        .unwrap_or("(no description)")
        .to_string();
    ToolSpec {
        name,
        description: format!(
            "{description}\n(MCP tool `{}` of server `{server}`)",
            tool.name
        ),
        permission: PERMISSION,
        key_arg: None,
        input_schema: schema::normalise(&tool.input_schema),
        stale_check: false,
        also_decided_as: None,
        fixed_key: Some(format!("{server}/{}", tool.name)),
    }
}
