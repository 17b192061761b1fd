//! `track_metrics_columns` rejects what `track_metrics_batch_owned` rejects for the same rows,
//! with the same error, and rejects columns of different lengths and repeated metric names.
//! A rejected batch writes nothing.

mod support;

use modelmetrics::{
    Error, MetricColumn, Metrics, NewPrediction, NewPredictionColumns, Store, Uuid, Value,
};
use support::{read_all, uuid};

const MODEL: &str = "m";

fn batch(rows: usize, metrics: Vec<(&str, MetricColumn)>) -> NewPredictionColumns {
    NewPredictionColumns {
        model: MODEL.to_owned(),
        uuids: (0..rows as u128).map(uuid).collect(),
        timestamps_ms: (0..rows as i64).collect(),
        metrics: metrics
            .into_iter()
            .map(|(name, column)| (name.to_owned(), column))
            .collect(),
    }
}

fn scores(rows: usize) -> MetricColumn {
    MetricColumn::F64((0..rows).map(|i| i as f64).collect())
}

/// Returns the rows of `batch` in the form of the row call.
fn rows_of(batch: &NewPredictionColumns) -> Vec<NewPrediction> {
    (0..batch.len())
        .map(|row| NewPrediction {
            model: batch.model.clone(),
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

/// Checks that both calls reject `batch` with the same message, and that neither wrote a row.
fn assert_rejected_like_rows(batch: NewPredictionColumns, expected: &str) {
    let (_dir, store) = open();
    let rows = rows_of(&batch);
    let model = batch.model.clone();
    let column_error = store.track_metrics_columns(batch).unwrap_err();
    let row_error = store.track_metrics_batch_owned(rows).unwrap_err();
    assert_eq!(column_error.to_string(), row_error.to_string());
    assert!(
        matches!(column_error, Error::InvalidInput { .. }),
        "{column_error}"
    );
    assert!(
        column_error.to_string().contains(expected),
        "{column_error}"
    );
    if !model.is_empty() && model.len() <= 256 && !model.contains('\n') {
        assert!(read_all(&store, &model).is_empty());
    }
    assert_eq!(store.lookup(uuid(0)).unwrap(), None);
}

#[test]
fn limits_match_row_call() {
    let mut long_model = batch(2, vec![("score", scores(2))]);
    long_model.model = "m".repeat(257);
    assert_rejected_like_rows(long_model, "model");
    let mut empty_model = batch(2, vec![]);
    empty_model.model = String::new();
    assert_rejected_like_rows(empty_model, "must not be empty");
    let mut control_model = batch(1, vec![]);
    control_model.model = "a\nb".to_owned();
    assert_rejected_like_rows(control_model, "control characters");

    assert_rejected_like_rows(batch(2, vec![("", scores(2))]), "must not be empty");
    let long_name = "n".repeat(257);
    assert_rejected_like_rows(batch(2, vec![(&long_name, scores(2))]), "at most 256");
    assert_rejected_like_rows(batch(2, vec![("tab\tname", scores(2))]), "control");

    let long_string = MetricColumn::Str(vec!["ok".into(), "s".repeat(64 * 1024 + 1)]);
    assert_rejected_like_rows(batch(2, vec![("text", long_string)]), "string value");
    let long_bytes = MetricColumn::Bytes(vec![vec![0; 4 * 1024 * 1024 + 1]]);
    assert_rejected_like_rows(batch(1, vec![("blob", long_bytes)]), "bytes value");
}

#[test]
fn too_many_metrics_match_row_call() {
    let names: Vec<String> = (0..1025).map(|i| format!("m{i:04}")).collect();
    let columns = names.iter().map(|n| (n.as_str(), scores(1))).collect();
    assert_rejected_like_rows(batch(1, columns), "1025 metrics");
}

#[test]
fn record_over_size_limit_matches_row_call() {
    let three_mib = || MetricColumn::Bytes(vec![vec![1; 10], vec![7; 3 << 20]]);
    let columns = vec![("a", three_mib()), ("b", three_mib()), ("c", three_mib())];
    assert_rejected_like_rows(batch(2, columns), "bytes of names and values");
}

#[test]
fn repeated_uuid_in_batch_matches_row_call() {
    let mut repeated = batch(4, vec![("score", scores(4))]);
    repeated.uuids[3] = repeated.uuids[1];
    assert_rejected_like_rows(repeated, "appears twice in one batch");
}

#[test]
fn repeated_metric_name_matches_row_call() {
    let columns = vec![("score", scores(2)), ("score", scores(2))];
    assert_rejected_like_rows(batch(2, columns), "appears twice in one call");
}

#[test]
fn batch_over_length_limit_matches_row_call() {
    let rows = 100_001;
    assert_rejected_like_rows(batch(rows, vec![("score", scores(rows))]), "at most 100000");
}

#[test]
fn column_of_other_length_is_rejected() {
    let (_dir, store) = open();
    let mut short_timestamps = batch(3, vec![("score", scores(3))]);
    short_timestamps.timestamps_ms.pop();
    let error = store.track_metrics_columns(short_timestamps).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("timestamps_ms"), "{message}");
    assert!(
        message.contains("2 values for 3 prediction UUIDs"),
        "{message}"
    );

    let long_column = batch(3, vec![("score", scores(3)), ("label", scores(4))]);
    let message = store
        .track_metrics_columns(long_column)
        .unwrap_err()
        .to_string();
    assert!(message.contains("\"label\" has 4 values"), "{message}");
    assert!(
        message.contains("one value per prediction UUID"),
        "{message}"
    );

    let empty_with_values = batch(0, vec![("score", scores(1))]);
    assert!(store.track_metrics_columns(empty_with_values).is_err());
    assert!(read_all(&store, MODEL).is_empty());
}

#[test]
fn uuid_in_store_is_a_duplicate() {
    let (_dir, store) = open();
    let tracked_as_row = Uuid::from_u128(7);
    let metrics = Metrics::new().with("score", 1.0);
    store
        .track_metrics(MODEL, tracked_as_row, 5, &metrics)
        .unwrap();
    store
        .track_metrics_columns(batch(3, vec![("score", scores(3))]))
        .unwrap();

    let mut again_in_head = batch(2, vec![("score", scores(2))]);
    again_in_head.uuids = vec![Uuid::from_u128(100), uuid(1)];
    let error = store.track_metrics_columns(again_in_head).unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { uuid: u } if u == uuid(1)),
        "{error}"
    );
    let mut row_uuid = batch(1, vec![("score", scores(1))]);
    row_uuid.uuids = vec![tracked_as_row];
    let error = store.track_metrics_columns(row_uuid.clone()).unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { .. }),
        "{error}"
    );
    let error = store
        .track_metrics_batch_owned(rows_of(&batch(1, vec![])))
        .unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { uuid: u } if u == uuid(0)),
        "row call with a UUID of a columnar batch: {error}"
    );

    store.flush().unwrap();
    let error = store.track_metrics_columns(row_uuid).unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { .. }),
        "{error}"
    );
    let mut in_segment = batch(2, vec![("score", scores(2))]);
    in_segment.uuids = vec![Uuid::from_u128(100), uuid(2)];
    let error = store.track_metrics_columns(in_segment).unwrap_err();
    assert!(
        matches!(error, Error::DuplicatePrediction { .. }),
        "{error}"
    );

    assert_eq!(read_all(&store, MODEL).len(), 4);
    assert_eq!(store.lookup(Uuid::from_u128(100)).unwrap(), None);
}

#[test]
fn empty_batch_writes_nothing() {
    let (_dir, store) = open();
    let mut empty = batch(0, vec![("score", scores(0))]);
    empty.model = String::new();
    store.track_metrics_columns(empty.clone()).unwrap();
    assert!(read_all(&store, MODEL).is_empty());
    store.close().unwrap();
    assert!(matches!(
        store.track_metrics_columns(empty),
        Err(Error::Closed)
    ));
    assert!(matches!(
        store.track_metrics_columns(batch(1, vec![])),
        Err(Error::Closed)
    ));
}
