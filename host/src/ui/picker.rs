//! Choosing one of a few rows on the terminal: arrow keys (or j/k) move, Enter takes the
//! marked row, a digit takes that row at once, q or Esc or Ctrl-C gives up.
//!
//! The terminal is put in raw mode for the choice and restored after, and stdin is read
//! a byte at a time, so whatever the user typed after the choice stays for the next
//! reader (the repl's line editor).

use std::io::Write;

/// What a key pressed in the picker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Up,
    Down,
    Enter,
    Digit(usize),
    Cancel,
    Other,
}

/// Asks the user to pick one of `rows` (shown under `title` on stderr). `None`: they
/// gave up, or stdin is no terminal.
pub fn pick(title: &str, rows: &[String]) -> Option<usize> {
    if rows.is_empty() {
        return None;
    }
    let raw = RawMode::enter()?;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{title}\r\n");
    let mut selected = 0;
    draw(&mut err, rows, selected, false);
    let choice = loop {
        match read_key() {
            Key::Up => selected = selected.checked_sub(1).unwrap_or(rows.len() - 1),
            Key::Down => selected = (selected + 1) % rows.len(),
            Key::Enter => break Some(selected),
            Key::Digit(n) if (1..=rows.len()).contains(&n) => break Some(n - 1),
            Key::Cancel => break None,
            Key::Digit(_) | Key::Other => continue,
        }
        draw(&mut err, rows, selected, true);
    };
    drop(raw);
    let _ = err.flush();
    choice
}

/// Writes the rows, the selected one marked; `again`: over the rows drawn before.
fn draw(err: &mut impl Write, rows: &[String], selected: usize, again: bool) {
    if again {
        let _ = write!(err, "\x1b[{}A", rows.len());
    }
    for (i, row) in rows.iter().enumerate() {
        let mark = if i == selected { '›' } else { ' ' };
        let _ = write!(err, "\r\x1b[K{mark} {:>2}  {row}\r\n", i + 1);
    }
    let _ = err.flush();
}

/// One byte of stdin; `None` at its end or on an error.
#[allow(unsafe_code)]
fn read_byte() -> Option<u8> {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into a valid one-byte buffer.
        let n = unsafe { libc::read(libc::STDIN_FILENO, (&raw mut byte).cast(), 1) };
        match n {
            1 => return Some(byte),
            n if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted =>
            {
                continue;
            }
            _ => return None,
        }
    }
}

/// Whether another byte arrives within a moment (to tell Esc from an escape sequence).
#[allow(unsafe_code)]
fn more_soon() -> bool {
    let mut stdin = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a bounded wait.
    unsafe { libc::poll(&mut stdin, 1, 50) > 0 }
}

fn read_key() -> Key {
    let Some(byte) = read_byte() else {
        return Key::Cancel;
    };
    key_for(byte, || if more_soon() { read_byte() } else { None })
}

/// The key that starts with `byte`; `next` reads the rest of an escape sequence.
fn key_for(byte: u8, mut next: impl FnMut() -> Option<u8>) -> Key {
    match byte {
        b'\r' | b'\n' => Key::Enter,
        b'k' => Key::Up,
        b'j' => Key::Down,
        b'q' | 3 | 4 => Key::Cancel,
        b'1'..=b'9' => Key::Digit(usize::from(byte - b'0')),
        0x1b => match next() {
            None => Key::Cancel,
            Some(b'[' | b'O') => match next() {
                Some(b'A') => Key::Up,
                Some(b'B') => Key::Down,
                _ => Key::Other,
            },
            Some(_) => Key::Other,
        },
        _ => Key::Other,
    }
}

/// The terminal in raw mode (no echo, no line buffering, no signals from keys) until
/// dropped.
struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    #[allow(unsafe_code)]
    fn enter() -> Option<RawMode> {
        // SAFETY: tcgetattr fills the zeroed termios for a descriptor it checks.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only changes the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // Output processing stays as it was, so newlines still return the carriage.
        raw.c_oflag = saved.c_oflag;
        // SAFETY: sets attributes read from the same descriptor, changed as above.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: restores the attributes saved in `enter`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: &[u8]) -> Key {
        let mut rest = bytes[1..].iter().copied();
        key_for(bytes[0], || rest.next())
    }

    #[test]
    fn arrows_digits_and_enter_are_read_from_their_bytes() {
        assert_eq!(key(b"\x1b[A"), Key::Up);
        assert_eq!(key(b"\x1bOB"), Key::Down);
        assert_eq!(key(b"\r"), Key::Enter);
        assert_eq!(key(b"3"), Key::Digit(3));
        assert_eq!(key(b"\x1b"), Key::Cancel);
        assert_eq!(key(b"\x03"), Key::Cancel);
        assert_eq!(key(b"\x1b[C"), Key::Other);
    }
}
