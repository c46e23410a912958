//! The namespace layer: a confined command starts inside bubblewrap (`bwrap`) with its own
//! user, mount, PID, IPC and UTS namespaces (and network namespace unless the policy
//! allows network), `/` read-only, conch's files and the repository's configuration
//! read-only, secrets hidden, no capabilities; `conch-exec` (Landlock, seccomp) runs
//! inside it as a second layer.
//!
//! Why bwrap rather than our own unshare: see ARCHITECTURE.md ("The command sandbox").

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable that turns the namespace layer off (tests, diagnosis). It is read from
/// conch's own environment, which the user controls; no project file can set it.
pub const NAMESPACES_ENV: &str = "CONCH_SANDBOX_NAMESPACES";

/// Files and directories under `$HOME` that commands cannot read by default: keys and
/// credentials that one approved command would otherwise be able to print.
const HIDDEN_IN_HOME: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
];

/// What a workspace root keeps read-only to commands: what conch or git read as
/// configuration or run. The rest of `.git` stays writable so `git commit` works.
const PROTECTED_IN_ROOT: &[&str] = &["conch.toml", ".conch", ".git/config", ".git/hooks"];

/// Where Unix sockets of other programs live (agents, daemons, the session bus): each
/// gets an empty private tmpfs, so a command cannot connect to them through the
/// read-only view of `/`.
const SOCKET_DIRS: &[&str] = &["/tmp", "/run", "/var/run"];

/// Whether this machine can run commands in namespaces, found once per run.
#[derive(Debug, Clone)]
pub enum Namespaces {
    /// bwrap at this path passed the probe.
    Available(PathBuf),
    /// Why not, in words for the user.
    Unavailable(String),
}

/// The namespace layer's state for this run: off by [`NAMESPACES_ENV`], `bwrap` missing,
/// or a probe that really creates the namespaces (some container runtimes forbid them).
pub fn namespaces() -> &'static Namespaces {
    namespaces_probed_by(|_| false)
}

/// [`namespaces`], where `first_try` (given bwrap) is the probe if this is the first
/// look: the start of a warm namespace (`warm`) proves they work as well as a run of
/// `true` does. When it says no, `true` is run to learn why.
pub(super) fn namespaces_probed_by(first_try: impl FnOnce(&Path) -> bool) -> &'static Namespaces {
    static STATE: OnceLock<Namespaces> = OnceLock::new();
    STATE.get_or_init(|| {
        if std::env::var_os(NAMESPACES_ENV).is_some_and(|v| v == "off") {
            return Namespaces::Unavailable(format!("turned off by {NAMESPACES_ENV}=off"));
        }
        let Some(bwrap) = find_bwrap() else {
            return Namespaces::Unavailable(
                "bwrap is not installed (install the `bubblewrap` package)".into(),
            );
        };
        if first_try(&bwrap) {
            return Namespaces::Available(bwrap);
        }
        match probe(&bwrap) {
            Ok(()) => Namespaces::Available(bwrap),
            Err(why) => Namespaces::Unavailable(format!("{} fails: {why}", bwrap.display())),
        }
    })
}

/// `bwrap` on the user's PATH, else in the usual places.
fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| candidate.is_file())
}

/// Runs `true` in the namespaces a command gets: the honest test of whether the
/// kernel, its AppArmor or seccomp settings, and the container allow them.
fn probe(bwrap: &Path) -> Result<(), String> {
    let truth = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .ok_or("no `true` program to probe with")?;
    let mut command = Command::new(bwrap);
    command
        .args(UNSHARE)
        .arg("--unshare-net")
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--tmpfs", "/tmp", "--cap-drop", "ALL", "--", truth])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(match said.trim() {
            "" => output.status.to_string(),
            said => said.lines().last().unwrap_or(said).to_string(),
        })
    }
}

/// The namespaces every confined command gets; the network one is added unless the
/// policy allows network. No `--new-session`: conch-exec's seccomp filter refuses
/// `TIOCSTI` instead, for a tenth of the cost (see confine.rs).
const UNSHARE: &[&str] = &[
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
];

/// What one command's namespaces look like.
pub struct Layout<'a> {
    /// Mounted read-write (the workspace roots in workspace-write mode).
    pub writable_roots: &'a [PathBuf],
    /// Every workspace root, writable or not: their configuration is made read-only.
    pub roots: &'a [PathBuf],
    /// The command's private TMPDIR, bound from the host; `None` in a warm namespace,
    /// where each command's is made inside (see `serve`).
    pub temp: Option<&'a Path>,
    pub cwd: &'a Path,
    pub network: bool,
    /// Hidden beside the default list.
    pub deny_read: &'a [PathBuf],
    /// The `conch-exec` helper, which must stay reachable whatever is hidden.
    pub helper: &'a Path,
    /// The program, when given by absolute path: reachable too (under /tmp it would be
    /// hidden by the tmpfs there).
    pub program: Option<&'a Path>,
}

/// bwrap's arguments up to (and including) `--`; the program follows.
pub fn bwrap_args(layout: &Layout<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = UNSHARE.iter().map(OsString::from).collect();
    let mut push = |words: &[&std::ffi::OsStr]| args.extend(words.iter().map(OsString::from));
    if !layout.network {
        push(&["--unshare-net".as_ref()]);
    }
    push(&["--cap-drop".as_ref(), "ALL".as_ref()]);
    push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]);
    push(&["--dev".as_ref(), "/dev".as_ref()]);
    push(&["--proc".as_ref(), "/proc".as_ref()]);
    let socket_dirs = socket_dirs();
    for dir in &socket_dirs {
        push(&["--tmpfs".as_ref(), dir.as_os_str()]);
    }
    let under_a_socket_dir = |path: &Path| {
        let real = std::fs::canonicalize(path).ok();
        socket_dirs.iter().any(|dir| {
            path.starts_with(dir) || real.as_ref().is_some_and(|real| real.starts_with(dir))
        })
    };
    if layout.network {
        // Name resolution often goes through a file under /run (systemd-resolved).
        if let Some(resolv) = std::fs::canonicalize("/etc/resolv.conf")
            .ok()
            .filter(|p| under_a_socket_dir(p))
        {
            push(&["--ro-bind".as_ref(), resolv.as_os_str(), resolv.as_os_str()]);
        }
    }
    // The helper and the program are visible (read-only) through `/` already; only one
    // under a socket dir, which the empty tmpfs there covers, needs its own bind. Each
    // bind costs bwrap a mount and a read of the mount table (see BENCHMARKS.md).
    for path in [Some(layout.helper), layout.program]
        .into_iter()
        .flatten()
        .filter(|path| under_a_socket_dir(path))
    {
        push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
    }
    if let Some(temp) = layout.temp {
        push(&["--bind".as_ref(), temp.as_os_str(), temp.as_os_str()]);
    }
    for root in layout.writable_roots {
        push(&["--bind".as_ref(), root.as_os_str(), root.as_os_str()]);
    }
    // A read-only root is bound too: under /tmp or /run it would otherwise be hidden
    // by the empty tmpfs there (a read-only command's or an MCP server's workspace).
    for root in layout
        .roots
        .iter()
        .filter(|root| !layout.writable_roots.contains(root))
    {
        push(&["--ro-bind".as_ref(), root.as_os_str(), root.as_os_str()]);
    }
    let keep_visible: Vec<&Path> = layout
        .roots
        .iter()
        .map(PathBuf::as_path)
        .chain(
            [Some(layout.cwd), layout.temp, Some(layout.helper)]
                .into_iter()
                .flatten(),
        )
        .collect();
    for path in protected(layout.roots) {
        push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
    }
    for path in hidden(layout.deny_read) {
        // A hidden path that holds the workspace (a project inside ~/.ssh, say) is left
        // as it is: hiding it would hide the work the user asked for.
        if keep_visible.iter().any(|keep| keep.starts_with(&path)) {
            continue;
        }
        if path.is_dir() {
            push(&["--tmpfs".as_ref(), path.as_os_str()]);
            push(&["--remount-ro".as_ref(), path.as_os_str()]);
        } else {
            push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path.as_os_str()]);
        }
    }
    push(&["--chdir".as_ref(), layout.cwd.as_os_str(), "--".as_ref()]);
    args
}

/// The socket directories that exist as real directories (`/var/run` is usually a
/// link to `/run`, covered with it), plus the user's runtime dir.
fn socket_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = SOCKET_DIRS.iter().map(PathBuf::from).collect();
    dirs.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
    let mut real: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
        if is_dir && !real.iter().any(|done| dir.starts_with(done)) {
            real.push(dir);
        }
    }
    real
}

/// The existing configuration paths of `roots` that commands may read but not change.
pub fn protected(roots: &[PathBuf]) -> Vec<PathBuf> {
    existing(
        roots
            .iter()
            .flat_map(|root| PROTECTED_IN_ROOT.iter().map(move |p| root.join(p))),
    )
}

/// The existing paths commands cannot read: the default secrets under `$HOME`, conch's
/// own config and data dirs, and `deny_read`.
pub fn hidden(deny_read: &[PathBuf]) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let in_home = home
        .iter()
        .flat_map(|home| HIDDEN_IN_HOME.iter().map(move |p| home.join(p)));
    let conch_dirs = [crate::dirs::config_dir(), crate::dirs::data_dir()]
        .into_iter()
        .flatten();
    existing(in_home.chain(conch_dirs).chain(deny_read.iter().cloned()))
}

/// `paths` that exist, by their real location (a link is followed, so hiding it hides
/// its target), each once.
fn existing(paths: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for path in paths {
        if let Ok(real) = std::fs::canonicalize(&path)
            && !found.contains(&real)
        {
            found.push(real);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_args(root: &Path, temp: &Path, network: bool, deny: &[PathBuf]) -> Vec<String> {
        let roots = vec![root.to_path_buf()];
        bwrap_args(&Layout {
            writable_roots: &roots,
            roots: &roots,
            temp: Some(temp),
            cwd: root,
            network,
            deny_read: deny,
            helper: Path::new("/usr/bin/true"),
            program: None,
        })
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
    }

    #[test]
    fn workspace_config_is_read_only_and_secrets_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::write(root.join(".git/config"), "").unwrap();
        std::fs::write(root.join("conch.toml"), "").unwrap();
        let secret = tempfile::tempdir().unwrap();
        let secret = std::fs::canonicalize(secret.path()).unwrap();
        let temp = tempfile::tempdir().unwrap();
        let args = layout_args(&root, temp.path(), false, std::slice::from_ref(&secret));
        let joined = args.join(" ");
        let root = root.display();
        assert!(
            joined.contains(&format!("--bind {root} {root}")),
            "{joined}"
        );
        for path in ["conch.toml", ".git/config", ".git/hooks"] {
            let p = format!("{root}/{path}");
            assert!(joined.contains(&format!("--ro-bind {p} {p}")), "{joined}");
        }
        assert!(!joined.contains(".conch "), "{joined}");
        let s = secret.display();
        assert!(
            joined.contains(&format!("--tmpfs {s} --remount-ro {s}")),
            "{joined}"
        );
        assert!(args.contains(&"--unshare-net".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }

    #[test]
    fn only_a_program_under_a_socket_dir_gets_its_own_bind() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let temp = tempfile::tempdir().unwrap();
        let under_tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
        let roots = vec![root.clone()];
        let args = |program: &Path| -> String {
            bwrap_args(&Layout {
                writable_roots: &roots,
                roots: &roots,
                temp: Some(temp.path()),
                cwd: &root,
                network: false,
                deny_read: &[],
                helper: Path::new("/usr/bin/true"),
                program: Some(program),
            })
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
        };
        let in_usr = args(Path::new("/usr/bin/env"));
        assert!(!in_usr.contains("--ro-bind /usr/bin/env"), "{in_usr}");
        assert!(!in_usr.contains("--ro-bind /usr/bin/true"), "{in_usr}");
        let p = under_tmp.path().display();
        let in_tmp = args(under_tmp.path());
        assert!(in_tmp.contains(&format!("--ro-bind {p} {p}")), "{in_tmp}");
    }

    #[test]
    fn network_keeps_the_network_namespace_and_a_hidden_root_stays_visible() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let temp = tempfile::tempdir().unwrap();
        let args = layout_args(&root, temp.path(), true, std::slice::from_ref(&root));
        assert!(!args.contains(&"--unshare-net".to_string()));
        let hidden = format!("--tmpfs {}", root.display());
        assert!(!args.join(" ").contains(&hidden), "{args:?}");
    }
}
