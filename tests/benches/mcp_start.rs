//! `conch run` start → first request with three MCP servers configured (the fixture
//! server, started in the sandbox), beside the same run with none: with no cached tool
//! lists (the first request waits for the servers, at most their startup timeout) and
//! with cached ones (nobody waits; the servers start in the background). The mock LLM
//! answers at once with text, so the run is start-up, one request, exit. See BENCHMARKS.md.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench mcp_start [-- --runs N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use conch_tests::bench::{count_arg, report};
use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;

const FIXTURE: &str = env!("CARGO_BIN_EXE_mcp_fixture");

fn main() {
    let runs = count_arg("--runs", 20);
    let servers: String = ["one", "two", "three"]
        .iter()
        .map(|name| format!("[mcp.{name}]\ncommand = {FIXTURE:?}\n"))
        .collect();
    let none = scenario(runs, "", Cache::Warm);
    let cold = scenario(runs, &servers, Cache::Empty);
    let warm = scenario(runs, &servers, Cache::Warm);
    println!("`conch run` start → first request, {runs} runs each, p50 / p90 / max");
    report("no MCP servers", &none);
    report("3 servers, no cached tool lists", &cold);
    report("3 servers, cached tool lists", &warm);
}

#[derive(Clone, Copy, PartialEq)]
enum Cache {
    /// A fresh cache dir per run: no tool lists (and no compile cache).
    Empty,
    /// One cache dir for all runs, filled by a first run that is not counted.
    Warm,
}

/// `runs` runs of `conch run` in one project configured with `config`; start → first
/// request of each.
fn scenario(runs: usize, config: &str, cache: Cache) -> Vec<Duration> {
    let mock = MockLlm::start(vec![Reply::text("hi"); runs + 1]);
    let project = Project::with_config(&mock.url(), config);
    let kept = tempfile::tempdir().unwrap();
    let mut times = Vec::new();
    for run in 0..=runs {
        let fresh = tempfile::tempdir().unwrap();
        let dir: &Path = if cache == Cache::Empty {
            fresh.path()
        } else {
            kept.path()
        };
        let mut cmd = project.conch(&["run", "hi"]);
        cmd.env("CONCH_CACHE_DIR", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let status = cmd.status().expect("conch run");
        assert!(status.success(), "conch run failed: {status}");
        let request = &mock.requests()[run];
        let tools = request.body["tools"].to_string();
        if !config.is_empty() {
            assert!(tools.contains("mcp__three__echo"), "no MCP tools: {tools}");
        }
        if run > 0 || cache == Cache::Empty {
            times.push(request.received_at - started);
        }
    }
    times
}
