//! One MCP server: its sandboxed child and the rmcp client over the child's pipes (or its
//! HTTP connection, `http.rs`), its state for `conch mcp list`, its tool list (from the cache until it lists them, then
//! followed through `notifications/tools/list_changed`), and its calls (timeout,
//! cancellation, crash, lazy restart).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientConfig, Implementation, JsonObject, Tool};
use rmcp::service::{NotificationContext, Peer, RunningService, ServiceExt};
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::watch;

use super::cache;
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
    /// Its tools (filtered by the config) as it last listed them, or as the cache kept
    /// them from an earlier run until it lists them.
    pub tools: Vec<Tool>,
    /// It was ready once in this run (a crashed server's tools stay offered: it is
    /// restarted at the next call).
    pub connected: bool,
    /// The last error, kept after a restart.
    pub last_error: Option<String>,
    /// How often it was restarted.
    pub restarts: u32,
}

/// Counts the changes to the servers' tool lists, and the re-lists in flight, so that
/// the registry knows when to look again and a request can wait for a re-list the
/// server announced.
#[derive(Default)]
pub struct ListWatch {
    /// (changes so far, re-lists in flight).
    counts: Mutex<(u64, u32)>,
    settled: Condvar,
}

impl ListWatch {
    pub fn version(&self) -> u64 {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u32)> {
        match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn changed(&self) {
        self.lock().0 += 1;
    }

    fn relisting(&self, started: bool) {
        let mut counts = self.lock();
        if started {
            counts.1 += 1;
        } else {
            counts.1 = counts.1.saturating_sub(1);
            counts.0 += 1;
            self.settled.notify_all();
        }
    }

    /// Waits until no re-list is in flight, or `deadline`.
    pub fn settle(&self, deadline: Instant) {
        let mut counts = self.lock();
        while counts.1 > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            counts = match self.settled.wait_timeout(counts, left) {
                Ok((counts, _)) => counts,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// The client side of a connection: conch's info, and what it does when the server says
/// its tools changed.
pub(super) struct Client {
    info: ClientConfig,
    server: Weak<Server>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        server.watch.relisting(true);
        let listed =
            tokio::time::timeout(server.config.startup_timeout, context.peer.list_all_tools())
                .await;
        match listed {
            Ok(Ok(tools)) => server.listed(tools, false),
            Ok(Err(e)) => {
                tracing::warn!(server = %server.config.name, "re-listing its MCP tools failed: {e}")
            }
            Err(_) => {
                tracing::warn!(server = %server.config.name, "re-listing its MCP tools timed out")
            }
        }
        server.watch.relisting(false);
    }
}

/// A live connection.
struct Live {
    peer: Peer<RoleClient>,
    /// Keeps the client's tasks running.
    _service: RunningService<RoleClient, Client>,
    /// `Some(how)` once the child exited.
    exited: watch::Receiver<Option<String>>,
    stderr: StderrTail,
}

/// One configured server.
pub struct Server {
    pub config: McpServerConfig,
    spec: ChildSpec,
    /// The key of its tool list in the cache.
    digest: String,
    status: Mutex<Status>,
    changed: Condvar,
    watch: Arc<ListWatch>,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    /// Its first start was begun (by the manager, or by a call that came first).
    attempted: AtomicBool,
    /// The first request went without it: say so when it joins (or gives up).
    pub reported_late: AtomicBool,
    /// The first request offered its cached tools without waiting: say so if it fails
    /// before it is ready.
    pub offered_from_cache: AtomicBool,
    /// What its start is waiting for, and the stderr of the child being started, for
    /// the message when the first request goes without it.
    starting: Mutex<(&'static str, StderrTail)>,
    /// Process groups of the children started, for the TERM at exit.
    groups: Mutex<Vec<u32>>,
}

impl Server {
    /// A server not started yet; `cached` is its tool list from an earlier run.
    pub fn new(
        config: McpServerConfig,
        spec: ChildSpec,
        digest: String,
        cached: Option<Vec<Tool>>,
        watch: Arc<ListWatch>,
    ) -> Self {
        let tools = cached
            .unwrap_or_default()
            .into_iter()
            .filter(|tool| config.tools.allows(&tool.name))
            .collect();
        Server {
            config,
            spec,
            digest,
            status: Mutex::new(Status {
                state: State::Starting,
                tools,
                connected: false,
                last_error: None,
                restarts: 0,
            }),
            changed: Condvar::new(),
            watch,
            live: tokio::sync::Mutex::new(None),
            attempted: AtomicBool::new(false),
            reported_late: AtomicBool::new(false),
            offered_from_cache: AtomicBool::new(false),
            starting: Mutex::new(("did not start", StderrTail::default())),
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
        self.watch.changed();
    }

    /// Whether its tools came from the cache and it has not listed them yet.
    pub fn offers_cached_list(&self) -> bool {
        let status = self.status();
        !status.connected && !status.tools.is_empty()
    }

    /// Takes `tools` as its list now (and itself as ready, if `ready`), then keeps the
    /// list for later runs: the cache file appearing means this run has the list.
    fn listed(&self, tools: Vec<Tool>, ready: bool) {
        let offered: Vec<Tool> = tools
            .iter()
            .filter(|tool| self.config.tools.allows(&tool.name))
            .cloned()
            .collect();
        // One update: whoever waits for the server sees it ready with its tools.
        self.update(|s| {
            s.tools = offered;
            if ready {
                s.state = State::Ready;
                s.connected = true;
            }
        });
        cache::store(&self.digest, &tools);
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

    /// Starts the server (the first time, from the manager's runtime), unless a call
    /// came first and started it.
    pub async fn start(self: &Arc<Self>) {
        let _ = self.connection().await;
    }

    /// Why the first request goes without it while it is still starting: what it has
    /// not answered yet, and its stderr.
    pub fn not_ready(&self) -> String {
        self.not_ready_then("going on without it (its tools join when it is ready)")
    }

    fn not_ready_then(&self, then: &str) -> String {
        let (not_yet, stderr) = match self.starting.lock() {
            Ok(starting) => starting.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        with_stderr(
            format!(
                "MCP server `{}` {not_yet} within {} s (startup_timeout_secs); {then}",
                self.config.name,
                self.config.startup_timeout.as_secs()
            ),
            &stderr.text(),
        )
    }

    /// Takes a server still starting as failed (`conch mcp list`, which does not wait
    /// for it any longer).
    pub fn give_up(&self) {
        let why = self.not_ready_then("given up");
        self.update(|s| {
            s.state = State::Failed(why.clone());
            s.last_error = Some(why);
        });
    }

    fn starting(&self, not_yet: &'static str, stderr: Option<&StderrTail>) {
        if let Ok(mut starting) = self.starting.lock() {
            starting.0 = not_yet;
            if let Some(stderr) = stderr {
                starting.1 = stderr.clone();
            }
        }
    }

    /// Starts the child, runs the MCP handshake and lists the tools, bounded by
    /// [`background_start_limit`]: the first request waits only the startup timeout, and
    /// a server ready later joins later requests.
    async fn connect(self: &Arc<Self>, slot: &mut Option<Arc<Live>>) -> Result<Arc<Live>, String> {
        if let Some(http) = &self.config.http {
            self.starting("did not answer `initialize`", None);
            let (service, tools, closed) =
                super::http::connect(&self.config, http, self.client()).await?;
            return Ok(self.went_live(slot, service, tools, closed, StderrTail::default()));
        }
        let name = &self.config.name;
        let timeout = background_start_limit(self.config.startup_timeout);
        self.starting("did not start", None);
        let (mut child, stdin, stdout) = SandboxedChild::spawn(&self.spec)
            .map_err(|e| format!("MCP server `{name}` cannot start: {e}"))?;
        if let Ok(mut groups) = self.groups.lock() {
            groups.push(child.group());
        }
        let stderr = child.stderr_handle();
        self.starting("did not answer `initialize`", Some(&stderr));
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
        let info = self.client();
        let mut exited = exit_rx.clone();
        let handshake = async {
            let service = info
                .serve((stdout, stdin))
                .await
                .map_err(|e| format!("its MCP handshake failed: {e}"))?;
            self.starting("did not list its tools (`tools/list`)", None);
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
                let not_yet = self.starting.lock().map_or("did not start", |s| s.0);
                return Err(with_stderr(
                    format!(
                        "MCP server `{name}` {not_yet} within {} s; it is not waited for any longer",
                        timeout.as_secs()
                    ),
                    &stderr.text(),
                ));
            }
        };
        Ok(self.went_live(slot, service, tools, exit_rx, stderr))
    }

    /// conch's side of the MCP session: who it is, and what it does on
    /// `notifications/tools/list_changed`.
    fn client(self: &Arc<Self>) -> Client {
        Client {
            info: ClientConfig::new(
                Default::default(),
                Implementation::new("conch", env!("CARGO_PKG_VERSION")),
            ),
            server: Arc::downgrade(self),
        }
    }

    /// Keeps a connection that finished its handshake and offers its tools.
    fn went_live(
        &self,
        slot: &mut Option<Arc<Live>>,
        service: RunningService<RoleClient, Client>,
        tools: Vec<Tool>,
        exited: watch::Receiver<Option<String>>,
        stderr: StderrTail,
    ) -> Arc<Live> {
        let live = Arc::new(Live {
            peer: service.peer().clone(),
            _service: service,
            exited,
            stderr,
        });
        *slot = Some(live.clone());
        self.listed(tools, true);
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
        if !self.attempted.swap(true, Ordering::SeqCst) {
            // The first start; a call that comes while it runs waits above, bounded by
            // the startup timeout.
            return match self.connect(&mut slot).await {
                Ok(live) => Ok(live),
                Err(e) => {
                    self.update(|s| {
                        s.state = State::Failed(e.clone());
                        s.last_error = Some(e.clone());
                    });
                    Err(e)
                }
            };
        }
        let status = self.status();
        if slot.is_none() {
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
        // A call that comes while the server starts (its tools were cached) waits for
        // it as the first request would have.
        let startup = self.config.startup_timeout;
        let live = match tokio::time::timeout(startup, self.connection()).await {
            Ok(live) => live?,
            Err(_) => return Err(self.not_ready()),
        };
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

/// How long a server may take to start in the background: longer than the first
/// request waits (its startup timeout), so that a slow server joins later requests; not
/// for ever, so that one that never answers is reported.
pub fn background_start_limit(startup: Duration) -> Duration {
    (startup * 4).max(Duration::from_secs(60))
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
