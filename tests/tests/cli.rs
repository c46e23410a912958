//! The `tools` and `tool` commands as a user meets them: output, exit codes, and what
//! they say when given something wrong.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::io::Write;
use std::process::Stdio;

use conch_tests::{conch, fixture_plugin, run, tool};

#[test]
fn tools_lists_every_builtin_with_its_plugin_and_permission() {
    let out = run(&mut conch(&["tools"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    for name in ["read", "listdir", "glob", "grep"] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{}", out.stdout));
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&columns[1..3], ["fs", "read"], "{line}");
    }
}

#[test]
fn tools_json_carries_schemas() {
    let out = run(&mut conch(&["tools", "--json"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let tools: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let read = tools
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "read"))
        .expect("read listed");
    assert_eq!(read["plugin"], "fs");
    assert_eq!(read["key_arg"], "path");
    assert_eq!(read["input_schema"]["required"][0], "path");
}

#[test]
fn tools_lists_an_extra_plugin_without_running_it() {
    let plugin = fixture_plugin("hostile");
    let out = run(&mut conch(&[
        "tools",
        "--plugin",
        &plugin.to_string_lossy(),
    ]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("spin ")),
        "{}",
        out.stdout
    );
}

#[test]
fn tool_runs_and_prints_the_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.txt"), "alpha\nbeta\n").expect("write");
    let out = tool(dir.path(), "read", r#"{"path":"a.txt"}"#);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("alpha") && out.stdout.contains("beta"),
        "{out:?}"
    );
}

#[test]
fn tool_reads_its_input_from_stdin_when_given_dash() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("b.txt"), "from stdin\n").expect("write");
    let mut cmd = conch(&["tool", "read", "-", "--cwd", &dir.path().to_string_lossy()]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"path":"b.txt"}"#)
        .expect("write stdin");
    let out: conch_tests::Run = child.wait_with_output().expect("wait").into();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("from stdin"), "{out:?}");
}

#[test]
fn a_tool_error_goes_to_stderr_with_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tool(dir.path(), "read", r#"{"path":"missing.txt"}"#);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.starts_with("error: "), "{out:?}");
}

#[test]
fn json_output_names_the_error_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = dir.path().to_string_lossy();
    let out = run(&mut conch(&[
        "tool",
        "read",
        r#"{"path":"/etc/passwd"}"#,
        "--cwd",
        &cwd,
        "--json",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(value["error"]["kind"], "outside_workspace");
}

#[test]
fn usage_errors_exit_2_and_say_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = dir.path().to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 5] = [
        (
            &["tool", "nope", "{}", "--cwd", &cwd],
            "available tools: read",
        ),
        (
            &["tool", "read", "{not json", "--cwd", &cwd],
            "not valid JSON",
        ),
        (
            &["tool", "read", "{}", "--cwd", "/no/such/dir"],
            "cannot use /no/such/dir",
        ),
        (&["tools", "--plugin", "/no/such.wasm"], "cannot read it"),
        (&["tool"], "Usage"),
    ];
    for (args, expected) in cases {
        let out = run(&mut conch(args));
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(expected), "{args:?}: {out:?}");
    }
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").expect("write");
    let out = run(&mut conch(&["tools", "--plugin", &bogus.to_string_lossy()]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("core wasm module, not a component"),
        "{out:?}"
    );
}

#[test]
fn a_misbehaving_plugin_is_a_tool_error_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = fixture_plugin("hostile");
    let cwd = dir.path().to_string_lossy();
    let plugin = plugin.to_string_lossy();
    let out = run(&mut conch(&[
        "tool",
        "spin",
        "{}",
        "--cwd",
        &cwd,
        "--plugin",
        &plugin,
        "--timeout",
        "0.3",
        // The hostile plugin can run commands, so its tools are decided as `bash`.
        "--yes",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("limit and was stopped"), "{out:?}");
}

#[test]
fn listing_tools_never_compiles_a_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let plugin = fixture_plugin("hostile");
    let out = run(
        conch(&["tools", "--plugin", &plugin.to_string_lossy()]).env("CONCH_CACHE_DIR", &cache)
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!cache.exists(), "listing wrote to the compile cache");
    // A call does compile, and fills the cache.
    let cwd = dir.path().to_string_lossy();
    let out = run(conch(&[
        "tool",
        "echo",
        "--yes",
        "{}",
        "--cwd",
        &cwd,
        "--plugin",
        &plugin.to_string_lossy(),
    ])
    .env("CONCH_CACHE_DIR", &cache));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        cache
            .join("components")
            .read_dir()
            .map(|d| d.count())
            .unwrap_or(0)
            > 0
    );
}
