//! Committing a changeset: all of it or none of it. Each file is written to a temp file
//! beside it and renamed into place; if any step fails, what was already replaced is put
//! back. Every operation goes through a cap-std `Dir` on a workspace root, so nothing
//! outside the roots can be reached, whatever the links say.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use super::journal::{remove_links, save_pre_images};
use super::path::parent;
use super::{ChangeRecord, Changeset, FileChange};

/// Why a changeset was not applied. In every case the disk is as it was.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{path} changed on disk after the tool read it; nothing was written — read it again")]
    Changed { path: String },
    #[error("cannot save the copy needed to undo this change ({source}); nothing was written")]
    Journal { source: std::io::Error },
    #[error("cannot write {path}: {source}; nothing was changed")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Applies `changes` to disk, atomically across files.
pub fn commit(changes: &Changeset) -> Result<(), CommitError> {
    let roots = open_roots(changes)?;
    check_unchanged(&roots, changes)?;
    replace(&roots, changes)
}

/// Applies `changes` to disk, atomically across files, saving the pre-images `record`
/// names in `blobs` first (for `conch undo`; see `journal::save_pre_images`).
pub fn commit_recorded(
    changes: &Changeset,
    record: &ChangeRecord,
    blobs: &Path,
) -> Result<(), CommitError> {
    let roots = open_roots(changes)?;
    check_unchanged(&roots, changes)?;
    let linked = save_pre_images(&roots, changes, record, blobs)
        .map_err(|source| CommitError::Journal { source })?;
    let replaced = replace(&roots, changes);
    if replaced.is_err() {
        remove_links(&linked);
    }
    replaced
}

/// Refuses when a file is no longer what the tool read.
fn check_unchanged(roots: &[Dir], changes: &Changeset) -> Result<(), CommitError> {
    for file in &changes.files {
        let dir = &roots[file.path.root];
        let now = read_optional(dir, &file.path.relative).map_err(|source| CommitError::Io {
            path: file.display.clone(),
            source,
        })?;
        if now != file.before {
            return Err(CommitError::Changed {
                path: file.display.clone(),
            });
        }
    }
    Ok(())
}

/// Writes every file to a temp file, then renames them into place and removes what is
/// removed; on a failure puts back what was done.
fn replace(roots: &[Dir], changes: &Changeset) -> Result<(), CommitError> {
    let io = |path: &str| {
        let path = path.to_string();
        move |source| CommitError::Io { path, source }
    };
    for created in &changes.created_dirs {
        roots[created.root]
            .create_dir_all(&created.relative)
            .map_err(io(&changes.rules.display(created)))?;
    }
    // Every new content goes to a temp file first; nothing is replaced yet.
    let mut temps: Vec<(&FileChange, PathBuf)> = Vec::new();
    for file in changes.files.iter().filter(|f| f.after.is_some()) {
        match write_temp(roots, file) {
            Ok(temp) => temps.push((file, temp)),
            Err(source) => {
                remove_temps(roots, &temps);
                return Err(CommitError::Io {
                    path: file.display.clone(),
                    source,
                });
            }
        }
    }
    let mut applied: Vec<&FileChange> = Vec::new();
    for (index, (file, temp)) in temps.iter().enumerate() {
        let dir = &roots[file.path.root];
        if let Err(source) = dir.rename(temp, dir, &file.path.relative) {
            remove_temps(roots, &temps[index..]);
            roll_back(roots, &applied);
            return Err(CommitError::Io {
                path: file.display.clone(),
                source,
            });
        }
        applied.push(file);
    }
    for file in changes.files.iter().filter(|f| f.after.is_none()) {
        if let Err(source) = roots[file.path.root].remove_file(&file.path.relative) {
            roll_back(roots, &applied);
            return Err(CommitError::Io {
                path: file.display.clone(),
                source,
            });
        }
        applied.push(file);
    }
    for removed in &changes.removed_dirs {
        if let Err(source) = roots[removed.root].remove_dir(&removed.relative) {
            roll_back(roots, &applied);
            return Err(CommitError::Io {
                path: changes.rules.display(removed),
                source,
            });
        }
    }
    Ok(())
}

fn open_roots(changes: &Changeset) -> Result<Vec<Dir>, CommitError> {
    changes
        .rules
        .roots
        .iter()
        .map(|root| {
            Dir::open_ambient_dir(root, ambient_authority()).map_err(|source| CommitError::Io {
                path: root.display().to_string(),
                source,
            })
        })
        .collect()
}

/// A file's contents, or `None` when there is none.
fn read_optional(dir: &Dir, relative: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match dir.read(relative) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a file's new contents to a temp file beside it, with the permissions of the
/// file it replaces (or of a rename's source).
fn write_temp(roots: &[Dir], file: &FileChange) -> std::io::Result<PathBuf> {
    let dir = &roots[file.path.root];
    if let Some(parent) = parent(&file.path.relative) {
        dir.create_dir_all(parent)?;
    }
    let temp = temp_path(&file.path.relative);
    let mut out = dir.open_with(&temp, OpenOptions::new().write(true).create_new(true))?;
    let written = out
        .write_all(file.after.as_deref().unwrap_or_default())
        .and_then(|()| out.flush());
    let mode_source = file
        .mode_from
        .as_ref()
        .or(file.before.as_ref().map(|_| &file.path));
    let permissions = match mode_source {
        Some(source) => match roots[source.root].metadata(&source.relative) {
            Ok(meta) => Ok(Some(meta.permissions())),
            // A removed file being put back: its old mode is gone with it.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    };
    // Through the open file (fchmod): by path, cap-std would first check /proc to reach
    // the file safely, which cost more than the rest of the write for a small file.
    let result = written
        .and(permissions)
        .and_then(|permissions| match permissions {
            Some(permissions) => out.set_permissions(permissions),
            None => Ok(()),
        });
    if let Err(e) = result {
        let _ = dir.remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

/// `dir/.name.conch-PID-N.tmp` beside `relative`.
fn temp_path(relative: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = format!(
        ".{name}.conch-{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    relative.with_file_name(temp)
}

fn remove_temps(roots: &[Dir], temps: &[(&FileChange, PathBuf)]) {
    for (file, temp) in temps {
        let _ = roots[file.path.root].remove_file(temp);
    }
}

/// Puts back what `applied` replaced or removed, as well as it can.
fn roll_back(roots: &[Dir], applied: &[&FileChange]) {
    for file in applied.iter().rev() {
        let dir = &roots[file.path.root];
        let restored = match &file.before {
            Some(before) => {
                let original = FileChange {
                    after: Some(before.clone()),
                    mode_from: None,
                    ..(*file).clone()
                };
                write_temp(roots, &original)
                    .and_then(|temp| dir.rename(&temp, dir, &file.path.relative))
            }
            None => dir.remove_file(&file.path.relative),
        };
        if let Err(e) = restored {
            tracing::error!(path = %file.display, "could not restore after a failed commit: {e}");
        }
    }
}
