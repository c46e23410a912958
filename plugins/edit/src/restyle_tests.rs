//! `replace` on real source files with the slips models make in `old_string` and
//! `new_string` alike: indentation stripped, shifted or flattened, tabs for spaces (and
//! the reverse), trailing spaces, CRLF files, straightened typographic quotes. Every call
//! must either land exactly as the same change written in the file's own style would, or
//! refuse; never change anything else.

use crate::matching::ascii_punctuation;
use crate::replace;

/// A real Rust file, indented with four spaces.
const SPACED: &str = include_str!("matching.rs");

/// One change to a file: the exact call and the file it must give.
struct Change {
    old: String,
    new: String,
    expected: String,
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Changes over windows of `file` (LF): a line rewritten, a line added after one, a line
/// removed; kept only where the exact call is unique and gives the expected file.
fn changes_of(file: &str) -> Vec<Change> {
    let lines: Vec<&str> = file.lines().collect();
    let mut out = Vec::new();
    for start in (0..lines.len().saturating_sub(6)).step_by(5) {
        let len = 2 + start % 4;
        let window = &lines[start..start + len];
        let Some(first) = window.iter().position(|l| !l.trim().is_empty()) else {
            continue;
        };
        for how in 0..3 {
            let mut edited: Vec<String> = window.iter().map(|l| (*l).to_owned()).collect();
            match how {
                0 => {
                    let line = window[first];
                    edited[first] = format!("{}renamed_{}", indent_of(line), line.trim_start());
                }
                1 => edited.insert(
                    first + 1,
                    format!("{}extra_call(\"x\");", indent_of(window[first])),
                ),
                _ => {
                    edited.pop();
                }
            }
            let (old, new) = (window.join("\n"), edited.join("\n"));
            let mut expected: Vec<String> =
                lines[..start].iter().map(|l| (*l).to_owned()).collect();
            expected.extend(edited);
            expected.extend(lines[start + len..].iter().map(|l| (*l).to_owned()));
            let expected = expected.join("\n") + "\n";
            let exact = replace(file.as_bytes(), &old, &new, false);
            if exact.is_ok_and(|r| r.bytes == expected.as_bytes()) {
                out.push(Change { old, new, expected });
            }
        }
    }
    out
}

/// Each line of `text` through `f`.
fn per_line(text: &str, f: impl Fn(&str) -> String) -> String {
    text.split('\n').map(f).collect::<Vec<_>>().join("\n")
}

/// Runs every change with `old` and `new` perturbed by `perturb` against `file`, checks
/// each result, and returns how many landed out of how many.
fn land(
    file: &str,
    changes: &[Change],
    expected_of: impl Fn(&str) -> String,
    perturb: impl Fn(&str, &str) -> (String, String),
) -> (usize, usize) {
    let mut landed = 0;
    for change in changes {
        let (old, new) = perturb(&change.old, &change.new);
        match replace(file.as_bytes(), &old, &new, false) {
            Ok(out) => {
                let got = String::from_utf8(out.bytes).unwrap();
                let want = expected_of(&change.expected);
                if got != want {
                    let at = got
                        .lines()
                        .zip(want.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    panic!(
                        "landed in the wrong shape\nold_string:\n{old}\nnew_string:\n{new}\n\
                         first difference at line {}:\n got: {:?}\nwant: {:?}",
                        at + 1,
                        got.lines().nth(at),
                        want.lines().nth(at)
                    );
                }
                landed += 1;
            }
            Err(e) => {
                if std::env::var_os("SHOW_REFUSALS").is_some() {
                    eprintln!("REFUSED\n{old}\n---\n{new}\n---\n{e}\n=====");
                }
            }
        }
    }
    (landed, changes.len())
}

fn same(s: &str) -> String {
    s.to_owned()
}

/// Both strings without the indentation `old`'s least indented line has.
fn dedent(old: &str, new: &str) -> (String, String) {
    let cut = old
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l).len())
        .min()
        .unwrap_or(0);
    let f = |l: &str| l[indent_of(l).len().min(cut)..].to_owned();
    (per_line(old, f), per_line(new, f))
}

fn shift(old: &str, new: &str) -> (String, String) {
    let f = |l: &str| {
        if l.is_empty() {
            String::new()
        } else {
            format!("  {l}")
        }
    };
    (per_line(old, f), per_line(new, f))
}

fn flatten(old: &str, new: &str) -> (String, String) {
    (
        per_line(old, |l| l.trim_start().to_owned()),
        per_line(new, |l| l.trim_start().to_owned()),
    )
}

fn trailing_spaces(old: &str, new: &str) -> (String, String) {
    let f = |l: &str| format!("{l}  ");
    (per_line(old, f), per_line(new, f))
}

/// Leading groups of four spaces as tabs.
fn spaces_to_tabs(line: &str) -> String {
    let lead = indent_of(line);
    let spaces = lead.len() - lead.trim_start_matches(' ').len();
    format!("{}{}", "\t".repeat(spaces / 4), &line[spaces / 4 * 4..])
}

fn tabs_to_spaces(line: &str) -> String {
    let tabs = line.len() - line.trim_start_matches('\t').len();
    format!("{}{}", "    ".repeat(tabs), &line[tabs..])
}

/// Landing at least this share of the perturbed calls keeps the test from passing by
/// refusing everything; the misses are snippets that a perturbation makes ambiguous.
fn assert_most_landed(what: &str, (landed, total): (usize, usize), share: f64) {
    assert!(total > 100, "{what}: only {total} changes");
    assert!(
        landed as f64 >= share * total as f64,
        "{what}: {landed} of {total} landed"
    );
}

#[test]
fn stripped_or_shifted_indentation_lands_in_the_files_indentation() {
    let changes = changes_of(SPACED);
    assert_most_landed("dedent", land(SPACED, &changes, same, dedent), 0.95);
    assert_most_landed("shift", land(SPACED, &changes, same, shift), 0.95);
    assert_most_landed(
        "trailing",
        land(SPACED, &changes, same, trailing_spaces),
        0.95,
    );
    let both = |o: &str, n: &str| {
        let (o, n) = dedent(o, n);
        trailing_spaces(&o, &n)
    };
    assert_most_landed("dedent+trailing", land(SPACED, &changes, same, both), 0.95);
}

#[test]
fn flattened_snippets_land_right_or_are_refused() {
    let changes = changes_of(SPACED);
    let (landed, total) = land(SPACED, &changes, same, flatten);
    assert!(landed > total / 2, "{landed} of {total}");
}

#[test]
fn tabs_and_spaces_follow_the_file() {
    let changes = changes_of(SPACED);
    let tabs = |o: &str, n: &str| (per_line(o, spaces_to_tabs), per_line(n, spaces_to_tabs));
    assert_most_landed("tabs for spaces", land(SPACED, &changes, same, tabs), 0.95);

    let tabbed = per_line(SPACED, spaces_to_tabs);
    let changes = changes_of(&tabbed);
    let spaces = |o: &str, n: &str| (per_line(o, tabs_to_spaces), per_line(n, tabs_to_spaces));
    assert_most_landed(
        "spaces for tabs",
        land(&tabbed, &changes, same, spaces),
        0.95,
    );
    let spaces_dedented = |o: &str, n: &str| {
        let (o, n) = spaces(o, n);
        dedent(&o, &n)
    };
    assert_most_landed(
        "spaces for tabs, dedented",
        land(&tabbed, &changes, same, spaces_dedented),
        0.95,
    );
}

#[test]
fn crlf_files_stay_crlf() {
    let changes = changes_of(SPACED);
    let crlf = SPACED.replace('\n', "\r\n");
    let to_crlf = |s: &str| s.replace('\n', "\r\n");
    assert_most_landed(
        "crlf",
        land(&crlf, &changes, to_crlf, |o, n| {
            (o.to_owned(), n.to_owned())
        }),
        1.0,
    );
    assert_most_landed("crlf dedent", land(&crlf, &changes, to_crlf, dedent), 0.95);
    let crlf_call = |o: &str, n: &str| {
        let (o, n) = shift(o, n);
        (o.replace('\n', "\r\n"), n.replace('\n', "\r\n"))
    };
    assert_most_landed(
        "crlf shift, CRLF call",
        land(&crlf, &changes, to_crlf, crlf_call),
        0.95,
    );
}

#[test]
fn straightened_quotes_keep_the_files_quotes() {
    // The same file with typographic quotes: “…” for "…", ’ for '.
    let curly = per_line(SPACED, |l| {
        let mut open = true;
        l.chars()
            .map(|c| match c {
                '"' => {
                    open = !open;
                    if open { '\u{201D}' } else { '\u{201C}' }
                }
                '\'' => '\u{2019}',
                other => other,
            })
            .collect()
    });
    let changes = changes_of(&curly);
    let straight = |o: &str, n: &str| {
        (
            ascii_punctuation(o).into_owned(),
            ascii_punctuation(n).into_owned(),
        )
    };
    assert_most_landed("straightened", land(&curly, &changes, same, straight), 0.95);
    let straight_dedented = |o: &str, n: &str| {
        let (o, n) = straight(o, n);
        dedent(&o, &n)
    };
    assert_most_landed(
        "straightened, dedented",
        land(&curly, &changes, same, straight_dedented),
        0.95,
    );
}
