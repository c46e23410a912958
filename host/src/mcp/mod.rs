//! The MCP client: the configured `[mcp.NAME]` servers, each a sandboxed child
//! (`sandbox::child`) spoken to with rmcp over its stdio or an HTTP server (`http.rs`),
//! started in parallel in the background on a runtime thread of their own, their tools
//! offered as `mcp__SERVER__TOOL` through the built-in `mcp` plugin (the registry's MCP
//! tool source).
//!
//! A server's tool list is kept between runs (cache.rs): with it, its tools are offered
//! at once and a call waits for the server; without it, the first request waits for the
//! server at most its startup timeout, and a server ready later joins the next request
//! (the registry looks again when [`McpCatalog::version`] moves).
//!
//! The runtime thread lives as long as this value: the parent-death signal of every
//! server (bwrap's `--die-with-parent`) follows the thread that spawned it, so a server
//! dies with it at the latest; dropping the manager sends TERM first.

pub mod cache;
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
use server::{ListWatch, Server};

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

/// The MCP tools of a run as the registry sees them: a list that may change while the
/// run goes on (a server ready late, `tools/list_changed`), and the way to call them.
pub trait McpCatalog: McpCaller {
    /// Moves whenever what [`McpCatalog::offered`] returns may have changed.
    fn version(&self) -> u64;
    /// The tools to offer now, and a message for each tool left out.
    fn offered(&self) -> (Vec<McpTool>, Vec<String>);
    /// Waits (bounded) for the re-lists servers announced and conch has not finished;
    /// then what the user should hear about the servers since the last time (once).
    fn settle(&self) -> Vec<String>;
}

/// The servers of a run.
pub struct McpServers {
    servers: Vec<Arc<Server>>,
    watch: Arc<ListWatch>,
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
        let watch = Arc::new(ListWatch::default());
        let servers: Vec<Arc<Server>> = configs
            .into_iter()
            .map(|config| {
                let spec = child_spec(&config, root, policy);
                let digest = cache::digest(&spec, config.http.as_ref());
                let cached = cache::load(&digest);
                Arc::new(Server::new(config, spec, digest, cached, watch.clone()))
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
            watch,
            runtime: handle,
            _stop: stop,
        })))
    }

    /// Waits for the servers still starting, each at most its startup timeout; then
    /// the tools of those ready, and a message for each that is not (with its stderr).
    /// A server still starting then is given up on (these are one-shot commands).
    pub fn wait_for_tools(&self) -> (Vec<McpTool>, Vec<String>) {
        let mut failures = self.wait(false);
        for server in &self.servers {
            if server.status().state == State::Starting {
                server.give_up();
            }
        }
        let (tools, left_out) = self.offered();
        failures.extend(left_out);
        (tools, failures)
    }

    /// Waits before the first request for the servers still starting whose tools are
    /// not cached, each at most its startup timeout; a message for each that is not
    /// ready (with its stderr). Those still starting join when they are ready.
    pub fn wait_for_first_request(&self) -> Vec<String> {
        self.wait(true)
    }

    fn wait(&self, skip_cached: bool) -> Vec<String> {
        let started = Instant::now();
        let mut failures = Vec::new();
        for server in &self.servers {
            if skip_cached && server.offers_cached_list() {
                server.offered_from_cache.store(true, Ordering::Relaxed);
                continue;
            }
            let deadline = started + server.config.startup_timeout;
            let status = server.wait_started(deadline);
            match status.state {
                State::Ready => {}
                State::Starting => {
                    server.reported_late.store(true, Ordering::Relaxed);
                    failures.push(server.not_ready());
                }
                State::Failed(why) => failures.push(why),
            }
        }
        failures
    }

    /// The tools of every server that has (or is about to have) them: ready, starting
    /// with a cached list, or crashed and to be restarted at the next call.
    fn offered(&self) -> (Vec<McpTool>, Vec<String>) {
        let mut tools: Vec<McpTool> = Vec::new();
        let mut left_out = Vec::new();
        for server in &self.servers {
            let status = server.status();
            let offered = match &status.state {
                State::Ready | State::Starting => true,
                State::Failed(_) => status.connected && status.restarts < MAX_RESTARTS,
            };
            if !offered {
                continue;
            }
            let name = &server.config.name;
            for tool in status.tools {
                let model_name = naming::tool_name(name, &tool.name);
                if let Some(taken) = tools.iter().find(|t| t.spec.name == model_name) {
                    left_out.push(format!(
                        "MCP tool `{}` of `{name}` is left out: its name `{model_name}` is taken by `{}` of `{}`",
                        tool.name, taken.tool, taken.server
                    ));
                    continue;
                }
                tools.push(McpTool {
                    spec: tool_spec(&server.config, &tool, model_name),
                    server: name.clone(),
                    tool: tool.name.to_string(),
                });
            }
        }
        (tools, left_out)
    }

    /// Each server's name and status, in config order.
    pub fn statuses(&self) -> Vec<(String, Status)> {
        self.servers
            .iter()
            .map(|s| (s.config.name.clone(), s.status()))
            .collect()
    }
}

impl McpCatalog for McpServers {
    fn version(&self) -> u64 {
        self.watch.version()
    }

    fn offered(&self) -> (Vec<McpTool>, Vec<String>) {
        McpServers::offered(self)
    }

    fn settle(&self) -> Vec<String> {
        let longest = self
            .servers
            .iter()
            .map(|s| s.config.startup_timeout)
            .max()
            .unwrap_or_default();
        self.watch.settle(Instant::now() + longest);
        // A server the first request went without is announced once, when it joins or
        // is given up on; one whose cached tools it offered, if it fails to start.
        let mut news = Vec::new();
        for server in &self.servers {
            let status = server.status();
            match &status.state {
                State::Failed(why)
                    if !status.connected
                        && server.offered_from_cache.swap(false, Ordering::Relaxed) =>
                {
                    news.push(why.clone());
                }
                State::Ready => server.offered_from_cache.store(false, Ordering::Relaxed),
                _ => {}
            }
            let line = match &status.state {
                State::Starting => continue,
                State::Ready => format!(
                    "MCP server `{}` is ready now: its {} tool(s) are offered from the next request",
                    server.config.name,
                    status.tools.len()
                ),
                State::Failed(why) => why.clone(),
            };
            if server.reported_late.swap(false, Ordering::Relaxed) {
                news.push(line);
            }
        }
        news
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
        write_roots: config.write_workspace,
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
/// `SERVER/TOOL`, its schema made usable. Annotations are not used for decisions. A
/// server that writes the workspace says so: its calls are never staged, so the gate's
/// question (default ask; `--allow-edit` is about staged edits and does not cover it) is
/// the only check before it writes.
fn tool_spec(config: &McpServerConfig, tool: &rmcp::model::Tool, name: String) -> ToolSpec {
    let server = &config.name;
    let description = tool
        .description
        .as_deref()
        .unwrap_or("(no description)")
        .to_string();
    let writes = if config.write_workspace {
        "; it writes the workspace directly: not staged, not undoable"
    } else {
        ""
    };
    ToolSpec {
        name,
        description: format!(
            "{description}\n(MCP tool `{}` of server `{server}`{writes})",
            tool.name
        ),
        permission: PERMISSION,
        key_arg: None,
        key_arg_fallback: None,
        input_schema: schema::normalise(&tool.input_schema),
        stale_check: false,
        also_decided_as: None,
        fixed_key: Some(format!("{server}/{}", tool.name)),
    }
}
