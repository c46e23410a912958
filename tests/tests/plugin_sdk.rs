//! A plugin author's path with the Rust SDK, end to end: `conch plugin new` scaffolds a
//! crate, `conch plugin install DIR` builds it for wasm32-wasip2 (its manifest made from
//! Cargo.toml and the tools' own description, schemas derived from their input types)
//! and installs it, and the tool works through `conch tool` — inside the workspace only.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{plugin_cargo_env, run};

#[test]
fn a_scaffolded_plugin_builds_installs_and_runs_confined() {
    let project = Project::new(&MockLlm::start(vec![]).url());
    let authoring = project.path().join("../authoring");
    std::fs::create_dir_all(&authoring).unwrap();
    let authoring_str = authoring.to_str().unwrap();

    let out = run(&mut project.conch(&["plugin", "new", "Bad Name", "--dir", authoring_str]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot be a plugin name"), "{out:?}");

    let out = run(&mut project.conch(&["plugin", "new", "wordy", "--dir", authoring_str]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let crate_dir = authoring.join("wordy");
    assert!(crate_dir.join("src/lib.rs").is_file());
    let out = run(&mut project.conch(&["plugin", "new", "wordy", "--dir", authoring_str]));
    assert_eq!(
        out.code,
        Some(2),
        "an existing dir is not overwritten: {out:?}"
    );

    // The scaffold's own test passes natively.
    let test = plugin_cargo_env(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["test", "--quiet", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml")),
    )
    .output()
    .unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );

    let out = run(plugin_cargo_env(&mut project.conch(&[
        "plugin",
        "install",
        "--yes",
        crate_dir.to_str().unwrap(),
    ])));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("fs:read: read the workspace"),
        "{out:?}"
    );

    // The schema the model sees is derived from the input type, doc comments included.
    let out = run(&mut project.conch(&["tools", "--json"]));
    let tools: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let wordy = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "wordy")
        .unwrap_or_else(|| panic!("wordy is listed: {tools}"));
    assert_eq!(wordy["key_arg"], "path");
    assert_eq!(wordy["input_schema"]["required"][0], "path");
    assert!(
        wordy["input_schema"]["properties"]["path"]["description"]
            .as_str()
            .unwrap()
            .contains("relative to the working directory"),
        "{wordy}"
    );

    project.write("poem.txt", "roses are red\nviolets are blue\n");
    let out = run(&mut project.conch(&["tool", "wordy", r#"{"path":"poem.txt"}"#]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "2 lines, 6 words");

    let out = run(&mut project.conch(&["tool", "wordy", r#"{"path":"../../../etc/passwd"}"#]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("outside the workspace"), "{out:?}");
    let out = run(&mut project.conch(&["tool", "wordy", r#"{"file":"poem.txt"}"#]));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("path"), "{out:?}");
}
