//! Which directories a run works in: the working directory and the workspace roots.
//!
//! The root is the enclosing git repository when there is one, else the working
//! directory itself. Both are canonical absolute paths: the sandbox preopens them at
//! their real locations, so a path the model sees is a path that exists on disk.

use std::path::{Path, PathBuf};

use crate::host_api::CallContext;

/// Why a working directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {path} as the working directory: {source}")]
pub struct WorkspaceError {
    path: PathBuf,
    source: std::io::Error,
}

/// The context for calls made in `cwd` (which must exist and be a directory).
pub fn context_for(cwd: &Path) -> Result<CallContext, WorkspaceError> {
    let fail = |source| WorkspaceError {
        path: cwd.to_path_buf(),
        source,
    };
    let cwd = std::fs::canonicalize(cwd).map_err(fail)?;
    if !cwd.is_dir() {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    let root = root_of(&cwd);
    Ok(CallContext {
        cwd,
        roots: vec![root],
        ..CallContext::default()
    })
}

/// The workspace root for work in `cwd`: the enclosing git repository (the first
/// ancestor holding `.git`), else `cwd` itself.
pub fn root_of(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// The bytes of `path` if it is a regular file (links followed). A repository can make
/// any name a FIFO, which `read` would wait on forever, or a device that never ends: the
/// files conch reads by itself (AGENTS.md, skills, custom commands) are read only when
/// they are regular files.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    std::fs::read(path)
}
