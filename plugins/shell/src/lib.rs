//! The shell plugin: the `bash` tool. WebAssembly cannot start processes, so the tool
//! asks the host through the `process` import; the host runs only the command the user
//! (or the rules) approved, confined by the OS, and this plugin turns the outcome into a
//! compact report for the model.

use conch_plugin::bindings::conch::tool::process::{self, Command, Completed};
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BashInput {
    /// The command line, e.g. `cargo test -q 2>&1 | tail -20`
    #[schemars(length(min = 1))]
    command: String,
    /// Seconds before the command is killed (default 120)
    #[schemars(range(min = 1, max = 600))]
    timeout_secs: Option<u32>,
    /// Directory to run in, relative to the working directory (default: the working directory)
    cwd: Option<String>,
}

struct Bash;

impl Tool for Bash {
    const NAME: &'static str = "bash";
    const DESCRIPTION: &'static str = "Run a shell command (bash -c) in the working \
        directory and get its exit code, output and duration. Stdin is empty; there is no \
        terminal. Default timeout 120 s (timeout_secs, at most 600), after which the command \
        and everything it started are killed. Output is cut to about 30 KB per stream, keeping \
        the start and the end. Unless the user turned the sandbox off, the command can write \
        only inside the workspace and $TMPDIR, and has no network. Background processes are \
        killed when the command ends. The user may be asked to approve each command.";
    const PERMISSION: &'static str = "bash";
    const KEY_ARG: Option<&'static str> = Some("command");
    type Input = BashInput;

    fn run(input: BashInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let done = process::run(&Command {
            command: input.command,
            cwd: input.cwd.unwrap_or_default(),
            timeout_ms: input.timeout_secs.map(|s| s.saturating_mul(1000)),
            env: Vec::new(),
        })
        .map_err(ToolError::Failed)?;
        Ok(ToolOutput::text(report(&done)))
    }
}

conch_plugin::plugin!(Bash);

/// `exit 0 · 12 ms`, then the streams that have something in them.
fn report(done: &Completed) -> String {
    let status = match (done.exit_code, done.timed_out) {
        (_, true) => "timed out: the command and its children were killed".to_string(),
        (Some(code), false) => format!("exit {code}"),
        (None, false) => "killed by a signal".to_string(),
    };
    let mut out = format!("{status} · {}", duration(done.duration_ms));
    for (name, text, truncated) in [
        ("stdout", &done.stdout, done.stdout_truncated),
        ("stderr", &done.stderr, done.stderr_truncated),
    ] {
        if text.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n{name}{}:\n{}",
            if truncated {
                " (cut: the middle is left out)"
            } else {
                ""
            },
            text.trim_end_matches('\n')
        ));
    }
    if done.stdout.is_empty() && done.stderr.is_empty() {
        out.push_str("\n(no output)");
    }
    out
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }

    fn done(exit_code: Option<i32>, stdout: &str, stderr: &str) -> Completed {
        Completed {
            exit_code,
            timed_out: false,
            stdout: stdout.into(),
            stdout_truncated: false,
            stderr: stderr.into(),
            stderr_truncated: false,
            duration_ms: 1500,
        }
    }

    #[test]
    fn reports_are_compact() {
        assert_eq!(
            report(&done(Some(0), "", "")),
            "exit 0 · 1.5 s\n(no output)"
        );
        assert_eq!(
            report(&done(Some(2), "out\n", "err\n")),
            "exit 2 · 1.5 s\nstdout:\nout\nstderr:\nerr"
        );
        assert!(report(&done(None, "", "")).starts_with("killed by a signal"));
    }
}
