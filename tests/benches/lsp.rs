//! What the language servers add, measured on the real binary against the loopback mock
//! LLM and the fixture server (which answers at once): the gap between the mock's
//! response and conch's next request (everything conch does for a call) for a `write`
//! with `[lsp] after_edit = "errors"` beside `"off"`, and for an `lsp definition` on a
//! warm server beside a `read` of the same file. The first call of each run (which
//! starts the server) is left out. See BENCHMARKS.md.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench lsp [-- --calls N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use conch_tests::bench::{count_arg, report};
use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use serde_json::json;

const FIXTURE: &str = env!("CARGO_BIN_EXE_lsp_fixture");

fn main() {
    let calls = count_arg("--calls", 40);
    let write = |i: usize| {
        Reply::tool_call(
            "write",
            json!({"path": "b.fx", "content": format!("fn target() {{}}\nline {i}\n")}),
        )
    };
    let definition = || {
        Reply::tool_call(
            "lsp",
            json!({"operation": "definition", "path": "a.fx", "line": 1, "symbol": "target"}),
        )
    };
    let read = || Reply::tool_call("read", json!({"path": "a.fx"}));
    println!("language servers, {calls} calls each after a first one, p50 / p90 / max of the gap");
    for after_edit in ["off", "errors"] {
        let gaps = gaps(after_edit, (0..=calls).map(write).collect());
        report(&format!("write, after_edit = {after_edit:?}"), &gaps);
    }
    let gaps_definition = gaps("errors", (0..=calls).map(|_| definition()).collect());
    report("lsp definition (warm)", &gaps_definition);
    let gaps_read = gaps("errors", (0..=calls).map(|_| read()).collect());
    report("read of the same file", &gaps_read);
}

/// Runs `script` (then a final answer) in one session; the gaps after each call but
/// the first.
fn gaps(after_edit: &str, mut script: Vec<Reply>) -> Vec<Duration> {
    let calls = script.len();
    script.push(Reply::text("done"));
    let mock = MockLlm::start(script);
    let config = format!(
        "[lsp]\nafter_edit = {after_edit:?}\n[lsp.fix]\ncommand = {FIXTURE:?}\nextensions = [\"fx\"]\n"
    );
    let project = Project::with_config(&mock.url(), &config);
    project.write("a.fx", "fn target() {}\n");
    let cache = tempfile::tempdir().unwrap();
    let status = project
        .conch(&["run", "--yes", "go"])
        .env("CONCH_CACHE_DIR", cache.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "conch run failed");
    let requests = mock.requests();
    assert_eq!(requests.len(), calls + 1);
    let second = mock.last_tool_result(2);
    assert!(!second.starts_with("error"), "{second}");
    (1..calls)
        .map(|i| requests[i + 1].received_at - requests[i].responded_at.expect("sent"))
        .collect()
}
