//! `conch sessions`: list the saved sessions, or show one readably.

use std::io::Write;
use std::process::ExitCode;

use super::{CliError, SessionsCommand};
use crate::session::{SessionStore, Transcript};

/// Runs `conch sessions [list|show ID]`.
pub fn run(command: SessionsCommand) -> Result<ExitCode, CliError> {
    let store = SessionStore::open_default().map_err(|e| CliError::Usage(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match command {
        SessionsCommand::List => {
            let ids = store.ids().map_err(|e| CliError::Failed(e.into()))?;
            if ids.is_empty() {
                writeln!(out, "no sessions yet in {}", store.dir().display())
                    .map_err(|e| CliError::Failed(e.into()))?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{:<20}  {:<20}  {:>5}  {:>8}  CWD · FIRST PROMPT",
                "ID", "CREATED", "TURNS", "TOKENS"
            )
            .map_err(|e| CliError::Failed(e.into()))?;
            for id in ids {
                let row = match Transcript::load(&store, &id) {
                    Ok(transcript) => {
                        let s = transcript.summary();
                        format!(
                            "{:<20}  {:<20}  {:>5}  {:>8}  {} · {}",
                            s.id,
                            s.created,
                            s.turns,
                            s.tokens,
                            s.cwd,
                            crate::ui::one_line(&s.first_prompt, 60)
                        )
                    }
                    Err(e) => format!("{id:<20}  (unreadable: {e})"),
                };
                writeln!(out, "{row}").map_err(|e| CliError::Failed(e.into()))?;
            }
        }
        SessionsCommand::Show { id } => {
            let transcript =
                Transcript::load(&store, &id).map_err(|e| CliError::Usage(e.to_string()))?;
            write!(out, "{}", transcript.render()).map_err(|e| CliError::Failed(e.into()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
