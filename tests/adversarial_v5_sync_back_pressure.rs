//! Durable writers (`Durability::Sync`) on many threads with the smallest head, which fills
//! every few calls. The background thread flushes it, a writer that finds it at twice its size
//! flushes it itself, and compaction and index merges run meanwhile. Every prediction UUID is
//! tried by two threads at once, through single calls, row batches and columnar batches, and
//! delayed metrics arrive for UUIDs that may be anywhere between the head and a segment.
//!
//! Exactly one of the two tries of a UUID may succeed, the other must fail with
//! `Error::DuplicatePrediction`, and the store must return each acknowledged prediction exactly
//! once with its label, before and after a reopen.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use modelmetrics::{
    Compaction, Durability, Error, MetricColumn, Metrics, NewPrediction, NewPredictionColumns,
    Options, Store, Uuid, Value,
};
use support::{read_all, uuid};

const MODEL: &str = "durable";
const T0: i64 = 1_700_000_000_000;
const THREADS: usize = 6;
/// UUIDs that each thread tries. The next thread tries each of them too.
const KEYS_PER_THREAD: usize = 1_500;
/// Bytes of payload per prediction: the head of 64 KiB fills every 200 or so rows.
const PAYLOAD: usize = 300;

fn options() -> Options {
    Options::default()
        .durability(Durability::Sync)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::from_millis(5))
        .compaction(Compaction {
            check_interval: Duration::from_millis(20),
            ..Compaction::default()
        })
}

/// Returns the key numbers that thread `thread` tries: its own range and the range of the
/// thread before it, interleaved so that both threads reach a key at about the same time.
fn keys_of(thread: usize) -> Vec<u128> {
    let own = thread * KEYS_PER_THREAD;
    let previous = ((thread + THREADS - 1) % THREADS) * KEYS_PER_THREAD;
    (0..KEYS_PER_THREAD)
        .flat_map(|i| [(own + i) as u128, (previous + i) as u128])
        .collect()
}

fn metrics(n: u128) -> Metrics {
    Metrics::new()
        .with("n", n as i64)
        .with("payload", vec![n as u8; PAYLOAD])
}

fn timestamp(n: u128) -> i64 {
    T0 + (n as i64 % 5_000) * 1_000
}

/// Tracks `keys` as the call of kind `kind` does, all or none.
fn track(store: &Store, keys: &[u128], kind: usize) -> modelmetrics::Result<()> {
    match (kind, keys) {
        (0, [n]) => store.track_metrics(MODEL, uuid(*n), timestamp(*n), &metrics(*n)),
        (1, _) => {
            let batch = keys.iter().map(|&n| NewPrediction {
                model: MODEL.into(),
                uuid: uuid(n),
                timestamp_ms: timestamp(n),
                metrics: metrics(n),
            });
            store.track_metrics_batch_owned(batch.collect())
        }
        _ => store.track_metrics_columns(NewPredictionColumns {
            model: MODEL.into(),
            uuids: keys.iter().map(|&n| uuid(n)).collect(),
            timestamps_ms: keys.iter().map(|&n| timestamp(n)).collect(),
            metrics: vec![
                (
                    "n".into(),
                    MetricColumn::I64(keys.iter().map(|&n| n as i64).collect()),
                ),
                (
                    "payload".into(),
                    MetricColumn::Bytes(keys.iter().map(|&n| vec![n as u8; PAYLOAD]).collect()),
                ),
            ],
        }),
    }
}

/// Keys that one writer tracked, and the UUIDs it labelled after a duplicate.
struct Outcome {
    acked: Vec<u128>,
    labelled: Vec<Uuid>,
}

/// Tries the keys of thread `thread` in calls of one to three keys. A call fails only because
/// another thread tracked one of its keys first; the writer then labels that prediction.
fn writer(store: &Store, thread: usize, start: &Barrier) -> Outcome {
    let keys = keys_of(thread);
    let mut acked = Vec::new();
    let mut labelled = Vec::new();
    start.wait();
    let mut at = 0;
    let mut call = thread;
    while at < keys.len() {
        let kind = call % 3;
        let len = if kind == 0 { 1 } else { 1 + call % 3 };
        let mut chunk: Vec<u128> = keys[at..(at + len).min(keys.len())].to_vec();
        // A batch may not name a UUID twice.
        chunk.sort_unstable();
        chunk.dedup();
        at += len;
        call += 1;
        match track(store, &chunk, kind) {
            Ok(()) => acked.extend(&chunk),
            Err(Error::DuplicatePrediction { uuid }) => {
                let named = chunk.iter().any(|&n| support::uuid(n) == uuid);
                assert!(
                    named,
                    "thread {thread}: duplicate {uuid} is not in {chunk:?}"
                );
                // Labels for a prediction of the other thread, stored or still in a head.
                let label = Metrics::new().with("label", thread as i64);
                store.track_delayed_metrics(uuid, T0, &label).unwrap();
                labelled.push(uuid);
            }
            Err(other) => panic!("thread {thread}: tracking {chunk:?} failed: {other}"),
        }
    }
    Outcome { acked, labelled }
}

fn check(store: &Store, acked: &HashMap<Uuid, usize>, labelled: &[Uuid], context: &str) {
    let rows = read_all(store, MODEL);
    let counts = adversarial::count_by_uuid(&rows);
    for (key, count) in &counts {
        assert_eq!(*count, 1, "{context}: {key} read {count} times");
        assert!(
            acked.contains_key(key),
            "{context}: {key} was never acknowledged"
        );
    }
    assert_eq!(rows.len(), acked.len(), "{context}: rows read");
    for row in &rows {
        let n = row.metrics.get("n").and_then(Value::as_i64);
        assert_eq!(
            n,
            Some(row.uuid.as_u128() as i64 & 0xffff_ffff),
            "{context}: {}",
            row.uuid
        );
    }
    let by_uuid: HashMap<Uuid, _> = rows.iter().map(|row| (row.uuid, row)).collect();
    for key in labelled {
        let row = by_uuid
            .get(key)
            .unwrap_or_else(|| panic!("{context}: {key} not read"));
        assert!(
            row.delayed.get("label").is_some(),
            "{context}: label of {key}"
        );
    }
    let mut scanned = 0;
    store
        .scan_metrics(MODEL, i64::MIN, i64::MAX, |_| scanned += 1)
        .unwrap();
    assert_eq!(scanned, rows.len(), "{context}: rows scanned");
}

#[test]
fn racing_durable_writers_track_each_uuid_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let start = Arc::new(Barrier::new(THREADS));
    let writers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || writer(&store, thread, &start))
        })
        .collect();
    let mut acked: HashMap<Uuid, usize> = HashMap::new();
    let mut labelled = Vec::new();
    for writer in writers {
        let outcome = writer.join().expect("a writer panicked");
        for n in outcome.acked {
            *acked.entry(uuid(n)).or_default() += 1;
        }
        labelled.extend(outcome.labelled);
    }
    let twice: Vec<_> = acked.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "UUIDs acknowledged twice: {twice:?}");
    let segments = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap()
        .segments
        .len();
    println!(
        "{} predictions acknowledged, {segments} segments",
        acked.len()
    );
    check(&store, &acked, &labelled, "open");
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(dir.path(), options()).unwrap();
    check(&store, &acked, &labelled, "reopened");
    for key in acked.keys().take(50) {
        let again = track(&store, &[key.as_u128() & 0xffff_ffff], 0);
        assert!(
            matches!(again, Err(Error::DuplicatePrediction { .. })),
            "{key} tracked again after reopen: {again:?}"
        );
    }
    store.close().unwrap();
}
