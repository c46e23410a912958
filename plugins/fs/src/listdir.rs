//! `listdir`: the tree of a directory to a depth, directories first, ignored entries left
//! out, and at most a few hundred entries — the shallow ones, so no top-level entry is
//! lost to a deep subdirectory.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use conch_plugin::workspace::normalize;
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput, Workspace};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::disk::Disk;
use crate::locate;
use crate::plural;
use crate::walk::{Kind, Order, Walker};

const DEFAULT_DEPTH: u64 = 3;
const MAX_DEPTH: u64 = 20;
/// Entries shown at most.
const MAX_SHOWN: usize = 500;
/// Entries counted at most (past the shown ones) before the walk gives up counting.
const MAX_COUNTED: usize = 20_000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Directory (default: the working directory)
    path: Option<String>,
    /// How many levels to show (default 3)
    #[schemars(range(min = 1, max = 20))]
    depth: Option<u64>,
    /// Extra gitignore-style patterns to skip, e.g. `*.snap` or `fixtures/`
    #[serde(default)]
    ignore: Vec<String>,
}

/// The `listdir` tool.
pub struct Listdir;

impl Tool for Listdir {
    const NAME: &'static str = "listdir";
    const DESCRIPTION: &'static str = "Show the tree of a directory to a depth (default \
        3): directories first, marked with '/', links as `name -> target`. Skips .git, \
        node_modules, target and what .gitignore/.ignore exclude. At most 500 entries, shallow \
        levels first; what is left out is counted.";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = Input;

    fn run(input: Input, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let ws = &Workspace::new(ctx);
        let asked = input.path.unwrap_or_default();
        let depth = input.depth.unwrap_or(DEFAULT_DEPTH).clamp(1, MAX_DEPTH) as usize;
        let root = ws.resolve(&asked)?;
        let shown_root = ws.display(&root);
        if !locate::metadata(ws, &asked, &root)?.is_dir() {
            return Err(ToolError::InvalidInput(format!(
                "{shown_root} is a file, not a directory; use read to see its contents"
            )));
        }

        let disk = Disk::new();
        let mut walker = Walker::new(ws, &disk, &root)
            .max_depth(depth)
            .extra_ignores(&input.ignore)?;
        let mut tree = Tree::new(&root);
        let mut counted = 0;
        walker.run(Order::BreadthFirst, |entry| {
            counted += 1;
            if tree.nodes.len() <= MAX_SHOWN {
                let link = (entry.kind == Kind::Symlink).then(|| link_target(ws, entry.path));
                tree.add(entry.path, entry.kind, link);
            } else {
                tree.hide(entry.path);
            }
            if counted >= MAX_SHOWN + MAX_COUNTED {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });

        let shown = tree.nodes.len() - 1;
        let complete = counted < MAX_SHOWN + MAX_COUNTED;
        let mut text = format!("{}/\n", shown_root.trim_end_matches('/'));
        if shown == 0 {
            text.push_str("(empty directory)\n");
        }
        tree.render(0, 1, &mut text);
        if shown < counted {
            let total = if complete {
                counted.to_string()
            } else {
                format!("more than {counted}")
            };
            text.push_str(&format!(
            "[{shown} of {total} entries shown; list a subdirectory or use a smaller depth to see the rest]\n"
        ));
        }
        if walker.unreadable > 0 {
            text.push_str(&format!(
                "[{} could not be read]\n",
                plural(walker.unreadable, "directory", "directories")
            ));
        }
        let metadata = serde_json::json!({
            "path": shown_root,
            "entries": counted,
            "shown": shown,
            "truncated": shown < counted,
        });
        Ok(ToolOutput::text(text.trim_end().to_string()).with_metadata(&metadata))
    }
}

/// Where a link points, or that it points out of the workspace (its target is not
/// reachable anyway, and the name outside is none of the model's business).
fn link_target(ws: &Workspace, path: &Path) -> String {
    match std::fs::read_link(path) {
        Ok(target) => {
            let parent = path.parent().unwrap_or(path);
            let resolved = normalize(&parent.join(&target));
            if ws.roots().iter().any(|r| resolved.starts_with(r)) {
                target.display().to_string()
            } else {
                "(outside the workspace)".to_string()
            }
        }
        // The sandbox refuses to read links whose target is absolute.
        Err(_) => "(outside the workspace or unreadable)".to_string(),
    }
}

/// The entries shown, as a tree; node 0 is the listed directory.
struct Tree {
    root: PathBuf,
    nodes: Vec<Node>,
    /// Directory path → node, to find an entry's parent.
    dirs: HashMap<PathBuf, usize>,
}

struct Node {
    name: String,
    kind: Kind,
    link: Option<String>,
    children: Vec<usize>,
    /// Children counted but not shown.
    hidden: usize,
}

impl Tree {
    fn new(root: &Path) -> Tree {
        let top = Node {
            name: String::new(),
            kind: Kind::Dir,
            link: None,
            children: Vec::new(),
            hidden: 0,
        };
        Tree {
            root: root.to_path_buf(),
            nodes: vec![top],
            dirs: HashMap::new(),
        }
    }

    /// The node of `path`'s directory, if shown.
    fn parent_of(&self, path: &Path) -> Option<usize> {
        let parent = path.parent()?;
        if parent == self.root {
            Some(0)
        } else {
            self.dirs.get(parent).copied()
        }
    }

    /// Adds an entry; entries arrive breadth-first, so its parent is already there.
    fn add(&mut self, path: &Path, kind: Kind, link: Option<String>) {
        let Some(parent) = self.parent_of(path) else {
            return;
        };
        let index = self.nodes.len();
        self.nodes.push(Node {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind,
            link,
            children: Vec::new(),
            hidden: 0,
        });
        self.nodes[parent].children.push(index);
        if kind == Kind::Dir {
            self.dirs.insert(path.to_path_buf(), index);
        }
    }

    /// Counts an entry that is not shown against its parent, when the parent is shown.
    fn hide(&mut self, path: &Path) {
        if let Some(i) = self.parent_of(path) {
            self.nodes[i].hidden += 1;
        }
    }

    /// Writes the children of `node`, directories first, then by name.
    fn render(&self, node: usize, indent: usize, out: &mut String) {
        let mut children = self.nodes[node].children.clone();
        children.sort_by(|&a, &b| {
            let (a, b) = (&self.nodes[a], &self.nodes[b]);
            (a.kind != Kind::Dir)
                .cmp(&(b.kind != Kind::Dir))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
                .then_with(|| a.name.cmp(&b.name))
        });
        let pad = "  ".repeat(indent);
        for child in children {
            let n = &self.nodes[child];
            match (&n.kind, &n.link) {
                (Kind::Dir, _) => out.push_str(&format!("{pad}{}/\n", n.name)),
                (_, Some(target)) => out.push_str(&format!("{pad}{} -> {target}\n", n.name)),
                _ => out.push_str(&format!("{pad}{}\n", n.name)),
            }
            self.render(child, indent + 1, out);
        }
        let hidden = self.nodes[node].hidden;
        if hidden > 0 {
            out.push_str(&format!(
                "{pad}… {} not shown\n",
                plural(hidden, "entry", "entries")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn listdir(s: &Scratch, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        conch_plugin::tool::run::<Listdir>(&input.to_string(), &s.ctx())
    }

    #[test]
    fn tree_lists_directories_first_and_skips_ignored_entries() {
        let s = Scratch::new("listdir-tree");
        s.file("b.txt", "")
            .file("A.md", "")
            .file("src/main.rs", "")
            .file("src/deep/er/x.rs", "")
            .file(".gitignore", "*.log\n")
            .file("debug.log", "")
            .file("target/debug/app", "")
            .file("docs/old/a.md", "");
        let out =
            listdir(&s, serde_json::json!({"depth": 2, "ignore": ["old/"]})).expect("listdir");
        assert_eq!(
            out.text,
            "./\n  docs/\n  src/\n    deep/\n    main.rs\n  .gitignore\n  A.md\n  b.txt"
        );
    }

    #[test]
    fn the_entry_cap_keeps_shallow_entries_and_counts_the_rest() {
        let s = Scratch::new("listdir-cap");
        s.file("a/top.txt", "");
        for i in 0..(MAX_SHOWN + 20) {
            s.file(&format!("a/many/f{i:04}"), "");
        }
        s.file("z.txt", "");
        let out = listdir(&s, serde_json::json!({})).expect("listdir");
        assert!(out.text.contains("\n  z.txt\n"), "{}", out.text);
        assert!(
            out.text.contains("      … 24 entries not shown\n"),
            "{}",
            out.text
        );
        assert!(
            out.text.ends_with("[500 of 524 entries shown; list a subdirectory or use a smaller depth to see the rest]"),
            "{}",
            out.text
        );
    }

    #[test]
    fn a_file_or_a_missing_path_is_explained() {
        let s = Scratch::new("listdir-errors");
        s.file("src/lib.rs", "");
        assert!(matches!(
            listdir(&s, serde_json::json!({"path": "src/lib.rs"})),
            Err(ToolError::InvalidInput(m)) if m.contains("use read")
        ));
        assert!(matches!(
            listdir(&s, serde_json::json!({"path": "scr"})),
            Err(ToolError::NotFound(m)) if m.contains("Did you mean: src?")
        ));
    }

    #[cfg(unix)]
    #[test]
    fn links_show_their_target_unless_it_is_outside() {
        let s = Scratch::new("listdir-links");
        s.file("real.txt", "");
        std::os::unix::fs::symlink("real.txt", s.0.join("inside")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", s.0.join("outside")).expect("link");
        let out = listdir(&s, serde_json::json!({})).expect("listdir");
        assert_eq!(
            out.text,
            "./\n  inside -> real.txt\n  outside -> (outside the workspace)\n  real.txt"
        );
    }
}
