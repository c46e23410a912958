//! `read`: one text file with line numbers, paged by `offset`/`limit` and capped in bytes,
//! every cut announced with the offset to read on from; an image (PNG, JPEG, GIF, WebP)
//! attached for a model that sees images.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read as _};
use std::path::Path;

use conch_plugin::output::{MAX_IMAGE_BYTES, attach_image, cut_line, image_media_type};
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput, Workspace};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::disk::{self, Disk};
use crate::{locate, plural};

/// Lines shown when the model gives no limit.
const DEFAULT_LIMIT: usize = 2000;
/// Characters kept of one line.
const MAX_LINE_CHARS: usize = 2000;
/// Bytes of numbered text one call returns at most.
const MAX_BYTES: usize = 50 * 1024;
/// How much of the file's start decides whether it is text.
const SNIFF_BYTES: u64 = 8192;
/// Read buffer; large reads mean few host calls.
const BUFFER_BYTES: usize = 64 * 1024;
/// Files up to this size are read whole in one host call (the `files` import), not
/// through WASI: one open, stat and read on the host instead of a WASI call for each.
const WHOLE_BYTES: u64 = 1 << 20;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// File path, relative to the working directory or absolute inside the workspace
    path: String,
    /// First line to read (1-based, default 1)
    #[schemars(range(min = 1))]
    offset: Option<u64>,
    /// Most lines to read (default 2000)
    #[schemars(range(min = 1))]
    limit: Option<u64>,
}

/// The `read` tool.
pub struct Read;

impl Tool for Read {
    const NAME: &'static str = "read";
    const DESCRIPTION: &'static str = "Read a text file; each line is shown as its number, \
        a tab, then the text. Shows up to 2000 lines from `offset` (1-based) and at most ~50 \
        KB; when more remains, the output ends with the offset to read on from. Lines over 2000 \
        characters are cut. Images (PNG, JPEG, GIF, WebP) are shown to you if you can see \
        images; other binary files are refused. For a directory use listdir.";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = Input;

    fn run(input: Input, ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let ws = &Workspace::new(ctx);
        let offset = to_usize(input.offset.unwrap_or(1)).max(1);
        let limit = input.limit.map_or(DEFAULT_LIMIT, to_usize).max(1);
        let path = ws.resolve(&input.path)?;
        let shown = ws.display(&path);
        let io_err = |e: &io::Error| locate::io_error(ws, &input.path, &path, e);

        let mut whole = Vec::new();
        let (head, opened) = match Disk::new().read(&path, &mut whole, WHOLE_BYTES) {
            Ok(disk::Read::Whole) => {
                let head = whole[..whole.len().min(SNIFF_BYTES as usize)].to_vec();
                (head, Opened::Whole(whole))
            }
            // Too large to hold, or not readable whole (a directory, a link out of the
            // roots, a missing file...): WASI streams it, or says precisely what is wrong.
            _ => {
                let (file, size) = open(&path, &shown, &io_err)?;
                let mut head = Vec::with_capacity(SNIFF_BYTES as usize);
                (&file)
                    .take(SNIFF_BYTES)
                    .read_to_end(&mut head)
                    .map_err(|e| dir_or(&path, &shown, io_err(&e)))?;
                (head, Opened::Streamed { file, size })
            }
        };
        let size = opened.size();
        // An image the model cannot be shown reads as any binary file, saying why.
        let mut not_shown = String::new();
        if let Some(media_type) = image_media_type(&head) {
            match read_image(opened.image(head.clone()), size, media_type) {
                Ok(bytes) => {
                    let metadata = serde_json::json!({
                        "path": shown,
                        "image": media_type,
                        "bytes": bytes,
                    });
                    let text = format!(
                        "{shown}: {media_type} image ({}), attached below",
                        human_size(bytes)
                    );
                    return Ok(ToolOutput::text(text).with_metadata(&metadata));
                }
                Err(why) => not_shown = format!("; {media_type} image not shown: {why}"),
            }
        }
        let kind = if not_shown.is_empty() {
            sniff(&head)
        } else {
            Sniff::Binary
        };
        let mut reader: Box<dyn BufRead> = match (kind, opened) {
            (Sniff::Binary, _) => {
                return Err(ToolError::InvalidInput(format!(
                    "{shown}: binary file ({}{not_shown}); read shows text files only",
                    human_size(size)
                )));
            }
            (Sniff::Utf16 { big_endian }, Opened::Whole(bytes)) => {
                Box::new(Cursor::new(decode_utf16(&bytes, big_endian).into_bytes()))
            }
            (Sniff::Utf16 { big_endian }, Opened::Streamed { file, .. }) => {
                let mut bytes = head;
                (&file).read_to_end(&mut bytes).map_err(|e| io_err(&e))?;
                Box::new(Cursor::new(decode_utf16(&bytes, big_endian).into_bytes()))
            }
            (Sniff::Text, Opened::Whole(bytes)) => Box::new(Cursor::new(bytes)),
            (Sniff::Text, Opened::Streamed { file, .. }) => Box::new(BufReader::with_capacity(
                BUFFER_BYTES,
                Cursor::new(head).chain(file),
            )),
        };

        let page = page(&mut reader, offset, limit, MAX_BYTES).map_err(|e| io_err(&e))?;
        let metadata = serde_json::json!({
            "path": shown,
            "lines_total": page.lines_total,
            "from": if page.to == 0 { 0 } else { offset },
            "to": page.to,
            "truncated": page.to < page.lines_total,
        });
        if page.lines_total == 0 {
            return Ok(ToolOutput::text("(empty file)").with_metadata(&metadata));
        }
        if page.to == 0 {
            return Err(ToolError::InvalidInput(format!(
                "offset {offset} is past the end of {shown}, which has {}; use an offset from 1 to {}",
                plural(page.lines_total, "line", "lines"),
                page.lines_total
            )));
        }
        let mut text = page.text;
        if page.to < page.lines_total {
            text.push_str(&format!(
                "[... file has {} lines; showing {offset}-{}. Use offset={} to read on]",
                page.lines_total,
                page.to,
                page.to + 1
            ));
        }
        Ok(ToolOutput::text(text).with_metadata(&metadata))
    }
}

/// A file to read, as it was found.
enum Opened {
    /// Read whole by the host in one call.
    Whole(Vec<u8>),
    /// Open, to be read through WASI; `size` as it was when opened.
    Streamed { file: File, size: u64 },
}

impl Opened {
    fn size(&self) -> u64 {
        match self {
            Opened::Whole(bytes) => bytes.len() as u64,
            Opened::Streamed { size, .. } => *size,
        }
    }

    /// The image's bytes, all but the `head` already read still to come.
    fn image(&self, head: Vec<u8>) -> Image<'_> {
        match self {
            Opened::Whole(bytes) => Image::Whole(bytes),
            Opened::Streamed { file, .. } => Image::Rest { file, head },
        }
    }
}

/// An image file's bytes, in hand or still to read.
enum Image<'a> {
    Whole(&'a [u8]),
    Rest { file: &'a File, head: Vec<u8> },
}

/// Opens `path` through WASI: the file and its size, or the error that says best what
/// is wrong.
fn open(
    path: &Path,
    shown: &str,
    io_err: &impl Fn(&io::Error) -> ToolError,
) -> Result<(File, u64), ToolError> {
    let file = File::open(path).map_err(|e| {
        if is_dir(path) {
            directory_error(shown)
        } else {
            io_err(&e)
        }
    })?;
    let meta = file.metadata().map_err(|e| io_err(&e))?;
    if meta.is_dir() {
        return Err(directory_error(shown));
    }
    Ok((file, meta.len()))
}

/// Attaches the image to the result; returns its size, or why the model will not see it.
fn read_image(image: Image<'_>, size: u64, media_type: &str) -> Result<u64, String> {
    if size > MAX_IMAGE_BYTES as u64 {
        return Err(format!(
            "larger than the {} MB an image may have",
            MAX_IMAGE_BYTES >> 20
        ));
    }
    let bytes = match image {
        Image::Whole(bytes) => bytes.to_vec(),
        Image::Rest { file, head } => {
            let mut bytes = head;
            file.take(MAX_IMAGE_BYTES as u64 + 1 - bytes.len() as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            bytes
        }
    };
    attach_image(media_type, &bytes)?;
    Ok(bytes.len() as u64)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn dir_or(path: &Path, shown: &str, other: ToolError) -> ToolError {
    if is_dir(path) {
        directory_error(shown)
    } else {
        other
    }
}

fn directory_error(shown: &str) -> ToolError {
    ToolError::InvalidInput(format!(
        "{shown} is a directory, not a file; use listdir to see its entries"
    ))
}

/// What the start of a file says it holds.
#[derive(Debug, PartialEq, Eq)]
enum Sniff {
    Text,
    Utf16 { big_endian: bool },
    Binary,
}

/// Text unless there is a NUL byte or more than one byte in ten is a control character
/// that text does not use (ripgrep's NUL rule, plus a guard for NUL-free binaries).
fn sniff(head: &[u8]) -> Sniff {
    match head {
        [0xFF, 0xFE, ..] => return Sniff::Utf16 { big_endian: false },
        [0xFE, 0xFF, ..] => return Sniff::Utf16 { big_endian: true },
        _ => {}
    }
    if memchr::memchr(0, head).is_some() {
        return Sniff::Binary;
    }
    let odd = head
        .iter()
        .filter(|&&b| (b < 0x20 && !b"\t\n\r\x0b\x0c\x1b\x08".contains(&b)) || b == 0x7f)
        .count();
    if odd * 10 > head.len() {
        Sniff::Binary
    } else {
        Sniff::Text
    }
}

/// UTF-16 (with its BOM) as UTF-8; bad units become U+FFFD.
fn decode_utf16(bytes: &[u8], big_endian: bool) -> String {
    let units = bytes.get(2..).unwrap_or_default().chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// One page of numbered lines.
#[derive(Debug)]
struct Page {
    /// `{number:>6}\t{line}\n` per line shown.
    text: String,
    /// Lines in the whole file (a last line without `\n` counts).
    lines_total: usize,
    /// The last line shown, 0 when none was.
    to: usize,
}

/// Lines `offset..offset+limit` (1-based) of `reader`, stopping early rather than going
/// over `max_bytes` (at least one line is always shown), and the file's line count.
/// Lines end at `\n`; a `\r` before it is dropped, invalid UTF-8 becomes U+FFFD.
fn page(
    reader: &mut impl BufRead,
    offset: usize,
    limit: usize,
    max_bytes: usize,
) -> io::Result<Page> {
    let mut line = Vec::new();
    let mut consumed = 0;
    while consumed + 1 < offset {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Page {
                text: String::new(),
                lines_total: consumed,
                to: 0,
            });
        }
        consumed += 1;
    }

    let mut text = String::new();
    let mut to = 0;
    while consumed + 1 < offset.saturating_add(limit) {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        consumed += 1;
        let decoded = String::from_utf8_lossy(trim_line_end(&line));
        let content = if consumed == 1 {
            decoded.trim_start_matches('\u{feff}')
        } else {
            &decoded
        };
        let entry = format!("{consumed:>6}\t{}\n", cut_line(content, MAX_LINE_CHARS));
        if to != 0 && text.len() + entry.len() > max_bytes {
            break;
        }
        text.push_str(&entry);
        to = consumed;
    }

    let rest = count_lines(reader)?;
    Ok(Page {
        text,
        lines_total: consumed + rest,
        to,
    })
}

/// The line without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Lines left in `reader`, counted without copying them.
fn count_lines(reader: &mut impl BufRead) -> io::Result<usize> {
    let mut lines = 0;
    let mut last = b'\n';
    loop {
        let buf = reader.fill_buf()?;
        let Some(&end) = buf.last() else { break };
        lines += memchr::memchr_iter(b'\n', buf).count();
        last = end;
        let n = buf.len();
        reader.consume(n);
    }
    Ok(lines + usize::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn paged(text: &str, offset: usize, limit: usize, max_bytes: usize) -> Page {
        // A tiny buffer makes every line cross buffer boundaries.
        let mut reader = BufReader::with_capacity(3, text.as_bytes());
        page(&mut reader, offset, limit, max_bytes).expect("in-memory read")
    }

    fn read(s: &Scratch, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        conch_plugin::tool::run::<Read>(&input.to_string(), &s.ctx())
    }

    #[test]
    fn lines_are_numbered_and_crlf_is_dropped() {
        let p = paged("\u{feff}one\r\ntwo\r\n", 1, 10, 1000);
        assert_eq!(p.text, "     1\tone\n     2\ttwo\n");
        assert_eq!((p.lines_total, p.to), (2, 2));
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        let p = paged("a\nb\nc", 2, 1, 1000);
        assert_eq!(p.text, "     2\tb\n");
        assert_eq!((p.lines_total, p.to), (3, 2));
    }

    #[test]
    fn byte_cap_stops_at_a_whole_line() {
        let p = paged("aaaa\nbbbb\ncccc\n", 1, 10, 20);
        assert_eq!(p.text, "     1\taaaa\n");
        assert_eq!((p.lines_total, p.to), (3, 1));
    }

    #[test]
    fn offset_past_the_end_shows_nothing() {
        let p = paged("a\nb\n", 5, 10, 1000);
        assert_eq!((p.lines_total, p.to), (2, 0));
        assert_eq!(paged("", 1, 10, 1000).lines_total, 0);
    }

    #[test]
    fn sniffing_tells_text_from_binary() {
        assert_eq!(sniff(b"fn main() {}\n\tok\x1b[0m"), Sniff::Text);
        assert_eq!(sniff("héllo wörld".as_bytes()), Sniff::Text);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Sniff::Binary);
        assert_eq!(sniff(b"\x01\x02\x03\x04abc"), Sniff::Binary);
        assert_eq!(sniff(b"\xff\xfea\0"), Sniff::Utf16 { big_endian: false });
        assert_eq!(decode_utf16(b"\xff\xfeh\0i\0", false), "hi");
        assert_eq!(decode_utf16(b"\xfe\xff\0h\0i", true), "hi");
    }

    #[test]
    fn reading_on_is_announced_with_the_next_offset() {
        let s = Scratch::new("read-page");
        let body: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        s.file("a.txt", body);
        let out = read(
            &s,
            serde_json::json!({"path": "a.txt", "offset": 11, "limit": 10}),
        )
        .expect("read");
        assert!(out.text.starts_with("    11\tline 11\n"), "{}", out.text);
        assert!(
            out.text
                .ends_with("[... file has 30 lines; showing 11-20. Use offset=21 to read on]"),
            "{}",
            out.text
        );
        let meta = out.metadata.expect("metadata");
        assert!(meta.contains(r#""lines_total":30"#), "{meta}");
    }

    #[test]
    fn odd_files_get_clear_answers() {
        let s = Scratch::new("read-odd");
        s.file("empty.txt", "")
            .file("bin.dat", b"\x7fELF\x02\x01\x01\0\0\0")
            .file("latin1.txt", b"caf\xe9\n")
            .file("dir/x", "");
        let ok = |p: &str| read(&s, serde_json::json!({ "path": p })).expect(p).text;
        let err = |p: serde_json::Value| match read(&s, p) {
            Err(ToolError::InvalidInput(m)) | Err(ToolError::NotFound(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(ok("empty.txt"), "(empty file)");
        assert_eq!(ok("latin1.txt"), "     1\tcaf\u{fffd}\n");
        assert!(err(serde_json::json!({"path": "bin.dat"})).contains("binary file"));
        assert!(err(serde_json::json!({"path": "dir"})).contains("use listdir"));
        assert_eq!(
            read(&s, serde_json::json!({"path": "empty.txt", "offset": 3}))
                .expect("empty")
                .text,
            "(empty file)"
        );
        assert!(
            err(serde_json::json!({"path": "latin1.txt", "offset": 3}))
                .contains("past the end of latin1.txt, which has 1 line;")
        );
        assert!(
            err(serde_json::json!({"path": "latin.txt"})).contains("Did you mean: latin1.txt?")
        );
    }
}
