//! Walking a directory tree the way ripgrep does: sorted, .gitignore/.ignore respected,
//! VCS and dependency directories skipped, links never followed.
//!
//! `ignore`'s own walker cannot run on WASI (its directory entries are built for unix and
//! windows only), so this walker uses `std::fs::read_dir` and borrows only `ignore`'s
//! gitignore matcher. Every call into the sandbox costs, so the walker learns file types
//! from the directory listings alone ([`Disk::list`]) and opens an ignore file only when
//! the listing shows one is there.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use conch_plugin::{ToolError, Workspace};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::disk::Disk;

/// Directories no tool descends into unless the model names them as the path itself.
pub const SKIPPED_DIRS: [&str; 6] = [".git", ".hg", ".svn", ".jj", "node_modules", "target"];

/// What a directory entry is, as its listing says (links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry the walk reached.
#[derive(Debug)]
pub struct Entry<'a> {
    pub path: &'a Path,
    pub kind: Kind,
}

/// The ignore files of one directory, in ripgrep's precedence: `.ignore` over `.gitignore`
/// over `.git/info/exclude` (the last two share one matcher, exclude added first so
/// `.gitignore` lines win).
struct IgnoreLevel {
    ignore: Option<Gitignore>,
    git: Option<Gitignore>,
}

impl IgnoreLevel {
    /// Loads the ignore files of `dir`; `has` says whether a name is in the directory,
    /// so no open is tried for files that are not there.
    fn load(dir: &Path, has: impl Fn(&str) -> bool) -> Option<IgnoreLevel> {
        let ignore = has(".ignore")
            .then(|| matcher(dir, &[dir.join(".ignore")]))
            .flatten();
        let mut git_files = Vec::new();
        if has(".git") {
            git_files.push(dir.join(".git/info/exclude"));
        }
        if has(".gitignore") {
            git_files.push(dir.join(".gitignore"));
        }
        let git = matcher(dir, &git_files);
        (ignore.is_some() || git.is_some()).then_some(IgnoreLevel { ignore, git })
    }

    fn matched(&self, path: &Path, is_dir: bool) -> Match<()> {
        for gi in [&self.ignore, &self.git].into_iter().flatten() {
            match gi.matched(below(gi.path(), path), is_dir) {
                Match::None => {}
                Match::Ignore(_) => return Match::Ignore(()),
                Match::Whitelist(_) => return Match::Whitelist(()),
            }
        }
        Match::None
    }
}

/// `path` relative to `root`, the ignore file's directory, when it lies below it; else
/// `path` as it is. `Gitignore::matched` strips its root itself, but off unix (WASI) with
/// std's component-by-component `Path::strip_prefix`, which was a walk's largest cost
/// after the listings; a matcher given a relative path skips that and matches the same.
fn below<'p>(root: &Path, path: &'p Path) -> &'p Path {
    let (Some(root), Some(text)) = (root.to_str(), path.to_str()) else {
        return path;
    };
    match text
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Path::new(rest),
        _ => path,
    }
}

/// A matcher rooted at `dir` from ignore files; missing or unreadable files count as
/// empty, as in git. `None` when nothing was loaded.
fn matcher(dir: &Path, files: &[PathBuf]) -> Option<Gitignore> {
    if files.is_empty() {
        return None;
    }
    let mut builder = GitignoreBuilder::new(dir);
    for file in files {
        // A missing file or a bad line only loses those lines, as in ripgrep.
        let _ = builder.add(file);
    }
    builder.build().ok().filter(|gi| !gi.is_empty())
}

/// The order a walk visits entries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Path order: each directory right before its contents (what `find | sort` shows).
    DepthFirst,
    /// Level by level, each level in path order: the shallow entries first, for listings
    /// that must stop at a cap without losing a whole top-level directory.
    BreadthFirst,
}

/// The ignore levels that apply inside one directory: its own, then its ancestors'.
struct IgnoreChain {
    level: IgnoreLevel,
    parent: Option<Rc<IgnoreChain>>,
}

/// An entry waiting to be visited, with the ignore levels of its directory.
struct Pending {
    path: PathBuf,
    kind: Kind,
    depth: usize,
    chain: Option<Rc<IgnoreChain>>,
}

/// A walk below one directory.
pub struct Walker<'d> {
    disk: &'d Disk,
    root: PathBuf,
    max_depth: usize,
    /// Patterns from the tool's input; they beat every ignore file.
    extra: Option<Gitignore>,
    /// Ignore files of the root's ancestors inside the workspace root.
    ancestors: Option<Rc<IgnoreChain>>,
    /// Directories that could not be listed (permissions, links leading out).
    pub unreadable: usize,
}

impl<'d> Walker<'d> {
    /// A walk of `root` (absolute, inside the workspace), with the ignore files of its
    /// ancestors inside the workspace root loaded, so a search in a subdirectory honours
    /// the repository's top-level .gitignore.
    pub fn new(ws: &Workspace, disk: &'d Disk, root: &Path) -> Walker<'d> {
        let mut ancestors = None;
        let ws_root = ws
            .roots()
            .iter()
            .filter(|r| root.starts_with(r))
            .max_by_key(|r| r.as_os_str().len());
        if let Some(ws_root) = ws_root {
            let mut dirs: Vec<&Path> = root
                .ancestors()
                .skip(1)
                .take_while(|a| a.starts_with(ws_root))
                .collect();
            dirs.reverse();
            for dir in dirs {
                // Without a listing, try the files; a failed open is cheap next to a listing.
                if let Some(level) = IgnoreLevel::load(dir, |_| true) {
                    ancestors = Some(Rc::new(IgnoreChain {
                        level,
                        parent: ancestors,
                    }));
                }
            }
        }
        Walker {
            disk,
            root: root.to_path_buf(),
            max_depth: usize::MAX,
            extra: None,
            ancestors,
            unreadable: 0,
        }
    }

    /// Visits entries down to `depth` (1 = the root's own entries).
    pub fn max_depth(mut self, depth: usize) -> Walker<'d> {
        self.max_depth = depth;
        self
    }

    /// Skips entries matching these gitignore-style patterns, relative to the root.
    pub fn extra_ignores(mut self, patterns: &[String]) -> Result<Walker<'d>, ToolError> {
        if patterns.is_empty() {
            return Ok(self);
        }
        let mut builder = GitignoreBuilder::new(&self.root);
        for pattern in patterns {
            builder.add_line(None, pattern).map_err(|e| {
                ToolError::InvalidInput(format!("invalid ignore pattern `{pattern}`: {e}"))
            })?;
        }
        let gi = builder
            .build()
            .map_err(|e| ToolError::InvalidInput(format!("invalid ignore patterns: {e}")))?;
        self.extra = Some(gi);
        Ok(self)
    }

    /// Calls `visit` for every entry not ignored, in `order`. `visit` may stop the walk
    /// with `ControlFlow::Break`.
    pub fn run(&mut self, order: Order, mut visit: impl FnMut(Entry<'_>) -> ControlFlow<()>) {
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let root = self.root.clone();
        let chain = self.ancestors.clone();
        self.expand(&root, 0, chain, order, &mut pending);
        let next = |p: &mut VecDeque<Pending>| match order {
            Order::DepthFirst => p.pop_back(),
            Order::BreadthFirst => p.pop_front(),
        };
        while let Some(item) = next(&mut pending) {
            let flow = visit(Entry {
                path: &item.path,
                kind: item.kind,
            });
            if flow.is_break() {
                return;
            }
            if item.kind == Kind::Dir && item.depth < self.max_depth {
                self.expand(&item.path, item.depth, item.chain, order, &mut pending);
            }
        }
    }

    /// Lists `dir` and queues its entries that are not ignored.
    fn expand(
        &mut self,
        dir: &Path,
        depth: usize,
        chain: Option<Rc<IgnoreChain>>,
        order: Order,
        pending: &mut VecDeque<Pending>,
    ) {
        let Ok(entries) = self.disk.list(dir) else {
            self.unreadable += 1;
            return;
        };
        let has = |name: &str| {
            entries
                .binary_search_by(|(n, _)| n.as_os_str().cmp(OsStr::new(name)))
                .is_ok()
        };
        let chain = match IgnoreLevel::load(dir, has) {
            Some(level) => Some(Rc::new(IgnoreChain {
                level,
                parent: chain,
            })),
            None => chain,
        };
        let children = entries.into_iter().filter_map(|(name, kind)| {
            let is_dir = kind == Kind::Dir;
            if is_dir && SKIPPED_DIRS.iter().any(|s| name.as_os_str() == *s) {
                return None;
            }
            let path = dir.join(name);
            if self.is_ignored(chain.as_deref(), &path, is_dir) {
                return None;
            }
            Some(Pending {
                path,
                kind,
                depth: depth + 1,
                chain: chain.clone(),
            })
        });
        match order {
            // A stack: queue in reverse so the first name comes out first.
            Order::DepthFirst => {
                let children: Vec<Pending> = children.collect();
                pending.extend(children.into_iter().rev());
            }
            Order::BreadthFirst => pending.extend(children),
        }
    }

    fn is_ignored(&self, chain: Option<&IgnoreChain>, path: &Path, is_dir: bool) -> bool {
        if let Some(extra) = &self.extra {
            match extra.matched(below(extra.path(), path), is_dir) {
                Match::None => {}
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
            }
        }
        let mut link = chain;
        while let Some(c) = link {
            match c.level.matched(path, is_dir) {
                Match::None => link = c.parent.as_deref(),
                m => return m.is_ignore(),
            }
        }
        false
    }
}

/// `path` relative to `base` with `/` separators, for glob matching.
pub fn relative(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn walked(walker: &mut Walker, base: &Path) -> Vec<String> {
        walked_in(Order::DepthFirst, walker, base)
    }

    fn walked_in(order: Order, walker: &mut Walker, base: &Path) -> Vec<String> {
        let mut seen = Vec::new();
        walker.run(order, |e| {
            let mark = if e.kind == Kind::Dir { "/" } else { "" };
            seen.push(format!("{}{mark}", relative(base, e.path)));
            ControlFlow::Continue(())
        });
        seen
    }

    #[test]
    fn walk_is_sorted_and_honours_gitignore_without_a_git_dir() {
        let s = Scratch::new("walk-ignore");
        s.file(".gitignore", "*.log\nbuild/\n!keep.log\n")
            .file("b.rs", "")
            .file("a/x.log", "")
            .file("a/keep.log", "")
            .file("a/y.rs", "")
            .file("build/out.rs", "")
            .file("target/debug/z", "")
            .file("node_modules/m/index.js", "")
            .file(".git/HEAD", "");
        let disk = Disk::new();
        let mut w = Walker::new(&s.ws(), &disk, &s.0);
        assert_eq!(
            walked(&mut w, &s.0),
            [".gitignore", "a/", "a/keep.log", "a/y.rs", "b.rs"]
        );
    }

    #[test]
    fn nested_ignore_files_and_ancestors_apply() {
        let s = Scratch::new("walk-nested");
        s.file(".gitignore", "*.tmp\n")
            .file("sub/.ignore", "secret*\n")
            .file("sub/a.tmp", "")
            .file("sub/secret.txt", "")
            .file("sub/ok.txt", "");
        let sub = s.0.join("sub");
        let disk = Disk::new();
        let mut w = Walker::new(&s.ws(), &disk, &sub);
        assert_eq!(walked(&mut w, &sub), [".ignore", "ok.txt"]);
    }

    #[test]
    fn anchored_patterns_match_from_their_own_directory() {
        let s = Scratch::new("walk-anchored");
        s.file(".gitignore", "/gen\n/sub/only.txt\n")
            .file("gen/a.txt", "")
            .file("sub/gen/b.txt", "")
            .file("sub/only.txt", "")
            .file("sub/.gitignore", "/local.txt\n")
            .file("sub/local.txt", "")
            .file("sub/deeper/local.txt", "");
        let disk = Disk::new();
        let sub = s.0.join("sub");
        let mut w = Walker::new(&s.ws(), &disk, &sub);
        assert_eq!(
            walked(&mut w, &sub),
            [
                ".gitignore",
                "deeper/",
                "deeper/local.txt",
                "gen/",
                "gen/b.txt"
            ]
        );
        let mut w = Walker::new(&s.ws(), &disk, &s.0);
        assert_eq!(
            walked(&mut w, &s.0),
            [
                ".gitignore",
                "sub/",
                "sub/.gitignore",
                "sub/deeper/",
                "sub/deeper/local.txt",
                "sub/gen/",
                "sub/gen/b.txt"
            ]
        );
    }

    #[test]
    fn depth_and_extra_patterns_limit_the_walk() {
        let s = Scratch::new("walk-depth");
        s.file("a/b/c.txt", "")
            .file("a/skip.md", "")
            .file("top.md", "");
        let disk = Disk::new();
        let mut w = Walker::new(&s.ws(), &disk, &s.0)
            .max_depth(2)
            .extra_ignores(&["skip.md".to_string()])
            .expect("patterns");
        assert_eq!(walked(&mut w, &s.0), ["a/", "a/b/", "top.md"]);
    }

    #[test]
    fn breadth_first_lists_shallow_entries_first() {
        let s = Scratch::new("walk-bfs");
        s.file("a/b/c.txt", "")
            .file("a/z.txt", "")
            .file("m.txt", "");
        let disk = Disk::new();
        let mut w = Walker::new(&s.ws(), &disk, &s.0);
        assert_eq!(
            walked_in(Order::BreadthFirst, &mut w, &s.0),
            ["a/", "m.txt", "a/b/", "a/z.txt", "a/b/c.txt"]
        );
    }
}
