//! `conch resume` and `conch repl --resume` without an id: pick one of this directory's
//! recent sessions on a terminal; headless, list them and ask for an id.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::CliError;
use crate::session::{SessionStore, SessionSummary, Transcript};

/// Sessions offered at most.
const OFFERED: usize = 9;

/// The id of the session to continue in `cwd`: the user's pick on a terminal, or a usage
/// error listing the sessions (and how to name one) without one.
pub fn choose(cwd: &Path) -> Result<String, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let cwd = crate::workspace::context_for(cwd)
        .map_err(|e| usage(&e))?
        .cwd;
    let store = SessionStore::open_default().map_err(|e| usage(&e))?;
    let sessions = recent_in(&store, &cwd)?;
    if sessions.is_empty() {
        return Err(CliError::Usage(format!(
            "there is no session for {} yet; start one with `conch run` or `conch repl`",
            cwd.display()
        )));
    }
    let now = SystemTime::now();
    let rows: Vec<String> = sessions.iter().map(|s| row(s, now)).collect();
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        let list: String = sessions
            .iter()
            .zip(&rows)
            .map(|(s, row)| format!("\n  {}  {row}", s.id))
            .collect();
        return Err(CliError::Usage(format!(
            "which session? give its id: `conch resume ID` (or `conch repl --session ID`). Recent sessions here, newest first:{list}"
        )));
    }
    match crate::ui::pick(
        "Continue which session? (↑/↓ and Enter, or its number; q to quit)",
        &rows,
    ) {
        Some(index) => Ok(sessions[index].id.clone()),
        None => Err(CliError::Usage("no session chosen".into())),
    }
}

/// The newest sessions whose working directory is `cwd` and that have a prompt (not
/// replays, not `conch tool` runs), newest first.
fn recent_in(store: &SessionStore, cwd: &Path) -> Result<Vec<SessionSummary>, CliError> {
    let cwd = cwd.to_string_lossy();
    let mut found = Vec::new();
    for id in store.ids().map_err(|e| CliError::Failed(e.into()))? {
        let Ok(transcript) = Transcript::load(store, &id) else {
            continue;
        };
        let header = &transcript.header;
        if header.cwd != cwd || header.replay_of.is_some() || header.tool_run.is_some() {
            continue;
        }
        let summary = transcript.summary();
        if summary.turns == 0 {
            continue;
        }
        found.push(summary);
        if found.len() == OFFERED {
            break;
        }
    }
    Ok(found)
}

/// `3 min ago   2 turns  fix the failing test`
fn row(session: &SessionSummary, now: SystemTime) -> String {
    let age = humantime::parse_rfc3339(&session.created)
        .ok()
        .and_then(|created| now.duration_since(created).ok())
        .map_or_else(|| session.created.clone(), age);
    let s = if session.turns == 1 { "" } else { "s" };
    format!(
        "{age:>12}  {:>3} turn{s:1}  {}",
        session.turns,
        crate::ui::one_line(&session.first_prompt, 60)
    )
}

/// How long ago, in the largest unit that fits: `just now`, `5 min ago`, `3 h ago`,
/// `2 days ago`.
fn age(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..172_800 => "1 day ago".into(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_unit() {
        assert_eq!(age(Duration::from_secs(5)), "just now");
        assert_eq!(age(Duration::from_secs(5 * 60 + 59)), "5 min ago");
        assert_eq!(age(Duration::from_secs(3 * 3600)), "3 h ago");
        assert_eq!(age(Duration::from_secs(86_400 + 5)), "1 day ago");
        assert_eq!(age(Duration::from_secs(9 * 86_400)), "9 days ago");
    }
}
