//! `glob`: files whose path (relative to the searched directory) matches a glob, newest
//! first. The walk starts at the pattern's literal directory prefix and stops at its depth
//! when it has no `**`, so `src/*.rs` never reads the rest of the tree.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use conch_plugin::{CallContext, Tool, ToolError, ToolOutput, Workspace};
use globset::{GlobBuilder, GlobMatcher};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::disk::Disk;
use crate::locate;
use crate::walk::{Kind, Order, Walker, relative};

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 10_000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Glob pattern relative to `path`, e.g. `**/*.rs`, `src/**/*.{ts,tsx}`, `docs/*.md`
    pattern: String,
    /// Directory to search (default: the working directory)
    path: Option<String>,
    /// Most paths to return (default 100)
    #[schemars(range(min = 1, max = 10_000))]
    limit: Option<u64>,
}

/// The `glob` tool.
pub struct Glob;

impl Tool for Glob {
    const NAME: &'static str = "glob";
    const DESCRIPTION: &'static str = "Find files whose path relative to `path` matches a \
        glob, newest first, respecting .gitignore and skipping .git, node_modules and target. \
        `*` stays within one directory and `**` crosses any number: `*.rs` matches only at the \
        top level, `**/*.rs` everywhere, `src/**/mod.rs` below src. Returns at most `limit` \
        paths (default 100).";
    const KEY_ARG: Option<&'static str> = Some("pattern");
    type Input = Input;

    fn run(input: Input, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let ws = &Workspace::new(ctx);
        let limit = input.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let asked = input.path.unwrap_or_default();
        let root = ws.resolve(&asked)?;
        let shown_root = ws.display(&root);
        if !locate::metadata(ws, &asked, &root)?.is_dir() {
            return Err(ToolError::InvalidInput(format!(
                "{shown_root} is a file, not a directory; give glob a directory as `path`"
            )));
        }
        let pattern = GlobPattern::parse(&input.pattern, &root)?;

        let mut found = find(ws, &root, &pattern);
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let total = found.len();
        let metadata = serde_json::json!({
            "pattern": pattern.text,
            "path": shown_root,
            "count": total,
            "shown": total.min(limit),
            "truncated": total > limit,
        });

        if total == 0 {
            let mut text = format!(
                "No files match `{}` in {}.",
                pattern.text,
                crate::place(&shown_root)
            );
            if let Some(deeper) = pattern.anywhere(&root) {
                let n = find(ws, &root, &deeper).len();
                if n > 0 {
                    text.push_str(&format!(
                        " A pattern without `/` matches only at the top level; {} `{}`.",
                        crate::plural(n, "file matches", "files match"),
                        deeper.text
                    ));
                }
            }
            return Ok(ToolOutput::text(text).with_metadata(&metadata));
        }
        let mut text: String = found
            .iter()
            .take(limit)
            .map(|(_, path)| ws.display(path) + "\n")
            .collect();
        if total > limit {
            text.push_str(&format!(
                "({} more not shown; narrow the pattern)\n",
                total - limit
            ));
        }
        Ok(ToolOutput::text(text.trim_end().to_string()).with_metadata(&metadata))
    }
}

/// The files below `root` matching `pattern`, with their modification times.
fn find(ws: &Workspace, root: &Path, pattern: &GlobPattern) -> Vec<(SystemTime, PathBuf)> {
    let start = root.join(&pattern.prefix);
    let disk = Disk::new();
    let mut walker = Walker::new(ws, &disk, &start);
    if let Some(depth) = pattern.depth {
        walker = walker.max_depth(depth);
    }
    let mut found = Vec::new();
    walker.run(Order::DepthFirst, |entry| {
        if matches!(entry.kind, Kind::File | Kind::Symlink)
            && pattern.matcher.is_match(relative(root, entry.path))
            // One stat per match, for its time; through a link it also drops links that
            // lead out of the workspace or to directories.
            && let Ok(meta) = std::fs::metadata(entry.path)
            && meta.is_file()
        {
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((modified, entry.path.to_path_buf()));
        }
        ControlFlow::Continue(())
    });
    found
}

/// A glob relative to the searched directory, with what the walk can learn from it.
#[derive(Debug)]
struct GlobPattern {
    /// The pattern as matched (leading `./` and the directory's own path removed).
    text: String,
    matcher: GlobMatcher,
    /// Leading components without wildcards: the walk starts there.
    prefix: PathBuf,
    /// How many levels below `prefix` can match; `None` with a `**`.
    depth: Option<usize>,
}

impl GlobPattern {
    fn parse(pattern: &str, root: &Path) -> Result<GlobPattern, ToolError> {
        let invalid = |why: &str| ToolError::InvalidInput(format!("glob `{pattern}`: {why}"));
        let mut text = pattern.trim();
        if text.starts_with('/') {
            let root = root.to_string_lossy();
            text = text
                .strip_prefix(root.as_ref())
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| {
                    invalid("an absolute pattern must lie inside `path`; give a pattern relative to `path` instead")
                })?;
        }
        while let Some(rest) = text.strip_prefix("./") {
            text = rest;
        }
        let text = text.trim_end_matches('/');
        if text.is_empty() {
            return Err(invalid("the pattern is empty; use e.g. `**/*.rs`"));
        }
        let parts: Vec<&str> = text.split('/').collect();
        if parts.contains(&"..") {
            return Err(invalid(
                "`..` is not allowed in a pattern; set `path` to the directory to search",
            ));
        }
        let matcher = GlobBuilder::new(text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| invalid(&e.kind().to_string()))?
            .compile_matcher();
        let literal = parts[..parts.len() - 1]
            .iter()
            .take_while(|p| !p.contains(['*', '?', '[', ']', '{', '}', '\\']))
            .count();
        let prefix: PathBuf = parts[..literal].iter().collect();
        let depth = (!parts.iter().any(|p| p.contains("**"))).then_some(parts.len() - literal);
        Ok(GlobPattern {
            text: text.to_string(),
            matcher,
            prefix,
            depth,
        })
    }

    /// For a pattern without `/` (which matches only directly in the directory), the
    /// same pattern at any depth: what the model most likely meant when it found nothing.
    fn anywhere(&self, root: &Path) -> Option<GlobPattern> {
        if self.text.contains('/') {
            return None;
        }
        GlobPattern::parse(&format!("**/{}", self.text), root).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn parsed(p: &str) -> GlobPattern {
        GlobPattern::parse(p, Path::new("/proj")).expect(p)
    }

    #[test]
    fn literal_prefix_and_depth_bound_the_walk() {
        let p = parsed("src/plugin/*.rs");
        assert_eq!((p.prefix, p.depth), (PathBuf::from("src/plugin"), Some(1)));
        let p = parsed("./src/**/mod.rs");
        assert_eq!((p.prefix, p.depth), (PathBuf::from("src"), None));
        let p = parsed("{a,b}/*.rs");
        assert_eq!((p.prefix, p.depth), (PathBuf::new(), Some(2)));
        let p = parsed("/proj/Cargo.toml");
        assert_eq!((p.text.as_str(), p.depth), ("Cargo.toml", Some(1)));
    }

    #[test]
    fn stars_stay_within_a_component() {
        let p = parsed("*.rs");
        assert!(p.matcher.is_match("main.rs"));
        assert!(!p.matcher.is_match("src/main.rs"));
        let p = parsed("**/*.rs");
        assert!(p.matcher.is_match("main.rs") && p.matcher.is_match("a/b/c.rs"));
    }

    #[test]
    fn bad_patterns_are_explained() {
        for bad in ["", "../x/*.rs", "/etc/*", "a/[b"] {
            assert!(
                matches!(
                    GlobPattern::parse(bad, Path::new("/proj")),
                    Err(ToolError::InvalidInput(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn newest_files_come_first_and_the_cap_is_announced() {
        let s = Scratch::new("glob-order");
        s.file("old.rs", "")
            .file("src/new.rs", "")
            .file("src/mid.rs", "")
            .file("ignored.rs", "")
            .file(".gitignore", "ignored.rs\n");
        let at = |secs| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        for (file, secs) in [
            ("old.rs", 1_000),
            ("src/mid.rs", 2_000),
            ("src/new.rs", 3_000),
        ] {
            std::fs::File::options()
                .write(true)
                .open(s.0.join(file))
                .and_then(|f| f.set_modified(at(secs)))
                .expect("set mtime");
        }
        let out =
            conch_plugin::tool::run::<Glob>(r#"{"pattern": "**/*.rs", "limit": 2}"#, &s.ctx())
                .expect("glob");
        assert_eq!(
            out.text,
            "src/new.rs\nsrc/mid.rs\n(1 more not shown; narrow the pattern)"
        );
    }

    #[test]
    fn no_match_suggests_a_deeper_pattern() {
        let s = Scratch::new("glob-none");
        s.file("src/a.rs", "");
        let out =
            conch_plugin::tool::run::<Glob>(r#"{"pattern": "*.rs"}"#, &s.ctx()).expect("glob");
        assert_eq!(
            out.text,
            "No files match `*.rs` in the working directory. A pattern without `/` matches \
             only at the top level; 1 file matches `**/*.rs`."
        );
    }
}
