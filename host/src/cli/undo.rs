//! `conch undo`: put back the files the last change of a session wrote.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;
use crate::session::{Entry, SessionStore, Transcript};

/// Undoes the last changeset of session `id` (default: the latest in `cwd` that changed
/// files, a replay's included); returns
/// what was restored, for the user.
pub fn undo_last(id: Option<&str>, cwd: &Path, force: bool) -> Result<String, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let store = SessionStore::open_default().map_err(|e| usage(&e))?;
    let cwd = std::fs::canonicalize(cwd).unwrap_or(cwd.into());
    let transcript = match id {
        Some(id) => Transcript::load(&store, id),
        // The session that last changed files here, even a replay's (which `--continue`
        // skips): that is the change a user means right after it.
        None => match Transcript::latest_with_changes_in(&store, &cwd) {
            Ok(Some(transcript)) => Ok(transcript),
            Ok(None) => Transcript::latest_in(&store, &cwd),
            Err(e) => Err(e),
        },
    }
    .map_err(|e| usage(&e))?;
    let id = transcript.header.id.clone();
    let Some(record) = transcript.last_changeset() else {
        return Err(CliError::Usage(format!(
            "session {id} has no changes left to undo"
        )));
    };
    let restored = crate::changeset::undo(record, &store.blob_dir(&id), force)
        .map_err(|e| CliError::Failed(e.into()))?;
    let mut writer = store.append_to(&id).map_err(|e| usage(&e))?;
    writer
        .append(&Entry::Undone {
            call_id: record.call_id.clone(),
        })
        .map_err(|e| CliError::Failed(e.into()))?;
    Ok(format!(
        "undid `{}` ({}) of session {id}: restored {}",
        record.tool,
        record.call_id,
        restored.paths().join(", ")
    ))
}

/// Runs `conch undo`.
pub fn run(session: Option<&str>, cwd: Option<&Path>, force: bool) -> Result<ExitCode, CliError> {
    let cwd = match cwd {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    println!("{}", undo_last(session, &cwd, force)?);
    Ok(ExitCode::SUCCESS)
}
