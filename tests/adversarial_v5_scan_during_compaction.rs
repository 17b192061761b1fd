//! `scan_metrics` on a `Store` and on a `ReadOnlyStore` while one writer tracks, flushes by
//! back-pressure, compacts and merges index runs, and finally closes the store under them.
//!
//! The writer tracks prediction `n` at timestamp `T0 + n` and then labels every third one, and
//! its score changes type every 50 predictions, so that columns turn mixed across segments and
//! the head. A scan of the whole range must then return a prefix of the tracked predictions in
//! order, each once and with its own values. On the read-only view, which changes only on
//! `refresh`, a scan must also equal `read_metrics` exactly. After `close`, scans of the store
//! fail with `Error::Closed` and nothing else, and the view keeps working.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Compaction, Error, Metrics, Prediction, ReadOnlyStore, Store, Value, ValueRef};
use support::{read_all, uuid};

const MODEL: &str = "live";
const T0: i64 = 1_700_000_000_000;
/// How long the writer runs before the store is closed under the readers.
const RUN_FOR: Duration = Duration::from_millis(1_000);
const SCANNERS: usize = 2;
/// Predictions after which the writer stops, so that scans stay short.
const MAX_PREDICTIONS: u64 = 20_000;

fn options() -> modelmetrics::Options {
    modelmetrics::Options::default()
        .head_size_bytes(modelmetrics::Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(modelmetrics::Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::from_millis(20))
        .compaction(Compaction {
            check_interval: Duration::from_millis(15),
            ..Compaction::default()
        })
}

fn score(n: u64) -> Value {
    match (n / 50) % 3 {
        0 => Value::F64(n as f64 / 4.0),
        1 => Value::I64(n as i64),
        _ => Value::Str(format!("s{n}")),
    }
}

fn track(store: &Store, n: u64) -> modelmetrics::Result<()> {
    let metrics = Metrics::new()
        .with("n", n as i64)
        .with("score", score(n))
        .with("pad", vec![7u8; 64]);
    store.track_metrics(MODEL, uuid(u128::from(n)), T0 + n as i64, &metrics)
}

/// Tracks up to `MAX_PREDICTIONS` predictions until `stop` is set or the store closes, and
/// returns how many it tracked. `acked` counts the predictions whose call returned.
fn writer(store: &Store, acked: &AtomicU64, stop: &AtomicBool) -> u64 {
    let mut n = 0;
    while !stop.load(Ordering::Acquire) && n < MAX_PREDICTIONS {
        match track(store, n) {
            Ok(()) => {}
            Err(Error::Closed) => break,
            Err(other) => panic!("tracking {n} failed: {other}"),
        }
        acked.store(n + 1, Ordering::Release);
        if n.is_multiple_of(3) {
            let label = Metrics::new().with("label", n.is_multiple_of(2));
            match store.track_delayed_metrics(uuid(u128::from(n)), T0 + n as i64, &label) {
                Ok(()) | Err(Error::Closed) => {}
                Err(other) => panic!("labelling {n} failed: {other}"),
            }
        }
        n += 1;
    }
    n
}

/// Checks that `rows` are predictions `0..rows.len()` in order with their own values, and that
/// there are at least `at_least` of them. Returns a description of the first problem.
fn prefix_problem(rows: &[Prediction], at_least: u64) -> Option<String> {
    if (rows.len() as u64) < at_least {
        return Some(format!(
            "{} rows, but {at_least} were acknowledged",
            rows.len()
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        let n = i as u64;
        if row.uuid != uuid(u128::from(n)) || row.timestamp_ms != T0 + n as i64 {
            return Some(format!("row {i} is {} at {}", row.uuid, row.timestamp_ms));
        }
        if row.metrics.get("n") != Some(&Value::I64(n as i64)) {
            return Some(format!("row {i} has n = {:?}", row.metrics.get("n")));
        }
        if row.metrics.get("score") != Some(&score(n)) {
            return Some(format!("row {i} has score {:?}", row.metrics.get("score")));
        }
        let label = row.delayed.get("label");
        let expected = n
            .is_multiple_of(3)
            .then_some(Value::Bool(n.is_multiple_of(2)));
        if label.is_some() && label != expected.as_ref() {
            return Some(format!("row {i} has label {label:?}"));
        }
    }
    None
}

fn scan_store(store: &Store) -> modelmetrics::Result<Vec<Prediction>> {
    let mut rows = Vec::new();
    let mut borrowed_mismatch = None;
    store.scan_metrics(MODEL, i64::MIN, i64::MAX, |row| {
        let n = row.metric("n").and_then(ValueRef::as_i64);
        if n != Some(row.timestamp_ms() - T0) && borrowed_mismatch.is_none() {
            borrowed_mismatch = Some(row.uuid());
        }
        rows.push(row.to_prediction());
    })?;
    assert_eq!(borrowed_mismatch, None, "borrowed metric n disagrees");
    Ok(rows)
}

/// Scans the store until it closes, and returns the number of scans.
fn store_scanner(store: &Store, acked: &AtomicU64) -> u64 {
    let mut scans = 0;
    loop {
        let before = acked.load(Ordering::Acquire);
        let rows = match scan_store(store) {
            Ok(rows) => rows,
            Err(Error::Closed) => return scans,
            Err(other) => panic!("scan {scans} failed: {other}"),
        };
        if let Some(problem) = prefix_problem(&rows, before) {
            panic!("scan {scans}: {problem}");
        }
        scans += 1;
    }
}

fn scan_view(view: &ReadOnlyStore) -> Vec<Prediction> {
    let mut rows = Vec::new();
    view.scan_metrics(MODEL, i64::MIN, i64::MAX, |row| {
        rows.push(row.to_prediction())
    })
    .unwrap();
    rows
}

/// Refreshes and scans the view until `done` is set and one more round has run after it.
/// Returns the number of refreshes that succeeded.
///
/// A refresh fails with `Error::Io` when the writer replaces files faster than it can open
/// them, and then keeps the previous view, so the round checks that view again. The last
/// refresh, after `close`, must succeed.
fn view_scanner(view: &ReadOnlyStore, done: &AtomicBool) -> u64 {
    let mut rounds = 0;
    let mut refreshed = 0;
    let mut last_len = 0;
    loop {
        let finished = done.load(Ordering::Acquire);
        match view.refresh() {
            Ok(()) => refreshed += 1,
            Err(Error::Io { .. }) if !finished => {}
            Err(other) => panic!("view round {rounds}: refresh failed: {other}"),
        }
        let scanned = scan_view(view);
        let read: Vec<Prediction> = view
            .read_metrics(MODEL, i64::MIN, i64::MAX)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(scanned, read, "view round {rounds}: scan and read disagree");
        if let Some(problem) = prefix_problem(&scanned, last_len) {
            panic!("view round {rounds}: {problem}");
        }
        last_len = scanned.len() as u64;
        rounds += 1;
        if finished {
            return refreshed;
        }
    }
}

#[test]
fn scans_see_a_prefix_through_compaction_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let view = Arc::new(Store::open_read_only(dir.path()).unwrap());
    let acked = Arc::new(AtomicU64::new(0));
    let (stop, closed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );

    let writing = {
        let (store, acked, stop) = (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&stop));
        thread::spawn(move || writer(&store, &acked, &stop))
    };
    let scanners: Vec<_> = (0..SCANNERS)
        .map(|_| {
            let (store, acked) = (Arc::clone(&store), Arc::clone(&acked));
            thread::spawn(move || store_scanner(&store, &acked))
        })
        .collect();
    let viewing = {
        let (view, closed) = (Arc::clone(&view), Arc::clone(&closed));
        thread::spawn(move || view_scanner(&view, &closed))
    };

    let started = Instant::now();
    while started.elapsed() < RUN_FOR {
        thread::sleep(Duration::from_millis(100));
        store.compact().unwrap();
    }
    store.close().unwrap();
    closed.store(true, Ordering::Release);
    stop.store(true, Ordering::Release);
    let tracked = writing.join().expect("the writer panicked");
    for scanner in scanners {
        let scans = scanner.join().expect("a store scanner panicked");
        assert!(scans > 0, "a scanner finished no scan");
    }
    let refreshed = viewing.join().expect("the view scanner panicked");
    println!("{tracked} predictions tracked, {refreshed} view refreshes");

    let final_view = scan_view(&view);
    assert_eq!(
        final_view.len() as u64,
        tracked,
        "rows in the view after close"
    );
    drop(store);
    let store = Store::open_with(dir.path(), options()).unwrap();
    let rows = read_all(&store, MODEL);
    assert_eq!(prefix_problem(&rows, tracked), None, "after reopen");
    assert_eq!(rows.len() as u64, tracked, "rows after reopen");
    let counts = adversarial::count_by_uuid(&rows);
    assert!(counts.values().all(|&count| count == 1), "duplicated rows");
    store.close().unwrap();
}

/// A scan holds no lock while it calls its visitor, so the visitor may track, flush and
/// compact on the same store. The scan returns the rows of the snapshot it took at its start.
#[test]
fn visitor_may_track_flush_and_compact() {
    const BEFORE: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    for n in 0..BEFORE {
        track(&store, n).unwrap();
    }
    let mut visited = 0;
    store
        .scan_metrics(MODEL, i64::MIN, i64::MAX, |row| {
            assert_eq!(row.timestamp_ms(), T0 + visited as i64, "row {visited}");
            track(&store, BEFORE + visited).unwrap();
            visited += 1;
            if visited % 1_000 == 0 {
                store.flush().unwrap();
                store.compact().unwrap();
            }
        })
        .unwrap();
    assert_eq!(visited, BEFORE, "rows visited");
    let rows = read_all(&store, MODEL);
    assert_eq!(prefix_problem(&rows, 2 * BEFORE), None);
    assert_eq!(rows.len() as u64, 2 * BEFORE, "rows after the scan");
}
