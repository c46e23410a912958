//! Where a place in a file is, both ways: a 1-based line and a 1-based column counted in
//! characters (what the model and the output use) against the protocol's 0-based line and
//! character offset in the negotiated encoding (UTF-16 code units unless the server chose
//! UTF-8 or UTF-32); and a path against its `file:` URI.

use std::path::{Path, PathBuf};

/// How a server counts the offset within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

impl Encoding {
    /// The encoding a server announced (`positionEncoding`); UTF-16 when it said none.
    pub fn from_announced(kind: Option<&str>) -> Self {
        match kind {
            Some("utf-8") => Encoding::Utf8,
            Some("utf-32") => Encoding::Utf32,
            _ => Encoding::Utf16,
        }
    }

    fn units(self, c: char) -> u32 {
        match self {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
            Encoding::Utf32 => 1,
        }
    }

    /// The offset in this encoding of the character at 1-based `column` of `line` (a
    /// column past the end is the end of the line).
    pub fn offset(self, line: &str, column: u32) -> u32 {
        line.chars()
            .take(column.saturating_sub(1) as usize)
            .map(|c| self.units(c))
            .sum()
    }

    /// The 1-based character column at `offset` in this encoding (an offset inside a
    /// character counts as that character).
    pub fn column(self, line: &str, offset: u32) -> u32 {
        let mut units = 0;
        let mut column = 1;
        for c in line.chars() {
            if units >= offset {
                break;
            }
            units += self.units(c);
            column += 1;
        }
        column
    }
}

/// The `file:` URI of an absolute path, with the bytes a URI cannot hold escaped.
pub fn uri_of(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        let plain = byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte);
        if plain {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// The path of a `file:` URI (`None` for another scheme or a bad escape).
pub fn path_of(uri: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/x` names the same file as `file:///x`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// The 1-based column where the `occurrence`-th (1-based) whole-word `symbol` starts on
/// `line`, if it is there.
pub fn symbol_column(line: &str, symbol: &str, occurrence: usize) -> Option<u32> {
    if symbol.is_empty() {
        return None;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut seen = 0;
    for (start, _) in line.match_indices(symbol) {
        let before = line[..start].chars().next_back();
        let after = line[start + symbol.len()..].chars().next();
        let edge_ok = |c: Option<char>, inner: Option<char>| match (c, inner) {
            (Some(c), Some(i)) => !(word(c) && word(i)),
            _ => true,
        };
        if edge_ok(before, symbol.chars().next()) && edge_ok(after, symbol.chars().next_back()) {
            seen += 1;
            if seen == occurrence.max(1) {
                return Some(line[..start].chars().count() as u32 + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_column_becomes_the_servers_offset_and_back() {
        // 'é' is 2 UTF-8 bytes, '😀' is 2 UTF-16 units and 4 UTF-8 bytes.
        let line = "é😀x = 1";
        assert_eq!(Encoding::Utf16.offset(line, 3), 3);
        assert_eq!(Encoding::Utf8.offset(line, 3), 6);
        assert_eq!(Encoding::Utf32.offset(line, 3), 2);
        for encoding in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            for column in 1..=7 {
                let offset = encoding.offset(line, column);
                assert_eq!(encoding.column(line, offset), column, "{encoding:?}");
            }
        }
        assert_eq!(Encoding::Utf16.offset("ab", 9), 2);
        assert_eq!(Encoding::from_announced(None), Encoding::Utf16);
        assert_eq!(Encoding::from_announced(Some("utf-8")), Encoding::Utf8);
    }

    #[test]
    fn paths_and_uris_round_trip_with_escapes() {
        let path = Path::new("/tmp/a dir/naïve#1.rs");
        let uri = uri_of(path);
        assert_eq!(uri, "file:///tmp/a%20dir/na%C3%AFve%231.rs");
        assert_eq!(path_of(&uri).as_deref(), Some(path));
        assert_eq!(
            path_of("file://localhost/x/y").as_deref(),
            Some(Path::new("/x/y"))
        );
        assert_eq!(path_of("untitled:1"), None);
    }

    #[test]
    fn a_symbol_is_found_as_a_whole_word_by_occurrence() {
        let line = "let total = subtotal + total(total_x, total);";
        assert_eq!(symbol_column(line, "total", 1), Some(5));
        assert_eq!(symbol_column(line, "total", 2), Some(24));
        assert_eq!(symbol_column(line, "total", 3), Some(39));
        assert_eq!(symbol_column(line, "total", 4), None);
        assert_eq!(symbol_column("é.run()", "run", 1), Some(3));
        assert_eq!(symbol_column(line, "", 1), None);
    }
}
