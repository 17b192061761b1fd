//! `Store::open` on directories with odd contents: symbolic links named like store files,
//! directories and FIFOs named like segment or log files, a dangling `MANIFEST` link, and links
//! at `LOCK` and `MANIFEST.tmp` of an existing store. A rejected open changes nothing that is
//! there. An accepted one leaves entries it does not own alone and never writes through a
//! link, and no open hangs or panics.

mod support;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use modelmetrics::{Error, Store, segment, wal};
use support::{metric, read_all, uuid};

const MODEL: &str = "odd";
/// Maximum time an open may take before the test counts it as hung.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the store in `dir` on a thread, failing the test if the open does not return.
fn open_in_time(dir: &Path) -> modelmetrics::Result<Store> {
    let (sender, receiver) = mpsc::channel();
    let path = dir.to_path_buf();
    thread::spawn(move || {
        let _ = sender.send(Store::open(&path));
    });
    receiver
        .recv_timeout(OPEN_TIMEOUT)
        .unwrap_or_else(|_| panic!("Store::open of {} hung", dir.display()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn make_fifo(path: &Path) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Fails the test unless the open failed. Which error depends on the entry: a link named
/// `MANIFEST` reads as a damaged manifest, other names as foreign files.
fn assert_rejected(result: modelmetrics::Result<Store>, what: &str) {
    match result {
        Err(Error::InvalidInput { .. } | Error::Corruption { .. }) => {}
        Err(other) => panic!("{what}: rejected with {other:?}"),
        Ok(_) => panic!("{what}: opened as a new store"),
    }
}

/// Links named like a log file, a segment and `MANIFEST` are not the store's files: a new
/// store is not created beside them, and what they point to is unchanged.
#[test]
fn links_named_like_store_files_are_rejected() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("precious.txt");
    fs::write(&target, b"not a log").unwrap();
    let cases = [
        wal::wal_file_name(1),
        segment::segment_file_name(1),
        "lost+found".to_owned(),
    ];
    for (i, name) in cases.iter().enumerate() {
        let dir = root.path().join(format!("case-{i}"));
        fs::create_dir(&dir).unwrap();
        symlink(&target, dir.join(name)).unwrap();
        let before = names(&dir);
        assert_rejected(open_in_time(&dir), name);
        assert_eq!(
            names(&dir),
            before,
            "{name}: the rejected open changed the directory"
        );
        assert_eq!(
            fs::read(&target).unwrap(),
            b"not a log",
            "{name}: target changed"
        );
    }
    // A `MANIFEST` link makes the directory a store whose manifest is damaged: the open
    // locks it, then fails on the manifest and writes nothing more.
    let linked = root.path().join("linked-manifest");
    fs::create_dir(&linked).unwrap();
    symlink(&target, linked.join("MANIFEST")).unwrap();
    assert_rejected(open_in_time(&linked), "MANIFEST link");
    assert_eq!(names(&linked), ["LOCK", "MANIFEST"]);
    assert_eq!(
        fs::read(&target).unwrap(),
        b"not a log",
        "MANIFEST link: target changed"
    );

    let dangling = root.path().join("dangling");
    fs::create_dir(&dangling).unwrap();
    symlink(root.path().join("missing"), dangling.join("MANIFEST")).unwrap();
    assert_rejected(open_in_time(&dangling), "dangling MANIFEST link");
    assert_eq!(names(&dangling), ["MANIFEST"]);
}

/// A directory or FIFO named like a store file in a new directory is not a store file, nor is
/// a file whose name is not UTF-8.
#[test]
fn special_files_named_like_store_files_are_rejected() {
    let root = tempfile::tempdir().unwrap();
    let log = wal::wal_file_name(1);
    let segment = segment::segment_file_name(3);
    let fifo_dir = root.path().join("fifo");
    fs::create_dir(&fifo_dir).unwrap();
    make_fifo(&fifo_dir.join(&log));
    assert_rejected(open_in_time(&fifo_dir), "FIFO named like a log file");
    assert_eq!(names(&fifo_dir), std::slice::from_ref(&log));

    let dir_dir = root.path().join("dir");
    fs::create_dir_all(dir_dir.join(&log)).unwrap();
    assert_rejected(open_in_time(&dir_dir), "directory named like a log file");
    let seg_dir = root.path().join("seg");
    fs::create_dir_all(seg_dir.join(&segment)).unwrap();
    assert_rejected(open_in_time(&seg_dir), "directory named like a segment");
    assert_eq!(names(&seg_dir), [segment]);

    // A name that is not UTF-8 but reads like a log file once its invalid byte is replaced.
    let raw_dir = root.path().join("raw");
    fs::create_dir(&raw_dir).unwrap();
    let mut raw_name = log.clone().into_bytes();
    raw_name.insert(4, 0xff);
    let raw_path = raw_dir.join(std::ffi::OsStr::from_bytes(&raw_name));
    fs::write(&raw_path, b"not a log").unwrap();
    assert_rejected(open_in_time(&raw_dir), "name that is not UTF-8");
    assert_eq!(fs::read(&raw_path).unwrap(), b"not a log");
}

/// Entries that an existing store did not write keep their place and content through opens,
/// flushes, compaction and close. Two are directories named like a flushed log file and like a
/// segment that no manifest lists, and flushes must not fail on them.
#[test]
fn existing_store_leaves_foreign_entries_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics(MODEL, uuid(0), 0, &metric("x", 1.0))
        .unwrap();
    store.flush().unwrap();
    store.close().unwrap();
    drop(store);

    let manifest = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    let flushed_log = wal::wal_file_name(manifest.wal_start - 1);
    fs::create_dir(dir.path().join(&flushed_log)).unwrap();
    let stale_segment = segment::segment_file_name(9_999);
    fs::create_dir(dir.path().join(&stale_segment)).unwrap();
    fs::write(dir.path().join(&stale_segment).join("keep"), b"keep").unwrap();
    fs::create_dir(dir.path().join("notes")).unwrap();
    symlink("/nonexistent", dir.path().join("link")).unwrap();

    let store = open_in_time(dir.path()).unwrap();
    for n in 1..4 {
        store
            .track_metrics(MODEL, uuid(n), n as i64, &metric("x", 1.0))
            .unwrap();
        store.flush().unwrap();
    }
    store.compact().unwrap();
    assert_eq!(read_all(&store, MODEL).len(), 4);
    store.close().unwrap();
    drop(store);
    let keep = dir.path().join(&stale_segment).join("keep");
    assert_eq!(fs::read(keep).unwrap(), b"keep");
    assert!(dir.path().join("notes").is_dir());
    assert!(dir.path().join(&flushed_log).is_dir());
    assert!(fs::symlink_metadata(dir.path().join("link")).is_ok());

    let store = open_in_time(dir.path()).unwrap();
    assert_eq!(read_all(&store, MODEL).len(), 4);
    store.close().unwrap();
}

/// A FIFO named like the log file that the next open replays must not make the open hang:
/// opening it for reading would block until a writer comes. The open takes it for a log file
/// torn before its header, and the store goes on tracking.
#[test]
fn open_with_fifo_log_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics(MODEL, uuid(0), 0, &metric("x", 1.0))
        .unwrap();
    store.close().unwrap();
    drop(store);
    let manifest = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    make_fifo(&dir.path().join(wal::wal_file_name(manifest.wal_start)));
    let store = open_in_time(dir.path()).unwrap();
    assert_eq!(read_all(&store, MODEL).len(), 1);
    store
        .track_metrics(MODEL, uuid(1), 1, &metric("x", 1.0))
        .unwrap();
    store.close().unwrap();
    drop(store);
    let store = open_in_time(dir.path()).unwrap();
    assert_eq!(read_all(&store, MODEL).len(), 2);
}

/// Links named `LOCK` and `MANIFEST.tmp` in an existing store point to a file of someone else.
/// The store writes both names, and it must not write through the links: the linked file keeps
/// its content, whether the open fails or the store goes on.
#[test]
fn store_never_writes_through_links() {
    for name in ["LOCK", "MANIFEST.tmp"] {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("precious.txt");
        fs::write(&target, b"keep me").unwrap();
        let dir = root.path().join("store");
        let store = Store::open(&dir).unwrap();
        store
            .track_metrics(MODEL, uuid(0), 0, &metric("x", 1.0))
            .unwrap();
        store.close().unwrap();
        drop(store);
        let _ = fs::remove_file(dir.join(name));
        symlink(&target, dir.join(name)).unwrap();

        if let Ok(store) = open_in_time(&dir) {
            for n in 1..3 {
                store
                    .track_metrics(MODEL, uuid(n), n as i64, &metric("x", 1.0))
                    .unwrap();
                let flushed = store.flush();
                println!("{name}: flush {n} with the link in place: {flushed:?}");
            }
            store.close().unwrap();
            drop(store);
            let store = open_in_time(&dir).unwrap();
            assert_eq!(
                read_all(&store, MODEL).len(),
                3,
                "{name}: rows after reopen"
            );
            store.close().unwrap();
        }
        assert_eq!(
            fs::read(&target).unwrap(),
            b"keep me",
            "{name}: the linked file changed"
        );
    }
}
