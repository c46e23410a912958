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

/// Where the user's `conch.toml` lives: `CONCH_CONFIG_DIR`, else the platform config dir
/// (`~/.config/conch` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    config_dir_with(std::env::var_os("CONCH_CONFIG_DIR"))
}

/// [`config_dir`] with the value of `CONCH_CONFIG_DIR` given, for callers that carry
/// their own environment.
pub fn config_dir_with(overridden: Option<std::ffi::OsString>) -> Option<PathBuf> {
    overridden
        .map(PathBuf::from)
        .or_else(|| project().map(|p| p.config_dir().to_path_buf()))
}

/// Where sessions are kept: `CONCH_DATA_DIR`, else the platform data dir
/// (`~/.local/share/conch` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    std::env::var_os("CONCH_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| project().map(|p| p.data_dir().to_path_buf()))
}
