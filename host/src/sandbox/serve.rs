//! The warm namespace's server, `conch-exec --serve`: started once per layout inside
//! bwrap's namespaces, it forks a supervisor per command conch sends (see `wire`). The
//! supervisor makes the command's temp dir, forks the command — which confines itself
//! as every command does (`exec_step`: its own Landlock domain and seccomp filter) — and,
//! as the command's child subreaper, kills every process the command started when it
//! ends or conch stops it, then reports its wait status.
//!
//! Commands cannot touch the server or a supervisor: those are outside every command's
//! Landlock domain, so Landlock's signal scoping (ABI 6; conch uses this server only
//! where the kernel has it) refuses their signals and Landlock refuses their ptrace;
//! and the server is not dumpable, so its /proc files stay closed too.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use super::supervise::{kill_descendants, reap, signal_descendants};
use super::wire::{self, Request};

/// Where a command's private temp dirs are made: the namespace's own empty tmpfs.
const TEMP_PARENT: &str = "/tmp";

/// Serves requests on stdin (the control socket conch keeps the other end of) until
/// conch closes it, which ends the namespace and everything in it.
#[allow(unsafe_code)]
pub fn serve() -> Result<(), String> {
    // SAFETY: prctl and signal take plain values; conch-exec is single-threaded.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        // Supervisors are reaped by the kernel; each sets SIGCHLD back for itself.
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    let control = take_stdin()?;
    wire::send(control.as_fd(), wire::READY, &[])
        .map_err(|e| format!("cannot answer conch: {e}"))?;
    loop {
        let message = match wire::receive(control.as_fd(), wire::MOST_REQUEST_BYTES) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Other => continue,
            Err(e) => return Err(format!("cannot read a request: {e}")),
        };
        // A malformed request is dropped with its descriptors: conch sees the status
        // connection close without a status.
        let (bytes, fds) = message;
        let Ok(request) = serde_json::from_slice::<Request>(&bytes) else {
            continue;
        };
        let Ok([stdin, stdout, stderr, status]) = <[OwnedFd; wire::REQUEST_FDS]>::try_from(fds)
        else {
            continue;
        };
        // SAFETY: fork in a single-threaded process; the child runs the supervisor and
        // leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(control);
            let code = supervise_command(request, [stdin, stdout, stderr], status);
            // SAFETY: _exit ends the process without running anything else.
            unsafe { libc::_exit(code) };
        }
    }
}

/// The control socket, moved off stdin to a close-on-exec descriptor, and /dev/null in
/// its place, so that no command inherits it.
#[allow(unsafe_code)]
fn take_stdin() -> Result<OwnedFd, String> {
    // SAFETY: fcntl duplicates descriptor 0, which this process owns; the new one is ours.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(format!(
            "no control socket on stdin: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let control = unsafe { OwnedFd::from_raw_fd(fd) };
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    // SAFETY: dup2 onto descriptor 0, which stays ours.
    unsafe { libc::dup2(null.as_raw_fd(), 0) };
    Ok(control)
}

/// One command, from the supervisor's side (a fork of the server): returns the exit
/// code to leave with.
#[allow(unsafe_code)]
fn supervise_command(request: Request, stdio: [OwnedFd; 3], status: OwnedFd) -> i32 {
    if write_all(status.as_fd(), &[wire::STARTED]).is_err() {
        return 1;
    }
    let temp = match tempfile::Builder::new()
        .prefix("conch-cmd-")
        .tempdir_in(TEMP_PARENT)
    {
        Ok(temp) => temp,
        Err(e) => {
            say(
                &stdio[2],
                &format!("cannot create a temp dir for the command: {e}"),
            );
            return 1;
        }
    };
    let mut waited: libc::sigset_t;
    let mut before: libc::sigset_t;
    let signals;
    // SAFETY: plain libc calls on values we own; this process has one thread.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        libc::setpgid(0, 0);
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            say(&stdio[2], "cannot become the command's subreaper");
            return 1;
        }
        waited = std::mem::zeroed();
        before = std::mem::zeroed();
        libc::sigemptyset(&mut waited);
        libc::sigaddset(&mut waited, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &waited, &mut before);
        let fd = libc::signalfd(-1, &waited, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            say(&stdio[2], "cannot watch the command's end");
            return 1;
        }
        signals = OwnedFd::from_raw_fd(fd);
    }
    // SAFETY: fork in a single-threaded process; the child only confines itself and execs.
    let child = unsafe { libc::fork() };
    if child < 0 {
        say(&stdio[2], "cannot fork the command");
        return 1;
    }
    if child == 0 {
        // SAFETY: restoring the mask, moving the passed descriptors onto 0–2 (dup2
        // clears close-on-exec there) and a new process group: plain calls.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            for (target, fd) in stdio.iter().enumerate() {
                libc::dup2(fd.as_raw_fd(), target as libc::c_int);
            }
            libc::setpgid(0, 0);
        }
        drop(stdio);
        drop(signals);
        drop(status);
        let error = start(request, temp.path().to_path_buf());
        eprintln!("conch-exec: {error}");
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(127) };
    }
    // Here too, so that the group exists before conch can ask for a TERM to it.
    // SAFETY: setpgid on our own child.
    unsafe { libc::setpgid(child, child) };
    drop(stdio);
    let raw = watch(child, signals.as_fd(), status.as_fd());
    kill_descendants();
    drop(temp);
    if let Some(raw) = raw {
        let _ = write_all(status.as_fd(), &raw.to_le_bytes());
    }
    0
}

/// In the command's process: its working directory, environment and confinement, then
/// the program. Returns only an error.
fn start(request: Request, temp: PathBuf) -> String {
    if let Err(e) = std::env::set_current_dir(&request.cwd) {
        return format!("cannot enter {}: {e}", request.cwd.display());
    }
    let mut env = request.env;
    if !env.iter().any(|(name, _)| name == "TMPDIR") {
        env.push(("TMPDIR".into(), temp.to_string_lossy().into_owned()));
    }
    let mut writable = request.writable;
    writable.push(temp);
    super::exec_step(
        writable,
        true,
        request.network,
        &request.program,
        Some(&env),
    )
}

/// Waits for the command `child` to end, or for conch to stop it: returns its wait
/// status, or `None` when conch has gone (the caller kills the tree either way).
#[allow(unsafe_code)]
fn watch(child: libc::pid_t, signals: BorrowedFd<'_>, status: BorrowedFd<'_>) -> Option<i32> {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: status.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` holds two initialised pollfd structs that live across the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            let mut info = [0u8; 128];
            // SAFETY: reads at most 128 bytes (one signalfd_siginfo) into a local buffer.
            while unsafe { libc::read(signals.as_raw_fd(), info.as_mut_ptr().cast(), 128) } > 0 {}
            if let Some(raw) = reap(child) {
                return Some(raw);
            }
        }
        if fds[1].revents != 0 {
            let mut byte = 0u8;
            // SAFETY: reads one byte into a local.
            let read = unsafe { libc::read(status.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
            match (read, byte) {
                (1, wire::TERM) => {
                    // SAFETY: kill(2) on the command's own process group.
                    unsafe { libc::kill(-child, libc::SIGTERM) };
                }
                (1, wire::KILL) => signal_descendants(libc::SIGKILL),
                (1, _) => {}
                (r, _)
                    if r < 0
                        && std::io::Error::last_os_error().kind()
                            == std::io::ErrorKind::Interrupted => {}
                // Conch has gone, or dropped the command.
                _ => return None,
            }
        }
    }
}

/// Writes a message for the user on `fd` (the command's stderr).
fn say(fd: &OwnedFd, message: &str) {
    let _ = write_all(fd.as_fd(), format!("conch-exec: {message}\n").as_bytes());
}

#[allow(unsafe_code)]
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice; MSG_NOSIGNAL does not apply to write(2), but
        // conch-exec, a Rust program, ignores SIGPIPE.
        let written = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if written < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[written as usize..];
    }
    Ok(())
}
