//! The two hot filesystem operations — listing a directory and reading a whole file — done
//! with as few host calls as the sandbox allows.
//!
//! Inside wasmtime every WASI call crosses into the host, and WASI spends several per
//! directory entry and per file (wasmtime-wasi stats every entry it lists and hands them
//! out one call at a time; a file is an open, a stat, zero-filled reads of at most 64 KB
//! and a close). On WASI p2 this module uses the host's `files` import instead (contract
//! 0.1.2): one call per directory listed, typed from the listing, and one per file read
//! whole. Elsewhere (native unit tests) it is plain std.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use crate::walk::Kind;

/// Access to the files of one call.
pub struct Disk {}

/// What reading a whole file found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// The file is in the buffer.
    Whole,
    /// The file is larger than the limit; the buffer is empty.
    TooLarge,
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
impl Disk {
    pub fn new() -> Disk {
        Disk {}
    }

    /// The entries of `dir`, sorted by name, typed from the listing alone.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, Kind)>> {
        use conch_plugin::bindings::conch::tool::files::{self, EntryKind};
        let listed = files::list_directory(utf8(dir)?).map_err(io::Error::other)?;
        let mut entries: Vec<(OsString, Kind)> = listed
            .into_iter()
            .map(|entry| {
                let kind = match entry.kind {
                    EntryKind::Directory => Kind::Dir,
                    EntryKind::File => Kind::File,
                    EntryKind::Symlink => Kind::Symlink,
                    EntryKind::Other => Kind::Other,
                };
                (OsString::from(entry.name), kind)
            })
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Reads the file at `path` into `buf` (replacing its contents) unless it is larger
    /// than `max_bytes`. The size comes from one stat on the host; a file that grows
    /// meanwhile is read to that size.
    pub fn read(&self, path: &Path, buf: &mut Vec<u8>, max_bytes: u64) -> io::Result<Read> {
        use conch_plugin::bindings::conch::tool::files;
        buf.clear();
        match files::read_file(utf8(path)?, max_bytes).map_err(io::Error::other)? {
            Some(contents) => {
                *buf = contents;
                Ok(Read::Whole)
            }
            None => Ok(Read::TooLarge),
        }
    }
}

/// `path` as the host's paths are: UTF-8.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn utf8(path: &Path) -> io::Result<&str> {
    path.to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
impl Disk {
    pub fn new() -> Disk {
        Disk {}
    }

    /// The entries of `dir`, sorted by name, typed from the listing alone.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, Kind)>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let Ok(entry) = entry else { continue };
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => Kind::Dir,
                Ok(t) if t.is_file() => Kind::File,
                Ok(t) if t.is_symlink() => Kind::Symlink,
                _ => Kind::Other,
            };
            entries.push((entry.file_name(), kind));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Reads the file at `path` into `buf` (replacing its contents) unless it is larger
    /// than `max_bytes`.
    pub fn read(&self, path: &Path, buf: &mut Vec<u8>, max_bytes: u64) -> io::Result<Read> {
        use std::io::Read as _;
        buf.clear();
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() > max_bytes {
            return Ok(Read::TooLarge);
        }
        file.take(max_bytes).read_to_end(buf)?;
        Ok(Read::Whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn listing_is_sorted_and_typed() {
        let s = Scratch::new("disk-list");
        s.file("b", "").file("a/x", "");
        let names = Disk::new().list(&s.0).expect("list");
        assert_eq!(
            names,
            [
                (OsString::from("a"), Kind::Dir),
                (OsString::from("b"), Kind::File)
            ]
        );
    }

    #[test]
    fn reading_respects_the_size_limit() {
        let s = Scratch::new("disk-read");
        s.file("f", "hello");
        let mut buf = b"old".to_vec();
        let disk = Disk::new();
        assert_eq!(
            disk.read(&s.0.join("f"), &mut buf, 5).expect("read"),
            Read::Whole
        );
        assert_eq!(buf, b"hello");
        assert_eq!(
            disk.read(&s.0.join("f"), &mut buf, 4).expect("read"),
            Read::TooLarge
        );
        assert!(buf.is_empty());
        assert!(disk.read(&s.0.join("missing"), &mut buf, 4).is_err());
    }
}
