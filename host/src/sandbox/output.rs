//! A command's output as the model gets it: the first and last part of each stream with
//! a notice between, while the whole stream goes to a file when one is given.

use std::io::{Read, Write};

/// Bytes kept from the start and from the end of a stream.
const HEAD: usize = 15 * 1024;
const TAIL: usize = 15 * 1024;

/// One stream, read to the end.
#[derive(Debug, Default)]
pub struct Captured {
    pub text: String,
    pub truncated: bool,
}

/// Reads `stream` to its end, keeping its head and tail, and copying all of it to `full`.
pub fn capture(mut stream: impl Read, mut full: Option<std::fs::File>) -> Captured {
    let mut head = Vec::with_capacity(4096);
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut total = 0usize;
    let mut buffer = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buffer[..n];
        total += n;
        if let Some(file) = full.as_mut()
            && file.write_all(chunk).is_err()
        {
            full = None;
        }
        let room = HEAD.saturating_sub(head.len());
        head.extend_from_slice(&chunk[..room.min(n)]);
        tail.extend(&chunk[room.min(n)..]);
        while tail.len() > TAIL {
            tail.pop_front();
        }
    }
    let omitted = total - head.len() - tail.len();
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if omitted > 0 {
        text.push_str(&format!("\n[… {omitted} bytes omitted …]\n"));
    }
    text.push_str(&String::from_utf8_lossy(tail.make_contiguous()));
    Captured {
        text,
        truncated: omitted > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_head_and_tail() {
        let text: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        let out = capture(text.as_bytes(), None);
        assert!(out.truncated);
        assert!(out.text.starts_with("0\n1\n"));
        assert!(out.text.ends_with("19998\n19999\n"));
        assert!(out.text.contains("bytes omitted"));
        assert!(out.text.len() < HEAD + TAIL + 100);
        let short = capture(&b"hello\n"[..], None);
        assert_eq!((short.text.as_str(), short.truncated), ("hello\n", false));
    }
}
