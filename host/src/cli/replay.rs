//! `conch replay SESSION`: run a session's recorded tool calls again, in order, against
//! the current tree and through the same gate, and say which results still match.
//!
//! No model is asked. The replay is recorded as a session of its own (marked with
//! `replay_of`, never picked by `--continue`), so the original stays untouched and
//! whatever the replay wrote can be put back with `conch undo --session ID`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use super::chat::{EXIT_INTERRUPTED, block_on, interrupt_on_ctrl_c};
use super::{CliError, Format, PermissionArgs, PluginArgs, SandboxArgs};
use crate::agent::{Agent, AgentEvent, AgentProfiles, DEFAULT_AGENT, Settings, ToolBox, TurnIo};
use crate::message::{Message, ToolCall};
use crate::permission::Gate;
use crate::provider::{ChatRequest, EventStream, Provider, ProviderError};
use crate::session::{Entry, Header, RecordedCall, SessionStore, Transcript};
use crate::ui::TerminalApprover;

/// Lines of a difference shown per call.
const DIFF_LINES: usize = 40;

/// What `conch replay` was asked.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The session (its id, or the start of one; see `conch sessions`).
    pub session: String,
    /// List the calls that would run, and run none.
    #[arg(long)]
    pub dry_run: bool,
    /// Output: `text`, or `json` (one object per call, then a summary).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Replay in this directory instead of the session's own.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Run the MCP calls too (they are skipped otherwise: they may have side effects
    /// beyond the workspace, such as a created issue or a sent message).
    #[arg(long)]
    pub include_mcp: bool,
    #[command(flatten)]
    pub permission: PermissionArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// How one call came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Match,
    Differs,
    /// The session never ran it (the turn was interrupted or stopped first).
    Skipped,
    /// An MCP call, left out without `--include-mcp`.
    SkippedMcp,
    WouldRun,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Differs => "differs",
            Verdict::Skipped | Verdict::SkippedMcp => "skipped",
            Verdict::WouldRun => "would_run",
        }
    }
}

/// Runs `conch replay`: exit 0 when every result matches, 1 when any differs.
pub fn run(args: &ReplayArgs, trust_project: bool) -> Result<ExitCode, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let store = SessionStore::open_default().map_err(|e| usage(&e))?;
    let transcript = Transcript::load(&store, &args.session).map_err(|e| usage(&e))?;
    let groups = transcript.recorded_calls();
    let total: usize = groups.iter().map(Vec::len).sum();
    let here = args
        .cwd
        .clone()
        .unwrap_or_else(|| PathBuf::from(&transcript.header.cwd));
    let ask = std::io::stdin().is_terminal();
    let config = super::load_config(&here, trust_project, ask)?;
    let registry = Arc::new(super::registry(&args.plugins, Some((&here, &config)))?);
    let tools = ToolBox::new(registry.clone());
    let mut report = Report {
        format: args.format,
        total,
        index: 0,
        counts: [0; 3],
    };
    if args.dry_run {
        for recorded in groups.iter().flatten() {
            let verdict = if never_ran(recorded) {
                Verdict::Skipped
            } else if skips_mcp(&recorded.call, args.include_mcp) {
                Verdict::SkippedMcp
            } else {
                Verdict::WouldRun
            };
            report.call(&tools, &recorded.call, verdict, None)?;
        }
        report.summary(&transcript.header.id, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let cwd = args
        .cwd
        .clone()
        .unwrap_or_else(|| PathBuf::from(&transcript.header.cwd));
    let ctx = crate::workspace::context_for(&cwd).map_err(|e| usage(&e))?;
    if args.include_mcp {
        // Only then: a replay that skips its MCP calls starts no server.
        super::mcp::offer_tools(
            &registry,
            super::mcp::start_servers(&config, &ctx, &args.sandbox.policy(&config))?,
        );
    }
    let gate = Gate::new(config.permission(), args.permission.flags());
    // Each call is decided as the agent profile of its time did (`plan` denies edits).
    let profiles = AgentProfiles::from_config(config.agents());
    for name in groups.iter().flatten().filter_map(|r| r.agent.as_deref()) {
        profiles.find(name).map_err(|e| usage(&e))?;
    }
    registry.warm_up();
    let writer = store
        .create(Header {
            id: String::new(),
            cwd: ctx.cwd.to_string_lossy().into_owned(),
            provider: transcript.header.provider.clone(),
            model: transcript.header.model.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            created: crate::session::now_rfc3339(),
            replay_of: Some(transcript.header.id.clone()),
            tool_run: None,
        })
        .map_err(|e| CliError::Failed(e.into()))?;
    let settings = Settings {
        max_steps: crate::config::DEFAULT_MAX_STEPS,
        retries: 0,
        compact_at: crate::config::DEFAULT_COMPACT_AT,
        context_window: crate::config::DEFAULT_CONTEXT_WINDOW,
        tool_limits: args.sandbox.call_limits(&config),
    };
    // Tool results that carried images were made for a model that took them: their calls
    // attach them again, so the results can match.
    let images = transcript.entries.iter().any(|entry| {
        matches!(entry, crate::session::Entry::Message(m @ crate::message::Message::Tool { .. }) if !m.images().is_empty())
    });
    let mut agent = Agent::new(
        Arc::new(NoModel { images }),
        tools,
        gate,
        ctx,
        writer,
        Vec::new(),
        settings,
    );
    let replay_id = agent.session_id().to_string();
    let mut terminal = TerminalApprover;
    // The agent's own events are not shown: the report says what matters per call.
    let mut events: Vec<AgentEvent> = Vec::new();
    let interrupted = block_on(async {
        let (interrupt, watcher) = interrupt_on_ctrl_c();
        let outcome = replay_groups(
            &mut agent,
            &profiles,
            &groups,
            args.include_mcp,
            &mut report,
            TurnIo {
                events: &mut events,
                approver: if ask { Some(&mut terminal) } else { None },
                interrupt,
            },
        )
        .await;
        watcher.abort();
        outcome
    })??;
    report.summary(&transcript.header.id, Some(&replay_id))?;
    if interrupted {
        agent.record(Entry::Interrupted).map_err(failed)?;
        return Err(CliError::Reported(EXIT_INTERRUPTED));
    }
    Ok(if report.counts[1] == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Replays every group in order; true when the user interrupted it.
async fn replay_groups(
    agent: &mut Agent,
    profiles: &AgentProfiles,
    groups: &[Vec<RecordedCall>],
    include_mcp: bool,
    report: &mut Report,
    mut io: TurnIo<'_>,
) -> Result<bool, CliError> {
    let mut current = None;
    for group in groups {
        if io.interrupt.is_cancelled() {
            return Ok(true);
        }
        let wanted = group
            .first()
            .and_then(|r| r.agent.as_deref())
            .unwrap_or(DEFAULT_AGENT);
        if current != Some(wanted) {
            let profile = profiles
                .find(wanted)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            agent.use_profile(profile);
            agent
                .record(Entry::Agent {
                    name: profile.name.clone(),
                })
                .map_err(failed)?;
            current = Some(wanted);
        }
        let calls: Vec<ToolCall> = group.iter().map(|r| r.call.clone()).collect();
        agent
            .record(Entry::Message(Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: calls,
            }))
            .map_err(failed)?;
        for (at, recorded) in group.iter().enumerate() {
            if io.interrupt.is_cancelled() {
                record_not_run(agent, &group[at..])?;
                return Ok(true);
            }
            if never_ran(recorded) {
                agent
                    .record(Entry::Message(Message::tool_result(
                        &recorded.call.id,
                        "error: not run: the session never ran it",
                    )))
                    .map_err(failed)?;
                report.call(agent.tools(), &recorded.call, Verdict::Skipped, None)?;
                continue;
            }
            if skips_mcp(&recorded.call, include_mcp) {
                agent
                    .record(Entry::Message(Message::tool_result(
                        &recorded.call.id,
                        "error: not run: an MCP call is replayed only with --include-mcp",
                    )))
                    .map_err(failed)?;
                report.call(agent.tools(), &recorded.call, Verdict::SkippedMcp, None)?;
                continue;
            }
            let Some((now, _)) = agent
                .rerun_call(&recorded.call, &mut io)
                .await
                .map_err(failed)?
            else {
                record_not_run(agent, &group[at + 1..])?;
                return Ok(true);
            };
            let then = recorded.result.as_deref().unwrap_or("");
            let diff = compare(then, &now, recorded.result.is_some());
            let verdict = if diff.is_none() {
                Verdict::Match
            } else {
                Verdict::Differs
            };
            report.call(agent.tools(), &recorded.call, verdict, diff.as_deref())?;
        }
    }
    Ok(false)
}

/// Results for calls the user's Ctrl-C kept from running, so the replay's session
/// stays well formed.
fn record_not_run(agent: &mut Agent, calls: &[RecordedCall]) -> Result<(), CliError> {
    for recorded in calls {
        agent
            .record(Entry::Message(Message::tool_result(
                &recorded.call.id,
                "error: not run: the user interrupted the replay",
            )))
            .map_err(failed)?;
    }
    Ok(())
}

/// A failure to write the replay's session (or of the loop): exit 1.
fn failed(e: impl Into<anyhow::Error>) -> CliError {
    CliError::Failed(e.into())
}

/// Whether the session recorded the call as never run (a turn interrupted or stopped
/// before it): such calls are not replayed.
fn never_ran(recorded: &RecordedCall) -> bool {
    recorded
        .result
        .as_deref()
        .is_some_and(|r| r.starts_with("error: not run:"))
}

/// Whether `call` is an MCP call left out of this replay: it may have had effects
/// beyond the workspace (an issue created, a message sent) that running it again repeats.
fn skips_mcp(call: &ToolCall, include_mcp: bool) -> bool {
    !include_mcp && call.name.starts_with(crate::mcp::naming::PREFIX)
}

/// `None` when the results match, else a short unified diff (recorded → now). A
/// command's duration in its status line (`exit 0 · 12 ms`) is not compared.
fn compare(then: &str, now: &str, recorded: bool) -> Option<String> {
    if !recorded {
        return Some(format!(
            "the session has no result for this call; now:\n{}",
            cap_lines(now)
        ));
    }
    let (then, now) = (without_duration(then), without_duration(now));
    if then == now {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&then, &now)
        .unified_diff()
        .context_radius(2)
        .header("recorded", "now")
        .to_string();
    Some(cap_lines(&diff))
}

/// The first `DIFF_LINES` lines of `text`, with a note of how many more there are.
fn cap_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..lines.len().min(DIFF_LINES)].join("\n");
    if lines.len() > DIFF_LINES {
        out.push_str(&format!("\n… {} more lines", lines.len() - DIFF_LINES));
    }
    out
}

/// `text` with ` · 12 ms` / ` · 1.5 s` taken off the end of its first line.
fn without_duration(text: &str) -> String {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = match first.rsplit_once(" · ") {
        Some((status, took))
            if took
                .strip_suffix(" ms")
                .or_else(|| took.strip_suffix(" s"))
                .is_some_and(|n| n.parse::<f64>().is_ok()) =>
        {
            status
        }
        _ => first,
    };
    if text.contains('\n') {
        format!("{first}\n{rest}")
    } else {
        first.to_string()
    }
}

/// Prints the outcome of each call and the summary, as text or JSON lines.
struct Report {
    format: Format,
    total: usize,
    index: usize,
    /// match, differs, skipped.
    counts: [usize; 3],
}

impl Report {
    fn call(
        &mut self,
        tools: &ToolBox,
        call: &ToolCall,
        verdict: Verdict,
        diff: Option<&str>,
    ) -> Result<(), CliError> {
        self.index += 1;
        match verdict {
            Verdict::Match => self.counts[0] += 1,
            Verdict::Differs => self.counts[1] += 1,
            Verdict::Skipped | Verdict::SkippedMcp => self.counts[2] += 1,
            Verdict::WouldRun => {}
        }
        let key = key_of(tools, call);
        let mut out = std::io::stdout().lock();
        let written = match self.format {
            Format::Json => {
                let mut line = json!({
                    "type": "call",
                    "index": self.index,
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": verdict.as_str(),
                });
                if let Some(key) = &key {
                    line["key"] = json!(key);
                }
                if let Some(diff) = diff {
                    line["diff"] = json!(diff);
                }
                if verdict == Verdict::SkippedMcp {
                    line["reason"] = json!("mcp");
                }
                writeln!(out, "{line}")
            }
            Format::Text => {
                let what = match &key {
                    Some(key) => format!("{} {}", call.name, crate::ui::one_line(key, 60)),
                    None => format!("{} {}", call.name, crate::ui::one_line(&call.arguments, 60)),
                };
                let status = match verdict {
                    Verdict::Match => "matches",
                    Verdict::Differs => "differs",
                    Verdict::Skipped => "skipped: the session never ran it",
                    Verdict::SkippedMcp => {
                        "skipped: an MCP call (it may have effects beyond the workspace; --include-mcp runs it)"
                    }
                    Verdict::WouldRun => "would run",
                };
                let mut text = format!("[{}/{}] {what} … {status}", self.index, self.total);
                if let Some(diff) = diff {
                    for line in diff.lines() {
                        text.push_str("\n    ");
                        text.push_str(line);
                    }
                }
                writeln!(out, "{text}")
            }
        };
        written.map_err(|e| CliError::Failed(e.into()))
    }

    fn summary(&self, session: &str, replay: Option<&str>) -> Result<(), CliError> {
        let [matched, differed, skipped] = self.counts;
        let mut out = std::io::stdout().lock();
        let written = match self.format {
            Format::Json => writeln!(
                out,
                "{}",
                json!({
                    "type": "summary",
                    "session": session,
                    "replay_session": replay,
                    "calls": self.total,
                    "matched": matched,
                    "differed": differed,
                    "skipped": skipped,
                })
            ),
            Format::Text => match replay {
                None => writeln!(
                    out,
                    "{} calls in session {session} (dry run: nothing ran)",
                    self.total
                ),
                Some(replay) => writeln!(
                    out,
                    "{} calls: {matched} match, {differed} differ, {skipped} skipped \
                     (replay recorded as session {replay})",
                    self.total
                ),
            },
        };
        written.map_err(|e| CliError::Failed(e.into()))
    }
}

/// The call's key argument (a path, a command…), as the manifest names it.
fn key_of(tools: &ToolBox, call: &ToolCall) -> Option<String> {
    let field = tools.spec(&call.name)?.key_arg.clone()?;
    let input: serde_json::Value = serde_json::from_str(&call.arguments).ok()?;
    let value = input.get(&field)?;
    Some(
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string),
    )
}

/// The provider of a replay: it runs only recorded calls and never asks a model, so a
/// request reaching it is a bug reported as an error rather than sent anywhere. It
/// takes images when the recorded model did.
struct NoModel {
    images: bool,
}

impl Provider for NoModel {
    fn name(&self) -> &str {
        "replay"
    }

    fn model(&self) -> &str {
        ""
    }

    fn accepts_images(&self) -> bool {
        self.images
    }

    fn stream(&self, _request: ChatRequest) -> EventStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let _ = sender.try_send(Err(ProviderError::Unavailable {
            provider: "replay".into(),
            detail: "a replay runs recorded tool calls and asks no model".into(),
        }));
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_duration_is_not_compared() {
        assert_eq!(
            compare("exit 0 · 12 ms\nhi", "exit 0 · 1.5 s\nhi", true),
            None
        );
        assert_eq!(compare("exit 0 · 3 ms", "exit 0 · 4 ms", true), None);
        let diff = compare("exit 0 · 12 ms\nhi", "exit 1 · 12 ms\nhi", true).unwrap();
        assert!(
            diff.contains("-exit 0") && diff.contains("+exit 1"),
            "{diff}"
        );
    }

    #[test]
    fn a_call_without_a_recorded_result_differs() {
        assert!(compare("", "now", false).is_some());
    }
}
