//! Undo: before a changeset is committed its pre-images are saved beside the session
//! (content-addressed), and the session records what was changed; undoing restores the
//! pre-images atomically, refusing when a file changed since (unless forced).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Changeset, FileChange, PathRules, WorkspacePath, commit};

/// From this size up, a file's two digests are computed on two threads (below it, the
/// thread costs more than it saves).
const PARALLEL: usize = 64 * 1024;

/// A committed changeset, as the session records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub call_id: String,
    pub tool: String,
    pub summary: String,
    pub roots: Vec<PathBuf>,
    pub files: Vec<JournalFile>,
}

/// One file of a committed changeset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalFile {
    pub root: usize,
    pub relative: PathBuf,
    pub display: String,
    /// Digest of the pre-image (its blob's name); `None`: the file did not exist.
    pub before: Option<String>,
    /// Digest of what was written; `None`: the file was removed.
    pub after: Option<String>,
}

/// Saves the pre-images of `changes` in `blobs` and describes them for the session.
pub fn record(
    changes: &Changeset,
    call_id: &str,
    tool: &str,
    blobs: &Path,
) -> std::io::Result<ChangeRecord> {
    std::fs::create_dir_all(blobs)?;
    let mut files = Vec::new();
    for file in &changes.files {
        let save = || -> std::io::Result<Option<String>> {
            let Some(bytes) = &file.before else {
                return Ok(None);
            };
            let name = digest(bytes);
            let blob = blobs.join(&name);
            if !blob.exists() {
                std::fs::write(&blob, bytes)?;
            }
            Ok(Some(name))
        };
        let after_digest = || file.after.as_deref().map(digest);
        let large = |side: &Option<Vec<u8>>| side.as_ref().is_some_and(|b| b.len() >= PARALLEL);
        // Both digests of a large file at once: each is as long as the pre-image's write.
        let (before, after) = if large(&file.before) && large(&file.after) {
            std::thread::scope(|scope| {
                let after = scope.spawn(after_digest);
                let before = save();
                let after = after.join().unwrap_or_else(|_| after_digest());
                (before, after)
            })
        } else {
            (save(), after_digest())
        };
        files.push(JournalFile {
            root: file.path.root,
            relative: file.path.relative.clone(),
            display: file.display.clone(),
            before: before?,
            after,
        });
    }
    Ok(ChangeRecord {
        call_id: call_id.to_string(),
        tool: tool.to_string(),
        summary: changes.summary(),
        roots: changes.rules.roots.clone(),
        files,
    })
}

/// Why an undo did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error(
        "{path} changed since `{tool}` wrote it; nothing was undone (use --force to restore it anyway)"
    )]
    Changed { path: String, tool: String },
    #[error("the saved copy of {path} is missing or damaged: {why}")]
    Blob { path: String, why: String },
    #[error(transparent)]
    Commit(#[from] super::CommitError),
}

/// Restores the pre-images of `record` from `blobs`, atomically.
pub fn undo(record: &ChangeRecord, blobs: &Path, force: bool) -> Result<Changeset, UndoError> {
    let rules = PathRules::new(
        record.roots.clone(),
        record.roots.first().cloned().unwrap_or_default(),
    );
    let mut files = Vec::new();
    for file in &record.files {
        let path = WorkspacePath {
            root: file.root,
            relative: file.relative.clone(),
        };
        let current = match std::fs::read(rules.absolute(&path)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(UndoError::Blob {
                    path: file.display.clone(),
                    why: e.to_string(),
                });
            }
        };
        if !force && current.as_deref().map(digest) != file.after {
            return Err(UndoError::Changed {
                path: file.display.clone(),
                tool: record.tool.clone(),
            });
        }
        let before = match &file.before {
            Some(name) => {
                let bytes = std::fs::read(blobs.join(name)).map_err(|e| UndoError::Blob {
                    path: file.display.clone(),
                    why: e.to_string(),
                })?;
                if digest(&bytes) != *name {
                    return Err(UndoError::Blob {
                        path: file.display.clone(),
                        why: "its digest does not match".into(),
                    });
                }
                Some(bytes)
            }
            None => None,
        };
        files.push(FileChange {
            path,
            display: file.display.clone(),
            before: current,
            after: before,
            mode_from: None,
        });
    }
    let changes = Changeset {
        rules,
        files,
        created_dirs: Vec::new(),
        removed_dirs: Vec::new(),
    };
    commit(&changes)?;
    Ok(changes)
}

fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
