//! Changes a tool wants to make: staged during the call (the `workspace` import), shown
//! as a diff, decided by the gate, then committed to disk atomically — or dropped, with
//! the disk untouched.

mod commit;
mod diff;
mod journal;
pub mod path;
mod staging;

pub use commit::{CommitError, commit, commit_recorded};
pub use journal::{ChangeRecord, JournalFile, UndoError, record, undo};
pub use path::{PathRules, WorkspacePath};
pub use staging::Staging;

/// One file's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: WorkspacePath,
    /// How the path is shown (relative to the first root).
    pub display: String,
    /// The contents when the call first touched it; `None`: it did not exist.
    pub before: Option<Vec<u8>>,
    /// The contents it should have; `None`: removed.
    pub after: Option<Vec<u8>>,
    /// Take the permissions of this file (a rename's source).
    pub mode_from: Option<WorkspacePath>,
}

/// Everything one call staged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changeset {
    pub rules: PathRules,
    pub files: Vec<FileChange>,
    pub created_dirs: Vec<WorkspacePath>,
    pub removed_dirs: Vec<WorkspacePath>,
}

impl Changeset {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.created_dirs.is_empty() && self.removed_dirs.is_empty()
    }

    /// Every path it touches, as shown.
    pub fn paths(&self) -> Vec<String> {
        let dirs = self
            .created_dirs
            .iter()
            .chain(&self.removed_dirs)
            .map(|d| self.rules.display(d));
        self.files
            .iter()
            .map(|f| f.display.clone())
            .chain(dirs)
            .collect()
    }

    /// A unified diff of every file.
    pub fn diff(&self) -> String {
        self.files.iter().map(diff::unified).collect()
    }

    /// What the model reads after a commit: the summary, then the tool's own details
    /// (how a match was found, where hunks went), if any.
    pub fn report(&self, details: &str) -> String {
        let details = details.trim_end();
        if details.is_empty() {
            self.summary()
        } else {
            format!("{}\n{details}", self.summary())
        }
    }

    /// One line: `src/a.rs +3 -1, src/b.rs (new) +10 -0`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.files.iter().map(diff::summary).collect();
        parts.extend(
            self.created_dirs
                .iter()
                .map(|d| format!("{}/ (new directory)", self.rules.display(d))),
        );
        parts.extend(
            self.removed_dirs
                .iter()
                .map(|d| format!("{}/ (removed directory)", self.rules.display(d))),
        );
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests;
