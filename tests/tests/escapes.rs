//! Every way out of the workspace answers "outside the workspace", and nothing outside
//! is read: `..`, absolute paths, links to files and directories outside, NUL, length.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::os::unix::fs::symlink;
use std::path::Path;

use conch_tests::tool;

const SECRET: &str = "top secret outside the workspace";

/// A workspace with a file, beside an outside directory holding a secret, with links
/// from the workspace pointing out.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let base = tempfile::tempdir().expect("temp dir");
    let outside = base.path().join("outside");
    let work = base.path().join("work");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::create_dir_all(work.join("src")).expect("work dir");
    std::fs::write(outside.join("secret.txt"), SECRET).expect("secret");
    std::fs::write(work.join("src/main.rs"), "fn main() {}\n").expect("source");
    symlink(outside.join("secret.txt"), work.join("link-to-secret.txt")).expect("file link");
    symlink(&outside, work.join("link-to-outside")).expect("dir link");
    (base, work)
}

fn assert_outside(dir: &Path, name: &str, input: serde_json::Value) {
    let run = tool(dir, name, &input.to_string());
    assert_eq!(run.code, Some(1), "{name} {input}: {run:?}");
    assert!(
        run.stderr.contains("outside the workspace"),
        "{name} {input}: {run:?}"
    );
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
}

#[test]
fn parent_directory_escape_is_outside() {
    let (_base, work) = setup();
    assert_outside(
        &work,
        "read",
        serde_json::json!({"path": "../outside/secret.txt"}),
    );
    assert_outside(
        &work.join("src"),
        "read",
        serde_json::json!({"path": "../../outside/secret.txt"}),
    );
    assert_outside(&work, "listdir", serde_json::json!({"path": ".."}));
    assert_outside(
        &work,
        "grep",
        serde_json::json!({"pattern": "secret", "path": "../outside"}),
    );
    assert_outside(
        &work,
        "glob",
        serde_json::json!({"pattern": "*", "path": "../outside"}),
    );
}

#[test]
fn absolute_path_outside_is_outside() {
    let (_base, work) = setup();
    assert_outside(&work, "read", serde_json::json!({"path": "/etc/passwd"}));
    assert_outside(&work, "listdir", serde_json::json!({"path": "/etc"}));
    assert_outside(
        &work,
        "grep",
        serde_json::json!({"pattern": "root", "path": "/etc/passwd"}),
    );
}

#[test]
fn absolute_path_inside_works() {
    let (_base, work) = setup();
    let real = std::fs::canonicalize(work.join("src/main.rs")).expect("canonical");
    let run = tool(
        &work,
        "read",
        &serde_json::json!({"path": real}).to_string(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("fn main() {}"), "{run:?}");
}

#[test]
fn symlink_to_a_file_outside_is_unreachable() {
    let (_base, work) = setup();
    assert_outside(
        &work,
        "read",
        serde_json::json!({"path": "link-to-secret.txt"}),
    );
    assert_outside(
        &work,
        "grep",
        serde_json::json!({"pattern": "secret", "path": "link-to-secret.txt"}),
    );
}

#[test]
fn symlinked_directory_to_outside_is_unreachable() {
    let (_base, work) = setup();
    assert_outside(
        &work,
        "read",
        serde_json::json!({"path": "link-to-outside/secret.txt"}),
    );
    assert_outside(
        &work,
        "listdir",
        serde_json::json!({"path": "link-to-outside"}),
    );
}

#[test]
fn walking_the_workspace_never_follows_links_out() {
    let (_base, work) = setup();
    for (name, input) in [
        ("grep", serde_json::json!({"pattern": "secret"})),
        ("glob", serde_json::json!({"pattern": "**/*.txt"})),
        ("listdir", serde_json::json!({"depth": 5})),
    ] {
        let run = tool(&work, name, &input.to_string());
        assert!(!run.stdout.contains(SECRET), "{name}: {run:?}");
        assert!(
            !run.stdout.contains("secret.txt\n") || name != "glob",
            "{name}: {run:?}"
        );
    }
}

#[test]
fn a_path_with_nul_is_outside() {
    let (_base, work) = setup();
    assert_outside(
        &work,
        "read",
        serde_json::json!({"path": "src/main.rs\u{0}/../../outside"}),
    );
}

#[test]
fn a_very_long_path_is_outside() {
    let (_base, work) = setup();
    let long = "a/".repeat(5000) + "x.txt";
    assert_outside(&work, "read", serde_json::json!({"path": long}));
}

/// `conch tool NAME INPUT --cwd DIR ARGS…`, stopped if it has not ended in 30 s.
fn tool_or_hang(dir: &Path, name: &str, input: &str, args: &[&str]) -> conch_tests::Run {
    let cwd = dir.to_string_lossy();
    let mut child = conch_tests::conch(&["tool", name, input, "--cwd", &cwd])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    conch_tests::wait_or_fail(&mut child, &format!("conch tool {name} {input}"));
    conch_tests::Run::from(child.wait_with_output().unwrap())
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

#[test]
fn grep_of_a_fifo_ends_instead_of_hanging_the_agent() {
    let (_base, work) = setup();
    mkfifo(&work.join("pipe"));
    let run = tool_or_hang(&work, "grep", r#"{"pattern":"x","path":"pipe"}"#, &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("could not be read"), "{run:?}");
}

#[test]
fn a_fifo_or_device_is_refused_instead_of_hanging_the_agent() {
    let (_base, work) = setup();
    mkfifo(&work.join("pipe"));
    symlink(work.join("pipe"), work.join("link-to-pipe")).unwrap();
    symlink("/dev/zero", work.join("zeros")).unwrap();
    for (name, input) in [
        ("read", r#"{"path":"pipe"}"#),
        ("read", r#"{"path":"link-to-pipe"}"#),
        ("read", r#"{"path":"zeros"}"#),
        ("write", r#"{"path":"pipe","content":"x"}"#),
        (
            "patch",
            r#"{"patch":"*** Begin Patch\n*** Update File: pipe\n@@\n-a\n+b\n*** End Patch\n"}"#,
        ),
    ] {
        let run = tool_or_hang(&work, name, input, &["--yes"]);
        assert_eq!(run.code, Some(1), "{name} {input}: {run:?}");
        assert!(
            run.stderr.contains("not a regular file"),
            "{name} {input}: {run:?}"
        );
    }
}

#[test]
fn fifos_a_repository_names_as_agents_md_or_a_skill_are_not_waited_on() {
    use conch_tests::mock::{MockLlm, Reply};
    let mock = MockLlm::start(vec![Reply::text("answered")]);
    let project = conch_tests::project::Project::new(&mock.url());
    std::fs::create_dir_all(project.path().join(".conch/skills/trap")).unwrap();
    for fifo in ["AGENTS.md", ".conch/skills/trap/SKILL.md"] {
        mkfifo(&project.path().join(fifo));
    }
    let mut child = project
        .conch(&["run", "hello"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    conch_tests::wait_or_fail(&mut child, "conch run beside FIFOs");
    let out = conch_tests::Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("answered"), "{out:?}");
}

#[test]
fn a_plugin_blocked_opening_a_fifo_times_out_instead_of_hanging() {
    // The path is in an argument the host does not know as one, so no check before the
    // call sees it: the open blocks inside the host, where the guest's deadline cannot
    // interrupt, and the call's wall clock must end it.
    let (_base, work) = setup();
    mkfifo(&work.join("pipe"));
    let plugin = conch_tests::fixture_plugin("hostile");
    let run = tool_or_hang(
        &work,
        "stall",
        r#"{"target":"pipe"}"#,
        &[
            "--plugin",
            &plugin.to_string_lossy(),
            "--yes",
            "--timeout",
            "0.5",
        ],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("limit and was stopped"), "{run:?}");
}
