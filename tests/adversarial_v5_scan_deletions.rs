//! `scan_metrics` against `read_metrics` around deletions and rollups, on a store and
//! on a read-only view of it.
//!
//! A deleted prediction whose UUID is tracked again after the purge must come back with the
//! labels tracked after its deletion and without the older ones. A deleted model must hide
//! its old rows but not the rows tracked after the deletion, nor those of a model whose id it
//! is a prefix of. Predictions older than the raw tier are rolled up and leave both reads,
//! while a late one with an old timestamp stays raw until the next compaction.

mod support;

use std::time::Duration;

use modelmetrics::{Compaction, Metrics, Options, Prediction, Retention, RollupTier, Store, Value};
use support::uuid;

const T0: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const MODELS: [&str; 2] = ["m", "m2"];

fn scan(store: &Store, model: &str) -> Vec<Prediction> {
    let mut rows = Vec::new();
    store
        .scan_metrics(model, i64::MIN, i64::MAX, |row| {
            rows.push(row.to_prediction())
        })
        .unwrap();
    rows
}

fn read(store: &Store, model: &str) -> Vec<Prediction> {
    let rows = store.read_metrics(model, i64::MIN, i64::MAX).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Returns the rows of `model`, failing the test unless both reads, and a read-only view
/// opened now, return the same ones.
fn agreed_rows(store: &Store, model: &str, context: &str) -> Vec<Prediction> {
    let scanned = scan(store, model);
    assert_eq!(
        scanned,
        read(store, model),
        "{context}: {model}: scan and read"
    );
    let view = Store::open_read_only(store.dir()).unwrap();
    let mut viewed = Vec::new();
    view.scan_metrics(model, i64::MIN, i64::MAX, |row| {
        viewed.push(row.to_prediction())
    })
    .unwrap();
    assert_eq!(viewed, scanned, "{context}: {model}: view and store");
    scanned
}

fn label(row: &Prediction) -> Option<&Value> {
    row.delayed.get("label")
}

/// A prediction deleted, purged and tracked again keeps only the labels that came after its
/// deletion, in every read and at every stage.
#[test]
fn retracked_prediction_keeps_only_later_labels() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = uuid(1);
    store
        .track_metrics("m", key, T0, &Metrics::new().with("v", 1i64))
        .unwrap();
    store
        .track_delayed_metrics(key, T0, &Metrics::new().with("label", "old"))
        .unwrap();
    store.flush().unwrap();
    store.delete_prediction(key).unwrap();
    store
        .track_delayed_metrics(key, T0 + 1, &Metrics::new().with("label", 7i64))
        .unwrap();
    assert!(agreed_rows(&store, "m", "deleted").is_empty());
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1, "orphans after the deletion");

    store.flush().unwrap();
    store.compact().unwrap();
    store
        .track_metrics("m", key, T0 + 5, &Metrics::new().with("v", 2.5))
        .unwrap();
    check_retracked(&store, "head");
    store.flush().unwrap();
    check_retracked(&store, "flushed");
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check_retracked(&store, "reopened");
    store.compact().unwrap();
    check_retracked(&store, "compacted");
}

fn check_retracked(store: &Store, stage: &str) {
    let rows = agreed_rows(store, "m", stage);
    assert_eq!(rows.len(), 1, "{stage}: rows");
    assert_eq!(rows[0].timestamp_ms, T0 + 5, "{stage}: the new prediction");
    assert_eq!(label(&rows[0]), Some(&Value::I64(7)), "{stage}: label");
    assert!(
        store.orphaned_delayed_metrics().unwrap().is_empty(),
        "{stage}: orphans"
    );
}

/// An orphaned label that a prediction adopted goes with that prediction's deletion: neither
/// a reopen nor a new prediction of the same UUID after the purge brings it back.
#[test]
fn adopted_orphan_goes_with_its_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = uuid(2);
    store
        .track_delayed_metrics(key, T0, &Metrics::new().with("label", "early"))
        .unwrap();
    store.flush().unwrap();
    store
        .track_metrics("m", key, T0, &Metrics::new().with("v", 1i64))
        .unwrap();
    store.flush().unwrap();
    let adopted = agreed_rows(&store, "m", "adopted");
    assert_eq!(label(&adopted[0]), Some(&Value::Str("early".into())));
    store.delete_prediction(key).unwrap();
    assert!(agreed_rows(&store, "m", "deleted").is_empty());
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "deleted: {orphans:?}");

    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(agreed_rows(&store, "m", "reopened").is_empty());
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "reopened: {orphans:?}");

    store.compact().unwrap();
    store
        .track_metrics("m", key, T0 + 9, &Metrics::new().with("v", 2i64))
        .unwrap();
    for stage in ["head", "flushed"] {
        if stage == "flushed" {
            store.flush().unwrap();
        }
        let rows = agreed_rows(&store, "m", stage);
        assert_eq!(rows.len(), 1, "{stage}: rows");
        assert_eq!(
            label(&rows[0]),
            None,
            "{stage}: the deleted label came back"
        );
    }
}

/// A model deleted with rows in segments and in the head hides them, keeps the rows tracked
/// after the deletion, and leaves the model whose id it is a prefix of alone.
#[test]
fn deleted_model_keeps_later_rows_and_prefixed_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut n = 0;
    let mut track = |store: &Store, model: &str, ts: i64, value: Value| {
        let key = uuid(n);
        n += 1;
        let metrics = Metrics::new().with("v", value);
        store.track_metrics(model, key, ts, &metrics).unwrap();
        store
            .track_delayed_metrics(key, ts, &Metrics::new().with("label", ts % 2 == 0))
            .unwrap();
    };
    for model in MODELS {
        track(&store, model, T0, Value::F64(0.5));
    }
    store.flush().unwrap();
    for model in MODELS {
        track(&store, model, T0 + 1, Value::I64(3));
    }
    store.delete_model("m").unwrap();
    // The same timestamps as the deleted rows, and a type that none of them had.
    track(&store, "m", T0, Value::Str("after".into()));
    track(&store, "m", T0 + 1, Value::Bool(true));

    let check = |store: &Store, stage: &str| {
        let kept = agreed_rows(store, "m", stage);
        let values: Vec<_> = kept
            .iter()
            .map(|row| row.metrics.get("v").cloned())
            .collect();
        let expected = [Some(Value::Str("after".into())), Some(Value::Bool(true))];
        assert_eq!(values, expected, "{stage}: rows of the deleted model");
        assert!(
            kept.iter().all(|row| label(row).is_some()),
            "{stage}: labels"
        );
        assert_eq!(
            agreed_rows(store, "m2", stage).len(),
            2,
            "{stage}: rows of m2"
        );
        assert_eq!(store.models().unwrap(), MODELS, "{stage}: models");
    };
    check(&store, "head");
    store.flush().unwrap();
    check(&store, "flushed");
    store.compact().unwrap();
    check(&store, "compacted");
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check(&store, "reopened");
}

fn rollup_options() -> Options {
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400))
        .then(RollupTier::every(Duration::from_secs(3_600)));
    Options::default().compaction(Compaction {
        enabled: false,
        retention,
        ..Compaction::default()
    })
}

/// Compaction rolls up the predictions older than a day before the newest. Both reads then
/// skip them, a late prediction with an old timestamp stays raw until the next compaction,
/// and a label for a rolled-up prediction becomes an orphan.
#[test]
fn rolled_up_rows_leave_both_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), rollup_options()).unwrap();
    for day in 0..4i64 {
        for i in 0..5i64 {
            let n = (day * 5 + i) as u128;
            let ts = T0 + day * DAY_MS + i * HOUR_MS;
            let score = if day % 2 == 0 {
                Value::F64(i as f64)
            } else {
                Value::I64(i)
            };
            let metrics = Metrics::new().with("score", score);
            store.track_metrics("m", uuid(n), ts, &metrics).unwrap();
        }
        store.flush().unwrap();
    }
    store.compact().unwrap();
    let cutoff = store.raw_tier_start().unwrap();
    assert!(cutoff > T0, "nothing was rolled up");
    let rows = agreed_rows(&store, "m", "rolled up");
    assert!(
        rows.iter().all(|row| row.timestamp_ms >= cutoff),
        "a rolled-up row was read"
    );
    let raw = rows.len();

    store
        .track_metrics("m", uuid(100), T0, &Metrics::new().with("score", true))
        .unwrap();
    store
        .track_delayed_metrics(uuid(0), T0, &Metrics::new().with("label", 1i64))
        .unwrap();
    let rows = agreed_rows(&store, "m", "late");
    assert_eq!(rows.len(), raw + 1, "the late prediction");
    assert_eq!(rows[0].uuid, uuid(100), "the late prediction comes first");
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1, "label of a rolled-up prediction");
    assert!(
        orphans[0].prediction_rolled_up,
        "the orphan's prediction was rolled up"
    );

    store.flush().unwrap();
    store.compact().unwrap();
    let rows = agreed_rows(&store, "m", "late rolled up");
    assert_eq!(
        rows.len(),
        raw,
        "the late prediction after the next compaction"
    );
}
