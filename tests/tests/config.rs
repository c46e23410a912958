//! `conch config show`: the real binary resolving real files and variables.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use conch_tests::{Run, conch, run};

/// A user config dir and a project (a git root), kept apart from the user's own files
/// and from any CONCH_* variables of the shell running the tests.
struct Dirs {
    user: tempfile::TempDir,
    project: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        let dirs = Dirs {
            user: tempfile::tempdir().unwrap(),
            project: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(dirs.project.path().join(".git")).unwrap();
        dirs
    }

    fn user_file(&self, text: &str) {
        std::fs::write(self.user.path().join("conch.toml"), text).unwrap();
    }

    fn project_file(&self, text: &str) {
        std::fs::write(self.project.path().join("conch.toml"), text).unwrap();
    }

    fn show(&self) -> Command {
        let cwd = self.project.path().to_string_lossy().into_owned();
        let mut cmd = conch(&["config", "show", "--cwd", &cwd]);
        cmd.env("CONCH_CONFIG_DIR", self.user.path());
        for var in [
            "CONCH_PROVIDER",
            "CONCH_BASE_URL",
            "CONCH_MODEL",
            "CONCH_API_KEY",
            "OPENAI_API_KEY",
            "DEEPSEEK_API_KEY",
            "MOONSHOT_API_KEY",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn project_file_wins_over_user_file_and_the_key_is_masked() {
    let dirs = Dirs::new();
    dirs.user_file(
        r#"
        provider = "deepseek"
        [providers.deepseek]
        model = "deepseek-chat"
        api_key = "${TEST_DEEPSEEK_KEY}"
        "#,
    );
    dirs.project_file(
        "[providers.deepseek]\nmodel = \"deepseek-reasoner\"\n\
         [webfetch]\ndeny_hosts = [\"tracker.example\"]\n\
         [plugins]\nreplace_builtins = [\"grep\"]\n",
    );
    let out: Run = run(dirs
        .show()
        .env("TEST_DEEPSEEK_KEY", "sk-0123456789abcdefabcd"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("provider = \"deepseek\""), "{out:?}");
    assert!(
        out.stdout.contains("model = \"deepseek-reasoner\""),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("base_url = \"https://api.deepseek.com/v1\""),
        "{out:?}"
    );
    assert!(out.stdout.contains("api_key = \"sk-…abcd\""), "{out:?}");
    for line in [
        "# allow_hosts: any public host",
        "deny_hosts = [\"tracker.example\"]",
        "allow_private = false",
        // Untrusted, the project file cannot let plugins replace built-ins.
        "replace_builtins = []",
    ] {
        assert!(out.stdout.contains(line), "{line}: {out:?}");
    }
    assert!(!out.stdout.contains("0123456789abcdef"), "{out:?}");
    assert!(
        out.stdout
            .contains(&path_text(&dirs.user.path().join("conch.toml"))),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains(&path_text(&dirs.project.path().join("conch.toml"))),
        "{out:?}"
    );
}

#[test]
fn environment_alone_is_a_complete_provider() {
    let dirs = Dirs::new();
    let out = run(dirs
        .show()
        .env("CONCH_BASE_URL", "http://localhost:11434/v1/")
        .env("CONCH_MODEL", "qwen3"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("provider = \"env\""), "{out:?}");
    assert!(
        out.stdout
            .contains("base_url = \"http://localhost:11434/v1\""),
        "{out:?}"
    );
    assert!(out.stdout.contains("model = \"qwen3\""), "{out:?}");
    assert!(out.stdout.contains("api_key = \"(not set)\""), "{out:?}");
}

#[test]
fn unknown_key_names_the_file_and_the_key() {
    let dirs = Dirs::new();
    dirs.project_file("provider = \"ollama\"\n[providers.ollama]\nmodel = \"m\"\nmodle = \"x\"\n");
    let out = run(&mut dirs.show());
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.starts_with("error: "), "{out:?}");
    assert!(
        out.stderr
            .contains(&path_text(&dirs.project.path().join("conch.toml"))),
        "{out:?}"
    );
    assert!(out.stderr.contains("providers.ollama.modle"), "{out:?}");
}

#[test]
fn unset_placeholder_names_the_variable() {
    let dirs = Dirs::new();
    dirs.user_file(
        "provider = \"openai\"\nmodel = \"gpt-5\"\n[providers.openai]\napi_key = \"${CONCH_TEST_UNSET_KEY}\"\n",
    );
    let out = run(dirs.show().env_remove("CONCH_TEST_UNSET_KEY"));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("providers.openai.api_key"), "{out:?}");
    assert!(
        out.stderr
            .contains("set CONCH_TEST_UNSET_KEY or remove the placeholder"),
        "{out:?}"
    );
}

#[test]
fn an_unusable_provider_still_shows_the_rest_then_says_what_is_missing() {
    let dirs = Dirs::new();
    dirs.project_file(
        "provider = \"ollama\"\n[sandbox]\ndeny_read = [\"secrets\"]\n[permission]\nbash = \"deny\"\n",
    );
    let out = run(&mut dirs.show());
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.contains("[permission]"), "{out:?}");
    assert!(out.stdout.contains("secrets"), "{out:?}");
    assert!(out.stderr.starts_with("error: "), "{out:?}");
    assert!(out.stderr.contains("has no model"), "{out:?}");
}

#[test]
fn syntax_error_names_the_file() {
    let dirs = Dirs::new();
    dirs.project_file("provider = \"ollama\"\n[providers.ollama\n");
    let out = run(&mut dirs.show());
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "{}:2:",
            path_text(&dirs.project.path().join("conch.toml"))
        )),
        "{out:?}"
    );
    assert!(out.stderr.contains("syntax"), "{out:?}");
}

#[test]
fn config_show_says_where_each_value_came_from() {
    let dirs = Dirs::new();
    dirs.user_file(
        "provider = \"deepseek\"\nretries = 5\n[providers.deepseek]\nmodel = \"deepseek-chat\"\n\
         [permission]\nbash = \"deny\"\n",
    );
    dirs.project_file("max_steps = 7\n[providers.deepseek]\nmodel = \"deepseek-reasoner\"\n");
    let out: Run = run(dirs.show().env("CONCH_API_KEY", "sk-from-the-environment"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let origin = |key: &str| {
        out.stdout
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(key))
            .unwrap_or_else(|| panic!("no origin for {key}: {out:?}"))
            .to_string()
    };
    let user = path_text(&dirs.user.path().join("conch.toml"));
    let project = path_text(&dirs.project.path().join("conch.toml"));
    assert!(origin("provider").ends_with(&user), "{out:?}");
    assert!(origin("retries").ends_with(&user), "{out:?}");
    assert!(origin("permission.bash").ends_with(&user), "{out:?}");
    assert!(origin("model").ends_with(&project), "{out:?}");
    assert!(origin("max_steps").ends_with(&project), "{out:?}");
    assert!(
        origin("providers.deepseek.api_key").ends_with("$CONCH_API_KEY"),
        "{out:?}"
    );
    assert!(
        origin("compact_at").ends_with("default or preset"),
        "{out:?}"
    );
}
