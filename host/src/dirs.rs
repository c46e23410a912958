//! The one place that knows where conch keeps things on disk.
//!
//! Platform directories come from `directories`; each can be moved with an environment
//! variable, which is also how tests keep themselves apart from the user's files.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "conch")
}

/// Where compiled plugins are cached: `CONCH_CACHE_DIR`, else the platform cache dir.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("CONCH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| project().map(|p| p.cache_dir().to_path_buf()))
}
