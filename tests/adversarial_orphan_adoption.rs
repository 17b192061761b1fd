//! Orphaned delayed metrics stored by two flushes, then adopted when their prediction is
//! flushed, then joined by later delayed metrics. Each value appears once, the latest tracked
//! value wins, and the orphans are no longer listed. The checks run with the prediction in the
//! head, after flushes, after a reopen, and in a crash image taken while the prediction was
//! only in the log.

mod support;

use modelmetrics::{Metrics, Options, Prediction, Store, Value};
use support::{ALL_END, ALL_START, copy_store, metric, uuid};

const MODEL: &str = "orphans";
const T0: i64 = 1_700_000_000_000;

fn options() -> Options {
    Options::default().wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// Reads the one prediction `n` through a window read and through a lookup, checks that both
/// agree and that the window contains it once, and returns it.
fn read_one(store: &Store, n: u128, context: &str) -> Prediction {
    let rows: Vec<Prediction> = store
        .read_metrics(MODEL, ALL_START, ALL_END)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let matching: Vec<&Prediction> = rows.iter().filter(|p| p.uuid == uuid(n)).collect();
    assert_eq!(matching.len(), 1, "{context}: rows of {n}");
    let looked_up = store.lookup(uuid(n)).unwrap().unwrap();
    assert_eq!(&looked_up, matching[0], "{context}: lookup and read differ");
    looked_up
}

fn assert_delayed(found: &Prediction, expected: &Metrics, context: &str) {
    assert_eq!(&found.delayed, expected, "{context}");
}

fn assert_no_orphans(store: &Store, context: &str) {
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "{context}: still listed {orphans:?}");
}

#[test]
fn orphans_from_two_flushes_adopted_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();

    // Two orphans of prediction 1, each flushed into its own segment.
    let first = Metrics::new().with("label", 1).with("source", "first");
    store.track_delayed_metrics(uuid(1), T0, &first).unwrap();
    store.flush().unwrap();
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", 2))
        .unwrap();
    store.flush().unwrap();
    let listed = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(listed.len(), 2, "orphans before the prediction");
    assert!(listed.iter().all(|o| o.uuid == uuid(1)));

    // The prediction arrives: joined from the head, then adopted by a flush.
    store
        .track_metrics(MODEL, uuid(1), T0, &metric("score", 0.5))
        .unwrap();
    let joined = Metrics::new().with("label", 2).with("source", "first");
    assert_delayed(&read_one(&store, 1, "prediction in head"), &joined, "head");
    assert_no_orphans(&store, "prediction in head");

    // A crash image while the prediction is only in the log.
    let image = root.path().join("image");
    copy_store(&dir, &image);

    store.flush().unwrap();
    assert_delayed(&read_one(&store, 1, "adopted"), &joined, "adopted");
    assert_no_orphans(&store, "adopted");

    // Later delayed metrics win over the adopted ones, across more flushes.
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", 3))
        .unwrap();
    let latest = Metrics::new().with("label", 3).with("source", "first");
    assert_delayed(&read_one(&store, 1, "third label in head"), &latest, "head");
    store.flush().unwrap();
    store
        .track_metrics(MODEL, uuid(2), T0 + 1, &metric("score", 0.1))
        .unwrap();
    store.flush().unwrap();
    assert_delayed(
        &read_one(&store, 1, "third label flushed"),
        &latest,
        "flushed",
    );
    assert_no_orphans(&store, "third label flushed");
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    assert_delayed(&read_one(&store, 1, "reopened"), &latest, "reopened");
    assert_no_orphans(&store, "reopened");
    assert_eq!(
        read_one(&store, 1, "reopened").metrics.get("score"),
        Some(&Value::F64(0.5))
    );
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(&image, options()).unwrap();
    assert_delayed(&read_one(&store, 1, "crash image"), &joined, "crash image");
    assert_no_orphans(&store, "crash image");
    store.flush().unwrap();
    assert_delayed(
        &read_one(&store, 1, "crash image flushed"),
        &joined,
        "image flushed",
    );
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(&image, options()).unwrap();
    assert_delayed(
        &read_one(&store, 1, "crash image reopened"),
        &joined,
        "image reopened",
    );
    assert_no_orphans(&store, "crash image reopened");
    store.close().unwrap();
}

#[test]
fn orphan_kept_when_rejection_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_delayed_metrics(uuid(5), T0, &metric("label", true))
        .unwrap();
    store.close().unwrap();
    drop(store);

    let strict = Options::default().reject_unknown_predictions(true);
    let store = Store::open_with(dir.path(), strict).unwrap();
    assert_eq!(store.orphaned_delayed_metrics().unwrap().len(), 1);
    let rejected = store.track_delayed_metrics(uuid(5), T0, &metric("label", false));
    assert!(
        rejected.is_err(),
        "delayed metrics for an unknown prediction accepted"
    );
    store
        .track_metrics(MODEL, uuid(5), T0, &metric("score", 1.0))
        .unwrap();
    let found = read_one(&store, 5, "strict store");
    assert_eq!(found.delayed, metric("label", true));
    store
        .track_delayed_metrics(uuid(5), T0, &metric("label", false))
        .expect("delayed metrics once the prediction is known");
    store.flush().unwrap();
    let found = read_one(&store, 5, "strict store flushed");
    assert_eq!(found.delayed, metric("label", false));
    assert_no_orphans(&store, "strict store flushed");
    store.close().unwrap();
}
