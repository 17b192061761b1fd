//! Delayed metrics, deletions and roll-ups of predictions tracked as columns, in the head and
//! after a flush. Labels tracked before the batch must be adopted and labels tracked after it
//! must join it. A deleted row hides only itself, and a roll-up counts every row and label.

mod support;

use std::time::Duration;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewPredictionColumns, Options, Retention, RollupTier, Store,
    Uuid,
};
use support::{ALL_END, ALL_START, read_all};

const DAY: i64 = 86_400_000;
const ROWS: u128 = 6;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0xc01u128 << 100 | n)
}

fn options() -> Options {
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400))
        .then(RollupTier::every(Duration::from_secs(300)));
    Options::default().compaction(Compaction {
        enabled: false,
        partition: Duration::from_secs(86_400),
        retention,
        ..Compaction::default()
    })
}

/// Rows `first..first + ROWS` of model `m` at `timestamp_ms`.
fn batch(first: u128, timestamp_ms: i64) -> NewPredictionColumns {
    let rows = first..first + ROWS;
    NewPredictionColumns {
        model: "m".into(),
        uuids: rows.clone().map(uuid).collect(),
        timestamps_ms: vec![timestamp_ms; ROWS as usize],
        metrics: vec![(
            "score".into(),
            MetricColumn::F64(rows.map(|n| n as f64 / 10.0).collect()),
        )],
    }
}

fn label(n: u128) -> Metrics {
    Metrics::new().with("label", n.is_multiple_of(2))
}

fn delayed_of(store: &Store, n: u128) -> Metrics {
    let found = store.lookup(uuid(n)).unwrap();
    found
        .unwrap_or_else(|| panic!("prediction {n} missing"))
        .delayed
}

fn orphan_count(store: &Store) -> usize {
    store.orphaned_delayed_metrics().unwrap().len()
}

/// Labels tracked before their batch are orphans until the batch arrives, in the head and
/// after the orphans were flushed to a segment.
#[test]
fn earlier_labels_join_batch() {
    for flush_orphans in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options()).unwrap();
        for n in 0..ROWS {
            store.track_delayed_metrics(uuid(n), 1, &label(n)).unwrap();
        }
        if flush_orphans {
            store.flush().unwrap();
        }
        assert_eq!(orphan_count(&store), ROWS as usize, "{flush_orphans}");

        store.track_metrics_columns(batch(0, 0)).unwrap();
        assert_eq!(orphan_count(&store), 0, "head, {flush_orphans}");
        assert_eq!(delayed_of(&store, 3), label(3), "head, {flush_orphans}");
        store.flush().unwrap();
        assert_eq!(orphan_count(&store), 0, "flushed, {flush_orphans}");
        assert_eq!(delayed_of(&store, 4), label(4), "flushed, {flush_orphans}");
        store.close().unwrap();

        let reopened = Store::open_with(dir.path(), options()).unwrap();
        assert_eq!(orphan_count(&reopened), 0, "reopened, {flush_orphans}");
        assert_eq!(
            delayed_of(&reopened, 5),
            label(5),
            "reopened, {flush_orphans}"
        );
    }
}

/// Labels of batch rows are accepted by a store that rejects unknown predictions, whether
/// the batch is in the head or in a segment.
#[test]
fn later_labels_join_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options().reject_unknown_predictions(true)).unwrap();
    store.track_metrics_columns(batch(0, 0)).unwrap();
    store.track_delayed_metrics(uuid(1), 1, &label(1)).unwrap();
    store.flush().unwrap();
    store.track_delayed_metrics(uuid(2), 1, &label(2)).unwrap();

    assert_eq!(delayed_of(&store, 1), label(1));
    assert_eq!(delayed_of(&store, 2), label(2));
    let unknown = store.track_delayed_metrics(uuid(ROWS), 1, &label(0));
    assert!(unknown.is_err(), "{unknown:?}");
    store.flush().unwrap();
    assert_eq!(delayed_of(&store, 2), label(2));
}

/// Deleting one row of a batch in the head hides that row only, through flush, compaction and
/// reopen, and a label tracked after the deletion is an orphan.
#[test]
fn deleted_row_hides_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics_columns(batch(0, 0)).unwrap();
    store.delete_prediction(uuid(2)).unwrap();
    let check = |store: &Store, stage: &str| {
        let rows = read_all(store, "m");
        assert_eq!(rows.len(), ROWS as usize - 1, "{stage}");
        assert!(rows.iter().all(|p| p.uuid != uuid(2)), "{stage}");
        assert!(store.lookup(uuid(2)).unwrap().is_none(), "{stage}");
        assert!(store.lookup(uuid(3)).unwrap().is_some(), "{stage}");
    };
    check(&store, "head");
    store.track_delayed_metrics(uuid(2), 1, &label(2)).unwrap();
    assert_eq!(orphan_count(&store), 1);
    store.flush().unwrap();
    check(&store, "flushed");
    store.compact().unwrap();
    check(&store, "compacted");
    store.close().unwrap();
    let reopened = Store::open_with(dir.path(), options()).unwrap();
    check(&reopened, "reopened");
    assert_eq!(orphan_count(&reopened), 1);
}

/// Deleting the model hides the batches tracked before, and a batch tracked after is kept.
#[test]
fn model_deletion_keeps_later_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics_columns(batch(0, 0)).unwrap();
    store.flush().unwrap();
    store.track_metrics_columns(batch(ROWS, 1)).unwrap();
    store.delete_model("m").unwrap();
    store.track_metrics_columns(batch(2 * ROWS, 2)).unwrap();

    let expected: Vec<Uuid> = (2 * ROWS..3 * ROWS).map(uuid).collect();
    let uuids = |store: &Store| -> Vec<Uuid> {
        let mut uuids: Vec<Uuid> = read_all(store, "m").iter().map(|p| p.uuid).collect();
        uuids.sort();
        uuids
    };
    assert_eq!(uuids(&store), expected, "head");
    store.flush().unwrap();
    store.compact().unwrap();
    assert_eq!(uuids(&store), expected, "compacted");
    store.close().unwrap();
    let reopened = Store::open_with(dir.path(), options()).unwrap();
    assert_eq!(uuids(&reopened), expected, "reopened");
}

/// A roll-up of batch rows counts each row and label once, and a label that arrives after the
/// roll-up is marked as too late.
#[test]
fn roll_up_counts_batch_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    store.track_metrics_columns(batch(0, 0)).unwrap();
    for n in 0..ROWS / 2 {
        store.track_delayed_metrics(uuid(n), 1, &label(n)).unwrap();
    }
    store.flush().unwrap();
    store.track_metrics_columns(batch(ROWS, 3 * DAY)).unwrap();
    store.flush().unwrap();
    store.compact().unwrap();

    assert_eq!(store.raw_tier_start().unwrap(), 2 * DAY);
    let rollups = store.read_rollups("m", 0, DAY).unwrap();
    let predictions: u64 = rollups.iter().map(|r| r.predictions).sum();
    let labeled: u64 = rollups.iter().map(|r| r.labeled).sum();
    assert_eq!(predictions, ROWS as u64);
    assert_eq!(labeled, ROWS as u64 / 2);
    let raw = store.read_metrics("m", ALL_START, ALL_END).unwrap().count();
    assert_eq!(raw, ROWS as usize);

    store
        .track_delayed_metrics(uuid(ROWS - 1), 1, &label(0))
        .unwrap();
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1);
    assert!(orphans[0].prediction_rolled_up);
}
