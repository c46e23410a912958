//! Where session files live, new ids, and appending lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Entry, Header};

/// Why a session cannot be read or written. Each says which file.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session directory: set CONCH_DATA_DIR or HOME")]
    NoDataDir,
    #[error("cannot write session file {}: {source}; check that the disk has space and the directory is writable, or set CONCH_DATA_DIR elsewhere", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read session file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("there is no session `{id}`; `conch sessions` lists them")]
    NotFound { id: String },
    #[error("`{prefix}` could name several sessions ({}); give more of the id", ids.join(", "))]
    Ambiguous { prefix: String, ids: Vec<String> },
    #[error("there is no session for {cwd} yet; start one with `conch run` or `conch repl`")]
    NoneHere { cwd: String },
    #[error("{} is not a conch session: {why}", path.display())]
    NotASession { path: PathBuf, why: String },
}

/// The directory of session files.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    /// The store in the data dir (`CONCH_DATA_DIR` or the platform's).
    pub fn open_default() -> Result<Self, SessionError> {
        let dir = crate::dirs::data_dir().ok_or(SessionError::NoDataDir)?;
        Ok(SessionStore::at(dir.join("sessions")))
    }

    pub fn at(dir: PathBuf) -> Self {
        SessionStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of session `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.jsonl"))
    }

    /// Where session `id` keeps the pre-images of the files it changed (for undo).
    pub fn blob_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("preimages")
    }

    /// Creates a new session file holding `header` (its id is filled in).
    pub fn create(&self, mut header: Header) -> Result<SessionWriter, SessionError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| SessionError::Write {
            path: self.dir.clone(),
            source,
        })?;
        header.id = new_id();
        let mut writer = SessionWriter::open(
            &header.id,
            self.path(&header.id),
            OpenOptions::new().create_new(true).append(true),
        )?;
        writer.write_line(&header)?;
        Ok(writer)
    }

    /// Opens session `id` to append to it.
    pub fn append_to(&self, id: &str) -> Result<SessionWriter, SessionError> {
        let path = self.path(id);
        if !valid_id(id) || !path.is_file() {
            return Err(SessionError::NotFound { id: id.to_string() });
        }
        let mut writer = SessionWriter::open(id, path, OpenOptions::new().append(true))?;
        writer.end_torn_line()?;
        Ok(writer)
    }

    /// The id of the session `id_or_prefix` names: an id, or the start of exactly one.
    pub fn resolve(&self, id_or_prefix: &str) -> Result<String, SessionError> {
        let not_found = || SessionError::NotFound {
            id: id_or_prefix.to_string(),
        };
        if !valid_id(id_or_prefix) {
            return Err(not_found());
        }
        if self.path(id_or_prefix).is_file() {
            return Ok(id_or_prefix.to_string());
        }
        let mut matching: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| id.starts_with(id_or_prefix))
            .collect();
        match matching.len() {
            0 => Err(not_found()),
            1 => Ok(matching.remove(0)),
            _ => Err(SessionError::Ambiguous {
                prefix: id_or_prefix.to_string(),
                ids: matching,
            }),
        }
    }

    /// Every session file, newest first (ids sort by time).
    pub fn ids(&self) -> Result<Vec<String>, SessionError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SessionError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                Some(name.strip_suffix(".jsonl")?.to_string())
            })
            .filter(|id| valid_id(id))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }
}

/// Appends lines to one session file; each line is written with one `write` call.
#[derive(Debug)]
pub struct SessionWriter {
    id: String,
    path: PathBuf,
    file: File,
}

impl SessionWriter {
    fn open(id: &str, path: PathBuf, options: &OpenOptions) -> Result<Self, SessionError> {
        let file = options.open(&path).map_err(|source| SessionError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(SessionWriter {
            id: id.to_string(),
            path,
            file,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where this session keeps the full output of the commands it ran.
    pub fn output_dir(&self) -> PathBuf {
        self.path.with_extension("").join("output")
    }

    /// Where this session keeps pre-images (see [`SessionStore::blob_dir`]).
    pub fn blob_dir(&self) -> PathBuf {
        self.path.with_extension("").join("preimages")
    }

    /// Appends one entry.
    pub fn append(&mut self, entry: &Entry) -> Result<(), SessionError> {
        self.write_line(entry)
    }

    fn write_line(&mut self, value: &impl serde::Serialize) -> Result<(), SessionError> {
        let mut line = serde_json::to_vec(value).map_err(|e| SessionError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|source| SessionError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// If the file ends mid-line (a crash while writing), ends that line so the next
    /// entry starts on its own; loading skips the torn one.
    fn end_torn_line(&mut self) -> Result<(), SessionError> {
        let text = std::fs::read(&self.path).map_err(|source| SessionError::Read {
            path: self.path.clone(),
            source,
        })?;
        if text.last().is_some_and(|&b| b != b'\n') {
            self.file
                .write_all(b"\n")
                .map_err(|source| SessionError::Write {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// A new id: the UTC time to the second and 4 random hex digits, so ids sort by age
/// and two sessions started in the same second do not collide.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let digits: String = stamp
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let random = hasher.finish() & 0xffff;
    format!(
        "{}-{}-{random:04x}",
        &digits[..8.min(digits.len())],
        &digits[8.min(digits.len())..]
    )
}

/// Ids are made of ASCII letters, digits and `-`: nothing that could name another path.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_cannot_name_other_paths() {
        let id = new_id();
        assert_eq!(id.len(), "20261123-121530-ab12".len(), "{id}");
        assert!(valid_id(&id));
        assert!(!valid_id("../x"));
        assert!(!valid_id(""));
    }

    #[test]
    fn appending_after_a_torn_line_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::at(dir.path().to_path_buf());
        let header = Header {
            id: String::new(),
            cwd: "/p".into(),
            provider: "p".into(),
            model: "m".into(),
            version: "0".into(),
            created: "now".into(),
            replay_of: None,
            tool_run: None,
        };
        let writer = store.create(header).unwrap();
        let id = writer.id().to_string();
        drop(writer);
        let mut file = OpenOptions::new()
            .append(true)
            .open(store.path(&id))
            .unwrap();
        file.write_all(b"{\"type\":\"mess").unwrap();
        let mut writer = store.append_to(&id).unwrap();
        writer
            .append(&Entry::Error {
                message: "x".into(),
            })
            .unwrap();
        let text = std::fs::read_to_string(store.path(&id)).unwrap();
        assert!(text.ends_with("{\"type\":\"mess\n{\"type\":\"error\",\"message\":\"x\"}\n"));
        assert!(matches!(
            store.append_to("../etc"),
            Err(SessionError::NotFound { .. })
        ));
    }
}
