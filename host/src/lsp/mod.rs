//! The language-server manager: the servers `[lsp]` found (configured or preset), each
//! started on first need as one instance per (server, root) — root being the nearest
//! directory with one of its markers inside the workspace — never twice at once, stopped
//! after [`IDLE`] unused, restarted at most [`MAX_RESTARTS`] times per session after a
//! crash, and only in a trusted project (a server runs the project's code: on a terminal
//! the user is asked once, at the first start, see [`Trust`]). It answers the
//! `lsp` tool's queries ([`query`]) and, after an edit is committed, reports the errors
//! the edit introduced ([`LanguageServers::after_edit`]).
//!
//! Like the MCP client, it runs on a runtime thread of its own that lives as long as this
//! value: the parent-death signal of every server follows the thread that spawned it, and
//! dropping the manager sends TERM to every server's process group, waiting for nothing.

mod connection;
pub mod position;
pub mod query;
pub mod rpc;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsp_types::{Diagnostic, DiagnosticSeverity};

use crate::config::{AfterEdit, LspServerConfig, LspSettings};
use crate::sandbox::SandboxPolicy;
use crate::sandbox::child::{ChildSpec, SandboxedChild, private_dir, terminate_group};
use connection::{Connection, Wait, with_stderr};
pub use connection::{INITIALIZE_TIMEOUT, Launched, REQUEST_TIMEOUT, language_id};

/// The built-in tool that asks the servers (offered only when one was found).
pub const TOOL: &str = "lsp";
/// Restarts of a crashed server per session.
pub const MAX_RESTARTS: u32 = 3;
/// How long an unused server keeps running.
pub const IDLE: Duration = Duration::from_secs(600);
/// At most this many new errors are shown for an edited file…
const MAX_FILE_ERRORS: usize = 20;
/// …and for this many other files.
const MAX_OTHER_FILES: usize = 5;

/// Starts a server's process for a root (the sandbox in a run; an in-process server in
/// tests). Called on the manager's runtime.
pub trait Launch: Send + Sync {
    fn launch(&self, server: &LspServerConfig, root: &Path) -> Result<Launched, String>;
}

/// Starts servers as sandboxed children: read anywhere the policy lets commands read,
/// write only their private dir (also their TMPDIR, XDG_CACHE_HOME and
/// CARGO_TARGET_DIR), no network, tools told to stay offline.
pub struct SandboxLaunch {
    pub workspace: PathBuf,
    pub policy: SandboxPolicy,
}

impl Launch for SandboxLaunch {
    fn launch(&self, server: &LspServerConfig, root: &Path) -> Result<Launched, String> {
        let private = private_dir("lsp", &server.name);
        let mut program = vec![server.program.to_string_lossy().into_owned()];
        program.extend(server.args.iter().cloned());
        let mut env: Vec<(String, String)> = vec![
            (
                "CARGO_TARGET_DIR".into(),
                private.join("target").to_string_lossy().into_owned(),
            ),
            ("CARGO_NET_OFFLINE".into(), "true".into()),
            ("GOFLAGS".into(), "-mod=mod".into()),
            ("GOPROXY".into(), "off".into()),
            ("npm_config_offline".into(), "true".into()),
            ("PIP_NO_INDEX".into(), "1".into()),
        ];
        env.extend(
            server
                .env
                .iter()
                .map(|(var, value)| (var.clone(), value.expose().to_string())),
        );
        let spec = ChildSpec {
            program,
            cwd: root.to_path_buf(),
            roots: vec![self.workspace.clone()],
            private_dir: private,
            network: false,
            mode: self.policy.mode,
            deny_read: self.policy.deny_read.clone(),
            pass_env: Vec::new(),
            env,
            write_roots: false,
        };
        let (mut child, stdin, stdout) = SandboxedChild::spawn(&spec)?;
        let group = child.group();
        let stderr = child.stderr_handle();
        let (exit_tx, exited) = tokio::sync::watch::channel(None);
        // The child lives as long as this task: it ends when the child exits, or with the
        // runtime (dropping the child sends TERM to its group).
        tokio::spawn(async move {
            let how = child.wait().await;
            let _ = exit_tx.send(Some(how));
        });
        Ok(Launched {
            input: Box::new(stdin),
            output: Box::new(stdout),
            exited,
            stderr,
            group: Some(group),
        })
    }
}

/// Where one (server, root) instance is, as `conch lsp status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not started yet, or stopped after being idle.
    Stopped,
    Starting,
    Ready,
    /// Its start failed or it exited; the reason (with its stderr).
    Failed(String),
}

/// What is known of one instance.
#[derive(Debug, Clone)]
pub struct Status {
    pub server: String,
    pub root: PathBuf,
    pub state: State,
    pub restarts: u32,
    pub last_error: Option<String>,
}

/// One (server, root) instance.
struct Slot {
    server: LspServerConfig,
    root: PathBuf,
    /// Held while starting: a second caller waits instead of starting another.
    live: tokio::sync::Mutex<Option<Arc<Connection>>>,
    status: Mutex<SlotStatus>,
}

struct SlotStatus {
    state: State,
    restarts: u32,
    last_error: Option<String>,
    last_used: Instant,
}

/// The process groups started, for the TERM when the manager goes.
type Groups = Arc<Mutex<Vec<u32>>>;

impl Slot {
    fn update<T>(&self, change: impl FnOnce(&mut SlotStatus) -> T) -> T {
        let mut status = match self.status.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut status)
    }

    fn status(&self) -> Status {
        self.update(|s| Status {
            server: self.server.name.clone(),
            root: self.root.clone(),
            state: s.state.clone(),
            restarts: s.restarts,
            last_error: s.last_error.clone(),
        })
    }

    /// The live connection: started if it is not running, restarted after a crash or a
    /// failed start at most [`MAX_RESTARTS`] times.
    async fn connection(
        &self,
        launcher: &dyn Launch,
        groups: &Groups,
        initialize_timeout: Duration,
    ) -> Result<Arc<Connection>, String> {
        let mut live = self.live.lock().await;
        self.update(|s| s.last_used = Instant::now());
        let name = &self.server.name;
        if let Some(connection) = live.as_ref() {
            if !connection.has_exited() {
                return Ok(connection.clone());
            }
            let how = connection.exited.borrow().clone().unwrap_or_default();
            let message = with_stderr(
                format!("language server `{name}` exited ({how})"),
                &connection.stderr.text(),
            );
            self.update(|s| {
                s.state = State::Failed(message.clone());
                s.last_error = Some(message);
            });
            *live = None;
        }
        let failed = self.update(|s| matches!(s.state, State::Failed(_)));
        if failed {
            let (restarts, last) = self.update(|s| (s.restarts, s.last_error.clone()));
            if restarts >= MAX_RESTARTS {
                return Err(format!(
                    "language server `{name}` stopped {} times and is not restarted again in this session; last: {}",
                    restarts + 1,
                    last.unwrap_or_default()
                ));
            }
            self.update(|s| s.restarts += 1);
            tracing::info!(server = %name, root = %self.root.display(), "restarting language server");
        }
        self.update(|s| s.state = State::Starting);
        let started = async {
            let launched = launcher.launch(&self.server, &self.root)?;
            if let (Some(group), Ok(mut all)) = (launched.group, groups.lock()) {
                all.push(group);
            }
            Connection::initialize(
                launched,
                &self.root,
                self.server.init_options.clone(),
                initialize_timeout,
            )
            .await
        };
        match started.await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                *live = Some(connection.clone());
                self.update(|s| s.state = State::Ready);
                Ok(connection)
            }
            Err(e) => {
                let message = format!("language server `{name}` cannot start: {e}");
                self.update(|s| {
                    s.state = State::Failed(message.clone());
                    s.last_error = Some(message.clone());
                });
                Err(message)
            }
        }
    }

    /// The connection if it is ready now, without waiting: `Err` says why not.
    fn ready_now(&self) -> Result<Arc<Connection>, NotReady> {
        let Ok(live) = self.live.try_lock() else {
            return Err(NotReady::Starting);
        };
        match live.as_ref() {
            Some(connection) if !connection.has_exited() => Ok(connection.clone()),
            _ => Err(NotReady::NotRunning),
        }
    }
}

/// Why a server cannot answer at once.
enum NotReady {
    Starting,
    NotRunning,
}

/// Whether the permission rules deny reading a file: places there are left out of
/// answers.
pub type DeniesRead = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// How the manager runs; the defaults are the protocol's and the issue's.
#[derive(Clone)]
pub struct Options {
    pub initialize_timeout: Duration,
    pub idle: Duration,
    /// The `read` rules (none by default).
    pub denies_read: Option<DeniesRead>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            initialize_timeout: INITIALIZE_TIMEOUT,
            idle: IDLE,
            denies_read: None,
        }
    }
}

/// Whether servers may start in the project: a server runs the project's code (build
/// scripts, proc macros, plugins of the language's tooling).
pub enum Trust {
    /// Trusted: by `--yes` or `--trust-project`, a trusted conch.toml, or the trust store.
    Granted,
    /// Not trusted, and no one to ask (headless): servers never start.
    Headless,
    /// Not trusted yet, with someone on the terminal: the closure asks (and keeps a yes)
    /// the first time a server would start; its answer holds for the session.
    Ask(Box<dyn FnOnce() -> bool + Send>),
}

/// What [`Trust`] has come to so far in the session.
enum TrustState {
    Granted,
    Headless,
    /// Asked, and the answer was no: not asked again.
    Declined,
    Ask(Box<dyn FnOnce() -> bool + Send>),
}

impl TrustState {
    fn name(&self) -> &'static str {
        match self {
            TrustState::Granted => "granted",
            TrustState::Headless => "headless",
            TrustState::Declined => "declined",
            TrustState::Ask(_) => "to ask",
        }
    }
}

/// A file an edit committed, with its text before (`None`: it is new).
#[derive(Debug, Clone)]
pub struct EditedFile {
    pub path: PathBuf,
    pub before: Option<String>,
}

/// The language servers of a run.
pub struct LanguageServers {
    settings: LspSettings,
    workspace: PathBuf,
    /// Whether servers may start (the project is trusted for them), asked at most once.
    trust: Mutex<TrustState>,
    launcher: Arc<dyn Launch>,
    options: Options,
    slots: Mutex<HashMap<(String, PathBuf), Arc<Slot>>>,
    /// One file of each kind the session asked about or edited.
    touched: Mutex<Vec<PathBuf>>,
    groups: Groups,
    runtime: tokio::runtime::Handle,
    /// Dropped with the manager: ends the runtime thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl LanguageServers {
    /// The manager for `workspace` (nothing starts until a file needs a server); `None`
    /// when no server was found.
    pub fn new(
        settings: LspSettings,
        workspace: &Path,
        trust: Trust,
        launcher: Arc<dyn Launch>,
        options: Options,
    ) -> Result<Option<Arc<Self>>, String> {
        if settings.servers.is_empty() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the language servers' runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("conch-lsp".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| format!("cannot start the language servers' thread: {e}"))?;
        let manager = Arc::new(LanguageServers {
            settings,
            workspace: workspace.to_path_buf(),
            trust: Mutex::new(match trust {
                Trust::Granted => TrustState::Granted,
                Trust::Headless => TrustState::Headless,
                Trust::Ask(ask) => TrustState::Ask(ask),
            }),
            launcher,
            options,
            slots: Mutex::new(HashMap::new()),
            touched: Mutex::new(Vec::new()),
            groups: Arc::new(Mutex::new(Vec::new())),
            runtime: handle,
            _stop: stop,
        });
        let weak = Arc::downgrade(&manager);
        manager.runtime.spawn(async move {
            let every = weak.upgrade().map_or(Duration::from_secs(30), |m| {
                (m.options.idle / 4).min(Duration::from_secs(30))
            });
            loop {
                tokio::time::sleep(every).await;
                let Some(manager) = weak.upgrade() else {
                    return;
                };
                manager.stop_idle().await;
            }
        });
        Ok(Some(manager))
    }

    pub fn settings(&self) -> &LspSettings {
        &self.settings
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Whether a `read` rule denies `path`: an answer leaves places there out.
    pub fn denies_read(&self, path: &Path) -> bool {
        self.options
            .denies_read
            .as_ref()
            .is_some_and(|denies| denies(path))
    }

    /// Every instance started so far.
    pub fn statuses(&self) -> Vec<Status> {
        let mut statuses: Vec<Status> = self
            .slots
            .lock()
            .map(|slots| slots.values().map(|slot| slot.status()).collect())
            .unwrap_or_default();
        statuses.sort_by(|a, b| (&a.server, &a.root).cmp(&(&b.server, &b.root)));
        statuses
    }

    /// The process groups of every server started (for tests of the cleanup).
    pub fn groups(&self) -> Vec<u32> {
        self.groups.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The directory a server for `path` runs in: the nearest with one of its markers,
    /// from the file's up to the workspace root (the root when none has one).
    pub fn root_for(&self, server: &LspServerConfig, path: &Path) -> PathBuf {
        let mut dir = path.parent();
        while let Some(current) = dir {
            if !current.starts_with(&self.workspace) {
                break;
            }
            if server
                .root_markers
                .iter()
                .any(|marker| current.join(marker).exists())
            {
                return current.to_path_buf();
            }
            if current == self.workspace {
                break;
            }
            dir = current.parent();
        }
        self.workspace.clone()
    }

    /// Whether `server` may start: `Err` says why not. Asks the user the first time
    /// when someone can be asked, and never again in the session.
    fn may_start(&self, server: &LspServerConfig) -> Result<(), String> {
        let mut trust = self
            .trust
            .lock()
            .map_err(|_| "the language servers' trust is unusable".to_string())?;
        // Asked here, the first time a server would start; the answer stands.
        *trust = match std::mem::replace(&mut *trust, TrustState::Declined) {
            TrustState::Ask(ask) => {
                if ask() {
                    TrustState::Granted
                } else {
                    TrustState::Declined
                }
            }
            settled => settled,
        };
        let name = &server.name;
        match &*trust {
            TrustState::Granted => Ok(()),
            TrustState::Declined => Err(format!(
                "language server `{name}` is not started: the user answered no when asked whether language servers may run in this project (they can run its code: build scripts, macros), and is not asked again in this session"
            )),
            TrustState::Headless | TrustState::Ask(_) => Err(format!(
                "language server `{name}` is not started: this project is not trusted, and a language server can run the project's code (build scripts, macros); run conch with --trust-project (or --yes) if you trust it"
            )),
        }
    }

    /// The instance of `server` for `path`, or why there is none (untrusted project).
    fn slot_for(&self, server: &LspServerConfig, path: &Path) -> Result<Arc<Slot>, String> {
        self.may_start(server)?;
        let root = self.root_for(server, path);
        let mut slots = self
            .slots
            .lock()
            .map_err(|_| "the language servers' table is unusable".to_string())?;
        let slot = slots
            .entry((server.name.clone(), root.clone()))
            .or_insert_with(|| {
                Arc::new(Slot {
                    server: server.clone(),
                    root,
                    live: tokio::sync::Mutex::new(None),
                    status: Mutex::new(SlotStatus {
                        state: State::Stopped,
                        restarts: 0,
                        last_error: None,
                        last_used: Instant::now(),
                    }),
                })
            });
        Ok(slot.clone())
    }

    /// Runs `work` on the manager's runtime and waits for it, giving up when `cancel` is
    /// set (the future is dropped, which cancels its request).
    fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
        cancel: &AtomicBool,
    ) -> Result<T, String> {
        let (done, result) = std::sync::mpsc::channel();
        let task = self.runtime.spawn(async move {
            let _ = done.send(work.await);
        });
        loop {
            match result.recv_timeout(Duration::from_millis(20)) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the language server request stopped unexpectedly".into());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if cancel.load(Ordering::Relaxed) {
                task.abort();
                return Err("the language server request was interrupted".into());
            }
        }
    }

    /// Runs `request` for its file: asks the first server serving the file that
    /// supports the operation (servers are started on first need; one that cannot start
    /// or fails is passed over for the next), or, when none declares it, the first that
    /// runs. The answer to format with [`query::render`].
    pub fn query(
        self: &Arc<Self>,
        request: query::Request,
        cancel: &AtomicBool,
    ) -> Result<query::Answer, String> {
        let servers = self.settings.servers_for(&request.path);
        if servers.is_empty() {
            return Err(self.settings.none_for(&request.path));
        }
        self.touch(&request.path);
        let slots = servers
            .into_iter()
            .map(|server| self.slot_for(server, &request.path))
            .collect::<Result<Vec<_>, _>>()?;
        let manager = self.clone();
        self.run(
            async move {
                let mut failures = Vec::new();
                let mut undeclared = None;
                for slot in slots {
                    let connection = match manager.connection(&slot).await {
                        Ok(connection) => connection,
                        Err(e) => {
                            failures.push(e);
                            continue;
                        }
                    };
                    if !query::supports(&connection.capabilities, request.operation) {
                        undeclared.get_or_insert(connection);
                        continue;
                    }
                    match query::run(&connection, request.clone()).await {
                        Ok(answer) => return Ok(answer),
                        // The same complaint from each (a symbol not on the line) once.
                        Err(e) if failures.contains(&e) => {}
                        Err(e) => failures.push(e),
                    }
                }
                match undeclared {
                    // It may have registered the method later, or answer anyway.
                    Some(connection) if failures.is_empty() => {
                        query::run(&connection, request).await
                    }
                    _ => Err(failures.join("\n")),
                }
            },
            cancel,
        )
    }

    /// `workspace_symbols` without a file: asks the servers running now, or else those
    /// for the kinds of files the session touched (started if need be); their answers,
    /// one per server.
    pub fn workspace_symbols(
        self: &Arc<Self>,
        text: &str,
        cancel: &AtomicBool,
    ) -> Result<Vec<query::Answer>, String> {
        let running: Vec<Arc<Slot>> = self
            .all_slots()
            .into_iter()
            .filter(|slot| slot.ready_now().is_ok())
            .collect();
        let slots = if running.is_empty() {
            let touched = self.touched.lock().map(|t| t.clone()).unwrap_or_default();
            let mut slots: Vec<Arc<Slot>> = Vec::new();
            for path in touched {
                for server in self.settings.servers_for(&path) {
                    let slot = self.slot_for(server, &path)?;
                    if !slots.iter().any(|s| Arc::ptr_eq(s, &slot)) {
                        slots.push(slot);
                    }
                }
            }
            slots
        } else {
            running
        };
        if slots.is_empty() {
            let kinds: Vec<String> = self
                .settings
                .servers
                .iter()
                .map(|s| format!("{} (.{})", s.name, s.extensions.join(", .")))
                .collect();
            return Err(format!(
                "no language server is running yet, so there is no language to search: give `path`, a file of the language to search; servers found: {}",
                kinds.join("; ")
            ));
        }
        let manager = self.clone();
        let text = text.to_string();
        self.run(
            async move {
                let mut answers = Vec::new();
                let mut failures = Vec::new();
                for slot in slots {
                    let asked = match manager.connection(&slot).await {
                        Ok(connection) => query::workspace_symbols(&connection, &text).await,
                        Err(e) => Err(e),
                    };
                    match asked {
                        Ok(answer) => answers.push(answer),
                        Err(e) => failures.push(e),
                    }
                }
                if answers.is_empty() {
                    Err(failures.join("\n"))
                } else {
                    Ok(answers)
                }
            },
            cancel,
        )
    }

    /// The live connection of `slot`, started (or restarted) if need be.
    async fn connection(&self, slot: &Slot) -> Result<Arc<Connection>, String> {
        slot.connection(
            self.launcher.as_ref(),
            &self.groups,
            self.options.initialize_timeout,
        )
        .await
    }

    /// Every instance so far.
    fn all_slots(&self) -> Vec<Arc<Slot>> {
        self.slots
            .lock()
            .map(|slots| slots.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Notes that the session touched a file of `path`'s kind (for `workspace_symbols`
    /// without a file).
    fn touch(&self, path: &Path) {
        if let Ok(mut touched) = self.touched.lock()
            && !touched.iter().any(|t| t.extension() == path.extension())
        {
            touched.push(path.to_path_buf());
        }
    }

    /// After an edit committed `files`: the errors it introduced, as lines for its
    /// result (`None`: nothing to say — diagnostics off, no server, or no new error).
    /// A server not running yet is started and waited for within the same budget as
    /// the diagnostics; one still starting from an earlier need, or indexing, is not
    /// waited for, and the lines say so.
    pub fn after_edit(self: &Arc<Self>, files: &[EditedFile]) -> Option<String> {
        if self.settings.after_edit == AfterEdit::Off {
            return None;
        }
        let mut notes = Vec::new();
        let mut work = Vec::new();
        for file in files {
            let servers = self.settings.servers_for(&file.path);
            if !servers.is_empty() {
                self.touch(&file.path);
            }
            for server in servers {
                let slot = match self.slot_for(server, &file.path) {
                    Ok(slot) => slot,
                    // Untrusted: the `lsp` tool says why; an edit result stays quiet.
                    Err(_) => continue,
                };
                let name = server.name.clone();
                let shown = self.shown(&file.path);
                match slot.ready_now() {
                    Ok(connection) if connection.busy() => notes.push(format!(
                        "language server `{name}` is still indexing; diagnostics for {shown} not checked"
                    )),
                    Ok(connection) => work.push((name, Pending::Ready(connection), file.clone())),
                    Err(NotReady::Starting) => notes.push(format!(
                        "language server `{name}` is still starting; diagnostics for {shown} not checked"
                    )),
                    // Given up on after its restarts: that was said once, at the edit
                    // that gave up, and `conch lsp status` shows its last error.
                    Err(NotReady::NotRunning)
                        if slot.update(|s| {
                            matches!(s.state, State::Failed(_)) && s.restarts >= MAX_RESTARTS
                        }) => {}
                    Err(NotReady::NotRunning) => {
                        // Its own task: the start goes on when the wait for it runs out.
                        // A server that failed is restarted here too (the same count as
                        // the tool's restarts).
                        let manager = self.clone();
                        let start =
                            self.runtime
                                .spawn(async move { manager.connection(&slot).await });
                        work.push((name.clone(), Pending::Starting(start), file.clone()));
                    }
                }
            }
        }
        if !work.is_empty() {
            let wait = self.settings.diagnostics_wait;
            let workspace = self.workspace.clone();
            let never = AtomicBool::new(false);
            match self.run(diagnose(work, wait, workspace), &never) {
                Ok(lines) => notes.extend(lines),
                Err(e) => notes.push(e),
            }
        }
        (!notes.is_empty()).then(|| notes.join("\n"))
    }

    /// `path` relative to the workspace when inside it.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.workspace)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Stops the instances unused for longer than the idle time.
    async fn stop_idle(&self) {
        let slots: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for slot in slots {
            let idle = slot.update(|s| s.last_used.elapsed() >= self.options.idle);
            if !idle {
                continue;
            }
            let Ok(mut live) = slot.live.try_lock() else {
                continue;
            };
            if let Some(connection) = live.take() {
                tracing::info!(server = %slot.server.name, "stopping idle language server");
                connection.shutdown().await;
                if let Some(group) = connection.group {
                    terminate_group(group);
                }
                slot.update(|s| {
                    if s.state == State::Ready {
                        s.state = State::Stopped;
                    }
                });
            }
        }
    }
}

impl std::fmt::Debug for LanguageServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageServers")
            .field("workspace", &self.workspace)
            .field("servers", &self.settings.servers.len())
            .field("trust", &self.trust.lock().map_or("unknown", |t| t.name()))
            .finish()
    }
}

impl Drop for LanguageServers {
    fn drop(&mut self) {
        // TERM now; the parent-death signal does the rest as the runtime thread or conch
        // ends. Nothing here waits.
        for group in self.groups() {
            terminate_group(group);
        }
    }
}

/// Whether a diagnostic is an error (a server that gives no severity means one).
fn is_error(d: &Diagnostic) -> bool {
    d.severity.is_none_or(|s| s == DiagnosticSeverity::ERROR)
}

/// The errors of `now` that `before` did not have, compared by message and code (an
/// edit moves lines, so positions do not say whether an error is the same).
fn new_errors<'a>(before: &[Diagnostic], now: &'a [Diagnostic]) -> Vec<&'a Diagnostic> {
    let key = |d: &Diagnostic| (d.message.clone(), format!("{:?}", d.code));
    let mut known: HashMap<(String, String), usize> = HashMap::new();
    for d in before.iter().filter(|d| is_error(d)) {
        *known.entry(key(d)).or_default() += 1;
    }
    now.iter()
        .filter(|d| is_error(d))
        .filter(|d| match known.get_mut(&key(d)) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

/// One line for a diagnostic: `path:line:col: error: message`.
fn diagnostic_line(
    shown: &str,
    text: Option<&str>,
    d: &Diagnostic,
    encoding: position::Encoding,
) -> String {
    let line_no = d.range.start.line as usize;
    let column = text
        .and_then(|t| t.lines().nth(line_no))
        .map_or(d.range.start.character + 1, |line| {
            encoding.column(line, d.range.start.character)
        });
    let source = d
        .source
        .as_deref()
        .map_or(String::new(), |s| format!(" [{s}]"));
    let message = d.message.lines().next().unwrap_or("");
    format!("{shown}:{}:{column}: error: {message}{source}", line_no + 1)
}

/// A server for an edited file: running, or being started for it.
enum Pending {
    Ready(Arc<Connection>),
    Starting(tokio::task::JoinHandle<Result<Arc<Connection>, String>>),
}

/// Syncs each edited file with each of its servers (named) and waits (all together,
/// until one deadline) for its diagnostics; lines for the errors new since each file's
/// previous state, labelled by server, and for other files whose errors the edit changed.
async fn diagnose(
    work: Vec<(String, Pending, EditedFile)>,
    wait: Duration,
    workspace: PathBuf,
) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + wait;
    let shown = |path: &Path| {
        path.strip_prefix(&workspace)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let mut lines = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for (name, pending, file) in work {
        let connection = match pending {
            Pending::Ready(connection) => connection,
            Pending::Starting(mut start) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, &mut start).await {
                    Ok(Ok(Ok(connection))) => connection,
                    Ok(Ok(Err(e))) => {
                        lines.push(e);
                        continue;
                    }
                    Ok(Err(_)) => continue,
                    Err(_) => {
                        lines.push(format!(
                            "language server `{name}` is still starting after {} s; diagnostics for {} not checked",
                            format_secs(wait),
                            shown(&file.path)
                        ));
                        continue;
                    }
                }
            }
        };
        let language = language_id(&file.path);
        let opened = connection.text_of(&file.path).is_some();
        let mut before = connection
            .diagnostics_of(&file.path)
            .map(|p| p.items)
            .unwrap_or_default();
        if !opened && let Some(text) = file.before.clone() {
            // First sight of the file: its state before the edit is the baseline.
            let (version, _) = connection.show(&file.path, &language, text)?;
            if let Wait::Ready(items) = connection
                .wait_diagnostics(&file.path, version, deadline)
                .await
            {
                before = items;
            }
        }
        let everything_before = connection.all_diagnostics();
        let (version, changed) = connection.sync(&file.path, &language)?;
        if !changed && opened {
            continue;
        }
        let now = match connection
            .wait_diagnostics(&file.path, version, deadline)
            .await
        {
            Wait::Ready(items) => items,
            Wait::NotReady => {
                lines.push(format!(
                    "diagnostics not ready after {} s for {} (language server `{name}` has not answered for this version yet)",
                    format_secs(wait),
                    shown(&file.path)
                ));
                continue;
            }
        };
        let text = connection.text_of(&file.path);
        let fresh = new_errors(&before, &now);
        if !fresh.is_empty() {
            lines.push(format!(
                "{} new error{} in {} (language server `{name}`):",
                fresh.len(),
                if fresh.len() == 1 { "" } else { "s" },
                shown(&file.path)
            ));
            for d in fresh.iter().take(MAX_FILE_ERRORS) {
                lines.push(diagnostic_line(
                    &shown(&file.path),
                    text.as_deref(),
                    d,
                    connection.encoding,
                ));
            }
            if fresh.len() > MAX_FILE_ERRORS {
                lines.push(format!("… and {} more", fresh.len() - MAX_FILE_ERRORS));
            }
        }
        for (path, published) in connection.all_diagnostics() {
            if path == file.path {
                continue;
            }
            let old = everything_before.get(&path);
            if old.is_some_and(|o| o.seq == published.seq) {
                continue;
            }
            let old_items = old.map(|o| o.items.clone()).unwrap_or_default();
            let fresh = new_errors(&old_items, &published.items);
            if let Some(first) = fresh.first() {
                let more = if fresh.len() > 1 {
                    format!(" (+{} more)", fresh.len() - 1)
                } else {
                    String::new()
                };
                others.push(format!(
                    "{}{more} (`{name}`)",
                    diagnostic_line(
                        &shown(&path),
                        connection.text_of(&path).as_deref(),
                        first,
                        connection.encoding
                    )
                ));
            }
        }
    }
    if !others.is_empty() {
        others.sort();
        lines.push("new errors in other files:".into());
        let total = others.len();
        lines.extend(others.into_iter().take(MAX_OTHER_FILES));
        if total > MAX_OTHER_FILES {
            lines.push(format!("… and {} more files", total - MAX_OTHER_FILES));
        }
    }
    Ok(lines)
}

/// `3000 ms` as `3`, `1500 ms` as `1.5`.
fn format_secs(wait: Duration) -> String {
    let secs = wait.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{}", secs as u64)
    } else {
        format!("{secs:.1}")
    }
}

#[cfg(test)]
mod tests;
