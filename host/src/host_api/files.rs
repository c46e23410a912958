//! `conch:tool/files`: bulk reads of the workspace for plugins with `fs:read` — a whole
//! directory listing or a whole file in one host call.
//!
//! Through WASI, a walk pays per entry and per file: wasmtime-wasi stats every entry it
//! lists (its listing carries types, but it asks the disk again), hands entries out one
//! call at a time, and a file takes an open, a stat, zero-filled 64 KB reads and a close,
//! each a host call. Here a listing is one `getdents` loop typed from the entries
//! themselves, and a file one open, one stat and reads of exactly its size. The reach is
//! the same as the read-only preopens': paths under the call's roots, resolved by cap-std
//! so that no `..` or link leads out of the root they start in.

use std::io::Read;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use super::CallState;
use super::bindings::conch::tool::files::{Entry, EntryKind, Host};

/// The roots a call may read, each opened at its first use.
#[derive(Debug)]
pub struct FilesAccess {
    roots: Vec<(PathBuf, Option<Dir>)>,
}

impl FilesAccess {
    /// Read access below `roots` (absolute, canonical).
    pub fn new(roots: &[PathBuf]) -> Self {
        FilesAccess {
            roots: roots.iter().map(|root| (root.clone(), None)).collect(),
        }
    }

    /// The root holding `path` (the deepest, when roots nest), opened, and the path
    /// relative to it.
    fn locate<'p>(&mut self, path: &'p str) -> Result<(&Dir, &'p Path), String> {
        let path = Path::new(path);
        if !path.is_absolute() {
            return Err(format!("{}: not an absolute path", path.display()));
        }
        let (index, rest) = self
            .roots
            .iter()
            .enumerate()
            .filter_map(|(i, (root, _))| Some((i, path.strip_prefix(root).ok()?)))
            .max_by_key(|(i, _)| self.roots[*i].0.as_os_str().len())
            .ok_or_else(|| format!("{}: outside the workspace", path.display()))?;
        let (root, dir) = &mut self.roots[index];
        if dir.is_none() {
            let opened = Dir::open_ambient_dir(&*root, ambient_authority())
                .map_err(|e| format!("{}: {e}", root.display()))?;
            *dir = Some(opened);
        }
        let dir = dir
            .as_ref()
            .ok_or_else(|| format!("{}: cannot be opened", root.display()))?;
        let rest = if rest.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rest
        };
        Ok((dir, rest))
    }

    /// The entries of directory `path`, typed from the listing.
    pub fn list_directory(&mut self, path: &str) -> Result<Vec<Entry>, String> {
        let (root, rel) = self.locate(path)?;
        let failed = |e: std::io::Error| format!("{path}: {e}");
        let mut entries = Vec::new();
        for entry in root.read_dir(rel).map_err(failed)? {
            let entry = entry.map_err(failed)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Some file systems leave the type out of the listing; only then is the
            // entry looked at (without following a link).
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => EntryKind::Directory,
                Ok(t) if t.is_file() => EntryKind::File,
                Ok(t) if t.is_symlink() => EntryKind::Symlink,
                Ok(t) if is_unknown(&t) => match entry.metadata() {
                    Ok(m) if m.is_dir() => EntryKind::Directory,
                    Ok(m) if m.is_file() => EntryKind::File,
                    Ok(m) if m.is_symlink() => EntryKind::Symlink,
                    _ => EntryKind::Other,
                },
                _ => EntryKind::Other,
            };
            entries.push(Entry { name, kind });
        }
        Ok(entries)
    }

    /// The contents of regular file `path`, or `None` when it is larger than `max_bytes`.
    pub fn read_file(&mut self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, String> {
        let (root, rel) = self.locate(path)?;
        let failed = |e: std::io::Error| format!("{path}: {e}");
        let mut options = OpenOptions::new();
        // Non-blocking, so that a FIFO named by the model cannot hang the call; a regular
        // file reads the same either way.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = root.open_with(rel, &options).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        if !meta.is_file() {
            return Err(format!("{path}: not a regular file"));
        }
        if meta.len() > max_bytes {
            return Ok(None);
        }
        // Exactly the size the stat gave: a file that grows meanwhile is read to it.
        let size = usize::try_from(meta.len()).map_err(|e| format!("{path}: {e}"))?;
        let mut contents = Vec::with_capacity(size);
        // Through std's File: it reads into the vector's spare capacity as it is, where
        // cap-std's File (no `read_buf`, an unstable method) makes `Take` zero-fill the
        // whole buffer first, a memset and its page faults for every byte of every file.
        file.into_std()
            .take(meta.len())
            .read_to_end(&mut contents)
            .map_err(failed)?;
        Ok(Some(contents))
    }
}

/// Whether a listing left an entry's type out (`DT_UNKNOWN`).
fn is_unknown(file_type: &cap_std::fs::FileType) -> bool {
    !file_type.is_dir() && !file_type.is_file() && !file_type.is_symlink() && {
        use cap_std::fs::FileTypeExt;
        !file_type.is_block_device()
            && !file_type.is_char_device()
            && !file_type.is_fifo()
            && !file_type.is_socket()
    }
}

impl Host for CallState {
    fn list_directory(&mut self, path: String) -> Result<Vec<Entry>, String> {
        match self.granted.fs_read.as_mut() {
            Some(files) => files.list_directory(&path),
            None => Err(NO_ACCESS.into()),
        }
    }

    fn read_file(&mut self, path: String, max_bytes: u64) -> Result<Option<Vec<u8>>, String> {
        match self.granted.fs_read.as_mut() {
            Some(files) => files.read_file(&path, max_bytes),
            None => Err(NO_ACCESS.into()),
        }
    }
}

const NO_ACCESS: &str = "this plugin has no read access to the workspace (capability fs:read)";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn workspace() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        (dir, root)
    }

    fn at(root: &Path, rel: &str) -> String {
        root.join(rel).to_string_lossy().into_owned()
    }

    #[test]
    fn a_listing_is_typed_without_following_links() {
        let (_dir, root) = workspace();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("link")).unwrap();
        let mut files = FilesAccess::new(std::slice::from_ref(&root));
        let mut listed: Vec<(String, EntryKind)> = files
            .list_directory(&at(&root, ""))
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            listed,
            [
                ("a.txt".to_string(), EntryKind::File),
                ("link".to_string(), EntryKind::Symlink),
                ("sub".to_string(), EntryKind::Directory),
            ]
        );
    }

    #[test]
    fn a_file_is_read_whole_or_not_at_all_past_the_limit() {
        let (_dir, root) = workspace();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f.txt"), "hello").unwrap();
        let mut files = FilesAccess::new(std::slice::from_ref(&root));
        let path = at(&root, "sub/f.txt");
        assert_eq!(files.read_file(&path, 5).unwrap(), Some(b"hello".to_vec()));
        assert_eq!(files.read_file(&path, 4).unwrap(), None);
        assert!(files.read_file(&at(&root, "missing"), 5).is_err());
        assert!(
            files.read_file(&at(&root, "sub"), 5).is_err(),
            "a directory"
        );
    }

    #[test]
    fn nothing_outside_the_roots_is_reachable() {
        let (_dir, root) = workspace();
        let (_other, outside) = workspace();
        std::fs::write(outside.join("secret"), "key").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("leak")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub/out")).unwrap();
        let mut files = FilesAccess::new(std::slice::from_ref(&root));
        for path in [
            at(&outside, "secret"),
            at(&root, "leak"),
            at(&root, "sub/out/secret"),
            at(&root, "sub/../../secret"),
            "secret".to_string(),
        ] {
            assert!(files.read_file(&path, 100).is_err(), "{path} was read");
        }
        assert!(files.list_directory(&at(&root, "sub/out")).is_err());
        assert!(files.list_directory(&outside.to_string_lossy()).is_err());
    }

    #[test]
    fn a_fifo_is_refused_rather_than_waited_on() {
        let (_dir, root) = workspace();
        let fifo = root.join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let mut files = FilesAccess::new(std::slice::from_ref(&root));
        let refused = files.read_file(&at(&root, "pipe"), 100).unwrap_err();
        assert!(refused.contains("not a regular file"), "{refused}");
    }
}
