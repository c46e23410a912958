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

/// The inode number of `path` (not following a last symlink).
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::symlink_metadata(path).unwrap())
}

/// Stages `text` as the whole of `name`, commits it with its pre-image journaled in
/// `blobs`, and returns the record.
fn commit_journaled(root: &Path, blobs: &Path, name: &str, text: &str) -> ChangeRecord {
    let mut staging = Staging::new(rules(root));
    staging.write_file(name, text.as_bytes().to_vec()).unwrap();
    let changes = staging.finish();
    let record = ChangeRecord::new(&changes, "call", "edit");
    commit_recorded(&changes, &record, blobs).unwrap();
    record
}

#[test]
fn a_commit_keeps_the_replaced_file_itself_as_its_pre_image_and_undo_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "original\n").unwrap();
    let old_inode = inode(&path);
    let record = commit_journaled(dir.path(), blobs.path(), "a.txt", "edited\n");
    let blob = blobs
        .path()
        .join(record.files[0].before.as_deref().unwrap());
    assert_eq!(inode(&blob), old_inode, "the blob is the replaced file");
    assert_ne!(inode(&path), old_inode, "the file is a new inode");
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "original\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited\n");
    undo(&record, blobs.path(), false).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "original\n");
}

#[test]
fn a_file_with_other_links_is_copied_into_the_journal_and_the_other_link_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let other = dir.path().join("other.txt");
    std::fs::write(&path, "shared\n").unwrap();
    std::fs::hard_link(&path, &other).unwrap();
    let record = commit_journaled(dir.path(), blobs.path(), "a.txt", "mine\n");
    let blob = blobs
        .path()
        .join(record.files[0].before.as_deref().unwrap());
    assert_ne!(inode(&blob), inode(&other), "a copy, not a third link");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "shared\n");
    // A write through the other link must not reach the saved pre-image.
    std::fs::write(&other, "written through the other link\n").unwrap();
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "shared\n");
    undo(&record, blobs.path(), false).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "shared\n");
}

#[test]
fn a_symlinked_file_is_copied_into_the_journal_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "target\n").unwrap();
    std::os::unix::fs::symlink("target.txt", dir.path().join("link.txt")).unwrap();
    let record = commit_journaled(dir.path(), blobs.path(), "link.txt", "replaced\n");
    let blob = blobs
        .path()
        .join(record.files[0].before.as_deref().unwrap());
    assert!(std::fs::symlink_metadata(&blob).unwrap().is_file());
    assert_ne!(inode(&blob), inode(&target));
    std::fs::write(&target, "changed later\n").unwrap();
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "target\n");
}

#[test]
fn a_failed_commit_leaves_no_journal_link_to_a_file_still_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.txt"), "one before\n").unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging
        .write_file("one.txt", b"one after\n".to_vec())
        .unwrap();
    staging.create_dir("two").unwrap();
    let changes = staging.finish();
    let record = ChangeRecord::new(&changes, "call", "edit");
    // Between staging and commit, something takes the new directory's name: the commit
    // fails after the pre-images are saved, before one.txt is replaced.
    std::fs::write(dir.path().join("two"), "a file where a directory is needed").unwrap();
    assert!(commit_recorded(&changes, &record, blobs.path()).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("one.txt")).unwrap(),
        "one before\n"
    );
    let blob = blobs
        .path()
        .join(record.files[0].before.as_deref().unwrap());
    assert!(!blob.exists(), "a link would change with the file");
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(
            &std::fs::metadata(dir.path().join("one.txt")).unwrap()
        ),
        1
    );
}

#[test]
fn a_recorded_pre_image_is_a_copy_that_an_in_place_write_does_not_reach() {
    // An agent CLI's own edit tool writes after the journal saved the pre-image, maybe
    // in place: the saved copy must not be the file.
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "before\n").unwrap();
    let mut staging = Staging::new(rules(dir.path()));
    staging.write_file("a.txt", b"after\n".to_vec()).unwrap();
    let record = record(&staging.finish(), "call", "Edit", blobs.path()).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, b"after\n").unwrap();
    drop(file);
    let blob = blobs
        .path()
        .join(record.files[0].before.as_deref().unwrap());
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "before\n");
}
