//! Paths against the call context: what the model may name, and how it is shown back.
//!
//! The host's sandbox already makes everything outside the roots unreachable; this module
//! turns that into one clear answer — "outside the workspace" — before any I/O happens,
//! and after it when a link inside the workspace leads out.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::{CallContext, ToolError};

/// The longest path the tools accept, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

/// The workspace as one call sees it: its roots and working directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    cwd: PathBuf,
    roots: Vec<PathBuf>,
}

impl Workspace {
    /// The workspace of a call.
    pub fn new(ctx: &CallContext) -> Self {
        Workspace {
            cwd: normalize(Path::new(&ctx.cwd)),
            roots: ctx.roots.iter().map(|r| normalize(Path::new(r))).collect(),
        }
    }

    /// The working directory (absolute).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The roots (absolute).
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Resolves a path the model gave (relative to the cwd, or absolute) to an absolute
    /// path inside a root, without touching the filesystem. `..` is resolved lexically;
    /// links are the sandbox's business and [`Workspace::io_error`]'s.
    pub fn resolve(&self, input: &str) -> Result<PathBuf, ToolError> {
        let outside = || outside_error(input);
        if input.contains('\0') || input.len() > MAX_PATH_BYTES {
            return Err(outside());
        }
        let joined = if input.is_empty() {
            self.cwd.clone()
        } else {
            self.cwd.join(input)
        };
        let path = normalize(&joined);
        if self.roots.iter().any(|root| path.starts_with(root)) {
            Ok(path)
        } else {
            Err(outside())
        }
    }

    /// How a path is shown to the model: relative to the cwd when below it, else absolute.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.cwd) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// Turns an I/O error on `path` (as the model wrote it: `shown`) into a tool error.
    /// The sandbox answers a link that leads out of the roots with a permission error;
    /// that becomes "outside the workspace", whatever WASI called it.
    pub fn io_error(&self, shown: &str, path: &Path, err: &io::Error) -> ToolError {
        match err.kind() {
            io::ErrorKind::NotFound if !self.passes_through_link(path) => {
                ToolError::NotFound(format!("{shown}: no such file or directory"))
            }
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                if self.passes_through_link(path) =>
            {
                outside_error(shown)
            }
            io::ErrorKind::PermissionDenied => {
                ToolError::Failed(format!("{shown}: permission denied"))
            }
            _ => ToolError::Failed(format!("{shown}: {err}")),
        }
    }

    /// Whether some component of `path` below its root is a symbolic link.
    fn passes_through_link(&self, path: &Path) -> bool {
        let Some(root) = self.roots.iter().find(|r| path.starts_with(r)) else {
            return false;
        };
        let mut current = root.clone();
        let Ok(rest) = path.strip_prefix(root) else {
            return false;
        };
        for part in rest.components() {
            current.push(part);
            match std::fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

/// The error for a path outside the roots.
pub fn outside_error(shown: &str) -> ToolError {
    let shown: String = shown
        .chars()
        .take(200)
        .collect::<String>()
        .replace('\0', "\\0");
    ToolError::OutsideWorkspace(format!(
        "{shown}: outside the workspace; only paths inside the workspace roots can be used"
    ))
}

/// Resolves `.` and `..` lexically; `..` at the root stays at the root.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        Workspace::new(&CallContext {
            cwd: "/proj/src".into(),
            roots: vec!["/proj".into()],
            session_id: String::new(),
            call_id: String::new(),
        })
    }

    #[test]
    fn relative_paths_resolve_against_cwd() {
        assert_eq!(
            ws().resolve("a/b.rs").ok(),
            Some(PathBuf::from("/proj/src/a/b.rs"))
        );
        assert_eq!(ws().resolve("../x").ok(), Some(PathBuf::from("/proj/x")));
    }

    #[test]
    fn escapes_are_outside() {
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "/proj2/x",
            "a\0b",
            &"a/".repeat(3000),
        ] {
            assert!(
                matches!(ws().resolve(bad), Err(ToolError::OutsideWorkspace(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_is_relative_to_cwd() {
        assert_eq!(ws().display(Path::new("/proj/src/a.rs")), "a.rs");
        assert_eq!(
            ws().display(Path::new("/proj/README.md")),
            "/proj/README.md"
        );
    }
}
