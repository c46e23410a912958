//! Rules on `bash` decide on the parsed command line, through the real binary: a deny
//! rule catches its program however the line hides it, and an allow rule does not let a
//! line run code beside the command it allows. Rules live in the user's config (a
//! project's own allow rules need trust).
#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::path::{Path, PathBuf};

use conch_tests::{Run, conch, run};
use tempfile::TempDir;

/// A workspace (a git root) with the canary file `f1`, beside the user's config and data
/// dirs, the config holding `config`.
struct Setup {
    base: TempDir,
}

impl Setup {
    fn new(config: &str) -> Self {
        let base = tempfile::tempdir().unwrap();
        for dir in ["work/.git", "config", "data"] {
            std::fs::create_dir_all(base.path().join(dir)).unwrap();
        }
        std::fs::write(base.path().join("config/conch.toml"), config).unwrap();
        Setup { base }
    }

    fn work(&self) -> PathBuf {
        self.base.path().join("work")
    }

    fn canary(&self) -> PathBuf {
        self.work().join("f1")
    }

    /// Runs `command` with the `bash` tool, headless, with `flags`.
    fn bash(&self, command: &str, flags: &[&str]) -> Run {
        let input = serde_json::json!({ "command": command }).to_string();
        let cwd = self.work().to_string_lossy().into_owned();
        let mut args = vec!["tool", "bash", &input, "--cwd", &cwd];
        args.extend_from_slice(flags);
        run(conch(&args)
            .env("CONCH_CONFIG_DIR", self.base.path().join("config"))
            .env("CONCH_DATA_DIR", self.base.path().join("data")))
    }
}

const BASH_ALLOWED_RM_DENIED: &str = r#"
[permission]
bash = "allow"

[[permission.rules]]
tool = "bash"
pattern = "rm *"
decision = "deny"
"#;

/// Ways to run `rm f1` that a pattern on the text of the line missed, or might.
const ESCAPES: [&str; 24] = [
    "{ rm f1; }",
    "rm\tf1",
    "if true; then rm f1; fi",
    "/bin/rm f1",
    "true; rm f1",
    "true && rm f1",
    "true\nrm f1",
    "echo $(rm f1)",
    "echo `rm f1`",
    "cat <(rm f1)",
    "echo ${X:=$(rm f1)}",
    "eval 'rm f1'",
    "bash -c 'rm f1'",
    "env rm f1",
    "echo f1 | xargs rm",
    "find . -name f1 -exec rm {} \\;",
    "r\\m f1",
    "$'\\x72m' f1",
    "$(echo rm) f1",
    "/bin/[r]m f1",
    "X=rm; $X f1",
    "timeout 5 rm f1",
    "command rm f1",
    "f() { rm f1; }; f",
];

fn reset(canary: &Path) {
    std::fs::write(canary, "canary\n").unwrap();
}

#[test]
fn every_escape_form_really_deletes_the_file_without_the_deny_rule() {
    let setup = Setup::new("[permission]\nbash = \"allow\"\n");
    for form in ESCAPES {
        reset(&setup.canary());
        let out = setup.bash(form, &[]);
        assert!(!setup.canary().exists(), "{form:?} left the file: {out:?}");
    }
}

#[test]
fn a_deny_rule_on_rm_keeps_the_file_in_every_escape_form() {
    let setup = Setup::new(BASH_ALLOWED_RM_DENIED);
    reset(&setup.canary());
    for form in ESCAPES {
        let out = setup.bash(form, &[]);
        assert!(
            setup.canary().exists(),
            "{form:?} deleted the file: {out:?}"
        );
        assert_eq!(out.code, Some(1), "{form:?}: {out:?}");
        assert!(out.stderr.contains("denied"), "{form:?}: {out:?}");
        assert!(out.stderr.contains("rm *"), "{form:?}: {out:?}");
    }
    let echo = setup.bash("echo rm f1 is safe to say", &[]);
    assert_eq!(echo.code, Some(0), "{echo:?}");
    assert!(echo.stdout.contains("rm f1 is safe to say"), "{echo:?}");
}

const GIT_STATUS_ALLOWED: &str = r#"
[[permission.rules]]
tool = "bash"
pattern = "git status*"
decision = "allow"
"#;

/// Parameter expansion that runs `touch PWNED`: `$'\x24'` is `$`, and `@P` expands the
/// value `$(touch PWNED)` as a prompt.
const PROMPT_EXPANSION: &str = "git status ${Y:=$'\\x24'(touch PWNED)}${Y@P}";

#[test]
fn an_allowed_git_status_does_not_run_code_hidden_in_its_arguments() {
    let setup = Setup::new(GIT_STATUS_ALLOWED);
    let out = setup.bash(PROMPT_EXPANSION, &[]);
    assert!(!setup.work().join("PWNED").exists(), "{out:?}");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("needs approval"), "{out:?}");
    assert!(out.stderr.contains("rerun with --yes"), "{out:?}");
    assert!(out.stderr.contains("No allow rule"), "{out:?}");

    let plain = setup.bash("git status --short", &[]);
    assert!(!plain.stderr.contains("denied"), "{plain:?}");
}

#[test]
fn the_hidden_code_runs_when_the_user_approves_it() {
    let setup = Setup::new(GIT_STATUS_ALLOWED);
    let out = setup.bash(PROMPT_EXPANSION, &["--yes"]);
    assert!(setup.work().join("PWNED").exists(), "{out:?}");
}
