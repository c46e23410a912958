//! Parse unified diffs: `git diff` output (several files, `/dev/null` for creation and
//! deletion, `rename from`/`rename to`), `diff -ruN` output, and the looser diffs models
//! write (no `diff --git` line, wrong hunk counts, blank context lines without their space).

use super::{FilePatch, Hunk, Tag};
use crate::EditError;

/// One file's headers and hunks, before they are resolved into a [`FilePatch`].
#[derive(Default)]
struct Section {
    git: Option<(String, String)>,
    old: Option<Header>,
    new: Option<Header>,
    rename_from: Option<String>,
    rename_to: Option<String>,
    new_file: bool,
    deleted: bool,
    hunks: Vec<Hunk>,
}

/// A `---` or `+++` path; `None` for `/dev/null`.
struct Header {
    path: Option<String>,
    /// `diff -N` marks an absent file with the epoch as its date.
    epoch: bool,
}

pub(super) fn parse(patch: &str) -> Result<Vec<FilePatch>, EditError> {
    let lines: Vec<&str> = patch.lines().collect();
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let error =
            |what: &str| EditError::InvalidInput(format!("line {} of the patch: {what}", i + 1));
        if let Some(rest) = line.strip_prefix("diff --git ") {
            sections.extend(current.take());
            current = Some(Section {
                git: split_git_paths(rest),
                ..Section::default()
            });
        } else if line.starts_with("--- ")
            && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ "))
        {
            let section = match current.take() {
                Some(s) if s.old.is_none() && s.hunks.is_empty() => s,
                other => {
                    sections.extend(other);
                    Section::default()
                }
            };
            current = Some(Section {
                old: Some(header(&line[4..])),
                new: Some(header(&lines[i + 1][4..])),
                ..section
            });
            i += 1;
        } else if line.starts_with("@@") {
            let Some(section) = current.as_mut() else {
                return Err(error(
                    "a hunk (@@) before any file header (--- a/path, +++ b/path)",
                ));
            };
            let (hunk, used) = hunk(&lines[i..]).map_err(|m| error(&m))?;
            section.hunks.push(hunk);
            i += used;
            continue;
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            return Err(error(
                "binary patches are not supported; this tool edits text files only",
            ));
        } else if let Some(section) = current.as_mut() {
            if let Some(path) = line.strip_prefix("rename from ") {
                section.rename_from = Some(unquote(path));
            } else if let Some(path) = line.strip_prefix("rename to ") {
                section.rename_to = Some(unquote(path));
            } else if line.starts_with("new file mode") {
                section.new_file = true;
            } else if line.starts_with("deleted file mode") {
                section.deleted = true;
            }
            // Other lines (index, mode, similarity, commentary) say nothing we need.
        }
        i += 1;
    }
    sections.extend(current);
    sections.into_iter().map(resolve).collect()
}

/// `a/x b/y` from a `diff --git` line, when it can be split unambiguously.
fn split_git_paths(rest: &str) -> Option<(String, String)> {
    let rest = rest.trim();
    let (a, b) = rest.split_once(" b/")?;
    Some((a.strip_prefix("a/").unwrap_or(a).to_owned(), b.to_owned()))
}

fn header(text: &str) -> Header {
    let (path, date) = text.split_once('\t').unwrap_or((text, ""));
    let path = unquote(path.trim_end());
    Header {
        epoch: date.trim_start().starts_with("1970-01-01"),
        path: (path != "/dev/null").then_some(path),
    }
}

/// Git quotes paths with unusual characters; the common escapes are enough here.
fn unquote(path: &str) -> String {
    let path = path.trim();
    match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(inner) => inner
            .replace("\\\"", "\"")
            .replace("\\t", "\t")
            .replace("\\\\", "\\"),
        None => path.to_owned(),
    }
}

/// Parse the hunk starting at `lines[0]` (its `@@` line); returns it and the lines used.
fn hunk(lines: &[&str]) -> Result<(Hunk, usize), String> {
    let header_line = lines[0];
    let (old_start, mut old_left, mut new_left) = ranges(header_line).ok_or_else(|| {
        format!("`{header_line}` is not a hunk header; expected `@@ -start,count +start,count @@`")
    })?;
    let mut hunk = Hunk {
        header: header_line
            .find(" @@")
            .map_or(header_line, |end| &header_line[..end + 3])
            .to_owned(),
        old_start: Some(old_start),
        ..Hunk::default()
    };
    let mut used = 1;
    for (n, &line) in lines.iter().enumerate().skip(1) {
        let counted = old_left == 0 && new_left == 0;
        // A `--- `/`+++ ` pair is the next file's header once the counts are used up (or
        // when a hunk follows it at once); before that it can be a removed `-- ` line.
        let header_pair = line.starts_with("--- ")
            && lines.get(n + 1).is_some_and(|l| l.starts_with("+++ "))
            && (counted || lines.get(n + 2).is_some_and(|l| l.starts_with("@@")));
        let (tag, text) = match line.as_bytes().first() {
            Some(b'\\') => {
                match hunk.lines.last().map(|(t, _)| *t) {
                    Some(Tag::Remove) => hunk.old_missing_newline = true,
                    Some(Tag::Add) => hunk.new_missing_newline = true,
                    _ => {
                        hunk.old_missing_newline = true;
                        hunk.new_missing_newline = true;
                    }
                }
                used += 1;
                continue;
            }
            _ if line.starts_with("@@") || line.starts_with("diff ") || header_pair => break,
            Some(b' ') => (Tag::Context, &line[1..]),
            Some(b'-') => (Tag::Remove, &line[1..]),
            Some(b'+') => (Tag::Add, &line[1..]),
            // A blank context line whose space an editor or a model dropped.
            None if !counted => (Tag::Context, ""),
            _ => break,
        };
        if tag != Tag::Add {
            old_left = old_left.saturating_sub(1);
        }
        if tag != Tag::Remove {
            new_left = new_left.saturating_sub(1);
        }
        hunk.lines.push((tag, text.to_owned()));
        used += 1;
    }
    Ok((hunk, used))
}

/// `@@ -12,3 +12,4 @@ …` → (12, 3, 4); a missing count is 1.
fn ranges(header: &str) -> Option<(usize, usize, usize)> {
    let body = header.strip_prefix("@@ -")?;
    let (old, rest) = body.split_once(" +")?;
    let new = rest.split(' ').next()?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let ((old_start, old_count), (_, new_count)) = (range(old)?, range(new)?);
    Some((old_start, old_count, new_count))
}

fn resolve(section: Section) -> Result<FilePatch, EditError> {
    let Section {
        git,
        old,
        new,
        rename_from,
        rename_to,
        new_file,
        deleted,
        hunks,
    } = section;
    // An epoch date marks a side `diff -N` made up only when the hunks agree: a file can
    // really carry that date (files unpacked from old crate archives do), and then its
    // hunks have context and both sides' lines.
    let only = |tag: Tag| {
        hunks
            .iter()
            .all(|hunk| hunk.lines.iter().all(|(t, _)| *t == tag))
    };
    let old_epoch = old.as_ref().is_some_and(|h| h.epoch) && only(Tag::Add);
    let new_epoch = new.as_ref().is_some_and(|h| h.epoch) && only(Tag::Remove);
    let old_null = old.as_ref().is_some_and(|h| h.path.is_none());
    let new_null = new.as_ref().is_some_and(|h| h.path.is_none());
    let mut old_path = old.and_then(|h| h.path);
    let mut new_path = new.and_then(|h| h.path);
    strip_prefixes(git.is_some(), &mut old_path, &mut new_path);
    let (git_old, git_new) = git.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let old_path = rename_from.or(old_path).or(git_old);
    let new_path = rename_to.or(new_path).or(git_new);
    let missing = || {
        EditError::InvalidInput(
            "a file section of the patch names no path; start each file with `--- a/path` \
             and `+++ b/path`"
                .to_owned(),
        )
    };
    if old_null || new_file || (old_epoch && !new_epoch) {
        let path = new_path.ok_or_else(missing)?;
        let mut lines = Vec::new();
        let mut missing_newline = false;
        for hunk in hunks {
            missing_newline |= hunk.new_missing_newline;
            lines.extend(hunk.new_side());
        }
        return Ok(FilePatch::Create {
            path,
            lines,
            missing_newline,
        });
    }
    if new_null || deleted || new_epoch {
        return Ok(FilePatch::Delete {
            path: old_path.or(new_path).ok_or_else(missing)?,
            hunks,
        });
    }
    let path = old_path.or_else(|| new_path.clone()).ok_or_else(missing)?;
    Ok(FilePatch::Update {
        move_to: new_path.filter(|p| *p != path),
        path,
        hunks,
    })
}

/// Drop `a/` and `b/` (git), or a first component that differs while the rest agrees
/// (`diff -ruN old-dir new-dir`).
fn strip_prefixes(git: bool, old: &mut Option<String>, new: &mut Option<String>) {
    let prefixed =
        |p: &Option<String>, prefix: &str| p.as_ref().is_none_or(|p| p.starts_with(prefix));
    let any = old.as_ref().is_some_and(|p| p.starts_with("a/"))
        || new.as_ref().is_some_and(|p| p.starts_with("b/"));
    if (git || any) && prefixed(old, "a/") && prefixed(new, "b/") {
        for path in [old.as_mut(), new.as_mut()].into_iter().flatten() {
            path.replace_range(..2, "");
        }
        return;
    }
    if let (Some(a), Some(b)) = (old.as_mut(), new.as_mut())
        && let (Some((a_dir, a_rest)), Some((b_dir, b_rest))) =
            (a.split_once('/'), b.split_once('/'))
        && a_dir != b_dir
        && a_rest == b_rest
    {
        let rest = a_rest.to_owned();
        *a = rest.clone();
        *b = rest;
    }
}
