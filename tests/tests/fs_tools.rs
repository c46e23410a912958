//! The four fs tools — `read`, `listdir`, `glob`, `grep` — through the real binary and
//! sandbox on real temp trees: their output formats, caps and the notices that tell the
//! model how to go on, ignore rules, and odd files (CRLF, latin-1, binary, empty).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::path::Path;
use std::time::{Duration, SystemTime};

use conch_tests::{Run, conch, run, tool};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A temp workspace holding `files` (paths relative to it, parents created).
fn workspace(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, contents) in files {
        write(dir.path(), path, contents);
    }
    dir
}

/// Writes `contents` to `dir/rel`, creating its parents.
fn write(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dirs");
    }
    std::fs::write(&path, contents).expect("write file");
}

/// Runs a tool that must succeed; returns its stdout.
fn ok(dir: &Path, name: &str, input: Value) -> String {
    let out = tool(dir, name, &input.to_string());
    assert_eq!(out.code, Some(0), "{name} {input}: {out:?}");
    assert!(out.stderr.is_empty(), "{name} {input}: {out:?}");
    out.stdout
}

/// Runs a tool that must fail with a tool error; returns its message (after `error: `).
fn fails(dir: &Path, name: &str, input: Value) -> String {
    let out = tool(dir, name, &input.to_string());
    assert_eq!(out.code, Some(1), "{name} {input}: {out:?}");
    assert!(out.stdout.is_empty(), "{name} {input}: {out:?}");
    out.stderr
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("no `error: ` prefix: {out:?}"))
        .trim_end()
        .to_string()
}

/// Runs a tool with `--json` and parses what it printed.
fn json_run(dir: &Path, name: &str, input: Value) -> (Run, Value) {
    let cwd = dir.to_string_lossy();
    let out = run(&mut conch(&[
        "tool",
        name,
        &input.to_string(),
        "--cwd",
        &cwd,
        "--json",
    ]));
    let value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out, value)
}

/// `count` lines `line 1`, `line 2`, … each ending in `\n`.
fn numbered_lines(count: usize) -> String {
    (1..=count).map(|i| format!("line {i}\n")).collect()
}

/// Sets the modification time of `dir/rel` to `secs` after the epoch.
fn set_mtime(dir: &Path, rel: &str, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(dir.join(rel))
        .and_then(|f| f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
        .expect("set mtime");
}

// ---- read ----

#[test]
fn read_numbers_each_line_right_aligned_before_a_tab() {
    let ws = workspace(&[("a.txt", "alpha\n\n  beta\ngamma")]);
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "a.txt"})),
        "     1\talpha\n     2\t\n     3\t  beta\n     4\tgamma\n"
    );
}

#[test]
fn read_pages_with_offset_and_limit_and_tells_where_to_read_on() {
    let ws = workspace(&[("a.txt", &numbered_lines(30))]);
    let page = ok(
        ws.path(),
        "read",
        json!({"path": "a.txt", "offset": 11, "limit": 10}),
    );
    let expected: String = (11..=20).map(|i| format!("{i:>6}\tline {i}\n")).collect();
    assert_eq!(
        page,
        format!("{expected}[... file has 30 lines; showing 11-20. Use offset=21 to read on]\n")
    );

    let last = ok(
        ws.path(),
        "read",
        json!({"path": "a.txt", "offset": 21, "limit": 10}),
    );
    let expected: String = (21..=30).map(|i| format!("{i:>6}\tline {i}\n")).collect();
    assert_eq!(last, expected, "the last page has no read-on notice");
}

#[test]
fn read_shows_2000_lines_of_a_long_file_by_default() {
    let ws = workspace(&[("long.txt", &numbered_lines(5000))]);
    let out = ok(ws.path(), "read", json!({"path": "long.txt"}));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2001, "2000 lines and the notice");
    assert_eq!(lines[0], "     1\tline 1");
    assert_eq!(lines[1999], "  2000\tline 2000");
    assert_eq!(
        lines[2000],
        "[... file has 5000 lines; showing 1-2000. Use offset=2001 to read on]"
    );
}

#[test]
fn read_cuts_a_line_over_2000_characters_and_keeps_the_next() {
    // Two-byte characters: the cut counts characters, not bytes.
    let long = "é".repeat(3000);
    let ws = workspace(&[("wide.txt", &format!("{long}\nnext\n"))]);
    let out = ok(ws.path(), "read", json!({"path": "wide.txt"}));
    let expected = format!(
        "     1\t{}… [line cut at 2000 characters]\n     2\tnext\n",
        "é".repeat(2000)
    );
    assert_eq!(out, expected);
}

#[test]
fn read_stops_at_about_50_kb_on_a_whole_line_and_tells_where_to_read_on() {
    // Each shown line is 6 + 1 + 100 + 1 = 108 bytes: 474 fit in 50 KB, 475 do not.
    let line = "x".repeat(100);
    let body: String = (0..1000).map(|_| format!("{line}\n")).collect();
    let ws = workspace(&[("wide.txt", &body)]);
    let out = ok(ws.path(), "read", json!({"path": "wide.txt"}));
    let (text, notice) = out.trim_end().rsplit_once('\n').expect("a notice line");
    assert_eq!(
        notice,
        "[... file has 1000 lines; showing 1-474. Use offset=475 to read on]"
    );
    assert!(text.len() <= 50 * 1024, "{} bytes", text.len());
    assert!(text.ends_with(&format!("   474\t{line}")), "{text}");
}

#[test]
fn read_drops_the_carriage_return_of_crlf_lines() {
    let ws = workspace(&[("dos.txt", "one\r\ntwo\r\n\r\nfour\r\n")]);
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "dos.txt"})),
        "     1\tone\n     2\ttwo\n     3\t\n     4\tfour\n"
    );
}

#[test]
fn read_shows_latin1_bytes_as_replacement_characters() {
    let ws = workspace(&[]);
    write(ws.path(), "latin1.txt", b"caf\xe9 cr\xe8me\nna\xefve\n");
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "latin1.txt"})),
        "     1\tcaf\u{fffd} cr\u{fffd}me\n     2\tna\u{fffd}ve\n"
    );
}

#[test]
fn read_decodes_utf16_and_drops_byte_order_marks() {
    let ws = workspace(&[("bom.txt", "\u{feff}one\r\ntwo\r\n")]);
    let mut wide = vec![0xFF, 0xFE];
    wide.extend("héllo\r\nwörld\n".encode_utf16().flat_map(u16::to_le_bytes));
    write(ws.path(), "wide.txt", wide);
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "bom.txt"})),
        "     1\tone\n     2\ttwo\n"
    );
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "wide.txt"})),
        "     1\théllo\n     2\twörld\n"
    );
}

#[test]
fn read_refuses_a_binary_file_and_says_its_size() {
    let ws = workspace(&[]);
    write(
        ws.path(),
        "blob.bin",
        b"\x7fELF\x02\x01\x01\0\0\0text after",
    );
    let message = fails(ws.path(), "read", json!({"path": "blob.bin"}));
    assert_eq!(
        message,
        "blob.bin: binary file (20 bytes); read shows text files only"
    );
}

#[test]
fn read_says_an_empty_file_is_empty() {
    let ws = workspace(&[("empty.txt", "")]);
    assert_eq!(
        ok(ws.path(), "read", json!({"path": "empty.txt"})),
        "(empty file)\n"
    );
}

#[test]
fn read_of_a_directory_points_to_listdir() {
    let ws = workspace(&[("src/main.rs", "fn main() {}\n")]);
    assert_eq!(
        fails(ws.path(), "read", json!({"path": "src"})),
        "src is a directory, not a file; use listdir to see its entries"
    );
}

#[test]
fn read_of_a_missing_file_suggests_similar_names() {
    let ws = workspace(&[("src/main.rs", ""), ("src/lib.rs", ""), ("README.md", "")]);
    assert_eq!(
        fails(ws.path(), "read", json!({"path": "src/mian.rs"})),
        "src/mian.rs: no such file or directory. Did you mean: src/main.rs?"
    );
    let message = fails(ws.path(), "read", json!({"path": "scr/lib.rs"}));
    assert!(message.ends_with("Did you mean: src/lib.rs?"), "{message}");
    let message = fails(ws.path(), "read", json!({"path": "readme.md"}));
    assert!(message.ends_with("Did you mean: README.md?"), "{message}");
}

#[test]
fn read_past_the_end_says_how_many_lines_there_are() {
    let ws = workspace(&[("a.txt", &numbered_lines(3))]);
    assert_eq!(
        fails(ws.path(), "read", json!({"path": "a.txt", "offset": 4})),
        "offset 4 is past the end of a.txt, which has 3 lines; use an offset from 1 to 3"
    );
}

#[test]
fn read_json_carries_the_path_line_counts_and_truncation() {
    let ws = workspace(&[("sub/a.txt", &numbered_lines(30)), ("empty.txt", "")]);
    let (out, value) = json_run(
        ws.path(),
        "read",
        json!({"path": "sub/a.txt", "offset": 11, "limit": 10}),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        value["metadata"],
        json!({"path": "sub/a.txt", "lines_total": 30, "from": 11, "to": 20, "truncated": true})
    );
    assert!(
        value["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("    11\tline 11\n")),
        "{value}"
    );

    let (_, whole) = json_run(ws.path(), "read", json!({"path": "sub/a.txt"}));
    assert_eq!(
        whole["metadata"],
        json!({"path": "sub/a.txt", "lines_total": 30, "from": 1, "to": 30, "truncated": false})
    );

    let (_, empty) = json_run(ws.path(), "read", json!({"path": "empty.txt"}));
    assert_eq!(
        empty["metadata"],
        json!({"path": "empty.txt", "lines_total": 0, "from": 0, "to": 0, "truncated": false})
    );

    let (out, missing) = json_run(ws.path(), "read", json!({"path": "nope.txt"}));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(missing["error"]["kind"], "not_found", "{missing}");
}

// ---- listdir ----

#[test]
fn listdir_shows_the_tree_to_a_depth_directories_first() {
    let ws = workspace(&[
        ("b.txt", ""),
        ("A.md", ""),
        ("src/main.rs", ""),
        ("src/deep/er/x.rs", ""),
        ("docs/guide.md", ""),
    ]);
    assert_eq!(
        ok(ws.path(), "listdir", json!({"depth": 2})),
        "./\n  docs/\n    guide.md\n  src/\n    deep/\n    main.rs\n  A.md\n  b.txt\n"
    );
    assert_eq!(
        ok(ws.path(), "listdir", json!({"path": "src", "depth": 1})),
        "src/\n  deep/\n  main.rs\n"
    );
    assert_eq!(
        ok(ws.path(), "listdir", json!({"path": "src", "depth": 5})),
        "src/\n  deep/\n    er/\n      x.rs\n  main.rs\n"
    );
}

#[test]
fn listdir_skips_git_node_modules_target_and_gitignored_entries_in_a_repository() {
    let ws = workspace(&[
        (".git/HEAD", "ref: refs/heads/main\n"),
        (".git/info/exclude", "local-only.txt\n"),
        (".gitignore", "*.log\nbuild/\n"),
        ("node_modules/left-pad/index.js", ""),
        ("target/debug/app", ""),
        ("build/out.o", ""),
        ("debug.log", ""),
        ("local-only.txt", ""),
        ("src/app.log", ""),
        ("src/main.rs", ""),
    ]);
    assert_eq!(
        ok(ws.path(), "listdir", json!({})),
        "./\n  src/\n    main.rs\n  .gitignore\n"
    );
}

#[test]
fn listdir_honours_gitignore_and_ignore_files_without_a_git_dir() {
    let ws = workspace(&[
        (".gitignore", "*.log\nbuild/\n!keep.log\n"),
        ("sub/.ignore", "secret*\n"),
        ("build/out.o", ""),
        ("debug.log", ""),
        ("keep.log", ""),
        ("sub/secret.txt", ""),
        ("sub/open.txt", ""),
        ("target/debug/app", ""),
    ]);
    assert_eq!(
        ok(ws.path(), "listdir", json!({})),
        "./\n  sub/\n    .ignore\n    open.txt\n  .gitignore\n  keep.log\n"
    );
}

#[test]
fn listdir_in_a_subdirectory_honours_the_repository_gitignore() {
    let ws = workspace(&[
        (".git/HEAD", "ref: refs/heads/main\n"),
        (".gitignore", "*.log\n"),
        ("pkg/a.log", ""),
        ("pkg/a.rs", ""),
    ]);
    assert_eq!(
        ok(&ws.path().join("pkg"), "listdir", json!({})),
        "./\n  a.rs\n"
    );
}

#[test]
fn listdir_skips_extra_ignore_patterns() {
    let ws = workspace(&[
        ("a.snap", ""),
        ("a.rs", ""),
        ("fixtures/big.json", ""),
        ("src/fixtures/x.json", ""),
        ("src/lib.rs", ""),
    ]);
    assert_eq!(
        ok(
            ws.path(),
            "listdir",
            json!({"ignore": ["*.snap", "/fixtures/"]})
        ),
        "./\n  src/\n    fixtures/\n      x.json\n    lib.rs\n  a.rs\n"
    );
}

#[test]
fn listdir_caps_a_big_tree_at_500_entries_keeping_the_shallow_ones() {
    let ws = workspace(&[("top.txt", "")]);
    for i in 0..1200 {
        write(ws.path(), &format!("many/f{i:04}.txt"), "");
    }
    let out = ok(ws.path(), "listdir", json!({}));
    // Shown: many/, top.txt and 498 of the 1200 files below many/.
    assert!(out.starts_with("./\n  many/\n    f0000.txt\n"), "{out}");
    assert!(out.contains("\n    … 702 entries not shown\n"), "{out}");
    assert!(out.contains("\n  top.txt\n"), "{out}");
    assert!(
        out.ends_with(
            "[500 of 1202 entries shown; list a subdirectory or use a smaller depth to see the rest]\n"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1 + 500 + 2, "{out}");
}

#[test]
fn listdir_of_an_empty_directory_or_a_file_says_so() {
    let ws = workspace(&[("file.txt", "")]);
    std::fs::create_dir(ws.path().join("void")).expect("mkdir");
    assert_eq!(
        ok(ws.path(), "listdir", json!({"path": "void"})),
        "void/\n(empty directory)\n"
    );
    assert_eq!(
        fails(ws.path(), "listdir", json!({"path": "file.txt"})),
        "file.txt is a file, not a directory; use read to see its contents"
    );
}

// ---- glob ----

#[test]
fn glob_double_star_matches_at_every_depth_and_star_only_at_the_top() {
    let ws = workspace(&[
        ("a.rs", ""),
        ("src/b.rs", ""),
        ("src/x/y/c.rs", ""),
        ("src/notes.md", ""),
    ]);
    for (file, secs) in [
        ("a.rs", 3_000),
        ("src/b.rs", 2_000),
        ("src/x/y/c.rs", 1_000),
    ] {
        set_mtime(ws.path(), file, secs);
    }
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "**/*.rs"})),
        "a.rs\nsrc/b.rs\nsrc/x/y/c.rs\n"
    );
    assert_eq!(ok(ws.path(), "glob", json!({"pattern": "*.rs"})), "a.rs\n");
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "src/**/*.rs"})),
        "src/b.rs\nsrc/x/y/c.rs\n"
    );
}

#[test]
fn glob_lists_the_newest_files_first() {
    let ws = workspace(&[("old.rs", ""), ("mid.rs", ""), ("new.rs", "")]);
    set_mtime(ws.path(), "old.rs", 1_000_000);
    set_mtime(ws.path(), "new.rs", 3_000_000);
    set_mtime(ws.path(), "mid.rs", 2_000_000);
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "*.rs"})),
        "new.rs\nmid.rs\nold.rs\n"
    );
}

#[test]
fn glob_honours_gitignore_and_skips_dependency_dirs() {
    let ws = workspace(&[
        (".gitignore", "gen.rs\n"),
        ("sub/.gitignore", "/out/\n"),
        ("gen.rs", ""),
        ("keep.rs", ""),
        ("sub/out/x.rs", ""),
        ("out/y.rs", ""),
        ("target/debug/build.rs", ""),
        ("node_modules/m/z.rs", ""),
    ]);
    set_mtime(ws.path(), "keep.rs", 2_000);
    set_mtime(ws.path(), "out/y.rs", 1_000);
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "**/*.rs"})),
        "keep.rs\nout/y.rs\n"
    );
}

#[test]
fn glob_limit_cuts_the_list_and_counts_the_rest() {
    let ws = workspace(&[]);
    for i in 0..5 {
        write(ws.path(), &format!("f{i}.txt"), "");
        set_mtime(ws.path(), &format!("f{i}.txt"), 1_000 + i);
    }
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "*.txt", "limit": 2})),
        "f4.txt\nf3.txt\n(3 more not shown; narrow the pattern)\n"
    );
    let (out, value) = json_run(ws.path(), "glob", json!({"pattern": "*.txt", "limit": 2}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(value["metadata"]["count"], 5, "{value}");
    assert_eq!(value["metadata"]["truncated"], true, "{value}");
}

#[test]
fn glob_without_matches_says_so_and_suggests_a_deeper_pattern() {
    let ws = workspace(&[("src/a.rs", ""), ("src/b.rs", "")]);
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "**/*.py"})),
        "No files match `**/*.py` in the working directory.\n"
    );
    assert_eq!(
        ok(ws.path(), "glob", json!({"pattern": "*.rs"})),
        "No files match `*.rs` in the working directory. A pattern without `/` matches \
         only at the top level; 2 files match `**/*.rs`.\n"
    );
}

// ---- grep ----

#[test]
fn grep_groups_matches_by_file_with_line_numbers() {
    let ws = workspace(&[
        ("a.rs", "fn main() {\n    todo_list()\n}\n// todo: more\n"),
        ("src/b.rs", "let x = 1;\n// todo later\n"),
        ("c.md", "nothing here\n"),
    ]);
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "todo"})),
        "a.rs\n2:     todo_list()\n4: // todo: more\n\nsrc/b.rs\n2: // todo later\n"
    );
}

#[test]
fn grep_include_limits_the_files_searched() {
    let ws = workspace(&[
        ("a.rs", "needle\n"),
        ("a.md", "needle\n"),
        ("src/deep/b.rs", "needle\n"),
        ("lib/src/c.rs", "needle\n"),
    ]);
    assert_eq!(
        ok(
            ws.path(),
            "grep",
            json!({"pattern": "needle", "include": "*.rs"})
        ),
        "a.rs\n1: needle\n\nlib/src/c.rs\n1: needle\n\nsrc/deep/b.rs\n1: needle\n"
    );
    assert_eq!(
        ok(
            ws.path(),
            "grep",
            json!({"pattern": "needle", "include": "src/**/*.rs"})
        ),
        "src/deep/b.rs\n1: needle\n"
    );
    assert_eq!(
        ok(
            ws.path(),
            "grep",
            json!({"pattern": "needle", "include": "*.py"})
        ),
        "No files in the working directory match include `*.py`; nothing was searched.\n"
    );
}

#[test]
fn grep_case_insensitive_matches_every_case() {
    let ws = workspace(&[("a.txt", "Error one\nerror two\nERROR three\nfine\n")]);
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "error"})),
        "a.txt\n2: error two\n"
    );
    assert_eq!(
        ok(
            ws.path(),
            "grep",
            json!({"pattern": "error", "case_insensitive": true})
        ),
        "a.txt\n1: Error one\n2: error two\n3: ERROR three\n"
    );
}

#[test]
fn grep_shows_context_lines_and_breaks_between_groups() {
    let ws = workspace(&[("f.txt", &numbered_lines(12))]);
    assert_eq!(
        ok(
            ws.path(),
            "grep",
            json!({"pattern": "^line 3|^line 9", "context": 2})
        ),
        "f.txt\n1- line 1\n2- line 2\n3: line 3\n4- line 4\n5- line 5\n--\n\
         7- line 7\n8- line 8\n9: line 9\n10- line 10\n11- line 11\n"
    );
}

#[test]
fn grep_honours_gitignore_with_and_without_a_git_dir() {
    let plain = workspace(&[
        (".gitignore", "gen/\n*.bak\n"),
        ("gen/x.txt", "needle\n"),
        ("old.bak", "needle\n"),
        ("node_modules/m/i.js", "needle\n"),
        ("ok.txt", "needle\n"),
    ]);
    assert_eq!(
        ok(plain.path(), "grep", json!({"pattern": "needle"})),
        "ok.txt\n1: needle\n"
    );

    let repo = workspace(&[
        (".git/HEAD", "ref: refs/heads/main\n"),
        (".gitignore", "*.bak\n"),
        ("pkg/old.bak", "needle\n"),
        ("pkg/ok.txt", "needle\n"),
    ]);
    assert_eq!(
        ok(
            &repo.path().join("pkg"),
            "grep",
            json!({"pattern": "needle"})
        ),
        "ok.txt\n1: needle\n"
    );
}

#[test]
fn grep_anchors_ignore_patterns_at_the_directory_of_their_file() {
    let ws = workspace(&[
        (".git/HEAD", "ref: refs/heads/main\n"),
        (".gitignore", "/gen\n/sub/only.txt\n"),
        ("gen/a.txt", "needle\n"),
        ("sub/.gitignore", "/local.txt\n"),
        ("sub/gen/b.txt", "needle\n"),
        ("sub/only.txt", "needle\n"),
        ("sub/local.txt", "needle\n"),
        ("sub/deeper/local.txt", "needle\n"),
    ]);
    assert_eq!(
        ok(&ws.path().join("sub"), "grep", json!({"pattern": "needle"})),
        "deeper/local.txt\n1: needle\n\ngen/b.txt\n1: needle\n"
    );
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "needle"})),
        "sub/deeper/local.txt\n1: needle\n\nsub/gen/b.txt\n1: needle\n"
    );
}

#[test]
fn grep_skips_binary_files_and_counts_them() {
    let ws = workspace(&[("ok.txt", "a needle\n")]);
    write(ws.path(), "blob.bin", b"needle\0\x01\x02needle\n");
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "needle"})),
        "ok.txt\n1: a needle\n"
    );
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "absent"})),
        "No matches for `absent` in the working directory (1 file searched, 1 binary file skipped).\n"
    );
    assert_eq!(
        fails(
            ws.path(),
            "grep",
            json!({"pattern": "needle", "path": "blob.bin"})
        ),
        "blob.bin is a binary file; grep searches text files only"
    );
}

#[test]
fn grep_stops_at_the_match_limit_and_says_so() {
    let ws = workspace(&[("a.txt", "x\nx\nx\n"), ("b.txt", "x\nx\n")]);
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "x", "limit": 4})),
        "a.txt\n1: x\n2: x\n3: x\n\nb.txt\n1: x\n\n\
         [match limit of 4 lines reached; there may be more. Narrow the pattern, path or include]\n"
    );
    let many = "hit\n".repeat(300);
    let big = workspace(&[("many.txt", &many)]);
    let out = ok(big.path(), "grep", json!({"pattern": "hit"}));
    assert_eq!(out.lines().filter(|l| l.ends_with(": hit")).count(), 200);
    assert!(
        out.ends_with("[match limit of 200 lines reached; there may be more. Narrow the pattern, path or include]\n"),
        "{out}"
    );
}

#[test]
fn grep_rejects_an_invalid_regex_with_the_regex_error() {
    let ws = workspace(&[("a.rs", "fn (\n")]);
    let message = fails(ws.path(), "grep", json!({"pattern": "fn ("}));
    assert!(message.starts_with("invalid regex `fn (`: "), "{message}");
    assert!(message.contains("unclosed group"), "{message}");
}

#[test]
fn grep_anchors_dollar_before_crlf_and_shows_no_carriage_returns() {
    let ws = workspace(&[("dos.rs", "let x = 1;\r\nlet y = 2;\r\nlet z = 1; // no\r\n")]);
    let out = ok(ws.path(), "grep", json!({"pattern": "= 1;$", "context": 1}));
    assert_eq!(out, "dos.rs\n1: let x = 1;\n2- let y = 2;\n");
}

#[test]
fn grep_anchors_dollar_at_the_end_of_every_lf_line() {
    let ws = workspace(&[("unix.rs", "let x = 1;\nlet y = 2;\nlet z = 1; // no\n")]);
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "= 1;$"})),
        "unix.rs\n1: let x = 1;\n"
    );
}

#[test]
fn grep_cuts_a_long_matching_line_around_the_match() {
    let long = format!("{}needle{}", "a".repeat(1000), "b".repeat(1000));
    let ws = workspace(&[("long.txt", &format!("{long}\nshort needle\n"))]);
    let out = ok(ws.path(), "grep", json!({"pattern": "needle"}));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let cut = lines[1];
    assert!(
        cut.starts_with(&format!("1: …{}needle", "a".repeat(100))),
        "{cut}"
    );
    assert!(cut.ends_with("b… [line of 2006 characters cut]"), "{cut}");
    assert_eq!(lines[2], "2: short needle");
}

#[test]
fn grep_stops_after_about_50_kb_of_output_and_says_so() {
    let body: String = (0..200)
        .map(|i| format!("{i:04} hit {}\n", "y".repeat(400)))
        .collect();
    let ws = workspace(&[("big.txt", &body)]);
    let out = ok(ws.path(), "grep", json!({"pattern": "hit"}));
    let shown = out.lines().filter(|l| l.contains(" hit ")).count();
    assert!((100..200).contains(&shown), "{shown} lines shown");
    assert!(out.len() < 52 * 1024, "{} bytes", out.len());
    assert!(
        out.ends_with(
            "\n\n[output cut after 50 KB; there may be more. Narrow the pattern, path or include]\n"
        ),
        "{out}"
    );
}

#[test]
fn grep_finds_text_in_latin1_files_and_shows_it_lossily() {
    let ws = workspace(&[]);
    write(ws.path(), "old.txt", b"caf\xe9 needle\nplain\n");
    assert_eq!(
        ok(ws.path(), "grep", json!({"pattern": "needle"})),
        "old.txt\n1: caf\u{fffd} needle\n"
    );
}
