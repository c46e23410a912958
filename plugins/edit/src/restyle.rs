//! Writing `new_string` in the file's own style after a tolerant match.
//!
//! When `old_string` only matched ignoring indentation, whitespace or Unicode punctuation,
//! the model's `new_string` carries the same slips. This module applies to it the
//! correction the match needed: each line moves by the indentation offset found (in
//! columns, so tabs and spaces convert), it is written with tabs or spaces as the file
//! indents, lines the model did not change keep the file's own bytes, and changed lines get
//! no trailing whitespace the file did not have. Where the offset cannot be told (the
//! model's indentation disagrees with the file's by different amounts on different lines,
//! and a new line sits between them) it refuses rather than guess.

use crate::matching::{MatchKind, ascii_punctuation};

/// The widest indentation step taken for one level when guessing a tab's width.
const WIDEST_LEVEL: usize = 8;

/// Above this many line pairs, `old_string` and `new_string` are not aligned line by line
/// (every line counts as changed, which is still correct, only less faithful).
const ALIGN_LIMIT: usize = 4_000_000;

/// Indentation facts about a whole file, gathered once per `replace`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileIndent {
    tab_lines: usize,
    space_lines: usize,
    space_level: Option<usize>,
}

/// How one stretch of a file indents: with tabs or spaces, and how many columns a tab
/// stands for when converting between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Indent {
    tabs: bool,
    width: usize,
}

impl FileIndent {
    pub(crate) fn scan(file: &[&str]) -> FileIndent {
        let (tab_lines, space_lines) = count_styles(file);
        FileIndent {
            tab_lines,
            space_lines,
            space_level: space_level(file.iter().copied()),
        }
    }

    /// The style at `matched` (its own lines decide when they are indented, the whole
    /// file otherwise). A tab's width is the file's space indentation step, or, in a file
    /// indented with tabs, the step of the model's spaces; 4 when nothing says.
    pub(crate) fn at<'a>(
        &self,
        matched: &[&str],
        model: impl Iterator<Item = &'a str> + Clone,
    ) -> Indent {
        let (tab_lines, space_lines) = match count_styles(matched) {
            (0, 0) => (self.tab_lines, self.space_lines),
            local => local,
        };
        let tabs = tab_lines > space_lines;
        let width = if tabs {
            space_level(model)
        } else {
            self.space_level
        };
        Indent {
            tabs,
            width: width.unwrap_or(4),
        }
    }
}

/// (lines indented with a tab first, lines indented with a space first)
fn count_styles(lines: &[&str]) -> (usize, usize) {
    lines
        .iter()
        .fold((0, 0), |(t, s), l| match l.chars().next() {
            Some('\t') if !l.trim().is_empty() => (t + 1, s),
            Some(' ') if !l.trim().is_empty() => (t, s + 1),
            _ => (t, s),
        })
}

/// The most common increase of space indentation between consecutive non-blank lines.
fn space_level<'a>(lines: impl Iterator<Item = &'a str>) -> Option<usize> {
    let mut steps = [0usize; WIDEST_LEVEL + 1];
    let mut previous: Option<usize> = None;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let lead = leading(line);
        if lead.contains('\t') {
            previous = None;
            continue;
        }
        let here = lead.chars().count();
        if let Some(p) = previous
            && here > p
            && here - p >= 2
            && here - p <= WIDEST_LEVEL
        {
            steps[here - p] += 1;
        }
        previous = Some(here);
    }
    (2..=WIDEST_LEVEL)
        .filter(|&w| steps[w] > 0)
        .max_by_key(|&w| (steps[w], w == 4, w))
}

fn leading(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn trailing(line: &str) -> &str {
    &line[line.trim_end().len()..]
}

impl Indent {
    /// The column where `line`'s text starts, a tab counting as one level.
    fn column(self, line: &str) -> usize {
        leading(line)
            .chars()
            .map(|c| if c == '\t' { self.width } else { 1 })
            .sum()
    }

    /// Indentation reaching `column`, in the file's characters.
    fn render(self, column: usize) -> String {
        if self.tabs {
            let mut s = "\t".repeat(column / self.width);
            s.push_str(&" ".repeat(column % self.width));
            s
        } else {
            " ".repeat(column)
        }
    }
}

/// For each line of `old`, how many columns the file's matched line is indented beyond
/// it; `None` for a blank line, which says nothing.
fn offsets(old: &[String], matched: &[&str], indent: Indent) -> Vec<Option<isize>> {
    old.iter()
        .zip(matched)
        .map(|(o, f)| {
            (!o.trim().is_empty() && !f.trim().is_empty())
                .then(|| indent.column(f) as isize - indent.column(o) as isize)
        })
        .collect()
}

/// The one offset every non-blank line of `old` has against `matched`, if they agree.
pub(crate) fn consistent_offset(old: &[String], matched: &[&str], indent: Indent) -> Option<isize> {
    let mut all = offsets(old, matched, indent).into_iter().flatten();
    let first = all.next()?;
    all.all(|o| o == first).then_some(first)
}

/// Why `new_string` could not be put in the file's style: the 0-based line of `new` whose
/// indentation cannot be told.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unplaceable(pub usize);

/// `new` written in the style of the file's `matched` lines, which `old` matched at level
/// `kind`.
pub(crate) fn restyle(
    new: &[String],
    old: &[String],
    matched: &[&str],
    indent: Indent,
    kind: MatchKind,
) -> Result<Vec<String>, Unplaceable> {
    let offs = offsets(old, matched, indent);
    let global = consistent_offset(old, matched, indent);
    let same = align(old, new, kind);
    // The last aligned (old, new) pair before each new line, to find the changed region.
    let mut out = Vec::with_capacity(new.len());
    let mut region_old_start = 0;
    let mut region_new_start = 0;
    for (j, line) in new.iter().enumerate() {
        if let Some(i) = same[j] {
            region_old_start = i + 1;
            region_new_start = j + 1;
            out.push(unchanged(line, &old[i], matched[i], offs[i], indent));
            continue;
        }
        if line.trim().is_empty() {
            out.push(String::new());
            continue;
        }
        // The changed region ends at the next aligned old line.
        let region_old_end = same[j..]
            .iter()
            .flatten()
            .next()
            .copied()
            .unwrap_or(old.len());
        let paired = Some(region_old_start + (j - region_new_start))
            .filter(|&i| i < region_old_end && offs[i].is_some());
        let offset = match (global, paired) {
            (Some(g), _) => g,
            (None, Some(i)) => offs[i].unwrap_or(0),
            (None, None) => {
                let before = offs[..region_old_end].iter().rev().flatten().next();
                let after = offs[region_old_end..].iter().flatten().next();
                match (before, after) {
                    (Some(b), Some(a)) if a == b => *a,
                    (Some(x), None) | (None, Some(x)) => *x,
                    _ => return Err(Unplaceable(j)),
                }
            }
        };
        let column = (indent.column(line) as isize + offset).max(0) as usize;
        let mut text = indent.render(column);
        match paired {
            Some(i) => {
                text.push_str(&restore(matched[i].trim(), old[i].trim(), line.trim()));
                // Trailing whitespace only where the file had the very same.
                if !trailing(line).is_empty() && trailing(line) == trailing(matched[i]) {
                    text.push_str(trailing(line));
                }
            }
            None => text.push_str(line.trim()),
        }
        out.push(text);
    }
    Ok(out)
}

/// A line the model kept: the file's own bytes when the model left its indentation alone,
/// else the file's text at the indentation the model moved it to.
fn unchanged(new: &str, old: &str, file: &str, offset: Option<isize>, indent: Indent) -> String {
    let Some(offset) = offset else {
        return if new.trim().is_empty() {
            file.to_owned()
        } else {
            new.to_owned()
        };
    };
    if indent.column(new) == indent.column(old) {
        return file.to_owned();
    }
    let column = (indent.column(new) as isize + offset).max(0) as usize;
    format!("{}{}", indent.render(column), file.trim_start())
}

/// `new` with the stretches it shares with `old` at either end spelled as the file spells
/// them (typographic quotes the model straightened), when the file's line and `old` differ
/// only character for character in punctuation.
fn restore(file: &str, old: &str, new: &str) -> String {
    if file == old {
        return new.to_owned();
    }
    let (f, o, n): (Vec<char>, Vec<char>, Vec<char>) = (
        file.chars().collect(),
        old.chars().collect(),
        new.chars().collect(),
    );
    let same_char = |a: char, b: char| a == b || ascii(a) == ascii(b);
    if f.len() != o.len() || f.iter().zip(&o).any(|(&a, &b)| !same_char(a, b)) {
        return new.to_owned();
    }
    let prefix = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let suffix = o[prefix..]
        .iter()
        .rev()
        .zip(n[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    f[..prefix]
        .iter()
        .chain(&n[prefix..n.len() - suffix])
        .chain(&f[o.len() - suffix..])
        .collect()
}

fn ascii(c: char) -> String {
    ascii_punctuation(c.encode_utf8(&mut [0; 4])).into_owned()
}

/// For each line of `new`, the line of `old` it repeats (a longest common subsequence of
/// lines equal at level `kind`), or `None` for a changed or added line.
fn align(old: &[String], new: &[String], kind: MatchKind) -> Vec<Option<usize>> {
    let mut same = vec![None; new.len()];
    let (n, m) = (old.len(), new.len());
    if n.saturating_mul(m) > ALIGN_LIMIT {
        return same;
    }
    let key = |s: &str| -> String {
        match kind {
            MatchKind::Unicode => ascii_punctuation(s.trim()).into_owned(),
            _ => s.trim().to_owned(),
        }
    };
    let (a, b): (Vec<String>, Vec<String>) = (
        old.iter().map(|l| key(l)).collect(),
        new.iter().map(|l| key(l)).collect(),
    );
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            same[j] = Some(i);
            i += 1;
            j += 1;
        } else if lcs[at(i + 1, j)] >= lcs[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    same
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.split('\n').map(str::to_owned).collect()
    }

    #[test]
    fn tab_width_comes_from_the_files_spaces_or_the_models() {
        let file = ["fn f() {", "  if x {", "    y();", "  }", "}"];
        let indent = FileIndent::scan(&file).at(&file[1..3], std::iter::empty());
        assert_eq!(
            indent,
            Indent {
                tabs: false,
                width: 2
            }
        );
        let tabbed = ["fn f() {", "\tif x {", "\t\ty();", "\t}", "}"];
        let model = ["if x {", "   y();", "}"];
        let indent = FileIndent::scan(&tabbed).at(&tabbed[1..4], model.iter().copied());
        assert_eq!(
            indent,
            Indent {
                tabs: true,
                width: 3
            }
        );
    }

    #[test]
    fn consistent_offset_needs_every_line_to_agree() {
        let indent = Indent {
            tabs: false,
            width: 4,
        };
        let old = lines("if x {\n    y();\n}");
        assert_eq!(
            consistent_offset(&old, &["    if x {", "        y();", "    }"], indent),
            Some(4)
        );
        assert_eq!(
            consistent_offset(&old, &["    if x {", "    y();", "    }"], indent),
            None
        );
    }

    #[test]
    fn restore_keeps_the_files_quotes_around_a_change() {
        assert_eq!(
            restore(
                "say(\u{201C}it\u{2019}s ok\u{201D});",
                "say(\"it's ok\");",
                "say(\"it's fine\");"
            ),
            "say(\u{201C}it\u{2019}s fine\u{201D});"
        );
        // An ellipsis is three characters in ASCII: no position-by-position mapping.
        assert_eq!(restore("a\u{2026}", "a...", "b..."), "b...");
    }

    #[test]
    fn flattened_snippet_with_a_line_added_between_depths_is_refused() {
        let indent = Indent {
            tabs: false,
            width: 4,
        };
        let old = lines("if a {\nb();\n}");
        let new = lines("if a {\nb();\nc();\n}");
        let matched = ["    if a {", "        b();", "    }"];
        assert_eq!(
            restyle(&new, &old, &matched, indent, MatchKind::Whitespace),
            Err(Unplaceable(2))
        );
        // Changing a line in place keeps that line's own depth.
        let new = lines("if a {\nd();\n}");
        assert_eq!(
            restyle(&new, &old, &matched, indent, MatchKind::Whitespace).unwrap(),
            vec!["    if a {", "        d();", "    }"]
        );
    }
}
