//! The command sandbox attacked through the real binary: each case is an attack with a
//! canary that must stay untouched. Commands run as the test's user (root in CI, with
//! namespaces), as an ordinary user (dropped with `setpriv`), and with the namespace layer
//! off (the Landlock + seccomp fallback); each mode is held to what README promises for it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use conch_tests::{Run, conch_bin, run, shared_cache};

/// The uid and gid an ordinary user runs as in these tests.
const NOBODY: u32 = 65534;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Namespaces, as the test's own user.
    Namespaces,
    /// Namespaces, as an ordinary user (the same as `Namespaces` when not root).
    OrdinaryUser,
    /// `CONCH_SANDBOX_NAMESPACES=off`: Landlock and seccomp only.
    Fallback,
}

const NAMESPACED: [Mode; 2] = [Mode::Namespaces, Mode::OrdinaryUser];
const ALL: [Mode; 3] = [Mode::Namespaces, Mode::OrdinaryUser, Mode::Fallback];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

/// Whether this mode drops to [`NOBODY`].
fn drops(mode: Mode) -> bool {
    mode == Mode::OrdinaryUser && is_root()
}

/// A scene for one attack: a workspace, a home, conch's config and data dirs, and a
/// place outside all of them (not under /tmp, which commands see as an empty tmpfs, so
/// that "untouched" means refused rather than not found).
struct Scene {
    mode: Mode,
    _dirs: Vec<tempfile::TempDir>,
    workspace: PathBuf,
    home: PathBuf,
    config: PathBuf,
    data: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new(mode: Mode) -> Self {
        let temp = || {
            let dir = tempfile::tempdir().unwrap();
            let path = std::fs::canonicalize(dir.path()).unwrap();
            (dir, path)
        };
        let (a, workspace) = temp();
        let (b, home) = temp();
        let (c, config) = temp();
        let (d, data) = temp();
        let e = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let outside = std::fs::canonicalize(e.path()).unwrap();
        std::fs::create_dir(workspace.join(".git")).unwrap();
        let scene = Scene {
            mode,
            _dirs: vec![a, b, c, d, e],
            workspace,
            home,
            config,
            data,
            outside,
        };
        scene.give(&scene.outside);
        scene
    }

    /// Hands `path` (and what is under it) to the user the command runs as.
    fn give(&self, path: &Path) {
        if !drops(self.mode) {
            return;
        }
        for ancestor in path.ancestors() {
            // The way down must be open to that user; the rest of it is not ours to change.
            if ancestor.starts_with(env!("CARGO_TARGET_TMPDIR")) {
                let mut perms = std::fs::metadata(ancestor).unwrap().permissions();
                perms.set_mode(perms.mode() | 0o111);
                std::fs::set_permissions(ancestor, perms).unwrap();
            }
        }
        let status = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn write(&self, path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    /// `conch` with this scene's environment, as this mode's user.
    fn conch(&self, args: &[&str]) -> Command {
        for dir in [&self.workspace, &self.home, &self.config, &self.data] {
            self.give(dir);
        }
        let mut cmd = if drops(self.mode) {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(conch_bin());
            cmd
        } else {
            Command::new(conch_bin())
        };
        cmd.args(args)
            .env("HOME", &self.home)
            .env("CONCH_CONFIG_DIR", &self.config)
            .env("CONCH_DATA_DIR", &self.data)
            .env("CONCH_CACHE_DIR", self.cache())
            .env("CONCH_TEST_SECRET", "canary-environ-value")
            .env_remove("CONCH_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        if self.mode == Mode::Fallback {
            cmd.env("CONCH_SANDBOX_NAMESPACES", "off");
        } else {
            cmd.env_remove("CONCH_SANDBOX_NAMESPACES");
        }
        cmd
    }

    /// The compile cache: the shared one, unless the command runs as a user who cannot
    /// write it.
    fn cache(&self) -> PathBuf {
        if drops(self.mode) {
            self.data.join("cache")
        } else {
            shared_cache()
        }
    }

    /// `conch sandbox -- bash -c SCRIPT` in the workspace.
    fn sandbox(&self, script: &str) -> Run {
        let cwd = self.workspace.to_string_lossy().into_owned();
        run(&mut self.conch(&["sandbox", "--cwd", &cwd, "--", "bash", "-c", script]))
    }
}

/// A marker for a process that must not outlive a call, unique to this test run.
fn marker(n: u32) -> String {
    format!("{n}.{}", std::process::id())
}

/// Whether a live process has exactly `args` as its command line.
fn process_running(args: &[&str]) -> bool {
    let wanted: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|entry| {
            let alive = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            });
            alive && std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == wanted)
        })
}

#[test]
fn metadata_outside_the_workspace_cannot_change() {
    for mode in NAMESPACED {
        let scene = Scene::new(mode);
        let canary = scene.outside.join("canary");
        scene.write(&canary, "canary\n");
        std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o600)).unwrap();
        scene.give(&canary);
        let before = std::fs::metadata(&canary).unwrap();
        let c = canary.display();
        let out = scene.sandbox(&format!(
            "chmod 666 {c}; chown 1:1 {c}; touch -d 2001-01-01 {c}; echo done"
        ));
        assert!(out.stdout.contains("done"), "{mode:?}: {out:?}");
        let after = std::fs::metadata(&canary).unwrap();
        assert_eq!(before.mode(), after.mode(), "{mode:?}: {out:?}");
        assert_eq!(before.uid(), after.uid(), "{mode:?}");
        assert_eq!(before.mtime(), after.mtime(), "{mode:?}");
    }
}

#[test]
fn conch_environment_is_not_readable_through_proc() {
    for mode in NAMESPACED {
        let scene = Scene::new(mode);
        let out = scene.sandbox(
            "cat /proc/$PPID/environ; for f in /proc/[0-9]*/environ; do cat $f; done; echo done",
        );
        assert!(out.stdout.contains("done"), "{mode:?}: {out:?}");
        assert!(
            !out.stdout.contains("canary-environ-value"),
            "{mode:?}: {out:?}"
        );
    }
}

#[test]
fn other_processes_of_the_user_cannot_be_killed() {
    for mode in ALL {
        let scene = Scene::new(mode);
        let mut victim = if drops(mode) {
            Command::new("setpriv")
                .args([
                    &format!("--reuid={NOBODY}"),
                    &format!("--regid={NOBODY}"),
                    "--clear-groups",
                    "sleep",
                    "300",
                ])
                .spawn()
                .unwrap()
        } else {
            Command::new("sleep").arg("300").spawn().unwrap()
        };
        let out = scene.sandbox(&format!("kill -9 {}; echo done", victim.id()));
        let survived = victim.try_wait().unwrap().is_none();
        let _ = victim.kill();
        let _ = victim.wait();
        assert!(out.stdout.contains("done"), "{mode:?}: {out:?}");
        if mode == Mode::Fallback && !fallback_scopes_signals() {
            continue;
        }
        assert!(survived, "{mode:?}: the victim was killed: {out:?}");
    }
}

/// Whether the fallback confines signals on this kernel (Landlock ABI 6), as
/// `conch sandbox --check` reports it.
fn fallback_scopes_signals() -> bool {
    let scene = Scene::new(Mode::Fallback);
    let out = run(&mut scene.conch(&["sandbox", "--check"]));
    out.stdout
        .lines()
        .any(|l| l.starts_with("landlock scopes:") && l.contains("signals"))
}

/// A Python snippet that connects to the Unix socket `address` and says whether it could.
fn connect_script(address: &str) -> String {
    format!(
        "/usr/bin/python3 -c 'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect({address}); print(\"connected\")\nexcept OSError as e: print(\"blocked:\", e)'"
    )
}

#[test]
fn unix_sockets_outside_the_workspace_are_unreachable() {
    if !Path::new("/usr/bin/python3").exists() {
        // The attack needs a client; without python3 no command here can connect either.
        return;
    }
    for mode in NAMESPACED {
        let scene = Scene::new(mode);
        // Where agents and daemons put theirs: under /tmp.
        let sockets = tempfile::tempdir().unwrap();
        let path = std::fs::canonicalize(sockets.path())
            .unwrap()
            .join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        scene.give(sockets.path());
        let name = format!("conch-test-{}", marker(1));
        let abstract_listener = {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            UnixListener::bind_addr(&address).unwrap()
        };
        abstract_listener.set_nonblocking(true).unwrap();
        let out = scene.sandbox(&format!(
            "{}; {}",
            connect_script(&format!("\"{}\"", path.display())),
            connect_script(&format!("\"\\0{name}\""))
        ));
        assert_eq!(
            out.stdout.matches("blocked:").count(),
            2,
            "{mode:?}: {out:?}"
        );
        assert!(listener.accept().is_err(), "{mode:?}");
        assert!(abstract_listener.accept().is_err(), "{mode:?}");
    }
}

#[test]
fn secrets_in_home_are_hidden() {
    for mode in NAMESPACED {
        let scene = Scene::new(mode);
        scene.write(&scene.home.join(".ssh/id_rsa"), "canary-private-key\n");
        scene.write(&scene.home.join(".netrc"), "canary-netrc\n");
        scene.write(&scene.config.join("conch.toml"), "# canary-config\n");
        let out = scene.sandbox(&format!(
            "cat ~/.ssh/id_rsa ~/.netrc {}/conch.toml; ls ~/.ssh; echo done",
            scene.config.display()
        ));
        assert!(out.stdout.contains("done"), "{mode:?}: {out:?}");
        assert!(!out.stdout.contains("canary"), "{mode:?}: {out:?}");
        assert!(!out.stdout.contains("id_rsa"), "{mode:?}: {out:?}");
    }
}

#[test]
fn repository_configuration_is_read_only_but_git_commit_works() {
    for mode in NAMESPACED {
        let scene = Scene::new(mode);
        let ws = &scene.workspace;
        std::fs::remove_dir(ws.join(".git")).unwrap();
        let init = Command::new("git")
            .args(["init", "-q"])
            .arg(ws)
            .status()
            .unwrap();
        assert!(init.success());
        scene.write(&ws.join("conch.toml"), "# canary\n");
        scene.write(&ws.join(".conch/x"), "canary\n");
        scene.write(&ws.join("file.txt"), "hello\n");
        let config_before = std::fs::read(ws.join(".git/config")).unwrap();
        let out = scene.sandbox(
            "echo '[sandbox]' >> conch.toml; echo x > .conch/x; echo y > .conch/y; \
             echo '[core] fsmonitor = x' >> .git/config; echo x > .git/hooks/pre-commit; \
             echo changed > file.txt && git add file.txt && \
             git -c user.name=t -c user.email=t@example.com commit -qm change && echo committed",
        );
        assert!(out.stdout.contains("committed"), "{mode:?}: {out:?}");
        assert_eq!(
            std::fs::read_to_string(ws.join("conch.toml")).unwrap(),
            "# canary\n"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join(".conch/x")).unwrap(),
            "canary\n"
        );
        assert!(!ws.join(".conch/y").exists(), "{mode:?}");
        assert_eq!(
            std::fs::read(ws.join(".git/config")).unwrap(),
            config_before
        );
        assert!(!ws.join(".git/hooks/pre-commit").exists(), "{mode:?}");
    }
}

#[test]
fn a_detached_process_does_not_outlive_the_call() {
    for (n, mode) in (0..).zip(ALL) {
        let scene = Scene::new(mode);
        let seconds = marker(402 + n);
        let out = scene.sandbox(&format!("setsid sleep {seconds} & echo started"));
        assert!(out.stdout.contains("started"), "{mode:?}: {out:?}");
        assert!(
            !process_running(&["sleep", &seconds]),
            "{mode:?}: `setsid sleep` survived the call"
        );
    }
}

#[test]
fn a_detached_process_holding_stdout_is_killed_at_the_timeout() {
    for (n, mode) in (0..).zip(ALL) {
        let scene = Scene::new(mode);
        let seconds = marker(40 + n);
        let input = serde_json::json!({
            "command": format!("setsid sleep {seconds} & sleep 30"),
            "timeout_secs": 5,
        })
        .to_string();
        let cwd = scene.workspace.to_string_lossy().into_owned();
        let out = run(&mut scene.conch(&["tool", "bash", &input, "--cwd", &cwd, "--yes"]));
        assert!(out.stdout.contains("timed out"), "{mode:?}: {out:?}");
        assert!(
            !process_running(&["sleep", &seconds]),
            "{mode:?}: the detached sleep outlived the timeout"
        );
    }
}

#[test]
fn the_network_is_off() {
    for mode in ALL {
        let scene = Scene::new(mode);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let out = scene.sandbox(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected; echo done"
        ));
        assert!(out.stdout.contains("done"), "{mode:?}: {out:?}");
        assert!(!out.stdout.contains("connected"), "{mode:?}: {out:?}");
        assert!(listener.accept().is_err(), "{mode:?}");
    }
}

#[test]
fn input_cannot_be_pushed_into_a_terminal() {
    if !Path::new("/usr/bin/python3").exists() {
        return;
    }
    for mode in ALL {
        let scene = Scene::new(mode);
        // stdin is /dev/null: without the filter the kernel answers ENOTTY (25); the
        // filter answers first, EACCES (13).
        let out = scene.sandbox(
            "/usr/bin/python3 -c 'import fcntl,termios\ntry: fcntl.ioctl(0, termios.TIOCSTI, b\"x\")\nexcept OSError as e: print(\"errno\", e.errno)'",
        );
        assert!(out.stdout.contains("errno 13"), "{mode:?}: {out:?}");
    }
}

#[test]
fn the_fallback_keeps_writes_inside_the_workspace_and_says_what_it_leaves_open() {
    let scene = Scene::new(Mode::Fallback);
    let canary = scene.outside.join("canary");
    scene.write(&canary, "canary\n");
    let out = scene.sandbox(&format!(
        "echo pwned > {}; echo inside > inside.txt; echo done",
        canary.display()
    ));
    assert!(out.stdout.contains("done"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "canary\n");
    assert_eq!(
        std::fs::read_to_string(scene.workspace.join("inside.txt")).unwrap(),
        "inside\n"
    );
    assert!(out.stderr.contains("without namespaces"), "{out:?}");
    assert!(out.stderr.contains("metadata"), "{out:?}");
}

#[test]
fn argv_after_the_separator_reaches_the_program_as_given() {
    let scene = Scene::new(Mode::Namespaces);
    let out = run(&mut scene.conch(&[
        "sandbox",
        "--cwd",
        &scene.workspace.to_string_lossy(),
        "--",
        "echo",
        "a   b",
    ]));
    assert_eq!(out.stdout, "a   b\n", "{out:?}");
    let out = run(&mut scene.conch(&[
        "sandbox",
        "--cwd",
        &scene.workspace.to_string_lossy(),
        "--",
        "sh",
        "-c",
        "echo ok; echo second",
    ]));
    assert_eq!(out.stdout, "ok\nsecond\n", "{out:?}");
}

#[test]
fn check_reports_what_this_machine_enforces() {
    let scene = Scene::new(Mode::Namespaces);
    let out = run(&mut scene.conch(&["sandbox", "--check"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("namespaces: yes"), "{out:?}");
    let fallback = Scene::new(Mode::Fallback);
    let out = run(&mut fallback.conch(&["sandbox", "--check"]));
    assert!(
        out.stdout
            .contains("namespaces: no (turned off by CONCH_SANDBOX_NAMESPACES=off)"),
        "{out:?}"
    );
    assert!(out.stdout.contains("landlock: "), "{out:?}");
}
