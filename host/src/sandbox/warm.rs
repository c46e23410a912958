//! Warm namespaces: one bwrap per namespace layout per run, kept running with
//! `conch-exec --serve` inside (see `serve`), which runs each command of that layout in
//! a fork of its own. bwrap's namespaces and mounts cost ~6.5 ms a command here, most of
//! a command's time (BENCHMARKS.md, "Where the OS sandbox's time goes"); a command sent
//! to a warm namespace pays only its own fork, confinement and exec.
//!
//! A layout is bwrap's arguments for the command, working directory aside, and which
//! file each bound path is: the same arguments and files, the same view, so a command's
//! view is what its own bwrap would give it. Both are looked at again for every command:
//! a protected or hidden path created since, or replaced since (git writes `.git/config`
//! by renaming a new file over it, which a running namespace's bind, made on the old
//! file, would no longer cover), makes a new layout. The server's isolation between
//! commands rests on Landlock's signal scoping, so without Landlock ABI 6 every command
//! gets its own bwrap, and so does one whose layout finds no server (a start that
//! failed, a server that died).

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::SandboxMode;
use super::wait::Process;
use super::wire::{self, Request};

/// The most warm namespaces a run keeps; a new layout's replaces the least recently used
/// (which ends once the commands it runs have).
const MOST_SERVERS: usize = 4;
/// How long a server may take to say it is up.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The Landlock ABI whose signal scoping keeps commands away from the server and from
/// each other.
const SIGNAL_SCOPING_ABI: i64 = 6;

/// A layout's key and its server, or `None` where it could not start or has died.
type Known = (Key, Option<Arc<Server>>);

/// The layouts of this run, the least recently used first.
static SERVERS: Mutex<Vec<Known>> = Mutex::new(Vec::new());

/// A running server: its bwrap, and our end of the control socket.
struct Server {
    control: OwnedFd,
    bwrap: Mutex<Child>,
}

impl Server {
    /// Whether its bwrap has ended (the server with it).
    fn exited(&self) -> bool {
        self.bwrap
            .lock()
            .map_or(true, |mut bwrap| !matches!(bwrap.try_wait(), Ok(None)))
    }
}

impl Drop for Server {
    /// Once no command uses it: ends bwrap's outer process (reaped here), then the
    /// control socket closes, and the server, seeing that, ends and its namespace with it.
    fn drop(&mut self) {
        if let Ok(bwrap) = self.bwrap.get_mut() {
            let _ = bwrap.kill();
            let _ = bwrap.wait();
        }
    }
}

/// What tells two layouts apart.
#[derive(PartialEq, Eq)]
struct Key {
    /// bwrap's arguments without the final `--chdir CWD --`.
    args: Vec<OsString>,
    /// The device and inode of each root, each protected and hidden path, and each
    /// other file a layout may bind.
    files: Vec<Option<(u64, u64)>>,
}

/// What decides a command's namespace, and what it runs.
pub(super) struct Layout<'a> {
    pub helper: &'a Path,
    pub program: &'a [String],
    pub cwd: &'a Path,
    pub roots: &'a [PathBuf],
    pub mode: SandboxMode,
    pub network: bool,
    pub deny_read: &'a [PathBuf],
}

impl Layout<'_> {
    /// The server's key.
    fn key(&self) -> Key {
        let writable_roots: &[PathBuf] = match self.mode {
            SandboxMode::WorkspaceWrite => self.roots,
            _ => &[],
        };
        let mut args = super::namespaces::bwrap_args(&super::namespaces::Layout {
            writable_roots,
            roots: self.roots,
            temp: None,
            cwd: self.cwd,
            network: self.network,
            deny_read: self.deny_read,
            helper: self.helper,
            program: self
                .program
                .first()
                .map(Path::new)
                .filter(|p| p.is_absolute() && p.is_file()),
        });
        args.truncate(args.len().saturating_sub(3));
        // Where a path is bound only in some layouts (the resolver's file, a program under
        // /tmp), it is here in all: a few more stats are cheaper than knowing which.
        let maybe_bound = [
            Some(Path::new("/etc/resolv.conf")),
            Some(self.helper),
            self.program.first().map(Path::new),
        ];
        let bound = self
            .roots
            .iter()
            .cloned()
            .chain(super::protected(self.roots))
            .chain(super::hidden(self.deny_read))
            .chain(maybe_bound.into_iter().flatten().map(Path::to_path_buf));
        let files = bound
            .map(|path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())))
            .collect();
        Key { args, files }
    }
}

/// Whether commands in `mode` can use warm namespaces on this machine (namespaces
/// themselves aside).
pub(super) fn usable(mode: SandboxMode) -> bool {
    mode != SandboxMode::Off && super::landlock_abi() >= SIGNAL_SCOPING_ABI
}

/// Starts the server for `layout` if it has none yet (the run's start calls this ahead of
/// its first command); whether one is up.
pub(super) fn prepare(bwrap: &Path, layout: &Layout<'_>) -> bool {
    server(bwrap, layout).is_some()
}

/// The server of `layout`, started if the layout is new and there is room.
fn server(bwrap: &Path, layout: &Layout<'_>) -> Option<Arc<Server>> {
    let key = layout.key();
    let Ok(mut servers) = SERVERS.lock() else {
        return None;
    };
    if let Some(at) = servers.iter().position(|(k, _)| *k == key) {
        let known = servers.remove(at);
        let server = known.1.clone();
        servers.push(known);
        return server;
    }
    if servers.len() >= MOST_SERVERS {
        servers.remove(0);
    }
    let server = match start(bwrap, layout, &key.args) {
        Ok(server) => Some(Arc::new(server)),
        Err(why) => {
            tracing::debug!("no warm namespace, each command gets its own bwrap: {why}");
            None
        }
    };
    servers.push((key, server.clone()));
    server
}

/// Forgets `dead`: its layout's commands get their own bwrap from now on; it is stopped
/// when the last command that holds it lets go.
fn bury(dead: &Arc<Server>, why: &str) {
    tracing::debug!("the warm namespace has stopped ({why}); each command gets its own bwrap");
    if let Ok(mut servers) = SERVERS.lock() {
        for (_, server) in servers.iter_mut() {
            if server.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
                *server = None;
            }
        }
    }
}

/// bwrap with `key`, running `conch-exec --serve` in `layout.cwd`, once it has said it
/// is up. No `--die-with-parent`: that follows the thread that spawned bwrap, which may
/// end before the run; the server ends when the run closes the control socket, however
/// the run ends.
fn start(bwrap: &Path, layout: &Layout<'_>, key: &[OsString]) -> Result<Server, String> {
    let started = std::time::Instant::now();
    let (ours, theirs) =
        wire::socket_pair(libc::SOCK_SEQPACKET).map_err(|e| format!("no control socket: {e}"))?;
    let mut command = Command::new(bwrap);
    command
        .args(
            key.iter()
                .filter(|arg| arg.to_str() != Some("--die-with-parent")),
        )
        .arg("--chdir")
        .arg(layout.cwd)
        .arg("--")
        .arg(layout.helper)
        .arg("--serve")
        .env_clear()
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own group: Ctrl-C at the terminal is conch's to handle, not the server's.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start bwrap: {e}"))?;
    // The spawned command holds the only other copy of `theirs` now.
    drop(command);
    let answered = readable(ours.as_fd(), START_TIMEOUT)
        && matches!(
            wire::receive(ours.as_fd(), wire::READY.len() + 1),
            Ok(Some((ref bytes, _))) if bytes == wire::READY
        );
    if !answered {
        let _ = child.kill();
        let status = child.wait();
        return Err(format!("the server did not start ({status:?})"));
    }
    tracing::debug!(elapsed = ?started.elapsed(), "warm namespace ready");
    Ok(Server {
        control: ours,
        bwrap: Mutex::new(child),
    })
}

/// A command running in a warm namespace, as [`super::wait`] sees it.
pub(super) struct Running {
    /// Kept so that the server outlives the command.
    _server: Arc<Server>,
    status: File,
    stdout: Option<File>,
    stderr: Option<File>,
}

/// Sends the command of `layout` (bwrap at `bwrap`; its environment `env`, writable `writable` beside its
/// own temp dir) to its layout's server; `None` when it has none, or the server cannot
/// take it: the caller gives it its own bwrap.
pub(super) fn spawn(
    bwrap: &Path,
    layout: &Layout<'_>,
    env: Vec<(OsString, OsString)>,
    writable: Vec<PathBuf>,
) -> Option<Running> {
    let env = env
        .into_iter()
        .map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect::<Option<Vec<_>>>()?;
    let request = Request {
        program: layout.program.to_vec(),
        cwd: layout.cwd.to_path_buf(),
        env,
        writable,
        network: layout.network,
    };
    let bytes = serde_json::to_vec(&request).ok()?;
    if bytes.len() > wire::MOST_REQUEST_BYTES {
        return None;
    }
    let server = server(bwrap, layout)?;
    let stdin = File::open("/dev/null").ok()?;
    let (stdout_read, stdout_write) = wire::pipe().ok()?;
    let (stderr_read, stderr_write) = wire::pipe().ok()?;
    let (status, theirs) = wire::socket_pair(libc::SOCK_STREAM).ok()?;
    if server.exited() {
        bury(&server, "its bwrap has exited");
        return None;
    }
    let fds = [
        stdin.as_fd(),
        stdout_write.as_fd(),
        stderr_write.as_fd(),
        theirs.as_fd(),
    ];
    let sent = wire::send(server.control.as_fd(), &bytes, &fds);
    drop((stdin, stdout_write, stderr_write, theirs));
    match sent {
        Ok(()) => {}
        // Too large for the socket: this command alone goes without.
        Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => return None,
        Err(e) => {
            bury(&server, &e.to_string());
            return None;
        }
    }
    let mut status = File::from(status);
    let mut started = [0u8; 1];
    let taken = readable(status.as_fd(), START_TIMEOUT)
        && status.read_exact(&mut started).is_ok()
        && started[0] == wire::STARTED;
    if !taken {
        bury(&server, "it did not take a command");
        return None;
    }
    Some(Running {
        _server: server,
        status,
        stdout: Some(File::from(stdout_read)),
        stderr: Some(File::from(stderr_read)),
    })
}

impl Process for Running {
    fn take_output(&mut self) -> (Option<File>, Option<File>) {
        (self.stdout.take(), self.stderr.take())
    }

    fn ended_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.status.as_fd())
    }

    fn try_end(&mut self) -> Option<Option<ExitStatus>> {
        let mut raw = [0u8; 4];
        // The supervisor writes the status whole, after the command's tree is dead; a
        // close without it (the server gone) ends the wait without one.
        match self.status.read_exact(&mut raw) {
            Ok(()) => Some(Some(ExitStatus::from_raw(i32::from_le_bytes(raw)))),
            Err(_) => Some(None),
        }
    }

    fn stop(&mut self, kill: bool) {
        let byte = if kill { wire::KILL } else { wire::TERM };
        // A closed peer (the command has ended) is fine.
        let _ = wire::send(self.status.as_fd(), &[byte], &[]);
    }
}

/// Whether `fd` becomes readable (or closed) within `timeout`.
#[allow(unsafe_code)]
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut polled = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one initialised pollfd that lives across the call.
    unsafe { libc::poll(&mut polled, 1, ms) > 0 }
}
