//! The permission gate through the real binary: `[permission]` rules in conch.toml decide
//! whether `conch tool` runs a call, and a denial tells the model how to get it allowed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

use conch_tests::{Run, conch, run};
use tempfile::TempDir;

/// A project (a git root) with a file outside and inside `secret/`, and an empty user
/// config dir so the tester's own conch.toml does not interfere.
struct Project {
    user: TempDir,
    root: TempDir,
}

impl Project {
    fn new(project_toml: &str) -> Self {
        let project = Project {
            user: tempfile::tempdir().unwrap(),
            root: tempfile::tempdir().unwrap(),
        };
        let root = project.root.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::create_dir(root.join("secret")).unwrap();
        std::fs::write(root.join("secret/x"), "the password\n").unwrap();
        std::fs::write(root.join("notes.txt"), "public notes\n").unwrap();
        std::fs::write(root.join("conch.toml"), project_toml).unwrap();
        project
    }

    fn user_file(&self, text: &str) {
        std::fs::write(self.user.path().join("conch.toml"), text).unwrap();
    }

    fn tool(&self, name: &str, input: &str, extra: &[&str]) -> Run {
        let cwd = self.root.path().to_string_lossy().into_owned();
        let mut args = vec!["tool", name, input, "--cwd", &cwd];
        args.extend_from_slice(extra);
        let mut cmd: Command = conch(&args);
        cmd.env("CONCH_CONFIG_DIR", self.user.path());
        run(&mut cmd)
    }
}

const DENY_SECRETS: &str = r#"
[[permission.rules]]
tool = "read"
pattern = "secret/*"
decision = "deny"
"#;

#[test]
fn a_deny_rule_refuses_matching_paths_and_says_which_rule() {
    let project = Project::new(DENY_SECRETS);
    let denied = project.tool("read", r#"{"path":"secret/x"}"#, &[]);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(!denied.stdout.contains("password"), "{denied:?}");
    assert!(denied.stderr.starts_with("error: denied:"), "{denied:?}");
    assert!(denied.stderr.contains("`read` on `secret/x`"), "{denied:?}");
    assert!(
        denied.stderr.contains("pattern = \"secret/*\""),
        "{denied:?}"
    );

    let allowed = project.tool("read", r#"{"path":"notes.txt"}"#, &[]);
    assert_eq!(allowed.code, Some(0), "{allowed:?}");
    assert!(allowed.stdout.contains("public notes"), "{allowed:?}");
}

#[test]
fn a_deny_rule_on_a_path_cannot_be_dodged_by_spelling_the_path_differently() {
    let project = Project::new(DENY_SECRETS);
    let absolute = project.root.path().canonicalize().unwrap().join("secret/x");
    for path in [
        "./secret/x".to_string(),
        "secret/../secret/x".to_string(),
        absolute.to_string_lossy().into_owned(),
    ] {
        let input = serde_json::json!({ "path": path }).to_string();
        let denied = project.tool("read", &input, &[]);
        assert_eq!(denied.code, Some(1), "{path}: {denied:?}");
        assert!(!denied.stdout.contains("password"), "{path}: {denied:?}");
    }
}

#[test]
fn yes_does_not_override_an_explicit_deny() {
    let project = Project::new(DENY_SECRETS);
    let denied = project.tool("read", r#"{"path":"secret/x"}"#, &["--yes"]);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(!denied.stdout.contains("password"), "{denied:?}");
}

#[test]
fn a_denial_in_json_mode_is_a_denied_tool_error() {
    let project = Project::new(DENY_SECRETS);
    let denied = project.tool("read", r#"{"path":"secret/x"}"#, &["--json"]);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    let value: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert_eq!(value["error"]["kind"], "denied", "{value}");
}

#[test]
fn a_project_allow_rule_lifts_a_user_deny_only_once_the_project_is_trusted() {
    let project = Project::new(
        r#"
[[permission.rules]]
tool = "read"
pattern = "secret/x"
decision = "allow"
"#,
    );
    project.user_file(DENY_SECRETS);
    let denied = project.tool("read", r#"{"path":"secret/x"}"#, &[]);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(!denied.stdout.contains("password"), "{denied:?}");
    assert!(denied.stderr.contains("is not trusted"), "{denied:?}");
    let allowed = project.tool("read", r#"{"path":"secret/x"}"#, &["--trust-project"]);
    assert_eq!(allowed.code, Some(0), "{allowed:?}");
    assert!(allowed.stdout.contains("password"), "{allowed:?}");
}

#[test]
fn an_ask_without_a_terminal_is_denied_with_how_to_allow_it() {
    let project = Project::new("[permission]\nread = \"ask\"\n");
    let denied = project.tool("read", r#"{"path":"notes.txt"}"#, &[]);
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(denied.stderr.contains("no terminal"), "{denied:?}");
    assert!(denied.stderr.contains("rerun with --yes"), "{denied:?}");
    assert!(denied.stderr.contains("[[permission.rules]]"), "{denied:?}");

    let approved = project.tool("read", r#"{"path":"notes.txt"}"#, &["--yes"]);
    assert_eq!(approved.code, Some(0), "{approved:?}");
    assert!(approved.stdout.contains("public notes"), "{approved:?}");
}

#[test]
fn a_misspelt_permission_setting_is_a_usage_error_naming_the_key() {
    let project = Project::new("[permission]\nread = \"alow\"\n");
    let refused = project.tool("read", r#"{"path":"notes.txt"}"#, &[]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("permission.read"), "{refused:?}");
}
