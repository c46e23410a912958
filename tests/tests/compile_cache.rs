//! The compile cache: an entry that was tampered with is recompiled, never trusted; a
//! cache dir that cannot be written means working without it, with one warning. The
//! built-ins never use it: their precompiled artifacts are inside the binary. The
//! fallback to the cache when the artifacts do not fit the machine is tested in
//! host/src/plugin/builtin.rs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use conch_tests::{conch, fixture_plugin, run};

/// A call to the fixture plugin's `echo` tool, a third-party plugin that is compiled
/// into the cache on first use.
fn echo_in(dir: &std::path::Path, cache: &std::path::Path) -> conch_tests::Run {
    run(conch(&[
        "tool",
        "echo",
        "--yes",
        r#"{"said":"cached"}"#,
        "--cwd",
        &dir.to_string_lossy(),
        "--plugin",
        &fixture_plugin("hostile").to_string_lossy(),
    ])
    .env("CONCH_CACHE_DIR", cache))
}

fn entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.join("components"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_builtin_tool_runs_from_the_binary_and_leaves_the_cache_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    std::fs::write(dir.path().join("f.txt"), "embedded\n").expect("write");
    let out = run(conch(&[
        "tool",
        "read",
        r#"{"path":"f.txt"}"#,
        "--cwd",
        &dir.path().to_string_lossy(),
    ])
    .env("CONCH_CACHE_DIR", &cache));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("embedded"), "{out:?}");
    assert_eq!(entries(&cache), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_corrupted_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    assert_eq!(echo_in(dir.path(), &cache).code, Some(0));
    let files = entries(&cache);
    assert_eq!(files.len(), 1, "{files:?}");
    let good = std::fs::read(&files[0]).expect("entry");
    // Flip bytes in the middle of the compiled code.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0xa5;
    }
    std::fs::write(&files[0], &bad).expect("corrupt");
    let out = echo_in(dir.path(), &cache);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("cached"), "{out:?}");
    assert!(
        out.stderr.contains("discarding a bad compile cache entry"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(&files[0]).expect("entry"),
        good,
        "the entry was rewritten"
    );

    std::fs::write(&files[0], b"garbage").expect("truncate");
    assert_eq!(echo_in(dir.path(), &cache).code, Some(0));
}

#[test]
fn an_unwritable_cache_dir_still_works_with_one_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A regular file where the cache dir's parent should be: no one can create it,
    // not even root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").expect("blocker");
    let out = echo_in(dir.path(), &blocker.join("cache"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("cached"), "{out:?}");
    assert_eq!(
        out.stderr.matches("cannot be written").count(),
        1,
        "{out:?}"
    );
}

#[test]
fn a_read_only_cache_dir_still_works() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("ro");
    std::fs::create_dir_all(cache.join("components")).expect("mkdir");
    std::fs::set_permissions(
        cache.join("components"),
        std::fs::Permissions::from_mode(0o555),
    )
    .expect("chmod");
    let out = echo_in(dir.path(), &cache);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("cached"), "{out:?}");
}
