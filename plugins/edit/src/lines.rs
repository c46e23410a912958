//! `edit` and `multiedit`: replace, insert or delete lines by their 1-based numbers.
//!
//! A [`LineEdit`] either replaces lines `start..=end` ([`LineRange::Lines`]; empty new text
//! deletes them) or inserts after a line ([`LineRange::InsertAfter`]; 0 is the top of the
//! file). Several edits to one file all number lines as the file was before the call, so
//! the model never has to account for its own earlier edits; overlapping edits are refused
//! because their result would depend on an order the model did not state.

use crate::EditError;
use crate::matching::{MatchKind, find_all, span};
use crate::text::{IndexedText, Splice, numbered, split_lines};

/// Which lines an edit replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineRange {
    /// Lines `start..=end`, 1-based and inclusive.
    Lines {
        /// First line replaced.
        start: usize,
        /// Last line replaced (at least `start`).
        end: usize,
    },
    /// No line: the new text goes after this line (0 = before the first line).
    InsertAfter(usize),
}

/// One line-range edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEdit {
    /// The lines to replace, or where to insert.
    pub range: LineRange,
    /// The new lines; `\n` or `\r\n` separate them and one trailing newline is optional.
    /// Empty deletes the range.
    pub new_text: String,
    /// What the replaced lines must currently be (whitespace-exact, line-ending-agnostic),
    /// so an edit based on a stale view of the file fails instead of landing wrong.
    pub expected: Option<String>,
}

/// Apply one edit to a file's bytes.
pub fn edit(file: &[u8], edit: &LineEdit) -> Result<Vec<u8>, EditError> {
    apply(file, std::slice::from_ref(edit), "")
}

/// Apply several edits to one file at once. Line numbers refer to the file before the
/// call; overlapping edits are refused, naming both.
pub fn multiedit(file: &[u8], edits: &[LineEdit]) -> Result<Vec<u8>, EditError> {
    if edits.is_empty() {
        return Err(EditError::InvalidInput(
            "edits is empty; give at least one edit".to_owned(),
        ));
    }
    apply(file, edits, "edit")
}

/// `label` names edits in messages ("edit 2: …"); empty for the single-edit tool.
fn apply(file: &[u8], edits: &[LineEdit], label: &str) -> Result<Vec<u8>, EditError> {
    // Offsets, not a string per line: an edit touches a few lines of what may be a
    // large file.
    let text = IndexedText::decode(file)?;
    let name = |i: usize| {
        if label.is_empty() {
            String::new()
        } else {
            format!("{label} {} ({}): ", i + 1, describe(edits[i].range))
        }
    };
    let mut planned = Vec::with_capacity(edits.len());
    for (i, edit) in edits.iter().enumerate() {
        let (start, end) = check_range(edit.range, text.len())
            .map_err(|m| EditError::InvalidInput(format!("{}{m}", name(i))))?;
        if let Some(expected) = &edit.expected {
            check_expected(&text, start, end, edit.range, expected)
                .map_err(|m| EditError::InvalidInput(format!("{}{m}", name(i))))?;
        }
        planned.push((i, start, end));
    }
    // Insertions sort before a replacement starting at the same place; equal insertions
    // keep the order given.
    planned.sort_by_key(|&(i, start, end)| (start, end > start, i));
    for pair in planned.windows(2) {
        let ((a, _, a_end), (b, b_start, _)) = (pair[0], pair[1]);
        if b_start < a_end {
            return Err(EditError::InvalidInput(format!(
                "edits {} ({}) and {} ({}) overlap. Line numbers refer to the file before \
                 the call, so each line can be changed by one edit only: merge them into one \
                 edit.",
                a + 1,
                describe(edits[a].range),
                b + 1,
                describe(edits[b].range)
            )));
        }
    }
    let splices = planned
        .into_iter()
        .map(|(i, start, end)| Splice {
            start,
            end,
            lines: split_lines(&edits[i].new_text),
        })
        .collect();
    Ok(text.apply(splices))
}

fn describe(range: LineRange) -> String {
    match range {
        LineRange::Lines { start, end } => span(start, end),
        LineRange::InsertAfter(0) => "insertion at the top".to_owned(),
        LineRange::InsertAfter(line) => format!("insertion after line {line}"),
    }
}

/// The range as 0-based half-open indices, or why it does not fit a file of `count` lines.
fn check_range(range: LineRange, count: usize) -> Result<(usize, usize), String> {
    let size = match count {
        0 => "the file is empty (0 lines)".to_owned(),
        1 => "the file has 1 line".to_owned(),
        n => format!("the file has {n} lines"),
    };
    match range {
        LineRange::InsertAfter(line) if line > count => Err(format!(
            "cannot insert after line {line}: {size}; insert after line {count} to append"
        )),
        LineRange::InsertAfter(line) => Ok((line, line)),
        LineRange::Lines { start: 0, .. } => Err(
            "start_line is 0, but lines are numbered from 1 (to insert at the top, insert \
             after line 0)"
                .to_owned(),
        ),
        LineRange::Lines { start, end } if end < start => Err(format!(
            "end_line {end} is before start_line {start}; to insert without replacing, \
             insert after line {}",
            start - 1
        )),
        LineRange::Lines { start, .. } if start > count => Err(format!(
            "start_line {start} is past the end: {size}{}",
            if start == count + 1 {
                format!("; to append, insert after line {count}")
            } else {
                String::new()
            }
        )),
        LineRange::Lines { end, .. } if end > count => {
            Err(format!("end_line {end} is past the end: {size}"))
        }
        LineRange::Lines { start, end } => Ok((start - 1, end)),
    }
}

fn check_expected(
    text: &IndexedText<'_>,
    start: usize,
    end: usize,
    range: LineRange,
    expected: &str,
) -> Result<(), String> {
    if matches!(range, LineRange::InsertAfter(_)) {
        return Err(
            "`expected` checks the lines an edit replaces, and an insertion replaces \
                    none; leave it out"
                .to_owned(),
        );
    }
    let wanted = split_lines(expected);
    if wanted
        .iter()
        .map(String::as_str)
        .eq((start..end).map(|i| text.content(i)))
    {
        return Ok(());
    }
    let contents = text.contents();
    let mut message = format!(
        "{} do not match `expected`. They are now:\n{}",
        span(start + 1, end),
        numbered(&contents[start..end], start + 1)
    );
    let elsewhere = find_all(&contents, &wanted, MatchKind::Exact);
    if !wanted.is_empty() && !elsewhere.is_empty() {
        let places: Vec<String> = elsewhere
            .iter()
            .map(|&at| span(at + 1, at + wanted.len()))
            .collect();
        message.push_str(&format!(
            "The expected text is at {}; the file may have changed since you read it.",
            places.join(", ")
        ));
    } else {
        message.push_str("Read the file again and retry with the current line numbers.");
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(start: usize, end: usize, new_text: &str) -> LineEdit {
        LineEdit {
            range: LineRange::Lines { start, end },
            new_text: new_text.to_owned(),
            expected: None,
        }
    }

    fn insert(after: usize, new_text: &str) -> LineEdit {
        LineEdit {
            range: LineRange::InsertAfter(after),
            new_text: new_text.to_owned(),
            expected: None,
        }
    }

    fn err(result: Result<Vec<u8>, EditError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn replaces_inserts_and_deletes() {
        let file = b"one\ntwo\nthree\n";
        assert_eq!(
            edit(file, &lines(2, 2, "TWO")).unwrap(),
            b"one\nTWO\nthree\n"
        );
        assert_eq!(edit(file, &lines(2, 3, "")).unwrap(), b"one\n");
        assert_eq!(
            edit(file, &insert(0, "zero")).unwrap(),
            b"zero\none\ntwo\nthree\n"
        );
        assert_eq!(
            edit(file, &insert(3, "four\n")).unwrap(),
            b"one\ntwo\nthree\nfour\n"
        );
        assert_eq!(edit(file, &lines(1, 1, "\n")).unwrap(), b"\ntwo\nthree\n");
    }

    #[test]
    fn empty_file_accepts_an_insertion_only() {
        assert_eq!(edit(b"", &insert(0, "first")).unwrap(), b"first\n");
        let message = err(edit(b"", &lines(1, 1, "x")));
        assert!(message.contains("the file is empty (0 lines)"), "{message}");
        assert!(message.contains("insert after line 0"), "{message}");
    }

    #[test]
    fn last_line_without_newline_stays_without() {
        let file = b"a\nb";
        assert_eq!(edit(file, &lines(2, 2, "B\n")).unwrap(), b"a\nB");
        assert_eq!(edit(file, &insert(2, "c")).unwrap(), b"a\nb\nc");
        assert_eq!(edit(file, &lines(2, 2, "")).unwrap(), b"a");
        assert_eq!(edit(file, &lines(1, 2, "")).unwrap(), b"");
    }

    #[test]
    fn crlf_bom_tabs_and_unicode_are_kept() {
        let file = "\u{feff}\tcaf\u{e9}\r\n\u{1F980} crab\r\nend\r\n".as_bytes();
        let out = edit(file, &lines(2, 2, "\t\u{1F980}\u{2014}crab\nnew")).unwrap();
        assert_eq!(
            out,
            "\u{feff}\tcaf\u{e9}\r\n\t\u{1F980}\u{2014}crab\r\nnew\r\nend\r\n".as_bytes()
        );
    }

    #[test]
    fn out_of_range_says_the_line_count() {
        let file = b"a\nb\nc\n";
        let message = err(edit(file, &lines(2, 7, "x")));
        assert!(
            message.contains("end_line 7") && message.contains("3 lines"),
            "{message}"
        );
        let message = err(edit(file, &lines(4, 4, "x")));
        assert!(message.contains("insert after line 3"), "{message}");
        let message = err(edit(file, &lines(0, 1, "x")));
        assert!(message.contains("numbered from 1"), "{message}");
        let message = err(edit(file, &lines(3, 2, "x")));
        assert!(message.contains("insert after line 2"), "{message}");
        let message = err(edit(file, &insert(9, "x")));
        assert!(message.contains("3 lines"), "{message}");
    }

    #[test]
    fn expected_guards_against_a_stale_view() {
        let file = b"a\r\n  b\r\nc\r\n";
        let mut guarded = lines(2, 2, "B");
        guarded.expected = Some("  b\n".to_owned());
        assert_eq!(edit(file, &guarded).unwrap(), b"a\r\nB\r\nc\r\n");
        guarded.expected = Some("b".to_owned());
        let message = err(edit(file, &guarded));
        assert!(message.contains("2|   b"), "{message}");
        guarded.expected = Some("c".to_owned());
        let message = err(edit(file, &guarded));
        assert!(message.contains("expected text is at line 3"), "{message}");
    }

    #[test]
    fn multiedit_numbers_lines_as_before_the_call() {
        let file = b"1\n2\n3\n4\n5\n";
        let out = multiedit(
            file,
            &[
                lines(4, 5, "four-five"),
                insert(0, "0"),
                lines(2, 2, "2a\n2b"),
                insert(3, "3.5"),
            ],
        )
        .unwrap();
        assert_eq!(out, b"0\n1\n2a\n2b\n3\n3.5\nfour-five\n");
    }

    #[test]
    fn multiedit_refuses_overlaps_naming_both() {
        let file = b"1\n2\n3\n4\n5\n";
        let message = err(multiedit(file, &[lines(1, 3, "x"), lines(3, 4, "y")]));
        assert!(
            message.contains("edits 1 (lines 1\u{2013}3) and 2 (lines 3\u{2013}4) overlap"),
            "{message}"
        );
        let message = err(multiedit(file, &[insert(2, "x"), lines(1, 3, "y")]));
        assert!(message.contains("insertion after line 2"), "{message}");
        // Touching is not overlapping.
        assert!(multiedit(file, &[lines(1, 2, "x"), lines(3, 3, "y"), insert(3, "z")]).is_ok());
    }

    #[test]
    fn multiedit_error_names_the_edit() {
        let message = err(multiedit(b"a\n", &[lines(1, 1, "x"), lines(5, 5, "y")]));
        assert!(message.starts_with("edit 2 (line 5): "), "{message}");
    }

    #[test]
    fn a_100k_line_file_is_edited_quickly() {
        let file: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        let edits: Vec<LineEdit> = (0..100)
            .map(|i| lines(i * 1000 + 1, i * 1000 + 2, "x"))
            .collect();
        let out = multiedit(file.as_bytes(), &edits).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 99_900);
    }
}
