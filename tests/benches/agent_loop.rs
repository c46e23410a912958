//! The agent loop's own overhead, measured on the real binary against the loopback mock
//! LLM (which sets TCP_NODELAY and answers at once): a scripted 4-turn run — read a file,
//! `replace` in it, `bash cat` it, answer — with an empty compile cache each run (cold)
//! and with a filled one (warm). It reports the whole run's wall time, start → first
//! request, each gap (the end of one response → the next request: everything conch does
//! in between), the last response → exit, and peak RSS. See BENCHMARKS.md.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench agent_loop [-- --runs N]`
//!
//! `CONCH_BENCH_BIN=PATH` runs that binary instead of this build's (a copy of an older
//! build, to compare before and after in alternating rounds; or a script that wraps the
//! binary in `strace` or `perf` and passes its arguments on).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use serde_json::json;

/// The calls of the scenario, in order; the mock answers with text after the last.
const GAPS: [&str; 3] = ["read", "replace", "bash"];

/// What one run measured.
struct Sample {
    /// Process start → exit.
    wall: Duration,
    /// Process start → the first request arriving at the mock.
    first_request: Duration,
    /// For each call of [`GAPS`]: its response's last byte → the next request.
    gaps: [Duration; 3],
    /// The final answer's last byte → the process exited.
    exit: Duration,
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
    println!("agent loop, {runs} runs each (read → replace → bash cat → answer), p50 / p90 / max");
    for (label, samples) in [
        ("empty compile cache", &cold),
        ("warm compile cache", &warm),
    ] {
        println!("{label}:");
        report("  wall", samples.iter().map(|s| s.wall));
        report(
            "  start → first request",
            samples.iter().map(|s| s.first_request),
        );
        for (i, tool) in GAPS.iter().enumerate() {
            report(
                &format!("  gap after {tool}"),
                samples.iter().map(|s| s.gaps[i]),
            );
        }
        report("  last response → exit", samples.iter().map(|s| s.exit));
        let mut rss: Vec<i64> = samples.iter().map(|s| s.peak_rss_kib).collect();
        rss.sort();
        let mb = |kib: i64| kib as f64 / 1024.0;
        println!(
            "  {:<38} {:>6.1} MB {:>6.1} MB {:>6.1} MB",
            "peak RSS",
            mb(rss[(rss.len() - 1) / 2]),
            mb(rss[(rss.len() - 1) * 9 / 10]),
            mb(rss[rss.len() - 1])
        );
    }
}

/// One run; `cache` is the compile cache to use, or `None` for a fresh empty one.
fn sample(cache: Option<&std::path::Path>) -> Sample {
    let mock = MockLlm::start(vec![
        Reply::tool_call("read", json!({"path": "src/lib.rs"})),
        Reply::tool_call(
            "replace",
            json!({"path": "src/lib.rs", "old_string": "fn answer_0()", "new_string": "fn first()"}),
        ),
        Reply::tool_call("bash", json!({"command": "cat src/lib.rs"})),
        Reply::text("It defines forty functions; the first is now `first`."),
    ]);
    let project = Project::new(&mock.url());
    let source: String = (0..40)
        .map(|i| format!("pub fn answer_{i}() -> u32 {{ {i} }}\n"))
        .collect();
    project.write("src/lib.rs", &source);
    let fresh = tempfile::tempdir().unwrap();
    let mut cmd = project.conch(&["run", "--yes", "rename answer_0 in src/lib.rs"]);
    if let Some(bin) = std::env::var_os("CONCH_BENCH_BIN") {
        cmd = with_program(&cmd, bin);
    }
    // cargo runs benches with LD_LIBRARY_PATH pointing into target/ and the toolchain:
    // the dynamic loader would search those directories for each of conch's libraries
    // (~2 ms per start here), which no user's shell makes it do.
    cmd.env("CONCH_CACHE_DIR", cache.unwrap_or(fresh.path()))
        .env_remove("LD_LIBRARY_PATH")
        .stdout(Stdio::null());
    // With CONCH_LOG set, conch's log (time since start on each line) shows where a run
    // spends its time.
    match std::env::var_os("CONCH_LOG") {
        Some(filter) => cmd.env("CONCH_LOG", filter).stderr(Stdio::inherit()),
        None => cmd.stderr(Stdio::null()),
    };
    let (started, status, peak_rss_kib) = spawn_and_wait(&mut cmd);
    let exited = Instant::now();
    assert!(status == 0, "conch run failed with wait status {status}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4, "the scripted run makes four requests");
    let read = mock.last_tool_result(1);
    assert!(read.contains("answer_0"), "read: {read}");
    let cat = mock.last_tool_result(3);
    assert!(
        cat.contains("pub fn first()"),
        "the replace, then bash: {cat}"
    );
    let responded = |i: usize| requests[i].responded_at.expect("sent");
    let gap = |i: usize| requests[i + 1].received_at - responded(i);
    Sample {
        wall: exited - started,
        first_request: requests[0].received_at - started,
        gaps: [gap(0), gap(1), gap(2)],
        exit: exited - responded(3),
        peak_rss_kib,
    }
}

/// `cmd` (its arguments, environment and directory) running `program` instead.
fn with_program(cmd: &Command, program: std::ffi::OsString) -> Command {
    let mut other = Command::new(program);
    other.args(cmd.get_args()).stdin(Stdio::null());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => other.env(key, value),
            None => other.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        other.current_dir(dir);
    }
    other
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
