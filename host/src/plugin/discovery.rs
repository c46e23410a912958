//! Where installed plugins live and finding them: the project's `.conch/plugins/` (at the
//! workspace root) and the user's `plugins/` in the config dir, one `NAME.wasm` each.

use std::path::{Path, PathBuf};

/// Which plugin directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `.conch/plugins/` at the root of the project (the git repository, else the cwd).
    Project,
    /// `plugins/` in the user's config dir (`~/.config/conch/plugins/`).
    User,
}

/// The directory of `scope` for work in `cwd`; `None` for the user scope when there is no
/// config dir.
pub fn dir(scope: Scope, cwd: &Path) -> Option<PathBuf> {
    match scope {
        Scope::Project => {
            let root = cwd
                .ancestors()
                .find(|d| d.join(".git").exists())
                .unwrap_or(cwd);
            Some(root.join(".conch").join("plugins"))
        }
        Scope::User => crate::dirs::config_dir().map(|d| d.join("plugins")),
    }
}

/// The `.wasm` files installed for work in `cwd`, project ones first (they win a clash),
/// each directory in name order.
pub fn installed(cwd: &Path) -> Vec<(Scope, PathBuf)> {
    let mut found = Vec::new();
    for scope in [Scope::Project, Scope::User] {
        let Some(dir) = dir(scope, cwd) else { continue };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
            .collect();
        files.sort();
        found.extend(files.into_iter().map(|f| (scope, f)));
    }
    found
}
