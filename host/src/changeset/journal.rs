//! Undo: as a changeset is committed its pre-images are saved beside the session
//! (content-addressed: a hard link to the replaced file, or a copy), and the session
//! records what was changed; undoing restores the pre-images atomically, refusing when a
//! file changed since (unless forced).

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt};
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

impl ChangeRecord {
    /// Describes `changes` for the session: each file's digests, computed here once for
    /// the freshness check, the journal and `conch undo`. Nothing is written.
    pub fn new(changes: &Changeset, call_id: &str, tool: &str) -> ChangeRecord {
        let files = changes
            .files
            .iter()
            .map(|file| {
                let before_digest = || file.before.as_deref().map(digest);
                let after_digest = || file.after.as_deref().map(digest);
                let large =
                    |side: &Option<Vec<u8>>| side.as_ref().is_some_and(|b| b.len() >= PARALLEL);
                let (before, after) = if large(&file.before) && large(&file.after) {
                    std::thread::scope(|scope| {
                        let after = scope.spawn(after_digest);
                        let before = before_digest();
                        (before, after.join().unwrap_or_else(|_| after_digest()))
                    })
                } else {
                    (before_digest(), after_digest())
                };
                JournalFile {
                    root: file.path.root,
                    relative: file.path.relative.clone(),
                    display: file.display.clone(),
                    before,
                    after,
                }
            })
            .collect();
        ChangeRecord {
            call_id: call_id.to_string(),
            tool: tool.to_string(),
            summary: changes.summary(),
            roots: changes.rules.roots.clone(),
            files,
        }
    }
}

/// Saves copies of the pre-images of `changes` in `blobs` and describes them for the
/// session. For changes conch does not write itself (an agent CLI's edit tool may write
/// the file in place, so the journal must share nothing with it); conch's own commits
/// save theirs inside the commit (`commit_recorded`).
pub fn record(
    changes: &Changeset,
    call_id: &str,
    tool: &str,
    blobs: &Path,
) -> std::io::Result<ChangeRecord> {
    let record = ChangeRecord::new(changes, call_id, tool);
    std::fs::create_dir_all(blobs)?;
    for (file, journaled) in changes.files.iter().zip(&record.files) {
        if let (Some(bytes), Some(name)) = (&file.before, &journaled.before) {
            save_copy(&blobs.join(name), bytes)?;
        }
    }
    Ok(record)
}

/// Saves the pre-images of `changes` in `blobs` as `record` names them, from inside a
/// commit that has checked each file is still its pre-image and will next replace or
/// remove it by rename or unlink. Such a file's inode leaves the workspace untouched, so
/// the blob can be a hard link to it instead of a 600 KB write; it is a copy when the
/// link cannot be taken (the journal on another filesystem) or is not safe (the file
/// has other links, through which it may still be written, or is not a regular file).
/// Returns the blobs that are links, for the commit to remove if it fails after all.
pub(super) fn save_pre_images(
    roots: &[Dir],
    changes: &Changeset,
    record: &ChangeRecord,
    blobs: &Path,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(blobs)?;
    let blob_dir = Dir::open_ambient_dir(blobs, ambient_authority())?;
    let mut linked = Vec::new();
    let saved = changes
        .files
        .iter()
        .zip(&record.files)
        .try_for_each(|(file, journaled)| {
            let (Some(bytes), Some(name)) = (&file.before, &journaled.before) else {
                return Ok(());
            };
            let blob = blobs.join(name);
            if blob.exists() {
                return Ok(());
            }
            if link_pre_image(&roots[file.path.root], &file.path.relative, &blob_dir, name)? {
                linked.push(blob);
                Ok(())
            } else {
                save_copy(&blob, bytes)
            }
        });
    match saved {
        Ok(()) => Ok(linked),
        Err(e) => {
            remove_links(&linked);
            Err(e)
        }
    }
}

/// Removes the blobs that are links to files a failed commit left in place: they would
/// change with them.
pub(super) fn remove_links(linked: &[PathBuf]) {
    for blob in linked {
        let _ = std::fs::remove_file(blob);
    }
}

/// Links the file at `relative` as blob `name`; `false` when it is not linked (the
/// caller copies it then).
fn link_pre_image(
    root: &Dir,
    relative: &Path,
    blob_dir: &Dir,
    name: &str,
) -> std::io::Result<bool> {
    let Ok(file) = root.symlink_metadata(relative) else {
        return Ok(false);
    };
    if !file.is_file() || file.nlink() != 1 {
        return Ok(false);
    }
    if root.hard_link(relative, blob_dir, name).is_err() {
        return Ok(false);
    }
    // Something may have replaced the file between the look and the link.
    match blob_dir.symlink_metadata(name) {
        Ok(blob) if blob.dev() == file.dev() && blob.ino() == file.ino() => Ok(true),
        _ => {
            blob_dir.remove_file(name)?;
            Ok(false)
        }
    }
}

/// Writes a pre-image's copy, unless a blob of that name (the same bytes) is there.
fn save_copy(blob: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if !blob.exists() {
        std::fs::write(blob, bytes)?;
    }
    Ok(())
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
