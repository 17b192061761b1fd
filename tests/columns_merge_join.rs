//! `read_columns` joins delayed metrics to predictions by merging two lists sorted by
//! (timestamp, seq). These cases build stores where that order is hard to keep. Their windows
//! start and end inside blocks or on block edges, and their labels are tracked twice in
//! different segments, sit in segments whose time ranges overlap, belong to orphans adopted
//! later, or are still in the head.
//! Each read is checked against `read_metrics`, row by row.

mod support;

use modelmetrics::{Compaction, Metrics, NewDelayed, NewPrediction, Options, Store, Uuid, Value};
use support::uuid;

/// Rows of a segment block, as the segment format fixes it.
const BLOCK_ROWS: i64 = 4096;
const MODEL: &str = "m";

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Tracks `count` predictions of `MODEL` with UUIDs from `first_id` on, at `first_ms`,
/// `first_ms + step_ms` and so on, each with a score.
fn predict(store: &Store, first_id: u128, count: usize, first_ms: i64, step_ms: i64) {
    let batch: Vec<NewPrediction> = (0..count)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(first_id + i as u128),
            timestamp_ms: first_ms + i as i64 * step_ms,
            metrics: Metrics::new().with("score", i as f64 / 8.0),
        })
        .collect();
    store.track_metrics_batch(&batch).unwrap();
}

/// Tracks the delayed metric `label` with `value` for each UUID of `ids`.
fn label(store: &Store, ids: impl Iterator<Item = u128>, value: Value) {
    let batch: Vec<NewDelayed> = ids
        .map(|id| NewDelayed {
            uuid: uuid(id),
            timestamp_ms: 1_000_000,
            metrics: Metrics::new().with("label", value.clone()),
        })
        .collect();
    store.track_delayed_metrics_batch(&batch).unwrap();
}

/// Asserts that `read_columns` over `[start, end)` returns the rows, scores and labels of
/// `read_metrics`, and returns the number of rows with a label.
fn assert_agrees(store: &Store, start: i64, end: i64) -> usize {
    let rows: Vec<modelmetrics::Prediction> = store
        .read_metrics(MODEL, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let columns = store
        .read_columns(MODEL, (start, end), &["score"], &["label", "label"])
        .unwrap();
    let window = format!("[{start}, {end})");
    assert_eq!(columns.len(), rows.len(), "rows of {window}");
    let uuids: Vec<Uuid> = rows.iter().map(|p| p.uuid).collect();
    assert_eq!(columns.uuids, uuids, "UUIDs of {window}");
    let timestamps: Vec<i64> = rows.iter().map(|p| p.timestamp_ms).collect();
    assert_eq!(columns.timestamps, timestamps, "timestamps of {window}");
    let scores: Vec<Option<Value>> = rows
        .iter()
        .map(|p| p.metrics.get("score").cloned())
        .collect();
    let read_scores = columns.metrics[0].to_values();
    assert_eq!(read_scores, scores, "scores of {window}");
    let labels: Vec<Option<Value>> = rows
        .iter()
        .map(|p| p.delayed.get("label").cloned())
        .collect();
    for column in &columns.delayed {
        let read_labels = column.to_values();
        assert_eq!(read_labels, labels, "labels of {window}");
    }
    labels.iter().filter(|label| label.is_some()).count()
}

/// Windows that start and end inside blocks, on block edges, and hold no row.
fn edge_windows() -> Vec<(i64, i64)> {
    let edge = BLOCK_ROWS;
    vec![
        (i64::MIN, i64::MAX),
        (0, edge),
        (edge - 1, edge + 1),
        (edge, 2 * edge),
        (100, 2 * edge + 100),
        (edge + 7, edge + 8),
        (3 * edge, 4 * edge),
        (-50, 0),
        (5, 5 + 1),
    ]
}

#[test]
fn windows_on_block_edges_join_labels() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    predict(&store, 0, 3 * BLOCK_ROWS as usize + 10, 0, 1);
    label(
        &store,
        (0..3 * BLOCK_ROWS as u128).step_by(3),
        Value::Bool(true),
    );
    store.flush().unwrap();
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    let labelled = assert_agrees(&store, BLOCK_ROWS, 2 * BLOCK_ROWS);
    // Multiples of 3 from 4098 to 8190.
    assert_eq!(labelled, 1365);
}

#[test]
fn later_segment_label_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    predict(&store, 0, 2 * BLOCK_ROWS as usize, 0, 1);
    label(
        &store,
        (0..2 * BLOCK_ROWS as u128).step_by(2),
        Value::I64(1),
    );
    store.flush().unwrap();
    // The second labels cover only part of the first, so the rows of the two segments, taken
    // one segment after the other, are out of order.
    label(&store, (100..300).step_by(4), Value::I64(2));
    store.flush().unwrap();
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    let columns = store
        .read_columns(MODEL, (100, 101), &[], &["label"])
        .unwrap();
    assert_eq!(columns.delayed[0].to_values(), vec![Some(Value::I64(2))]);
    let columns = store
        .read_columns(MODEL, (102, 103), &[], &["label"])
        .unwrap();
    assert_eq!(columns.delayed[0].to_values(), vec![Some(Value::I64(1))]);
}

#[test]
fn overlapping_segments_join_labels() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    // Even timestamps in the first segment, odd ones in the second.
    predict(&store, 0, 5_000, 0, 2);
    label(&store, (0..5_000).step_by(5), Value::Bool(false));
    store.flush().unwrap();
    predict(&store, 10_000, 5_000, 1, 2);
    label(&store, (10_000..15_000).step_by(7), Value::Bool(true));
    store.flush().unwrap();
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    // Prediction 0 at 0 ms and prediction 10,000 at 1 ms.
    assert_eq!(assert_agrees(&store, 0, 10), 2);
}

#[test]
fn head_labels_replace_segment_labels() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    predict(&store, 0, BLOCK_ROWS as usize + 500, 0, 1);
    label(&store, 0..1_000, Value::Str("stored".to_owned()));
    store.flush().unwrap();
    // Predictions still in the head, and labels in the head for both kinds of prediction.
    predict(&store, 20_000, 300, BLOCK_ROWS + 500, 1);
    label(
        &store,
        (500..1_500).chain(20_000..20_100),
        Value::Str("head".to_owned()),
    );
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    let columns = store
        .read_columns(MODEL, (499, 501), &[], &["label"])
        .unwrap();
    let expected = ["stored", "head"].map(|text| Some(Value::Str(text.to_owned())));
    assert_eq!(columns.delayed[0].to_values(), expected);
}

#[test]
fn adopted_orphans_join_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    // Labels that arrive before their predictions are stored as orphans.
    label(&store, 0..200, Value::F64(0.25));
    store.flush().unwrap();
    predict(&store, 0, 600, 0, 1);
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    store.flush().unwrap();
    label(&store, 100..150, Value::F64(0.75));
    store.flush().unwrap();
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    let columns = store
        .read_columns(MODEL, (0, 600), &[], &["label"])
        .unwrap();
    let labels = &columns.delayed[0];
    assert_eq!(labels.get(99), Some(Value::F64(0.25)));
    assert_eq!(labels.get(100), Some(Value::F64(0.75)));
    assert_eq!(labels.get(200), None);
}

#[test]
fn deleted_predictions_leave_join() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    predict(&store, 0, BLOCK_ROWS as usize + 100, 0, 1);
    label(&store, 0..2_000, Value::Bool(true));
    store.flush().unwrap();
    for id in (0..2_000).step_by(9) {
        store.delete_prediction(uuid(id)).unwrap();
    }
    for (start, end) in edge_windows() {
        assert_agrees(&store, start, end);
    }
    let columns = store.read_columns(MODEL, (0, 18), &[], &["label"]).unwrap();
    assert_eq!(columns.len(), 16);
    assert!(columns.delayed[0].all_present());
}
