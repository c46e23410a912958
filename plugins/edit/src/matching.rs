//! Line matching at three levels of tolerance, and the "closest lines" shown to the model
//! when nothing matches.
//!
//! Models copy code with small slips: trailing spaces dropped, indentation changed, curly
//! quotes or dashes straightened (or the reverse). Matching tries exact lines first and
//! only then the tolerant levels, so a tolerant match never wins over an exact one.

use std::borrow::Cow;

use crate::text::numbered;

/// How a match was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// Byte for byte (line endings aside).
    Exact,
    /// Ignoring leading and trailing whitespace on each line.
    Whitespace,
    /// Also treating Unicode quotes, dashes and non-breaking spaces as their ASCII forms.
    Unicode,
}

impl MatchKind {
    /// The levels, strictest first.
    pub(crate) const ALL: [MatchKind; 3] =
        [MatchKind::Exact, MatchKind::Whitespace, MatchKind::Unicode];

    /// Words for a report: "exactly", "ignoring whitespace", …
    pub fn describe(self) -> &'static str {
        match self {
            MatchKind::Exact => "exactly",
            MatchKind::Whitespace => "ignoring whitespace",
            MatchKind::Unicode => "ignoring whitespace and Unicode quotes/dashes",
        }
    }

    /// Whether two lines are equal at this level.
    pub(crate) fn lines_eq(self, a: &str, b: &str) -> bool {
        match self {
            MatchKind::Exact => a == b,
            MatchKind::Whitespace => a.trim() == b.trim(),
            MatchKind::Unicode => {
                let (a, b) = (a.trim(), b.trim());
                a == b || ascii_punctuation(a) == ascii_punctuation(b)
            }
        }
    }
}

/// `s` with typographic quotes, dashes, ellipses and non-breaking spaces in ASCII.
pub(crate) fn ascii_punctuation(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
            '\u{00A0}' | '\u{2007}' | '\u{202F}' => out.push(' '),
            '\u{2026}' => out.push_str("..."),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Whether `needle` matches `hay` at `at` at level `kind`.
pub(crate) fn matches_at<A: AsRef<str>, B: AsRef<str>>(
    hay: &[A],
    needle: &[B],
    at: usize,
    kind: MatchKind,
) -> bool {
    at + needle.len() <= hay.len()
        && needle
            .iter()
            .zip(&hay[at..])
            .all(|(n, h)| kind.lines_eq(h.as_ref(), n.as_ref()))
}

/// Every non-overlapping place where `needle` (not empty) matches `hay` at level `kind`,
/// first to last.
pub(crate) fn find_all<A: AsRef<str>, B: AsRef<str>>(
    hay: &[A],
    needle: &[B],
    kind: MatchKind,
) -> Vec<usize> {
    let mut found = Vec::new();
    let mut at = 0;
    while !needle.is_empty() && at + needle.len() <= hay.len() {
        if matches_at(hay, needle, at, kind) {
            found.push(at);
            at += needle.len();
        } else {
            at += 1;
        }
    }
    found
}

/// A set of character bigrams as a 512-bit fingerprint: cheap enough to compare every
/// window of a 100k-line file against the wanted lines.
#[derive(Clone, Copy)]
struct Fingerprint([u64; 8]);

impl Fingerprint {
    fn of(line: &str) -> Fingerprint {
        let mut bits = [0u64; 8];
        let mut set = |h: u32| {
            let h = h.wrapping_mul(0x9E37_79B1) >> 23;
            bits[(h >> 6) as usize & 7] |= 1 << (h & 63);
        };
        let mut prev = None;
        for c in ascii_punctuation(line.trim()).chars() {
            if let Some(p) = prev {
                set((p as u32).wrapping_mul(0x0100_0193) ^ c as u32);
            }
            prev = Some(c);
        }
        if let (Some(only), true) = (prev, line.trim().chars().count() == 1) {
            set(only as u32);
        }
        Fingerprint(bits)
    }

    fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Dice similarity in 0..=1; two empty lines are equal.
    fn similarity(&self, other: &Fingerprint) -> f64 {
        let (a, b) = (self.count(), other.count());
        if a + b == 0 {
            return 1.0;
        }
        let both: u32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(x, y)| (x & y).count_ones())
            .sum();
        f64::from(2 * both) / f64::from(a + b)
    }
}

/// The window of `hay` most similar to `wanted`: (0-based start, length, similarity 0..=1).
/// Ties go to the earliest (or, with `near`, the nearest) window.
pub(crate) fn closest<A: AsRef<str>, B: AsRef<str>>(
    hay: &[A],
    wanted: &[B],
    near: Option<usize>,
) -> Option<(usize, usize, f64)> {
    if hay.is_empty() || wanted.is_empty() {
        return None;
    }
    let len = wanted.len().min(hay.len());
    let hay_prints: Vec<Fingerprint> = hay.iter().map(|l| Fingerprint::of(l.as_ref())).collect();
    let wanted_prints: Vec<Fingerprint> =
        wanted.iter().map(|l| Fingerprint::of(l.as_ref())).collect();
    let mut best: Option<(usize, f64)> = None;
    for start in 0..=hay.len() - len {
        // With a longer `wanted` than the file, compare each file line with its best
        // counterpart in `wanted`.
        let score: f64 = hay_prints[start..start + len]
            .iter()
            .enumerate()
            .map(|(j, h)| {
                if wanted.len() == len {
                    h.similarity(&wanted_prints[j])
                } else {
                    wanted_prints
                        .iter()
                        .map(|w| h.similarity(w))
                        .fold(0.0, f64::max)
                }
            })
            .sum::<f64>()
            / len as f64;
        let better = match best {
            None => true,
            Some((at, s)) => {
                score > s + 1e-9
                    || (near.is_some_and(|n| start.abs_diff(n) < at.abs_diff(n))
                        && (score - s).abs() <= 1e-9)
            }
        };
        if better {
            best = Some((start, score));
        }
    }
    best.map(|(start, score)| (start, len, score))
}

/// "The closest lines are 40–44 (82% similar):" and those lines numbered, looking at
/// `hay[from..]` only, or a note that there is nothing to look at.
pub(crate) fn describe_closest<A: AsRef<str>, B: AsRef<str>>(
    hay: &[A],
    from: usize,
    wanted: &[B],
    near: Option<usize>,
) -> String {
    let rest = &hay[from.min(hay.len())..];
    match closest(rest, wanted, near.map(|n| n.saturating_sub(from))) {
        None if hay.is_empty() => "The file is empty.".to_owned(),
        None => "No lines are left to search.".to_owned(),
        Some((start, len, score)) => {
            let start = start + from;
            format!(
                "The closest lines are {} ({:.0}% similar):\n{}",
                span(start + 1, start + len),
                score * 100.0,
                numbered(&hay[start..start + len], start + 1)
            )
        }
    }
}

/// "line 4" or "lines 4–9" (1-based, inclusive).
pub(crate) fn span(first: usize, last: usize) -> String {
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first}\u{2013}{last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_levels_forgive_more() {
        assert!(MatchKind::Exact.lines_eq("a b", "a b"));
        assert!(!MatchKind::Exact.lines_eq("  a b ", "a b"));
        assert!(MatchKind::Whitespace.lines_eq("\t a b ", "a b"));
        assert!(!MatchKind::Whitespace.lines_eq("it\u{2019}s \u{2014} ok", "it's - ok"));
        assert!(MatchKind::Unicode.lines_eq("it\u{2019}s \u{2014} ok", " it's - ok"));
    }

    #[test]
    fn closest_window_is_the_most_similar() {
        let hay = [
            "fn main() {",
            "    let x = 1;",
            "    println!(\"{x}\");",
            "}",
        ];
        let (start, len, score) =
            closest(&hay, &["let x = 2;", "println!(\"{y}\");"], None).unwrap();
        assert_eq!((start, len), (1, 2));
        assert!(score > 0.5, "{score}");
    }
}
