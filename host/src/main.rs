//! The `conch` binary: parse the command line, run it, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Plain warnings by default; with CONCH_LOG set, time since start on every line, to
    // see where a run spends its time.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false);
    match tracing_subscriber::EnvFilter::try_from_env("CONCH_LOG") {
        Ok(filter) => builder
            .with_env_filter(filter)
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .init(),
        Err(_) => builder
            // rmcp logs the failures conch reports itself (an MCP server unreachable
            // or refusing), in its own words.
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,rmcp=off"))
            .without_time()
            .init(),
    }
    let cli = conch::cli::Cli::parse();
    match conch::cli::run(cli) {
        Ok(code) => code,
        Err(conch::cli::CliError::Reported(code)) => ExitCode::from(code),
        // Whoever read the output stopped (`conch sessions | head -1`): nothing is wrong,
        // so exit quietly, as ripgrep does.
        Err(conch::cli::CliError::Failed(e)) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has gone.
fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
