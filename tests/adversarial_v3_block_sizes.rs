//! Blocks of 1, 255, 256, 257, 4095, 4096 and 4097 rows, written by row calls and columnar
//! calls mixed in one head, with two models whose metric sets differ (one name has a different
//! value type in each model). Windows start and end at the timestamps around every 256-row
//! group boundary, where runs of equal timestamps cross the boundary. Every read is compared
//! with the records the test tracked: after the flush, after deletions, after a second segment
//! and after compaction merged the two.

mod support;

use std::collections::BTreeMap;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewDelayed, NewPrediction, NewPredictionColumns, Options,
    Prediction, Store, Uuid, Value,
};
use support::{by_name, uuid};

/// Rows of a group of a segment block, as the segment format fixes it.
const GROUP_ROWS: usize = 256;
const SIZES: [usize; 7] = [1, 255, 256, 257, 4095, 4096, 4097];
/// Rows of the second model, which shares the head with the first.
const OTHER_ROWS: usize = 300;

/// One tracked prediction as the oracle keeps it.
#[derive(Clone, Debug)]
struct Tracked {
    model: &'static str,
    /// Position among the predictions of its model in one `track` call.
    row: usize,
    uuid: Uuid,
    timestamp_ms: i64,
    metrics: BTreeMap<String, Value>,
    delayed: BTreeMap<String, Value>,
}

/// Prediction `i` of model `a` is at `i / 5` ms, so runs of five equal timestamps cross the
/// group boundaries at rows 256, 512 and so on.
fn timestamp_a(i: usize) -> i64 {
    (i / 5) as i64
}

/// Model `b` interleaves with `a` in time, at `i / 2` ms.
fn timestamp_b(i: usize) -> i64 {
    (i / 2) as i64
}

/// Tracks `rows` predictions of `a`, every other chunk of 100 by a columnar call, and
/// `OTHER_ROWS` predictions of `b` by row calls, in one head. Returns the oracle in read order.
fn track(store: &Store, rows: usize, first_id: usize) -> Vec<Tracked> {
    let mut oracle = Vec::new();
    let mut next_b = 0;
    for (chunk_index, start) in (0..rows).step_by(100).enumerate() {
        let range = start..(start + 100).min(rows);
        if chunk_index.is_multiple_of(2) {
            oracle.extend(track_columns(store, range, first_id));
        } else {
            oracle.extend(track_rows(store, range, first_id));
        }
        // A few predictions of `b` between the batches of `a`.
        let b_end = (next_b + 60).min(OTHER_ROWS);
        oracle.extend(track_other(store, next_b..b_end, first_id));
        next_b = b_end;
    }
    oracle.extend(track_other(store, next_b..OTHER_ROWS, first_id));
    oracle
}

fn tracked_a(i: usize, first_id: usize) -> Tracked {
    let mut metrics = BTreeMap::new();
    metrics.insert("score".to_owned(), Value::F64(i as f64 / 4.0));
    metrics.insert("count".to_owned(), Value::I64(i as i64 * 1_000_003 - 7));
    Tracked {
        model: "a",
        row: i,
        uuid: uuid((first_id + i) as u128),
        timestamp_ms: timestamp_a(i),
        metrics,
        delayed: BTreeMap::new(),
    }
}

fn track_columns(store: &Store, range: std::ops::Range<usize>, first_id: usize) -> Vec<Tracked> {
    let tracked: Vec<Tracked> = range.map(|i| tracked_a(i, first_id)).collect();
    let scores = tracked.iter().map(|t| t.metrics["score"].as_f64().unwrap());
    let counts = tracked.iter().map(|t| t.metrics["count"].as_i64().unwrap());
    let batch = NewPredictionColumns {
        model: "a".to_owned(),
        uuids: tracked.iter().map(|t| t.uuid).collect(),
        timestamps_ms: tracked.iter().map(|t| t.timestamp_ms).collect(),
        metrics: vec![
            ("count".to_owned(), MetricColumn::I64(counts.collect())),
            ("score".to_owned(), MetricColumn::F64(scores.collect())),
        ],
    };
    store.track_metrics_columns(batch).unwrap();
    tracked
}

/// Tracks by rows, with a sparse i64 metric on every third prediction.
fn track_rows(store: &Store, range: std::ops::Range<usize>, first_id: usize) -> Vec<Tracked> {
    let mut tracked = Vec::new();
    let mut batch = Vec::new();
    for i in range {
        let mut t = tracked_a(i, first_id);
        if i.is_multiple_of(3) {
            t.metrics
                .insert("sparse".to_owned(), Value::I64(-(i as i64)));
        }
        let mut metrics = Metrics::new();
        for (name, value) in &t.metrics {
            metrics = metrics.with(name, value.clone());
        }
        batch.push(NewPrediction {
            model: "a".to_owned(),
            uuid: t.uuid,
            timestamp_ms: t.timestamp_ms,
            metrics,
        });
        tracked.push(t);
    }
    store.track_metrics_batch(&batch).unwrap();
    tracked
}

/// Model `b` has a bool and an f64 `count`, where model `a` has an i64 `count`.
fn track_other(store: &Store, range: std::ops::Range<usize>, first_id: usize) -> Vec<Tracked> {
    let mut tracked = Vec::new();
    for i in range {
        let t = Tracked {
            model: "b",
            row: i,
            uuid: uuid((1 << 40) + (first_id + i) as u128),
            timestamp_ms: timestamp_b(i),
            metrics: BTreeMap::from([
                ("count".to_owned(), Value::F64(i as f64 + 0.5)),
                ("flag".to_owned(), Value::Bool(i.is_multiple_of(2))),
            ]),
            delayed: BTreeMap::new(),
        };
        let metrics = Metrics::new()
            .with("flag", i.is_multiple_of(2))
            .with("count", i as f64 + 0.5);
        store
            .track_metrics("b", t.uuid, t.timestamp_ms, &metrics)
            .unwrap();
        tracked.push(t);
    }
    tracked
}

/// Labels every fourth prediction of `a`, in reverse order.
fn track_labels(store: &Store, oracle: &mut [Tracked]) {
    let mut labels = Vec::new();
    for (i, t) in oracle.iter_mut().enumerate().rev() {
        if t.model == "a" && i.is_multiple_of(4) {
            let value = Value::I64(i as i64 % 2);
            t.delayed.insert("label".to_owned(), value.clone());
            labels.push(NewDelayed {
                uuid: t.uuid,
                timestamp_ms: 1_000_000 + i as i64,
                metrics: Metrics::new().with("label", value),
            });
        }
    }
    store.track_delayed_metrics_batch(&labels).unwrap();
}

/// Returns the window edges at the timestamps of the rows two before to two after each group
/// boundary of `a`, each also minus and plus 1 ms.
fn edges(rows: usize) -> Vec<i64> {
    let mut edges = vec![i64::MIN, -1, 0, 1];
    for boundary in (0..=rows).step_by(GROUP_ROWS) {
        for row in boundary.saturating_sub(2)..(boundary + 3).min(rows) {
            let t = timestamp_a(row);
            edges.extend([t - 1, t, t + 1]);
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// Returns the windows to check: every pair of edges when there are few, else each edge as
/// start or end of an open window, and each pair of neighbouring edges.
fn windows(rows: usize) -> Vec<(i64, i64)> {
    let edges = edges(rows);
    let mut windows = Vec::new();
    if edges.len() <= 40 {
        for &start in &edges {
            windows.extend(edges.iter().filter(|e| **e > start).map(|e| (start, *e)));
        }
        return windows;
    }
    for &edge in &edges {
        windows.extend([(i64::MIN, edge), (edge, i64::MAX)]);
    }
    for pair in edges.windows(3) {
        windows.extend([(pair[0], pair[1]), (pair[0], pair[2])]);
    }
    windows.retain(|(start, end)| start < end);
    windows
}

fn expected(oracle: &[Tracked], model: &str, start: i64, end: i64) -> Vec<Tracked> {
    let mut rows: Vec<Tracked> = oracle
        .iter()
        .filter(|t| t.model == model && (start..end).contains(&t.timestamp_ms))
        .cloned()
        .collect();
    // Equal timestamps keep their tracking order, as the store orders them by seq.
    rows.sort_by_key(|t| t.timestamp_ms);
    rows
}

fn check_read_metrics(store: &Store, oracle: &[Tracked], model: &str, window: (i64, i64)) {
    let (start, end) = window;
    let want = expected(oracle, model, start, end);
    let got: Vec<Prediction> = store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let context = format!("read_metrics of {model} in [{start}, {end})");
    assert_eq!(got.len(), want.len(), "row count of {context}");
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got.uuid, want.uuid, "{context}");
        assert_eq!(got.timestamp_ms, want.timestamp_ms, "{context}");
        assert_eq!(
            by_name(&got.metrics),
            want.metrics,
            "{context} {}",
            got.uuid
        );
        assert_eq!(
            by_name(&got.delayed),
            want.delayed,
            "{context} {}",
            got.uuid
        );
    }
}

fn check_read_columns(store: &Store, oracle: &[Tracked], window: (i64, i64)) {
    let (start, end) = window;
    let want = expected(oracle, "a", start, end);
    let names = ["count", "sparse", "score", "flag"];
    let got = store.read_columns("a", window, &names, &["label"]).unwrap();
    let context = format!("read_columns of a in [{start}, {end})");
    let uuids: Vec<Uuid> = want.iter().map(|t| t.uuid).collect();
    assert_eq!(got.uuids, uuids, "{context}");
    let timestamps: Vec<i64> = want.iter().map(|t| t.timestamp_ms).collect();
    assert_eq!(got.timestamps, timestamps, "{context}");
    for (column, name) in names.iter().enumerate() {
        let values: Vec<Option<Value>> =
            want.iter().map(|t| t.metrics.get(*name).cloned()).collect();
        assert_eq!(
            got.metrics[column].to_values(),
            values,
            "{name} of {context}"
        );
    }
    let labels: Vec<Option<Value>> = want
        .iter()
        .map(|t| t.delayed.get("label").cloned())
        .collect();
    assert_eq!(got.delayed[0].to_values(), labels, "labels of {context}");
}

fn check_all(store: &Store, oracle: &[Tracked], rows: usize, stage: &str) {
    for window in windows(rows) {
        check_read_metrics(store, oracle, "a", window);
        check_read_columns(store, oracle, window);
    }
    check_read_metrics(store, oracle, "b", (i64::MIN, i64::MAX));
    check_read_metrics(store, oracle, "b", (100, 101));
    let step = (oracle.len() / 40).max(1);
    for t in oracle.iter().step_by(step) {
        let found = store.lookup(t.uuid).unwrap();
        let found = found.unwrap_or_else(|| panic!("{stage}: lookup of {} found nothing", t.uuid));
        assert_eq!(
            found.timestamp_ms, t.timestamp_ms,
            "{stage}: lookup {}",
            t.uuid
        );
        assert_eq!(
            by_name(&found.metrics),
            t.metrics,
            "{stage}: lookup {}",
            t.uuid
        );
        assert_eq!(
            by_name(&found.delayed),
            t.delayed,
            "{stage}: lookup {}",
            t.uuid
        );
    }
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

fn check_size(rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    let mut oracle = track(&store, rows, 0);
    track_labels(&store, &mut oracle);
    store.flush().unwrap();
    check_all(&store, &oracle, rows, "flushed");

    // Delete the predictions at the group boundaries and at the block's last row.
    let is_edge = |row: usize| {
        row.is_multiple_of(GROUP_ROWS) || row % GROUP_ROWS == GROUP_ROWS - 1 || row + 1 == rows
    };
    let deleted: Vec<usize> = oracle
        .iter()
        .enumerate()
        .filter(|(_, t)| t.model == "a" && is_edge(t.row))
        .map(|(i, _)| i)
        .collect();
    for &i in deleted.iter().rev() {
        store.delete_prediction(oracle[i].uuid).unwrap();
        oracle.remove(i);
    }
    check_all(&store, &oracle, rows, "deleted");

    // A second segment of the same timestamps, then a merge of both.
    let mut second = track(&store, rows.min(300), 1 << 20);
    track_labels(&store, &mut second);
    oracle.extend(second);
    store.flush().unwrap();
    check_all(&store, &oracle, rows, "two segments");
    store.compact().unwrap();
    check_all(&store, &oracle, rows, "compacted");
    store.close().unwrap();

    let store = Store::open_with(dir.path(), options()).unwrap();
    check_all(&store, &oracle, rows, "reopened");
    store.close().unwrap();
}

#[test]
fn block_sizes_around_groups_match_tracked() {
    for rows in SIZES {
        check_size(rows);
    }
}
