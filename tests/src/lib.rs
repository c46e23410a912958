//! Shared helpers for the end-to-end tests: find the real `conch` binary, run it in a
//! temp workspace with its own compile cache, and read what it printed.

pub mod anthropic;
pub mod bench;
pub mod mock;
pub mod mock_mcp;
pub mod project;
pub mod terminal;
pub mod wire;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `conch` binary of this build (cargo builds it for the host crate's tests).
pub fn conch_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let bin = dir.join(format!("conch{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing; run the tests with `cargo test --release --workspace`",
        bin.display()
    );
    bin
}

/// A packaged fixture plugin (built by host/build.rs, never embedded).
pub fn fixture_plugin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/components")
        .join(format!("{name}.wasm"))
}

/// A compile cache shared by the tests of one build, so each test does not recompile.
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-cache")
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A `conch` command with the shared cache and a clean environment for logs.
pub fn conch(args: &[&str]) -> Command {
    let mut cmd = Command::new(conch_bin());
    cmd.args(args)
        .env("CONCH_CACHE_DIR", shared_cache())
        .env_remove("CONCH_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `conch tool NAME INPUT --cwd DIR`.
pub fn tool(dir: &Path, name: &str, input: &str) -> Run {
    let cwd = dir.to_string_lossy();
    run(&mut conch(&["tool", name, input, "--cwd", &cwd]))
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Run {
    match cmd.output() {
        Ok(output) => output.into(),
        Err(e) => Run {
            code: None,
            stdout: String::new(),
            stderr: format!("could not run {:?}: {e}", cmd.get_program()),
        },
    }
}

/// Starts `cmd` in the background with its stdout and stderr piped (read them after it
/// ends, with `wait_with_output`, or let them go).
///
/// # Panics
/// When it cannot be started.
pub fn spawn_piped(cmd: &mut Command) -> std::process::Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Waits for `child` to end, up to 30 s; past that it is killed and the test fails,
/// saying `what` hung. For cases where hanging forever is the bug under test.
///
/// # Panics
/// When the child does not end in time, or cannot be waited on.
pub fn wait_or_fail(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if started.elapsed() > std::time::Duration::from_secs(30) => {
                let _ = child.kill();
                panic!("{what} hung");
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Sends SIGINT (what Ctrl-C sends) to a running child.
pub fn interrupt(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(
        sent.is_ok_and(|s| s.success()),
        "could not signal {}",
        child.id()
    );
}

/// Waits, up to 30 s, until the process that writes `pid_file` has written its pid.
///
/// # Panics
/// When it never does.
pub fn wait_for_pid(pid_file: &Path) {
    let started = std::time::Instant::now();
    while std::fs::read_to_string(pid_file).map_or(true, |p| p.trim().is_empty()) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{} was never written: the process never started",
            pid_file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Ctrl-C for `child` (conch) while the process in `pid_file` runs under it: checks that
/// conch exits 130 and that the process is gone soon after, and returns what conch did.
///
/// # Panics
/// When either check fails.
pub fn interrupt_and_check_gone(child: std::process::Child, pid_file: &Path) -> Run {
    interrupt(&child);
    let out = Run::from(
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("reading conch's output: {e}")),
    );
    assert_eq!(out.code, Some(130), "{out:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !running(pid_file),
        "the process in {} outlived Ctrl-C",
        pid_file.display()
    );
    out
}

/// Whether the process whose pid a command wrote to `pid_file` still runs (a zombie
/// waiting for its new parent to reap it does not count).
///
/// A sandboxed command runs in its own PID namespace, where pids mean something else:
/// such a command writes `PID NAMESPACE` (`echo $! $(readlink /proc/self/ns/pid)`), and
/// the process is the one in that namespace whose innermost pid (`NSpid`) is PID.
pub fn running(pid_file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let Some(pid) = fields.next() else {
        return false;
    };
    let Some(namespace) = fields.next() else {
        return alive(&format!("/proc/{pid}"));
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        let in_namespace = std::fs::read_link(path.join("ns/pid"))
            .is_ok_and(|ns| ns.to_string_lossy() == namespace);
        in_namespace
            && std::fs::read_to_string(path.join("status")).is_ok_and(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|l| l.split_whitespace().last())
                    == Some(pid)
            })
            && alive(&path.to_string_lossy())
    })
}

/// Whether the process at `/proc/PID` exists and is not a zombie.
fn alive(proc_dir: &str) -> bool {
    std::fs::read_to_string(format!("{proc_dir}/status")).is_ok_and(|status| {
        !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Each line of `--format json` output, parsed.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
        })
        .collect()
}

/// Cargo settings for the tests that build Rust plugin crates: one target dir for all of
/// them, kept across runs (the first build compiles the SDK's dependencies for
/// wasm32-wasip2), and no LTO (their release profile asks for it; here it only costs time).
pub fn plugin_cargo_env(command: &mut Command) -> &mut Command {
    command
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-crates"),
        )
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
}

/// Where a test installs a real server program under `target/` (`sub`), or under
/// /var/tmp/conch-tests when `target/` is under /tmp: the command sandbox mounts an
/// empty tmpfs over /tmp, so a program there could not run in it.
pub fn server_install_dir(target: &std::path::Path, sub: &str) -> std::path::PathBuf {
    if target.starts_with("/tmp") {
        std::path::Path::new("/var/tmp/conch-tests").join(sub)
    } else {
        target.join(sub)
    }
}
