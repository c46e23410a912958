//! What conch adds per turn when its model is an agent CLI: `conch run` with the
//! agent-cli provider against running the same (fake, instant) CLI directly, in one run.
//! See BENCHMARKS.md.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench agent_cli [-- --runs N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
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
    let project = Project::new(&MockLlm::start(vec![]).url());
    project.write(
        "conch.toml",
        &format!(
            "provider = \"cli\"\n[providers.cli]\nkind = \"agent-cli\"\ncommand = {:?}\n[providers.cli.env]\nFAKE_CLI_SCENARIO = \"text\"\n",
            cli.display().to_string()
        ),
    );
    let time = |cmd: &mut Command| {
        let started = Instant::now();
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        started.elapsed()
    };
    let mut direct = Vec::new();
    let mut through_conch = Vec::new();
    for _ in 0..runs {
        direct.push(time(
            Command::new(&cli)
                .args([
                    "-p",
                    "say hello",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                ])
                .env("FAKE_CLI_SCENARIO", "text"),
        ));
        through_conch.push(time(&mut project.conch(&["run", "say hello"])));
    }
    println!("one turn, {runs} runs each, p50 / p90");
    report("the CLI directly", &mut direct);
    report("conch run with the agent-cli provider", &mut through_conch);
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    let at = |p: usize| times[(times.len() - 1) * p / 100];
    println!("{label:<40} {:>9.2?} {:>9.2?}", at(50), at(90));
}
