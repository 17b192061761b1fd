//! Windows whose edges fall at and around the 256-row groups of a segment block, where a read
//! starts decoding, read from a flushed store with deleted predictions. Both `read_columns` and
//! `read_metrics` are checked against the rows the test tracked, minus the deleted ones.

mod support;

use modelmetrics::{Compaction, Metrics, NewDelayed, NewPrediction, Options, Store, Value};
use support::uuid;

const MODEL: &str = "m";
/// Rows of a group of a segment block, as the segment format fixes it.
const GROUP_ROWS: usize = 256;
const ROWS: usize = 1_400;

/// Prediction `i` is at `i / 3` ms, so each timestamp repeats 3 times and runs of equal
/// timestamps cross group boundaries.
fn timestamp(i: usize) -> i64 {
    (i / 3) as i64
}

fn is_labelled(i: usize) -> bool {
    i.is_multiple_of(4)
}

fn is_deleted(i: usize) -> bool {
    i % 50 == 7 || i == 256 || i == 767
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Tracks the predictions and labels, flushes them to one segment, then deletes some.
fn flushed_store(dir: &std::path::Path) -> Store {
    let store = Store::open_with(dir, options()).unwrap();
    let batch: Vec<NewPrediction> = (0..ROWS)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(i as u128),
            timestamp_ms: timestamp(i),
            metrics: Metrics::new().with("score", i as f64 / 8.0),
        })
        .collect();
    store.track_metrics_batch(&batch).unwrap();
    let labels: Vec<NewDelayed> = (0..ROWS)
        .filter(|i| is_labelled(*i))
        .map(|i| NewDelayed {
            uuid: uuid(i as u128),
            timestamp_ms: 10_000 + i as i64,
            metrics: Metrics::new().with("label", i % 8 == 0),
        })
        .collect();
    store.track_delayed_metrics_batch(&labels).unwrap();
    store.flush().unwrap();
    for i in (0..ROWS).filter(|i| is_deleted(*i)) {
        store.delete_prediction(uuid(i as u128)).unwrap();
    }
    store
}

/// Returns window edges at the timestamps of the rows two before to two after each group
/// boundary, each also minus and plus 1 ms.
fn edges() -> Vec<i64> {
    let mut edges = vec![i64::MIN, -1, i64::MAX];
    for boundary in (0..=ROWS).step_by(GROUP_ROWS) {
        for row in boundary.saturating_sub(2)..(boundary + 3).min(ROWS) {
            let t = timestamp(row);
            edges.extend([t - 1, t, t + 1]);
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

fn check_window(store: &Store, start: i64, end: i64) {
    let expected: Vec<usize> = (0..ROWS)
        .filter(|i| (start..end).contains(&timestamp(*i)) && !is_deleted(*i))
        .collect();
    let window = format!("[{start}, {end})");
    let columns = store
        .read_columns(MODEL, (start, end), &["score"], &["label"])
        .unwrap();
    let uuids: Vec<_> = expected.iter().map(|i| uuid(*i as u128)).collect();
    let timestamps: Vec<i64> = expected.iter().map(|i| timestamp(*i)).collect();
    let scores: Vec<Option<Value>> = expected
        .iter()
        .map(|i| Some(Value::F64(*i as f64 / 8.0)))
        .collect();
    let labels: Vec<Option<Value>> = expected
        .iter()
        .map(|i| is_labelled(*i).then_some(Value::Bool(i % 8 == 0)))
        .collect();
    assert_eq!(columns.uuids, uuids, "UUIDs of {window}");
    assert_eq!(columns.timestamps, timestamps, "timestamps of {window}");
    assert_eq!(columns.metrics[0].to_values(), scores, "scores of {window}");
    assert_eq!(columns.delayed[0].to_values(), labels, "labels of {window}");

    let rows: Vec<modelmetrics::Prediction> = store
        .read_metrics(MODEL, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let row_uuids: Vec<_> = rows.iter().map(|p| p.uuid).collect();
    assert_eq!(row_uuids, uuids, "read_metrics UUIDs of {window}");
    let row_labels: Vec<Option<Value>> = rows
        .iter()
        .map(|p| p.delayed.get("label").cloned())
        .collect();
    assert_eq!(row_labels, labels, "read_metrics labels of {window}");
}

#[test]
fn windows_around_groups_skip_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = flushed_store(dir.path());
    let edges = edges();
    for &start in &edges {
        for &end in edges.iter().filter(|end| **end > start) {
            check_window(&store, start, end);
        }
    }
}
