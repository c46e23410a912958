//! Which paths a change may touch: inside a workspace root, never the root itself, never
//! a protected place (`.git`, conch's own session and config dirs). Checked lexically
//! before anything is staged; the commit goes through `cap-std` directory handles, so a
//! symlink cannot lead a write out of a root either.

use std::path::{Component, Path, PathBuf};

/// A path inside one of the workspace roots.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkspacePath {
    /// Index into the roots.
    pub root: usize,
    /// Relative to that root; only normal components, never empty.
    pub relative: PathBuf,
}

/// The roots, the working directory and the protected directories of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRules {
    pub roots: Vec<PathBuf>,
    pub cwd: PathBuf,
    /// Absolute directories no change may touch.
    pub protected: Vec<PathBuf>,
}

impl PathRules {
    /// Rules for a call in `cwd` with `roots`; conch's data and config dirs are protected.
    pub fn new(roots: Vec<PathBuf>, cwd: PathBuf) -> Self {
        let protected = [crate::dirs::data_dir(), crate::dirs::config_dir()]
            .into_iter()
            .flatten()
            .map(|dir| std::fs::canonicalize(&dir).unwrap_or(dir))
            .collect();
        PathRules {
            roots,
            cwd,
            protected,
        }
    }

    /// Where `path` (relative to the cwd, or absolute) points, if a change may touch it.
    /// The error is written for the model.
    pub fn resolve(&self, path: &str) -> Result<WorkspacePath, String> {
        if path.is_empty() {
            return Err("the path is empty".into());
        }
        if path.contains('\0') {
            return Err("the path contains a NUL byte".into());
        }
        let mut absolute = PathBuf::new();
        for component in self.cwd.join(path).components() {
            match component {
                Component::ParentDir => {
                    absolute.pop();
                }
                Component::CurDir => {}
                other => absolute.push(other),
            }
        }
        let (root, relative) = self
            .roots
            .iter()
            .enumerate()
            .filter_map(|(i, root)| Some((i, absolute.strip_prefix(root).ok()?)))
            .max_by_key(|(_, rel)| std::cmp::Reverse(rel.components().count()))
            .ok_or_else(|| format!("{path} is outside the workspace"))?;
        if relative.as_os_str().is_empty() {
            return Err(format!("{path} is the workspace root itself, not a file"));
        }
        if relative.components().any(|c| c.as_os_str() == ".git") {
            return Err(format!(
                "{path} is inside .git, which conch does not change"
            ));
        }
        if let Some(dir) = self.protected.iter().find(|dir| absolute.starts_with(dir)) {
            return Err(format!(
                "{path} is inside {}, where conch keeps its own files; it is not changed by tools",
                dir.display()
            ));
        }
        Ok(WorkspacePath {
            root,
            relative: relative.to_path_buf(),
        })
    }

    /// How a path is shown: relative to the first root, absolute for the others.
    pub fn display(&self, path: &WorkspacePath) -> String {
        let shown = if path.root == 0 {
            path.relative.clone()
        } else {
            self.absolute(path)
        };
        shown
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
            .replace("//", "/")
    }

    /// The absolute path on the host.
    pub fn absolute(&self, path: &WorkspacePath) -> PathBuf {
        self.roots
            .get(path.root)
            .map_or_else(PathBuf::new, |root| root.join(&path.relative))
    }
}

/// Whether a change to `path` (as a changeset shows it) touches conch's own
/// configuration in the project: a `conch.toml` (any directory's can become the project
/// file) or anything under `.conch/` (plugins, commands, skills). Such a change is never
/// covered by `--yes`, `--allow-edit` or a rule: a person must approve it, since it could
/// otherwise loosen what the next run allows.
pub fn is_protected(path: &str) -> bool {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let last = path.rsplit('/').next().unwrap_or(path);
    last == crate::config::FILE_NAME || parts.any(|p| p == ".conch")
}

/// The parent of a relative path, if it has one.
pub fn parent(relative: &Path) -> Option<&Path> {
    relative.parent().filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conch_toml_anywhere_and_dot_conch_are_protected() {
        for path in [
            "conch.toml",
            "sub/conch.toml",
            ".conch/plugins/x.wasm",
            "a/.conch/commands/c.md",
        ] {
            assert!(is_protected(path), "{path}");
        }
        for path in [
            "src/main.rs",
            "conch.toml.bak",
            "my.conch/x",
            "docs/conch.md",
        ] {
            assert!(!is_protected(path), "{path}");
        }
    }

    /// Resolution is lexical, so the root need not exist: one under the temp dir.
    fn root() -> PathBuf {
        std::env::temp_dir().join("conch-path-rules").join("repo")
    }

    fn rules() -> PathRules {
        PathRules {
            roots: vec![root()],
            cwd: root().join("src"),
            protected: vec![root().join(".conch-data")],
        }
    }

    #[test]
    fn paths_resolve_inside_the_root_and_nowhere_else() {
        let rules = rules();
        let at = |p: &str| rules.resolve(p).map(|w| rules.display(&w));
        let absolute = |p: &Path| p.to_string_lossy().into_owned();
        assert_eq!(at("main.rs").unwrap(), "src/main.rs");
        assert_eq!(at("../README.md").unwrap(), "README.md");
        assert_eq!(at(&absolute(&root().join("a/b.rs"))).unwrap(), "a/b.rs");
        assert!(
            at("../../../../../../../../etc/passwd")
                .unwrap_err()
                .contains("outside")
        );
        assert!(at("/etc/passwd").unwrap_err().contains("outside"));
        let sibling = root().with_file_name("repository").join("x");
        assert!(at(&absolute(&sibling)).unwrap_err().contains("outside"));
        assert!(at("..").unwrap_err().contains("root itself"));
        assert!(at("../.git/config").unwrap_err().contains(".git"));
        assert!(at("sub/.git/HEAD").unwrap_err().contains(".git"));
        assert!(
            at("../.conch-data/s.jsonl")
                .unwrap_err()
                .contains("conch keeps")
        );
        assert!(at("a\0b").is_err());
        assert!(at("").is_err());
    }
}
