//! `read_columns` returns what `read_metrics` returns, column by column: the same rows in the
//! same order, the same inline values and the same latest delayed values, whether the records
//! are in the head, in segments, orphaned or tracked again.

#[path = "support/columns.rs"]
mod column_checks;
mod support;

use modelmetrics::{Metrics, Options, Prediction, Store, Value};
use proptest::prelude::*;
use support::uuid;

const MODELS: [&str; 2] = ["a", "b"];
const INLINE: [&str; 3] = ["score", "x", "label"];
const DELAYED: [&str; 3] = ["label", "score", "y"];

#[derive(Clone, Debug)]
enum Op {
    Predict {
        model: usize,
        id: u8,
        ts: i64,
        metrics: Vec<(usize, Value)>,
    },
    Delay {
        id: u8,
        ts: i64,
        metrics: Vec<(usize, Value)>,
    },
    Flush,
    Reopen,
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u32..4).prop_map(|v| Value::F64(f64::from(v) / 4.0)),
        (-3i64..3).prop_map(Value::I64),
        any::<bool>().prop_map(Value::Bool),
        "[ab]{0,2}".prop_map(Value::Str),
    ]
}

fn named(count: usize) -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((0..count, value()), 0..3).prop_map(|mut list| {
        list.sort_by_key(|(name, _)| *name);
        list.dedup_by_key(|(name, _)| *name);
        list
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0u8..24, 0i64..50, named(INLINE.len()))
            .prop_map(|(model, id, ts, metrics)| Op::Predict { model, id, ts, metrics }),
        5 => (0u8..30, 0i64..100, named(DELAYED.len()))
            .prop_map(|(id, ts, metrics)| Op::Delay { id, ts, metrics }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn metrics(names: &[&str], list: &[(usize, Value)]) -> Metrics {
    let mut metrics = Metrics::new();
    for (name, value) in list {
        metrics.push(names[*name], value.clone());
    }
    metrics
}

fn apply(store: &mut Store, dir: &std::path::Path, op: &Op) {
    match op {
        Op::Predict {
            model,
            id,
            ts,
            metrics: list,
        } => {
            let result = store.track_metrics(
                MODELS[*model],
                uuid(u128::from(*id)),
                *ts,
                &metrics(&INLINE, list),
            );
            assert!(
                result.is_ok()
                    || matches!(result, Err(modelmetrics::Error::DuplicatePrediction { .. }))
            );
        }
        Op::Delay {
            id,
            ts,
            metrics: list,
        } => {
            store
                .track_delayed_metrics(uuid(u128::from(*id)), *ts, &metrics(&DELAYED, list))
                .unwrap();
        }
        Op::Flush => store.flush().unwrap(),
        Op::Reopen => {
            store.close().unwrap();
            *store = Store::open_with(dir, Options::default()).unwrap();
        }
    }
}

/// Asserts that `read_columns` over the window agrees with `read_metrics`.
fn check_window(store: &Store, model: &str, start: i64, end: i64) {
    let rows: Vec<Prediction> = store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let columns = store
        .read_columns(model, (start, end), &INLINE, &DELAYED)
        .unwrap();
    assert_eq!(
        columns.len(),
        rows.len(),
        "row count of {model} [{start}, {end})"
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(columns.uuids[i], row.uuid, "uuid of row {i}");
        assert_eq!(
            columns.timestamps[i], row.timestamp_ms,
            "timestamp of row {i}"
        );
        for (j, name) in INLINE.iter().enumerate() {
            assert_eq!(
                columns.metrics[j].get(i).as_ref(),
                row.metrics.get(name),
                "{name} of row {i}"
            );
        }
        for (j, name) in DELAYED.iter().enumerate() {
            let expected = row.delayed.get(name);
            assert_eq!(
                columns.delayed[j].get(i).as_ref(),
                expected,
                "delayed {name} of row {i}"
            );
        }
    }
    let window = format!("{model} [{start}, {end})");
    for (column, name) in columns.metrics.iter().zip(INLINE) {
        let expected: Vec<Option<Value>> =
            rows.iter().map(|r| r.metrics.get(name).cloned()).collect();
        let checked = column_checks::check_column(column, &expected);
        assert_eq!(checked, Ok(()), "{name} column of {window}");
    }
    for (column, name) in columns.delayed.iter().zip(DELAYED) {
        let expected: Vec<Option<Value>> =
            rows.iter().map(|r| r.delayed.get(name).cloned()).collect();
        let checked = column_checks::check_column(column, &expected);
        assert_eq!(checked, Ok(()), "delayed {name} column of {window}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn columns_match_read_metrics(ops in prop::collection::vec(op(), 1..60), cut in 0i64..50) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for op in &ops {
            apply(&mut store, dir.path(), op);
        }
        for model in MODELS {
            check_window(&store, model, i64::MIN, i64::MAX);
            check_window(&store, model, 0, cut.max(1));
            check_window(&store, model, cut, 50);
        }
    }
}

#[test]
fn columns_of_no_metric_list_rows_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("a", uuid(1), 5, &Metrics::new().with("score", 0.5))
        .unwrap();
    store.flush().unwrap();
    store
        .track_metrics("a", uuid(2), 3, &Metrics::new().with("score", 0.25))
        .unwrap();
    let columns = store.read_columns("a", (0, 10), &[], &[]).unwrap();
    assert_eq!(columns.uuids, vec![uuid(2), uuid(1)]);
    assert_eq!(columns.timestamps, vec![3, 5]);
    assert!(columns.metrics.is_empty());
    assert!(columns.delayed.is_empty());
}

#[test]
fn columns_reject_bad_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let error = store
        .read_columns("a", (10, 5), &["score"], &[])
        .unwrap_err();
    assert!(
        matches!(error, modelmetrics::Error::InvalidInput { .. }),
        "{error}"
    );
}

#[test]
fn columns_repeat_a_delayed_metric_asked_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("a", uuid(1), 5, &Metrics::new().with("score", 0.5))
        .unwrap();
    store
        .track_delayed_metrics(uuid(1), 6, &Metrics::new().with("label", true))
        .unwrap();
    let columns = store
        .read_columns("a", (0, 10), &[], &["label", "label"])
        .unwrap();
    assert_eq!(
        columns.delayed[0].to_values(),
        vec![Some(Value::Bool(true))]
    );
    assert_eq!(
        columns.delayed[1].to_values(),
        vec![Some(Value::Bool(true))]
    );
}

/// Tracks a prediction of model "a" with a score, and when `label` is given, its label.
fn track(store: &Store, id: u128, ts: i64, label: Option<bool>) {
    let score = Metrics::new().with("score", id as f64 / 8.0);
    store.track_metrics("a", uuid(id), ts, &score).unwrap();
    if let Some(label) = label {
        let label = Metrics::new().with("label", label);
        store.track_delayed_metrics(uuid(id), 100, &label).unwrap();
    }
}

#[test]
fn columns_of_segments_sorted_and_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // The second segment starts at the first one's last timestamp, with a later seq, so their
    // rows together are sorted, and so are their labels.
    track(&store, 1, 10, None);
    track(&store, 2, 20, None);
    track(&store, 3, 30, Some(true));
    store.flush().unwrap();
    track(&store, 4, 30, Some(false));
    track(&store, 5, 40, Some(true));
    store.flush().unwrap();
    check_window(&store, "a", 0, 50);
    check_window(&store, "a", 30, 31);
    let sorted = store.read_columns("a", (0, 50), &[], &["label"]).unwrap();
    assert_eq!(sorted.uuids, [1, 2, 3, 4, 5].map(uuid));
    let labels = [None, None, Some(true), Some(false), Some(true)];
    assert_eq!(
        sorted.delayed[0].to_values(),
        labels.map(|l| l.map(Value::Bool))
    );

    // A third segment and the head contain rows and labels that sort before the others'.
    track(&store, 6, 25, Some(true));
    let label = Metrics::new().with("label", false);
    store.track_delayed_metrics(uuid(1), 101, &label).unwrap();
    let label = Metrics::new().with("label", true);
    store.track_delayed_metrics(uuid(2), 102, &label).unwrap();
    store.flush().unwrap();
    track(&store, 7, 5, Some(false));
    check_window(&store, "a", 0, 50);
    check_window(&store, "a", 20, 31);
    let mixed = store.read_columns("a", (0, 50), &[], &["label"]).unwrap();
    assert_eq!(mixed.uuids, [7, 1, 2, 6, 3, 4, 5].map(uuid));
    assert_eq!(mixed.timestamps, [5, 10, 20, 25, 30, 30, 40]);
    let labels = [false, false, true, true, true, false, true];
    assert_eq!(
        mixed.delayed[0].to_values(),
        labels.map(|l| Some(Value::Bool(l)))
    );
}
