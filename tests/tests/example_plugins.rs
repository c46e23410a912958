//! The example plugins written in other languages, end to end: each one's build script
//! installs its pinned toolchain (componentize-py from pip, componentize-js from npm; the
//! first run only, reused from target/ afterwards) and builds the plugin; then
//! `conch plugin install` takes it, `conch tool` calls it — a good input gives the tool's
//! answer, a bad one the tool's own error — and a model can call it in a turn. The Rust
//! example is installed straight from its crate (`conch plugin install DIR` builds it).
//!
//! A toolchain that cannot be installed fails the test, saying so: these tests never skip.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, conch_bin, plugin_cargo_env, run};
use serde_json::json;

/// Runs `examples/NAME/build.sh` and returns the packaged plugin it printed last.
fn build(example: &str, toolchain: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join("build.sh");
    let out = run(Command::new("bash").arg(&script).env("CONCH", conch_bin()));
    assert_eq!(
        out.code,
        Some(0),
        "{} failed: it installs {toolchain} on its first run and needs it to build the \
         example; install the toolchain or fix the error below (this test is never skipped)\n\
         {out:?}",
        script.display()
    );
    let plugin = PathBuf::from(out.stdout.lines().last().unwrap_or_default());
    assert!(plugin.is_file(), "{script:?} printed no plugin: {out:?}");
    plugin
}

fn conch(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// Installs `plugin` for the user of a fresh project and checks that it is listed.
fn install(plugin: &Path, name: &str) -> Project {
    let project = Project::new(&MockLlm::start(vec![]).url());
    let out = conch(
        &project,
        &["plugin", "install", "--yes", plugin.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("none: it sees nothing but its input"),
        "{out:?}"
    );
    let out = conch(&project, &["plugin", "list"]);
    assert!(
        out.stdout.contains(name) && out.stdout.contains("capabilities: none"),
        "{out:?}"
    );
    project
}

/// A turn in which the model calls `tool` with `input`; returns what the model was given.
fn called_by_a_model(plugin: &Path, tool: &str, input: serde_json::Value) -> String {
    let mock = MockLlm::start(vec![Reply::tool_call(tool, input), Reply::text("done")]);
    let project = Project::new(&mock.url());
    let out = conch(
        &project,
        &["plugin", "install", "--yes", plugin.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = conch(&project, &["run", "use the tool"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let offered = &mock.requests()[0].body["tools"];
    assert!(
        offered.to_string().contains(&format!("\"{tool}\"")),
        "the model is offered the plugin's tool: {offered}"
    );
    mock.last_tool_result(mock.request_count() - 1)
}

#[test]
fn python_wordcount_plugin_builds_installs_and_answers() {
    let plugin = build("python-plugin", "componentize-py (pip, into a venv)");
    let project = install(&plugin, "wordcount");

    let out = conch(
        &project,
        &[
            "tool",
            "wordcount",
            r#"{"text": "one two two\nthree two", "top": 2}"#,
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.trim_end(),
        "2 lines, 5 words, 21 characters\nmost frequent: two (3), one (1)"
    );

    // Bad inputs the schema allows get the tool's own invalid-input message, and the
    // plugin keeps working.
    let out = conch(&project, &["tool", "wordcount", r#"{"text": "   "}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("`text` is empty: give the text to count"),
        "{out:?}"
    );
    let out = conch(&project, &["tool", "wordcount", r#"{"text": 42}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    // Input the schema refuses is refused by the host before the plugin runs, as for a
    // model's call.
    assert!(
        out.stderr
            .contains("invalid arguments for `wordcount`: /text: 42 is not of type"),
        "{out:?}"
    );

    let result = called_by_a_model(&plugin, "wordcount", json!({"text": "a b a"}));
    assert!(
        result.contains("1 lines, 3 words, 5 characters"),
        "{result}"
    );
}

#[test]
fn javascript_case_plugin_builds_installs_and_answers() {
    let plugin = build("js-plugin", "componentize-js (npm, into node_modules)");
    let project = install(&plugin, "case");

    for (to, expected) in [
        ("snake", "parse_http_response_now"),
        ("kebab", "parse-http-response-now"),
        ("camel", "parseHttpResponseNow"),
        ("upper", "PARSE HTTPRESPONSE NOW"),
    ] {
        let input = json!({"text": "parse HTTPResponse NOW", "to": to}).to_string();
        let out = conch(&project, &["tool", "case", &input]);
        assert_eq!(out.code, Some(0), "{to}: {out:?}");
        assert_eq!(out.stdout.trim_end(), expected, "{to}");
    }

    let out = conch(
        &project,
        &["tool", "case", r#"{"text": "x", "to": "shout"}"#],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "`to` must be one of upper, lower, title, snake, kebab, camel; got \"shout\""
        ),
        "{out:?}"
    );
    let out = conch(&project, &["tool", "case", "[1, 2]"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("invalid arguments for `case`: [1,2] is not of type \"object\""),
        "{out:?}"
    );

    let result = called_by_a_model(
        &plugin,
        "case",
        json!({"text": "hello world", "to": "title"}),
    );
    assert_eq!(result, "Hello World");
}

#[test]
fn rust_sortlines_plugin_builds_from_its_crate_installs_and_answers() {
    let project = Project::new(&MockLlm::start(vec![]).url());
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rust-plugin");
    // Installing a crate's directory builds it (cargo, wasm32-wasip2) and packages it.
    let out = run(plugin_cargo_env(&mut project.conch(&[
        "plugin",
        "install",
        "--yes",
        crate_dir.to_str().unwrap(),
    ])));
    assert_eq!(
        out.code,
        Some(0),
        "building the Rust example needs the wasm32-wasip2 target \
         (rustup target add wasm32-wasip2): {out:?}"
    );
    let out = conch(
        &project,
        &[
            "tool",
            "sortlines",
            r#"{"text": "pear\napple\nfig\napple", "unique": true}"#,
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim_end(), "apple\nfig\npear");

    let out = conch(&project, &["tool", "sortlines", r#"{"text": ""}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("`text` is empty: give the lines to sort"),
        "{out:?}"
    );
    let out = conch(&project, &["tool", "sortlines", r#"{"lines": "a"}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("Additional properties are not allowed ('lines' was unexpected)"),
        "{out:?}"
    );
}
