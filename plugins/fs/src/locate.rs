//! Finding what the model named: I/O errors turned into tool errors, and for a name that
//! does not exist, the similar names that do (a typo costs the model one call, not three).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use conch_plugin::{ToolError, Workspace};

/// How many similar names a not-found answer offers at most.
const MAX_SUGGESTIONS: usize = 3;

/// The metadata of `path` (following links, which the sandbox keeps inside the roots).
pub fn metadata(ws: &Workspace, shown: &str, path: &Path) -> Result<fs::Metadata, ToolError> {
    fs::metadata(path).map_err(|e| io_error(ws, shown, path, &e))
}

/// [`Workspace::io_error`], plus similar names when the path does not exist.
pub fn io_error(ws: &Workspace, shown: &str, path: &Path, err: &io::Error) -> ToolError {
    match ws.io_error(shown, path, err) {
        ToolError::NotFound(message) => {
            let suggestions = suggest(ws, path);
            if suggestions.is_empty() {
                ToolError::NotFound(message)
            } else {
                ToolError::NotFound(format!(
                    "{message}. Did you mean: {}?",
                    suggestions.join(", ")
                ))
            }
        }
        other => other,
    }
}

/// Paths like `path` that exist: the first missing component is swapped for similar
/// names in its (existing) parent directory; the rest of the path is kept.
fn suggest(ws: &Workspace, path: &Path) -> Vec<String> {
    let Some(root) = ws.roots().iter().find(|r| path.starts_with(r)) else {
        return Vec::new();
    };
    let Ok(below) = path.strip_prefix(root) else {
        return Vec::new();
    };
    let mut parent = root.clone();
    let mut parts = below.components();
    let missing = loop {
        let Some(Component::Normal(part)) = parts.next() else {
            return Vec::new();
        };
        let next = parent.join(part);
        if fs::symlink_metadata(&next).is_err() {
            break part.to_string_lossy().into_owned();
        }
        parent = next;
    };
    let rest: PathBuf = parts.collect();
    let Ok(listing) = fs::read_dir(&parent) else {
        return Vec::new();
    };
    let names = listing
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned());
    similar_names(&missing, names)
        .into_iter()
        .map(|name| ws.display(&parent.join(name).join(&rest)))
        .collect()
}

/// The names in `have` most like `want`, best first: same name in another case, same
/// stem with another extension, a small edit distance, a shared stem prefix; within each,
/// the closest spelling first.
pub fn similar_names(want: &str, have: impl IntoIterator<Item = String>) -> Vec<String> {
    let want_lower = want.to_lowercase();
    let want_stem = stem(&want_lower);
    let mut scored: Vec<(usize, usize, String)> = have
        .into_iter()
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let budget = (want_lower.chars().count() / 3).clamp(1, 3);
            let distance = edit_distance(&want_lower, &lower, budget);
            let class = if lower == want_lower {
                0
            } else if stem(&lower) == want_stem && !want_stem.is_empty() {
                1
            } else if distance.is_some() {
                2
            } else if want_stem.len() >= 3
                && (stem(&lower).starts_with(want_stem) || want_stem.starts_with(stem(&lower)))
            {
                3
            } else {
                return None;
            };
            Some((class, distance.unwrap_or(usize::MAX), name))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, _, n)| n)
        .collect()
}

/// A file name up to its first dot (leading dots kept: `.gitignore` is its own stem).
fn stem(name: &str) -> &str {
    let body = name.trim_start_matches('.');
    let lead = name.len() - body.len();
    match body.find('.') {
        Some(dot) => &name[..lead + dot],
        None => name,
    }
}

/// Edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of
/// neighbours, each costing one) if it is at most `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // d[i][j]: distance between a[..i] and b[..j] (optimal string alignment).
    let width = b.len() + 1;
    let mut d: Vec<usize> = vec![0; (a.len() + 1) * width];
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d.last().copied().filter(|&dist| dist <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(edit_distance("main.rs", "mian.rs", 2), Some(1));
        assert_eq!(edit_distance("main.rs", "man.rs", 2), Some(1));
        assert_eq!(edit_distance("lib.rs", "lib.rs", 1), Some(0));
        assert_eq!(edit_distance("abc", "xyz", 2), None);
        assert_eq!(edit_distance("a", "abcdef", 3), None);
    }

    #[test]
    fn similar_names_prefer_case_then_stem_then_typos() {
        let have = names(&["README.md", "main.rs", "mod.rs", "readme.txt", "zebra.rs"]);
        assert_eq!(
            similar_names("readme.md", have.clone()),
            ["README.md", "readme.txt"]
        );
        assert_eq!(similar_names("mian.rs", have.clone()), ["main.rs"]);
        assert_eq!(similar_names("main.py", have.clone()), ["main.rs"]);
        let cargo = names(&["Cargo.lock", "Cargo.toml"]);
        assert_eq!(
            similar_names("Cargo.tmol", cargo),
            ["Cargo.toml", "Cargo.lock"]
        );
        assert!(similar_names("unrelated", have).is_empty());
    }

    #[test]
    fn stems_keep_leading_dots() {
        assert_eq!(stem(".gitignore"), ".gitignore");
        assert_eq!(stem("a.tar.gz"), "a");
        assert_eq!(stem(".env.local"), ".env");
    }

    #[test]
    fn missing_file_suggests_its_neighbours() {
        let s = Scratch::new("locate");
        s.file("src/main.rs", "").file("src/lib.rs", "");
        let ws = s.ws();
        let err = metadata(&ws, "src/mian.rs", &s.0.join("src/mian.rs"));
        match err {
            Err(ToolError::NotFound(m)) => {
                assert!(m.ends_with("Did you mean: src/main.rs?"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match metadata(&ws, "scr/lib.rs", &s.0.join("scr/lib.rs")) {
            Err(ToolError::NotFound(m)) => assert!(m.contains("src/lib.rs"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
