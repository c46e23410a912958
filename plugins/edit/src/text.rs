//! The text model: file bytes ⇄ lines, keeping the BOM, each line's ending and the presence
//! of a final newline exactly, so an untouched file round-trips byte for byte.
//!
//! Every operation in this crate decodes a file into a [`Text`], computes a list of line
//! splices against it, and encodes the result. Lines that no splice touches keep their own
//! endings (a file mixing LF and CRLF stays mixed); lines a splice writes get the file's
//! dominant ending, and the last line keeps the file's final-newline state.

use crate::EditError;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A line terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
}

impl LineEnding {
    /// The terminator's bytes as text.
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }
}

/// One line: its content without the terminator, and the terminator (only the file's last
/// line can lack one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The line's text, without `\n` or `\r\n`.
    pub content: String,
    /// How the line ends; `None` only for a last line without a final newline.
    pub ending: Option<LineEnding>,
}

/// A decoded text file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The file starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// The dominant line ending (LF when there is none or a tie), given to written lines.
    pub line_ending: LineEnding,
    /// The lines, in order; empty for an empty file.
    pub lines: Vec<Line>,
}

/// Replace the original lines `start..end` (0-based, half-open; `start == end` inserts
/// before `start`) with `lines`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub lines: Vec<String>,
}

impl Text {
    /// Decode file bytes. Refuses bytes that are not UTF-8, saying where the first bad
    /// byte is.
    pub fn decode(bytes: &[u8]) -> Result<Text, EditError> {
        let (bom, source) = utf8(bytes)?;
        let mut lines = Vec::new();
        let (mut lf, mut crlf) = (0usize, 0usize);
        for piece in source.split_inclusive('\n') {
            let line = if let Some(content) = piece.strip_suffix("\r\n") {
                crlf += 1;
                Line {
                    content: content.to_owned(),
                    ending: Some(LineEnding::CrLf),
                }
            } else if let Some(content) = piece.strip_suffix('\n') {
                lf += 1;
                Line {
                    content: content.to_owned(),
                    ending: Some(LineEnding::Lf),
                }
            } else {
                Line {
                    content: piece.to_owned(),
                    ending: None,
                }
            };
            lines.push(line);
        }
        let line_ending = if crlf > lf {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        };
        Ok(Text {
            bom,
            line_ending,
            lines,
        })
    }

    /// Encode back to bytes: BOM, then each line with its own ending.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.lines.iter().map(|l| l.content.len() + 2).sum();
        let mut out = Vec::with_capacity(size + BOM.len());
        if self.bom {
            out.extend_from_slice(BOM);
        }
        for line in &self.lines {
            out.extend_from_slice(line.content.as_bytes());
            if let Some(ending) = line.ending {
                out.extend_from_slice(ending.as_str().as_bytes());
            }
        }
        out
    }

    /// Whether the last line ends with a newline (false for an empty file).
    pub fn has_final_newline(&self) -> bool {
        self.lines.last().is_some_and(|l| l.ending.is_some())
    }

    /// The line contents, without endings.
    pub(crate) fn contents(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.content.as_str()).collect()
    }

    /// Apply splices that are sorted by position and do not overlap (callers check), all
    /// against the original numbering. `final_newline` overrides the file's final-newline
    /// state (a patch may say so); `None` keeps it — and an empty file gaining lines gets
    /// one, as text files do.
    pub(crate) fn apply(&self, splices: Vec<Splice>, final_newline: Option<bool>) -> Text {
        let keep_final = if self.lines.is_empty() {
            true
        } else {
            self.has_final_newline()
        };
        let final_newline = final_newline.unwrap_or(keep_final);
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut next = 0;
        for splice in splices {
            lines.extend_from_slice(&self.lines[next..splice.start]);
            lines.extend(splice.lines.into_iter().map(|content| Line {
                content,
                ending: Some(self.line_ending),
            }));
            next = splice.end;
        }
        lines.extend_from_slice(&self.lines[next..]);
        let count = lines.len();
        for (i, line) in lines.iter_mut().enumerate() {
            if i + 1 < count || final_newline {
                line.ending.get_or_insert(self.line_ending);
            } else {
                line.ending = None;
            }
        }
        Text {
            bom: self.bom,
            line_ending: self.line_ending,
            lines,
        }
    }
}

/// A file's lines as offsets into its bytes, for the edits by line number: a one-line edit
/// of a large file costs a scan for line ends and one copy of the bytes, where [`Text`]
/// would make a string of every line, copy them all again and encode them. The result is
/// byte for byte what `Text::decode`, `Text::apply` and `Text::encode` give (a test holds
/// the two together).
pub(crate) struct IndexedText<'a> {
    bom: bool,
    body: &'a str,
    /// Where each line starts in `body`.
    starts: Vec<usize>,
    line_ending: LineEnding,
}

impl<'a> IndexedText<'a> {
    /// Index file bytes; refuses bytes that are not UTF-8, as [`Text::decode`] does.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, EditError> {
        let (bom, body) = utf8(bytes)?;
        let mut starts = Vec::new();
        let (mut lf, mut crlf) = (0usize, 0usize);
        let mut at = 0;
        while at < body.len() {
            starts.push(at);
            let Some(newline) = body[at..].find('\n').map(|i| at + i) else {
                break;
            };
            if newline > at && body.as_bytes()[newline - 1] == b'\r' {
                crlf += 1;
            } else {
                lf += 1;
            }
            at = newline + 1;
        }
        let line_ending = if crlf > lf {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        };
        Ok(IndexedText {
            bom,
            body,
            starts,
            line_ending,
        })
    }

    /// How many lines there are.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Line `i` (0-based) with its terminator.
    fn whole(&self, i: usize) -> &'a str {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.body.len());
        &self.body[self.starts[i]..end]
    }

    /// Line `i`'s text, without `\n` or `\r\n`.
    pub(crate) fn content(&self, i: usize) -> &'a str {
        let line = self.whole(i);
        line.strip_suffix('\n')
            .map_or(line, |line| line.strip_suffix('\r').unwrap_or(line))
    }

    /// Every line's text (for messages that search the whole file).
    pub(crate) fn contents(&self) -> Vec<&'a str> {
        (0..self.len()).map(|i| self.content(i)).collect()
    }

    /// The bytes after applying `splices` (sorted, not overlapping, against the original
    /// numbering), with [`Text::apply`]'s rules: untouched lines keep their endings,
    /// written lines take the dominant one, the file keeps its final-newline state.
    pub(crate) fn apply(&self, splices: Vec<Splice>) -> Vec<u8> {
        let count = self.len();
        let final_newline =
            count == 0 || self.content(count - 1).len() < self.whole(count - 1).len();
        let written: usize = splices
            .iter()
            .flat_map(|s| &s.lines)
            .map(|line| line.len() + 2)
            .sum();
        let mut out = Spliced {
            out: Vec::with_capacity(BOM.len() + self.body.len() + written),
            ending: self.line_ending.as_str().as_bytes(),
            last_ending: None,
        };
        if self.bom {
            out.out.extend_from_slice(BOM);
        }
        let mut next = 0;
        for splice in splices {
            self.copy(&mut out, next, splice.start);
            for line in &splice.lines {
                out.written(line);
            }
            next = splice.end;
        }
        self.copy(&mut out, next, count);
        out.finish(final_newline)
    }

    /// Copies the original lines `from..to` as they are.
    fn copy(&self, out: &mut Spliced<'_>, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let end = self.starts.get(to).copied().unwrap_or(self.body.len());
        let last = self.whole(to - 1);
        let ending = last.len() - self.content(to - 1).len();
        out.original(&self.body.as_bytes()[self.starts[from]..end], ending);
    }
}

/// The output of [`IndexedText::apply`], line by line.
struct Spliced<'e> {
    out: Vec<u8>,
    /// The dominant line ending.
    ending: &'e [u8],
    /// How long the last line's terminator is (0: it has none); `None` before any line.
    last_ending: Option<usize>,
}

impl Spliced<'_> {
    /// Whole original lines; the last of them has an `ending`-byte terminator.
    fn original(&mut self, lines: &[u8], ending: usize) {
        self.end_line();
        self.out.extend_from_slice(lines);
        self.last_ending = Some(ending);
    }

    /// A line the edit writes: its text and the dominant ending.
    fn written(&mut self, content: &str) {
        self.end_line();
        self.out.extend_from_slice(content.as_bytes());
        self.out.extend_from_slice(self.ending);
        self.last_ending = Some(self.ending.len());
    }

    /// A line without a terminator (the file's old last one) is followed by another: it
    /// gets the dominant ending.
    fn end_line(&mut self) {
        if self.last_ending == Some(0) {
            self.out.extend_from_slice(self.ending);
        }
    }

    /// The last line ends with a newline exactly when `final_newline`.
    fn finish(mut self, final_newline: bool) -> Vec<u8> {
        match self.last_ending {
            Some(0) if final_newline => self.out.extend_from_slice(self.ending),
            Some(ending) if !final_newline => self.out.truncate(self.out.len() - ending),
            _ => {}
        }
        self.out
    }
}

/// The BOM's presence and the text after it; refuses bytes that are not UTF-8, saying
/// where the first bad byte is.
fn utf8(bytes: &[u8]) -> Result<(bool, &str), EditError> {
    let (bom, body) = match bytes.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let source = std::str::from_utf8(body).map_err(|e| {
        let valid = &body[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        EditError::NotText(format!(
            "the file is not UTF-8 text (invalid byte on line {line}, byte offset {}); \
             this tool edits text files only",
            e.valid_up_to() + if bom { BOM.len() } else { 0 }
        ))
    })?;
    Ok((bom, source))
}

/// Split text given by the model into lines: `\n` and `\r\n` both end a line, and one
/// trailing newline is the last line's terminator, not an extra empty line. So `""` is no
/// lines, `"\n"` is one empty line and `"a\nb\n"` equals `"a\nb"`.
pub(crate) fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect()
}

/// `lines` numbered like the `read` tool shows them, starting at 1-based `first`.
pub(crate) fn numbered<S: AsRef<str>>(lines: &[S], first: usize) -> String {
    let width = (first + lines.len()).to_string().len();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(&format!("{:>width$}| {}\n", first + i, line.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) {
        let text = Text::decode(bytes).unwrap();
        assert_eq!(text.encode(), bytes, "{:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn untouched_files_round_trip_byte_for_byte() {
        for case in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"a\r\nb\r\n",
            b"a\r\nb",
            b"mixed\r\nlf\nlast",
            b"\xEF\xBB\xBFbom\r\n",
            b"\xEF\xBB\xBF",
            b"tab\there\n\n\n",
            "caf\u{e9} \u{1F980}\n".as_bytes(),
            b"lone\rcarriage\n",
        ] {
            round_trip(case);
        }
    }

    #[test]
    fn dominant_ending_wins_and_ties_are_lf() {
        let crlf = Text::decode(b"a\r\nb\r\nc\n").unwrap();
        assert_eq!(crlf.line_ending, LineEnding::CrLf);
        let tie = Text::decode(b"a\r\nb\n").unwrap();
        assert_eq!(tie.line_ending, LineEnding::Lf);
    }

    #[test]
    fn non_utf8_is_refused_with_its_line() {
        let err = Text::decode(b"ok\nok\n\xFF\xFE bad\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("not UTF-8 text"), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("edits text files only"), "{message}");
    }

    #[test]
    fn model_text_splits_with_one_optional_trailing_newline() {
        assert_eq!(split_lines(""), Vec::<String>::new());
        assert_eq!(split_lines("\n"), vec![""]);
        assert_eq!(split_lines("a\r\nb\n"), vec!["a", "b"]);
        assert_eq!(split_lines("a\n\n"), vec!["a", ""]);
    }

    #[test]
    fn indexed_text_edits_to_the_same_bytes_as_text() {
        let files: [&[u8]; 10] = [
            b"",
            b"\n",
            b"a",
            b"a\nb\nc\n",
            b"a\r\nb\r\nc",
            b"mixed\r\nlf\nlast",
            b"\xEF\xBB\xBFbom\r\nx\r\n",
            b"lone\rcarriage\nend\r",
            b"\n\n\n",
            "caf\u{e9}\n\u{1F980}".as_bytes(),
        ];
        let splice = |start: usize, end: usize, lines: &[&str]| Splice {
            start,
            end,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        };
        for file in files {
            let text = Text::decode(file).unwrap();
            let indexed = IndexedText::decode(file).unwrap();
            let n = text.lines.len();
            assert_eq!(indexed.len(), n);
            assert_eq!(indexed.contents(), text.contents());
            let mut cases = vec![
                vec![],
                vec![splice(0, 0, &["top"])],
                vec![splice(n, n, &["end", "two"])],
                vec![splice(0, n, &[])],
                vec![splice(0, n, &["all"])],
            ];
            if n >= 1 {
                cases.push(vec![splice(n - 1, n, &[])]);
                cases.push(vec![splice(n - 1, n, &["last"])]);
                cases.push(vec![splice(0, 1, &["first"]), splice(n, n, &["after"])]);
            }
            if n >= 2 {
                cases.push(vec![
                    splice(0, 0, &["a"]),
                    splice(1, 2, &[]),
                    splice(n, n, &[""]),
                ]);
            }
            for splices in cases {
                assert_eq!(
                    indexed.apply(splices.clone()),
                    text.apply(splices.clone(), None).encode(),
                    "{:?} with {splices:?}",
                    String::from_utf8_lossy(file)
                );
            }
        }
        assert!(IndexedText::decode(b"ok\n\xFF").is_err());
    }

    #[test]
    fn written_lines_take_the_dominant_ending_and_the_last_keeps_its_state() {
        let text = Text::decode(b"a\r\nb\r\nc").unwrap();
        let edited = text.apply(
            vec![Splice {
                start: 3,
                end: 3,
                lines: vec!["d".into()],
            }],
            None,
        );
        assert_eq!(edited.encode(), b"a\r\nb\r\nc\r\nd");
        let empty = Text::decode(b"").unwrap();
        let filled = empty.apply(
            vec![Splice {
                start: 0,
                end: 0,
                lines: vec!["x".into()],
            }],
            None,
        );
        assert_eq!(filled.encode(), b"x\n");
    }
}
