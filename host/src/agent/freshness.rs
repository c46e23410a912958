//! Stale-write protection: the content hash of each file as a tool last read or wrote it
//! in this session. A change to an existing file the session never read, or that changed
//! on disk since, is refused: the model would be editing what it has not seen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::changeset::{Changeset, PathRules};

/// What the session has seen of each file.
#[derive(Debug, Default)]
pub struct FileStates {
    seen: HashMap<PathBuf, [u8; 32]>,
}

impl FileStates {
    /// Notes the file at `path` (as a tool's key argument) as read now.
    pub fn note_read(&mut self, rules: &PathRules, path: &str) {
        let Ok(at) = rules.resolve(path) else {
            return;
        };
        let absolute = rules.absolute(&at);
        if let Ok(bytes) = std::fs::read(&absolute) {
            self.seen.insert(absolute, digest(&bytes));
        }
    }

    /// Refuses changes to files that were not read, or changed since.
    pub fn check(&self, changes: &Changeset) -> Result<(), String> {
        for file in &changes.files {
            let Some(before) = &file.before else {
                continue; // a new file
            };
            let absolute = changes.rules.absolute(&file.path);
            match self.seen.get(&absolute) {
                None => {
                    return Err(format!(
                        "{} has not been read in this session; read it first, then change it",
                        file.display
                    ));
                }
                Some(seen) if *seen != digest(before) => {
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

    /// Notes the files a committed changeset wrote (and forgets removed ones).
    pub fn note_written(&mut self, changes: &Changeset) {
        for file in &changes.files {
            let absolute = changes.rules.absolute(&file.path);
            match &file.after {
                Some(after) => {
                    self.seen.insert(absolute, digest(after));
                }
                None => {
                    self.seen.remove(Path::new(&absolute));
                }
            }
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
