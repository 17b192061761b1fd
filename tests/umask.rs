//! The store creates its directory and files without widening the process umask.
//!
//! The umask is process-wide, so this file contains a single test and runs as its own binary.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use modelmetrics::{Metrics, Store};
use support::{metric, uuid};

/// Checks that `path` has no permission bit for group or others.
fn assert_private(path: &Path) {
    let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", path.display());
}

/// Checks every entry of the store directory and the directory itself; returns the names.
fn assert_all_private(dir: &Path) -> Vec<String> {
    assert_private(dir);
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        assert_private(&entry.path());
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    names
}

#[test]
fn files_keep_umask_077() {
    // SAFETY: umask only sets the process's file mode mask, and this binary runs no other test.
    unsafe { libc::umask(0o077) };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");

    let store = Store::open(&dir).unwrap();
    for i in 0..10 {
        store
            .track_metrics("m", uuid(i), i as i64, &metric("n", 1))
            .unwrap();
    }
    store
        .track_delayed_metrics(uuid(99), 0, &Metrics::new().with("label", true))
        .unwrap();
    store.sync().unwrap();
    store.flush().unwrap();
    store
        .track_metrics("m", uuid(100), 0, &Metrics::new())
        .unwrap();

    let names = assert_all_private(&dir);
    for prefix in ["LOCK", "MANIFEST", "wal-", "seg-", "index-"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix} file: {names:?}"
        );
    }
    store.close().unwrap();
    drop(store);

    let store = Store::open(&dir).unwrap();
    store
        .track_metrics("m", uuid(101), 0, &Metrics::new())
        .unwrap();
    store.flush().unwrap();
    assert_all_private(&dir);
    store.close().unwrap();
    assert_all_private(&dir);
}
