//! Property-style tests on real text: random line edits and replacements, checked against a
//! naive model of the same change, then rendered as a unified diff and applied back through
//! the patch engine, which must give the same bytes.

use crate::replace::flat_after_indent;
use crate::{
    FileChange, LineEdit, LineRange, apply_patch, multiedit, render_diff, replace, summary,
};

/// SplitMix64: deterministic and small; enough to vary the cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How a test file is dressed: the same lines with different bytes around them.
#[derive(Clone, Copy, Debug)]
enum Dress {
    Lf,
    CrLf,
    NoFinalNewline,
    BomCrLf,
}

const DRESSES: [Dress; 4] = [
    Dress::Lf,
    Dress::CrLf,
    Dress::NoFinalNewline,
    Dress::BomCrLf,
];

/// `lf` (LF endings, a final newline unless empty) in the given dress.
fn dress(lf: &str, how: Dress) -> Vec<u8> {
    let text = match how {
        Dress::Lf => lf.to_owned(),
        Dress::CrLf => lf.replace('\n', "\r\n"),
        Dress::NoFinalNewline => lf.strip_suffix('\n').unwrap_or(lf).to_owned(),
        Dress::BomCrLf => format!("\u{feff}{}", lf.replace('\n', "\r\n")),
    };
    text.into_bytes()
}

fn new_lines(rng: &mut Rng, file: &[&str]) -> Vec<String> {
    (0..rng.below(4))
        .map(|i| match rng.below(3) {
            // A line copied from elsewhere makes hunk placement ambiguous on purpose.
            0 if !file.is_empty() => file[rng.below(file.len())].to_owned(),
            1 => format!("\tnew line {i} caf\u{e9} \u{1F980} \u{2014} \u{201C}q\u{201D}"),
            _ => String::new(),
        })
        .collect()
}

/// Random non-overlapping edits, and the LF text they should give (a naive model).
fn random_edits(rng: &mut Rng, lf: &str) -> (Vec<LineEdit>, String) {
    let lines: Vec<&str> = lf.lines().collect();
    let n = lines.len();
    let mut edits = Vec::new();
    let mut cursor = 0; // 0-based: edits placed in order, then shuffled
    for _ in 0..1 + rng.below(5) {
        if cursor > n {
            break;
        }
        let start = cursor + rng.below((n - cursor).min(40) + 1);
        let insert = start == n || rng.below(4) == 0;
        let end = if insert {
            start
        } else {
            start + 1 + rng.below((n - start).min(6))
        };
        let text = new_lines(rng, &lines);
        let range = if insert {
            LineRange::InsertAfter(start)
        } else {
            LineRange::Lines {
                start: start + 1,
                end,
            }
        };
        let expected = (!insert && rng.below(2) == 0).then(|| lines[start..end].join("\n") + "\n");
        // One trailing newline is optional, so a last blank line needs it.
        let mut new_text = text.join("\n");
        if text.last().is_some_and(|l| l.is_empty()) || (!text.is_empty() && rng.below(2) == 0) {
            new_text.push('\n');
        }
        edits.push((
            start,
            end,
            LineEdit {
                range,
                new_text,
                expected,
            },
            text,
        ));
        cursor = end + 1;
    }
    let mut result: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (start, end, _, text) in edits.iter().rev() {
        result.splice(start..end, text.iter().cloned());
    }
    let mut expected = result.join("\n");
    if !result.is_empty() {
        expected.push('\n');
    }
    // Shuffle: the order given must not matter.
    let mut edits: Vec<LineEdit> = edits.into_iter().map(|(_, _, e, _)| e).collect();
    for i in (1..edits.len()).rev() {
        edits.swap(i, rng.below(i + 1));
    }
    (edits, expected)
}

fn through_patch(path: &str, old: &[u8], new: &[u8]) {
    let change = FileChange::Update {
        path: path.to_owned(),
        old: old.to_vec(),
        new: new.to_vec(),
    };
    let diff = render_diff(std::slice::from_ref(&change));
    if old == new {
        return;
    }
    let applied = apply_patch(&diff, |p| Ok((p == path).then(|| old.to_vec())))
        .unwrap_or_else(|e| panic!("{e}\n--- diff:\n{diff}"));
    assert_eq!(applied.changes, vec![change], "diff:\n{diff}");
    assert!(summary(&applied.changes).starts_with(&format!("updated {path} (+")));
}

/// Edits and replacements on one real text, in every dress.
fn check_text(name: &str, lf: &str, seeds: u64) {
    if lf.contains('\r') || lf.starts_with('\u{feff}') {
        return;
    }
    let lf = if lf.is_empty() || lf.ends_with('\n') {
        lf.to_owned()
    } else {
        format!("{lf}\n")
    };
    for seed in 0..seeds {
        let mut rng = Rng(seed ^ name.len() as u64);
        let mut how = DRESSES[rng.below(DRESSES.len())];
        if matches!(how, Dress::NoFinalNewline) && (lf == "\n" || lf.ends_with("\n\n")) {
            // Without its final newline, a last blank line would vanish.
            how = Dress::Lf;
        }
        let old = dress(&lf, how);
        let context = format!("{name}, seed {seed}, {how:?}");

        let (edits, expected) = random_edits(&mut rng, &lf);
        let new = multiedit(&old, &edits).unwrap_or_else(|e| panic!("{context}: {e}"));
        // An empty file has no endings to follow: it gains LF lines and a final newline.
        let expected = if lf.is_empty() {
            let bom = if matches!(how, Dress::BomCrLf) {
                "\u{feff}"
            } else {
                ""
            };
            format!("{bom}{expected}").into_bytes()
        } else {
            dress(&expected, how)
        };
        if new != expected {
            let (a, b) = (
                String::from_utf8_lossy(&new),
                String::from_utf8_lossy(&expected),
            );
            let p = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let s: String = a.chars().skip(p.saturating_sub(40)).take(120).collect();
            let t: String = b.chars().skip(p.saturating_sub(40)).take(120).collect();
            panic!("{context}: {edits:?}\n got {s:?}\nwant {t:?}");
        }
        through_patch(name, &old, &new);

        // replace: a unique span of the text that does not reach its end.
        if lf.len() < 2 {
            continue;
        }
        let mut at = rng.below(lf.len() - 1);
        while !lf.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + 1 + rng.below(120)).min(lf.len() - 1);
        while !lf.is_char_boundary(end) {
            end -= 1;
        }
        let old_string = &lf[at..end];
        // Replacing the very end of a file without a final newline keeps it without one,
        // which a plain string replacement does not model.
        let at_end = matches!(how, Dress::NoFinalNewline) && end == lf.len() - 1;
        if old_string.is_empty() || at_end || lf.matches(old_string).count() != 1 {
            continue;
        }
        // A snippet that lost all its indentation is re-indented, not replaced as a plain
        // string (restyle_tests checks those).
        let line_start = lf[..at].rfind('\n').map_or(0, |n| n + 1);
        if flat_after_indent(&lf, at, old_string, &[line_start]) {
            continue;
        }
        let new_string = new_lines(&mut rng, &[]).join("\n");
        if new_string == old_string {
            continue;
        }
        let replaced = replace(&old, old_string, &new_string, false)
            .unwrap_or_else(|e| panic!("{context}: replace {old_string:?}: {e}"));
        let expected = dress(&lf.replacen(old_string, &new_string, 1), how);
        assert_eq!(
            String::from_utf8_lossy(&replaced.bytes),
            String::from_utf8_lossy(&expected),
            "{context}: replace {old_string:?} with {new_string:?}"
        );
        through_patch(name, &old, &replaced.bytes);
    }
}

const SOURCES: [(&str, &str); 9] = [
    ("src/text.rs", include_str!("text.rs")),
    ("src/lines.rs", include_str!("lines.rs")),
    ("src/replace.rs", include_str!("replace.rs")),
    ("src/matching.rs", include_str!("matching.rs")),
    ("src/diff.rs", include_str!("diff.rs")),
    ("src/patch/mod.rs", include_str!("patch/mod.rs")),
    ("src/patch/unified.rs", include_str!("patch/unified.rs")),
    ("src/patch/begin.rs", include_str!("patch/begin.rs")),
    ("src/patch/tests.rs", include_str!("patch/tests.rs")),
];

#[test]
fn random_edits_and_replacements_round_trip_through_diffs_on_real_text() {
    for (name, text) in SOURCES {
        check_text(name, text, 25);
    }
    for (name, text) in [("empty", ""), ("one", "x\n"), ("blank", "\n\n\n")] {
        check_text(name, text, 25);
    }
}

#[test]
fn created_deleted_and_renamed_files_round_trip_through_diffs() {
    let changes = vec![
        FileChange::Create {
            path: "n.txt".into(),
            content: b"a\r\nb".to_vec(),
        },
        FileChange::Create {
            path: "empty".into(),
            content: Vec::new(),
        },
        FileChange::Delete {
            path: "d.txt".into(),
            old: b"x\ny\n".to_vec(),
        },
        FileChange::Rename {
            from: "r1".into(),
            to: "r2".into(),
            old: b"same\n".to_vec(),
            new: b"same\n".to_vec(),
        },
        FileChange::Rename {
            from: "s1".into(),
            to: "s2".into(),
            old: b"1\n2\n".to_vec(),
            new: b"1\n3\n".to_vec(),
        },
    ];
    let diff = render_diff(&changes);
    let applied = apply_patch(&diff, |p| {
        Ok(match p {
            "d.txt" => Some(b"x\ny\n".to_vec()),
            "r1" => Some(b"same\n".to_vec()),
            "s1" => Some(b"1\n2\n".to_vec()),
            _ => None,
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{diff}"));
    // A created file's endings are the patch's (LF); the rest is exact.
    let mut wanted = changes.clone();
    wanted[0] = FileChange::Create {
        path: "n.txt".into(),
        content: b"a\nb".to_vec(),
    };
    assert_eq!(applied.changes, wanted, "{diff}");
    let summary = summary(&changes);
    assert!(summary.contains("created n.txt (+2 -0)"), "{summary}");
    assert!(summary.contains("deleted d.txt (+0 -2)"), "{summary}");
    assert!(
        summary.contains("renamed s1 \u{2192} s2 (+1 -1)"),
        "{summary}"
    );
    assert!(summary.ends_with("5 files changed, +3 -3"), "{summary}");
}

/// Real sources: the crates in the local cargo registry, which any machine that built
/// conch has (the first files found, so the test stays quick in a debug build).
const REGISTRY_FILES: usize = 150;
/// Version pairs of one crate whose `diff -ruN` is applied.
const VERSION_PAIRS: usize = 4;

/// The same over real sources from the local cargo registry.
#[test]
fn random_edits_round_trip_on_registry_sources() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let root = std::path::Path::new(&home).join(".cargo/registry/src");
    let mut stack = vec![root];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && checked < REGISTRY_FILES
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                check_text(&path.display().to_string(), &text, 5);
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no sources found");
}

/// `diff -ruN` between two versions of one crate in the local registry, applied to the
/// older one, gives the newer. (conch's own dependencies include several crates in two
/// versions, so a machine that built it has pairs.)
#[test]
fn diff_run_between_crate_versions_applies() {
    use std::path::Path;
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let mut applied = 0;
    for index in std::fs::read_dir(Path::new(&home).join(".cargo/registry/src"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let mut crates: Vec<String> = std::fs::read_dir(index.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        crates.sort();
        for pair in crates.windows(2) {
            let name = |dir: &str| dir.rsplit_once('-').map(|(n, _)| n.to_owned());
            if name(&pair[0]) != name(&pair[1]) || applied >= VERSION_PAIRS {
                continue;
            }
            let Ok(out) = std::process::Command::new("diff")
                .args(["-ruN", &pair[0], &pair[1]])
                .env("TZ", "UTC")
                .current_dir(index.path())
                .output()
            else {
                return;
            };
            let Ok(patch) = String::from_utf8(out.stdout) else {
                continue;
            };
            if patch.contains("\nBinary files ") || patch.starts_with("Binary files ") {
                continue;
            }
            let (old_dir, new_dir) = (index.path().join(&pair[0]), index.path().join(&pair[1]));
            let outcome = apply_patch(&patch, |p| Ok(std::fs::read(old_dir.join(p)).ok()))
                .unwrap_or_else(|e| panic!("{} → {}: {e}", pair[0], pair[1]));
            for change in outcome.changes {
                match change {
                    FileChange::Update { path, new, .. }
                    | FileChange::Create { path, content: new } => {
                        let want = std::fs::read(new_dir.join(&path)).unwrap();
                        assert!(new == want, "{} → {}: {path} differs", pair[0], pair[1]);
                    }
                    FileChange::Delete { path, .. } => {
                        assert!(!new_dir.join(&path).exists(), "{path}")
                    }
                    FileChange::Rename { from, .. } => panic!("diff -ruN renamed {from}"),
                }
            }
            applied += 1;
        }
    }
    assert!(applied > 0, "no crate has two versions in the registry");
}
