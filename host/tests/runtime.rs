//! The plugin runtime against a plugin that misbehaves on purpose: every misbehaviour is
//! a tool error, and the next call in the same host works.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use conch::plugin::{CallContext, CallLimits, CompileCache, PluginRegistry, ToolError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/components")
        .join(format!("{name}.wasm"))
}

fn hostile_registry() -> PluginRegistry {
    let mut registry = PluginRegistry::with_builtins(CompileCache::new(None));
    registry
        .add_file(&fixture("hostile"), &[])
        .expect("hostile fixture loads");
    registry
}

fn context(dir: &Path) -> CallContext {
    conch::workspace::context_for(dir).expect("temp dir is a workspace")
}

fn limits() -> CallLimits {
    CallLimits {
        timeout: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        output_bytes: 100 * 1024,
        ..CallLimits::default()
    }
}

/// Calls `tool`, then checks that the host still serves a normal call.
fn call_then_echo(tool: &str, input: &str) -> Result<conch::plugin::ToolOutput, ToolError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = hostile_registry();
    let ctx = context(dir.path());
    let result = registry.call(tool, input, &ctx, &limits());
    let echo = registry.call("echo", r#"{"after":true}"#, &ctx, &limits());
    assert_eq!(
        echo.map(|o| o.text).ok().as_deref(),
        Some(r#"{"after":true}"#)
    );
    result
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let err = call_then_echo("spin", "{}").expect_err("spin never returns");
    assert_eq!(err, ToolError::Timeout(Duration::from_millis(500)));
    assert!(err.to_string().contains("limit and was stopped"), "{err}");
}

#[test]
fn unbounded_allocation_traps_without_harming_the_host() {
    let err = call_then_echo("hog", "{}").expect_err("hog never returns");
    assert_eq!(err, ToolError::OutOfMemory(64 << 20));
    assert!(err.to_string().contains("more than 64 MiB"), "{err}");
}

#[test]
fn a_write_through_wasi_fails_inside_the_guest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = hostile_registry();
    let err = registry
        .call(
            "scribble",
            r#"{"path":"new.txt"}"#,
            &context(dir.path()),
            &limits(),
        )
        .expect_err("the preopen is read-only");
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("write refused")),
        "{err:?}"
    );
    assert!(!dir.path().join("new.txt").exists());
}

#[test]
fn megabytes_of_output_are_capped_with_a_notice() {
    let output = call_then_echo("flood", "{}").expect("flood returns");
    assert!(
        output.text.len() < 110 * 1024,
        "{} bytes",
        output.text.len()
    );
    assert!(
        output.text.ends_with("only the first 102400 are shown]"),
        "{}",
        &output.text[output.text.len() - 120..]
    );
    assert!(output.text.contains(&format!("returned {} bytes", 8 << 20)));
}

#[test]
fn a_panic_is_a_tool_error_carrying_its_message() {
    let err = call_then_echo("boom", "{}").expect_err("boom panics");
    assert!(
        matches!(&err, ToolError::Crashed(m) if m.contains("the hostile plugin panicked on purpose")),
        "{err:?}"
    );
}

#[test]
fn a_stack_overflow_is_a_crash_not_the_hosts() {
    let err = call_then_echo("recurse", "{}").expect_err("recurse never returns");
    assert!(
        matches!(&err, ToolError::Crashed(m) if m.contains("stack") && !m.contains("backtrace")),
        "{err:?}"
    );
}

#[test]
fn output_that_is_not_utf8_is_refused() {
    let err = call_then_echo("mangle", "{}").expect_err("mangle breaks the contract");
    assert!(
        matches!(&err, ToolError::Crashed(m) if m.to_lowercase().contains("utf")),
        "{err:?}"
    );
}

#[test]
fn an_unknown_tool_lists_the_available_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = hostile_registry()
        .call("nope", "{}", &context(dir.path()), &limits())
        .expect_err("no such tool");
    assert!(
        matches!(&err, ToolError::UnknownTool(m) if m.contains("read") && m.contains("spin")),
        "{err:?}"
    );
}

#[test]
fn the_same_plugin_cannot_load_twice() {
    let mut registry = hostile_registry();
    let err = registry
        .add_file(&fixture("hostile"), &[])
        .err()
        .expect("second copy clashes");
    assert!(
        err.to_string()
            .contains("a plugin named `hostile` is already loaded"),
        "{err}"
    );
}

#[test]
fn nothing_a_call_leaves_in_memory_reaches_the_next() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = hostile_registry();
    let ctx = context(dir.path());
    // Enough calls that the pool hands the same memory slot back, whichever way it
    // resets it.
    for _ in 0..20 {
        let seen = registry.call("remember", "{}", &ctx, &limits());
        assert_eq!(seen.map(|o| o.text).ok().as_deref(), Some("7 0"));
    }
}

#[test]
fn calls_in_parallel_each_get_their_own_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = hostile_registry();
    let ctx = context(dir.path());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let (registry, ctx) = (&registry, &ctx);
                scope.spawn(move || {
                    let input = format!(r#"{{"n":{i}}}"#);
                    let out = registry.call("echo", &input, ctx, &limits());
                    assert_eq!(out.map(|o| o.text).ok(), Some(input));
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("call thread");
        }
    });
}

#[test]
fn a_plugin_cannot_run_another_command_than_the_approved_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = hostile_registry();
    let err = registry
        .call(
            "sneak",
            r#"{"command":"echo harmless"}"#,
            &context(dir.path()),
            &limits(),
        )
        .expect_err("the host refuses the other command");
    assert!(
        err.to_string().contains("only the approved command"),
        "{err}"
    );
    assert!(!dir.path().join("sneaked.txt").exists());
}
