//! A read-only view follows a writer process that tracks predictions and their labels from
//! several threads while it flushes, merges index runs and deletes log files. At every refresh
//! the view contains each prediction once, a prefix of each thread's predictions, no fewer
//! records than before, and the label of every prediction whose thread tracked it. Once every
//! writer call has returned, the view contains every record, before and after the writer
//! closes.
//!
//! The test runs this test binary again as the writer: `writer_child_tracks_from_threads` does
//! nothing unless `CHILD_DIR_VAR` is set.

#[path = "support/child.rs"]
mod child;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Error, Metrics, Options, Prediction, ReadOnlyStore, Store, Uuid};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_READER_WRITER_DIR";
const CHILD_TEST: &str = "writer_child_tracks_from_threads";
const PREFIX: &str = "writer: ";

const MODEL: &str = "served";
const THREADS: u64 = 4;
const PER_THREAD: u64 = 2_000;
/// A thread labels prediction `i` right after it tracks prediction `i + LABEL_LAG`.
const LABEL_LAG: u64 = 3;
/// Each thread sleeps 1 ms after every this many predictions, so that the parent refreshes
/// many times while the writer runs.
const PAUSE_EVERY: u64 = 4;
const T0: i64 = 1_700_000_000_000;

fn uuid(thread: u64, i: u64) -> Uuid {
    Uuid::from_u128(0x7ead_u128 << 96 | u128::from(thread) << 32 | u128::from(i))
}

fn key(uuid: Uuid) -> (u64, u64) {
    let bits = uuid.as_u128();
    ((bits >> 32) as u64 & 0xffff_ffff, bits as u64 & 0xffff_ffff)
}

/// Returns the inline metrics of a prediction, in name order, the order reads return.
fn prediction_metrics(thread: u64, i: u64) -> Metrics {
    Metrics::new()
        .with("i", i as i64)
        .with("payload", vec![i as u8; 200])
        .with("thread", thread as i64)
}

fn label_metrics(i: u64) -> Metrics {
    Metrics::new().with("label", i.is_multiple_of(3))
}

/// Small head and log files, so that the writer flushes, merges and deletes files often.
fn writer_options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

fn track_thread(store: &Store, thread: u64) {
    for i in 0..PER_THREAD {
        let timestamp = T0 + (i * THREADS + thread) as i64;
        let metrics = prediction_metrics(thread, i);
        store
            .track_metrics(MODEL, uuid(thread, i), timestamp, &metrics)
            .unwrap();
        if let Some(labelled) = i.checked_sub(LABEL_LAG) {
            label(store, thread, labelled);
        }
        if i % PAUSE_EVERY == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    for labelled in PER_THREAD.saturating_sub(LABEL_LAG)..PER_THREAD {
        label(store, thread, labelled);
    }
}

fn label(store: &Store, thread: u64, i: u64) {
    store
        .track_delayed_metrics(uuid(thread, i), T0, &label_metrics(i))
        .unwrap();
}

/// The writer process: tracks from `THREADS` threads, prints `tracked`, then waits for the
/// end of stdin before it closes the store.
#[test]
fn writer_child_tracks_from_threads() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let store = Arc::new(Store::open_with(&dir, writer_options()).unwrap());
    println!("{PREFIX}open");
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || track_thread(&store, t))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    println!("{PREFIX}tracked");
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest);
    store.close().unwrap();
    println!("{PREFIX}closed");
}

/// What the previous refresh showed.
#[derive(Default)]
struct Seen {
    /// Predictions of each thread in the view.
    per_thread: Vec<u64>,
    refreshes: u64,
}

/// Checks one view against the rules in the file's doc and against the previous view.
fn check_view(reader: &ReadOnlyStore, seen: &mut Seen, context: &str) {
    let rows: Vec<Prediction> = reader
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut keys = HashSet::with_capacity(rows.len());
    let mut per_thread = vec![0u64; THREADS as usize];
    for row in &rows {
        let (thread, i) = key(row.uuid);
        assert!(keys.insert((thread, i)), "{context}: ({thread}, {i}) twice");
        assert_eq!(row.metrics, prediction_metrics(thread, i), "{context}");
        per_thread[thread as usize] += 1;
    }
    for row in &rows {
        let (thread, i) = key(row.uuid);
        let count = per_thread[thread as usize];
        assert!(
            i < count,
            "{context}: ({thread}, {i}) beyond a prefix of {count}"
        );
        // The thread tracked the label of `i` before its prediction `i + LABEL_LAG + 1`.
        if i + LABEL_LAG + 1 < count {
            assert_eq!(row.delayed, label_metrics(i), "{context}: ({thread}, {i})");
        } else {
            let ok = row.delayed.is_empty() || row.delayed == label_metrics(i);
            assert!(ok, "{context}: ({thread}, {i}) has {:?}", row.delayed);
        }
    }
    for (thread, (&now, &before)) in per_thread.iter().zip(&seen.per_thread).enumerate() {
        assert!(
            now >= before,
            "{context}: thread {thread} went from {before} to {now}"
        );
    }
    let orphans = reader.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "{context}: {} orphans", orphans.len());
    if let Some(row) = rows.get(rows.len() / 2) {
        let found = reader.lookup(row.uuid).unwrap();
        assert_eq!(found.as_ref(), Some(row), "{context}: lookup");
    }
    seen.per_thread = per_thread;
    seen.refreshes += 1;
}

/// Checks that the view contains every prediction with its label.
fn check_complete(reader: &ReadOnlyStore, context: &str) {
    let rows: Vec<Prediction> = reader
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len() as u64, THREADS * PER_THREAD, "{context}");
    for row in &rows {
        let (_, i) = key(row.uuid);
        assert_eq!(row.delayed, label_metrics(i), "{context}: {}", row.uuid);
    }
}

/// Opens the view once the writer has created the store.
fn open_reader(dir: &Path) -> ReadOnlyStore {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Store::open_read_only(dir) {
            Ok(reader) => return reader,
            Err(Error::InvalidInput { .. } | Error::Io { .. }) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("read-only open failed: {error}"),
        }
    }
}

fn segment_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            modelmetrics::segment::parse_segment_file_name(&name.to_string_lossy()).is_some()
        })
        .count()
}

#[test]
fn view_follows_writer_with_threads() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let writer = child::spawn(
        CHILD_TEST,
        &[(CHILD_DIR_VAR, dir.display().to_string())],
        PREFIX,
    );
    writer.expect_line("open", Duration::from_secs(30));

    let second = Store::open(&dir)
        .err()
        .expect("a second writer opened the store");
    let pid = writer.child.id().to_string();
    assert!(matches!(second, Error::Locked { .. }), "{second:?}");
    assert!(
        second.to_string().contains(&pid),
        "{second} does not name {pid}"
    );

    let reader = open_reader(&dir);
    let mut seen = Seen {
        per_thread: vec![0; THREADS as usize],
        refreshes: 0,
    };
    check_view(&reader, &mut seen, "at open");
    let mut tracked = false;
    while !tracked {
        tracked = writer.lines.try_recv().is_ok_and(|line| line == "tracked");
        reader.refresh().unwrap();
        let context = format!("refresh {}", seen.refreshes);
        check_view(&reader, &mut seen, &context);
        thread::sleep(Duration::from_millis(2));
    }
    let refreshes = seen.refreshes;
    println!("{refreshes} refreshes while the writer tracked");
    assert!(
        refreshes >= 10,
        "only {refreshes} refreshes while the writer ran"
    );
    assert!(
        segment_count(&dir) >= 5,
        "the writer flushed fewer than 5 times"
    );

    reader.refresh().unwrap();
    check_complete(&reader, "after every call returned");
    let (status, stderr) = writer.wait();
    assert!(status.success(), "writer: {status}: {stderr}");
    reader.refresh().unwrap();
    check_complete(&reader, "after the writer closed");
}
