//! `track_metrics_columns` stores what `track_metrics_batch_owned` stores for the same rows.
//!
//! Two stores receive the same batches, one through the row call and one through the columnar
//! call, or through a random mix of both. Every read path must then return the same thing in
//! both: `read_metrics`, `read_columns` and `lookup` while the batches are in the head, in a
//! crash copy of the directory that replays the log, in a checkpoint, in a read-only view,
//! after a flush, after a reopen and after compaction. Delayed metrics join both kinds of
//! prediction, and deletions hide both.

mod support;

use std::path::Path;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewDelayed, NewPrediction, NewPredictionColumns, Options,
    Store, Uuid, Value,
};
use proptest::prelude::*;
use support::{ALL_END, ALL_START, copy_store, read_all, uuid};

const MODELS: [&str; 2] = ["a", "b"];
/// Metric names, not in name order, so that both calls must sort them.
const NAMES: [&str; 4] = ["score", "age", "segment", "blob"];
const DELAYED_NAMES: [&str; 1] = ["label"];

/// The type of a metric column.
#[derive(Clone, Copy, Debug)]
enum Kind {
    F64,
    I64,
    Bool,
    Str,
    Bytes,
}

/// One batch: its model, the first timestamp and step, the columns as (name index, kind), and
/// the seed of its values. `as_columns` picks the call in the mixed store.
#[derive(Clone, Debug)]
struct Batch {
    model: usize,
    rows: usize,
    first_ms: i64,
    step_ms: i64,
    columns: Vec<(usize, Kind)>,
    seed: u64,
    as_columns: bool,
}

#[derive(Clone, Debug)]
struct Case {
    batches: Vec<Batch>,
    /// Every `label_every`-th prediction gets a delayed label.
    label_every: usize,
    /// Every `delete_every`-th prediction is deleted.
    delete_every: usize,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::F64),
        Just(Kind::I64),
        Just(Kind::Bool),
        Just(Kind::Str),
        Just(Kind::Bytes),
    ]
}

fn batch() -> impl Strategy<Value = Batch> {
    let columns = prop::collection::btree_map(0..NAMES.len(), kind(), 0..=NAMES.len());
    (
        0..MODELS.len(),
        0usize..40,
        -50i64..50,
        0i64..3,
        columns,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(model, rows, first_ms, step_ms, columns, seed, as_columns)| Batch {
                model,
                rows,
                first_ms,
                step_ms,
                columns: columns.into_iter().collect(),
                seed,
                as_columns,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(batch(), 1..6), 2usize..7, 5usize..20).prop_map(
        |(batches, label_every, delete_every)| Case {
            batches,
            label_every,
            delete_every,
        },
    )
}

/// Returns the value of row `row` of a column, a function of the seed so both stores get it.
fn value_of(kind: Kind, seed: u64, row: usize) -> Value {
    let n = seed.wrapping_mul(31).wrapping_add(row as u64 * 7919) % 1000;
    match kind {
        Kind::F64 if n.is_multiple_of(17) => Value::F64(f64::from_bits(0x7ff8_0000_0000_0001)),
        Kind::F64 if n.is_multiple_of(13) => Value::F64(-0.0),
        Kind::F64 => Value::F64(n as f64 / 8.0),
        Kind::I64 if n.is_multiple_of(11) => Value::I64(i64::MIN),
        Kind::I64 => Value::I64(n as i64 - 500),
        Kind::Bool => Value::Bool(n.is_multiple_of(2)),
        Kind::Str => Value::Str("x".repeat((n % 4) as usize)),
        Kind::Bytes => Value::Bytes(vec![n as u8; (n % 3) as usize]),
    }
}

fn column_of(kind: Kind, seed: u64, rows: usize) -> MetricColumn {
    let values = (0..rows).map(|row| value_of(kind, seed, row));
    match kind {
        Kind::F64 => MetricColumn::F64(values.filter_map(|v| v.as_f64()).collect()),
        Kind::I64 => MetricColumn::I64(values.filter_map(|v| v.as_i64()).collect()),
        Kind::Bool => MetricColumn::Bool(values.filter_map(|v| v.as_bool()).collect()),
        Kind::Str => MetricColumn::Str(values.map(|v| v.as_str().unwrap().to_owned()).collect()),
        Kind::Bytes => {
            MetricColumn::Bytes(values.map(|v| v.as_bytes().unwrap().to_vec()).collect())
        }
    }
}

/// Builds the columnar form of every batch, numbering UUIDs across batches from 0.
fn columnar(case: &Case) -> Vec<NewPredictionColumns> {
    let mut next = 0u128;
    let mut out = Vec::new();
    for batch in &case.batches {
        let uuids = (next..next + batch.rows as u128).map(uuid).collect();
        next += batch.rows as u128;
        let timestamps_ms = (0..batch.rows as i64)
            .map(|row| batch.first_ms + row * batch.step_ms)
            .collect();
        let metrics = batch
            .columns
            .iter()
            .enumerate()
            .map(|(i, &(name, kind))| {
                let seed = batch.seed.wrapping_add(i as u64);
                (NAMES[name].to_owned(), column_of(kind, seed, batch.rows))
            })
            .collect();
        out.push(NewPredictionColumns {
            model: MODELS[batch.model].to_owned(),
            uuids,
            timestamps_ms,
            metrics,
        });
    }
    out
}

/// Returns the rows of a columnar batch, with metrics in the batch's column order.
fn rows_of(batch: &NewPredictionColumns) -> Vec<NewPrediction> {
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
            NewPrediction {
                model: batch.model.clone(),
                uuid: batch.uuids[row],
                timestamp_ms: batch.timestamps_ms[row],
                metrics: metrics.collect::<Metrics>(),
            }
        })
        .collect()
}

fn all_uuids(batches: &[NewPredictionColumns]) -> Vec<Uuid> {
    batches.iter().flat_map(|b| b.uuids.clone()).collect()
}

/// Tracks the batches into `rows` through the row call and into `columns` through the
/// columnar call, or the call `Batch::as_columns` picks when `mixed`. Then labels and deletes
/// the same predictions in both.
fn write(case: &Case, rows: &Store, columns: &Store, mixed: bool) {
    let batches = columnar(case);
    for (batch, spec) in batches.iter().zip(&case.batches) {
        rows.track_metrics_batch_owned(rows_of(batch)).unwrap();
        if !mixed || spec.as_columns {
            columns.track_metrics_columns(batch.clone()).unwrap();
        } else {
            columns.track_metrics_batch_owned(rows_of(batch)).unwrap();
        }
    }
    let uuids = all_uuids(&batches);
    let labels: Vec<NewDelayed> = uuids
        .iter()
        .step_by(case.label_every)
        .enumerate()
        .map(|(i, &uuid)| NewDelayed {
            uuid,
            timestamp_ms: 100 + i as i64,
            metrics: Metrics::new().with(DELAYED_NAMES[0], i % 3 == 0),
        })
        .collect();
    for store in [rows, columns] {
        store.track_delayed_metrics_batch(&labels).unwrap();
        for uuid in uuids.iter().skip(1).step_by(case.delete_every) {
            store.delete_prediction(*uuid).unwrap();
        }
    }
}

/// Reads everything that a store returns for the case: rows of each model, columns of each
/// model, and a lookup of every UUID plus one that no batch has.
#[derive(Debug, PartialEq)]
struct Contents {
    rows: Vec<Vec<modelmetrics::Prediction>>,
    columns: Vec<modelmetrics::Columns>,
    lookups: Vec<Option<modelmetrics::Prediction>>,
}

fn contents(store: &Store, uuids: &[Uuid]) -> Contents {
    let rows = MODELS.iter().map(|m| read_all(store, m)).collect();
    let columns = MODELS
        .iter()
        .map(|m| {
            store
                .read_columns(m, (ALL_START, ALL_END), &NAMES, &DELAYED_NAMES)
                .unwrap()
        })
        .collect();
    let unknown = std::iter::once(uuid(1 << 40));
    let lookups = uuids
        .iter()
        .copied()
        .chain(unknown)
        .map(|u| store.lookup(u).unwrap())
        .collect();
    Contents {
        rows,
        columns,
        lookups,
    }
}

/// Reads rows and lookups through a read-only view, which has no `read_columns`.
fn view_contents(dir: &Path, uuids: &[Uuid]) -> (Vec<Vec<modelmetrics::Prediction>>, usize) {
    let view = Store::open_read_only(dir).unwrap();
    let rows = MODELS
        .iter()
        .map(|m| {
            view.read_metrics(m, ALL_START, ALL_END)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
        .collect();
    let found = uuids
        .iter()
        .filter(|u| view.lookup(**u).unwrap().is_some())
        .count();
    (rows, found)
}

/// Opens a copy of `dir` taken while its store is open, as a crash would leave it.
fn open_crash_copy(dir: &Path, into: &Path, options: &Options) -> Store {
    copy_store(dir, into);
    Store::open_with(into, options.clone()).unwrap()
}

fn options() -> Options {
    // No compaction thread, so that only the test compacts. Every segment is small, so
    // adjacent ones merge.
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: 1 << 30,
        ..Compaction::default()
    })
}

fn check_case(case: &Case, mixed: bool) -> Result<(), TestCaseError> {
    let options = options();
    let (row_dir, column_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let rows = Store::open_with(row_dir.path(), options.clone())?;
    let columns = Store::open_with(column_dir.path(), options.clone())?;
    write(case, &rows, &columns, mixed);
    let uuids = all_uuids(&columnar(case));
    let expected = contents(&rows, &uuids);
    prop_assert_eq!(&contents(&columns, &uuids), &expected, "in the head");

    let view = view_contents(column_dir.path(), &uuids);
    prop_assert_eq!(
        &view,
        &view_contents(row_dir.path(), &uuids),
        "read-only view"
    );
    prop_assert_eq!(&view.0, &expected.rows, "read-only view rows");

    let copies = (tempfile::tempdir()?, tempfile::tempdir()?);
    let replayed = open_crash_copy(column_dir.path(), copies.0.path(), &options);
    prop_assert_eq!(
        &contents(&replayed, &uuids),
        &expected,
        "replayed from the log"
    );
    replayed.close()?;
    columns.checkpoint(copies.1.path().join("checkpoint"))?;
    let restored = Store::open_with(copies.1.path().join("checkpoint"), options.clone())?;
    prop_assert_eq!(&contents(&restored, &uuids), &expected, "checkpoint");
    restored.close()?;

    for store in [&rows, &columns] {
        store.flush()?;
    }
    prop_assert_eq!(&contents(&columns, &uuids), &expected, "flushed");
    for store in [rows, columns] {
        store.close()?;
    }
    let rows = Store::open_with(row_dir.path(), options.clone())?;
    let columns = Store::open_with(column_dir.path(), options.clone())?;
    prop_assert_eq!(&contents(&columns, &uuids), &expected, "reopened");

    let filler = NewPredictionColumns {
        model: MODELS[0].to_owned(),
        uuids: vec![uuid(1 << 41)],
        timestamps_ms: vec![-1_000],
        metrics: vec![("score".to_owned(), MetricColumn::F64(vec![1.5]))],
    };
    for store in [&rows, &columns] {
        store.track_metrics_columns(filler.clone())?;
        store.flush()?;
        store.compact()?;
    }
    prop_assert_eq!(
        &contents(&columns, &uuids),
        &contents(&rows, &uuids),
        "compacted"
    );
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

#[test]
fn batch_with_every_value_type_round_trips() {
    let case = Case {
        batches: vec![Batch {
            model: 0,
            rows: 30,
            first_ms: -3,
            step_ms: 1,
            columns: vec![
                (0, Kind::F64),
                (1, Kind::I64),
                (2, Kind::Str),
                (3, Kind::Bytes),
            ],
            seed: 7,
            as_columns: true,
        }],
        label_every: 3,
        delete_every: 7,
    };
    check_case(&case, false).unwrap();
    let read = {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .track_metrics_columns(columnar(&case).remove(0))
            .unwrap();
        read_all(&store, MODELS[0])
    };
    assert_eq!(read.len(), 30);
    let names: Vec<&str> = read[0].metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["age", "blob", "score", "segment"]);
}

/// Batches far larger than the head keep the head at its limit through flushes in the
/// background and in the calling thread, under `Durability::Sync`, and read back as rows do.
#[test]
fn large_batches_over_small_head_match_rows() {
    let options = options()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .durability(modelmetrics::Durability::Sync);
    let (row_dir, column_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rows = Store::open_with(row_dir.path(), options.clone()).unwrap();
    let columns = Store::open_with(column_dir.path(), options.clone()).unwrap();
    let batch = |i: u64| Batch {
        model: (i % 2) as usize,
        rows: 3_000,
        first_ms: i as i64 * 10,
        step_ms: 1,
        columns: vec![(0, Kind::F64), (2, Kind::Str)],
        seed: i,
        as_columns: true,
    };
    let case = Case {
        batches: (0..8).map(batch).collect(),
        label_every: 5,
        delete_every: 1_000,
    };
    write(&case, &rows, &columns, false);
    // Lookups decode a block each, so a sample of the UUIDs keeps the test short.
    let uuids: Vec<Uuid> = all_uuids(&columnar(&case))
        .into_iter()
        .step_by(97)
        .collect();
    let segments = std::fs::read_dir(column_dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(
        segments >= 2,
        "{segments} segments: the head was flushed once at most"
    );
    assert_eq!(contents(&columns, &uuids), contents(&rows, &uuids));
    columns.close().unwrap();
    let reopened = Store::open_with(column_dir.path(), options).unwrap();
    assert_eq!(contents(&reopened, &uuids), contents(&rows, &uuids));
}
