//! A segment written from a head's records and columnar batches must equal, byte for byte, the
//! segment written from the same predictions as records.

use proptest::collection::vec;
use proptest::prelude::*;
use tempfile::TempDir;

use super::*;
use crate::io;
use crate::record::{DelayedRecord, PredictionKey};
use crate::segment::{BLOCK_ROWS, Segment, SegmentData, Written, write_segment};
use crate::value::{Metric, Metrics, Value};

const MODELS: [&str; 3] = ["churn", "fraud", "m"];
const NAMES: [&str; 4] = ["amount", "label", "score", "tenure"];

/// A prediction tracked as a record, before its seq and UUID are assigned.
#[derive(Clone, Debug)]
struct RecordInput {
    model: usize,
    timestamp_ms: i64,
    metrics: Vec<(usize, Value)>,
}

/// A columnar batch, before its seqs and UUIDs are assigned.
#[derive(Clone, Debug)]
struct BatchInput {
    model: usize,
    timestamps_ms: Vec<i64>,
    columns: Vec<(usize, MetricColumn)>,
}

#[derive(Clone, Debug)]
enum Input {
    Record(RecordInput),
    Batch(BatchInput),
}

/// The predictions of a head, with the delayed and aggregate rows written beside them.
struct Head {
    records: Vec<PredictionRecord>,
    batches: Vec<ColumnBatch>,
    delayed: Vec<ResolvedDelayed>,
    aggregates: Vec<AggregateRecord>,
}

impl Head {
    /// Assigns seqs and UUIDs in input order, as the store does when it tracks them.
    fn build(inputs: Vec<Input>) -> Head {
        let mut head = Head {
            records: Vec::new(),
            batches: Vec::new(),
            delayed: Vec::new(),
            aggregates: Vec::new(),
        };
        let mut seq: Seq = 1;
        for input in inputs {
            match input {
                Input::Record(record) => {
                    head.records.push(record_of(record, seq));
                    seq += 1;
                }
                Input::Batch(batch) => {
                    let batch = batch_of(batch, seq);
                    seq += batch.len() as Seq;
                    head.batches.push(batch);
                }
            }
        }
        head
    }

    /// Returns every prediction as a record, the rows of batches included.
    fn all_records(&self) -> Vec<PredictionRecord> {
        let mut all = self.records.clone();
        for batch in &self.batches {
            all.extend((0..batch.len()).filter_map(|row| batch.row(row)));
        }
        all
    }

    fn write_as_records(&self, dir: &TempDir) -> (Written, Vec<u8>) {
        let records = self.all_records();
        let data = SegmentData {
            predictions: &records,
            delayed: &self.delayed,
            aggregates: &self.aggregates,
        };
        let written = write_segment(dir.path(), 1, &data, 3).unwrap();
        let bytes = std::fs::read(&written.path).unwrap();
        (written, bytes)
    }

    fn write_from_head(&self, dir: &TempDir) -> (Written, Vec<u8>) {
        let data = HeadSegmentData {
            predictions: HeadPredictions {
                records: &self.records,
                batches: &self.batches,
            },
            delayed: &self.delayed,
            aggregates: &self.aggregates,
        };
        let io = io::os_io();
        let written = super::super::write_head_segment_with(&*io, dir.path(), 1, &data, 3);
        let written = written.unwrap();
        let bytes = std::fs::read(&written.path).unwrap();
        (written, bytes)
    }
}

fn uuid_of(seq: Seq) -> Uuid {
    Uuid::from_u128(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(u128::from(seq)))
}

fn record_of(input: RecordInput, seq: Seq) -> PredictionRecord {
    let mut metrics = Metrics::new();
    for (name, value) in input.metrics {
        let name = NAMES[name];
        if metrics.get(name).is_none() {
            metrics.0.push(Metric::new(name, value));
        }
    }
    PredictionRecord {
        seq,
        model: MODELS[input.model].to_owned(),
        uuid: uuid_of(seq),
        timestamp_ms: input.timestamp_ms,
        metrics,
    }
}

fn batch_of(input: BatchInput, first_seq: Seq) -> ColumnBatch {
    let rows = input.timestamps_ms.len() as Seq;
    let mut metrics: Vec<(String, MetricColumn)> = Vec::new();
    for (name, column) in input.columns {
        let name = NAMES[name];
        if metrics.iter().all(|(seen, _)| seen != name) {
            metrics.push((name.to_owned(), column));
        }
    }
    let mut batch = ColumnBatch {
        first_seq,
        model: MODELS[input.model].to_owned(),
        uuids: (first_seq..first_seq + rows).map(uuid_of).collect(),
        timestamps_ms: input.timestamps_ms,
        metrics,
    };
    batch.sort_by_name();
    batch
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_map(Value::F64),
        (0..1000i64).prop_map(|v| Value::F64(v as f64 / 8.0)),
        any::<i64>().prop_map(Value::I64),
        any::<bool>().prop_map(Value::Bool),
        "[a-z]{0,6}".prop_map(Value::Str),
        vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
    ]
}

fn column(rows: usize) -> impl Strategy<Value = MetricColumn> {
    prop_oneof![
        vec(any::<f64>(), rows).prop_map(MetricColumn::F64),
        vec((0..1000i64).prop_map(|v| v as f64 / 8.0), rows).prop_map(MetricColumn::F64),
        vec(any::<i64>(), rows).prop_map(MetricColumn::I64),
        vec(any::<bool>(), rows).prop_map(MetricColumn::Bool),
        vec("[a-z]{0,6}", rows).prop_map(MetricColumn::Str),
        vec(vec(any::<u8>(), 0..6), rows).prop_map(MetricColumn::Bytes),
    ]
}

fn record_input() -> impl Strategy<Value = Input> {
    let metrics = vec((0..NAMES.len(), value()), 0..5);
    (0..MODELS.len(), 0..30i64, metrics).prop_map(|(model, timestamp_ms, metrics)| {
        Input::Record(RecordInput {
            model,
            timestamp_ms,
            metrics,
        })
    })
}

fn batch_input() -> impl Strategy<Value = Input> {
    (0..MODELS.len(), 0..40usize).prop_flat_map(|(model, rows)| {
        let timestamps = vec(0..30i64, rows);
        let columns = vec((0..NAMES.len(), column(rows)), 0..4);
        (timestamps, columns).prop_map(move |(timestamps_ms, columns)| {
            Input::Batch(BatchInput {
                model,
                timestamps_ms,
                columns,
            })
        })
    })
}

fn metrics_of(pairs: Vec<(usize, Value)>) -> Metrics {
    let mut metrics = Metrics::new();
    for (name, value) in pairs {
        if metrics.get(NAMES[name]).is_none() {
            metrics.push(NAMES[name], value);
        }
    }
    metrics
}

/// Delayed rows: resolved ones name a prediction key of any model, orphans have none.
fn delayed() -> impl Strategy<Value = Vec<ResolvedDelayed>> {
    let row = (
        proptest::option::of((0..MODELS.len(), 0..30i64)),
        vec((0..NAMES.len(), value()), 0..3),
    );
    vec(row, 0..6).prop_map(|rows| {
        let rows = rows.into_iter().enumerate();
        let rows = rows.map(|(i, (key, metrics))| ResolvedDelayed {
            record: DelayedRecord {
                seq: 10_000 + i as Seq,
                uuid: Uuid::from_u128(i as u128 + 1),
                timestamp_ms: i as i64,
                metrics: metrics_of(metrics),
            },
            prediction: key.map(|(model, timestamp_ms)| PredictionKey {
                model: MODELS[model].to_owned(),
                timestamp_ms,
                seq: i as Seq,
            }),
        });
        rows.collect()
    })
}

/// Aggregate rows, with a model that no prediction has among them.
fn aggregates() -> impl Strategy<Value = Vec<AggregateRecord>> {
    let row = (0..=MODELS.len(), vec((0..NAMES.len(), value()), 0..3));
    vec(row, 0..4).prop_map(|rows| {
        let rows = rows.into_iter().enumerate();
        let rows = rows.map(|(i, (model, metrics))| AggregateRecord {
            seq: 20_000 + i as Seq,
            model: MODELS.get(model).unwrap_or(&"aggregates-only").to_string(),
            start_ms: i as i64,
            end_ms: i as i64 + 10,
            metrics: metrics_of(metrics),
        });
        rows.collect()
    })
}

fn assert_same_files(head: &Head) {
    let (dir_records, dir_head) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (written_records, bytes_records) = head.write_as_records(&dir_records);
    let (written_head, bytes_head) = head.write_from_head(&dir_head);
    assert_eq!(bytes_head.len(), bytes_records.len());
    assert!(bytes_head == bytes_records, "the two files differ");
    assert_eq!(written_head.bytes, written_records.bytes);
    assert_eq!(written_head.predictions, written_records.predictions);
    assert_eq!(written_head.delayed, written_records.delayed);
    assert_eq!(
        written_head.first_orphan_row,
        written_records.first_orphan_row
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn head_input_writes_record_bytes(
        inputs in vec(prop_oneof![record_input(), batch_input()], 0..12),
        delayed in delayed(),
        aggregates in aggregates(),
    ) {
        let mut head = Head::build(inputs);
        head.delayed = delayed;
        head.aggregates = aggregates;
        assert_same_files(&head);
    }
}

/// Builds a batch of `rows` rows of `model` with 4 f64 metrics, row `i` at `start + step * i`.
fn f64_batch(model: usize, rows: usize, start: i64, step: i64) -> Input {
    let timestamps_ms = (0..rows as i64).map(|row| start + step * row).collect();
    let columns = (0..NAMES.len()).map(|name| {
        let values = (0..rows)
            .map(|row| (row * (name + 1)) as f64 / 16.0)
            .collect();
        (name, MetricColumn::F64(values))
    });
    Input::Batch(BatchInput {
        model,
        timestamps_ms,
        columns: columns.collect(),
    })
}

#[test]
fn head_input_across_blocks_writes_record_bytes() {
    let mut inputs = vec![
        f64_batch(2, BLOCK_ROWS + 100, 1_000, 3),
        f64_batch(2, BLOCK_ROWS / 2, 1_001, 7),
        f64_batch(0, 50, 5_000, -2),
    ];
    for i in 0..300 {
        inputs.push(Input::Record(RecordInput {
            model: i % MODELS.len(),
            timestamp_ms: 1_000 + (i as i64 * 41) % 20_000,
            metrics: vec![(2, Value::F64(0.5)), (1, Value::Bool(i % 3 == 0))],
        }));
    }
    inputs.push(f64_batch(1, 10, 0, 0));
    let head = Head::build(inputs);
    assert_same_files(&head);
}

#[test]
fn head_input_reads_back_every_prediction() {
    let inputs = vec![
        f64_batch(2, 300, 100, -1),
        Input::Record(RecordInput {
            model: 2,
            timestamp_ms: 50,
            metrics: vec![(0, Value::Str("x".into()))],
        }),
        f64_batch(0, 20, 7, 1),
    ];
    let head = Head::build(inputs);
    let dir = TempDir::new().unwrap();
    head.write_from_head(&dir);
    let segment = Segment::open(dir.path(), 1).unwrap();
    let mut read = segment.records().unwrap().predictions;
    let mut expected = head.all_records();
    read.sort_by_key(|r| r.seq);
    expected.sort_by_key(|r| r.seq);
    assert_eq!(read.len(), 321);
    assert_eq!(read, expected);
}

#[test]
fn empty_batch_adds_no_model() {
    let head = Head::build(vec![
        Input::Batch(BatchInput {
            model: 0,
            timestamps_ms: Vec::new(),
            columns: vec![(0, MetricColumn::I64(Vec::new()))],
        }),
        f64_batch(1, 3, 0, 1),
    ]);
    let dir = TempDir::new().unwrap();
    head.write_from_head(&dir);
    let segment = Segment::open(dir.path(), 1).unwrap();
    assert_eq!(segment.models().collect::<Vec<_>>(), vec!["fraud"]);
    assert_same_files(&head);
}
