//! Columnar batches and row calls of one model mixed in one head, where the flush encodes the
//! batches from their arrays. The batches list their metrics in different orders, one metric
//! name has an f64 type in the batches and an i64 type in the rows, the values reach the
//! extremes of their types, and one batch spans two blocks. Labels and deletions reach rows of
//! batches still in the head. Every stage (head, flushed, reopened, compacted) is compared with
//! the tracked records, value by value through their `Debug` text so that NaN and -0.0 count.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewDelayed, NewPredictionColumns, Options, Store, Uuid,
    Value,
};
use support::{Stage, check_in_stages, uuid};

const MODEL: &str = "mixed";
/// Rows of the large batch: one full block of 4096 rows and one row more.
const LARGE_ROWS: usize = 4_097;

/// One tracked prediction: its timestamp, its metrics and its labels, as `Debug` text.
#[derive(Clone, Debug, Default)]
struct Tracked {
    timestamp_ms: i64,
    metrics: BTreeMap<String, String>,
    delayed: BTreeMap<String, String>,
}

type Oracle = BTreeMap<Uuid, Tracked>;

fn text(value: &Value) -> String {
    format!("{value:?}")
}

fn texts(metrics: &Metrics) -> BTreeMap<String, String> {
    metrics
        .iter()
        .map(|m| (m.name.clone(), text(&m.value)))
        .collect()
}

/// Returns the i64 at row `i` of a column that jumps between the extremes of i64.
fn extreme_i64(i: usize) -> i64 {
    match i % 5 {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => 0,
        3 => -(i as i64),
        _ => i64::MIN + i as i64,
    }
}

fn extreme_f64(i: usize) -> f64 {
    match i % 6 {
        0 => f64::NAN,
        1 => -0.0,
        2 => f64::INFINITY,
        3 => f64::MIN_POSITIVE,
        4 => f64::MAX,
        _ => i as f64 / 3.0,
    }
}

/// Tracks a columnar batch of `ids` at `timestamps` and records it in `oracle`.
fn track_batch(
    store: &Store,
    oracle: &mut Oracle,
    ids: Vec<Uuid>,
    timestamps: Vec<i64>,
    metrics: Vec<(String, MetricColumn)>,
) {
    for (row, (id, timestamp_ms)) in ids.iter().zip(&timestamps).enumerate() {
        let mut tracked = Tracked {
            timestamp_ms: *timestamp_ms,
            ..Tracked::default()
        };
        for (name, column) in &metrics {
            let value = match column {
                MetricColumn::F64(values) => Value::F64(values[row]),
                MetricColumn::I64(values) => Value::I64(values[row]),
                MetricColumn::Bool(values) => Value::Bool(values[row]),
                MetricColumn::Str(values) => Value::Str(values[row].clone()),
                MetricColumn::Bytes(values) => Value::Bytes(values[row].clone()),
            };
            tracked.metrics.insert(name.clone(), text(&value));
        }
        oracle.insert(*id, tracked);
    }
    let batch = NewPredictionColumns {
        model: MODEL.to_owned(),
        uuids: ids,
        timestamps_ms: timestamps,
        metrics,
    };
    store.track_metrics_columns(batch).unwrap();
}

/// Tracks the first batch: 600 rows at repeated timestamps in reverse order, metrics x, y, s.
fn first_batch(store: &Store, oracle: &mut Oracle) {
    let rows = 0..600usize;
    let ids = rows.clone().map(|i| uuid(i as u128)).collect();
    let timestamps = rows.clone().map(|i| (600 - i as i64) / 4).collect();
    let metrics = vec![
        (
            "x".to_owned(),
            MetricColumn::F64(rows.clone().map(extreme_f64).collect()),
        ),
        (
            "y".to_owned(),
            MetricColumn::I64(rows.clone().map(extreme_i64).collect()),
        ),
        (
            "s".to_owned(),
            MetricColumn::Str(rows.map(|i| format!("s{}", i % 3)).collect()),
        ),
    ];
    track_batch(store, oracle, ids, timestamps, metrics);
}

/// Tracks the second batch: the metrics in another order, plus bool and bytes, at the same
/// timestamps.
fn second_batch(store: &Store, oracle: &mut Oracle) {
    let rows = 0..300usize;
    let ids = rows.clone().map(|i| uuid(10_000 + i as u128)).collect();
    let timestamps = rows.clone().map(|i| i as i64 / 2).collect();
    let metrics = vec![
        (
            "b".to_owned(),
            MetricColumn::Bool(rows.clone().map(|i| i.is_multiple_of(3)).collect()),
        ),
        (
            "y".to_owned(),
            MetricColumn::I64(rows.clone().map(|i| extreme_i64(i + 1)).collect()),
        ),
        (
            "blob".to_owned(),
            MetricColumn::Bytes(rows.clone().map(|i| vec![i as u8; i % 4]).collect()),
        ),
        (
            "x".to_owned(),
            MetricColumn::F64(rows.map(|i| extreme_f64(i + 2)).collect()),
        ),
    ];
    track_batch(store, oracle, ids, timestamps, metrics);
}

/// Tracks a batch without metrics, and the large batch that spans two blocks.
fn plain_and_large_batches(store: &Store, oracle: &mut Oracle) {
    let ids = (0..5).map(|i| uuid(20_000 + i)).collect();
    track_batch(store, oracle, ids, vec![3, 3, 3, 3, 3], Vec::new());
    let rows = 0..LARGE_ROWS;
    let ids = rows.clone().map(|i| uuid(30_000 + i as u128)).collect();
    let timestamps = rows.clone().map(|i| (i % 2_000) as i64 / 8).collect();
    let metrics = vec![(
        "y".to_owned(),
        MetricColumn::I64(rows.map(|i| (i * i) as i64).collect()),
    )];
    track_batch(store, oracle, ids, timestamps, metrics);
}

/// Row calls at the same timestamps, where `x` is an i64 instead of an f64.
fn rows_with_other_types(store: &Store, oracle: &mut Oracle) {
    for i in 0..400usize {
        let id = uuid(40_000 + i as u128);
        let mut metrics = Metrics::new().with("x", extreme_i64(i));
        if i.is_multiple_of(2) {
            metrics = metrics.with("s", format!("row{i}"));
        }
        let timestamp_ms = i as i64 / 3;
        store
            .track_metrics(MODEL, id, timestamp_ms, &metrics)
            .unwrap();
        let tracked = Tracked {
            timestamp_ms,
            metrics: texts(&metrics),
            delayed: BTreeMap::new(),
        };
        oracle.insert(id, tracked);
    }
}

/// Labels every seventh prediction, then deletes every eleventh, all while in the head.
fn labels_and_deletions(store: &Store, oracle: &mut Oracle) {
    let ids: Vec<Uuid> = oracle.keys().copied().collect();
    let mut labels = Vec::new();
    for (n, id) in ids.iter().enumerate().filter(|(n, _)| n.is_multiple_of(7)) {
        let value = Value::F64(n as f64);
        oracle
            .get_mut(id)
            .unwrap()
            .delayed
            .insert("label".to_owned(), text(&value));
        labels.push(NewDelayed {
            uuid: *id,
            timestamp_ms: 1_000_000,
            metrics: Metrics::new().with("label", value),
        });
    }
    store.track_delayed_metrics_batch(&labels).unwrap();
    for (_, id) in ids.iter().enumerate().filter(|(n, _)| n % 11 == 3) {
        store.delete_prediction(*id).unwrap();
        oracle.remove(id);
    }
}

fn check(store: &Store, oracle: &Oracle, stage: Stage) {
    for (start, end) in [(i64::MIN, i64::MAX), (0, 1), (31, 64), (63, 65), (100, 151)] {
        let mut want: Vec<(Uuid, &Tracked)> = oracle
            .iter()
            .filter(|(_, t)| (start..end).contains(&t.timestamp_ms))
            .map(|(id, t)| (*id, t))
            .collect();
        want.sort_by_key(|(_, t)| t.timestamp_ms);
        let got: Vec<_> = store
            .read_metrics(MODEL, start, end)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let context = format!("{stage:?} [{start}, {end})");
        assert_eq!(got.len(), want.len(), "rows of {context}");
        // Equal timestamps come in seq order, which the oracle does not keep, so compare sets.
        let got: BTreeMap<Uuid, Tracked> = got
            .iter()
            .map(|p| {
                let tracked = Tracked {
                    timestamp_ms: p.timestamp_ms,
                    metrics: texts(&p.metrics),
                    delayed: texts(&p.delayed),
                };
                (p.uuid, tracked)
            })
            .collect();
        for (id, t) in &want {
            let found = got
                .get(id)
                .unwrap_or_else(|| panic!("{context}: {id} missing"));
            assert_eq!(found.timestamp_ms, t.timestamp_ms, "{context}: {id}");
            assert_eq!(found.metrics, t.metrics, "{context}: metrics of {id}");
            assert_eq!(found.delayed, t.delayed, "{context}: labels of {id}");
        }
        let columns = store
            .read_columns(MODEL, (start, end), &["x", "y", "blob"], &["label"])
            .unwrap();
        assert_eq!(columns.len(), want.len(), "read_columns rows of {context}");
        for (row, id) in columns.uuids.iter().enumerate() {
            let t = &oracle[id];
            for (column, name) in ["x", "y", "blob"].iter().enumerate() {
                let found = columns.metrics[column].get(row).as_ref().map(text);
                assert_eq!(
                    found.as_ref(),
                    t.metrics.get(*name),
                    "{context}: {name} of {id}"
                );
            }
            let label = columns.delayed[0].get(row).as_ref().map(text);
            assert_eq!(
                label.as_ref(),
                t.delayed.get("label"),
                "{context}: label of {id}"
            );
        }
    }
}

#[test]
fn columnar_and_row_calls_match_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    });
    let oracle = Mutex::new(Oracle::new());
    let write = |store: &Store| {
        let mut oracle = oracle.lock().unwrap();
        first_batch(store, &mut oracle);
        rows_with_other_types(store, &mut oracle);
        second_batch(store, &mut oracle);
        plain_and_large_batches(store, &mut oracle);
        labels_and_deletions(store, &mut oracle);
    };
    let check = |store: &Store, stage: Stage| check(store, &oracle.lock().unwrap(), stage);
    check_in_stages(dir.path(), &options, write, check);
}
