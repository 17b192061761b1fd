//! `scan_metrics` against `read_metrics` at the edges of values and windows. Timestamps lie at
//! `i64::MIN` and next to `i64::MAX`. Values include NaNs with payloads, negative zero,
//! infinities, the extreme integers, and empty strings and payloads. One metric name is a float
//! in one segment, an integer in the next, a string in a columnar batch and a bool in the head.
//! Model
//! ids that are prefixes of each other must not leak rows into one another's windows. Each
//! check runs with the rows in the head, after a flush, after a reopen and after compaction.
//!
//! Values compare by their bits (`Value`'s equality), so a NaN must come back with its payload.

mod support;

use modelmetrics::{
    MetricColumn, Metrics, NewDelayedColumns, NewPredictionColumns, Options, Prediction, Store,
    Value,
};
use support::{Stage, check_in_stages, uuid};

/// Model ids where each is a prefix of the next.
const MODELS: [&str; 3] = ["m", "m2", "m2 "];
const NAN_WITH_PAYLOAD: u64 = 0x7ff8_0000_dead_beef;
const NEGATIVE_NAN: u64 = 0xfff0_0000_0000_0001;

/// Timestamps at both ends of the range and around zero. `i64::MAX` is outside every window,
/// because a window ends before `end_ms` and `end_ms` is at most `i64::MAX`.
const EDGE_TIMESTAMPS: [i64; 7] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];

/// Windows at the edges, around zero, and across the slices that a scan decodes one by one.
const WINDOWS: [(i64, i64); 9] = [
    (i64::MIN, i64::MAX),
    (i64::MIN, i64::MIN + 1),
    (i64::MIN + 1, i64::MIN + 2),
    (i64::MAX - 1, i64::MAX),
    (-1, 1),
    (0, 1),
    (i64::MIN, 0),
    (0, i64::MAX),
    (-3_600_001, 3_600_001),
];

fn edge_values() -> Vec<Value> {
    vec![
        Value::F64(f64::from_bits(NAN_WITH_PAYLOAD)),
        Value::F64(f64::from_bits(NEGATIVE_NAN)),
        Value::F64(-0.0),
        Value::F64(f64::INFINITY),
        Value::F64(f64::NEG_INFINITY),
        Value::F64(f64::from_bits(1)),
        Value::I64(i64::MIN),
        Value::I64(i64::MAX),
        Value::Str(String::new()),
        Value::Bytes(Vec::new()),
        Value::Bool(false),
    ]
}

/// Tracks, for each model, one prediction per edge timestamp: the metric `x` is a float in the
/// first segment, an integer in the second, a string in a columnar batch and a bool in the
/// head. Labels of changing type land in segments and in the head.
fn write(store: &Store) {
    let values = edge_values();
    let mut n = 0u128;
    for (m, model) in MODELS.iter().enumerate() {
        for (t, &ts) in EDGE_TIMESTAMPS.iter().enumerate() {
            let value = values[(t + m) % values.len()].clone();
            let metrics = Metrics::new().with("x", value).with("t", t as i64);
            store.track_metrics(model, uuid(n), ts, &metrics).unwrap();
            n += 1;
        }
    }
    store.flush().unwrap();
    for (m, model) in MODELS.iter().enumerate() {
        let metrics = Metrics::new().with("x", i64::MIN + m as i64);
        store.track_metrics(model, uuid(n), 0, &metrics).unwrap();
        n += 1;
    }
    store
        .track_delayed_metrics(uuid(0), 0, &Metrics::new().with("label", true))
        .unwrap();
    store.flush().unwrap();
    for model in MODELS {
        let batch = NewPredictionColumns {
            model: model.into(),
            uuids: (0..3).map(|i| uuid(n + i)).collect(),
            timestamps_ms: vec![i64::MIN, 0, i64::MAX - 1],
            metrics: vec![(
                "x".into(),
                MetricColumn::Str(vec![String::new(), "a".into(), "b".into()]),
            )],
        };
        store.track_metrics_columns(batch).unwrap();
        n += 3;
    }
    let labels = NewDelayedColumns {
        uuids: vec![uuid(0), uuid(1), uuid(0)],
        timestamps_ms: vec![1, 2, 3],
        metrics: vec![(
            "label".into(),
            MetricColumn::F64(vec![f64::from_bits(NAN_WITH_PAYLOAD), -0.0, -0.0]),
        )],
    };
    store.track_delayed_metrics_columns(labels).unwrap();
    for model in MODELS {
        let metrics = Metrics::new().with("x", true);
        store.track_metrics(model, uuid(n), -1, &metrics).unwrap();
        n += 1;
    }
}

fn read(store: &Store, model: &str, (start, end): (i64, i64)) -> Vec<Prediction> {
    let rows = store.read_metrics(model, start, end).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn scan(store: &Store, model: &str, (start, end): (i64, i64)) -> Vec<Prediction> {
    let mut rows = Vec::new();
    store
        .scan_metrics(model, start, end, |row| rows.push(row.to_prediction()))
        .unwrap();
    rows
}

/// Checks every window of every model, and that no window returns a row of another model.
fn check_agreement(store: &Store, stage: Stage) {
    for model in MODELS {
        for window in WINDOWS {
            let read = read(store, model, window);
            let scanned = scan(store, model, window);
            assert_eq!(
                scanned.len(),
                read.len(),
                "{stage:?} {model} {window:?}: rows"
            );
            for (i, (s, r)) in scanned.iter().zip(&read).enumerate() {
                assert_eq!(s, r, "{stage:?} {model} {window:?}: row {i}");
                assert_eq!(
                    s.model, model,
                    "{stage:?} {window:?}: row {i} of another model"
                );
            }
        }
    }
}

/// Checks the rows that the whole range returns: each model's 7 + 1 + 3 + 1 predictions but the
/// one at `i64::MAX`, and the labels of `uuid(0)` and `uuid(1)`.
fn check_contents(store: &Store, stage: Stage) {
    for model in MODELS {
        let rows = scan(store, model, (i64::MIN, i64::MAX));
        assert_eq!(rows.len(), 11, "{stage:?} {model}: rows");
        assert!(rows.iter().all(|p| p.timestamp_ms < i64::MAX), "{stage:?}");
        let sorted = rows
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms);
        assert!(sorted, "{stage:?} {model}: rows out of timestamp order");
    }
    let first = scan(store, "m", (i64::MIN, i64::MIN + 1));
    let labelled = first.iter().find(|p| p.uuid == uuid(0)).unwrap();
    // The last label tracked for uuid(0) is -0.0, which must not come back as 0.0.
    let label = labelled.delayed.get("label").unwrap();
    assert_eq!(label, &Value::F64(-0.0), "{stage:?}: label of uuid(0)");
    assert_eq!(label.as_f64().unwrap().to_bits(), (-0.0f64).to_bits());
    let nan = first.iter().find(|p| p.uuid == uuid(0)).unwrap();
    let x = nan.metrics.get("x").unwrap().as_f64().unwrap();
    assert_eq!(x.to_bits(), NAN_WITH_PAYLOAD, "{stage:?}: NaN payload of x");
    let hidden = store
        .lookup(uuid(6))
        .unwrap()
        .expect("prediction at i64::MAX");
    assert_eq!(hidden.timestamp_ms, i64::MAX, "{stage:?}");
}

#[test]
fn scan_agrees_at_value_and_window_edges() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default();
    check_in_stages(dir.path(), &options, write, |store, stage| {
        check_agreement(store, stage);
        check_contents(store, stage);
    });
}

/// The read-only view of a closed store scans the same rows as the store did.
#[test]
fn read_only_scan_agrees_with_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    write(&store);
    let expected: Vec<Vec<Prediction>> = MODELS
        .iter()
        .map(|model| scan(&store, model, (i64::MIN, i64::MAX)))
        .collect();
    // The writer has not flushed its head, so the view reads those rows from the log.
    let view = Store::open_read_only(dir.path()).unwrap();
    for (model, expected) in MODELS.iter().zip(&expected) {
        let mut rows = Vec::new();
        view.scan_metrics(model, i64::MIN, i64::MAX, |row| {
            rows.push(row.to_prediction())
        })
        .unwrap();
        assert_eq!(&rows, expected, "{model}");
    }
    store.close().unwrap();
    view.refresh().unwrap();
    for (model, expected) in MODELS.iter().zip(&expected) {
        let mut rows = Vec::new();
        view.scan_metrics(model, i64::MIN, i64::MAX, |row| {
            rows.push(row.to_prediction())
        })
        .unwrap();
        assert_eq!(&rows, expected, "{model} after close");
    }
}

/// Empty and reversed windows are rejected by both reads alike, and a window over the whole
/// range of an empty store finishes at once although it spans 2^64 milliseconds.
#[test]
fn degenerate_windows_are_rejected_alike() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (start, end) in [(0, 0), (1, 0), (i64::MAX, i64::MIN), (i64::MIN, i64::MIN)] {
        let read = store.read_metrics("m", start, end).err();
        let scanned = store.scan_metrics("m", start, end, |_| {}).err();
        assert!(read.is_some(), "read of [{start}, {end}) was accepted");
        assert!(scanned.is_some(), "scan of [{start}, {end}) was accepted");
    }
    let started = std::time::Instant::now();
    let mut visited = 0;
    store
        .scan_metrics("m", i64::MIN, i64::MAX, |_| visited += 1)
        .unwrap();
    assert_eq!(visited, 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
