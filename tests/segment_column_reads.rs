//! Column reads of one segment agree with the records written: `prediction_columns` and
//! `delayed_columns` return, for any window, the rows and values that the input holds, and the
//! row reads (`scan_predictions`, `prediction_at`) return the same.
//!
//! The segments vary what the column reads take shortcuts on. A model has one to three blocks,
//! and windows start and end inside a block or on its first or last row. A metric is present in
//! every row, in some or in none, and one name may be tracked with several value types (one
//! chunk per type). Values cover every type, with integers from narrow to full 64-bit ranges,
//! which the frame-packed codec unpacks at every bit width.

use std::path::Path;

#[path = "support/columns.rs"]
mod column_checks;

use modelmetrics::record::{DelayedRecord, PredictionKey, PredictionRecord, ResolvedDelayed};
use modelmetrics::segment::{
    BLOCK_ROWS, DelayedColumns, PredictionColumns, Segment, SegmentData, write_segment,
};
use modelmetrics::{Column, Metrics, Uuid, Value};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BASE_MS: i64 = 1_700_000_000_000;
const MODEL: &str = "m";
/// A second model whose rows lie between those of `MODEL` in time, in blocks of its own.
const OTHER_MODEL: &str = "n";
/// Metric names of the predictions, one per `ColumnShape`, then one that no row has.
const INLINE: [&str; 5] = ["c0", "c1", "c2", "c3", "c4"];
const ABSENT: &str = "absent";
const DELAYED: [&str; 3] = ["label", "amount", ABSENT];

/// Which rows of a segment have a metric.
#[derive(Clone, Copy, Debug)]
enum Presence {
    Every,
    /// Each row with this chance in 256.
    Some(u8),
    /// Rows before the given fraction (in 256ths) of the segment only.
    Early(u8),
    Never,
}

/// The value type of a metric. `Mixed` picks one per row, so that the name has several chunks.
#[derive(Clone, Copy, Debug)]
enum Kind {
    F64,
    /// Integers spread over `bits` bits, from 0 (one value) to 64 (any i64).
    I64 {
        bits: u32,
    },
    Bool,
    Str,
    Bytes,
    Mixed,
}

#[derive(Clone, Copy, Debug)]
struct ColumnShape {
    presence: Presence,
    kind: Kind,
}

/// What one case writes: `rows` predictions of `MODEL`, `other_rows` of `OTHER_MODEL`, with
/// timestamps spread over `span_ms` (a small span gives many equal timestamps).
#[derive(Clone, Debug)]
struct Shape {
    seed: u64,
    rows: usize,
    other_rows: usize,
    span_ms: i64,
    columns: [ColumnShape; 5],
    /// One prediction in `delayed_every` gets delayed records.
    delayed_every: usize,
}

fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![
        3 => Just(Presence::Every),
        3 => any::<u8>().prop_map(Presence::Some),
        1 => any::<u8>().prop_map(Presence::Early),
        1 => Just(Presence::Never),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::F64),
        (0u32..=64).prop_map(|bits| Kind::I64 { bits }),
        Just(Kind::Bool),
        Just(Kind::Str),
        Just(Kind::Bytes),
        Just(Kind::Mixed),
    ]
}

fn column() -> impl Strategy<Value = ColumnShape> {
    (presence(), kind()).prop_map(|(presence, kind)| ColumnShape { presence, kind })
}

fn rows() -> impl Strategy<Value = usize> {
    prop_oneof![
        1..=3usize,
        4..300usize,
        (BLOCK_ROWS - 2)..=(BLOCK_ROWS + 2),
        (2 * BLOCK_ROWS - 1)..=(2 * BLOCK_ROWS + 1),
        1..(2 * BLOCK_ROWS + 800),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<u64>(),
        rows(),
        0..40usize,
        prop_oneof![Just(3i64), Just(1_000), Just(10_000_000)],
        [column(), column(), column(), column(), column()],
        1..5usize,
    )
        .prop_map(
            |(seed, rows, other_rows, span_ms, columns, delayed_every)| Shape {
                seed,
                rows,
                other_rows,
                span_ms,
                columns,
                delayed_every,
            },
        )
}

fn is_present(presence: Presence, row: usize, rows: usize, rng: &mut ChaCha8Rng) -> bool {
    match presence {
        Presence::Every => true,
        Presence::Some(chance) => rng.random::<u8>() < chance,
        Presence::Early(fraction) => row * 256 < rows * usize::from(fraction),
        Presence::Never => false,
    }
}

fn value(kind: Kind, rng: &mut ChaCha8Rng) -> Value {
    match kind {
        Kind::F64 => Value::F64(f64::from(rng.random_range(-1_000i32..1_000)) / 8.0),
        Kind::I64 { bits } => {
            let spread = match bits {
                0 => 0,
                64 => rng.random::<u64>(),
                _ => rng.random::<u64>() >> (64 - bits),
            };
            Value::I64((spread as i64).wrapping_add(-7))
        }
        Kind::Bool => Value::Bool(rng.random()),
        Kind::Str => Value::Str(format!("s{}", rng.random_range(0..5u8))),
        Kind::Bytes => {
            let len = rng.random_range(0..6usize);
            Value::Bytes((0..len).map(|_| rng.random()).collect())
        }
        Kind::Mixed => {
            let kinds = [
                Kind::F64,
                Kind::I64 { bits: 40 },
                Kind::Bool,
                Kind::Str,
                Kind::Bytes,
            ];
            value(kinds[rng.random_range(0..kinds.len())], rng)
        }
    }
}

fn predictions(shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<PredictionRecord> {
    let mut records = Vec::new();
    let total = shape.rows + shape.other_rows;
    for row in 0..total {
        let model = if row < shape.rows { MODEL } else { OTHER_MODEL };
        let mut metrics = Metrics::new();
        for (name, column) in INLINE.iter().zip(shape.columns) {
            if is_present(column.presence, row, total, rng) {
                metrics.push(*name, value(column.kind, rng));
            }
        }
        records.push(PredictionRecord {
            seq: 10 + row as u64 * 3,
            model: model.to_owned(),
            uuid: Uuid::from_u128(rng.random()),
            timestamp_ms: BASE_MS + rng.random_range(0..shape.span_ms),
            metrics,
        });
    }
    records
}

fn delayed(
    shape: &Shape,
    predictions: &[PredictionRecord],
    rng: &mut ChaCha8Rng,
) -> Vec<ResolvedDelayed> {
    let mut records = Vec::new();
    let mut seq = 1_000_000;
    let mut push = |prediction: Option<&PredictionRecord>, rng: &mut ChaCha8Rng| {
        let mut metrics = Metrics::new();
        if rng.random_range(0..4) > 0 {
            let label = value(if seq % 3 == 0 { Kind::Str } else { Kind::Bool }, rng);
            metrics.push("label", label);
        }
        if seq % 2 == 0 {
            metrics.push("amount", value(Kind::I64 { bits: 50 }, rng));
        }
        records.push(ResolvedDelayed {
            record: DelayedRecord {
                seq,
                uuid: prediction.map_or_else(|| Uuid::from_u128(rng.random()), |p| p.uuid),
                timestamp_ms: BASE_MS + rng.random_range(0..shape.span_ms),
                metrics,
            },
            prediction: prediction.map(|p| PredictionKey {
                model: p.model.clone(),
                timestamp_ms: p.timestamp_ms,
                seq: p.seq,
            }),
        });
        seq += 1;
    };
    for prediction in predictions.iter().step_by(shape.delayed_every) {
        for _ in 0..rng.random_range(1..3) {
            push(Some(prediction), rng);
        }
    }
    for _ in 0..5 {
        push(None, rng);
    }
    records
}

/// The records of a case, written to one segment.
struct Case {
    predictions: Vec<PredictionRecord>,
    delayed: Vec<ResolvedDelayed>,
    segment: Segment,
}

fn write_case(shape: &Shape, dir: &Path) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    let predictions = predictions(shape, &mut rng);
    let delayed = delayed(shape, &predictions, &mut rng);
    let data = SegmentData {
        predictions: &predictions,
        delayed: &delayed,
        aggregates: &[],
    };
    write_segment(dir, 1, &data, 3).unwrap();
    let segment = Segment::open(dir, 1).unwrap();
    Case {
        predictions,
        delayed,
        segment,
    }
}

impl Case {
    /// Returns the predictions of `model` in `[start, end)`, in (timestamp, seq) order.
    fn expected_rows(&self, model: &str, (start, end): (i64, i64)) -> Vec<&PredictionRecord> {
        let mut rows: Vec<&PredictionRecord> = self
            .predictions
            .iter()
            .filter(|p| p.model == model && start <= p.timestamp_ms && p.timestamp_ms < end)
            .collect();
        rows.sort_by_key(|p| (p.timestamp_ms, p.seq));
        rows
    }

    /// Returns the resolved delayed records of predictions of `model` in `[start, end)`, in the
    /// segment's row order: (prediction timestamp, prediction seq, seq).
    fn expected_delayed(&self, model: &str, (start, end): (i64, i64)) -> Vec<&ResolvedDelayed> {
        let mut rows: Vec<&ResolvedDelayed> = self
            .delayed
            .iter()
            .filter(|d| {
                d.prediction.as_ref().is_some_and(|key| {
                    key.model == model && start <= key.timestamp_ms && key.timestamp_ms < end
                })
            })
            .collect();
        rows.sort_by_key(|d| {
            let key = d.prediction.as_ref().unwrap();
            (key.timestamp_ms, key.seq, d.record.seq)
        });
        rows
    }

    /// Returns windows whose bounds fall on, just before and just after the timestamps of
    /// chosen rows, so that they start and end inside blocks and on block boundaries.
    fn windows(&self, picks: &[(usize, i64, usize, i64)]) -> Vec<(i64, i64)> {
        let timestamps: Vec<i64> = self
            .expected_rows(MODEL, (i64::MIN, i64::MAX))
            .iter()
            .map(|p| p.timestamp_ms)
            .collect();
        let last = timestamps.len() - 1;
        let mut windows = vec![
            (i64::MIN, i64::MAX),
            (timestamps[0], timestamps[last] + 1),
            (timestamps[0], timestamps[0]),
        ];
        let boundaries = [
            BLOCK_ROWS - 1,
            BLOCK_ROWS,
            2 * BLOCK_ROWS - 1,
            2 * BLOCK_ROWS,
        ];
        for row in boundaries.into_iter().filter(|&row| row <= last) {
            windows.push((timestamps[row], timestamps[last] + 1));
            windows.push((timestamps[0], timestamps[row]));
            windows.push((timestamps[row], timestamps[row] + 1));
        }
        for &(first, first_shift, second, second_shift) in picks {
            let start = timestamps[first % timestamps.len()] + first_shift;
            let end = timestamps[second % timestamps.len()] + second_shift;
            windows.push((start.min(end), start.max(end)));
        }
        windows
    }
}

/// Asserts that a column holds, for each row, the value of `name` in that row's metrics.
fn assert_column(
    column: &Column,
    rows: &[&Metrics],
    name: &str,
    context: &str,
) -> Result<(), TestCaseError> {
    let expected: Vec<Option<Value>> = rows.iter().map(|m| m.get(name).cloned()).collect();
    let checked = column_checks::check_values(column, &expected);
    prop_assert!(checked.is_ok(), "{} {}: {:?}", name, context, checked);
    Ok(())
}

fn check_prediction_columns(
    columns: &PredictionColumns,
    expected: &[&PredictionRecord],
    names: &[&str],
    context: &str,
) -> Result<(), TestCaseError> {
    let timestamps: Vec<i64> = expected.iter().map(|p| p.timestamp_ms).collect();
    let seqs: Vec<u64> = expected.iter().map(|p| p.seq).collect();
    let uuids: Vec<Uuid> = expected.iter().map(|p| p.uuid).collect();
    prop_assert_eq!(&columns.timestamps, &timestamps, "timestamps {}", context);
    prop_assert_eq!(&columns.seqs, &seqs, "seqs {}", context);
    prop_assert_eq!(&columns.uuids, &uuids, "UUIDs {}", context);
    prop_assert_eq!(columns.values.len(), names.len(), "columns {}", context);
    let metrics: Vec<&Metrics> = expected.iter().map(|p| &p.metrics).collect();
    for (column, name) in columns.values.iter().zip(names) {
        assert_column(column, &metrics, name, context)?;
    }
    Ok(())
}

fn check_delayed_columns(
    columns: &DelayedColumns,
    expected: &[&ResolvedDelayed],
    names: &[&str],
    context: &str,
) -> Result<(), TestCaseError> {
    let seqs: Vec<u64> = expected
        .iter()
        .map(|d| d.prediction.as_ref().unwrap().seq)
        .collect();
    prop_assert_eq!(
        &columns.prediction_seqs,
        &seqs,
        "prediction seqs {}",
        context
    );
    let timestamps: Vec<i64> = expected
        .iter()
        .map(|d| d.prediction.as_ref().unwrap().timestamp_ms)
        .collect();
    prop_assert_eq!(
        &columns.prediction_timestamps,
        &timestamps,
        "prediction timestamps {}",
        context
    );
    prop_assert_eq!(columns.values.len(), names.len(), "columns {}", context);
    let metrics: Vec<&Metrics> = expected.iter().map(|d| &d.record.metrics).collect();
    for (column, name) in columns.values.iter().zip(names) {
        assert_column(column, &metrics, name, context)?;
    }
    Ok(())
}

/// Asserts that row reads return the same records, with no metric a record lacks.
fn check_scan(
    case: &Case,
    model: &str,
    window: (i64, i64),
    context: &str,
) -> Result<(), TestCaseError> {
    let scanned: Vec<PredictionRecord> = case
        .segment
        .scan_predictions(model, window.0, window.1)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .concat();
    let expected = case.expected_rows(model, window);
    prop_assert_eq!(scanned.len(), expected.len(), "scanned rows {}", context);
    for (row, (read, written)) in scanned.iter().zip(&expected).enumerate() {
        prop_assert_eq!(read.seq, written.seq, "seq of row {} {}", row, context);
        prop_assert_eq!(read.uuid, written.uuid, "UUID of row {} {}", row, context);
        let by_name = |metrics: &Metrics| {
            let mut list: Vec<(String, Value)> = metrics
                .iter()
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        };
        let (read_names, written_names) = (by_name(&read.metrics), by_name(&written.metrics));
        prop_assert_eq!(
            read_names,
            written_names,
            "metrics of row {} {}",
            row,
            context
        );
    }
    Ok(())
}

/// Checks `prediction_at` for the rows of the segment named by `picks`: the first and last of
/// each block, and others.
fn check_single_rows(case: &Case, picks: &[usize]) -> Result<(), TestCaseError> {
    let mut in_file_order: Vec<&PredictionRecord> = case.predictions.iter().collect();
    in_file_order.sort_by_key(|p| (p.model.clone(), p.timestamp_ms, p.seq));
    let last = in_file_order.len() - 1;
    let block_edges = [
        0,
        BLOCK_ROWS - 1,
        BLOCK_ROWS,
        2 * BLOCK_ROWS - 1,
        2 * BLOCK_ROWS,
    ];
    let rows = block_edges
        .into_iter()
        .chain(picks.iter().map(|p| p % (last + 1)));
    for row in rows.filter(|&row| row <= last) {
        let read = case.segment.prediction_at(row as u32).unwrap();
        prop_assert_eq!(
            &read.uuid,
            &in_file_order[row].uuid,
            "UUID of file row {}",
            row
        );
        let mut metrics = read.metrics.0.clone();
        let mut written = in_file_order[row].metrics.0.clone();
        metrics.sort_by(|a, b| a.name.cmp(&b.name));
        written.sort_by(|a, b| a.name.cmp(&b.name));
        prop_assert_eq!(metrics, written, "metrics of file row {}", row);
    }
    Ok(())
}

fn window_pick() -> impl Strategy<Value = (usize, i64, usize, i64)> {
    (any::<usize>(), -1i64..=1, any::<usize>(), -1i64..=1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn column_reads_match_written_records(
        shape in shape(),
        picks in prop::collection::vec(window_pick(), 4),
        rows in prop::collection::vec(any::<usize>(), 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let case = write_case(&shape, dir.path());
        // Names asked in an order of their own, with one asked twice and one never tracked.
        let names = ["c3", ABSENT, "c0", "c4", "c1", "c2", "c0"];
        let windows = case.windows(&picks);
        let mut appended = PredictionColumns::default();
        let mut appended_rows = Vec::new();
        for window in &windows {
            let context = format!("in window {window:?}");
            let mut columns = PredictionColumns::default();
            case.segment
                .prediction_columns(MODEL, *window, &names, &mut columns)
                .unwrap();
            let expected = case.expected_rows(MODEL, *window);
            check_prediction_columns(&columns, &expected, &names, &context)?;

            // Appending to columns that already hold rows keeps those rows in place.
            case.segment
                .prediction_columns(MODEL, *window, &names, &mut appended)
                .unwrap();
            appended_rows.extend(expected);
            check_prediction_columns(&appended, &appended_rows, &names, "appended")?;

            let mut delayed = DelayedColumns::default();
            case.segment
                .delayed_columns(MODEL, *window, &DELAYED, &mut delayed)
                .unwrap();
            let expected = case.expected_delayed(MODEL, *window);
            check_delayed_columns(&delayed, &expected, &DELAYED, &context)?;

            check_scan(&case, MODEL, *window, &context)?;
        }
        let mut other = PredictionColumns::default();
        case.segment
            .prediction_columns(OTHER_MODEL, (i64::MIN, i64::MAX), &names, &mut other)
            .unwrap();
        let expected = case.expected_rows(OTHER_MODEL, (i64::MIN, i64::MAX));
        check_prediction_columns(&other, &expected, &names, "of the other model")?;
        check_single_rows(&case, &rows)?;
        prop_assert!(case.segment.verify().is_ok());
    }
}
