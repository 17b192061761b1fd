//! The batch calls that take their input by value store what the borrowing calls store, and
//! reject the same inputs with nothing written.

mod support;

use modelmetrics::{Error, Metrics, NewDelayed, NewPrediction, Store};
use support::{read_all, uuid};

fn predictions(model: &str, ids: std::ops::Range<u128>) -> Vec<NewPrediction> {
    ids.map(|i| NewPrediction {
        model: model.to_owned(),
        uuid: uuid(i),
        timestamp_ms: i as i64 * 10,
        metrics: Metrics::new()
            .with("score", i as f64 / 100.0)
            .with("b", "x"),
    })
    .collect()
}

fn labels(ids: std::ops::Range<u128>) -> Vec<NewDelayed> {
    ids.map(|i| NewDelayed {
        uuid: uuid(i),
        timestamp_ms: 5_000 + i as i64,
        metrics: Metrics::new().with("label", i % 3 == 0),
    })
    .collect()
}

#[test]
fn owned_batches_store_like_borrowed() {
    let owned_dir = tempfile::tempdir().unwrap();
    let borrowed_dir = tempfile::tempdir().unwrap();
    let owned = Store::open(owned_dir.path()).unwrap();
    let borrowed = Store::open(borrowed_dir.path()).unwrap();
    owned
        .track_metrics_batch_owned(predictions("m", 0..50))
        .unwrap();
    borrowed
        .track_metrics_batch(&predictions("m", 0..50))
        .unwrap();
    owned
        .track_delayed_metrics_batch_owned(labels(10..60))
        .unwrap();
    borrowed
        .track_delayed_metrics_batch(&labels(10..60))
        .unwrap();
    owned.flush().unwrap();
    borrowed.flush().unwrap();
    let rows = read_all(&owned, "m");
    assert_eq!(rows.len(), 50);
    assert_eq!(rows, read_all(&borrowed, "m"));
    assert_eq!(
        owned.orphaned_delayed_metrics().unwrap(),
        borrowed.orphaned_delayed_metrics().unwrap()
    );
}

#[test]
fn owned_batch_with_repeated_uuid_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut batch = predictions("m", 0..5);
    batch.extend(predictions("m", 3..4));
    let error = store.track_metrics_batch_owned(batch).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(read_all(&store, "m").is_empty());
}

#[test]
fn owned_delayed_batch_with_bad_metric_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut batch = labels(0..3);
    batch[2].metrics = Metrics::new().with("", 1.0);
    let error = store.track_delayed_metrics_batch_owned(batch).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
}

#[test]
fn owned_single_call_stores_like_borrowed() {
    let owned_dir = tempfile::tempdir().unwrap();
    let borrowed_dir = tempfile::tempdir().unwrap();
    let owned = Store::open(owned_dir.path()).unwrap();
    let borrowed = Store::open(borrowed_dir.path()).unwrap();
    for p in predictions("m", 0..20) {
        borrowed
            .track_metrics(&p.model, p.uuid, p.timestamp_ms, &p.metrics)
            .unwrap();
        owned
            .track_metrics_owned(&p.model, p.uuid, p.timestamp_ms, p.metrics)
            .unwrap();
    }
    let rows = read_all(&owned, "m");
    assert_eq!(rows.len(), 20);
    assert_eq!(rows, read_all(&borrowed, "m"));
    owned.flush().unwrap();
    assert_eq!(read_all(&owned, "m"), rows);
}

#[test]
fn owned_single_call_rejects_like_borrowed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bad_name = Metrics::new().with("", 1.0);
    let error = store
        .track_metrics_owned("m", uuid(1), 0, bad_name)
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    let error = store
        .track_metrics_owned("", uuid(1), 0, Metrics::new())
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    store
        .track_metrics_owned("m", uuid(2), 0, Metrics::new())
        .unwrap();
    let error = store
        .track_metrics_owned("m", uuid(2), 5, Metrics::new())
        .unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { .. }),
        "{error}"
    );
    assert_eq!(read_all(&store, "m").len(), 1);
}
