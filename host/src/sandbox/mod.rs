//! Running a command for a tool: `sh -c` in its own process group, stdin from /dev/null,
//! a scrubbed environment, a deadline (and Ctrl-C) that kill the whole group, output
//! capped for the model; on Linux confined by Landlock (writes only in the workspace
//! roots and a private temp dir) and a seccomp filter (no network), unless turned off.

mod confine;
mod output;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use confine::{Confinement, confine_self, landlock_available};
pub use output::Captured;

/// A command's deadline when the tool asks for none, and the most it may ask for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Between TERM and KILL.
const GRACE: Duration = Duration::from_secs(2);

/// The variables a command inherits from conch's environment; everything else (API
/// keys above all) stays out.
const ENV_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "CARGO_HOME",
    "RUSTUP_HOME",
];

/// How much a command may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Read anywhere, write inside the workspace roots and a private temp dir.
    WorkspaceWrite,
    /// Read anywhere, write only the private temp dir.
    ReadOnly,
    /// No confinement (the network setting still applies).
    Off,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::Off => "off",
        }
    }
}

/// The sandbox settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// Whether commands may open network sockets.
    pub network: bool,
    /// Variables passed to commands beside the built-in allowlist (`[sandbox] env`).
    pub pass_env: Vec<String>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
            network: false,
            pass_env: Vec::new(),
        }
    }
}

/// One command to run.
pub struct CommandRequest<'a> {
    pub command: &'a str,
    pub cwd: &'a Path,
    pub roots: &'a [PathBuf],
    pub timeout: Duration,
    pub env: &'a [(String, String)],
    pub policy: &'a SandboxPolicy,
    /// Where the full output is kept (the session's directory), if anywhere.
    pub output_dir: Option<&'a Path>,
    /// Set when the user interrupts: the group is killed.
    pub cancel: Option<&'a AtomicBool>,
}

/// How a command ended.
#[derive(Debug)]
pub struct Completed {
    /// `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// Runs `request`; `Err` says why it could not start (written for the model).
pub fn run(request: &CommandRequest<'_>) -> Result<Completed, String> {
    let started = Instant::now();
    if !request
        .roots
        .iter()
        .any(|root| request.cwd.starts_with(root))
    {
        return Err(format!(
            "the working directory {} is outside the workspace",
            request.cwd.display()
        ));
    }
    let temp = tempfile::Builder::new()
        .prefix("conch-cmd-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir for the command: {e}"))?;
    let shell = if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let writable = match request.policy.mode {
        SandboxMode::Off => None,
        mode => {
            if !landlock_available() {
                return Err(
                    "this kernel does not enforce Landlock, so the command cannot be sandboxed; \
                     the user can run commands unconfined with `--sandbox off` (or `[sandbox] mode = \"off\"` in conch.toml)"
                        .into(),
                );
            }
            let mut writable = vec![temp.path().to_path_buf(), PathBuf::from("/dev/null")];
            if mode == SandboxMode::WorkspaceWrite {
                writable.extend(request.roots.iter().cloned());
            }
            Some(writable)
        }
    };
    // A confined command starts through `conch-exec`, which confines itself and execs
    // the shell: conch never forks its own (large) address space for a command.
    let mut command = if writable.is_some() || !request.policy.network {
        let mut command = Command::new(exec_helper()?);
        for dir in writable.iter().flatten() {
            command.arg("--write").arg(dir);
        }
        if writable.is_none() {
            command.arg("--no-landlock");
        }
        if request.policy.network {
            command.arg("--network");
        }
        command.arg("--").arg(shell);
        command
    } else {
        Command::new(shell)
    };
    command
        .arg("-c")
        .arg(request.command)
        .current_dir(request.cwd)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let passed = ENV_ALLOWLIST
        .iter()
        .copied()
        .chain(request.policy.pass_env.iter().map(String::as_str));
    for name in passed {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.env("TMPDIR", temp.path());
    for (name, value) in request.env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {shell}: {e}"))?;
    let group = child.id();
    let full = |stream: &str| {
        request.output_dir.and_then(|dir| {
            std::fs::create_dir_all(dir).ok()?;
            tempfile::Builder::new()
                .prefix(&format!("{stream}-"))
                .suffix(".txt")
                .tempfile_in(dir)
                .ok()?
                .keep()
                .ok()
                .map(|(file, _)| file)
        })
    };
    let stdout = child.stdout.take().map(|s| {
        let file = full("stdout");
        std::thread::spawn(move || output::capture(s, file))
    });
    let stderr = child.stderr.take().map(|s| {
        let file = full("stderr");
        std::thread::spawn(move || output::capture(s, file))
    });
    let (done, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let deadline = started + request.timeout.min(MAX_TIMEOUT);
    let (mut timed_out, mut cancelled, mut terminated_at) = (false, false, None::<Instant>);
    let status = loop {
        match exited.recv_timeout(Duration::from_millis(25)) {
            Ok(status) => break status.ok(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if terminated_at.is_none() {
            timed_out = now >= deadline;
            cancelled = request.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
            if timed_out || cancelled {
                signal_group(group, libc::SIGTERM);
                terminated_at = Some(now);
            }
        } else if terminated_at.is_some_and(|at| now >= at + GRACE) {
            signal_group(group, libc::SIGKILL);
        }
    };
    // Whatever the command left running in the background goes with it: it would hold
    // the output pipes open, and nothing may outlive the call.
    signal_group(group, libc::SIGKILL);
    let join = |reader: Option<std::thread::JoinHandle<Captured>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    Ok(Completed {
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        cancelled,
        stdout: join(stdout),
        stderr: join(stderr),
        duration: started.elapsed(),
    })
}

/// A child's process group, killed (SIGKILL) when this is dropped: nothing a child
/// started outlives the call that started it, however that call ends.
pub struct ProcessGroup(u32);

impl ProcessGroup {
    /// The group led by `leader` (a child spawned with `process_group(0)`).
    pub fn new(leader: u32) -> Self {
        ProcessGroup(leader)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
    }
}

/// Sends `signal` to the process group `group` (the command's: it leads its own).
#[allow(unsafe_code)]
fn signal_group(group: u32, signal: libc::c_int) {
    let Ok(group) = libc::pid_t::try_from(group) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group; it touches no
    // memory. The group is the command's own (process_group(0) at spawn), so nothing
    // else of ours is in it. ESRCH (already gone) is fine.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// The `conch-exec` binary installed beside this one.
fn exec_helper() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the conch binary: {e}"))?;
    let helper = exe.with_file_name(format!("conch-exec{}", std::env::consts::EXE_SUFFIX));
    if helper.is_file() {
        Ok(helper)
    } else {
        Err(format!(
            "{} is missing; it is installed with conch and starts sandboxed commands",
            helper.display()
        ))
    }
}

/// What `conch-exec` does: confines this process, then replaces it with the program.
/// Returns (the error) only on failure.
pub fn exec_step(
    writable: Vec<PathBuf>,
    landlock: bool,
    network: bool,
    program: &[String],
) -> String {
    let confinement = Confinement {
        writable: landlock.then_some(writable),
        network,
    };
    if let Err(e) = confine_self(&confinement) {
        return e;
    }
    let Some((program, args)) = program.split_first() else {
        return "no command to run".into();
    };
    let error = std::os::unix::process::CommandExt::exec(Command::new(program).args(args));
    format!("cannot run {program}: {error}")
}
