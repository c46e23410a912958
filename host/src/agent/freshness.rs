//! Stale-write protection: the content hash of each file as a tool last read or wrote it
//! in this session. A change to an existing file the session never read, or that changed
//! on disk since, is refused: the model would be editing what it has not seen.

use std::collections::HashMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::changeset::{ChangeRecord, Changeset, PathRules};
use crate::session::Entry;

/// What the session has seen of each file.
#[derive(Debug, Default)]
pub struct FileStates {
    seen: HashMap<PathBuf, [u8; 32]>,
}

impl FileStates {
    /// Notes the file at `path` (as a tool's key argument) as read now; returns the entry
    /// for the session, so a continued session remembers it.
    pub fn note_read(&mut self, rules: &PathRules, path: &str) -> Option<Entry> {
        let at = rules.resolve(path).ok()?;
        let absolute = rules.absolute(&at);
        let bytes = std::fs::read(&absolute).ok()?;
        let seen = digest(&bytes);
        self.seen.insert(absolute.clone(), seen);
        Some(Entry::FileSeen {
            path: absolute,
            digest: hex(&seen),
        })
    }

    /// What a session recorded: the files its tools read and the files its changes wrote.
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut states = FileStates::default();
        for entry in entries {
            match entry {
                Entry::FileSeen { path, digest } => {
                    if let Some(digest) = unhex(digest) {
                        states.seen.insert(path.clone(), digest);
                    }
                }
                Entry::Changeset(record) => states.note_written(record),
                _ => {}
            }
        }
        states
    }

    /// Refuses changes to files that changed since they were read, and (with
    /// `require_read`) to files that were not read. `record` describes `changes`: its
    /// digests are the ones the journal keeps.
    pub fn check(
        &self,
        changes: &Changeset,
        record: &ChangeRecord,
        require_read: bool,
    ) -> Result<(), String> {
        for (file, journaled) in changes.files.iter().zip(&record.files) {
            let Some(before) = journaled.before.as_deref() else {
                continue; // a new file
            };
            let absolute = changes.rules.absolute(&file.path);
            match self.seen.get(&absolute) {
                None if !require_read => {}
                None => {
                    return Err(format!(
                        "{} has not been read in this session; read it first, then change it",
                        file.display
                    ));
                }
                Some(seen) if unhex(before) != Some(*seen) => {
                    return Err(format!(
                        "{} changed since you read it; read it again before changing it",
                        file.display
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Notes the files a committed change wrote (and forgets removed ones), by the
    /// digests its record keeps.
    pub fn note_written(&mut self, record: &ChangeRecord) {
        for file in &record.files {
            let Some(root) = record.roots.get(file.root) else {
                continue;
            };
            let path = root.join(&file.relative);
            match file.after.as_deref().and_then(unhex) {
                Some(digest) => {
                    self.seen.insert(path, digest);
                }
                None => {
                    self.seen.remove(&path);
                }
            }
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
