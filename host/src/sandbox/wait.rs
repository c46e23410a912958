//! Waiting for a command on the calling thread: one `poll` over its two output pipes and
//! what says it has ended (a pidfd of the child, or a warm namespace's status
//! connection), so its output, its exit, the deadline and Ctrl-C are all seen
//! without handing anything to other threads. On a busy machine every hand-over between
//! threads waits for a CPU; a waiter and a reader per pipe made a `true` several
//! milliseconds slower than the sandbox's own spawn.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::output::{Capture, Captured};
use super::{GRACE, signal_group};

/// How often the deadline and Ctrl-C are looked at while nothing else happens.
const TICK: Duration = Duration::from_millis(25);
/// Without a pidfd (kernels before 5.3), how often a child whose pipes are closed is
/// asked whether it has ended.
const REAP_TICK: Duration = Duration::from_millis(1);
/// One read from a pipe: as much as a pipe holds by default.
const READ_BYTES: usize = 64 * 1024;

/// How the wait ended.
pub struct Waited {
    /// `None` when the child could not be reaped.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What to watch besides the child's pipes.
pub struct Watch<'a> {
    pub deadline: Instant,
    pub cancel: Option<&'a AtomicBool>,
    /// Where each stream also goes whole.
    pub stdout_file: Option<std::fs::File>,
    pub stderr_file: Option<std::fs::File>,
}

/// One output pipe of the child, read until it closes.
struct Pipe<R> {
    reader: Option<R>,
    capture: Capture,
}

impl<R: Read + AsFd> Pipe<R> {
    fn new(reader: Option<R>, full: Option<std::fs::File>) -> Self {
        Pipe {
            reader,
            capture: Capture::new(full),
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.reader.as_ref().map(AsFd::as_fd)
    }

    /// One read, after `poll` said the pipe is readable or closed, so it does not block.
    fn read_once(&mut self, buffer: &mut [u8]) {
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        match reader.read(buffer) {
            Ok(0) => self.reader = None,
            Ok(n) => self.capture.push(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.reader = None,
        }
    }
}

/// A running command, as the wait sees it.
pub trait Process {
    /// Its stdout and stderr pipes (each taken once).
    fn take_output(&mut self) -> (Option<File>, Option<File>);
    /// Readable once it has ended; `None`: it is asked every [`REAP_TICK`].
    fn ended_fd(&self) -> Option<BorrowedFd<'_>>;
    /// `Some(status)` once it has ended (`Some(None)`: ended, status unknown), after
    /// whatever it left running has been killed.
    fn try_end(&mut self) -> Option<Option<ExitStatus>>;
    /// TERM to its process group, or with `kill` KILL to all it started.
    fn stop(&mut self, kill: bool);
}

/// A child of conch leading its own process group.
struct Local<'a> {
    child: &'a mut Child,
    group: u32,
    pidfd: Option<OwnedFd>,
}

impl Process for Local<'_> {
    fn take_output(&mut self) -> (Option<File>, Option<File>) {
        let file = |fd: Option<OwnedFd>| fd.map(File::from);
        (
            file(self.child.stdout.take().map(OwnedFd::from)),
            file(self.child.stderr.take().map(OwnedFd::from)),
        )
    }

    fn ended_fd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    fn try_end(&mut self) -> Option<Option<ExitStatus>> {
        let status = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(exit)) => Some(exit),
            // Not waitable (already reaped elsewhere): nothing more will come of it.
            Err(_) => None,
        };
        // What it left in its group would hold the pipes open.
        signal_group(self.group, libc::SIGKILL);
        Some(status)
    }

    fn stop(&mut self, kill: bool) {
        signal_group(self.group, if kill { libc::SIGKILL } else { libc::SIGTERM });
    }
}

/// Reads `child`'s piped stdout and stderr to their ends and reaps it, killing its
/// process group (TERM, then KILL after [`GRACE`]) at the deadline or when `cancel` is
/// set. When the child has ended, whatever it left running in its group is killed: it
/// would hold the pipes open, and nothing may outlive the call.
pub fn wait(child: &mut Child, watch: Watch<'_>) -> Waited {
    let group = child.id();
    let pidfd = pidfd_open(group);
    wait_for(
        &mut Local {
            child,
            group,
            pidfd,
        },
        watch,
    )
}

/// [`wait`] for any [`Process`].
pub fn wait_for(process: &mut impl Process, watch: Watch<'_>) -> Waited {
    let (stdout, stderr) = process.take_output();
    let mut stdout = Pipe::new(stdout, watch.stdout_file);
    let mut stderr = Pipe::new(stderr, watch.stderr_file);
    let mut buffer = vec![0u8; READ_BYTES];
    let (mut timed_out, mut cancelled, mut terminated_at) = (false, false, None::<Instant>);
    let mut status = None;
    let mut reaped = false;
    let polled_end = process.ended_fd().is_some();
    loop {
        if !reaped {
            // Without a descriptor to poll the process is asked directly; with one,
            // only when it is readable (below), which saves a syscall per wake-up.
            if !polled_end && let Some(ended) = process.try_end() {
                (status, reaped) = (ended, true);
            }
            let now = Instant::now();
            match terminated_at {
                None => {
                    timed_out = now >= watch.deadline;
                    cancelled = watch.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
                    if timed_out || cancelled {
                        process.stop(false);
                        terminated_at = Some(now);
                    }
                }
                Some(at) if now >= at + GRACE => process.stop(true),
                Some(_) => {}
            }
        }
        if reaped && stdout.reader.is_none() && stderr.reader.is_none() {
            break;
        }
        let timeout = match (reaped, polled_end) {
            // Only the pipes are left, and the group is dead: they close soon.
            (true, _) => None,
            (false, false) if stdout.reader.is_none() && stderr.reader.is_none() => Some(REAP_TICK),
            // Woken at the deadline itself, not up to a tick after it.
            (false, _) if terminated_at.is_none() => {
                Some(TICK.min(watch.deadline.saturating_duration_since(Instant::now())))
            }
            (false, _) => Some(TICK),
        };
        let watched_end = if reaped { None } else { process.ended_fd() };
        let ready = poll([stdout.fd(), stderr.fd(), watched_end], timeout);
        if ready[0] {
            stdout.read_once(&mut buffer);
        }
        if ready[1] {
            stderr.read_once(&mut buffer);
        }
        if ready[2]
            && let Some(ended) = process.try_end()
        {
            (status, reaped) = (ended, true);
        }
    }
    Waited {
        status,
        timed_out,
        cancelled,
        stdout: stdout.capture.finish(),
        stderr: stderr.capture.finish(),
    }
}

/// A pidfd of process `pid` (a child not yet reaped, so the pid is still its own), or
/// `None` where the kernel has none (before 5.3) or refuses it.
#[allow(unsafe_code)]
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open(2) takes a pid and flags and touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = libc::c_int::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until one of `fds` is readable or closed, or `timeout` passes (`None`: no
/// limit); says which are. An interrupted or failed poll reports none, and the caller
/// looks again.
#[allow(unsafe_code)]
fn poll(fds: [Option<BorrowedFd<'_>>; 3], timeout: Option<Duration>) -> [bool; 3] {
    let mut polled: Vec<libc::pollfd> = Vec::with_capacity(3);
    let mut slots = [None; 3];
    for (slot, fd) in fds.iter().enumerate() {
        if let Some(fd) = fd {
            slots[slot] = Some(polled.len());
            polled.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
    }
    let timeout_ms = timeout.map_or(-1, |t| {
        // Rounded up, so that a wait for the deadline does not wake just before it.
        libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
    });
    let Ok(count) = libc::nfds_t::try_from(polled.len()) else {
        return [false; 3];
    };
    // SAFETY: `polled` holds `count` initialised pollfd structs that live across the
    // call, and each descriptor is borrowed from an owner that outlives it.
    let result = unsafe { libc::poll(polled.as_mut_ptr(), count, timeout_ms) };
    let mut ready = [false; 3];
    if result > 0 {
        for (slot, index) in slots.iter().enumerate() {
            ready[slot] = index.is_some_and(|i| polled[i].revents != 0);
        }
    }
    ready
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn spawn(script: &str) -> Child {
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.spawn().expect("spawn sh")
    }

    fn watch(deadline: Duration) -> Watch<'static> {
        Watch {
            deadline: Instant::now() + deadline,
            cancel: None,
            stdout_file: None,
            stderr_file: None,
        }
    }

    #[test]
    fn both_pipes_are_read_while_either_fills() {
        // Each stream writes more than a pipe holds, alternating: a wait that read one
        // pipe to its end before the other would never return.
        let script = "i=0; while [ $i -lt 40 ]; do head -c 8192 /dev/zero | tr '\\0' o; \
                      head -c 8192 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done; exit 3";
        let mut child = spawn(script);
        let waited = wait(&mut child, watch(Duration::from_secs(60)));
        assert_eq!(waited.status.and_then(|s| s.code()), Some(3));
        assert!(!waited.timed_out && !waited.cancelled);
        assert!(waited.stdout.truncated && waited.stderr.truncated);
        assert!(waited.stdout.text.starts_with("oooo") && waited.stdout.text.ends_with("oooo"));
        assert!(waited.stderr.text.starts_with("eeee") && waited.stderr.text.ends_with("eeee"));
    }

    #[test]
    fn the_deadline_kills_the_group_and_what_it_left_running() {
        // The background sleep holds the pipes open: the wait ends only if the whole
        // group is killed.
        let mut child = spawn("sleep 30 & echo started; sleep 30");
        let waited = wait(&mut child, watch(Duration::from_millis(200)));
        assert!(waited.timed_out);
        assert_eq!(waited.status.and_then(|s| s.code()), None);
        assert_eq!(waited.stdout.text, "started\n");
    }

    #[test]
    fn cancelling_ends_the_command() {
        let cancel = AtomicBool::new(true);
        let mut child = spawn("sleep 30");
        let waited = wait(
            &mut child,
            Watch {
                cancel: Some(&cancel),
                ..watch(Duration::from_secs(60))
            },
        );
        assert!(waited.cancelled && !waited.timed_out);
        assert_eq!(waited.status.and_then(|s| s.code()), None);
    }
}
