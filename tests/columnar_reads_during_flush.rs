//! Columnar batches tracked while small heads flush and the compaction thread merges, with
//! reads from other threads and from a read-only view of the same directory.
//!
//! Every read must contain each batch whole or not at all, and every batch acknowledged before
//! the read began. A batch that repeats a UUID of an earlier batch must fail with
//! `Error::DuplicatePrediction` and store none of its rows, whether the earlier batch is in
//! the head, in a head being flushed or in a segment.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use modelmetrics::{Error, MetricColumn, NewPredictionColumns, Options, Store, Uuid};
use support::{ALL_END, ALL_START};

const BATCHES: u64 = 400;
const ROWS: u64 = 16;
/// Bytes of the payload of each row, so that a head of the minimum size takes a few batches.
const PAYLOAD: usize = 600;
const HANG: Duration = Duration::from_secs(120);

fn uuid(batch: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(batch + 1, row)
}

fn batch_of(uuid: Uuid) -> u64 {
    (uuid.as_u64_pair().0) - 1
}

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

fn columns(batch: u64, uuids: Vec<Uuid>) -> NewPredictionColumns {
    let rows = uuids.len();
    NewPredictionColumns {
        model: "m".into(),
        uuids,
        timestamps_ms: vec![batch as i64; rows],
        metrics: vec![
            (
                "payload".into(),
                MetricColumn::Bytes(vec![vec![batch as u8; PAYLOAD]; rows]),
            ),
            ("score".into(), MetricColumn::F64(vec![batch as f64; rows])),
        ],
    }
}

fn new_batch(batch: u64) -> NewPredictionColumns {
    columns(batch, (0..ROWS).map(|row| uuid(batch, row)).collect())
}

/// Tracks a batch of new UUIDs and one earlier UUID, which must be rejected whole.
fn check_repeat(store: &Store, batch: u64, earlier: u64) {
    let repeated = uuid(earlier, ROWS - 1);
    let mut uuids: Vec<Uuid> = (0..ROWS).map(|row| uuid(batch, row)).collect();
    uuids.push(repeated);
    let result = store.track_metrics_columns(columns(batch, uuids));
    assert!(
        matches!(result, Err(Error::DuplicatePrediction { uuid }) if uuid == repeated),
        "batch {batch} repeating batch {earlier}: {result:?}"
    );
}

/// Tracks the batches and publishes the count acknowledged. Every 7th batch is first tried
/// with a UUID of an earlier batch.
fn write(store: &Store, acked: &AtomicU64) {
    for batch in 0..BATCHES {
        if batch > 0 && batch % 7 == 0 {
            check_repeat(store, batch, batch - 1);
            check_repeat(store, batch, batch / 2);
        }
        store.track_metrics_columns(new_batch(batch)).unwrap();
        acked.store(batch + 1, Ordering::Release);
    }
}

/// Checks that each batch in `uuids` is whole and that batches below `acked` are there.
fn check_read(uuids: impl Iterator<Item = Uuid>, acked: u64, what: &str) -> u64 {
    let mut rows: HashMap<u64, u64> = HashMap::new();
    for uuid in uuids {
        *rows.entry(batch_of(uuid)).or_default() += 1;
    }
    for (batch, count) in &rows {
        assert_eq!(*count, ROWS, "{what}: batch {batch} has {count} rows");
    }
    for batch in 0..acked {
        assert!(
            rows.contains_key(&batch),
            "{what}: acked batch {batch} missing"
        );
    }
    rows.len() as u64
}

fn read_store(store: &Store, acked: &AtomicU64, done: &AtomicBool) -> u64 {
    let mut reads = 0;
    while !done.load(Ordering::Acquire) {
        let before = acked.load(Ordering::Acquire);
        let read = store.read_metrics("m", ALL_START, ALL_END).unwrap();
        check_read(read.map(|p| p.unwrap().uuid), before, "read_metrics");
        let columns = store
            .read_columns("m", (ALL_START, ALL_END), &["score"], &[])
            .unwrap();
        check_read(columns.uuids.into_iter(), before, "read_columns");
        if before > 0 {
            let last = uuid(before - 1, ROWS - 1);
            let found = store.lookup(last).unwrap();
            assert!(found.is_some(), "lookup of batch {} missed", before - 1);
        }
        reads += 1;
    }
    reads
}

fn read_view(dir: &std::path::Path, acked: &AtomicU64, done: &AtomicBool) -> u64 {
    let view = Store::open_read_only(dir).unwrap();
    let mut seen = 0;
    while !done.load(Ordering::Acquire) {
        let before = acked.load(Ordering::Acquire);
        view.refresh().unwrap();
        let read = view.read_metrics("m", ALL_START, ALL_END).unwrap();
        let batches = check_read(read.map(|p| p.unwrap().uuid), before, "read-only view");
        assert!(
            batches >= seen,
            "the view went from {seen} to {batches} batches"
        );
        seen = batches;
    }
    seen
}

#[test]
fn reads_see_whole_batches() {
    run(false);
}

/// The same with a read-only view refreshed in a loop. Under CPU load, a refresh once read a
/// manifest, then found no log file at its `wal_start` because a flush had deleted it and no
/// append had created the next one, and so missed the batches of that file.
#[test]
fn view_sees_acked_batches() {
    run(true);
}

fn run(with_view: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    // A first batch makes the directory a store before the view opens it.
    store.track_metrics_columns(new_batch(BATCHES)).unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    let reader = {
        let (store, acked, done) = (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&done));
        thread::spawn(move || read_store(&store, &acked, &done))
    };
    let viewer = with_view.then(|| {
        let (acked, done) = (Arc::clone(&acked), Arc::clone(&done));
        let dir = dir.path().to_path_buf();
        thread::spawn(move || read_view(&dir, &acked, &done))
    });
    {
        let (store, acked) = (Arc::clone(&store), Arc::clone(&acked));
        thread::spawn(move || {
            write(&store, &acked);
            sender.send(()).unwrap();
        });
    }
    let written = receiver.recv_timeout(HANG);
    done.store(true, Ordering::Release);
    written.expect("the writer did not finish");
    assert!(reader.join().unwrap() > 0);
    if let Some(viewer) = viewer {
        assert!(viewer.join().unwrap() > 0);
    }

    let rows = store.read_metrics("m", ALL_START, ALL_END).unwrap().count() as u64;
    assert_eq!(rows, (BATCHES + 1) * ROWS);
    store.close().unwrap();
    let reopened = Store::open_with(dir.path(), options()).unwrap();
    let read = reopened.read_metrics("m", ALL_START, ALL_END).unwrap();
    check_read(read.map(|p| p.unwrap().uuid), BATCHES, "reopened");
}
