//! A long-lived sandboxed child (an MCP server; later a language server): confined like a
//! command (`confined_command`), reading as commands do and writing only its private
//! directory, talking over piped stdin/stdout, with the tail of its stderr kept for error
//! messages. It leads its own process group; dropping it sends TERM to the group and KILL
//! after a grace period, and if conch exits first, bwrap's `--die-with-parent` (or
//! conch-exec's parent-death signal in the fallback) ends it, so stopping never delays
//! conch's exit.
//!
//! The parent-death signal follows the *thread* that spawned the child: spawn it from a
//! thread that lives as long as conch (the MCP manager's own runtime thread does).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::{Confined, GRACE, SandboxMode, confined_command, signal_group};

/// How much of a child's stderr is kept for messages.
const STDERR_TAIL_BYTES: usize = 4096;

/// What to start and how to confine it.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The program and its arguments (no shell).
    pub program: Vec<String>,
    /// Inside one of `roots`.
    pub cwd: PathBuf,
    /// The workspace roots: readable, their configuration protected, never writable.
    pub roots: Vec<PathBuf>,
    /// The child's only writable directory (created if missing), its TMPDIR and
    /// XDG_CACHE_HOME.
    pub private_dir: PathBuf,
    pub network: bool,
    /// It may write the workspace roots too (an MCP server's `write = "workspace"`).
    pub write_roots: bool,
    /// `Off` runs it unconfined (the user's `[sandbox] mode = "off"`); any other mode
    /// confines it read-only but for `private_dir` (and the roots with `write_roots`).
    pub mode: SandboxMode,
    pub deny_read: Vec<PathBuf>,
    /// Passed from conch's environment beside the sandbox's allowlist.
    pub pass_env: Vec<String>,
    /// Set on top.
    pub env: Vec<(String, String)>,
}

/// A running sandboxed child.
pub struct SandboxedChild {
    child: Child,
    group: u32,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    /// Reads stderr until it closes.
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxedChild {
    /// Starts `spec` with piped stdio; `Err` says why it cannot start. Call it inside a
    /// tokio runtime with I/O enabled.
    pub fn spawn(spec: &ChildSpec) -> Result<(Self, ChildStdin, ChildStdout), String> {
        if !spec.roots.iter().any(|root| spec.cwd.starts_with(root)) {
            return Err(format!(
                "the working directory {} is outside the workspace",
                spec.cwd.display()
            ));
        }
        std::fs::create_dir_all(&spec.private_dir).map_err(|e| {
            format!(
                "cannot create its private directory {}: {e}",
                spec.private_dir.display()
            )
        })?;
        let mode = match spec.mode {
            SandboxMode::Off => SandboxMode::Off,
            _ if spec.write_roots => SandboxMode::WorkspaceWrite,
            _ => SandboxMode::ReadOnly,
        };
        let mut env = spec.env.clone();
        env.push((
            "XDG_CACHE_HOME".into(),
            spec.private_dir.to_string_lossy().into_owned(),
        ));
        let command = confined_command(&Confined {
            program: &spec.program,
            cwd: &spec.cwd,
            roots: &spec.roots,
            mode,
            network: spec.network,
            deny_read: &spec.deny_read,
            private_dir: &spec.private_dir,
            pass_env: &spec.pass_env,
            env: &env,
        })?;
        let mut command = tokio::process::Command::from(command);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let name = spec.program.first().map_or("", String::as_str);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let group = child.id().ok_or("it exited as it started")?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            signal_group(group, libc::SIGKILL);
            return Err("its standard streams could not be piped".into());
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let reader = tokio::spawn(keep_tail(stderr, tail.clone()));
        Ok((
            SandboxedChild {
                child,
                group,
                stderr: tail,
                stderr_reader: Some(reader),
            },
            stdin,
            stdout,
        ))
    }

    /// Its process group (it leads it).
    pub fn group(&self) -> u32 {
        self.group
    }

    /// The last few KiB of what it wrote on stderr, trimmed.
    pub fn stderr_tail(&self) -> String {
        stderr_text(&self.stderr)
    }

    /// A handle on the stderr tail that outlives `self`.
    pub fn stderr_handle(&self) -> StderrTail {
        StderrTail(self.stderr.clone())
    }

    /// Waits until it exits, and (briefly) for its last words on stderr; a description
    /// of how it ended.
    pub async fn wait(&mut self) -> String {
        let status = match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("cannot wait for it: {e}"),
        };
        if let Some(reader) = self.stderr_reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        status
    }
}

/// The stderr tail of a child, readable after the child is gone.
#[derive(Clone, Debug, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<u8>>>);

impl StderrTail {
    pub fn text(&self) -> String {
        stderr_text(&self.0)
    }
}

impl Drop for SandboxedChild {
    fn drop(&mut self) {
        // TERM now; KILL after the grace period unless conch exits first (then the
        // parent-death signal does it). Nothing here waits.
        signal_group(self.group, libc::SIGTERM);
        let group = self.group;
        let _ = std::thread::Builder::new()
            .name("conch-child-kill".into())
            .spawn(move || {
                std::thread::sleep(GRACE);
                signal_group(group, libc::SIGKILL);
            });
    }
}

/// Sends TERM to the process group `group` of a child; waits for nothing.
pub fn terminate_group(group: u32) {
    signal_group(group, libc::SIGTERM);
}

async fn keep_tail(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<u8>>>) {
    let mut buffer = [0u8; 4096];
    loop {
        let n = match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Ok(mut tail) = tail.lock() else {
            return;
        };
        tail.extend(&buffer[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }
}

fn stderr_text(tail: &Mutex<VecDeque<u8>>) -> String {
    let bytes: Vec<u8> = match tail.lock() {
        Ok(tail) => tail.iter().copied().collect(),
        Err(_) => Vec::new(),
    };
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// The private directory of a child named `name` of kind `kind` (`mcp`, …) under conch's
/// cache dir, else under the system temp dir.
pub fn private_dir(kind: &str, name: &str) -> PathBuf {
    crate::dirs::cache_dir()
        .unwrap_or_else(|| std::env::temp_dir().join("conch"))
        .join(kind)
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn spec(dir: &Path, script: &str) -> ChildSpec {
        let root = std::fs::canonicalize(dir).unwrap();
        ChildSpec {
            program: vec!["/bin/sh".into(), "-c".into(), script.into()],
            cwd: root.clone(),
            roots: vec![root.clone()],
            private_dir: root.join("private"),
            // conch-exec is not beside a unit test's binary, so no confinement (off, with
            // the network): that is tested end to end (tests/tests/mcp.rs, hostile).
            network: true,
            write_roots: false,
            mode: SandboxMode::Off,
            deny_read: Vec::new(),
            pass_env: Vec::new(),
            env: vec![("GREETING".into(), "hi".into())],
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_child_talks_over_pipes_with_its_env_private_dir_and_stderr_tail() {
        let dir = tempfile::tempdir().unwrap();
        let script = "read line; echo \"$GREETING $line\"; \
                      echo ok > \"$TMPDIR/mine\" && echo private-ok; \
                      [ \"$XDG_CACHE_HOME\" = \"$TMPDIR\" ] && echo cache-is-private; \
                      echo last words >&2; exit 3";
        let (mut child, mut stdin, stdout) =
            SandboxedChild::spawn(&spec(dir.path(), script)).unwrap();
        stdin.write_all(b"there\n").await.unwrap();
        let mut lines = BufReader::new(stdout).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "hi there");
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "private-ok");
        assert_eq!(
            lines.next_line().await.unwrap().unwrap(),
            "cache-is-private"
        );
        let status = child.wait().await;
        assert!(status.contains('3'), "{status}");
        assert!(child.stderr_tail().contains("last words"));
        assert!(dir.path().join("private/mine").exists());
    }
}
