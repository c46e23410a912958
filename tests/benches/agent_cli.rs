//! What conch adds per turn when its model is an agent CLI, in both modes, measured in
//! one run against driving the same (fake, instant) CLI directly. See BENCHMARKS.md.
//!
//! - stateless: a CLI process per turn — the CLI run directly vs a turn of `conch repl`
//!   with `mode = "stateless"`;
//! - persistent: one CLI process, a user message per turn over its stdin — directly vs a
//!   turn of `conch repl` (default mode);
//! - a whole `conch run` (start, one turn, exit) vs one direct CLI run.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench agent_cli [-- --runs N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use conch_tests::mock::MockLlm;
use conch_tests::project::Project;

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fake-agent-cli.sh");
    let persistent = project(&cli, "persistent");
    let stateless = project(&cli, "stateless");

    let mut direct_stateless = Vec::new();
    let mut direct_persistent = Vec::new();
    let mut conch_stateless = Vec::new();
    let mut conch_persistent = Vec::new();
    let mut direct_run = Vec::new();
    let mut conch_run = Vec::new();

    let mut kept = Session::start(direct(&cli));
    let mut repl_persistent = Session::start(persistent.conch(&["repl"]));
    let mut repl_stateless = Session::start(stateless.conch(&["repl"]));
    for turn in 1..=runs {
        direct_stateless.push({
            let started = Instant::now();
            let mut once = Session::start(direct(&cli));
            once.turn("question", "\"type\":\"result\"");
            drop(once);
            started.elapsed()
        });
        direct_persistent.push(kept.turn("question", "\"type\":\"result\""));
        conch_persistent.push(repl_persistent.turn("question", &format!("Answer {turn} of")));
        conch_stateless.push(repl_stateless.turn("question", "Answer 1 of"));

        direct_run.push(time(|| {
            let mut once = Session::start(direct(&cli));
            once.turn("say hello", "\"type\":\"result\"");
        }));
        conch_run.push(time(|| {
            let status = persistent
                .conch(&["run", "say hello"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        }));
    }
    println!("one turn, {runs} turns each, p50 / p90");
    report("stateless: the CLI directly", &mut direct_stateless);
    report("stateless: a conch repl turn", &mut conch_stateless);
    report("persistent: the CLI directly", &mut direct_persistent);
    report("persistent: a conch repl turn", &mut conch_persistent);
    report("a whole run: the CLI directly", &mut direct_run);
    report("a whole run: conch run", &mut conch_run);
}

/// A project whose provider is the fake CLI in `mode`.
fn project(cli: &Path, mode: &str) -> Project {
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write_config(&format!(
            "provider = \"cli\"\n[providers.cli]\nkind = \"agent-cli\"\ncommand = {:?}\nmode = {mode:?}\n[providers.cli.env]\nFAKE_CLI_SCENARIO = \"count\"\n",
            cli.display().to_string()
        ),
    );
    project
}

/// The fake CLI as conch starts it.
fn direct(cli: &PathBuf) -> Command {
    let mut command = Command::new(cli);
    command
        .args([
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ])
        .env("FAKE_CLI_SCENARIO", "count");
    command
}

/// A child process fed lines on stdin whose stdout is read line by line.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The line format: stream-json for the CLI, plain text for the repl.
    json: bool,
}

impl Session {
    fn start(mut command: Command) -> Session {
        let json = command.get_program().to_string_lossy().ends_with(".sh");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Session {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            json,
        }
    }

    /// Sends `prompt` and reads until a line containing `until`; the time it took.
    fn turn(&mut self, prompt: &str, until: &str) -> Duration {
        let started = Instant::now();
        let line = if self.json {
            format!(
                "{{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":{prompt:?}}}}}\n"
            )
        } else {
            format!("{prompt}\n")
        };
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut out = String::new();
        loop {
            out.clear();
            assert!(self.stdout.read_line(&mut out).unwrap() > 0, "output ended");
            if out.contains(until) {
                return started.elapsed();
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    let at = |p: usize| times[(times.len() - 1) * p / 100];
    println!("{label:<34} {:>9.2?} {:>9.2?}", at(50), at(90));
}
