//! The fallback's tree kill: without a PID namespace, `conch-exec` stays as a small
//! supervisor (a child subreaper) between conch and the command, so that whatever the
//! command starts — `setsid` and double forks included — is killed when the command
//! ends, or when conch stops it. The warm namespace's supervisors (`serve`) kill a
//! command's tree with the same parts.

use std::collections::HashMap;

/// Signals that stop the supervisor (conch's TERM at a deadline or Ctrl-C, a hangup);
/// it kills the tree before it goes.
const STOPS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Forks; the child runs `start` (confine, exec: it returns only an error), the parent
/// waits and kills every remaining descendant when the child ends or a stop signal
/// comes. Returns the exit code to leave with.
#[allow(unsafe_code)]
pub fn supervise(start: impl FnOnce() -> String) -> Result<u8, String> {
    // SAFETY: the calls below are plain libc calls on values we own: a signal set on the
    // stack, prctl flags, fork in a single-threaded process (conch-exec has no other
    // thread), waitpid. The child only runs `start`, then _exit.
    unsafe {
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            return Err(format!(
                "cannot become a subreaper: {}",
                std::io::Error::last_os_error()
            ));
        }
        // conch going away counts as a stop.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        let mut waited: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut waited);
        libc::sigaddset(&mut waited, libc::SIGCHLD);
        for signal in STOPS {
            libc::sigaddset(&mut waited, signal);
        }
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &waited, &mut before);
        let child = libc::fork();
        if child < 0 {
            return Err(format!("cannot fork: {}", std::io::Error::last_os_error()));
        }
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            let error = start();
            eprintln!("conch-exec: {error}");
            libc::_exit(127);
        }
        let code = loop {
            let signal = libc::sigwaitinfo(&waited, std::ptr::null_mut());
            if STOPS.contains(&signal) {
                break 128 + signal;
            }
            if let Some(status) = reap(child) {
                break if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
            }
        };
        kill_descendants();
        Ok(u8::try_from(code).unwrap_or(1))
    }
}

/// Reaps the children that have ended; the wait status of `child` once it has.
#[allow(unsafe_code)]
pub(super) fn reap(child: libc::pid_t) -> Option<i32> {
    let mut code = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes into `status`, a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return code;
        }
        if pid == child {
            code = Some(status);
        }
    }
}

/// SIGKILLs every descendant of this process until none is left. A process that forks
/// between the scan and the kill leaves an orphan, which comes back to us (we are its
/// subreaper) and is found by the next round.
#[allow(unsafe_code)]
pub(super) fn kill_descendants() {
    loop {
        signal_descendants(libc::SIGKILL);
        let mut status = 0;
        // SAFETY: waitpid writes into `status`, a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return; // ECHILD: nothing left.
        }
    }
}

/// Sends `signal` to every descendant of this process found in one scan of /proc.
#[allow(unsafe_code)]
pub(super) fn signal_descendants(signal: libc::c_int) {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    for pid in descendants(me) {
        // SAFETY: kill(2) touches no memory; the pid is a descendant of ours.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The processes below `root`, from /proc.
fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let mut children: HashMap<libc::pid_t, Vec<libc::pid_t>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        // The fields after the command name, which may itself hold spaces and ')'.
        let Some(parent) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let rest = stat.rsplit_once(')')?.1.to_string();
                rest.split_whitespace().nth(1)?.parse::<libc::pid_t>().ok()
            })
        else {
            continue;
        };
        children.entry(parent).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            next.push(child);
        }
    }
    found
}
