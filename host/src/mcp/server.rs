//! One MCP server: its sandboxed child and the rmcp client over the child's pipes (or
//! its HTTP connection, `http.rs`), its state for `conch mcp list`, and its calls
//! (timeout, cancellation, crash, lazy restart).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, ClientConfig, Implementation, JsonObject, Tool};
use rmcp::service::{Peer, RunningService, ServiceExt};
use tokio::sync::watch;

use crate::config::McpServerConfig;
use crate::sandbox::child::{ChildSpec, SandboxedChild, StderrTail};

/// Restarts of a crashed server per session.
pub const MAX_RESTARTS: u32 = 3;

/// Where a server is, as `conch mcp list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Starting,
    Ready,
    /// It never became ready, or it exited; the reason says which, with its stderr.
    Failed(String),
}

/// What is known of a server now.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    /// Its tools as it listed them (filtered by the config), once ready.
    pub tools: Vec<Tool>,
    /// The last error, kept after a restart.
    pub last_error: Option<String>,
    /// How often it was restarted.
    pub restarts: u32,
}

/// A live connection.
struct Live {
    peer: Peer<RoleClient>,
    /// Keeps the client's tasks running.
    _service: RunningService<RoleClient, ClientConfig>,
    /// `Some(how)` once the child exited.
    exited: watch::Receiver<Option<String>>,
    stderr: StderrTail,
}

/// One configured server.
pub struct Server {
    pub config: McpServerConfig,
    spec: ChildSpec,
    status: Mutex<Status>,
    changed: Condvar,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    /// Process groups of the children started, for the TERM at exit.
    groups: Mutex<Vec<u32>>,
}

impl Server {
    pub fn new(config: McpServerConfig, spec: ChildSpec) -> Self {
        Server {
            config,
            spec,
            status: Mutex::new(Status {
                state: State::Starting,
                tools: Vec::new(),
                last_error: None,
                restarts: 0,
            }),
            changed: Condvar::new(),
            live: tokio::sync::Mutex::new(None),
            groups: Mutex::new(Vec::new()),
        }
    }

    pub fn status(&self) -> Status {
        match self.status.lock() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut status = match self.status.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut status);
        self.changed.notify_all();
    }

    /// Blocks until the server is no longer starting, or `deadline`.
    pub fn wait_started(&self, deadline: Instant) -> Status {
        let mut status = match self.status.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        while status.state == State::Starting {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            status = match self.changed.wait_timeout(status, left) {
                Ok((status, _)) => status,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        status.clone()
    }

    /// The process groups of the children it started.
    pub fn groups(&self) -> Vec<u32> {
        self.groups.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Starts the server (the first time, from the manager's runtime).
    pub async fn start(self: &Arc<Self>) {
        let mut live = self.live.lock().await;
        if let Err(e) = self.connect(&mut live).await {
            self.update(|s| {
                s.state = State::Failed(e.clone());
                s.last_error = Some(e);
            });
        }
    }

    /// Starts the child, runs the MCP handshake and lists the tools, each bounded by
    /// the startup timeout.
    async fn connect(self: &Arc<Self>, slot: &mut Option<Arc<Live>>) -> Result<Arc<Live>, String> {
        if let Some(http) = &self.config.http {
            let (service, tools, closed) = super::http::connect(&self.config, http).await?;
            return Ok(self.went_live(slot, service, tools, closed, StderrTail::default()));
        }
        let name = &self.config.name;
        let timeout = self.config.startup_timeout;
        let (mut child, stdin, stdout) = SandboxedChild::spawn(&self.spec)
            .map_err(|e| format!("MCP server `{name}` cannot start: {e}"))?;
        if let Ok(mut groups) = self.groups.lock() {
            groups.push(child.group());
        }
        let stderr = child.stderr_handle();
        let (exit_tx, exit_rx) = watch::channel(None);
        let server = self.clone();
        // The child lives as long as this task: it ends when the child exits.
        tokio::spawn(async move {
            let how = child.wait().await;
            let _ = exit_tx.send(Some(how.clone()));
            let tail = child.stderr_tail();
            let message = with_stderr(
                format!("MCP server `{}` exited ({how})", server.config.name),
                &tail,
            );
            server.update(|s| {
                s.state = State::Failed(message.clone());
                s.last_error = Some(message);
            });
        });
        let info = ClientConfig::new(
            Default::default(),
            Implementation::new("conch", env!("CARGO_PKG_VERSION")),
        );
        let mut exited = exit_rx.clone();
        let handshake = async {
            let service = info
                .serve((stdout, stdin))
                .await
                .map_err(|e| format!("its MCP handshake failed: {e}"))?;
            let tools = service
                .list_all_tools()
                .await
                .map_err(|e| format!("listing its tools failed: {e}"))?;
            Ok::<_, String>((service, tools))
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, handshake) => outcome,
            _ = exited.wait_for(Option::is_some) => Ok(Err("it exited while starting".into())),
        };
        let (service, tools) = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                return Err(with_stderr(
                    format!("MCP server `{name}`: {e}"),
                    &stderr.text(),
                ));
            }
            Err(_) => {
                return Err(with_stderr(
                    format!(
                        "MCP server `{name}` did not answer `initialize` and list its tools within {} s (startup_timeout_secs)",
                        timeout.as_secs()
                    ),
                    &stderr.text(),
                ));
            }
        };
        Ok(self.went_live(slot, service, tools, exit_rx, stderr))
    }

    /// Keeps a connection that finished its handshake and offers its tools.
    fn went_live(
        &self,
        slot: &mut Option<Arc<Live>>,
        service: RunningService<RoleClient, ClientConfig>,
        tools: Vec<Tool>,
        exited: watch::Receiver<Option<String>>,
        stderr: StderrTail,
    ) -> Arc<Live> {
        let tools: Vec<Tool> = tools
            .into_iter()
            .filter(|tool| self.config.tools.allows(&tool.name))
            .collect();
        let live = Arc::new(Live {
            peer: service.peer().clone(),
            _service: service,
            exited,
            stderr,
        });
        *slot = Some(live.clone());
        self.update(|s| {
            s.state = State::Ready;
            s.tools = tools;
        });
        live
    }

    /// The live connection, restarting a crashed server (at most [`MAX_RESTARTS`] times).
    async fn connection(self: &Arc<Self>) -> Result<Arc<Live>, String> {
        let mut slot = self.live.lock().await;
        if let Some(live) = slot.as_ref()
            && live.exited.borrow().is_none()
        {
            return Ok(live.clone());
        }
        let status = self.status();
        if slot.is_none() && status.restarts == 0 && status.state != State::Ready {
            // It never started: a restart would fail the same way.
            return Err(status
                .last_error
                .unwrap_or_else(|| format!("MCP server `{}` is not running", self.config.name)));
        }
        if status.restarts >= MAX_RESTARTS {
            return Err(format!(
                "MCP server `{}` stopped {} times and is not restarted again in this session; last: {}",
                self.config.name,
                status.restarts + 1,
                status.last_error.unwrap_or_default()
            ));
        }
        self.update(|s| {
            s.restarts += 1;
            s.state = State::Starting;
        });
        tracing::info!(server = %self.config.name, "restarting MCP server");
        match self.connect(&mut slot).await {
            Ok(live) => Ok(live),
            Err(e) => {
                self.update(|s| {
                    s.state = State::Failed(e.clone());
                    s.last_error = Some(e.clone());
                });
                Err(e)
            }
        }
    }

    /// Calls `tool` with `arguments`: the result as JSON, or an error for the model.
    /// Dropping the future (Ctrl-C) cancels the request (`notifications/cancelled`).
    pub async fn call(
        self: Arc<Self>,
        tool: String,
        arguments: JsonObject,
    ) -> Result<String, String> {
        let name = self.config.name.clone();
        let live = self.connection().await?;
        let mut params = CallToolRequestParams::new(tool.clone());
        params.arguments = Some(arguments);
        let mut exited = live.exited.clone();
        let timeout = self.config.tool_timeout;
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, live.peer.call_tool(params)) => outcome,
            how = exited.wait_for(Option::is_some) => {
                let how = how.map(|h| h.clone().unwrap_or_default()).unwrap_or_default();
                return Err(with_stderr(
                    format!("MCP server `{name}` exited during the call ({how}); it is restarted at the next call"),
                    &live.stderr.text(),
                ));
            }
        };
        if let Ok(Err(_)) = &outcome {
            // A closed pipe often comes just before the exit is seen: a crash is
            // reported as one, with the server's last words.
            let exit = tokio::time::timeout(EXIT_GRACE, exited.wait_for(Option::is_some)).await;
            if let Ok(Ok(how)) = exit {
                let how = how.clone().unwrap_or_default();
                return Err(with_stderr(
                    format!(
                        "MCP server `{name}` exited during the call ({how}); it is restarted at the next call"
                    ),
                    &live.stderr.text(),
                ));
            }
        }
        match outcome {
            Ok(Ok(result)) => serde_json::to_string(&result)
                .map_err(|e| format!("the result of `{tool}` cannot be read: {e}")),
            Ok(Err(e)) => Err(with_stderr(
                format!("MCP server `{name}` failed the call to `{tool}`: {e}"),
                &live.stderr.text(),
            )),
            Err(_) => Err(format!(
                "MCP tool `{tool}` on `{name}` did not answer within {} s (tool_timeout_secs) and was cancelled",
                timeout.as_secs()
            )),
        }
    }
}

/// `message`, and the server's stderr tail under it when it wrote any.
fn with_stderr(message: String, tail: &str) -> String {
    if tail.is_empty() {
        message
    } else {
        format!("{message}; its stderr ends with:\n{tail}")
    }
}

/// How long a failed call waits to see whether the server exited.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How long `wait_started` waits beyond a server's own startup timeout: it sets the
/// failure itself when the timeout passes.
pub const WAIT_MARGIN: Duration = Duration::from_millis(500);
