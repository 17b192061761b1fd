//! Round trips and corruption handling of whole segment files.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;
use uuid::Uuid;

use super::layout::{
    TRAILER_FOOTER_CRC, TRAILER_LEN, TRAILER_SEGMENT_ID, TRAILER_VERSION, ValueType,
};
use super::*;
use crate::error::Error;
use crate::record::{
    AggregateRecord, DelayedRecord, PredictionKey, PredictionRecord, ResolvedDelayed,
};
use crate::value::{Metric, Metrics, Value};

const BASE_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// Column directory of a segment: (metric name, value type) pairs in order of first
/// appearance in the file's row order.
type Directory = Vec<(String, ValueType)>;

fn add_to_directory(directory: &mut Directory, metrics: &Metrics) {
    for metric in metrics {
        let key = (metric.name.clone(), ValueType::of(&metric.value));
        if !directory.contains(&key) {
            directory.push(key);
        }
    }
}

/// Returns a record's metrics in directory order, as reads return them.
fn directory_order(metrics: &Metrics, directory: &Directory) -> Metrics {
    let position = |metric: &Metric| {
        let key = (metric.name.clone(), ValueType::of(&metric.value));
        directory.iter().position(|entry| *entry == key)
    };
    let mut sorted = metrics.0.clone();
    sorted.sort_by_key(|metric| position(metric));
    Metrics(sorted)
}

/// Returns metrics of every value type, with some left out, and `label` as i64 or string by
/// row.
fn mixed_metrics(rng: &mut ChaCha8Rng, row: u64) -> Metrics {
    let mut metrics = Metrics::new();
    if row.is_multiple_of(2) {
        metrics.push("label", row as i64);
    } else {
        metrics.push("label", format!("class-{}", row % 3));
    }
    if !row.is_multiple_of(5) {
        metrics.push("feature", rng.random::<f64>());
    }
    if row % 7 == 1 {
        metrics.push("flag", row.is_multiple_of(3));
    }
    if row % 11 == 2 {
        metrics.push("payload", vec![row as u8; (row % 40) as usize]);
    }
    metrics.push("score", (rng.random::<f64>() * 100.0).round() / 100.0);
    if row % 13 == 3 {
        metrics.push("count", -(row as i64));
    }
    metrics
}

/// Returns predictions of three models in shuffled order. With 8,193 `fraud_rows` or more,
/// `fraud` fills three blocks.
fn mixed_predictions(seed: u64, fraud_rows: u64) -> Vec<PredictionRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let models = [("fraud", fraud_rows), ("churn", 300), ("credit-v2", 1)];
    let mut records = Vec::new();
    let mut seq = 1;
    for (model, rows) in models {
        for _ in 0..rows {
            records.push(PredictionRecord {
                seq,
                model: model.to_owned(),
                uuid: Uuid::from_u128(rng.random()),
                timestamp_ms: BASE_MS + rng.random_range(0..10 * HOUR_MS),
                metrics: mixed_metrics(&mut rng, seq),
            });
            seq += 1;
        }
    }
    // Shuffle, with a few equal timestamps so that seq breaks ties.
    for i in (1..records.len()).rev() {
        let j = rng.random_range(0..=i);
        records.swap(i, j);
    }
    if records.len() > 10 && records[3].model == records[4].model {
        records[4].timestamp_ms = records[3].timestamp_ms;
    }
    records
}

fn delayed_for_predictions(predictions: &[PredictionRecord], seed: u64) -> Vec<ResolvedDelayed> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut delayed = Vec::new();
    let mut seq = 1_000_000;
    for prediction in predictions.iter().step_by(3) {
        for _ in 0..1 + (seq % 2) {
            let mut metrics = Metrics::new().with("truth", rng.random::<f64>() < 0.5);
            if seq % 4 == 0 {
                metrics.push("amount", rng.random_range(0..1_000i64));
            }
            delayed.push(ResolvedDelayed {
                record: DelayedRecord {
                    seq,
                    uuid: prediction.uuid,
                    timestamp_ms: prediction.timestamp_ms + rng.random_range(0..HOUR_MS),
                    metrics,
                },
                prediction: Some(PredictionKey {
                    model: prediction.model.clone(),
                    timestamp_ms: prediction.timestamp_ms,
                    seq: prediction.seq,
                }),
            });
            seq += 1;
        }
    }
    for _ in 0..50 {
        delayed.push(ResolvedDelayed {
            record: DelayedRecord {
                seq,
                uuid: Uuid::from_u128(rng.random()),
                timestamp_ms: BASE_MS + rng.random_range(0..HOUR_MS),
                metrics: Metrics::new().with("truth", "unknown"),
            },
            prediction: None,
        });
        seq += 1;
    }
    delayed.reverse();
    delayed
}

fn hourly_aggregates(models: &[&str]) -> Vec<AggregateRecord> {
    let mut aggregates = Vec::new();
    let mut seq = 2_000_000;
    for model in models {
        for hour in (0..10).rev() {
            let start_ms = BASE_MS + hour * HOUR_MS;
            for end_ms in [start_ms + HOUR_MS, start_ms + 2 * HOUR_MS] {
                let metrics = Metrics::new()
                    .with("auc", 0.5 + hour as f64 / 100.0)
                    .with("rows", hour * 100)
                    .with("drift", if hour > 5 { "high" } else { "low" });
                aggregates.push(AggregateRecord {
                    seq,
                    model: (*model).to_owned(),
                    start_ms,
                    end_ms,
                    metrics,
                });
                seq += 1;
            }
        }
    }
    aggregates
}

/// Records of a segment and what reads should return for them.
struct Fixture {
    predictions: Vec<PredictionRecord>,
    delayed: Vec<ResolvedDelayed>,
    aggregates: Vec<AggregateRecord>,
}

impl Fixture {
    fn mixed(fraud_rows: u64) -> Fixture {
        let predictions = mixed_predictions(7, fraud_rows);
        let delayed = delayed_for_predictions(&predictions, 8);
        let aggregates = hourly_aggregates(&["fraud", "churn", "no-predictions"]);
        Fixture {
            predictions,
            delayed,
            aggregates,
        }
    }

    fn data(&self) -> SegmentData<'_> {
        SegmentData {
            predictions: &self.predictions,
            delayed: &self.delayed,
            aggregates: &self.aggregates,
        }
    }

    fn write(&self, dir: &Path, id: u64) -> (Written, Segment) {
        let written = write_segment(dir, id, &self.data(), 3).unwrap();
        let segment = Segment::open(dir, id).unwrap();
        (written, segment)
    }

    /// Returns the predictions in file order, with their metrics as given.
    fn predictions_in_file_order(&self) -> Vec<PredictionRecord> {
        let mut sorted: Vec<PredictionRecord> = self.predictions.clone();
        sorted.sort_by(|a, b| {
            (&a.model, a.timestamp_ms, a.seq).cmp(&(&b.model, b.timestamp_ms, b.seq))
        });
        sorted
    }

    /// Returns the delayed records in file order, with their UUIDs and metrics as given.
    fn delayed_in_file_order(&self) -> Vec<ResolvedDelayed> {
        let mut sorted = self.delayed.clone();
        sorted.sort_by_key(|r| match &r.prediction {
            Some(key) => (
                0,
                key.model.clone(),
                key.timestamp_ms,
                key.seq,
                Uuid::nil(),
                r.record.seq,
            ),
            None => (
                1,
                String::new(),
                r.record.timestamp_ms,
                0,
                r.record.uuid,
                r.record.seq,
            ),
        });
        sorted
    }

    fn aggregates_in_file_order(&self) -> Vec<AggregateRecord> {
        let mut sorted = self.aggregates.clone();
        sorted.sort_by(|a, b| {
            (&a.model, a.start_ms, a.end_ms, a.seq).cmp(&(&b.model, b.start_ms, b.end_ms, b.seq))
        });
        sorted
    }

    fn directory(&self) -> Directory {
        let mut directory = Directory::new();
        for record in self.predictions_in_file_order() {
            add_to_directory(&mut directory, &record.metrics);
        }
        for record in self.delayed_in_file_order() {
            add_to_directory(&mut directory, &record.record.metrics);
        }
        for record in self.aggregates_in_file_order() {
            add_to_directory(&mut directory, &record.metrics);
        }
        directory
    }

    /// Returns the predictions as reads return them: in file order, metrics in directory order.
    fn sorted_predictions(&self) -> Vec<PredictionRecord> {
        let directory = self.directory();
        let mut sorted = self.predictions_in_file_order();
        for record in &mut sorted {
            record.metrics = directory_order(&record.metrics, &directory);
        }
        sorted
    }

    /// Returns the delayed records as reads return them: in file order, metrics in directory
    /// order, and a nil UUID for resolved records, whose UUID the file does not store.
    fn sorted_delayed(&self) -> Vec<ResolvedDelayed> {
        let directory = self.directory();
        let mut sorted = self.delayed_in_file_order();
        for record in &mut sorted {
            record.record.metrics = directory_order(&record.record.metrics, &directory);
            if record.prediction.is_some() {
                record.record.uuid = Uuid::nil();
                record.record.seq = crate::record::STORED_SEQ;
            }
        }
        sorted
    }

    fn sorted_aggregates(&self) -> Vec<AggregateRecord> {
        let directory = self.directory();
        let mut sorted = self.aggregates_in_file_order();
        for record in &mut sorted {
            record.metrics = directory_order(&record.metrics, &directory);
        }
        sorted
    }
}

fn scan_all(segment: &Segment, model: &str, start_ms: i64, end_ms: i64) -> Vec<PredictionRecord> {
    let blocks: Vec<Vec<PredictionRecord>> = segment
        .scan_predictions(model, start_ms, end_ms)
        .map(Result::unwrap)
        .collect();
    assert!(
        blocks.iter().all(|block| !block.is_empty()),
        "a scan yielded an empty block"
    );
    blocks.into_iter().flatten().collect()
}

#[test]
fn predictions_round_trip_sorted() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (_, segment) = fixture.write(dir.path(), 1);
    let expected = fixture.sorted_predictions();
    for model in ["churn", "credit-v2", "fraud"] {
        let want: Vec<_> = expected
            .iter()
            .filter(|r| r.model == model)
            .cloned()
            .collect();
        let got = scan_all(&segment, model, i64::MIN, i64::MAX);
        assert_eq!(got.len(), want.len(), "row count of {model}");
        assert!(got == want, "rows of {model} differ");
    }
    assert!(scan_all(&segment, "no-predictions", i64::MIN, i64::MAX).is_empty());
    assert!(scan_all(&segment, "unknown", i64::MIN, i64::MAX).is_empty());
}

#[test]
fn scan_yields_one_block_at_a_time() {
    let dir = TempDir::new().unwrap();
    let (_, segment) = Fixture::mixed(9_000).write(dir.path(), 1);
    let sizes: Vec<usize> = segment
        .scan_predictions("fraud", i64::MIN, i64::MAX)
        .map(|block| block.unwrap().len())
        .collect();
    assert_eq!(sizes, vec![BLOCK_ROWS, BLOCK_ROWS, 9_000 - 2 * BLOCK_ROWS]);
}

#[test]
fn windows_that_cut_blocks_match_filter() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (_, segment) = fixture.write(dir.path(), 1);
    let fraud: Vec<_> = fixture
        .sorted_predictions()
        .into_iter()
        .filter(|r| r.model == "fraud")
        .collect();
    let cuts = [
        (0, 1),
        (4_000, 4_200),
        (4_095, 4_097),
        (100, 8_999),
        (8_191, 8_193),
    ];
    for (first, last) in cuts {
        let start_ms = fraud[first].timestamp_ms;
        let end_ms = fraud[last].timestamp_ms;
        let want: Vec<_> = fraud
            .iter()
            .filter(|r| r.timestamp_ms >= start_ms && r.timestamp_ms < end_ms)
            .cloned()
            .collect();
        let got = scan_all(&segment, "fraud", start_ms, end_ms);
        assert_eq!(got.len(), want.len(), "rows of window {first}..{last}");
        assert!(got == want, "window {first}..{last} differs");
    }
    assert!(scan_all(&segment, "fraud", BASE_MS + 5, BASE_MS + 5).is_empty());
    assert!(scan_all(&segment, "fraud", BASE_MS + 5, BASE_MS).is_empty());
}

#[test]
fn prediction_range_matches_rows() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (_, segment) = fixture.write(dir.path(), 1);
    let churn = fixture.predictions.iter().filter(|r| r.model == "churn");
    let min = churn.clone().map(|r| r.timestamp_ms).min();
    let max = churn.map(|r| r.timestamp_ms).max();
    assert_eq!(segment.prediction_range("churn"), min.zip(max));
    assert_eq!(segment.prediction_range("no-predictions"), None);
    assert_eq!(segment.prediction_range("unknown"), None);
}

#[test]
fn delayed_round_trip_with_orphans() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(5_000);
    let (_, segment) = fixture.write(dir.path(), 1);
    let expected = fixture.sorted_delayed();
    for model in ["churn", "fraud"] {
        let want: Vec<_> = expected
            .iter()
            .filter(|r| r.prediction.as_ref().is_some_and(|k| k.model == model))
            .cloned()
            .collect();
        let got = segment.delayed_for(model, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.len(), want.len(), "delayed rows of {model}");
        assert!(got == want, "delayed rows of {model} differ");
    }
    let orphans: Vec<_> = expected
        .iter()
        .filter(|r| r.prediction.is_none())
        .cloned()
        .collect();
    assert_eq!(segment.orphans().unwrap(), orphans);
    assert_eq!(segment.orphans().unwrap().len(), 50);
}

#[test]
fn delayed_window_selects_prediction_time() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (_, segment) = fixture.write(dir.path(), 1);
    let start_ms = BASE_MS + 2 * HOUR_MS;
    let end_ms = BASE_MS + 3 * HOUR_MS;
    let want: Vec<_> = fixture
        .sorted_delayed()
        .into_iter()
        .filter(|r| {
            r.prediction.as_ref().is_some_and(|k| {
                k.model == "fraud" && k.timestamp_ms >= start_ms && k.timestamp_ms < end_ms
            })
        })
        .collect();
    let got = segment.delayed_for("fraud", start_ms, end_ms).unwrap();
    assert!(!want.is_empty());
    assert!(got == want, "delayed rows of the window differ");
}

#[test]
fn aggregates_overlapping_window_returned() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(100);
    let (_, segment) = fixture.write(dir.path(), 1);
    let expected = fixture.sorted_aggregates();
    let windows = [
        (i64::MIN, i64::MAX),
        (BASE_MS + HOUR_MS, BASE_MS + HOUR_MS + 1),
        (BASE_MS + HOUR_MS / 2, BASE_MS + 3 * HOUR_MS),
        (BASE_MS + 10 * HOUR_MS, BASE_MS + 11 * HOUR_MS),
        (BASE_MS + 12 * HOUR_MS, BASE_MS + 13 * HOUR_MS),
    ];
    for model in ["fraud", "no-predictions"] {
        for (start_ms, end_ms) in windows {
            let want: Vec<_> = expected
                .iter()
                .filter(|r| r.model == model && r.start_ms < end_ms && r.end_ms > start_ms)
                .cloned()
                .collect();
            let got = segment.aggregates(model, start_ms, end_ms).unwrap();
            assert!(
                got == want,
                "aggregates of {model} in {start_ms}..{end_ms} differ"
            );
        }
    }
    assert!(
        segment
            .aggregates("credit-v2", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn row_lookups_match_written_rows() {
    let dir = TempDir::new().unwrap();
    // Small blocks keep a block decode per row fast in debug builds.
    let fixture = Fixture::mixed(400);
    let (written, segment) = fixture.write(dir.path(), 1);
    let predictions = fixture.sorted_predictions();
    assert_eq!(written.predictions.len(), predictions.len());
    for (row, (uuid, written_row)) in written.predictions.iter().enumerate() {
        assert_eq!(*written_row as usize, row);
        assert_eq!(*uuid, predictions[row].uuid);
        assert_eq!(segment.uuid_at(*written_row).unwrap(), *uuid);
        assert_eq!(
            segment.prediction_at(*written_row).unwrap(),
            predictions[row]
        );
    }

    let delayed = fixture.sorted_delayed();
    let input_rows = fixture.delayed_in_file_order();
    let seq_of_uuid: HashMap<Uuid, u64> = predictions.iter().map(|p| (p.uuid, p.seq)).collect();
    assert_eq!(written.delayed.len(), delayed.len());
    for (row, (uuid, written_row)) in written.delayed.iter().enumerate() {
        assert_eq!(*written_row as usize, row);
        assert_eq!(
            *uuid, input_rows[row].record.uuid,
            "written UUID of row {row}"
        );
        let record = segment.delayed_at(*written_row).unwrap();
        match &record.prediction {
            Some(key) => {
                assert_eq!(Some(&key.seq), seq_of_uuid.get(uuid), "row {row}");
                assert_eq!(record.record.uuid, Uuid::nil(), "row {row}");
            }
            None => assert_eq!(record.record.uuid, *uuid, "row {row}"),
        }
        assert_eq!(record, delayed[row]);
    }
    let last = written.delayed.len() as u32 - 1;
    assert!(segment.delayed_at(last).unwrap().prediction.is_none());
}

#[test]
fn row_lookups_cross_block_boundaries() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (written, segment) = fixture.write(dir.path(), 1);
    let predictions = fixture.sorted_predictions();
    for (row, (uuid, _)) in written.predictions.iter().enumerate() {
        assert_eq!(segment.uuid_at(row as u32).unwrap(), *uuid);
    }
    // churn (300 rows) and credit-v2 (1 row) come before fraud's 9,000 rows.
    let fraud_start = 301;
    let rows = [
        0,
        299,
        300,
        fraud_start,
        fraud_start + BLOCK_ROWS - 1,
        fraud_start + BLOCK_ROWS,
    ];
    let last = predictions.len() - 1;
    for row in rows.into_iter().chain([fraud_start + 2 * BLOCK_ROWS, last]) {
        assert_eq!(
            segment.prediction_at(row as u32).unwrap(),
            predictions[row],
            "row {row}"
        );
    }
}

#[test]
fn row_past_end_is_invalid_input() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = Fixture::mixed(10).write(dir.path(), 1);
    let rows = written.predictions.len() as u32;
    assert!(matches!(
        segment.prediction_at(rows),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        segment.uuid_at(rows),
        Err(Error::InvalidInput { .. })
    ));
    let delayed_rows = written.delayed.len() as u32;
    assert!(matches!(
        segment.delayed_at(delayed_rows),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn same_name_two_types_kept_apart() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(20);
    let (_, segment) = fixture.write(dir.path(), 1);
    let rows = scan_all(&segment, "churn", i64::MIN, i64::MAX);
    let ints = rows
        .iter()
        .filter(|r| matches!(r.metrics.get("label"), Some(Value::I64(_))));
    let strings = rows
        .iter()
        .filter(|r| matches!(r.metrics.get("label"), Some(Value::Str(_))));
    assert!(ints.count() > 0);
    assert!(strings.count() > 0);
    let summary = segment.summary();
    let labels: Vec<_> = summary
        .columns
        .iter()
        .filter(|c| c.table == "predictions" && c.name == "label")
        .map(|c| c.value_type)
        .collect();
    assert_eq!(labels.len(), 2);
    assert!(labels.contains(&"i64"));
    assert!(labels.contains(&"string"));
}

fn one_prediction(seq: u64, timestamp_ms: i64, metrics: Metrics) -> PredictionRecord {
    PredictionRecord {
        seq,
        model: "m".to_owned(),
        uuid: Uuid::from_u128(u128::from(seq)),
        timestamp_ms,
        metrics,
    }
}

fn metric_names(record: &PredictionRecord) -> Vec<&str> {
    record.metrics.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn metrics_keep_first_record_order() {
    let dir = TempDir::new().unwrap();
    // The later record in file order lists its metrics in another order, and adds one.
    let records = [
        one_prediction(1, 20, Metrics::new().with("alpha", 1i64).with("zeta", 2.0)),
        one_prediction(2, 10, Metrics::new().with("zeta", 3.0).with("mid", true)),
    ];
    let data = SegmentData {
        predictions: &records,
        ..SegmentData::default()
    };
    write_segment(dir.path(), 3, &data, 3).unwrap();
    let segment = Segment::open(dir.path(), 3).unwrap();
    let first = segment.prediction_at(0).unwrap();
    let second = segment.prediction_at(1).unwrap();
    assert_eq!(first.seq, 2);
    assert_eq!(metric_names(&first), vec!["zeta", "mid"]);
    assert_eq!(metric_names(&second), vec!["zeta", "alpha"]);
}

#[test]
fn single_record_keeps_metric_order() {
    let dir = TempDir::new().unwrap();
    let metrics = Metrics::new()
        .with("zeta", 1i64)
        .with("alpha", 2i64)
        .with("mid", 3i64);
    let record = one_prediction(1, 5, metrics.clone());
    let data = SegmentData {
        predictions: std::slice::from_ref(&record),
        ..SegmentData::default()
    };
    write_segment(dir.path(), 3, &data, 3).unwrap();
    let segment = Segment::open(dir.path(), 3).unwrap();
    assert_eq!(segment.prediction_at(0).unwrap().metrics, metrics);
}

#[test]
fn duplicate_metric_in_record_is_rejected() {
    let dir = TempDir::new().unwrap();
    let record = PredictionRecord {
        seq: 1,
        model: "m".to_owned(),
        uuid: Uuid::from_u128(1),
        timestamp_ms: 5,
        metrics: Metrics(vec![Metric::new("a", 1.0), Metric::new("a", 2.0)]),
    };
    let data = SegmentData {
        predictions: std::slice::from_ref(&record),
        ..SegmentData::default()
    };
    let error = write_segment(dir.path(), 1, &data, 3).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(!dir.path().join(segment_file_name(1)).exists());
}

#[test]
fn empty_segment_round_trips() {
    let dir = TempDir::new().unwrap();
    let written = write_segment(dir.path(), 9, &SegmentData::default(), 3).unwrap();
    let segment = Segment::open(dir.path(), 9).unwrap();
    assert_eq!(written.bytes, segment.file_bytes());
    assert!(written.predictions.is_empty());
    assert_eq!(segment.prediction_count(), 0);
    assert_eq!(segment.time_range(), None);
    assert!(segment.verify().is_ok());
    assert!(scan_all(&segment, "m", i64::MIN, i64::MAX).is_empty());
    assert!(segment.orphans().unwrap().is_empty());
    assert!(
        segment
            .aggregates("m", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert!(segment.summary().columns.is_empty());
}

#[test]
fn only_aggregates_round_trip() {
    let dir = TempDir::new().unwrap();
    let aggregates = hourly_aggregates(&["m"]);
    let data = SegmentData {
        aggregates: &aggregates,
        ..SegmentData::default()
    };
    write_segment(dir.path(), 2, &data, 3).unwrap();
    let segment = Segment::open(dir.path(), 2).unwrap();
    assert_eq!(segment.prediction_count(), 0);
    assert_eq!(segment.delayed_count(), 0);
    assert_eq!(
        segment.aggregates("m", i64::MIN, i64::MAX).unwrap().len(),
        aggregates.len()
    );
    assert!(segment.verify().is_ok());
}

#[test]
fn segment_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segment>();
    assert_send_sync::<PredictionScan<'_>>();
}

#[test]
fn file_name_sorts_by_id() {
    assert_eq!(segment_file_name(42), "seg-00000000000000000042.seg");
    assert!(segment_file_name(9) < segment_file_name(10));
}

#[test]
fn summary_counts_rows_and_columns() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (written, segment) = fixture.write(dir.path(), 4);
    let summary = segment.summary();
    assert_eq!(summary.file_bytes, written.bytes);
    assert_eq!(summary.predictions.rows, 9_301);
    assert_eq!(summary.predictions.blocks, 5);
    assert_eq!(summary.orphans.rows, 50);
    assert_eq!(summary.delayed.rows + 50, fixture.delayed.len() as u64);
    assert_eq!(summary.aggregates.rows, 60);

    let models: Vec<_> = summary.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(
        models,
        vec!["churn", "credit-v2", "fraud", "no-predictions"]
    );
    let fraud = &summary.models[2];
    assert_eq!(fraud.predictions.rows, 9_000);
    assert_eq!(
        fraud.predictions.time_range,
        segment.prediction_range("fraud")
    );

    let score = summary
        .columns
        .iter()
        .find(|c| c.table == "predictions" && c.name == "score")
        .unwrap();
    assert_eq!(score.rows_present, 9_301);
    assert_eq!(score.encoding, "floats");
    assert_eq!(score.modes, vec![("decimal", 5)]);

    let stored: u64 = summary.columns.iter().map(|c| c.stored_bytes).sum();
    assert!(stored < summary.file_bytes);
    let uuid = summary.columns.iter().find(|c| c.name == "uuid").unwrap();
    assert_eq!(uuid.stored_bytes, 9_301 * 16);
    let delayed_uuid = summary
        .columns
        .iter()
        .find(|c| c.table == "delayed" && c.name == "uuid")
        .unwrap();
    assert_eq!(
        delayed_uuid.stored_bytes,
        50 * 16,
        "only orphans store a UUID"
    );
    let prediction_seq = summary
        .columns
        .iter()
        .find(|c| c.table == "delayed" && c.name == "prediction_seq")
        .unwrap();
    assert_eq!(prediction_seq.rows_present, summary.delayed.rows);
}

#[test]
fn verify_accepts_written_segment() {
    let dir = TempDir::new().unwrap();
    let (_, segment) = Fixture::mixed(5_000).write(dir.path(), 1);
    assert!(segment.verify().is_ok());
}

fn assert_corruption(error: &Error, path: &Path, file_len: u64) {
    match error {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, path, "{error}");
            assert!(*offset <= file_len, "offset past the file: {error}");
        }
        other => panic!("expected corruption, got {other}"),
    }
}

fn small_fixture() -> Fixture {
    let mut predictions = mixed_predictions(11, 6);
    predictions.truncate(6);
    let mut delayed = delayed_for_predictions(&predictions, 12);
    delayed.truncate(5);
    let mut aggregates = hourly_aggregates(&["fraud"]);
    aggregates.truncate(3);
    Fixture {
        predictions,
        delayed,
        aggregates,
    }
}

#[test]
fn truncated_file_is_corruption() {
    let dir = TempDir::new().unwrap();
    let (written, _) = Fixture::mixed(100).write(dir.path(), 1);
    let bytes = fs::read(&written.path).unwrap();
    for len in [0, 5, TRAILER_LEN, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&written.path, &bytes[..len]).unwrap();
        let error = Segment::open(dir.path(), 1).unwrap_err();
        assert_corruption(&error, &written.path, len as u64);
    }
}

#[test]
fn flipped_trailer_byte_is_corruption() {
    let dir = TempDir::new().unwrap();
    let (written, _) = small_fixture().write(dir.path(), 1);
    let bytes = fs::read(&written.path).unwrap();
    for at in bytes.len() - TRAILER_LEN..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x04;
        fs::write(&written.path, &damaged).unwrap();
        let error = Segment::open(dir.path(), 1).unwrap_err();
        assert_corruption(&error, &written.path, bytes.len() as u64);
    }
}

#[test]
fn segment_under_other_id_is_corruption() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    let file_len = segment.file_bytes();
    let trailer_start = file_len - TRAILER_LEN as u64;
    drop(segment);
    let other = dir.path().join(segment_file_name(2));
    fs::copy(&written.path, &other).unwrap();
    let error = Segment::open(dir.path(), 2).unwrap_err();
    assert_corruption(&error, &other, file_len);
    let Error::Corruption { offset, reason, .. } = &error else {
        panic!("expected corruption, got {error:?}");
    };
    assert_eq!(*offset, trailer_start + TRAILER_SEGMENT_ID as u64);
    assert!(reason.contains("records segment id 1"), "{reason}");
    assert!(reason.contains("for segment id 2"), "{reason}");
    assert!(Segment::open(dir.path(), 1).is_ok());
}

#[test]
fn trailer_records_segment_id() {
    let dir = TempDir::new().unwrap();
    let (written, _) = small_fixture().write(dir.path(), 0x0102_0304_0506_0708);
    let bytes = fs::read(&written.path).unwrap();
    let at = bytes.len() - TRAILER_LEN + TRAILER_SEGMENT_ID;
    assert_eq!(bytes[at..at + 8], 0x0102_0304_0506_0708u64.to_le_bytes());
}

#[test]
fn flipped_footer_byte_is_corruption() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    let footer_offset = segment.footer_offset();
    drop(segment);
    let mut bytes = fs::read(&written.path).unwrap();
    bytes[footer_offset as usize + 6] ^= 0x10;
    fs::write(&written.path, &bytes).unwrap();
    let error = Segment::open(dir.path(), 1).unwrap_err();
    assert_corruption(&error, &written.path, bytes.len() as u64);
    assert!(matches!(error, Error::Corruption { offset, .. } if offset == footer_offset));
}

#[test]
fn flipped_block_byte_is_corruption() {
    let dir = TempDir::new().unwrap();
    let (written, _) = small_fixture().write(dir.path(), 1);
    let mut bytes = fs::read(&written.path).unwrap();
    bytes[1] ^= 0x01;
    fs::write(&written.path, &bytes).unwrap();
    let segment = Segment::open(dir.path(), 1).unwrap();
    let error = segment.verify().unwrap_err();
    assert_corruption(&error, &written.path, bytes.len() as u64);
    assert!(
        matches!(error, Error::Corruption { offset: 0, .. }),
        "{error}"
    );
    let model = &segment.summary().models[0].model;
    let scanned: Vec<_> = segment
        .scan_predictions(model, i64::MIN, i64::MAX)
        .collect();
    assert!(matches!(
        scanned.as_slice(),
        [Err(Error::Corruption { .. })]
    ));
}

/// Runs every read and returns whether any of them reported corruption.
fn read_everything(segment: &Segment) -> bool {
    let mut failed = segment.verify().is_err();
    let models: Vec<String> = segment.models().map(str::to_owned).collect();
    for model in &models {
        failed |= segment
            .scan_predictions(model, i64::MIN, i64::MAX)
            .any(|b| b.is_err());
        failed |= segment.delayed_for(model, i64::MIN, i64::MAX).is_err();
        failed |= segment.aggregates(model, i64::MIN, i64::MAX).is_err();
    }
    failed |= segment.orphans().is_err();
    for row in 0..segment.prediction_count() {
        failed |= segment.prediction_at(row).is_err();
        let _ = segment.uuid_at(row);
    }
    for row in 0..segment.delayed_count() {
        failed |= segment.delayed_at(row).is_err();
    }
    let _ = segment.summary();
    failed
}

#[test]
fn every_flipped_byte_is_detected() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    assert!(!read_everything(&segment));
    drop(segment);
    let bytes = fs::read(&written.path).unwrap();
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&written.path)
        .unwrap();
    for (at, byte) in bytes.iter().enumerate() {
        // One bit per byte, a different one at each offset, keeps the loop fast.
        let damaged = byte ^ (1 << (at % 8));
        file.write_at(&[damaged], at as u64).unwrap();
        match Segment::open(dir.path(), 1) {
            Err(error) => assert_corruption(&error, &written.path, bytes.len() as u64),
            Ok(segment) => {
                let error = segment.verify().expect_err("verify missed a flipped byte");
                assert_corruption(&error, &written.path, bytes.len() as u64);
                assert!(read_everything(&segment), "reads missed byte {at}");
            }
        }
        file.write_at(&[*byte], at as u64).unwrap();
    }
    assert!(Segment::open(dir.path(), 1).unwrap().verify().is_ok());
}

/// Rewrites the footer CRC in the trailer so that a damaged footer reaches the parser.
fn reseal_footer(bytes: &mut [u8], footer_offset: usize) {
    let trailer = bytes.len() - TRAILER_LEN;
    let crc = crc32fast::hash(&bytes[footer_offset..trailer]);
    let crc_at = trailer + TRAILER_FOOTER_CRC;
    bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn damaged_footer_with_valid_crc_never_panics() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    let footer_offset = segment.footer_offset() as usize;
    drop(segment);
    let bytes = fs::read(&written.path).unwrap();
    let mut opened = 0;
    for at in footer_offset..bytes.len() - TRAILER_LEN {
        for damaged in [bytes[at] ^ 0x01, bytes[at] ^ 0x80, 0xff, 0x00] {
            let mut copy = bytes.clone();
            copy[at] = damaged;
            reseal_footer(&mut copy, footer_offset);
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&written.path)
                .unwrap();
            file.write_at(&copy[footer_offset..], footer_offset as u64)
                .unwrap();
            match Segment::open(dir.path(), 1) {
                Err(error) => assert_corruption(&error, &written.path, bytes.len() as u64),
                Ok(segment) => {
                    opened += 1;
                    read_everything(&segment);
                }
            }
        }
    }
    // Some changes still parse, such as a changed chunk CRC. The reads must have run for them.
    assert!(opened > 0);
}

#[test]
fn unsupported_version_is_reported() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    let footer_offset = segment.footer_offset() as usize;
    drop(segment);
    let mut bytes = fs::read(&written.path).unwrap();
    let trailer = bytes.len() - TRAILER_LEN;
    // The footer's version is the varint after its 4-byte magic. Both 3 and 4 take one byte.
    bytes[footer_offset + 4] = 4;
    reseal_footer(&mut bytes, footer_offset);
    let version_at = trailer + TRAILER_VERSION;
    bytes[version_at..version_at + 4].copy_from_slice(&4u32.to_le_bytes());
    fs::write(&written.path, &bytes).unwrap();
    let error = Segment::open(dir.path(), 1).unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnsupportedVersion {
                found: 4,
                supported: 3,
                ..
            }
        ),
        "{error}"
    );
}

/// Returns predictions shaped like a credit model's: a random UUID, arrivals 0 to 999 ms apart, a
/// score with two decimals, and three features: an amount in whole units, a ratio and a
/// duration as full-precision floats.
fn credit_predictions(rows: usize) -> Vec<PredictionRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(36);
    let mut timestamp_ms = BASE_MS;
    (0..rows)
        .map(|row| {
            timestamp_ms += rng.random_range(0..1_000);
            PredictionRecord {
                seq: row as u64 + 1,
                model: "credit".to_owned(),
                uuid: Uuid::from_u128(rng.random()),
                timestamp_ms,
                metrics: Metrics::new()
                    .with("score", f64::from(rng.random_range(0..=100u32)) / 100.0)
                    .with("amount", f64::from(rng.random_range(5_000..80_000u32)))
                    .with("ratio", rng.random::<f64>())
                    .with("tenure", rng.random::<f64>() * 10.0),
            }
        })
        .collect()
}

#[test]
fn credit_predictions_stay_under_37_bytes() {
    let dir = TempDir::new().unwrap();
    let predictions = credit_predictions(100_000);
    let data = SegmentData {
        predictions: &predictions,
        ..SegmentData::default()
    };
    let written = write_segment(dir.path(), 1, &data, 3).unwrap();
    let per_prediction = written.bytes as f64 / predictions.len() as f64;
    assert!(
        per_prediction < 37.0,
        "{per_prediction:.2} bytes per prediction"
    );
    let summary = Segment::open(dir.path(), 1).unwrap().summary();
    for column in &summary.columns {
        eprintln!(
            "{:>8} {:>9} {:>16} {:?} {:.2} B/row",
            column.name,
            column.stored_bytes,
            column.encoding,
            column.modes,
            column.stored_bytes as f64 / predictions.len() as f64
        );
    }
    eprintln!("{per_prediction:.3} bytes per prediction");
}

#[test]
fn summary_lists_each_delayed_column_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, segment) = Fixture::mixed(5_000).write(dir.path(), 1);
    let summary = segment.summary();
    let delayed: Vec<_> = summary
        .columns
        .iter()
        .filter(|c| c.table == Table::Delayed.name())
        .collect();
    let mut keys: Vec<_> = delayed.iter().map(|c| (&c.name, c.value_type)).collect();
    let listed = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        listed,
        "a delayed column is listed twice: {keys:?}"
    );
    let truth_columns = delayed.iter().filter(|c| c.name == "truth").count();
    assert_eq!(truth_columns, 2, "truth is stored as bool and as string");

    let fixed: Vec<_> = delayed
        .iter()
        .filter(|c| !c.metric)
        .map(|c| c.name.as_str())
        .collect();
    let expected = [
        "seq",
        "uuid",
        "delayed_timestamp",
        "prediction_timestamp",
        "prediction_seq",
    ];
    assert_eq!(fixed, expected);
}

#[test]
fn prediction_keys_return_timestamp_and_seq() {
    let dir = TempDir::new().unwrap();
    let fixture = Fixture::mixed(9_000);
    let (written, segment) = fixture.write(dir.path(), 1);
    let predictions = fixture.sorted_predictions();
    let rows = [9_300, 0, 4_500, 301, 4_500];
    let keys = segment.prediction_keys(&rows).unwrap();
    assert_eq!(keys.len(), rows.len());
    let mut sorted_rows = rows.to_vec();
    sorted_rows.sort_unstable();
    for ((uuid, key), row) in keys.iter().zip(sorted_rows) {
        let prediction = &predictions[row as usize];
        assert_eq!(*uuid, written.predictions[row as usize].0, "row {row}");
        assert_eq!(*uuid, prediction.uuid, "row {row}");
        assert_eq!(key.model, prediction.model, "row {row}");
        assert_eq!(key.timestamp_ms, prediction.timestamp_ms, "row {row}");
        assert_eq!(key.seq, prediction.seq, "row {row}");
    }
}

#[test]
fn resolved_rows_sort_by_prediction_seq() {
    let dir = TempDir::new().unwrap();
    // Two predictions at one timestamp: the one with the larger UUID has the smaller seq, so
    // sorting by UUID would put its delayed record last.
    let predictions = [
        PredictionRecord {
            uuid: Uuid::from_u128(1),
            ..one_prediction(8, 100, Metrics::new())
        },
        PredictionRecord {
            uuid: Uuid::from_u128(2),
            ..one_prediction(3, 100, Metrics::new())
        },
    ];
    let delayed: Vec<ResolvedDelayed> = predictions
        .iter()
        .map(|p| ResolvedDelayed {
            record: DelayedRecord {
                seq: 20 - p.seq,
                uuid: p.uuid,
                timestamp_ms: 500,
                metrics: Metrics::new().with("truth", p.seq as i64),
            },
            prediction: Some(PredictionKey {
                model: p.model.clone(),
                timestamp_ms: p.timestamp_ms,
                seq: p.seq,
            }),
        })
        .collect();
    let data = SegmentData {
        predictions: &predictions,
        delayed: &delayed,
        ..SegmentData::default()
    };
    let written = write_segment(dir.path(), 1, &data, 3).unwrap();
    let segment = Segment::open(dir.path(), 1).unwrap();

    let read = segment.delayed_for("m", 0, 1_000).unwrap();
    let seqs: Vec<u64> = read
        .iter()
        .filter_map(|r| r.prediction.as_ref().map(|k| k.seq))
        .collect();
    assert_eq!(seqs, vec![3, 8]);
    assert_eq!(read[0].record.metrics, Metrics::new().with("truth", 3i64));
    assert!(read.iter().all(|r| r.record.uuid.is_nil()));

    let written_uuids: Vec<Uuid> = written.delayed.iter().map(|(uuid, _)| *uuid).collect();
    assert_eq!(written_uuids, vec![Uuid::from_u128(2), Uuid::from_u128(1)]);
}

/// Returns one delayed label for each prediction, tracked in prediction order and arriving up
/// to a day after it.
fn credit_labels(predictions: &[PredictionRecord]) -> Vec<ResolvedDelayed> {
    let mut rng = ChaCha8Rng::seed_from_u64(37);
    let first_seq = predictions.len() as u64 + 1;
    let labels = predictions
        .iter()
        .zip(first_seq..)
        .map(|(prediction, seq)| {
            let lag_ms = rng.random_range(0..24 * HOUR_MS);
            ResolvedDelayed {
                record: DelayedRecord {
                    seq,
                    uuid: prediction.uuid,
                    timestamp_ms: prediction.timestamp_ms + lag_ms,
                    metrics: Metrics::new().with("repaid", rng.random_range(0..2i64)),
                },
                prediction: Some(PredictionKey {
                    model: prediction.model.clone(),
                    timestamp_ms: prediction.timestamp_ms,
                    seq: prediction.seq,
                }),
            }
        });
    labels.collect()
}

#[test]
fn credit_labels_stay_under_5_bytes() {
    let dir = TempDir::new().unwrap();
    let predictions = credit_predictions(100_000);
    let labels = credit_labels(&predictions);
    let data = SegmentData {
        delayed: &labels,
        ..SegmentData::default()
    };
    let written = write_segment(dir.path(), 1, &data, 3).unwrap();
    let per_label = written.bytes as f64 / labels.len() as f64;
    let summary = Segment::open(dir.path(), 1).unwrap().summary();
    for column in &summary.columns {
        eprintln!(
            "{:>20} {:>9} {:>11} {:?} {:.2} B/row",
            column.name,
            column.stored_bytes,
            column.encoding,
            column.modes,
            column.stored_bytes as f64 / labels.len() as f64
        );
    }
    eprintln!("{per_label:.3} bytes per label");
    assert!(per_label < 5.0, "{per_label:.2} bytes per label");
}

#[test]
fn damaged_uuid_fails_in_place_read() {
    let dir = TempDir::new().unwrap();
    let (written, segment) = small_fixture().write(dir.path(), 1);
    let (uuid, row) = written.predictions[0];
    assert_eq!(segment.uuid_at(row).unwrap(), uuid);
    drop(segment);
    let mut bytes = fs::read(&written.path).unwrap();
    let at = bytes
        .windows(16)
        .position(|w| w == uuid.as_bytes())
        .unwrap();
    bytes[at + 3] ^= 0x10;
    fs::write(&written.path, &bytes).unwrap();

    let segment = Segment::open(dir.path(), 1).unwrap();
    let error = segment.uuid_at(row).unwrap_err();
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
    assert!(error.to_string().contains("uuid"), "{error}");
}
