//! Writers, flushes with their index merges, compactions with capped runs and filtered index
//! runs, readers and duplicate checks all run at once, and `close` races the last flushes and
//! compactions. During the race a prediction that a call acknowledged is always found by
//! `lookup` and by a window read, once, and tracking it again always fails as a duplicate.
//! After a new open every prediction is there once with its delayed metric, and the index
//! runs of the manifest point only into live segments and hold one entry per prediction.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::index::IndexRun;
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

const MODEL: &str = "race";
const WRITERS: u64 = 2;
const PER_WRITER: u64 = 8_000;
/// Predictions a writer tracks after a prediction before it tracks that one's delayed metric.
const LABEL_LAG: u64 = 3;
const DAY_MS: i64 = 86_400_000;
/// Predictions per day of data time, so the writes span several partitions.
const PER_DAY: u64 = 2_000;
const T0: i64 = 1_700_000_000_000;
/// Time after which a thread that has not returned counts as hung.
const HANG: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .compaction(Compaction {
            // The test calls `compact` itself, from a thread of its own.
            enabled: false,
            // Small, so merges write several capped runs and leave mixed index runs.
            target_segment_bytes: 48 << 10,
            partition: Duration::from_secs(86_400),
            ..Compaction::default()
        })
}

fn uuid(writer: u64, n: u64) -> Uuid {
    Uuid::from_u128(
        0x7ace_0000_0000_4000_8000_0000_0000_0000 | u128::from(writer) << 32 | u128::from(n),
    )
}

fn timestamp(writer: u64, n: u64) -> i64 {
    T0 + (n / PER_DAY) as i64 * DAY_MS + (n % PER_DAY) as i64 * 1000 + writer as i64
}

fn metrics(writer: u64, n: u64) -> Metrics {
    Metrics::new()
        .with("writer", writer as i64)
        .with("n", n as i64)
        .with("score", (n % 97) as f64 / 97.0)
}

/// Predictions acknowledged so far, as (writer, n).
type Acked = Arc<Mutex<Vec<(u64, u64)>>>;

fn write_all(store: &Store, writer: u64, acked: &Acked) {
    for n in 0..PER_WRITER {
        store
            .track_metrics(
                MODEL,
                uuid(writer, n),
                timestamp(writer, n),
                &metrics(writer, n),
            )
            .unwrap();
        acked.lock().unwrap().push((writer, n));
        if let Some(labelled) = n.checked_sub(LABEL_LAG) {
            let label = Metrics::new().with("label", labelled as i64);
            let ts = timestamp(writer, labelled) + 1;
            store
                .track_delayed_metrics(uuid(writer, labelled), ts, &label)
                .unwrap();
        }
    }
}

/// Checks one acknowledged prediction by lookup and by tracking it again.
fn check_acked(store: &Store, writer: u64, n: u64) {
    let found = store.lookup(uuid(writer, n)).unwrap();
    let found = found.unwrap_or_else(|| panic!("acked prediction {writer}/{n} not found"));
    assert_eq!(found.timestamp_ms, timestamp(writer, n), "{writer}/{n}");
    let again = store.track_metrics(MODEL, uuid(writer, n), 0, &Metrics::new().with("n", 0i64));
    assert!(
        matches!(again, Err(Error::DuplicatePrediction { .. })),
        "acked prediction {writer}/{n} tracked twice: {again:?}"
    );
}

/// Reads the whole model and checks that each UUID appears once and that every prediction
/// acknowledged before the read is in it.
fn check_window(store: &Store, acked: &Acked) {
    let before: Vec<(u64, u64)> = acked.lock().unwrap().clone();
    let rows = store
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.uuid), "{} read twice", row.uuid);
    }
    for (writer, n) in before {
        assert!(
            seen.contains(&uuid(writer, n)),
            "acked {writer}/{n} missing from a read"
        );
    }
}

/// Runs `step` until `stop` is set. Errors other than `Closed` fail the test.
fn repeat(stop: &AtomicBool, name: &str, step: impl Fn() -> modelmetrics::Result<()>) {
    while !stop.load(Ordering::SeqCst) {
        match step() {
            Ok(()) | Err(Error::Closed) => {}
            Err(e) => panic!("{name} failed: {e}"),
        }
    }
}

fn check_runs(dir: &Path, predictions: u64) {
    let manifest = Manifest::load(dir).unwrap().unwrap();
    let live: HashSet<u64> = manifest.segments.iter().copied().collect();
    let mut entries = 0;
    for &id in &manifest.index_runs {
        let run = IndexRun::open(dir, id).unwrap();
        for segment in run.segments() {
            assert!(
                live.contains(segment),
                "run {id} points into gone segment {segment}"
            );
        }
        entries += run.info().entries;
    }
    assert_eq!(
        entries, predictions,
        "index entries of {:?}",
        manifest.index_runs
    );
}

fn check_reopened(dir: &Path) {
    let store = Store::open_with(dir, options()).unwrap();
    let rows = store
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(rows.len() as u64, WRITERS * PER_WRITER);
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(
            seen.insert(row.uuid),
            "{} read twice after reopen",
            row.uuid
        );
        let writer = row.metrics.get("writer").cloned();
        let n = row.metrics.get("n").cloned();
        let (Some(modelmetrics::Value::I64(writer)), Some(modelmetrics::Value::I64(n))) =
            (writer, n)
        else {
            panic!("row {} lost its metrics: {:?}", row.uuid, row.metrics);
        };
        assert_eq!(row.uuid, uuid(writer as u64, n as u64));
        if (n as u64) + LABEL_LAG < PER_WRITER {
            let label = row.delayed.get("label").cloned();
            assert_eq!(
                label,
                Some(modelmetrics::Value::I64(n)),
                "label of {writer}/{n}"
            );
        }
    }
    store.compact().unwrap();
    check_runs(dir, WRITERS * PER_WRITER);
    for writer in 0..WRITERS {
        for n in (0..PER_WRITER).step_by(37) {
            check_acked(&store, writer, n);
        }
    }
    store.close().unwrap();
}

#[test]
fn acked_predictions_survive_close_race() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let acked: Acked = Arc::default();
    let writing = Arc::new(AtomicBool::new(true));
    let closing = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let steps = Arc::new(AtomicU32::new(0));
    let mut background = Vec::new();
    for kind in ["flush", "compact"] {
        let (store, closing) = (Arc::clone(&store), Arc::clone(&closing));
        let steps = Arc::clone(&steps);
        background.push(thread::spawn(move || match kind {
            "flush" => repeat(&closing, kind, || store.flush()),
            _ => repeat(&closing, kind, || {
                let done = store.compact()?;
                steps.fetch_add(done, Ordering::SeqCst);
                Ok(())
            }),
        }));
    }
    let checker = {
        let (store, acked, writing) =
            (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&writing));
        thread::spawn(move || {
            let mut round = 0u64;
            while writing.load(Ordering::SeqCst) {
                let picked = {
                    let acked = acked.lock().unwrap();
                    acked
                        .get((round * 7919) as usize % acked.len().max(1))
                        .copied()
                };
                if let Some((writer, n)) = picked {
                    check_acked(&store, writer, n);
                }
                if round.is_multiple_of(50) {
                    check_window(&store, &acked);
                }
                round += 1;
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, acked) = (Arc::clone(&store), Arc::clone(&acked));
            thread::spawn(move || write_all(&store, writer, &acked))
        })
        .collect();
    for handle in writers {
        handle.join().unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    checker.join().unwrap();
    check_window(&store, &acked);

    // Close while the flush and compaction threads still call in.
    store.close().unwrap();
    closing.store(true, Ordering::SeqCst);
    for handle in background {
        handle.join().unwrap();
    }
    assert!(
        started.elapsed() < HANG,
        "the race took {:?}",
        started.elapsed()
    );
    let steps = steps.load(Ordering::SeqCst);
    assert!(
        steps >= 3,
        "only {steps} compaction steps ran during the race"
    );
    let again = store.track_metrics(MODEL, uuid(9, 0), T0, &metrics(9, 0));
    assert!(
        matches!(again, Err(Error::Closed)),
        "write after close: {again:?}"
    );
    drop(store);
    check_reopened(dir.path());
}
