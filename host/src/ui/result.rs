//! What a command's result says, read back from the shell plugin's report (`exit 3 · 0.2 s`,
//! then `stdout:` and `stderr:` sections), so the summary and the lines under a tool call
//! can show the exit code and a glimpse of the output.

/// Output lines shown under a command from each end; the middle is counted, not shown.
const SHOWN_EACH_END: usize = 3;

/// Characters kept of one output line.
const LINE_WIDTH: usize = 160;

/// A command's report, parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandReport<'a> {
    /// `exit 3 · 0.2 s`, `timed out: … · 30.0 s`, `killed by a signal · 1.2 s`.
    pub status: &'a str,
    /// The exit code, when the command exited by itself.
    pub code: Option<i32>,
    /// The output lines (stdout, then stderr), without the section headers.
    pub lines: Vec<&'a str>,
}

impl<'a> CommandReport<'a> {
    /// The report in a tool's output, if the output is one: its first line is a status
    /// with a duration after ` · `.
    pub fn parse(output: &'a str) -> Option<CommandReport<'a>> {
        let mut lines = output.lines();
        let status = lines.next()?;
        let (what, duration) = status.rsplit_once(" · ")?;
        if !duration.ends_with(" ms") && !duration.ends_with(" s") {
            return None;
        }
        let code = match what.strip_prefix("exit ") {
            Some(code) => Some(code.parse().ok()?),
            None if what.starts_with("timed out") || what == "killed by a signal" => None,
            None => return None,
        };
        let lines = lines
            .filter(|l| {
                !matches!(*l, "(no output)")
                    && !(["stdout", "stderr"]
                        .iter()
                        .any(|s| l.starts_with(s) && l.ends_with(':')))
            })
            .collect();
        Some(CommandReport {
            status,
            code,
            lines,
        })
    }

    /// Whether the command exited with 0.
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// One line: the status, and how much output there was.
    pub fn summary(&self) -> String {
        match self.lines.len() {
            0 => format!("{} · no output", self.status),
            1 => format!("{} · 1 line", self.status),
            n => format!("{} · {n} lines", self.status),
        }
    }

    /// The first and last output lines, each cut to a width, with the number of lines left
    /// out between them.
    pub fn glimpse(&self) -> Vec<String> {
        let cut = |l: &&str| super::one_line(l, LINE_WIDTH);
        let n = self.lines.len();
        if n <= 2 * SHOWN_EACH_END + 1 {
            return self.lines.iter().map(cut).collect();
        }
        let mut out: Vec<String> = self.lines[..SHOWN_EACH_END].iter().map(cut).collect();
        out.push(format!("… {} more lines", n - 2 * SHOWN_EACH_END));
        out.extend(self.lines[n - SHOWN_EACH_END..].iter().map(cut));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_is_read_with_its_code_and_lines() {
        let report = CommandReport::parse("exit 3 · 0.2 s\nstdout:\na\nb\nstderr:\nc").unwrap();
        assert_eq!(report.code, Some(3));
        assert!(!report.succeeded());
        assert_eq!(report.lines, ["a", "b", "c"]);
        assert_eq!(report.summary(), "exit 3 · 0.2 s · 3 lines");
        let quiet = CommandReport::parse("exit 0 · 12 ms\n(no output)").unwrap();
        assert!(quiet.succeeded());
        assert_eq!(quiet.summary(), "exit 0 · 12 ms · no output");
        let killed =
            CommandReport::parse("timed out: the command and its children were killed · 30.0 s");
        assert_eq!(killed.unwrap().code, None);
    }

    #[test]
    fn other_output_is_not_a_command_report() {
        assert_eq!(CommandReport::parse("src/a.rs +3 -1"), None);
        assert_eq!(CommandReport::parse("exit strategy · later"), None);
        assert_eq!(CommandReport::parse(""), None);
    }

    #[test]
    fn a_long_output_shows_both_ends() {
        let output: String = std::iter::once("exit 0 · 1.0 s\nstdout:".to_owned())
            .chain((1..=20).map(|i| format!("line {i}")))
            .collect::<Vec<_>>()
            .join("\n");
        let glimpse = CommandReport::parse(&output).unwrap().glimpse();
        assert_eq!(
            glimpse,
            [
                "line 1",
                "line 2",
                "line 3",
                "… 14 more lines",
                "line 18",
                "line 19",
                "line 20"
            ]
        );
    }
}
