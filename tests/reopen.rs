//! Closing and opening a store: a reopen keeps everything, close empties the log, and a
//! directory has one open store at a time.

mod support;

use std::fs;
use std::path::Path;

use modelmetrics::{Aggregate, Error, Metrics, OrphanedDelayed, Prediction, Store};
use support::{aggregates_all, files_with_prefix, metric, read_all, uuid};

const T0: i64 = 1_700_000_000_000;
const MODELS: [&str; 2] = ["alpha", "beta"];

/// Everything a store returns: predictions and aggregates of each model, and orphans.
#[derive(Debug, PartialEq)]
struct Contents {
    predictions: Vec<Vec<Prediction>>,
    aggregates: Vec<Vec<Aggregate>>,
    orphans: Vec<OrphanedDelayed>,
}

fn contents(store: &Store) -> Contents {
    Contents {
        predictions: MODELS.iter().map(|m| read_all(store, m)).collect(),
        aggregates: MODELS.iter().map(|m| aggregates_all(store, m)).collect(),
        orphans: store.orphaned_delayed_metrics().unwrap(),
    }
}

/// Tracks predictions, delayed metrics, aggregates and orphans, with a flush in between so
/// that part of them is in a segment and part in the head.
fn populate(store: &Store) {
    for n in 0..600u128 {
        let model = MODELS[(n % 2) as usize];
        let metrics = Metrics::new().with("score", n as f64 / 7.0).with(
            "segment",
            ["retail", "corporate", "public"][(n % 3) as usize],
        );
        store
            .track_metrics(model, uuid(n), T0 + (n as i64 * 37) % 1000, &metrics)
            .unwrap();
        if n == 300 {
            store.flush().unwrap();
        }
    }
    for n in (0..600u128).step_by(5) {
        store
            .track_delayed_metrics(uuid(n), T0 + 5000, &metric("label", n % 2 == 0))
            .unwrap();
    }
    store
        .track_delayed_metrics(uuid(10_000), T0, &metric("label", true))
        .unwrap();
    store.flush().unwrap();
    store
        .track_delayed_metrics(uuid(10_001), T0, &metric("label", false))
        .unwrap();
    store
        .track_delayed_metrics(uuid(2), T0 + 6000, &metric("label", false))
        .unwrap();
    for (i, model) in MODELS.iter().enumerate() {
        let start = i as i64 * 100;
        store
            .track_aggregate_metrics(model, start, start + 100, &metric("auc", 0.5))
            .unwrap();
        store
            .track_aggregate_metrics(model, start, start + 50, &metric("auc", 0.6))
            .unwrap();
    }
}

fn assert_populated(found: &Contents) {
    let rows: usize = found.predictions.iter().map(Vec::len).sum();
    assert_eq!(rows, 600);
    let labelled = found
        .predictions
        .iter()
        .flatten()
        .filter(|p| !p.delayed.is_empty())
        .count();
    assert_eq!(labelled, 121);
    assert_eq!(found.aggregates.iter().map(Vec::len).sum::<usize>(), 4);
    let orphans: Vec<_> = found.orphans.iter().map(|o| o.uuid).collect();
    assert_eq!(orphans, [uuid(10_000), uuid(10_001)]);
}

#[test]
fn reopen_after_close_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    populate(&store);
    let before = contents(&store);
    assert_populated(&before);
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let after = contents(&store);
    assert_eq!(after, before);
    let found = store.lookup(uuid(2)).unwrap().unwrap();
    assert_eq!(found.delayed, metric("label", false));
}

#[test]
fn drop_without_close_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    populate(&store);
    let before = contents(&store);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(contents(&store), before);
}

#[test]
fn reopen_twice_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    populate(&store);
    let before = contents(&store);
    drop(store);
    for _ in 0..2 {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(contents(&store), before);
    }
}

#[test]
fn close_twice_returns_ok() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("m", uuid(1), T0, &Metrics::new())
        .unwrap();
    assert!(store.close().is_ok());
    assert!(store.close().is_ok());
}

#[test]
fn calls_after_close_return_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.close().unwrap();
    let none = Metrics::new();
    let results = [
        (
            "track_metrics",
            store.track_metrics("m", uuid(1), T0, &none),
        ),
        (
            "track_delayed_metrics",
            store.track_delayed_metrics(uuid(1), T0, &none),
        ),
        (
            "track_aggregate_metrics",
            store.track_aggregate_metrics("m", 0, 1, &none),
        ),
        ("read_metrics", store.read_metrics("m", 0, 1).map(|_| ())),
        (
            "read_aggregate_metrics",
            store.read_aggregate_metrics("m", 0, 1).map(|_| ()),
        ),
        ("lookup", store.lookup(uuid(1)).map(|_| ())),
        (
            "orphaned_delayed_metrics",
            store.orphaned_delayed_metrics().map(|_| ()),
        ),
        ("flush", store.flush()),
        ("sync", store.sync()),
    ];
    for (call, result) in results {
        assert!(matches!(result, Err(Error::Closed)), "{call}: {result:?}");
    }
}

/// Returns the bytes of every log file after its header that are not zero.
fn logged_bytes(dir: &Path) -> usize {
    const HEADER_LEN: usize = 24;
    files_with_prefix(dir, "wal-")
        .iter()
        .map(|path| {
            let bytes = fs::read(path).unwrap();
            bytes.iter().skip(HEADER_LEN).filter(|&&b| b != 0).count()
        })
        .sum()
}

#[test]
fn close_leaves_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    populate(&store);
    store.sync().unwrap();
    assert!(
        logged_bytes(dir.path()) > 0,
        "the head's records are not in the log"
    );
    store.close().unwrap();
    let logs = files_with_prefix(dir.path(), "wal-");
    assert_eq!(logged_bytes(dir.path()), 0, "records left in {logs:?}");
}

#[test]
fn drop_leaves_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    populate(&store);
    drop(store);
    let logs = files_with_prefix(dir.path(), "wal-");
    assert_eq!(logged_bytes(dir.path()), 0, "records left in {logs:?}");
}

#[test]
fn second_open_reports_locked_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let second = Store::open(dir.path());
    let Err(error) = second else {
        panic!("a second store opened a directory that is open");
    };
    let text = error.to_string();
    assert!(matches!(&error, Error::Locked { .. }), "{error:?}");
    let pid = std::process::id().to_string();
    assert!(text.contains(&pid), "{text:?} does not name process {pid}");
    if let Error::Locked { holder, .. } = &error {
        assert!(holder.contains(&pid), "holder {holder:?}");
    }
    store
        .track_metrics("m", uuid(1), T0, &Metrics::new())
        .unwrap();
    assert_eq!(
        read_all(&store, "m").len(),
        1,
        "the first store stopped working"
    );
}

#[test]
fn open_after_drop_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("m", uuid(1), T0, &Metrics::new())
        .unwrap();
    assert!(Store::open(dir.path()).is_err());
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(read_all(&store, "m").len(), 1);
}

#[test]
fn close_releases_directory_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = modelmetrics::Store::open(dir.path()).unwrap();
    first.close().unwrap();
    let second = modelmetrics::Store::open(dir.path());
    assert!(
        second.is_ok(),
        "reopen after close failed: {:?}",
        second.err()
    );
    let closed = first.lookup(modelmetrics::Uuid::nil());
    assert!(matches!(closed, Err(modelmetrics::Error::Closed)));
}
