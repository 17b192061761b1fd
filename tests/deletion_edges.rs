//! Deletions at their edges: a UUID tracked again after its deletion, orphans of a deleted
//! prediction, a deleted model through compaction and a reopen, a closed store, an unknown
//! UUID, repeated deletions, and labels tracked after a deletion.

use std::time::Duration;

use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0xde1e_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn options() -> Options {
    Options::default()
        .flush_interval(Duration::from_secs(3600))
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

fn score(v: f64) -> Metrics {
    Metrics::new().with("score", v)
}

fn label(v: bool) -> Metrics {
    Metrics::new().with("label", v)
}

fn count(store: &Store, model: &str) -> usize {
    store
        .read_metrics(model, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .len()
}

/// A deleted UUID stays taken until compaction has removed the prediction: tracking it again
/// fails with `DuplicatePrediction` while reads hide it, and succeeds after `compact`.
fn retrack_after_purge(flush_first: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics("m", uuid(1), 10, &score(0.1)).unwrap();
    store
        .track_delayed_metrics(uuid(1), 11, &label(true))
        .unwrap();
    if flush_first {
        store.flush().unwrap();
    }
    store.delete_prediction(uuid(1)).unwrap();
    assert!(store.lookup(uuid(1)).unwrap().is_none());
    let early = store.track_metrics("m", uuid(1), 20, &score(0.2));
    assert!(
        matches!(early, Err(Error::DuplicatePrediction { .. })),
        "tracking a deleted UUID before the purge: {early:?}"
    );
    store.compact().unwrap();
    store.track_metrics("m", uuid(1), 20, &score(0.2)).unwrap();
    let again = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(again.timestamp_ms, 20);
    assert!(again.delayed.is_empty(), "the old label came back");
}

#[test]
fn deleted_uuid_is_free_after_purge_in_head() {
    retrack_after_purge(false);
}

#[test]
fn deleted_uuid_is_free_after_purge_when_flushed() {
    retrack_after_purge(true);
}

/// After the purge the UUID is free again, and the new prediction carries no old label.
#[test]
fn purged_uuid_tracked_again_unlabeled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics("m", uuid(1), 10, &score(0.1)).unwrap();
    store
        .track_delayed_metrics(uuid(1), 11, &label(true))
        .unwrap();
    store.flush().unwrap();
    store.delete_prediction(uuid(1)).unwrap();
    store.compact().unwrap();
    store.track_metrics("m", uuid(1), 20, &score(0.2)).unwrap();
    let found = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(found.timestamp_ms, 20);
    assert!(
        found.delayed.is_empty(),
        "old label came back: {:?}",
        found.delayed
    );
    store.flush().unwrap();
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(dir.path(), options()).unwrap();
    let found = store.lookup(uuid(1)).unwrap().unwrap();
    assert!(
        found.delayed.is_empty(),
        "old label came back: {:?}",
        found.delayed
    );
    assert_eq!(count(&store, "m"), 1);
}

/// Deleting a UUID that so far has only orphaned delayed metrics hides them; a prediction
/// tracked later under that UUID must not adopt them.
#[test]
fn deleted_orphans_are_not_adopted_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store
        .track_delayed_metrics(uuid(7), 5, &label(true))
        .unwrap();
    assert_eq!(store.orphaned_delayed_metrics().unwrap().len(), 1);
    store.delete_prediction(uuid(7)).unwrap();
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
    store.track_metrics("m", uuid(7), 6, &score(0.7)).unwrap();
    let found = store.lookup(uuid(7)).unwrap().unwrap();
    assert!(
        found.delayed.is_empty(),
        "deleted orphan adopted: {:?}",
        found.delayed
    );
    let rows = store
        .read_metrics("m", i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(
        rows[0].delayed.is_empty(),
        "deleted orphan joined: {:?}",
        rows[0].delayed
    );
}

/// The same with the orphan flushed before the deletion and the prediction flushed after it.
#[test]
fn deleted_flushed_orphans_are_not_adopted_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store
        .track_delayed_metrics(uuid(7), 5, &label(true))
        .unwrap();
    store.flush().unwrap();
    store.delete_prediction(uuid(7)).unwrap();
    store.track_metrics("m", uuid(7), 6, &score(0.7)).unwrap();
    store.flush().unwrap();
    let found = store.lookup(uuid(7)).unwrap().unwrap();
    assert!(
        found.delayed.is_empty(),
        "deleted orphan adopted: {:?}",
        found.delayed
    );
    store.compact().unwrap();
    let found = store.lookup(uuid(7)).unwrap().unwrap();
    assert!(
        found.delayed.is_empty(),
        "after compact: {:?}",
        found.delayed
    );
}

/// A deleted model stays deleted through compaction and a reopen, and what was tracked after
/// the deletion stays.
#[test]
fn deleted_model_survives_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    for n in 0..40u64 {
        store
            .track_metrics("gone", uuid(n), n as i64, &score(0.1))
            .unwrap();
        store
            .track_metrics("kept", uuid(1000 + n), n as i64, &score(0.1))
            .unwrap();
        if n % 10 == 9 {
            store.flush().unwrap();
        }
    }
    store
        .track_aggregate_metrics("gone", 0, 100, &score(1.0))
        .unwrap();
    store.delete_model("gone").unwrap();
    store
        .track_metrics("gone", uuid(500), 500, &score(0.5))
        .unwrap();
    assert_eq!(count(&store, "gone"), 1);
    store.compact().unwrap();
    assert_eq!(count(&store, "gone"), 1);
    assert_eq!(count(&store, "kept"), 40);
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(dir.path(), options()).unwrap();
    assert_eq!(count(&store, "gone"), 1);
    assert_eq!(count(&store, "kept"), 40);
    assert!(
        store
            .read_aggregate_metrics("gone", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    let manifest = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    assert!(manifest.deletions.is_empty(), "{:?}", manifest.deletions);
}

/// Deletion calls on a closed store return `Error::Closed`.
#[test]
fn deletion_on_closed_store_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.close().unwrap();
    assert!(matches!(
        store.delete_prediction(uuid(1)),
        Err(Error::Closed)
    ));
    assert!(matches!(store.delete_model("m"), Err(Error::Closed)));
}

/// Deleting an unknown UUID succeeds, changes nothing, and does not stay pending for ever.
#[test]
fn unknown_uuid_deletion_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics("m", uuid(1), 1, &score(0.1)).unwrap();
    store.flush().unwrap();
    store.delete_prediction(uuid(99)).unwrap();
    store.delete_model("never-tracked").unwrap();
    store.compact().unwrap();
    assert_eq!(count(&store, "m"), 1);
    let manifest = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    assert!(manifest.deletions.is_empty(), "{:?}", manifest.deletions);
}

/// Deleting the same prediction many times leaves one pending entry, not one per call.
#[test]
fn repeated_deletions_do_not_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics("m", uuid(1), 1, &score(0.1)).unwrap();
    for n in 0..50u64 {
        store
            .track_metrics("m", uuid(100 + n), 1, &score(0.1))
            .unwrap();
        store.delete_prediction(uuid(1)).unwrap();
    }
    let manifest = modelmetrics::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    assert!(
        manifest.deletions.len() <= 1,
        "{} pending deletions of one UUID",
        manifest.deletions.len()
    );
}

/// A label tracked after a deletion, for a prediction tracked after it under the deleted
/// UUID, is not covered by the deletion: the purge must keep it.
#[test]
fn purge_keeps_labels_tracked_after_the_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store
        .track_delayed_metrics(uuid(8), 5, &label(true))
        .unwrap();
    store.flush().unwrap();
    store.delete_prediction(uuid(8)).unwrap();
    store.track_metrics("m", uuid(8), 6, &score(0.8)).unwrap();
    let late = Metrics::new().with("late", 42i64);
    store.track_delayed_metrics(uuid(8), 7, &late).unwrap();
    store.flush().unwrap();
    let before = store.lookup(uuid(8)).unwrap().unwrap();
    assert_eq!(
        before.delayed.get("late"),
        Some(&42i64.into()),
        "before the purge"
    );
    store.compact().unwrap();
    let found = store
        .lookup(uuid(8))
        .unwrap()
        .expect("prediction tracked after deletion");
    assert_eq!(
        found.delayed.get("late"),
        Some(&42i64.into()),
        "label tracked after the deletion lost by the purge: {:?}",
        found.delayed
    );
}

/// Returns the orphaned delayed records of `uuid` as (UUID, label) pairs.
fn orphan_labels(store: &Store, uuid: Uuid) -> Vec<(Uuid, Option<modelmetrics::Value>)> {
    let orphans = store.orphaned_delayed_metrics().unwrap();
    let of_uuid = orphans.into_iter().filter(|o| o.uuid == uuid);
    of_uuid
        .map(|o| (o.uuid, o.metrics.get("label").cloned()))
        .collect()
}

/// A label tracked after its prediction was deleted outlives the prediction as an orphan: in
/// the head, after the flush, after a reopen, in a read-only view, after the compaction that
/// purges and merges, and after another reopen. The label tracked before the deletion stays
/// hidden.
#[test]
fn label_after_deletion_stays_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    for n in 0..4u64 {
        store
            .track_metrics("m", uuid(n), n as i64, &score(0.5))
            .unwrap();
        store.flush().unwrap();
    }
    store
        .track_delayed_metrics(uuid(2), 10, &label(false))
        .unwrap();
    store.delete_prediction(uuid(2)).unwrap();
    store
        .track_delayed_metrics(uuid(2), 11, &label(true))
        .unwrap();
    let expected = vec![(uuid(2), Some(true.into()))];
    assert_eq!(orphan_labels(&store, uuid(2)), expected, "in the head");
    store.flush().unwrap();
    assert_eq!(orphan_labels(&store, uuid(2)), expected, "after the flush");
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(dir.path(), options()).unwrap();
    assert_eq!(orphan_labels(&store, uuid(2)), expected, "after a reopen");
    let reader = Store::open_read_only(dir.path()).unwrap();
    let read_only: Vec<_> = reader
        .orphaned_delayed_metrics()
        .unwrap()
        .into_iter()
        .map(|o| (o.uuid, o.metrics.get("label").cloned()))
        .collect();
    assert_eq!(read_only, expected, "in a read-only view");
    store.compact().unwrap();
    assert!(store.lookup(uuid(2)).unwrap().is_none());
    assert_eq!(orphan_labels(&store, uuid(2)), expected, "after the purge");
    assert_eq!(count(&store, "m"), 3);
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(dir.path(), options()).unwrap();
    assert_eq!(
        orphan_labels(&store, uuid(2)),
        expected,
        "after the last reopen"
    );
}
