//! `track_delayed_metrics_columns` stores what `track_delayed_metrics_batch_owned` stores for
//! the same rows.
//!
//! Two stores receive the same predictions, some flushed into segments and some left in the
//! head. Then one store receives batches of labels through the row call and the other through
//! the columnar call, or through a random mix of both. Labels name predictions in the head, in
//! segments, predictions tracked only later, and UUIDs never tracked (orphans); a UUID may
//! repeat inside a batch. Every read path must return the same thing in both stores:
//! `read_metrics`, `read_columns`, `lookup` and `orphaned_delayed_metrics`. They are compared
//! with the labels in the head, in a read-only view, in a crash copy that replays the log,
//! after a flush and after a reopen.

mod support;

use std::path::Path;

use modelmetrics::{
    MetricColumn, Metrics, NewDelayed, NewDelayedColumns, NewPredictionColumns, OrphanedDelayed,
    Prediction, Store, Uuid, Value,
};
use proptest::prelude::*;
use support::{ALL_END, ALL_START, copy_store, read_all, small_log_options, uuid};

const MODEL: &str = "m";
/// Delayed metric names, not in name order, so that both calls must sort them.
const NAMES: [&str; 4] = ["label", "loss", "class", "note"];
/// Predictions flushed into segments before any label, then those left in the head.
const STORED: u128 = 30;
const IN_HEAD: u128 = 30;
/// Predictions tracked after the labels, and UUIDs beyond them that are never tracked.
const LATE: u128 = 10;
const UUID_RANGE: u128 = STORED + IN_HEAD + LATE + 10;

/// The type of a metric column.
#[derive(Clone, Copy, Debug)]
enum Kind {
    F64,
    I64,
    Bool,
    Str,
}

/// One batch of labels: the UUID number of each row, the columns as (name index, kind), the
/// seed of its values, and the call that the mixed store uses.
#[derive(Clone, Debug)]
struct Batch {
    uuids: Vec<u128>,
    columns: Vec<(usize, Kind)>,
    seed: u64,
    as_columns: bool,
}

#[derive(Clone, Debug)]
struct Case {
    batches: Vec<Batch>,
    /// Flush both stores after this many batches, so that some labels reach segments before
    /// the late predictions arrive.
    flush_after: usize,
}

fn batch() -> impl Strategy<Value = Batch> {
    let uuids = prop::collection::vec(0..UUID_RANGE, 0..40);
    // A name keeps its kind in every batch, as a real label does. The set picks the names.
    let columns = prop::collection::btree_set(0..NAMES.len(), 0..=NAMES.len());
    (uuids, columns, any::<u64>(), any::<bool>()).prop_map(|(uuids, names, seed, as_columns)| {
        Batch {
            uuids,
            columns: names.into_iter().map(|n| (n, kind_of(n))).collect(),
            seed,
            as_columns,
        }
    })
}

fn kind_of(name: usize) -> Kind {
    [Kind::Bool, Kind::F64, Kind::I64, Kind::Str][name % 4]
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(batch(), 1..6), 0usize..6).prop_map(|(batches, flush_after)| Case {
        batches,
        flush_after,
    })
}

/// Returns the value of row `row` of a column, a function of the seed so both stores get it.
fn value_of(kind: Kind, seed: u64, row: usize) -> Value {
    let n = seed.wrapping_mul(31).wrapping_add(row as u64 * 7919) % 1000;
    match kind {
        Kind::F64 if n.is_multiple_of(17) => Value::F64(f64::from_bits(0x7ff8_0000_0000_0001)),
        Kind::F64 if n.is_multiple_of(13) => Value::F64(-0.0),
        Kind::F64 => Value::F64(n as f64 / 8.0),
        Kind::I64 => Value::I64(n as i64 - 500),
        Kind::Bool => Value::Bool(n.is_multiple_of(2)),
        Kind::Str => Value::Str("x".repeat((n % 4) as usize)),
    }
}

fn column_of(kind: Kind, seed: u64, rows: usize) -> MetricColumn {
    let values = (0..rows).map(|row| value_of(kind, seed, row));
    match kind {
        Kind::F64 => MetricColumn::F64(values.filter_map(|v| v.as_f64()).collect()),
        Kind::I64 => MetricColumn::I64(values.filter_map(|v| v.as_i64()).collect()),
        Kind::Bool => MetricColumn::Bool(values.filter_map(|v| v.as_bool()).collect()),
        Kind::Str => MetricColumn::Str(values.map(|v| v.as_str().unwrap().to_owned()).collect()),
    }
}

/// Builds the columnar form of a batch. Row `i` of batch `b` has timestamp `b * 1000 + i`.
fn columnar(index: usize, batch: &Batch) -> NewDelayedColumns {
    let rows = batch.uuids.len();
    let metrics = batch.columns.iter().map(|&(name, kind)| {
        let seed = batch.seed.wrapping_add(name as u64);
        (NAMES[name].to_owned(), column_of(kind, seed, rows))
    });
    NewDelayedColumns {
        uuids: batch.uuids.iter().map(|&n| uuid(n)).collect(),
        timestamps_ms: (0..rows as i64).map(|i| index as i64 * 1000 + i).collect(),
        metrics: metrics.collect(),
    }
}

/// Returns the rows of a columnar batch, with metrics in the batch's column order.
fn rows_of(batch: &NewDelayedColumns) -> Vec<NewDelayed> {
    (0..batch.len())
        .map(|row| {
            let metrics = batch.metrics.iter().map(|(name, column)| {
                let value = match column {
                    MetricColumn::F64(v) => Value::F64(v[row]),
                    MetricColumn::I64(v) => Value::I64(v[row]),
                    MetricColumn::Bool(v) => Value::Bool(v[row]),
                    MetricColumn::Str(v) => Value::Str(v[row].clone()),
                    MetricColumn::Bytes(v) => Value::Bytes(v[row].clone()),
                };
                (name.clone(), value)
            });
            NewDelayed {
                uuid: batch.uuids[row],
                timestamp_ms: batch.timestamps_ms[row],
                metrics: metrics.collect::<Metrics>(),
            }
        })
        .collect()
}

/// Returns the predictions with UUID numbers `range`, each with a score.
fn predictions(range: std::ops::Range<u128>) -> NewPredictionColumns {
    NewPredictionColumns {
        model: MODEL.to_owned(),
        uuids: range.clone().map(uuid).collect(),
        timestamps_ms: range.clone().map(|n| n as i64 * 10).collect(),
        metrics: vec![(
            "score".to_owned(),
            MetricColumn::F64(range.map(|n| n as f64).collect()),
        )],
    }
}

/// Tracks the same predictions in both stores, then the labels through the row call into
/// `rows` and through the columnar call into `columns`, or the call `Batch::as_columns` picks
/// when `mixed`. Then tracks the late predictions in both.
fn write(case: &Case, rows: &Store, columns: &Store, mixed: bool) {
    for store in [rows, columns] {
        store.track_metrics_columns(predictions(0..STORED)).unwrap();
        store.flush().unwrap();
        let head = STORED..STORED + IN_HEAD;
        store.track_metrics_columns(predictions(head)).unwrap();
    }
    for (index, spec) in case.batches.iter().enumerate() {
        if index == case.flush_after {
            rows.flush().unwrap();
            columns.flush().unwrap();
        }
        let batch = columnar(index, spec);
        rows.track_delayed_metrics_batch_owned(rows_of(&batch))
            .unwrap();
        if !mixed || spec.as_columns {
            columns.track_delayed_metrics_columns(batch).unwrap();
        } else {
            columns
                .track_delayed_metrics_batch_owned(rows_of(&batch))
                .unwrap();
        }
    }
    let late = STORED + IN_HEAD..STORED + IN_HEAD + LATE;
    for store in [rows, columns] {
        store
            .track_metrics_columns(predictions(late.clone()))
            .unwrap();
    }
}

/// Everything that a store returns for the case.
#[derive(Debug, PartialEq)]
struct Contents {
    rows: Vec<Prediction>,
    columns: modelmetrics::Columns,
    lookups: Vec<Option<Prediction>>,
    orphans: Vec<OrphanedDelayed>,
}

fn all_uuids() -> Vec<Uuid> {
    (0..UUID_RANGE).map(uuid).collect()
}

fn contents(store: &Store) -> Contents {
    let columns = store
        .read_columns(MODEL, (ALL_START, ALL_END), &["score"], &NAMES)
        .unwrap();
    let lookups = all_uuids()
        .into_iter()
        .map(|u| store.lookup(u).unwrap())
        .collect();
    Contents {
        rows: read_all(store, MODEL),
        columns,
        lookups,
        orphans: sorted_orphans(store.orphaned_delayed_metrics().unwrap()),
    }
}

/// Sorts orphans by UUID and timestamp, because the order of the list is not specified.
fn sorted_orphans(mut orphans: Vec<OrphanedDelayed>) -> Vec<OrphanedDelayed> {
    orphans.sort_by_key(|o| (o.uuid, o.timestamp_ms));
    orphans
}

/// Rows, lookups and orphans as a read-only view returns them.
type ViewContents = (
    Vec<Prediction>,
    Vec<Option<Prediction>>,
    Vec<OrphanedDelayed>,
);

/// Reads rows, lookups and orphans through a read-only view, which has no `read_columns`.
fn view_contents(dir: &Path) -> ViewContents {
    let view = Store::open_read_only(dir).unwrap();
    let rows = view
        .read_metrics(MODEL, ALL_START, ALL_END)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let lookups = all_uuids()
        .into_iter()
        .map(|u| view.lookup(u).unwrap())
        .collect();
    let orphans = sorted_orphans(view.orphaned_delayed_metrics().unwrap());
    (rows, lookups, orphans)
}

fn check_case(case: &Case, mixed: bool) -> Result<(), TestCaseError> {
    let options = small_log_options();
    let (row_dir, column_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let rows = Store::open_with(row_dir.path(), options.clone())?;
    let columns = Store::open_with(column_dir.path(), options.clone())?;
    write(case, &rows, &columns, mixed);
    let expected = contents(&rows);
    prop_assert_eq!(&contents(&columns), &expected, "in the head");

    let view = view_contents(column_dir.path());
    prop_assert_eq!(&view, &view_contents(row_dir.path()), "read-only view");

    let copy = tempfile::tempdir()?;
    copy_store(column_dir.path(), copy.path());
    let replayed = Store::open_with(copy.path(), options.clone())?;
    prop_assert_eq!(&contents(&replayed), &expected, "replayed from the log");
    replayed.close()?;

    for store in [&rows, &columns] {
        store.flush()?;
    }
    let flushed = contents(&rows);
    prop_assert_eq!(&flushed, &expected, "row store after the flush");
    prop_assert_eq!(&contents(&columns), &expected, "flushed");
    for store in [rows, columns] {
        store.close()?;
    }
    let columns = Store::open_with(column_dir.path(), options)?;
    prop_assert_eq!(&contents(&columns), &expected, "reopened");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn columns_store_like_rows(case in case()) {
        check_case(&case, false)?;
    }

    #[test]
    fn mixed_calls_store_like_rows(case in case()) {
        check_case(&case, true)?;
    }
}

/// Labels of predictions in segments, in the head, tracked later and never tracked, with a
/// UUID repeated inside the batch and a later batch that replaces one value.
#[test]
fn labels_join_every_kind_of_prediction() {
    let repeated = 5;
    let case = Case {
        batches: vec![
            Batch {
                uuids: vec![
                    repeated,
                    STORED + 1,
                    repeated,
                    STORED + IN_HEAD,
                    UUID_RANGE - 1,
                ],
                columns: vec![(0, Kind::Bool), (1, Kind::F64), (3, Kind::Str)],
                seed: 3,
                as_columns: true,
            },
            Batch {
                uuids: vec![STORED + 1],
                columns: vec![(0, Kind::Bool), (2, Kind::I64)],
                // Row 0 gets `false` here and row 1 of the first batch `true`, see `value_of`.
                seed: 5,
                as_columns: true,
            },
        ],
        flush_after: 1,
    };
    check_case(&case, false).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_log_options()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let rows = Store::open_with(other.path(), small_log_options()).unwrap();
    write(&case, &rows, &store, false);
    let first = columnar(0, &case.batches[0]);
    let MetricColumn::Bool(labels) = &first.metrics[0].1 else {
        panic!("column 0 is not a bool column");
    };

    let stored = store.lookup(uuid(repeated)).unwrap().unwrap();
    assert_eq!(stored.delayed.get("label"), Some(&Value::Bool(labels[2])));
    let in_head = store.lookup(uuid(STORED + 1)).unwrap().unwrap();
    let names: Vec<&str> = in_head.delayed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["class", "label", "loss", "note"]);
    let second = columnar(1, &case.batches[1]);
    let MetricColumn::Bool(replaced) = &second.metrics[0].1 else {
        panic!("column 0 of the second batch is not a bool column");
    };
    assert_ne!(
        replaced[0], labels[1],
        "the second batch must change the label"
    );
    assert_eq!(
        in_head.delayed.get("label"),
        Some(&Value::Bool(replaced[0]))
    );
    let late = store.lookup(uuid(STORED + IN_HEAD)).unwrap().unwrap();
    assert_eq!(late.delayed.get("label"), Some(&Value::Bool(labels[3])));

    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].uuid, uuid(UUID_RANGE - 1));
    assert_eq!(orphans[0].timestamp_ms, 4);
}
