//! What the user trusts, per project: one store for a project's `conch.toml` (by its
//! digest), installed plugins (by name and digest), and whatever else a repository can
//! bring that runs code or loosens a rule. A changed file has a new digest, so it is
//! asked about again.
//!
//! The store is a JSON file in conch's data dir (project root → subjects). Sandboxed
//! commands cannot write there and tools refuse to, so a repository cannot trust itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The store's file.
fn store_file() -> Option<PathBuf> {
    crate::dirs::data_dir().map(|d| d.join("trust.json"))
}

/// The file plugin trust was kept in before this store; still read, never written.
fn legacy_file() -> Option<PathBuf> {
    crate::dirs::data_dir().map(|d| d.join("trusted-plugins.json"))
}

/// SHA-256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The subject that lets language servers run in a project (they run its code).
pub const LANGUAGE_SERVERS: &str = "lsp language-servers";

/// The subject naming a project's config file with these contents.
pub fn config_subject(bytes: &[u8]) -> String {
    format!("config conch.toml {}", digest(bytes))
}

/// Whether the user trusted `subject` in the project at `root`.
pub fn is_trusted(root: &Path, subject: &str) -> bool {
    let project = root.to_string_lossy();
    [store_file(), legacy_file()]
        .into_iter()
        .flatten()
        .map(|file| load(&file))
        .any(|entries| {
            entries
                .get(project.as_ref())
                .is_some_and(|subjects| subjects.iter().any(|s| s == subject))
        })
}

/// Records that the user trusts `subject` in the project at `root`. Older entries of
/// the same kind and name (`config conch.toml`, `plugin NAME`) are replaced: only the
/// latest trusted version stays trusted.
pub fn record(root: &Path, subject: &str) -> std::io::Result<()> {
    let file = store_file().ok_or_else(|| std::io::Error::other("no data dir"))?;
    let mut entries = load(&file);
    let kind = subject
        .rsplit_once(' ')
        .map_or(subject, |(kind, _digest)| kind);
    let subjects = entries
        .entry(root.to_string_lossy().into_owned())
        .or_default();
    subjects.retain(|s| s.rsplit_once(' ').map_or(s.as_str(), |(k, _)| k) != kind);
    subjects.push(subject.to_string());
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = file.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(&entries)?)?;
    std::fs::rename(temp, file)
}

fn load(file: &Path) -> BTreeMap<String, Vec<String>> {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
