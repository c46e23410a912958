//! Staging: what the `workspace` import records during a call. Nothing touches the disk
//! here; reads see the call's own staged changes first, then the disk (through cap-std
//! handles on the roots).

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::path::{PathRules, WorkspacePath};
use super::{Changeset, FileChange};

/// One file as staged: how it was on disk when first touched, and how it should be.
#[derive(Debug, Clone)]
struct Slot {
    before: Option<Vec<u8>>,
    after: Option<Vec<u8>>,
    /// A renamed file keeps the permissions of the file it came from.
    mode_from: Option<WorkspacePath>,
}

/// The staged changes of one call.
#[derive(Debug)]
pub struct Staging {
    rules: PathRules,
    roots: Vec<Option<Dir>>,
    files: BTreeMap<WorkspacePath, Slot>,
    created_dirs: BTreeSet<WorkspacePath>,
    removed_dirs: BTreeSet<WorkspacePath>,
}

/// What is at a path, as the call sees it.
enum Current {
    File,
    Dir,
    Nothing,
}

impl Staging {
    pub fn new(rules: PathRules) -> Self {
        let roots = rules
            .roots
            .iter()
            .map(|root| Dir::open_ambient_dir(root, ambient_authority()).ok())
            .collect();
        Staging {
            rules,
            roots,
            files: BTreeMap::new(),
            created_dirs: BTreeSet::new(),
            removed_dirs: BTreeSet::new(),
        }
    }

    /// Stages `contents` as the whole of `path`.
    pub fn write_file(&mut self, path: &str, contents: Vec<u8>) -> Result<(), String> {
        let at = self.rules.resolve(path)?;
        if let Current::Dir = self.current(&at, path)? {
            return Err(format!("{path} is a directory"));
        }
        self.stage(&at, path, Some(contents))?;
        Ok(())
    }

    /// Stages the removal of a file or an empty directory.
    pub fn remove(&mut self, path: &str) -> Result<(), String> {
        let at = self.rules.resolve(path)?;
        match self.current(&at, path)? {
            Current::File => {
                self.stage(&at, path, None)?;
                Ok(())
            }
            Current::Dir => {
                let has_entries = self
                    .dir(at.root)?
                    .read_dir(&at.relative)
                    .map_err(|e| format!("{path}: {e}"))?
                    .next()
                    .is_some();
                if has_entries {
                    return Err(format!("{path} is a directory that is not empty"));
                }
                self.created_dirs.remove(&at);
                self.removed_dirs.insert(at);
                Ok(())
            }
            Current::Nothing => Err(format!("{path}: no such file")),
        }
    }

    /// Stages moving a file to a path where nothing is.
    pub fn rename(&mut self, source: &str, destination: &str) -> Result<(), String> {
        let from = self.rules.resolve(source)?;
        let to = self.rules.resolve(destination)?;
        let contents = match self.current(&from, source)? {
            Current::File => self.contents(&from, source)?,
            Current::Dir => return Err(format!("{source} is a directory; only files are moved")),
            Current::Nothing => return Err(format!("{source}: no such file")),
        };
        if !matches!(self.current(&to, destination)?, Current::Nothing) {
            return Err(format!("{destination} already exists; remove it first"));
        }
        self.stage(&from, source, None)?;
        self.stage(&to, destination, Some(contents))?.mode_from = Some(from);
        Ok(())
    }

    /// Stages creating a directory (and its parents).
    pub fn create_dir(&mut self, path: &str) -> Result<(), String> {
        let at = self.rules.resolve(path)?;
        match self.current(&at, path)? {
            Current::File => Err(format!("{path} is a file")),
            Current::Dir => Ok(()),
            Current::Nothing => {
                self.removed_dirs.remove(&at);
                self.created_dirs.insert(at);
                Ok(())
            }
        }
    }

    /// A file as this call sees it.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let at = self.rules.resolve(path)?;
        match self.current(&at, path)? {
            Current::File => self.contents(&at, path),
            Current::Dir => Err(format!("{path} is a directory")),
            Current::Nothing => Err(format!("{path}: no such file")),
        }
    }

    /// The staged changes; files written back unchanged are left out.
    pub fn finish(self) -> Changeset {
        let rules = self.rules;
        let files = self
            .files
            .into_iter()
            .filter(|(_, slot)| slot.before != slot.after)
            .map(|(path, slot)| FileChange {
                display: rules.display(&path),
                path,
                before: slot.before,
                after: slot.after,
                mode_from: slot.mode_from,
            })
            .collect();
        Changeset {
            rules,
            files,
            created_dirs: self.created_dirs.into_iter().collect(),
            removed_dirs: self.removed_dirs.into_iter().collect(),
        }
    }

    fn dir(&self, root: usize) -> Result<&Dir, String> {
        self.roots
            .get(root)
            .and_then(Option::as_ref)
            .ok_or_else(|| "the workspace root cannot be opened".to_string())
    }

    /// What is at `at` as the call sees it; a file's contents are not read.
    fn current(&self, at: &WorkspacePath, shown: &str) -> Result<Current, String> {
        if let Some(slot) = self.files.get(at) {
            return Ok(match slot.after {
                Some(_) => Current::File,
                None => Current::Nothing,
            });
        }
        if self.removed_dirs.contains(at) {
            return Ok(Current::Nothing);
        }
        if self.created_dirs.contains(at) {
            return Ok(Current::Dir);
        }
        disk_kind(self.dir(at.root)?, &at.relative, shown)
    }

    /// The contents of the file at `at` (which `current` found to be a file).
    fn contents(&self, at: &WorkspacePath, shown: &str) -> Result<Vec<u8>, String> {
        match self.files.get(at) {
            Some(slot) => slot
                .after
                .clone()
                .ok_or_else(|| format!("{shown}: no such file")),
            None => read_disk(self.dir(at.root)?, &at.relative, shown)?
                .ok_or_else(|| format!("{shown}: no such file")),
        }
    }

    /// Stages `after` as what `at` should hold; on first touch the slot keeps the disk's
    /// contents as they are now.
    fn stage(
        &mut self,
        at: &WorkspacePath,
        shown: &str,
        after: Option<Vec<u8>>,
    ) -> Result<&mut Slot, String> {
        if !self.files.contains_key(at) {
            let before = read_disk(self.dir(at.root)?, &at.relative, shown)?;
            self.files.insert(
                at.clone(),
                Slot {
                    before,
                    after: None,
                    mode_from: None,
                },
            );
        }
        let slot = self
            .files
            .get_mut(at)
            .ok_or_else(|| format!("{shown}: cannot be staged"))?;
        slot.after = after;
        Ok(slot)
    }
}

/// What is on disk at `relative` under `dir`, by its metadata. A symlink leading out of
/// the root is an error from cap-std, reported as outside the workspace.
fn disk_kind(dir: &Dir, relative: &Path, shown: &str) -> Result<Current, String> {
    match dir.metadata(relative) {
        Ok(meta) if meta.is_dir() => Ok(Current::Dir),
        // A FIFO with no writer would block a read forever, out of any deadline's reach.
        Ok(meta) if !meta.is_file() => Err(format!(
            "{shown} is not a regular file (a FIFO, socket or device); tools change regular files only"
        )),
        Ok(_) => Ok(Current::File),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Current::Nothing),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Err(format!(
            "{shown} is outside the workspace (a link leads out of it) or cannot be read"
        )),
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

/// The contents of the file at `relative` under `dir`; `None`: nothing (or a directory)
/// is there.
fn read_disk(dir: &Dir, relative: &Path, shown: &str) -> Result<Option<Vec<u8>>, String> {
    match disk_kind(dir, relative, shown)? {
        Current::File => dir
            .read(relative)
            .map(Some)
            .map_err(|e| format!("{shown}: {e}")),
        Current::Dir | Current::Nothing => Ok(None),
    }
}
