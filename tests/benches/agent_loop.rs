//! The agent loop's own overhead, measured on the real binary against the loopback mock
//! LLM: a scripted turn (read a file, read it again, answer), run with a cold and a warm
//! compile cache. The mock answers at once, so the first call's gap includes waiting for
//! the plugin to load or compile, which a real model's seconds of thinking would hide;
//! the second call's gap is the loop's steady state. See BENCHMARKS.md.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench agent_loop [-- --runs N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use serde_json::json;

/// What one run measured.
struct Sample {
    /// Process start → the first request arriving at the mock.
    first_request: Duration,
    /// The first response's last byte → the second request (the first read in between).
    first_gap: Duration,
    /// The same for the second read, with the plugin loaded.
    steady_gap: Duration,
    /// Process start → exit.
    total: Duration,
    peak_rss_kib: i64,
}

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let warm_cache = tempfile::tempdir().unwrap();
    // Fill the warm cache once.
    sample(Some(warm_cache.path()));
    let cold: Vec<Sample> = (0..runs).map(|_| sample(None)).collect();
    let warm: Vec<Sample> = (0..runs).map(|_| sample(Some(warm_cache.path()))).collect();
    println!("agent loop, {runs} runs each (read a file → answer), p50 / p90 / max");
    for (label, samples) in [("cold compile cache", &cold), ("warm compile cache", &warm)] {
        println!("{label}:");
        report(
            "  start → first request",
            samples.iter().map(|s| s.first_request),
        );
        report(
            "  first read: response → next request",
            samples.iter().map(|s| s.first_gap),
        );
        report(
            "  later read: response → next request",
            samples.iter().map(|s| s.steady_gap),
        );
        report("  whole run", samples.iter().map(|s| s.total));
        let rss = samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0);
        println!("  {:<38} {:.1} MB", "peak RSS (max)", rss as f64 / 1024.0);
    }
}

/// One run; `cache` is the compile cache to use, or `None` for a fresh empty one.
fn sample(cache: Option<&std::path::Path>) -> Sample {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "src/lib.rs"})),
        Reply::tool_call("read", json!({"path": "src/lib.rs", "offset": 2})),
        Reply::text("It defines one function."),
    ]);
    let project = Project::new(&mock.url());
    project.write("src/lib.rs", &"pub fn answer() -> u32 { 42 }\n".repeat(40));
    let fresh = tempfile::tempdir().unwrap();
    let mut cmd = project.conch(&["run", "what is in src/lib.rs?"]);
    cmd.env("CONCH_CACHE_DIR", cache.unwrap_or(fresh.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (started, status, peak_rss_kib) = spawn_and_wait(&mut cmd);
    let total = started.elapsed();
    assert!(status == 0, "conch run failed with wait status {status}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3, "the scripted turn makes three requests");
    let gap = |i: usize| requests[i + 1].received_at - requests[i].responded_at.expect("sent");
    Sample {
        first_request: requests[0].received_at - started,
        first_gap: gap(0),
        steady_gap: gap(1),
        total,
        peak_rss_kib,
    }
}

/// Spawns `cmd` and waits with `wait4`, for the child's peak RSS (KiB).
#[allow(unsafe_code, clippy::zombie_processes)] // reaped by wait4, which std cannot do
fn spawn_and_wait(cmd: &mut Command) -> (Instant, i32, i64) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn conch");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: both pointers are to memory we own, sized for what wait4 writes; std never
    // waits for this child, so the pid is still ours.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    // SAFETY: wait4 succeeded, so it filled in the struct.
    let usage = unsafe { usage.assume_init() };
    (started, status, usage.ru_maxrss)
}

fn report(label: &str, times: impl Iterator<Item = Duration>) {
    let mut times: Vec<Duration> = times.collect();
    times.sort();
    let at = |p: usize| times[(times.len() - 1) * p / 100];
    println!(
        "{label:<40} {:>9.2?} {:>9.2?} {:>9.2?}",
        at(50),
        at(90),
        at(100)
    );
}
