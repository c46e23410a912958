//! Staging, committing and undoing on real temp directories, including the ways out.

use std::path::Path;

use super::*;

fn rules(root: &Path) -> PathRules {
    let root = std::fs::canonicalize(root).unwrap();
    PathRules {
        roots: vec![root.clone()],
        cwd: root,
        protected: Vec::new(),
    }
}

#[test]
fn staged_writes_are_invisible_until_committed_then_all_land() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "old a\n").unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging.write_file("a.txt", b"new a\n".to_vec()).unwrap();
    staging
        .write_file("sub/deep/b.txt", b"b\n".to_vec())
        .unwrap();
    staging.rename("a.txt", "c.txt").unwrap();
    assert_eq!(staging.read_file("c.txt").unwrap(), b"new a\n");
    assert!(staging.read_file("a.txt").is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "old a\n"
    );
    let changes = staging.finish();
    assert_eq!(
        changes.summary(),
        "a.txt (removed) +0 -1, c.txt (new) +1 -0, sub/deep/b.txt (new) +1 -0"
    );
    commit(&changes).unwrap();
    assert!(!dir.path().join("a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c.txt")).unwrap(),
        "new a\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/deep/b.txt")).unwrap(),
        "b\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".conch-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failure_on_a_later_file_leaves_every_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["one.txt", "three.txt"] {
        std::fs::write(dir.path().join(name), format!("{name} before\n")).unwrap();
    }
    let mut staging = Staging::new(rules(dir.path()));
    staging
        .write_file("one.txt", b"one after\n".to_vec())
        .unwrap();
    staging.write_file("two/x.txt", b"two\n".to_vec()).unwrap();
    staging
        .write_file("three.txt", b"three after\n".to_vec())
        .unwrap();
    let changes = staging.finish();
    // Between staging and commit, something makes the second file unwritable.
    std::fs::write(dir.path().join("two"), "a file where a directory is needed").unwrap();
    assert!(commit(&changes).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("one.txt")).unwrap(),
        "one.txt before\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("three.txt")).unwrap(),
        "three.txt before\n"
    );
}

#[test]
fn a_file_changed_after_staging_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "v1\n").unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging.write_file("a.txt", b"mine\n".to_vec()).unwrap();
    let changes = staging.finish();
    std::fs::write(dir.path().join("a.txt"), "someone else's\n").unwrap();
    let err = commit(&changes).unwrap_err().to_string();
    assert!(err.contains("changed on disk"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "someone else's\n"
    );
}

#[test]
fn no_import_reaches_outside_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.txt"),
    )
    .unwrap();
    let secret = outside.path().join("secret.txt");
    let absolute = secret.to_string_lossy().into_owned();
    let mut staging = Staging::new(rules(dir.path()));
    for path in ["../x.txt", absolute.as_str(), ".git/config", "a/../../x"] {
        assert!(
            staging.write_file(path, b"x".to_vec()).is_err(),
            "write {path}"
        );
        assert!(staging.read_file(path).is_err(), "read {path}");
        assert!(staging.remove(path).is_err(), "remove {path}");
        assert!(staging.create_dir(path).is_err(), "mkdir {path}");
        assert!(
            staging.rename(path, "in.txt").is_err(),
            "rename from {path}"
        );
    }
    // Through links: refused when read, and a write through them never lands outside.
    assert!(staging.read_file("out/secret.txt").is_err());
    assert!(staging.read_file("link.txt").is_err());
    assert!(staging.remove("out/secret.txt").is_err());
    let _ = staging.write_file("out/new.txt", b"x".to_vec());
    let _ = staging.write_file("link.txt", b"x".to_vec());
    let _ = commit(&staging.finish());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret\n");
    assert!(!outside.path().join("new.txt").exists());
}

#[test]
fn undo_restores_and_refuses_after_an_outside_change() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "original\n").unwrap();
    let change = |text: &str| {
        let mut staging = Staging::new(rules(dir.path()));
        staging
            .write_file("a.txt", text.as_bytes().to_vec())
            .unwrap();
        staging.write_file("new.txt", b"new\n".to_vec()).unwrap();
        let changes = staging.finish();
        let record = record(&changes, "call_1", "write", blobs.path()).unwrap();
        commit(&changes).unwrap();
        record
    };
    let first = change("edited\n");
    undo(&first, blobs.path(), false).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "original\n"
    );
    assert!(!dir.path().join("new.txt").exists());

    let second = change("edited again\n");
    std::fs::write(dir.path().join("a.txt"), "touched by hand\n").unwrap();
    let err = undo(&second, blobs.path(), false).unwrap_err().to_string();
    assert!(err.contains("changed since"), "{err}");
    assert!(dir.path().join("new.txt").exists(), "nothing was undone");
    undo(&second, blobs.path(), true).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "original\n"
    );
}

#[test]
fn a_replaced_or_renamed_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "echo one\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging
        .write_file("run.sh", b"echo two\n".to_vec())
        .unwrap();
    commit(&staging.finish()).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&script), 0o750);
    let mut staging = Staging::new(rules(dir.path()));
    staging.rename("run.sh", "bin/go.sh").unwrap();
    commit(&staging.finish()).unwrap();
    assert_eq!(mode(&dir.path().join("bin/go.sh")), 0o750);
}

#[test]
fn a_same_size_change_with_the_old_mtime_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "version 1\n").unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging.write_file("a.txt", b"mine\n".to_vec()).unwrap();
    let changes = staging.finish();
    // Another writer, in place, the same size, then the old mtime put back: what a
    // check on size and mtime alone would take for the file as staged.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, b"version 2\n").unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let err = commit(&changes).unwrap_err().to_string();
    assert!(err.contains("changed on disk"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "version 2\n");
}

#[test]
fn undo_of_a_large_file_restores_its_bytes_after_later_edits() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    // Large enough for the journal's two digests to be computed on two threads.
    let original: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("big.txt"), &original).unwrap();
    let edit = |from: &str, to: &str| {
        let mut staging = Staging::new(rules(dir.path()));
        let text = String::from_utf8(staging.read_file("big.txt").unwrap()).unwrap();
        staging
            .write_file("big.txt", text.replacen(from, to, 1).into_bytes())
            .unwrap();
        let changes = staging.finish();
        let record = record(&changes, "call", "edit", blobs.path()).unwrap();
        commit(&changes).unwrap();
        record
    };
    let first = edit("line 10000\n", "LINE 10000\n");
    let second = edit("line 5\n", "LINE 5\n");
    assert_ne!(first.files[0].before, first.files[0].after);
    assert_eq!(first.files[0].after, second.files[0].before);
    undo(&second, blobs.path(), false).unwrap();
    undo(&first, blobs.path(), false).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("big.txt")).unwrap(),
        original
    );
}
