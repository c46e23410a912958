//! The bash tool end to end: the host runs only the approved command, in its own process
//! group, with a deadline, capped output, a scrubbed environment, and (on Linux) no writes
//! outside the workspace and no network unless allowed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, conch, run};
use serde_json::json;

/// A temp workspace (a git root).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    dir
}

/// `conch tool bash` with `--yes` (and more flags) in `dir`.
fn bash(dir: &Path, command: &str, flags: &[&str]) -> Run {
    let input = json!({ "command": command }).to_string();
    let cwd = dir.to_string_lossy().into_owned();
    let mut args = vec![
        "tool",
        "bash",
        input.as_str(),
        "--cwd",
        cwd.as_str(),
        "--yes",
    ];
    args.extend_from_slice(flags);
    run(&mut conch(&args))
}

#[test]
fn exit_codes_and_both_streams_come_back() {
    let dir = workspace();
    let out = bash(dir.path(), "echo out; echo err >&2; exit 3", &[]);
    assert_eq!(out.code, Some(0), "the tool worked: {out:?}");
    assert!(out.stdout.starts_with("exit 3 · "), "{out:?}");
    assert!(out.stdout.contains("stdout:\nout\nstderr:\nerr"), "{out:?}");
}

#[test]
fn a_timeout_kills_the_whole_group_including_background_children() {
    let dir = workspace();
    let input = json!({
        "command": "sleep 60 & echo $! $(readlink /proc/self/ns/pid) > bg.pid; sleep 60",
        "timeout_secs": 1
    })
    .to_string();
    let cwd = dir.path().to_string_lossy().into_owned();
    let started = Instant::now();
    let out = run(&mut conch(&[
        "tool", "bash", &input, "--cwd", &cwd, "--yes",
    ]));
    assert!(out.stdout.contains("timed out"), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it did not wait for sleep"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !conch_tests::running(&dir.path().join("bg.pid")),
        "the background sleep survived"
    );
}

#[test]
fn what_a_command_leaves_in_the_background_dies_with_it() {
    let dir = workspace();
    let started = Instant::now();
    let out = bash(
        dir.path(),
        "sleep 60 & echo $! $(readlink /proc/self/ns/pid) > bg.pid; echo started",
        &[],
    );
    assert!(out.stdout.contains("exit 0"), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!conch_tests::running(&dir.path().join("bg.pid")));
}

#[test]
fn long_output_is_cut_in_the_middle() {
    let dir = workspace();
    let out = bash(dir.path(), "seq 1 200000", &[]);
    assert!(out.stdout.contains("stdout (cut"), "{}", &out.stdout[..200]);
    assert!(out.stdout.contains("bytes omitted"));
    assert!(out.stdout.contains("\n1\n2\n3\n"));
    assert!(out.stdout.trim_end().ends_with("200000"));
    assert!(out.stdout.len() < 40_000, "{}", out.stdout.len());
}

#[test]
fn a_command_needs_approval_and_headless_means_no() {
    let dir = workspace();
    let input = json!({ "command": "touch ran.txt" }).to_string();
    let cwd = dir.path().to_string_lossy().into_owned();
    let out = run(&mut conch(&["tool", "bash", &input, "--cwd", &cwd]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("needs approval"), "{out:?}");
    assert!(!dir.path().join("ran.txt").exists());
    let denied = run(&mut conch(&[
        "tool",
        "bash",
        &input,
        "--cwd",
        &cwd,
        "--yes",
        "--no-bash",
    ]));
    assert_eq!(denied.code, Some(1), "{denied:?}");
    assert!(!dir.path().join("ran.txt").exists());
}

#[test]
fn the_sandbox_keeps_writes_inside_the_workspace() {
    let dir = workspace();
    let home = std::env::var("HOME").unwrap();
    let probe = format!("{home}/conch-sandbox-probe-{}", std::process::id());
    let out = bash(
        dir.path(),
        &format!("touch /etc/conch-probe; touch {probe}; echo inside > inside.txt; cat inside.txt"),
        &[],
    );
    // Landlock says "Permission denied"; under the namespace layer `/` is a read-only
    // mount, which the kernel checks first.
    assert!(
        out.stdout.contains("Permission denied") || out.stdout.contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!Path::new("/etc/conch-probe").exists());
    assert!(!Path::new(&probe).exists(), "wrote to $HOME");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("inside.txt")).unwrap(),
        "inside\n"
    );
    let read_only = bash(dir.path(), "echo x > ro.txt", &["--sandbox", "read-only"]);
    assert!(read_only.stdout.contains("exit 1"), "{read_only:?}");
    assert!(!dir.path().join("ro.txt").exists());
}

#[test]
fn network_is_off_unless_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = workspace();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let off = bash(dir.path(), &connect, &[]);
    assert!(!off.stdout.contains("connected"), "{off:?}");
    let on = bash(dir.path(), &connect, &["--network"]);
    assert!(on.stdout.contains("connected"), "{on:?}");
}

#[test]
fn secrets_never_reach_a_command_and_the_config_can_pass_more() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("conch.toml"),
        "[sandbox]\nenv = [\"MY_SETTING\"]\n",
    )
    .unwrap();
    let input = json!({ "command": "env" }).to_string();
    let cwd = dir.path().to_string_lossy().into_owned();
    // A project's `[sandbox] env` passes variables only once the project is trusted.
    let untrusted =
        run(conch(&["tool", "bash", &input, "--cwd", &cwd, "--yes"]).env("MY_SETTING", "visible"));
    assert!(!untrusted.stdout.contains("MY_SETTING"), "{untrusted:?}");
    assert!(untrusted.stderr.contains("sandbox.env"), "{untrusted:?}");
    let out = run(conch(&[
        "tool",
        "bash",
        &input,
        "--cwd",
        &cwd,
        "--yes",
        "--trust-project",
    ])
    .env("CONCH_API_KEY", "sk-very-secret")
    .env("OPENAI_API_KEY", "sk-also-secret")
    .env("SOME_TOKEN", "tok-secret")
    .env("MY_SETTING", "visible"));
    assert!(out.stdout.contains("PATH="), "{out:?}");
    assert!(out.stdout.contains("MY_SETTING=visible"), "{out:?}");
    assert!(!out.stdout.contains("secret"), "{out:?}");
}

#[test]
fn the_agent_runs_approved_commands_and_rules_can_allow_them_one_at_a_time() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", json!({"command": "echo hello from bash"})),
        Reply::tool_call("bash", json!({"command": "echo hi && touch pwned.txt"})),
        Reply::tool_call("bash", json!({"command": "rm -rf notes"})),
        Reply::text("done"),
    ]);
    let rules =
        "[[permission.rules]]\ntool = \"bash\"\npattern = \"echo *\"\ndecision = \"allow\"\n";
    let project = Project::with_config(&mock.url(), rules);
    project.write("notes/keep.txt", "keep\n");
    let out = run(&mut project.conch(&["run", "say hello"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = |i: usize| mock.last_tool_result(i);
    assert!(result(1).contains("hello from bash"), "{}", result(1));
    // `echo *` allows an echo, not a second command joined to one.
    assert!(
        result(2).contains("allow each of its commands"),
        "{}",
        result(2)
    );
    assert!(!project.path().join("pwned.txt").exists());
    assert!(result(3).contains("needs approval"), "{}", result(3));
    assert!(project.path().join("notes/keep.txt").exists());
}

#[test]
fn ctrl_c_during_a_command_kills_its_group() {
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            json!({"command": "sleep 60 & echo $! $(readlink /proc/self/ns/pid) > bg.pid; wait"}),
        ),
        Reply::text("never reached"),
    ]);
    let project = Project::new(&mock.url());
    let child = project
        .conch(&["run", "--yes", "wait a long time"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = project.path().join("bg.pid");
    conch_tests::wait_for_pid(&pid_file);
    assert!(conch_tests::running(&pid_file));
    conch_tests::interrupt_and_check_gone(child, &pid_file);
}

#[test]
fn a_commands_time_does_not_count_against_the_plugins_deadline() {
    let dir = workspace();
    let out = bash(dir.path(), "sleep 2; echo slept", &["--timeout", "1"]);
    assert!(out.stdout.contains("slept"), "{out:?}");
}
