//! `track_delayed_metrics_columns` rejects what `track_delayed_metrics_batch_owned` rejects for
//! the same rows, with an error that names the metric column and the row, and rejects columns
//! of different lengths and repeated metric names. A rejected batch writes nothing.

mod support;

use modelmetrics::{
    Error, MetricColumn, Metrics, NewDelayed, NewDelayedColumns, Options, Store, Value,
};
use support::{metric, read_all, uuid};

const MAX_STRING_LEN: usize = 64 * 1024;
const MAX_BYTES_LEN: usize = 4 * 1024 * 1024;

fn batch(rows: usize, metrics: Vec<(&str, MetricColumn)>) -> NewDelayedColumns {
    NewDelayedColumns {
        uuids: (0..rows as u128).map(uuid).collect(),
        timestamps_ms: (0..rows as i64).collect(),
        metrics: metrics
            .into_iter()
            .map(|(name, column)| (name.to_owned(), column))
            .collect(),
    }
}

fn labels(rows: usize) -> MetricColumn {
    MetricColumn::Bool((0..rows).map(|i| i % 2 == 0).collect())
}

/// Returns the rows of `batch` in the form of the row call.
fn rows_of(batch: &NewDelayedColumns) -> Vec<NewDelayed> {
    (0..batch.len())
        .map(|row| NewDelayed {
            uuid: batch.uuids[row],
            timestamp_ms: batch.timestamps_ms[row],
            metrics: batch
                .metrics
                .iter()
                .map(|(name, column)| (name.clone(), value_at(column, row)))
                .collect::<Metrics>(),
        })
        .collect()
}

fn value_at(column: &MetricColumn, row: usize) -> Value {
    match column {
        MetricColumn::F64(v) => Value::F64(v[row]),
        MetricColumn::I64(v) => Value::I64(v[row]),
        MetricColumn::Bool(v) => Value::Bool(v[row]),
        MetricColumn::Str(v) => Value::Str(v[row].clone()),
        MetricColumn::Bytes(v) => Value::Bytes(v[row].clone()),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// Checks that both calls reject `batch` as invalid input, that the columnar error contains
/// each of `expected`, and that neither call wrote a label.
fn assert_rejected_like_rows(batch: NewDelayedColumns, expected: &[&str]) {
    let (_dir, store) = open();
    let rows = rows_of(&batch);
    let column_error = store.track_delayed_metrics_columns(batch).unwrap_err();
    let row_error = store.track_delayed_metrics_batch_owned(rows).unwrap_err();
    assert!(
        matches!(column_error, Error::InvalidInput { .. }),
        "{column_error}"
    );
    assert!(
        matches!(row_error, Error::InvalidInput { .. }),
        "{row_error}"
    );
    let message = column_error.to_string();
    for part in expected {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
}

#[test]
fn long_string_names_column_and_row() {
    let mut notes = vec![String::new(); 4];
    notes[2] = "x".repeat(MAX_STRING_LEN + 1);
    let batch = batch(4, vec![("note", MetricColumn::Str(notes))]);
    let expected = [
        "string value",
        "metric column \"note\" at row 2",
        "store longer text",
    ];
    assert_rejected_like_rows(batch, &expected);
}

#[test]
fn long_bytes_value_names_column_and_row() {
    let blobs = vec![vec![0u8; MAX_BYTES_LEN + 1], Vec::new()];
    let batch = batch(2, vec![("blob", MetricColumn::Bytes(blobs))]);
    assert_rejected_like_rows(batch, &["bytes value", "\"blob\" at row 0"]);
}

#[test]
fn oversized_row_names_row() {
    let blob = |row: usize| {
        let mut values = vec![Vec::new(); 3];
        values[row] = vec![1u8; MAX_BYTES_LEN];
        MetricColumn::Bytes(values)
    };
    let metrics = vec![("a", blob(1)), ("b", blob(1)), ("c", blob(1))];
    assert_rejected_like_rows(batch(3, metrics), &["in row 1", "split"]);
}

#[test]
fn bad_metric_names_are_rejected() {
    let empty = batch(2, vec![("", labels(2))]);
    assert_rejected_like_rows(empty, &["metric name", "must not be empty"]);
    let control = batch(2, vec![("a\u{7}b", labels(2))]);
    assert_rejected_like_rows(control, &["control characters"]);
    let long = "n".repeat(257);
    let too_long = batch(2, vec![(long.as_str(), labels(2))]);
    assert_rejected_like_rows(too_long, &["at most 256 bytes"]);
}

#[test]
fn repeated_name_is_rejected() {
    let (_dir, store) = open();
    let repeated = batch(2, vec![("label", labels(2)), ("label", labels(2))]);
    let error = store.track_delayed_metrics_columns(repeated).unwrap_err();
    assert!(error.to_string().contains("appears twice"), "{error}");
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
}

#[test]
fn columns_of_other_lengths_are_rejected() {
    let (_dir, store) = open();
    let short = batch(3, vec![("label", labels(2))]);
    let error = store.track_delayed_metrics_columns(short).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("\"label\" has 2 values for 3"),
        "{message}"
    );
    assert!(
        message.contains("one value per prediction UUID"),
        "{message}"
    );

    let mut timestamps = batch(3, vec![("label", labels(3))]);
    timestamps.timestamps_ms.push(9);
    let error = store.track_delayed_metrics_columns(timestamps).unwrap_err();
    assert!(error.to_string().contains("timestamps_ms"), "{error}");
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
}

#[test]
fn too_many_columns_are_rejected() {
    let metrics: Vec<(String, MetricColumn)> = (0..1025)
        .map(|i| (format!("m{i}"), MetricColumn::I64(vec![i])))
        .collect();
    let too_many = NewDelayedColumns {
        uuids: vec![uuid(0)],
        timestamps_ms: vec![0],
        metrics,
    };
    assert_rejected_like_rows(too_many, &["1025 metric columns", "at most 1024"]);
}

#[test]
fn batch_over_limit_is_rejected() {
    let rows = 100_001;
    assert_rejected_like_rows(batch(rows, vec![("label", labels(rows))]), &["100000"]);
}

#[test]
fn empty_batch_writes_nothing() {
    let (_dir, store) = open();
    store
        .track_delayed_metrics_columns(NewDelayedColumns::default())
        .unwrap();
    // The row call checks no metrics for zero rows, so neither does the columnar call.
    let no_rows = batch(0, vec![("", MetricColumn::F64(Vec::new()))]);
    store.track_delayed_metrics_columns(no_rows).unwrap();
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
}

#[test]
fn nan_and_rows_without_metrics_are_stored() {
    let (_dir, store) = open();
    store
        .track_metrics("m", uuid(0), 0, &metric("score", 0.5))
        .unwrap();
    let nan = batch(1, vec![("loss", MetricColumn::F64(vec![f64::NAN]))]);
    store.track_delayed_metrics_columns(nan).unwrap();
    store
        .track_delayed_metrics_columns(batch(2, Vec::new()))
        .unwrap();
    let rows = read_all(&store, "m");
    let loss = rows[0].delayed.get("loss");
    assert!(
        matches!(loss, Some(Value::F64(v)) if v.is_nan()),
        "{loss:?}"
    );
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].uuid, uuid(1));
    assert!(orphans[0].metrics.is_empty());
}

#[test]
fn unknown_prediction_is_rejected_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().reject_unknown_predictions(true);
    let store = Store::open_with(dir.path(), options).unwrap();
    store
        .track_metrics("m", uuid(0), 0, &metric("score", 0.5))
        .unwrap();
    store.flush().unwrap();
    store
        .track_metrics("m", uuid(1), 1, &metric("score", 0.5))
        .unwrap();

    let known = batch(2, vec![("label", labels(2))]);
    store.track_delayed_metrics_columns(known).unwrap();
    let unknown = batch(3, vec![("label", MetricColumn::Bool(vec![false; 3]))]);
    let error = store.track_delayed_metrics_columns(unknown).unwrap_err();
    assert!(
        matches!(error, Error::UnknownPrediction { uuid } if uuid == support::uuid(2)),
        "{error}"
    );
    // The rejected batch wrote none of its rows, so the first labels still stand.
    let rows = read_all(&store, "m");
    assert_eq!(rows[0].delayed.get("label"), Some(&Value::Bool(true)));
    assert_eq!(rows[1].delayed.get("label"), Some(&Value::Bool(false)));
}
