//! Columnar batches at the input limits must go through the log, a crash copy's replay, a
//! flush, a reopen and compaction unchanged. The cases are names and values at their maximum
//! length, a row of exactly `MAX_RECORD_BYTES`, a batch of `MAX_BATCH_LEN` rows without
//! metrics, extreme timestamps, and floats whose bits must be kept (NaN payloads, -0.0,
//! infinities, subnormals).

mod support;

use modelmetrics::value::{
    MAX_BATCH_LEN, MAX_BYTES_LEN, MAX_METRIC_NAME_LEN, MAX_MODEL_LEN, MAX_RECORD_BYTES,
    MAX_STRING_LEN,
};
use modelmetrics::{MetricColumn, NewPredictionColumns, Options, Store, Uuid, Value};
use support::{ALL_END, ALL_START, copy_store};

fn uuid(n: u64) -> Uuid {
    Uuid::from_u64_pair(0xc0de, n)
}

fn options() -> Options {
    Options::default().compaction(modelmetrics::Compaction {
        enabled: false,
        ..modelmetrics::Compaction::default()
    })
}

const FLOATS: [u64; 6] = [
    0x7ff8_0000_dead_beef,
    0xfff0_0000_0000_0001,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0x0000_0000_0000_0001,
    0xffef_ffff_ffff_ffff,
];

/// Builds a batch whose rows use every limit: the longest model and metric name, a string and
/// a bytes value at their maximum, the first row at exactly `MAX_RECORD_BYTES`, and extreme
/// timestamps. The last column fills the first row up to the limit.
fn limits_batch() -> NewPredictionColumns {
    let rows = FLOATS.len();
    let long_name = "n".repeat(MAX_METRIC_NAME_LEN);
    let fixed = long_name.len() + 8 + "s".len() + "b".len() + "c".len();
    let rest = MAX_RECORD_BYTES - fixed - MAX_STRING_LEN - MAX_BYTES_LEN;
    assert!(rest <= MAX_BYTES_LEN);
    let small = |i: usize| vec![i as u8; i];
    let mut full = vec![vec![7u8; MAX_BYTES_LEN]];
    full.extend((1..rows).map(small));
    let mut remainder = vec![vec![9u8; rest]];
    remainder.extend((1..rows).map(small));
    let mut strings = vec!["é".repeat(MAX_STRING_LEN / 2)];
    strings.extend((1..rows).map(|i| "x".repeat(i)));
    NewPredictionColumns {
        model: "m".repeat(MAX_MODEL_LEN),
        uuids: (0..rows as u64).map(uuid).collect(),
        timestamps_ms: vec![0, i64::MIN, i64::MAX - 1, -1, 1, 0],
        metrics: vec![
            ("s".into(), MetricColumn::Str(strings)),
            (
                long_name,
                MetricColumn::F64(FLOATS.map(f64::from_bits).to_vec()),
            ),
            ("b".into(), MetricColumn::Bytes(full)),
            ("c".into(), MetricColumn::Bytes(remainder)),
        ],
    }
}

fn float_bits(value: Option<&Value>) -> Option<u64> {
    match value {
        Some(Value::F64(v)) => Some(v.to_bits()),
        _ => None,
    }
}

/// Checks every row of `batch` in `store` by lookup, comparing floats by their bits.
fn check(store: &Store, batch: &NewPredictionColumns, stage: &str) {
    for (row, uuid) in batch.uuids.iter().enumerate() {
        let found = store.lookup(*uuid).unwrap();
        let found = found.unwrap_or_else(|| panic!("{stage}: row {row} missing"));
        assert_eq!(found.model, batch.model, "{stage}: row {row}");
        assert_eq!(
            found.timestamp_ms, batch.timestamps_ms[row],
            "{stage}: row {row}"
        );
        assert_eq!(
            found.metrics.len(),
            batch.metrics.len(),
            "{stage}: row {row}"
        );
        for (name, column) in &batch.metrics {
            let got = found.metrics.get(name);
            let expected = column.value(row).unwrap();
            match expected {
                Value::F64(v) => {
                    assert_eq!(
                        float_bits(got),
                        Some(v.to_bits()),
                        "{stage}: row {row} {name}"
                    )
                }
                other => assert_eq!(got, Some(&other), "{stage}: row {row}, {}", name.len()),
            }
        }
    }
}

#[test]
fn batch_at_limits_round_trips() {
    let root = tempfile::tempdir().unwrap();
    let (dir, copy) = (root.path().join("store"), root.path().join("copy"));
    let batch = limits_batch();
    let store = Store::open_with(&dir, options()).unwrap();
    store.track_metrics_columns(batch.clone()).unwrap();
    check(&store, &batch, "head");

    store.sync().unwrap();
    copy_store(&dir, &copy);
    let replayed = Store::open_with(&copy, options()).unwrap();
    check(&replayed, &batch, "replayed");
    drop(replayed);

    store.flush().unwrap();
    check(&store, &batch, "flushed");
    store.compact().unwrap();
    check(&store, &batch, "compacted");
    store.close().unwrap();
    let reopened = Store::open_with(&dir, options()).unwrap();
    check(&reopened, &batch, "reopened");
}

#[test]
fn row_over_record_limit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    let mut batch = limits_batch();
    if let Some((_, MetricColumn::Bytes(values))) = batch.metrics.last_mut() {
        values[0].push(0);
    }
    let result = store.track_metrics_columns(batch.clone());
    assert!(
        result.is_err(),
        "a row of MAX_RECORD_BYTES + 1 bytes was taken"
    );
    assert!(store.lookup(batch.uuids[1]).unwrap().is_none());
}

#[test]
fn largest_batch_without_metrics_replays() {
    let root = tempfile::tempdir().unwrap();
    let (dir, copy) = (root.path().join("store"), root.path().join("copy"));
    let rows = MAX_BATCH_LEN as u64;
    let batch = NewPredictionColumns {
        model: "m".into(),
        uuids: (0..rows).map(uuid).collect(),
        timestamps_ms: (0..rows as i64).collect(),
        metrics: Vec::new(),
    };
    let store = Store::open_with(&dir, options()).unwrap();
    store.track_metrics_columns(batch).unwrap();
    store.sync().unwrap();
    copy_store(&dir, &copy);

    let replayed = Store::open_with(&copy, options()).unwrap();
    let count = replayed
        .read_metrics("m", ALL_START, ALL_END)
        .unwrap()
        .count();
    assert_eq!(count, MAX_BATCH_LEN);
    let last = replayed.lookup(uuid(rows - 1)).unwrap().unwrap();
    assert!(last.metrics.is_empty());
    replayed.flush().unwrap();
    drop(replayed);
    let reopened = Store::open_with(&copy, options()).unwrap();
    let count = reopened
        .read_metrics("m", ALL_START, ALL_END)
        .unwrap()
        .count();
    assert_eq!(count, MAX_BATCH_LEN);
}
