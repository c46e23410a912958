//! Running a command for a tool: `bash -c` (or an argv as given) in its own process
//! group, stdin from /dev/null, a scrubbed environment, a deadline (and Ctrl-C) that kill
//! the whole group, output capped for the model. Unless turned off it is confined in two
//! layers: namespaces set up by bubblewrap (its own view of the file system, processes,
//! network; see `namespaces`), and inside them `conch-exec`'s Landlock ruleset (writes
//! only in the workspace roots and a private temp dir) and seccomp filter (no network).
//! A run keeps one warm namespace per layout (`warm`) and sends its commands there, so
//! that bwrap's set-up is paid once rather than per command.

pub mod child;
mod confine;
mod namespaces;
mod output;
mod serve;
mod supervise;
mod wait;
mod warm;
mod wire;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use confine::{Confinement, confine_self, landlock_abi, landlock_available};
pub use namespaces::{NAMESPACES_ENV, Namespaces, hidden, namespaces, protected};
pub use output::Captured;
pub use serve::serve;
pub use supervise::supervise;

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
    /// Paths commands cannot read, beside the built-in list (`~/.ssh`, `~/.aws`, …,
    /// conch's own config and data); enforced by the namespace layer.
    pub deny_read: Vec<PathBuf>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
            network: false,
            pass_env: Vec::new(),
            deny_read: Vec::new(),
        }
    }
}

/// What a command runs.
#[derive(Debug, Clone, Copy)]
pub enum Program<'a> {
    /// A command line for the shell, `bash -c LINE`: what the bash tool sends.
    Shell(&'a str),
    /// A program and its arguments, exec'd as given (`conch sandbox -- PROGRAM ARGS…`).
    Argv(&'a [String]),
}

/// One command to run.
pub struct CommandRequest<'a> {
    pub command: Program<'a>,
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
    let program: Vec<String> = match request.command {
        Program::Shell(line) => vec![shell().into(), "-c".into(), line.into()],
        Program::Argv(argv) => argv.to_vec(),
    };
    let Some(name) = program.first().cloned() else {
        return Err("no command to run".into());
    };
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
    let watch = wait::Watch {
        deadline: started + request.timeout.min(MAX_TIMEOUT),
        cancel: request.cancel,
        stdout_file: full("stdout"),
        stderr_file: full("stderr"),
    };
    let waited = match in_warm_namespace(request, &program) {
        Some(mut running) => wait::wait_for(&mut running, watch),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("conch-cmd-")
                .tempdir()
                .map_err(|e| format!("cannot create a temp dir for the command: {e}"))?;
            let mut command = confined_command(&Confined {
                program: &program,
                cwd: request.cwd,
                roots: request.roots,
                mode: request.policy.mode,
                network: request.policy.network,
                deny_read: &request.policy.deny_read,
                private_dir: temp.path(),
                pass_env: &request.policy.pass_env,
                env: request.env,
            })?;
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command
                .spawn()
                .map_err(|e| format!("cannot start {name}: {e}"))?;
            wait::wait(&mut child, watch)
        }
    };
    Ok(Completed {
        exit_code: waited.status.and_then(|s| s.code()),
        timed_out: waited.timed_out,
        cancelled: waited.cancelled,
        stdout: waited.stdout,
        stderr: waited.stderr,
        duration: started.elapsed(),
    })
}

/// Whether commands in `mode` run in a warm namespace on this machine (probes
/// namespaces if that has not been done).
pub fn warm_namespaces(mode: SandboxMode) -> bool {
    warm::usable(mode) && matches!(namespaces(), Namespaces::Available(_))
}

/// The shell of `Program::Shell`.
fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// Starts `request`'s command in its layout's warm namespace; `None` when it has to get
/// its own bwrap (no namespaces, no Landlock signal scoping, no server for the layout).
fn in_warm_namespace(request: &CommandRequest<'_>, program: &[String]) -> Option<warm::Running> {
    let policy = request.policy;
    if !warm::usable(policy.mode) {
        return None;
    }
    let helper = exec_helper().ok()?;
    let layout = warm::Layout {
        helper: &helper,
        program,
        cwd: request.cwd,
        roots: request.roots,
        mode: policy.mode,
        network: policy.network,
        deny_read: &policy.deny_read,
    };
    // Where nothing has probed namespaces yet (`conch tool`, `conch sandbox`), starting
    // this command's server is the probe, rather than a run of `true` before it.
    let state = namespaces::namespaces_probed_by(|bwrap| warm::prepare(bwrap, &layout));
    let Namespaces::Available(bwrap) = state else {
        return None;
    };
    let mut writable = vec![PathBuf::from("/dev/null")];
    if policy.mode == SandboxMode::WorkspaceWrite {
        writable.extend(request.roots.iter().cloned());
    }
    warm::spawn(
        bwrap,
        &layout,
        command_env(&policy.pass_env, request.env, None),
        writable,
    )
}

/// Starts finding out, on a background thread, whether commands can run in namespaces,
/// so that the first command of a run does not wait for it: a run calls this as it
/// starts, while its first request is on its way. The probe is the start of the run's
/// warm namespace for shell commands in `cwd` (or, where there can be none, a run of
/// `true` in the namespaces). Nothing when commands run unconfined.
pub fn probe_ahead(policy: &SandboxPolicy, roots: &[PathBuf], cwd: &Path) {
    if policy.mode == SandboxMode::Off {
        return;
    }
    let (policy, roots, cwd) = (policy.clone(), roots.to_vec(), cwd.to_path_buf());
    let spawned = std::thread::Builder::new()
        .name("conch-sandbox-probe".into())
        .spawn(move || {
            let Ok(helper) = exec_helper() else {
                namespaces();
                return;
            };
            let shell = [shell().to_string()];
            let layout = warm::Layout {
                helper: &helper,
                program: &shell,
                cwd: &cwd,
                roots: &roots,
                mode: policy.mode,
                network: policy.network,
                deny_read: &policy.deny_read,
            };
            let warm_up = |bwrap: &Path| warm::usable(policy.mode) && warm::prepare(bwrap, &layout);
            let mut probed = false;
            let state = namespaces::namespaces_probed_by(|bwrap| {
                probed = true;
                warm_up(bwrap)
            });
            if !probed && let Namespaces::Available(bwrap) = state {
                warm_up(bwrap);
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("no thread to probe the sandbox ahead: {e}");
    }
}

/// What a confined program is: shared by a command's run and a long-lived child
/// (`child`), so both get the same confinement.
pub(crate) struct Confined<'a> {
    /// The program and its arguments.
    pub program: &'a [String],
    pub cwd: &'a Path,
    pub roots: &'a [PathBuf],
    /// `WorkspaceWrite` makes the roots writable; `ReadOnly` leaves only `private_dir`.
    pub mode: SandboxMode,
    pub network: bool,
    pub deny_read: &'a [PathBuf],
    /// Writable, and the program's TMPDIR.
    pub private_dir: &'a Path,
    /// Passed from conch's environment beside [`ENV_ALLOWLIST`].
    pub pass_env: &'a [String],
    /// Set on top.
    pub env: &'a [(String, String)],
}

/// The process to spawn for `confined`: bubblewrap's namespaces and `conch-exec` around
/// the program (or what the mode and this machine allow), its own process group, a
/// scrubbed environment. The caller sets stdio.
pub(crate) fn confined_command(confined: &Confined<'_>) -> Result<Command, String> {
    let Some((name, args)) = confined.program.split_first() else {
        return Err("no command to run".into());
    };
    // Probed only when a command is to be confined: `--sandbox off` never pays for it.
    let bwrap = match confined.mode {
        SandboxMode::Off => None,
        _ => match namespaces() {
            Namespaces::Available(bwrap) => Some(bwrap),
            Namespaces::Unavailable(why) => {
                say_fallback_once(why);
                None
            }
        },
    };
    let writable = match confined.mode {
        SandboxMode::Off => None,
        mode => {
            if !landlock_available() && bwrap.is_none() {
                return Err(
                    "this kernel does not enforce Landlock, so the command cannot be sandboxed; \
                     the user can run commands unconfined with `--sandbox off` (or `[sandbox] mode = \"off\"` in conch.toml)"
                        .into(),
                );
            }
            let mut writable = vec![
                confined.private_dir.to_path_buf(),
                PathBuf::from("/dev/null"),
            ];
            if mode == SandboxMode::WorkspaceWrite {
                writable.extend(confined.roots.iter().cloned());
            }
            Some(writable)
        }
    };
    // A confined command starts through `conch-exec`, which confines itself and execs
    // the program: conch never forks its own (large) address space for a command. With
    // namespaces, bwrap starts `conch-exec` inside them.
    let mut command = if writable.is_some() || !confined.network {
        let helper = exec_helper()?;
        let mut command = match bwrap {
            Some(bwrap) => {
                let writable_roots: &[PathBuf] = match confined.mode {
                    SandboxMode::WorkspaceWrite => confined.roots,
                    _ => &[],
                };
                let mut command = Command::new(bwrap);
                command.args(namespaces::bwrap_args(&namespaces::Layout {
                    writable_roots,
                    roots: confined.roots,
                    temp: Some(confined.private_dir),
                    cwd: confined.cwd,
                    network: confined.network,
                    deny_read: confined.deny_read,
                    helper: &helper,
                    program: Some(Path::new(name)).filter(|p| p.is_absolute() && p.is_file()),
                }));
                command.arg(&helper);
                command
            }
            None => Command::new(&helper),
        };
        for dir in writable.iter().flatten() {
            command.arg("--write").arg(dir);
        }
        if writable.is_none() || !landlock_available() {
            command.arg("--no-landlock");
        }
        if confined.network {
            command.arg("--network");
        }
        if bwrap.is_none() {
            // Without a PID namespace, the tree kill is conch-exec's job.
            command.arg("--supervise");
        }
        command.arg("--").args(confined.program);
        command
    } else {
        let mut command = Command::new(name);
        command.args(args);
        command
    };
    command.current_dir(confined.cwd).env_clear();
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.envs(command_env(
        confined.pass_env,
        confined.env,
        Some(confined.private_dir),
    ));
    // The program and its arguments only: the environment may hold what `pass_env` let
    // through (tokens), which has no place in a log.
    tracing::debug!(
        program = ?command.get_program(),
        args = ?command.get_args().collect::<Vec<_>>(),
        "confined command"
    );
    Ok(command)
}

/// A command's environment, in order (a later value wins): the allowlist and `pass_env`
/// from conch's, TMPDIR (when given; a warm namespace sets it inside), then `env`.
fn command_env(
    pass_env: &[String],
    env: &[(String, String)],
    temp: Option<&Path>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let passed = ENV_ALLOWLIST
        .iter()
        .copied()
        .chain(pass_env.iter().map(String::as_str));
    let mut all: Vec<(std::ffi::OsString, std::ffi::OsString)> = passed
        .filter_map(|name| Some((name.into(), std::env::var_os(name)?)))
        .collect();
    all.extend(temp.map(|temp| ("TMPDIR".into(), temp.into())));
    all.extend(env.iter().map(|(n, v)| (n.into(), v.into())));
    all
}

/// What this machine enforces for commands under `policy`, one line each, for
/// `conch sandbox --check`.
pub fn enforced(policy: &SandboxPolicy, roots: &[PathBuf]) -> Vec<String> {
    let network = if policy.network { "on" } else { "off" };
    let mut lines = vec![format!("mode: {}, network {network}", policy.mode.as_str())];
    if policy.mode == SandboxMode::Off {
        lines.push("commands run unconfined (mode off): nothing below applies".into());
    }
    let namespaced = match namespaces() {
        Namespaces::Available(bwrap) => {
            lines.push(format!(
                "namespaces: yes ({}: user, mount, PID, IPC, UTS{} namespaces; no capabilities; \
                 / read-only; private /tmp and /run; a fresh /proc)",
                bwrap.display(),
                if policy.network { "" } else { ", network" }
            ));
            true
        }
        Namespaces::Unavailable(why) => {
            lines.push(format!("namespaces: no ({why})"));
            false
        }
    };
    let abi = landlock_abi();
    lines.push(if abi > 0 {
        format!("landlock: ABI {abi} (writes only in the workspace roots and a private temp dir)")
    } else {
        "landlock: no (this kernel does not enforce it)".into()
    });
    let mut scopes = Vec::new();
    if abi >= 6 {
        scopes.extend(["signals", "abstract Unix sockets"]);
    }
    if abi >= 9 {
        scopes.push("Unix socket paths");
    }
    lines.push(format!(
        "landlock scopes: {}",
        if scopes.is_empty() {
            "none (signals and abstract sockets need ABI 6)".to_string()
        } else {
            scopes.join(", ")
        }
    ));
    lines.push(format!(
        "seccomp: {}",
        if policy.network {
            "terminal input injection (TIOCSTI) refused; network allowed"
        } else {
            "terminal input injection (TIOCSTI) refused; sockets other than Unix refused"
        }
    ));
    lines.push(format!(
        "tree kill: {}",
        if namespaced && warm_namespaces(policy.mode) {
            "one warm namespace per layout, a subreaper per command kills all it started when it ends"
        } else if namespaced {
            "the PID namespace ends with the command"
        } else {
            "conch-exec stays as the command's subreaper and kills what is left"
        }
    ));
    let list = |paths: Vec<PathBuf>| match paths.is_empty() {
        true => "(none here)".to_string(),
        false => paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    if namespaced {
        lines.push(format!("hidden: {}", list(hidden(&policy.deny_read))));
        lines.push(format!(
            "read-only in the workspace: {}",
            list(protected(roots))
        ));
    } else {
        lines.push("hidden: nothing (needs namespaces)".into());
        lines.push("read-only in the workspace: nothing (needs namespaces)".into());
    }
    lines
}

/// Says on stderr, once per run, that commands run without namespaces and what that
/// leaves open.
fn say_fallback_once(why: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!(
            "conch: commands run without namespaces ({why}). Landlock and seccomp still keep \
             writes inside the workspace and the network off, and every process a command \
             starts dies with it; but a command can change the metadata of files outside \
             the workspace (chmod, touch), read secrets such as ~/.ssh, write conch.toml, \
             .conch/ and .git/config inside it, and, on kernels before Landlock ABI 6/9, \
             signal your other processes and connect to Unix sockets."
        );
    });
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

/// What `conch-exec` does: confines this process, then replaces it with the program
/// (with `env` as its whole environment, if given). Returns (the error) only on failure.
pub fn exec_step(
    writable: Vec<PathBuf>,
    landlock: bool,
    network: bool,
    program: &[String],
    env: Option<&[(String, String)]>,
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
    let mut command = Command::new(program);
    command.args(args);
    if let Some(env) = env {
        command.env_clear().envs(env.iter().map(|(n, v)| (n, v)));
    }
    let error = std::os::unix::process::CommandExt::exec(&mut command);
    format!("cannot run {program}: {error}")
}
