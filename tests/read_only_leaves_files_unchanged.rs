//! A read-only view, opened and refreshed in another process, changes no byte of a store that
//! a killed writer left behind. The store has everything that a writer's open would clean up:
//! records in the log, a torn frame at its end, a log file without a header, a segment that no
//! manifest lists and a temporary manifest. The view still reads every record before the torn
//! frame.
//!
//! The test runs this test binary again as the reader: `reader_child_reads_everything` does
//! nothing unless `CHILD_DIR_VAR` is set. It prints one `reader: ...` line.

#[path = "support/child.rs"]
mod child;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use modelmetrics::{Metrics, Options, Store, Uuid, segment, wal};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_READ_ONLY_DIR";
const CHILD_TEST: &str = "reader_child_reads_everything";
const PREFIX: &str = "reader: ";

const MODEL: &str = "m";
const FLUSHED: u64 = 300;
const IN_LOG: u64 = 200;
const ORPHANS: u64 = 3;
const T0: i64 = 1_700_000_000_000;

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0x1eaf_u128 << 112 | u128::from(n))
}

/// The reader process: opens the view, reads every kind of record, refreshes, and prints
/// what it read.
#[test]
fn reader_child_reads_everything() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let reader = Store::open_read_only(&dir).unwrap();
    let mut summary = String::new();
    for _ in 0..3 {
        let rows = reader.read_metrics(MODEL, i64::MIN, i64::MAX).unwrap();
        let labelled = rows.filter(|row| !row.as_ref().unwrap().delayed.is_empty());
        let orphans = reader.orphaned_delayed_metrics().unwrap().len();
        let aggregates = reader
            .read_aggregate_metrics(MODEL, 0, 1_000)
            .unwrap()
            .len();
        let found = reader.lookup(uuid(FLUSHED + 1)).unwrap().is_some();
        summary = format!("{} {orphans} {aggregates} {found}", labelled.count());
        reader.refresh().unwrap();
    }
    let rows = reader.read_metrics(MODEL, i64::MIN, i64::MAX).unwrap();
    println!("{PREFIX}{} {summary}", rows.count());
}

/// Size, modification time and CRC-32 of the contents of each file, by name.
type Fingerprint = BTreeMap<String, (u64, i64, i64, u32)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let crc = crc32fast::hash(&fs::read(entry.path()).unwrap());
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, (meta.len(), meta.mtime(), meta.mtime_nsec(), crc))
        })
        .collect()
}

/// Writes a store and returns a copy of its directory as the writer leaves it when killed,
/// plus the files a writer's open would remove or change.
fn killed_writer_image(root: &Path) -> PathBuf {
    let dir = root.join("store");
    let options = Options::default()
        .flush_interval(Duration::ZERO)
        .head_size_bytes(1 << 30)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE);
    let store = Store::open_with(&dir, options).unwrap();
    let track = |n: u64| {
        let metrics = Metrics::new()
            .with("n", n as i64)
            .with("blob", vec![7u8; 500]);
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64, &metrics)
            .unwrap();
    };
    let label = |n: u64| Metrics::new().with("label", n.is_multiple_of(2));
    (0..FLUSHED).for_each(track);
    for n in (0..FLUSHED).step_by(2) {
        store.track_delayed_metrics(uuid(n), T0, &label(n)).unwrap();
    }
    store
        .track_aggregate_metrics(MODEL, 0, 1_000, &Metrics::new().with("auc", 0.7))
        .unwrap();
    store.flush().unwrap();
    (FLUSHED..FLUSHED + IN_LOG).for_each(track);
    for n in (FLUSHED..FLUSHED + IN_LOG).step_by(2) {
        store.track_delayed_metrics(uuid(n), T0, &label(n)).unwrap();
    }
    for n in 0..ORPHANS {
        store
            .track_delayed_metrics(uuid(1 << 40 | n), T0, &label(n))
            .unwrap();
    }

    let image = root.join("image");
    fs::create_dir(&image).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), image.join(entry.file_name())).unwrap();
        }
    }
    add_crash_leftovers(&image);
    image
}

/// Adds a torn frame after the last frame of the log, a log file without a header, a segment
/// that the manifest does not list and a temporary manifest.
fn add_crash_leftovers(image: &Path) {
    let numbers = wal::Wal::file_numbers(image).unwrap();
    let last = *numbers.last().unwrap();
    let log = image.join(wal::wal_file_name(last));
    let frames = wal::read_file(&log).unwrap().frames;
    let frame = frames.last().unwrap();
    let end = frame.offset + 8 + frame.payload_len as u64;
    let file = fs::OpenOptions::new().write(true).open(&log).unwrap();
    file.write_all_at(&[0x5a; 64], end).unwrap();
    fs::write(image.join(wal::wal_file_name(last + 1)), vec![0u8; 4096]).unwrap();
    let stray = image.join(segment::segment_file_name(1_000));
    fs::copy(image.join(segment::segment_file_name(1)), stray).unwrap();
    fs::write(image.join("MANIFEST.tmp"), b"half a manifest").unwrap();
}

#[test]
fn read_only_view_changes_no_file() {
    let root = tempfile::tempdir().unwrap();
    let image = killed_writer_image(root.path());
    let before = fingerprint(&image);

    let reader = child::spawn(
        CHILD_TEST,
        &[(CHILD_DIR_VAR, image.display().to_string())],
        PREFIX,
    );
    let line = reader.lines.recv_timeout(Duration::from_secs(60)).unwrap();
    let (status, stderr) = reader.wait();
    assert!(status.success(), "reader: {status}: {stderr}");
    let predictions = FLUSHED + IN_LOG;
    let labelled = predictions / 2;
    assert_eq!(line, format!("{predictions} {labelled} {ORPHANS} 1 true"));
    assert_eq!(
        fingerprint(&image),
        before,
        "the read-only view changed the directory"
    );
    assert!(!image.join("LOCK").exists());

    // A writer's open of the same directory removes and rewrites files, which the comparison
    // above would have caught.
    Store::open(&image).unwrap().close().unwrap();
    assert_ne!(fingerprint(&image), before);
}
