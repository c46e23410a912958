//! A command's output as the model gets it: the first and last part of each stream with
//! a notice between, while the whole stream goes to a file when one is given.

use std::collections::VecDeque;
use std::io::Write;

/// Bytes kept from the start and from the end of a stream.
const HEAD: usize = 15 * 1024;
const TAIL: usize = 15 * 1024;

/// One stream, read to the end.
#[derive(Debug, Default)]
pub struct Captured {
    pub text: String,
    pub truncated: bool,
}

/// One stream being read: its head and tail so far, and the file that gets all of it.
#[derive(Debug)]
pub struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: usize,
    full: Option<std::fs::File>,
}

impl Capture {
    /// A stream that also goes, whole, to `full`.
    pub fn new(full: Option<std::fs::File>) -> Self {
        Capture {
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
            full,
        }
    }

    /// The next bytes of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        if let Some(file) = self.full.as_mut()
            && file.write_all(chunk).is_err()
        {
            self.full = None;
        }
        let room = HEAD.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..room]);
        self.tail.extend(&chunk[room..]);
        let over = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..over);
    }

    /// The stream as the model gets it.
    pub fn finish(mut self) -> Captured {
        let omitted = self.total - self.head.len() - self.tail.len();
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if omitted > 0 {
            text.push_str(&format!("\n[… {omitted} bytes omitted …]\n"));
        }
        text.push_str(&String::from_utf8_lossy(self.tail.make_contiguous()));
        Captured {
            text,
            truncated: omitted > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(bytes: &[u8], chunk: usize) -> Captured {
        let mut capture = Capture::new(None);
        for piece in bytes.chunks(chunk) {
            capture.push(piece);
        }
        capture.finish()
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let text: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        for chunk in [1, 8192, 65536] {
            let out = capture(text.as_bytes(), chunk);
            assert!(out.truncated);
            assert!(out.text.starts_with("0\n1\n"));
            assert!(out.text.ends_with("19998\n19999\n"));
            assert!(out.text.contains("bytes omitted"));
            assert!(out.text.len() < HEAD + TAIL + 100);
        }
        let short = capture(b"hello\n", 8192);
        assert_eq!((short.text.as_str(), short.truncated), ("hello\n", false));
    }
}
