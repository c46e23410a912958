//! `replace`: `old_string` → `new_string`, exact first, then tolerant.
//!
//! The levels are tried in order and the first that matches decides: exact text (line
//! endings aside, so `\n` in `old_string` matches a CRLF file); then whole lines ignoring
//! leading and trailing whitespace; then the same ignoring Unicode quotes and dashes as
//! well. After a tolerant match `new_string` is written in the file's style (see
//! [`crate::restyle`]). A match must be unique unless `replace_all` — or, among several
//! tolerant matches, the only one where the snippet's indentation is the file's shifted by
//! one amount; when nothing matches, the error shows the most similar lines of the file.

use crate::EditError;
use crate::matching::{MatchKind, describe_closest, find_all, span};
use crate::restyle::{FileIndent, Unplaceable, consistent_offset, restyle};
use crate::text::{Splice, Text, split_lines};

/// What a replacement did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// The new file bytes.
    pub bytes: Vec<u8>,
    /// How `old_string` was found.
    pub matched: MatchKind,
    /// The 1-based line where each replaced occurrence started, in the old file.
    pub lines: Vec<usize>,
}

/// Replace `old` with `new` in a file's bytes: once (it must be unique), or every
/// occurrence with `replace_all`.
pub fn replace(
    file: &[u8],
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Replaced, EditError> {
    if old.is_empty() {
        return Err(EditError::InvalidInput(
            "old_string is empty; to add text, use edit with insert_after, or include a line \
             next to the new text in old_string"
                .to_owned(),
        ));
    }
    if old == new {
        return Err(EditError::InvalidInput(
            "old_string and new_string are the same; there is nothing to change".to_owned(),
        ));
    }
    let text = Text::decode(file)?;
    let old = old.replace("\r\n", "\n");
    let new = new.replace("\r\n", "\n");
    if let Some(result) = exact(&text, &old, &new, replace_all)? {
        return Ok(result);
    }
    let contents = text.contents();
    let old_lines = split_lines(&old);
    let mut new_lines = split_lines(&new);
    let joins_next = old.ends_with('\n') && !new.ends_with('\n');
    if new.ends_with('\n') && !old.ends_with('\n') {
        // The match ends at a line's end, so a final newline in `new` starts one more line,
        // as it would in an exact match.
        new_lines.push(String::new());
    }
    if old_lines.iter().any(|l| !l.trim().is_empty()) {
        let file_indent = FileIndent::scan(&contents);
        let model = || old_lines.iter().chain(&new_lines).map(String::as_str);
        let indent_at = |at: usize| file_indent.at(&contents[at..at + old_lines.len()], model());
        for kind in [MatchKind::Whitespace, MatchKind::Unicode] {
            let mut found = find_all(&contents, &old_lines, kind);
            if found.is_empty() {
                continue;
            }
            if found.len() > 1 && !replace_all {
                // Only one place has the snippet's shape, shifted as a whole: that is the
                // one meant (the others match only once their nesting is ignored).
                let shaped: Vec<usize> = found
                    .iter()
                    .copied()
                    .filter(|&at| {
                        let matched = &contents[at..at + old_lines.len()];
                        consistent_offset(&old_lines, matched, indent_at(at)).is_some()
                    })
                    .collect();
                if shaped.len() == 1 {
                    found = shaped;
                }
            }
            check_unique(&found, replace_all, kind)?;
            let mut splices = Vec::with_capacity(found.len());
            for &at in &found {
                let matched = &contents[at..at + old_lines.len()];
                let mut lines = restyle(&new_lines, &old_lines, matched, indent_at(at), kind)
                    .map_err(|Unplaceable(j)| {
                        unplaceable(at, old_lines.len(), kind, &new_lines[j])
                    })?;
                let mut end = at + old_lines.len();
                if joins_next && let Some(next) = contents.get(end) {
                    // As in an exact match, dropping the final newline joins the next line.
                    match lines.last_mut() {
                        Some(last) => last.push_str(next),
                        None => lines.push((*next).to_owned()),
                    }
                    end += 1;
                }
                splices.push(Splice {
                    start: at,
                    end,
                    lines,
                });
            }
            return Ok(Replaced {
                bytes: text.apply(splices, None).encode(),
                matched: kind,
                lines: found.iter().map(|at| at + 1).collect(),
            });
        }
    }
    let wanted: Vec<&str> = old_lines.iter().map(|l| l.trim()).collect();
    let mut message = format!(
        "old_string was not found in the file, not even ignoring whitespace, indentation and \
         Unicode quotes/dashes. {}",
        describe_closest(&contents, 0, &wanted, None)
    );
    if looks_numbered(&old_lines) {
        message.push_str(
            "old_string seems to include line numbers from the read output; leave them out. ",
        );
    }
    message.push_str("Copy old_string exactly from the file and retry.");
    Err(EditError::InvalidInput(message))
}

/// The exact level, on the file's text with `\n` line ends. `None` when nothing matches.
fn exact(
    text: &Text,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Option<Replaced>, EditError> {
    let mut joined = String::new();
    let mut starts = Vec::with_capacity(text.lines.len());
    for line in &text.lines {
        starts.push(joined.len());
        joined.push_str(&line.content);
        if line.ending.is_some() {
            joined.push('\n');
        }
    }
    let found: Vec<usize> = joined.match_indices(old).map(|(at, _)| at).collect();
    if found.is_empty() {
        return Ok(None);
    }
    let line_of = |offset: usize| starts.partition_point(|&s| s <= offset).saturating_sub(1);
    // A snippet whose lines all lost their indentation can still match exactly from the
    // middle of an indented first line, when the lines after it happen to sit at column 0:
    // its new lines would keep the model's flat indentation. The tolerant level re-indents
    // them (or refuses).
    if found
        .iter()
        .any(|&at| flat_after_indent(&joined, at, old, &starts[line_of(at)..]))
    {
        return Ok(None);
    }
    let first_lines: Vec<usize> = found.iter().map(|&at| line_of(at)).collect();
    check_unique(&first_lines, replace_all, MatchKind::Exact)?;
    // Each match rewrites the lines it touches, plus the line right after it when it ends
    // with a newline (so removing that newline joins the lines). Matches touching the same
    // lines are rewritten together.
    let last = text.lines.len() - 1;
    let end_of = |line: usize| starts.get(line + 1).copied().unwrap_or(joined.len());
    let mut splices: Vec<Splice> = Vec::new();
    let mut group: Option<(usize, usize, String, usize)> = None; // first, last, out, copied
    let flush = |group: (usize, usize, String, usize), splices: &mut Vec<Splice>| {
        let (first, last_line, mut out, copied) = group;
        out.push_str(&joined[copied..end_of(last_line)]);
        splices.push(Splice {
            start: first,
            end: last_line + 1,
            lines: split_lines(&out),
        });
    };
    for &at in &found {
        let end = at + old.len();
        let (first, last_line) = (
            line_of(at),
            if end < joined.len() {
                line_of(end)
            } else {
                last
            },
        );
        let (g_first, _, mut out, copied) = match group.take() {
            Some(g) if first <= g.1 => g,
            Some(g) => {
                flush(g, &mut splices);
                (first, last_line, String::new(), starts[first])
            }
            None => (first, last_line, String::new(), starts[first]),
        };
        out.push_str(&joined[copied..at]);
        out.push_str(new);
        group = Some((g_first, last_line, out, end));
    }
    if let Some(g) = group {
        flush(g, &mut splices);
    }
    Ok(Some(Replaced {
        bytes: text.apply(splices, None).encode(),
        matched: MatchKind::Exact,
        lines: first_lines.iter().map(|l| l + 1).collect(),
    }))
}

/// Whether the exact match of `old` at byte `at` of `joined` (whose line starts from the
/// match's line on are `starts`) covers whole lines from the end of an indentation, while
/// every later line of `old` has none: a snippet that lost all of its indentation.
pub(crate) fn flat_after_indent(joined: &str, at: usize, old: &str, starts: &[usize]) -> bool {
    let later: Vec<&str> = old.split('\n').skip(1).collect();
    let before = &joined[starts[0]..at];
    let end = at + old.len();
    before.trim().is_empty()
        && !before.is_empty()
        && later.iter().any(|l| !l.trim().is_empty())
        && later.iter().all(|l| !l.starts_with(char::is_whitespace))
        && (old.ends_with('\n') || end == joined.len() || joined[end..].starts_with('\n'))
}

/// `found` are 0-based first lines of the matches.
fn check_unique(found: &[usize], replace_all: bool, kind: MatchKind) -> Result<(), EditError> {
    if found.len() <= 1 || replace_all {
        return Ok(());
    }
    let mut lines: Vec<String> = found.iter().take(20).map(|l| (l + 1).to_string()).collect();
    if found.len() > 20 {
        lines.push("…".to_owned());
    }
    Err(EditError::InvalidInput(format!(
        "old_string occurs {} times (matched {}), starting at lines {}. Include more \
         surrounding lines to pick one, or set replace_all to replace every occurrence.",
        found.len(),
        kind.describe(),
        lines.join(", ")
    )))
}

/// The refusal when a line of `new_string` has no indentation that follows from the match.
fn unplaceable(at: usize, len: usize, kind: MatchKind, line: &str) -> EditError {
    EditError::InvalidInput(format!(
        "old_string matched {} {}, but its lines are indented differently from the file's by \
         different amounts, so the indentation of the new line `{}` cannot be told. The file \
         is unchanged; copy old_string and new_string with the file's indentation and retry.",
        span(at + 1, at + len),
        kind.describe(),
        line.trim()
    ))
}

/// Every non-blank line starts like `  12| ` or `12→`: pasted from numbered output.
fn looks_numbered(lines: &[String]) -> bool {
    let numbered = |l: &&String| {
        let rest = l.trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        digits > 0 && rest[digits..].starts_with(['|', '\t', '\u{2192}', ':'])
    };
    let mut non_blank = lines.iter().filter(|l| !l.trim().is_empty()).peekable();
    non_blank.peek().is_some() && non_blank.all(|l| numbered(&l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(file: &str, old: &str, new: &str) -> String {
        let out = replace(file.as_bytes(), old, new, false).unwrap();
        String::from_utf8(out.bytes).unwrap()
    }

    fn err(file: &str, old: &str, new: &str) -> String {
        replace(file.as_bytes(), old, new, false)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn exact_match_within_and_across_lines() {
        assert_eq!(
            ok("let a = 1;\nlet b = 2;\n", "a = 1", "a = 10"),
            "let a = 10;\nlet b = 2;\n"
        );
        assert_eq!(ok("a\nb\nc\n", "a\nb\n", "x\n"), "x\nc\n");
        assert_eq!(ok("a\nb\nc\n", "a\n", ""), "b\nc\n");
        // Removing a newline joins the lines.
        assert_eq!(ok("a\nb\nc\n", "a\nb", "ab"), "ab\nc\n");
        assert_eq!(ok("a\nb\nc\n", "b\n", "b "), "a\nb c\n");
    }

    #[test]
    fn empty_file_and_final_newline_state() {
        let message = err("", "x", "y");
        assert!(message.contains("file is empty"), "{message}");
        assert_eq!(ok("a\nb", "b", "c\nd"), "a\nc\nd");
        assert_eq!(ok("a\nb\n", "b\n", "c"), "a\nc\n");
        assert_eq!(ok("a\nb", "a\nb", ""), "");
    }

    #[test]
    fn crlf_bom_tabs_and_unicode() {
        let file = "\u{feff}fn f() {\r\n\tlet s = \"caf\u{e9}\";\r\n}\r\n";
        let out = ok(
            file,
            "\tlet s = \"caf\u{e9}\";\n}",
            "\tlet s = \"\u{1F980}\";\n\tdrop(s);\n}",
        );
        assert_eq!(
            out,
            "\u{feff}fn f() {\r\n\tlet s = \"\u{1F980}\";\r\n\tdrop(s);\r\n}\r\n"
        );
    }

    #[test]
    fn tolerant_match_reindents_new_string() {
        let file = "impl X {\n    fn f() {\n        body();   \n    }\n}\n";
        let out = replace(
            file.as_bytes(),
            "fn f() {\n    body();\n}",
            "fn g() {\n    other();\n}",
            false,
        )
        .unwrap();
        assert_eq!(out.matched, MatchKind::Whitespace);
        assert_eq!(
            String::from_utf8(out.bytes).unwrap(),
            "impl X {\n    fn g() {\n        other();\n    }\n}\n"
        );
    }

    #[test]
    fn trailing_spaces_and_tabs_in_new_string_follow_the_file() {
        let file = "fn f() {\n\tif x {\n\t\ty();\n\t}\n}\n";
        // The model wrote spaces and trailing blanks; the file has tabs and none.
        let out = ok(
            file,
            "    if x {  \n        y();  \n    }",
            "    if x {  \n        y();  \n        z();  \n    }",
        );
        assert_eq!(out, "fn f() {\n\tif x {\n\t\ty();\n\t\tz();\n\t}\n}\n");
    }

    #[test]
    fn of_two_whitespace_matches_the_one_with_the_snippets_shape_is_taken() {
        // Both blocks match ignoring indentation; only the second is the snippet's shape.
        let file = "if a {\nb();\n}\nfn g() {\n    if a {\n        b();\n    }\n}\n";
        let out = ok(file, "if a {\n    b();\n}", "if a {\n    c();\n}");
        assert_eq!(
            out,
            "if a {\nb();\n}\nfn g() {\n    if a {\n        c();\n    }\n}\n"
        );
        // With both in the same shape, it stays a question for the model.
        let twice = "    if a {\n        b();\n    }\n  if a {\n      b();\n  }\n";
        let message = err(twice, "if a {\n    b();\n}", "if a {\n    c();\n}");
        assert!(message.contains("occurs 2 times"), "{message}");
    }

    #[test]
    fn unicode_quotes_and_dashes_are_tolerated() {
        let file = "msg = \u{201C}it\u{2019}s ok \u{2014} really\u{201D}\n";
        let out = replace(
            file.as_bytes(),
            "msg = \"it's ok - really\"",
            "msg = \"fine\"",
            false,
        )
        .unwrap();
        assert_eq!(out.matched, MatchKind::Unicode);
        // The quotes the model straightened are the file's again around its change.
        assert_eq!(
            String::from_utf8(out.bytes).unwrap(),
            "msg = \u{201C}fine\u{201D}\n"
        );
    }

    #[test]
    fn ambiguous_match_says_how_many_and_where() {
        let file = "x = 1\ny = 2\nx = 1\n\nx = 1\n";
        let message = err(file, "x = 1", "x = 3");
        assert!(message.contains("occurs 3 times"), "{message}");
        assert!(message.contains("lines 1, 3, 5"), "{message}");
        let all = replace(file.as_bytes(), "x = 1", "x = 3", true).unwrap();
        assert_eq!(all.lines, vec![1, 3, 5]);
        assert_eq!(
            String::from_utf8(all.bytes).unwrap(),
            "x = 3\ny = 2\nx = 3\n\nx = 3\n"
        );
    }

    #[test]
    fn replace_all_on_one_line() {
        let out = replace(b"a a a\nb\n", "a", "bb", true).unwrap();
        assert_eq!(String::from_utf8(out.bytes).unwrap(), "bb bb bb\nb\n");
    }

    #[test]
    fn no_match_shows_the_closest_lines() {
        let file = "fn main() {\n    let total = compute(1, 2);\n    println!(\"{total}\");\n}\n";
        let message = err(
            file,
            "let totl = compute(1, 3);\nprintln!(\"{totl}\");",
            "x",
        );
        assert!(
            message.contains("closest lines are lines 2\u{2013}3"),
            "{message}"
        );
        assert!(
            message.contains("2|     let total = compute(1, 2);"),
            "{message}"
        );
        let message = err(file, "  2|     let total = compute(9, 9);", "x");
        assert!(message.contains("line numbers"), "{message}");
    }

    #[test]
    fn rejects_empty_and_identical_strings_and_binary() {
        assert!(err("a\n", "", "x").contains("old_string is empty"));
        assert!(err("a\n", "a", "a").contains("the same"));
        let binary = replace(b"\x00\xFF\xFE", "a", "b", false).unwrap_err();
        assert!(matches!(binary, EditError::NotText(_)));
    }

    #[test]
    fn a_100k_line_file_is_searched_quickly() {
        let file: String = (0..100_000).map(|i| format!("    line {i}\n")).collect();
        let out = replace(file.as_bytes(), "line 99999\n", "last\n", false).unwrap();
        assert_eq!(out.lines, vec![100_000]);
        let message = err(&file, "lime 5000x\nlime 5001x", "y");
        assert!(message.contains("closest"), "{message}");
    }
}
