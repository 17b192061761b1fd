//! Views of a store that a `Store` in this test writes to, and of copies of its directory with
//! torn, damaged or missing files.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::options::Options;
use crate::value::Metrics;
use crate::wal::{self, Wal};

const MODEL: &str = "m";
const T0: i64 = 1_700_000_000_000;
const ALL_START: i64 = i64::MIN;
const ALL_END: i64 = i64::MAX;

/// Options under which only `flush` moves records out of the log, and log files are small.
fn manual_flush() -> Options {
    Options::default()
        .flush_interval(Duration::ZERO)
        .head_size_bytes(1 << 30)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0xabcd_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// Tracks predictions `range` with a 1 KiB payload each, so that a log file takes about 60.
fn track(store: &Store, range: std::ops::Range<u64>) {
    for n in range {
        let metrics = Metrics::new()
            .with("n", n as i64)
            .with("payload", vec![n as u8; 1024]);
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64, &metrics)
            .unwrap();
    }
}

fn label(store: &Store, n: u64) {
    let metrics = Metrics::new().with("label", n.is_multiple_of(2));
    store.track_delayed_metrics(uuid(n), T0, &metrics).unwrap();
}

/// Returns the `n` metric of every prediction of the view, in timestamp order.
fn numbers(reader: &ReadOnlyStore) -> Vec<i64> {
    let rows = reader.read_metrics(MODEL, ALL_START, ALL_END).unwrap();
    rows.map(|row| match row.unwrap().metrics.get("n") {
        Some(crate::Value::I64(n)) => *n,
        other => panic!("metric n is {other:?}"),
    })
    .collect()
}

fn expected(range: std::ops::Range<u64>) -> Vec<i64> {
    range.map(|n| n as i64).collect()
}

/// Copies every file of `from` except `LOCK` into a new directory, which is what a killed
/// writer would leave. Returns the directory and the guard that deletes it.
fn image_of(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("image");
    fs::create_dir(&image).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), image.join(entry.file_name())).unwrap();
        }
    }
    (root, image)
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    Wal::file_numbers(dir)
        .unwrap()
        .into_iter()
        .map(|n| dir.join(wal::wal_file_name(n)))
        .collect()
}

/// Writes `bytes` at `offset` of the file at `path`.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn read_only_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ReadOnlyStore>();
}

#[test]
fn open_of_empty_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let result = Store::open_read_only(dir.path());
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{:?}",
        result.err()
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn open_of_missing_directory_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-store");
    let result = Store::open_read_only(&missing);
    assert!(
        matches!(result, Err(Error::Io { .. })),
        "{:?}",
        result.err()
    );
    assert!(!missing.exists());
}

#[test]
fn view_joins_segments_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..10);
    store.flush().unwrap();
    track(&store, 10..15);
    label(&store, 3);
    label(&store, 12);
    store
        .track_delayed_metrics(uuid(99), T0, &Metrics::new().with("label", true))
        .unwrap();
    store
        .track_aggregate_metrics(MODEL, 0, 10, &Metrics::new().with("auc", 0.5))
        .unwrap();

    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(numbers(&reader), expected(0..15));
    let three = reader.lookup(uuid(3)).unwrap().unwrap();
    assert_eq!(three.delayed.get("label"), Some(&crate::Value::Bool(false)));
    let twelve = reader.lookup(uuid(12)).unwrap().unwrap();
    assert_eq!(twelve.delayed.get("label"), Some(&crate::Value::Bool(true)));
    let orphans = reader.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].uuid, uuid(99));
    let aggregates = reader.read_aggregate_metrics(MODEL, 0, 10).unwrap();
    assert_eq!(aggregates.len(), 1);
}

#[test]
fn view_reads_columns_as_writer_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..10);
    label(&store, 3);
    store.flush().unwrap();
    track(&store, 10..15);
    label(&store, 12);

    let reader = Store::open_read_only(dir.path()).unwrap();
    let window = (ALL_START, ALL_END);
    let viewed = reader
        .read_columns(MODEL, window, &["n"], &["label"])
        .unwrap();
    let written = store
        .read_columns(MODEL, window, &["n"], &["label"])
        .unwrap();
    assert_eq!(viewed, written);
    assert_eq!(viewed.len(), 15);
    let numbers: Vec<i64> = (0..15).collect();
    assert_eq!(viewed.metrics[0].as_i64(), Some(&numbers[..]));
    let labelled: Vec<usize> = (0..15)
        .filter(|&row| viewed.delayed[0].is_present(row))
        .collect();
    assert_eq!(labelled, [3, 12]);

    let error = reader.read_columns("", window, &["n"], &[]).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
}

#[test]
fn refresh_adds_records_tracked_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..5);
    let reader = Store::open_read_only(dir.path()).unwrap();
    let before = reader.read_metrics(MODEL, ALL_START, ALL_END).unwrap();
    track(&store, 5..200);
    assert_eq!(numbers(&reader), expected(0..5));

    reader.refresh().unwrap();
    assert_eq!(numbers(&reader), expected(0..200));
    assert_eq!(before.count(), 5, "a read started before the refresh");
    let view = reader.view.read();
    assert!(
        view.cursor.file > 1,
        "200 KiB of records fill several log files"
    );
}

#[test]
fn refresh_after_flush_keeps_open_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..10);
    store.flush().unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    let first = Arc::clone(reader.view.read().segments.values().next().unwrap());
    track(&store, 10..20);
    store.flush().unwrap();

    reader.refresh().unwrap();
    let view = reader.view.read();
    assert_eq!(view.segments.len(), 2);
    let kept = view.segments.values().next().unwrap();
    assert!(Arc::ptr_eq(kept, &first));
    drop(view);
    assert_eq!(numbers(&reader), expected(0..20));
}

#[test]
fn orphan_adopted_after_refresh_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    label(&store, 7);
    store.flush().unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.orphaned_delayed_metrics().unwrap().len(), 1);
    track(&store, 7..8);
    store.flush().unwrap();

    reader.refresh().unwrap();
    assert!(reader.orphaned_delayed_metrics().unwrap().is_empty());
    let seven = reader.lookup(uuid(7)).unwrap().unwrap();
    assert_eq!(seven.delayed.get("label"), Some(&crate::Value::Bool(false)));
}

#[test]
fn view_survives_deletion_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    for round in 0..4 {
        track(&store, round * 10..round * 10 + 10);
        store.flush().unwrap();
    }
    track(&store, 40..50);
    let reader = Store::open_read_only(dir.path()).unwrap();
    let rows = reader.read_metrics(MODEL, ALL_START, ALL_END).unwrap();
    let mut files: Vec<PathBuf> = log_files(dir.path());
    let view = reader.view.read();
    files.extend(view.index.runs().iter().map(|run| run.path().to_path_buf()));
    drop(view);
    assert_eq!(files.len(), 5, "one log file and 4 index runs");

    // The fifth run of one size makes the flush merge all five and delete the four.
    track(&store, 50..60);
    store.flush().unwrap();
    for path in &files {
        assert!(!path.exists(), "{} still exists", path.display());
    }
    assert_eq!(rows.count(), 50);
    assert!(reader.lookup(uuid(5)).unwrap().is_some());
    assert!(reader.lookup(uuid(45)).unwrap().is_some());
    reader.refresh().unwrap();
    assert_eq!(numbers(&reader), expected(0..60));
}

#[test]
fn torn_frame_ends_view_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..20);
    let (_root, image) = image_of(dir.path());
    let log = log_files(&image).pop().unwrap();
    let contents = wal::read_file(&log).unwrap();
    let last = contents.frames.last().unwrap();
    let frame_end = last.offset + 8 + last.payload_len as u64;
    let original = fs::read(&log).unwrap();
    let torn_frame = original[last.offset as usize..frame_end as usize].to_vec();
    write_at(&log, last.offset, &vec![0; torn_frame.len()]);
    write_at(&log, last.offset, &torn_frame[..torn_frame.len() / 2]);
    let torn = fs::read(&log).unwrap();

    let reader = Store::open_read_only(&image).unwrap();
    assert_eq!(numbers(&reader), expected(0..19));
    assert_eq!(fs::read(&log).unwrap(), torn, "the reader changed the log");

    write_at(&log, last.offset, &torn_frame);
    reader.refresh().unwrap();
    assert_eq!(numbers(&reader), expected(0..20));
}

#[test]
fn new_log_file_without_header_is_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..5);
    let (_root, image) = image_of(dir.path());
    let next = log_files(&image).len() as u64 + 1;
    let created = image.join(wal::wal_file_name(next));
    fs::write(&created, vec![0u8; 4096]).unwrap();

    let reader = Store::open_read_only(&image).unwrap();
    assert_eq!(numbers(&reader), expected(0..5));
    fs::write(&created, b"").unwrap();
    reader.refresh().unwrap();
    assert_eq!(numbers(&reader), expected(0..5));
}

#[test]
fn damage_before_later_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..200);
    let (_root, image) = image_of(dir.path());
    let first = log_files(&image).remove(0);
    let frame = wal::read_file(&first).unwrap().frames[3].clone();
    write_at(&first, frame.offset + 12, &[0xff; 4]);

    let result = Store::open_read_only(&image);
    match result {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file.canonicalize().unwrap(), first.canonicalize().unwrap());
            assert_eq!(offset, frame.offset);
        }
        other => panic!("expected corruption, got {:?}", other.err()),
    }
}

#[test]
fn nonzero_tail_before_later_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..200);
    let (_root, image) = image_of(dir.path());
    let first = log_files(&image).remove(0);
    let frame = wal::read_file(&first).unwrap().frames.pop().unwrap();
    let frame_end = frame.offset + 8 + frame.payload_len as u64;
    let file_len = fs::metadata(&first).unwrap().len();
    write_at(&first, file_len - 1, &[1]);

    let result = Store::open_read_only(&image);
    match result {
        Err(Error::Corruption { offset, reason, .. }) => {
            assert_eq!(offset, frame_end);
            assert!(
                reason.contains(&format!("byte {}", file_len - 1)),
                "{reason}"
            );
        }
        other => panic!("expected corruption, got {:?}", other.err()),
    }
}

#[test]
fn missing_segment_fails_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..5);
    store.flush().unwrap();
    let (_root, image) = image_of(dir.path());
    let segment = image.join(crate::segment::segment_file_name(1));
    fs::remove_file(&segment).unwrap();

    let started = Instant::now();
    let result = Store::open_read_only(&image);
    let Err(error) = result else {
        panic!("open succeeded without a segment");
    };
    assert!(error.to_string().contains("seg-"), "{error}");
    assert!(error.to_string().contains("Store::open"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn failed_refresh_keeps_previous_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), manual_flush()).unwrap();
    track(&store, 0..5);
    let (_root, image) = image_of(dir.path());
    let reader = Store::open_read_only(&image).unwrap();
    fs::remove_file(image.join(wal::wal_file_name(1))).unwrap();

    assert!(reader.refresh().is_err());
    assert_eq!(numbers(&reader), expected(0..5));
}
