//! Blocks of several 256-row groups whose timestamps jump across the whole range of i64, so
//! that the deltas, the deltas of deltas and the restarts of the group index wrap around. The
//! predictions come from columnar batches and row calls, and every third has a label. Each
//! window that starts or ends at or next to one of the timestamps is compared with the tracked
//! records in the head, after a flush, after a reopen and after compaction.

mod support;

use std::sync::Mutex;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewDelayed, NewPredictionColumns, Options, Store, Value,
};
use support::{Stage, by_name, check_in_stages, uuid};

const MODEL: &str = "edges";
/// Timestamps, in ascending order. Prediction `i` has timestamp `LEVELS[i * LEVELS.len() /
/// ROWS]`, so each level repeats over about 150 rows and the jumps fall inside groups.
const LEVELS: [i64; 8] = [
    i64::MIN,
    i64::MIN + 1,
    -1,
    0,
    1_700_000_000_000,
    i64::MAX - 2,
    i64::MAX - 1,
    i64::MAX,
];
const ROWS: usize = 1_200;

fn timestamp(i: usize) -> i64 {
    LEVELS[i * LEVELS.len() / ROWS]
}

/// The expected rows: (prediction number, timestamp, score, label).
type Oracle = Vec<(usize, i64, f64, Option<i64>)>;

/// Tracks predictions `0..ROWS` in descending order, odd chunks of 100 as columnar batches
/// and even ones as row calls, then labels every third.
fn write(store: &Store) -> Oracle {
    let chunks: Vec<Vec<usize>> = (0..ROWS)
        .rev()
        .collect::<Vec<_>>()
        .chunks(100)
        .map(<[usize]>::to_vec)
        .collect();
    for (index, chunk) in chunks.iter().enumerate() {
        if index % 2 == 1 {
            let batch = NewPredictionColumns {
                model: MODEL.to_owned(),
                uuids: chunk.iter().map(|i| uuid(*i as u128)).collect(),
                timestamps_ms: chunk.iter().map(|i| timestamp(*i)).collect(),
                metrics: vec![(
                    "score".to_owned(),
                    MetricColumn::F64(chunk.iter().map(|i| *i as f64).collect()),
                )],
            };
            store.track_metrics_columns(batch).unwrap();
            continue;
        }
        for &i in chunk {
            let metrics = Metrics::new().with("score", i as f64);
            store
                .track_metrics(MODEL, uuid(i as u128), timestamp(i), &metrics)
                .unwrap();
        }
    }
    let labels: Vec<NewDelayed> = (0..ROWS)
        .step_by(3)
        .map(|i| NewDelayed {
            uuid: uuid(i as u128),
            timestamp_ms: timestamp(ROWS - 1 - i),
            metrics: Metrics::new().with("label", i as i64),
        })
        .collect();
    store.track_delayed_metrics_batch(&labels).unwrap();
    (0..ROWS)
        .map(|i| {
            let label = i.is_multiple_of(3).then_some(i as i64);
            (i, timestamp(i), i as f64, label)
        })
        .collect()
}

fn check(store: &Store, oracle: &Oracle, stage: Stage) {
    let mut edges: Vec<i64> = LEVELS.to_vec();
    edges.extend(LEVELS.iter().filter_map(|t| t.checked_add(1)));
    edges.extend(LEVELS.iter().filter_map(|t| t.checked_sub(1)));
    edges.sort_unstable();
    edges.dedup();
    for &start in &edges {
        for &end in edges.iter().filter(|end| **end > start) {
            let context = format!("{stage:?} [{start}, {end})");
            // Rows of equal timestamp come in tracking order, which is descending here.
            let mut want: Vec<_> = oracle
                .iter()
                .filter(|(_, t, _, _)| (start..end).contains(t))
                .collect();
            want.sort_by_key(|(i, t, _, _)| (*t, std::cmp::Reverse(*i)));
            let got: Vec<_> = store
                .read_metrics(MODEL, start, end)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(got.len(), want.len(), "rows of {context}");
            for (prediction, (i, t, score, label)) in got.iter().zip(&want) {
                assert_eq!(prediction.uuid, uuid(*i as u128), "{context}");
                assert_eq!(prediction.timestamp_ms, *t, "{context}");
                let metrics = by_name(&prediction.metrics);
                assert_eq!(metrics.get("score"), Some(&Value::F64(*score)), "{context}");
                let found = by_name(&prediction.delayed).get("label").cloned();
                assert_eq!(found, label.map(Value::I64), "label of {i} in {context}");
            }
            let columns = store
                .read_columns(MODEL, (start, end), &["score"], &["label"])
                .unwrap();
            let timestamps: Vec<i64> = want.iter().map(|(_, t, _, _)| *t).collect();
            assert_eq!(columns.timestamps, timestamps, "read_columns of {context}");
            let labels: Vec<_> = want.iter().map(|(_, _, _, l)| l.map(Value::I64)).collect();
            assert_eq!(
                columns.delayed[0].to_values(),
                labels,
                "labels of {context}"
            );
        }
    }
}

#[test]
fn extreme_timestamps_across_groups() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    });
    let oracle = Mutex::new(Oracle::new());
    let write = |store: &Store| *oracle.lock().unwrap() = write(store);
    let check = |store: &Store, stage: Stage| check(store, &oracle.lock().unwrap(), stage);
    check_in_stages(dir.path(), &options, write, check);
}
