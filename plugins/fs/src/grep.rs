//! `grep`: lines matching a regex, grouped by file, with ripgrep's engine (`grep-regex`,
//! `grep-searcher`) over the ignore-aware walk.
//!
//! Speed comes from doing what ripgrep does with one thread, minus host calls: one
//! `Searcher` reused for every file, each file read whole with one open, one stat and
//! reads of exactly its size ([`Disk::read`]), then searched as a slice; binary files
//! dropped at their first NUL byte.

use std::io;
use std::ops::ControlFlow;
use std::path::Path;

use conch_plugin::output::cut_line;
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput, Workspace};
use globset::{GlobBuilder, GlobMatcher};
use grep_matcher::{LineTerminator, Matcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::disk::{Disk, Read};
use crate::walk::{Kind, Order, Walker, relative};
use crate::{locate, place, plural};

const DEFAULT_LIMIT: u64 = 200;
const MAX_LIMIT: u64 = 5_000;
const MAX_CONTEXT: u64 = 20;
/// Characters kept of one line; a long matching line is cut around its first match.
const MAX_LINE_CHARS: usize = 500;
/// Characters kept before the first match when a long line is cut.
const LEAD_CHARS: usize = 100;
/// Files up to this size are read whole and searched as one slice; larger ones stream.
const MAX_WHOLE_FILE: u64 = 32 * 1024 * 1024;
/// Bytes of output at most; the search stops once past it.
const MAX_BYTES: usize = 50 * 1024;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Regular expression (Rust regex syntax), e.g. `fn\s+parse_\w+` or `TODO|FIXME`
    pattern: String,
    /// File or directory to search (default: the working directory)
    path: Option<String>,
    /// Only search files matching this glob: without `/` it matches file names at any depth (`*.rs`, `*.{ts,tsx}`); with `/`, paths relative to `path` (`src/**/*.rs`)
    include: Option<String>,
    /// Ignore case (default false)
    #[serde(default)]
    case_insensitive: bool,
    /// Lines of context around each match (default 0)
    #[schemars(range(max = 20))]
    context: Option<u64>,
    /// Most matching lines to return (default 200)
    #[schemars(range(min = 1, max = 5_000))]
    limit: Option<u64>,
}

/// The `grep` tool.
pub struct Grep;

impl Tool for Grep {
    const NAME: &'static str = "grep";
    const DESCRIPTION: &'static str = "Search file contents with a regular expression \
        (Rust regex syntax; one line at a time), respecting .gitignore and skipping binary \
        files, .git, node_modules and target. Results are grouped by file: the path, then `12: \
        matching line` and, with context, `11- nearby line`. At most `limit` matching lines \
        (default 200).";
    const KEY_ARG: Option<&'static str> = Some("pattern");
    type Input = Input;

    fn run(input: Input, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let ws = &Workspace::new(ctx);
        let limit = input.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let context = input.context.unwrap_or(0).min(MAX_CONTEXT) as usize;
        let matcher = build_matcher(&input.pattern, input.case_insensitive)?;
        let include = input.include.as_deref().map(Include::parse).transpose()?;
        let asked = input.path.unwrap_or_default();
        let root = ws.resolve(&asked)?;
        let shown_root = ws.display(&root);
        let is_dir = locate::metadata(ws, &asked, &root)?.is_dir();

        let searcher = SearcherBuilder::new()
            .line_number(true)
            .line_terminator(LineTerminator::crlf())
            .binary_detection(BinaryDetection::quit(b'\0'))
            .before_context(context)
            .after_context(context)
            .build();
        let disk = Disk::new();
        let mut search = Search {
            disk: &disk,
            buf: Vec::new(),
            searcher,
            sink: FileSink::new(&matcher, limit),
            out: String::new(),
            files_searched: 0,
            files_matched: 0,
            binary: 0,
            unreadable: 0,
        };

        if is_dir {
            let mut walker = Walker::new(ws, &disk, &root);
            walker.run(Order::DepthFirst, |entry| {
                if entry.kind != Kind::File
                    || include
                        .as_ref()
                        .is_some_and(|i| !i.matches(&root, entry.path))
                {
                    return ControlFlow::Continue(());
                }
                search.file(ws, entry.path)
            });
            search.unreadable += walker.unreadable;
        } else {
            let _ = search.file(ws, &root);
            if search.binary > 0 {
                return Err(ToolError::InvalidInput(format!(
                    "{shown_root} is a binary file; grep searches text files only"
                )));
            }
            if search.unreadable > 0 {
                return Err(ToolError::Failed(format!(
                    "{shown_root}: could not be read"
                )));
            }
        }

        let matches = search.sink.total;
        let truncated = search.sink.budget_left() == 0 || search.out.len() > MAX_BYTES;
        let metadata = serde_json::json!({
            "pattern": input.pattern,
            "path": shown_root,
            "matches": matches,
            "files": search.files_matched,
            "searched": search.files_searched,
            "truncated": truncated,
        });
        if matches == 0 {
            let text = no_match_text(
                &input.pattern,
                &shown_root,
                input.include.as_deref(),
                &search,
            );
            return Ok(ToolOutput::text(text).with_metadata(&metadata));
        }
        let mut text = search.out;
        if search.unreadable > 0 {
            text.push_str(&format!(
                "\n[{} could not be read]",
                plural(
                    search.unreadable,
                    "file or directory",
                    "files or directories"
                )
            ));
        }
        if search.sink.budget_left() == 0 {
            text.push_str(&format!(
            "\n[match limit of {limit} lines reached; there may be more. Narrow the pattern, path or include]"
        ));
        } else if text.len() > MAX_BYTES {
            text.push_str(&format!(
            "\n[output cut after {} KB; there may be more. Narrow the pattern, path or include]",
            MAX_BYTES / 1024
        ));
        }
        Ok(ToolOutput::text(text.trim_end().to_string()).with_metadata(&metadata))
    }
}

fn no_match_text(pattern: &str, shown: &str, include: Option<&str>, search: &Search) -> String {
    let place = place(shown);
    match include {
        Some(glob) if search.files_searched == 0 && search.binary == 0 => {
            format!("No files in {place} match include `{glob}`; nothing was searched.")
        }
        _ => {
            let mut text = format!(
                "No matches for `{pattern}` in {place} ({} searched",
                plural(search.files_searched, "file", "files")
            );
            if search.binary > 0 {
                text.push_str(&format!(
                    ", {} skipped",
                    plural(search.binary, "binary file", "binary files")
                ));
            }
            text.push_str(").");
            text
        }
    }
}

/// Compiles the regex for line-by-line search; `\r\n` line ends are understood.
fn build_matcher(pattern: &str, case_insensitive: bool) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(case_insensitive)
        // As ripgrep does: `^` and `$` match at every line's start and end, not only the
        // file's (the searcher hands the matcher whole buffers, not single lines).
        .multi_line(true)
        .crlf(true)
        .build(pattern)
        .map_err(|e| {
            let hint = if pattern.contains("\\n") {
                " (grep matches within one line; search for one line of the text)"
            } else {
                ""
            };
            ToolError::InvalidInput(format!("invalid regex `{pattern}`: {e}{hint}"))
        })
}

/// The `include` glob: without `/` it matches file names at any depth (`*.rs`); with one,
/// paths relative to the searched directory (`src/**/*.ts`).
struct Include {
    matcher: GlobMatcher,
    by_name: bool,
}

impl Include {
    fn parse(glob: &str) -> Result<Include, ToolError> {
        let glob = glob.trim().trim_start_matches("./");
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| {
                ToolError::InvalidInput(format!("invalid include glob `{glob}`: {}", e.kind()))
            })?
            .compile_matcher();
        Ok(Include {
            matcher,
            by_name: !glob.contains('/'),
        })
    }

    fn matches(&self, root: &Path, path: &Path) -> bool {
        if self.by_name {
            path.file_name().is_some_and(|n| self.matcher.is_match(n))
        } else {
            self.matcher.is_match(relative(root, path))
        }
    }
}

/// One grep run: the reused searcher, sink and file buffer, and what was found so far.
struct Search<'a> {
    disk: &'a Disk,
    /// The file being searched, read whole.
    buf: Vec<u8>,
    searcher: Searcher,
    sink: FileSink<'a>,
    out: String,
    files_searched: usize,
    files_matched: usize,
    binary: usize,
    unreadable: usize,
}

impl Search<'_> {
    /// Searches one file and appends its block; breaks when a cap is reached.
    fn file(&mut self, ws: &Workspace, path: &Path) -> ControlFlow<()> {
        self.sink.start_file();
        let matcher = self.sink.matcher;
        let result = match self.disk.read(path, &mut self.buf, MAX_WHOLE_FILE) {
            // UTF-16 with a BOM: the reader path transcodes it to UTF-8.
            Ok(Read::Whole)
                if self.buf.starts_with(b"\xff\xfe") || self.buf.starts_with(b"\xfe\xff") =>
            {
                self.searcher
                    .search_reader(matcher, self.buf.as_slice(), &mut self.sink)
            }
            Ok(Read::Whole) => self
                .searcher
                .search_slice(matcher, &self.buf, &mut self.sink),
            Ok(Read::TooLarge) => self.searcher.search_path(matcher, path, &mut self.sink),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.unreadable += 1;
            self.sink.drop_file();
            return ControlFlow::Continue(());
        }
        if self.sink.binary {
            self.binary += 1;
            self.sink.drop_file();
            return ControlFlow::Continue(());
        }
        self.files_searched += 1;
        if self.sink.file_matches > 0 {
            self.files_matched += 1;
            if !self.out.is_empty() {
                self.out.push('\n');
            }
            self.out.push_str(&ws.display(path));
            self.out.push('\n');
            self.out.push_str(&self.sink.lines);
        }
        if self.sink.budget_left() == 0 || self.out.len() > MAX_BYTES {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Collects one file's lines (`12: match`, `11- context`, `--` between groups), kept
/// aside until the file is known not to be binary.
struct FileSink<'m> {
    matcher: &'m RegexMatcher,
    lines: String,
    file_matches: usize,
    binary: bool,
    /// Matching lines over all files.
    total: usize,
    limit: usize,
}

impl<'m> FileSink<'m> {
    fn new(matcher: &'m RegexMatcher, limit: usize) -> FileSink<'m> {
        FileSink {
            matcher,
            lines: String::new(),
            file_matches: 0,
            binary: false,
            total: 0,
            limit,
        }
    }

    fn start_file(&mut self) {
        self.lines.clear();
        self.file_matches = 0;
        self.binary = false;
    }

    /// Forgets the current file's matches (it was binary or failed half way).
    fn drop_file(&mut self) {
        self.total -= self.file_matches;
        self.file_matches = 0;
        self.lines.clear();
    }

    fn budget_left(&self) -> usize {
        self.limit.saturating_sub(self.total)
    }

    fn push(&mut self, number: Option<u64>, mark: char, line: &[u8], is_match: bool) {
        let text = String::from_utf8_lossy(trim_line_end(line));
        let shown = if is_match {
            cut_around_match(&text, self.matcher)
        } else {
            cut_line(&text, MAX_LINE_CHARS).into_owned()
        };
        let number = number.unwrap_or(0);
        if shown.is_empty() {
            self.lines.push_str(&format!("{number}{mark}\n"));
        } else {
            self.lines.push_str(&format!("{number}{mark} {shown}\n"));
        }
    }
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, found: &SinkMatch<'_>) -> Result<bool, io::Error> {
        let mut number = found.line_number();
        for line in found.lines() {
            if self.budget_left() == 0 {
                return Ok(false);
            }
            self.push(number, ':', line, true);
            self.file_matches += 1;
            self.total += 1;
            number = number.map(|n| n + 1);
        }
        Ok(self.budget_left() > 0 && self.lines.len() <= MAX_BYTES)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, io::Error> {
        self.push(ctx.line_number(), '-', ctx.bytes(), false);
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, io::Error> {
        self.lines.push_str("--\n");
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// The line without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A matching line, cut to [`MAX_LINE_CHARS`] so that its first match stays in view.
fn cut_around_match(line: &str, matcher: &RegexMatcher) -> String {
    let total = line.chars().count();
    if total <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let at = match matcher.find(line.as_bytes()) {
        Ok(Some(m)) => m.start(),
        _ => 0,
    };
    let lead_start = line[..at]
        .char_indices()
        .rev()
        .nth(LEAD_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let start = if line[lead_start..].chars().count() < MAX_LINE_CHARS {
        // Near the end: show the last MAX_LINE_CHARS characters.
        line.char_indices()
            .rev()
            .nth(MAX_LINE_CHARS - 1)
            .map_or(0, |(i, _)| i)
    } else {
        lead_start
    };
    let window: String = line[start..].chars().take(MAX_LINE_CHARS).collect();
    let before = if start > 0 { "…" } else { "" };
    let after = if start + window.len() < line.len() {
        "…"
    } else {
        ""
    };
    format!("{before}{window}{after} [line of {total} characters cut]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn grep(s: &Scratch, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        conch_plugin::tool::run::<Grep>(&input.to_string(), &s.ctx())
    }

    fn text(s: &Scratch, input: serde_json::Value) -> String {
        grep(s, input).expect("grep").text
    }

    #[test]
    fn matches_are_grouped_by_file_with_line_numbers() {
        let s = Scratch::new("grep-group");
        s.file("a.rs", "fn main() {\n    todo_list()\n}\n")
            .file("src/b.rs", "// TODO later\r\nlet x = 1;\r\n")
            .file("notes.md", "todo: nothing\n");
        assert_eq!(
            text(
                &s,
                serde_json::json!({"pattern": "todo", "case_insensitive": true, "include": "*.rs"})
            ),
            "a.rs\n2:     todo_list()\n\nsrc/b.rs\n1: // TODO later"
        );
    }

    #[test]
    fn utf16_files_are_transcoded_not_skipped() {
        let s = Scratch::new("grep-utf16");
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("a needle\n".encode_utf16().flat_map(u16::to_le_bytes));
        s.file("wide.txt", bytes);
        assert_eq!(
            text(&s, serde_json::json!({"pattern": "needle"})),
            "wide.txt\n1: a needle"
        );
    }

    #[test]
    fn dollar_matches_before_crlf() {
        let s = Scratch::new("grep-crlf");
        s.file("w.rs", "let x = 1;\r\nlet y = 2;\r\n");
        assert_eq!(
            text(&s, serde_json::json!({"pattern": "= 1;$"})),
            "w.rs\n1: let x = 1;"
        );
    }

    #[test]
    fn context_lines_and_breaks() {
        let s = Scratch::new("grep-context");
        let body: String = (1..=9).map(|i| format!("line {i}\n")).collect();
        s.file("f.txt", body);
        assert_eq!(
            text(
                &s,
                serde_json::json!({"pattern": "line [28]", "context": 1})
            ),
            "f.txt\n1- line 1\n2: line 2\n3- line 3\n--\n7- line 7\n8: line 8\n9- line 9"
        );
    }

    #[test]
    fn the_match_limit_is_announced() {
        let s = Scratch::new("grep-limit");
        s.file("a.txt", "x\nx\nx\n").file("b.txt", "x\n");
        let out = text(&s, serde_json::json!({"pattern": "x", "limit": 2}));
        assert!(
            out.starts_with("a.txt\n1: x\n2: x\n\n[match limit of 2 lines reached"),
            "{out}"
        );
    }

    #[test]
    fn binary_and_ignored_files_are_skipped() {
        let s = Scratch::new("grep-skip");
        s.file("bin.dat", b"needle\0\x01")
            .file(".gitignore", "gen/\n")
            .file("gen/x.txt", "needle\n")
            .file("ok.txt", "a needle\n");
        assert_eq!(
            text(&s, serde_json::json!({"pattern": "needle"})),
            "ok.txt\n1: a needle"
        );
        assert_eq!(
            text(&s, serde_json::json!({"pattern": "nothing"})),
            "No matches for `nothing` in the working directory (2 files searched, 1 binary file skipped)."
        );
        assert!(matches!(
            grep(
                &s,
                serde_json::json!({"pattern": "needle", "path": "bin.dat"})
            ),
            Err(ToolError::InvalidInput(_))
        ));
    }

    #[test]
    fn include_with_a_slash_matches_relative_paths() {
        let inc = Include::parse("src/**/*.ts").expect("glob");
        let root = Path::new("/p");
        assert!(inc.matches(root, Path::new("/p/src/a/b.ts")));
        assert!(!inc.matches(root, Path::new("/p/lib/src/b.ts")));
        let inc = Include::parse("*.{ts,tsx}").expect("glob");
        assert!(inc.matches(root, Path::new("/p/deep/x.tsx")));
    }

    #[test]
    fn bad_regex_and_include_are_invalid_input() {
        let s = Scratch::new("grep-bad");
        for input in [
            serde_json::json!({"pattern": "fn ("}),
            serde_json::json!({"pattern": "a\\nb"}),
            serde_json::json!({"pattern": "x", "include": "[z"}),
        ] {
            match grep(&s, input.clone()) {
                Err(ToolError::InvalidInput(m)) => assert!(!m.is_empty()),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_lines_keep_the_match_in_view() {
        let matcher = build_matcher("needle", false).expect("regex");
        let line = format!("{}needle{}", "a".repeat(1000), "b".repeat(1000));
        let cut = cut_around_match(&line, &matcher);
        assert!(cut.starts_with('…') && cut.contains("needle"), "{cut}");
        assert!(cut.ends_with("… [line of 2006 characters cut]"), "{cut}");
        let short = cut_around_match("a needle", &matcher);
        assert_eq!(short, "a needle");
    }
}
