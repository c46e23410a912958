//! A throwaway project for agent runs: a git root to work in, its own session and
//! config directories, and a user `conch.toml` that points at a mock LLM (the user's
//! file: a project's own file cannot set a provider's URL or key until it is trusted).

// A setup step that fails is a failed test: panicking with a reason is the point.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::conch;

/// Settings every agent test starts from: few, fast retries and a short idle timeout.
const BASE_CONFIG: &str = "retries = 2\nidle_timeout_secs = 5\n";

/// `project/` (a git root), `data/` (sessions) and `config/` (the user's conch.toml).
pub struct Project {
    dir: TempDir,
}

impl Project {
    /// A project whose provider `mock` is the server at `url`.
    pub fn new(url: &str) -> Self {
        Self::with_config(url, "")
    }

    /// [`Project::new`] with more top-level TOML (`retries = 0`, `[permission]`…)
    /// before the provider table.
    pub fn with_config(url: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["project/.git", "data", "config"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("dirs");
        }
        let project = Project { dir };
        project.write_config(
            &format!(
                "provider = \"mock\"\n{BASE_CONFIG}{extra}\n[providers.mock]\nbase_url = \"{url}\"\nmodel = \"mock-model\"\napi_key = \"sk-test-key\"\n"
            ),
        );
        project
    }

    /// The working directory of the runs.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// Where this project's sessions are stored.
    pub fn sessions_dir(&self) -> PathBuf {
        self.dir.path().join("data/sessions")
    }

    /// The repl's file of earlier prompts.
    pub fn history_file(&self) -> PathBuf {
        self.dir.path().join("data/history")
    }

    /// Writes a file of the project.
    /// Runs `conch repl ARGS` in the project with `input` piped to its stdin.
    ///
    /// # Panics
    /// When the binary cannot be started or its output read.
    pub fn repl(&self, args: &[&str], input: &str) -> crate::Run {
        use std::io::Write;
        let mut command = self.conch(&["repl"]);
        let mut child = command
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("conch repl starts");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        crate::Run::from(child.wait_with_output().expect("conch repl output"))
    }

    /// `conch ARGS` (a shell line) on a pseudo-terminal (`script`) in the project, with
    /// `env` added (`TERM` is xterm's unless `env` says); stdin, stdout and stderr piped
    /// (stdout carries both of conch's).
    ///
    /// # Panics
    /// When `script` (util-linux) cannot be started.
    pub fn on_terminal_child(&self, args: &str, env: &[(&str, &str)]) -> std::process::Child {
        use std::process::Stdio;
        let command = format!("{} {args}", crate::conch_bin().display());
        let base = self.conch(&[]);
        Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(self.path())
            .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
            // A terminal that can be edited on, whatever the tests run under.
            .env("TERM", "xterm-256color")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) gives conch a pseudo-terminal")
    }

    /// [`Project::on_terminal_child`] with `typed` as what the user types, all at once,
    /// on a terminal that answers queries as one without the kitty keyboard protocol.
    ///
    /// # Panics
    /// When `script` cannot be started or the program does not end.
    pub fn on_terminal(&self, args: &str, typed: &str, env: &[(&str, &str)]) -> crate::Run {
        let mut terminal =
            crate::terminal::Terminal::playing(self, args, env, crate::terminal::Plays::Plain);
        terminal.type_keys(typed);
        let (code, shown) = terminal.finish();
        crate::Run {
            code,
            stdout: shown,
            stderr: String::new(),
        }
    }

    /// The user's `conch.toml` (in [`Project::config_dir`]).
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("conch.toml")
    }

    /// Writes the user's `conch.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_file(), text).expect("write the user's conch.toml");
    }

    /// The user's config dir (`CONCH_CONFIG_DIR` of [`Project::conch`]).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(path, text).expect("write project file");
    }

    /// `conch ARGS` run in the project with its own data and config dirs, and no
    /// `CONCH_*` provider variables from the environment.
    pub fn conch(&self, args: &[&str]) -> Command {
        let mut cmd = conch(args);
        cmd.current_dir(self.path())
            .env("CONCH_DATA_DIR", self.dir.path().join("data"))
            .env("CONCH_CONFIG_DIR", self.dir.path().join("config"))
            .env("NO_COLOR", "1");
        for var in [
            "CONCH_API_KEY",
            "CONCH_BASE_URL",
            "CONCH_MODEL",
            "CONCH_PROVIDER",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// The built-in plugin `builtin`'s component packaged again with `conch plugin
    /// package`, under its manifest.json as `change` edits it: a third-party plugin made
    /// of known-good code. Written beside the project; returns the file.
    ///
    /// # Panics
    /// When the manifest cannot be read or packaging fails.
    pub fn repackage_builtin(
        &self,
        builtin: &str,
        change: impl FnOnce(&mut serde_json::Value),
    ) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins")
            .join(builtin)
            .join("manifest.json");
        let text = std::fs::read_to_string(&source).expect("the built-in's manifest.json");
        let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("its JSON");
        change(&mut manifest);
        let name = manifest["name"].as_str().expect("a name").to_string();
        let manifest_file = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&manifest_file, manifest.to_string()).expect("write the manifest");
        let packaged = self.dir.path().join(format!("{name}.wasm"));
        let out = crate::run(self.conch(&["plugin", "package"]).args([
            crate::fixture_plugin(builtin).as_os_str(),
            "--manifest".as_ref(),
            manifest_file.as_os_str(),
            "--out".as_ref(),
            packaged.as_os_str(),
        ]));
        assert_eq!(out.code, Some(0), "packaging {name}: {out:?}");
        packaged
    }

    /// The session files (not their pre-image directories), oldest first.
    pub fn session_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.sessions_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The lines of the only session file, parsed; panics if a line is not JSON.
    pub fn session_lines(&self) -> Vec<serde_json::Value> {
        let files = self.session_files();
        assert_eq!(files.len(), 1, "expected one session: {files:?}");
        read_jsonl(&files[0])
    }
}

/// A [`Project`] with a cache dir of its own (`CONCH_CACHE_DIR`): the private dirs of
/// the servers its runs start (MCP servers, language servers) live under it, where a
/// fixture server logs what it received.
pub struct ServerProject {
    pub project: Project,
    pub cache: TempDir,
}

impl ServerProject {
    /// [`Project::with_config`] and a fresh cache dir.
    pub fn new(url: &str, config: &str) -> Self {
        ServerProject {
            project: Project::with_config(url, config),
            cache: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// [`Project::conch`] with this project's cache dir.
    pub fn conch(&self, args: &[&str]) -> Command {
        let mut command = self.project.conch(args);
        command.env("CONCH_CACHE_DIR", self.cache.path());
        command
    }

    /// The private dir of server `name` of `kind` (`mcp`, `lsp`).
    pub fn private_dir(&self, kind: &str, name: &str) -> PathBuf {
        self.cache.path().join(kind).join(name)
    }

    /// The JSON lines server `name` of `kind` logged to `file` in its private dir (none
    /// when it never wrote there).
    pub fn logged(&self, kind: &str, name: &str, file: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.private_dir(kind, name).join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Every line of a JSONL file, parsed.
fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read session")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}")))
        .collect()
}
