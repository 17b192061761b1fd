//! Windowed reads through the group index against whole-block decoding, in the current format
//! and in version 2, which has no group index.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use tempfile::TempDir;
use uuid::Uuid;

use super::footer::Footer;
use super::group_index::GROUP_ROWS;
use super::layout::FORMAT_VERSION;
use super::trailer::Trailer;
use super::*;
use crate::columns::Column;
use crate::record::{DelayedRecord, PredictionKey, PredictionRecord, ResolvedDelayed};
use crate::value::{Metrics, Value};

const BASE_MS: i64 = 1_700_000_000_000;

/// Rewrites segment `id` in `dir` in format version 2: the same chunks, a footer without group
/// indexes and a trailer of version 2.
fn rewrite_as_version_2(dir: &Path, id: u64) {
    let path = dir.join(segment_file_name(id));
    let bytes = fs::read(&path).unwrap();
    let trailer = Trailer::decode(&path, &bytes).unwrap();
    let start = trailer.footer_offset as usize;
    let footer_bytes = &bytes[start..start + trailer.footer_len as usize];
    let (version, footer) = Footer::decode(&path, footer_bytes, trailer.footer_offset).unwrap();
    assert_eq!(version, FORMAT_VERSION);
    let mut old = bytes[..start].to_vec();
    let mut footer_v2 = Vec::new();
    footer.encode(2, &mut footer_v2);
    old.extend_from_slice(&footer_v2);
    let trailer_v2 = Trailer {
        footer_len: footer_v2.len() as u32,
        footer_crc: crc32fast::hash(&footer_v2),
        version: 2,
        ..trailer
    };
    trailer_v2.encode(&mut old);
    fs::write(&path, old).unwrap();
}

/// Returns predictions of model `m` at `BASE_MS` plus the running sum of `gaps`, one per gap,
/// with a score, and a label for every third prediction tracked in reverse order.
fn rows_with_labels(gaps: &[i64]) -> (Vec<PredictionRecord>, Vec<ResolvedDelayed>) {
    let mut predictions = Vec::new();
    let mut timestamp_ms = BASE_MS;
    for (row, gap) in gaps.iter().enumerate() {
        timestamp_ms += gap;
        let mut metrics = Metrics::new();
        metrics.push("score", (row % 97) as f64 / 100.0);
        predictions.push(PredictionRecord {
            seq: 10 + 2 * row as u64,
            model: "m".to_owned(),
            uuid: Uuid::from_u128(row as u128 + 1),
            timestamp_ms,
            metrics,
        });
    }
    let labelled = predictions.iter().step_by(3).rev();
    let delayed = labelled
        .enumerate()
        .map(|(position, prediction)| {
            let mut metrics = Metrics::new();
            metrics.push("label", (prediction.seq % 2) as i64);
            ResolvedDelayed {
                record: DelayedRecord {
                    seq: 1_000_000 + position as u64,
                    uuid: prediction.uuid,
                    timestamp_ms: prediction.timestamp_ms + 3_600_000 + position as i64,
                    metrics,
                },
                prediction: Some(PredictionKey {
                    model: "m".to_owned(),
                    timestamp_ms: prediction.timestamp_ms,
                    seq: prediction.seq,
                }),
            }
        })
        .collect();
    (predictions, delayed)
}

/// Returns window edges at and around every group boundary of every block: the timestamps of
/// the rows two before to two after each boundary, each also plus and minus 1 ms.
fn edges_around_groups(timestamps: &[i64]) -> Vec<i64> {
    let mut edges = vec![i64::MIN, i64::MAX];
    for boundary in (0..=timestamps.len()).step_by(GROUP_ROWS) {
        let near = boundary.saturating_sub(2)..(boundary + 3).min(timestamps.len());
        for &t in &timestamps[near] {
            edges.extend([t - 1, t, t + 1]);
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// Checks every window whose edges come from `edges` against the whole-block decode of
/// `segment.records()`.
fn check_windows(segment: &Segment, edges: &[i64]) {
    let records = segment.records().unwrap();
    for &start in edges {
        for &end in edges.iter().filter(|end| **end > start) {
            let in_window = |t: i64| start <= t && t < end;
            let expected: Vec<&PredictionRecord> = records
                .predictions
                .iter()
                .filter(|p| in_window(p.timestamp_ms))
                .collect();
            let mut columns = PredictionColumns::default();
            segment
                .prediction_columns("m", (start, end), &["score"], &mut columns)
                .unwrap();
            let timestamps: Vec<i64> = expected.iter().map(|p| p.timestamp_ms).collect();
            let seqs: Vec<u64> = expected.iter().map(|p| p.seq).collect();
            let uuids: Vec<Uuid> = expected.iter().map(|p| p.uuid).collect();
            let scores: Vec<Option<Value>> = expected
                .iter()
                .map(|p| p.metrics.get("score").cloned())
                .collect();
            assert_eq!(columns.timestamps, timestamps, "window {start}..{end}");
            assert_eq!(columns.seqs, seqs, "window {start}..{end}");
            assert_eq!(columns.uuids, uuids, "window {start}..{end}");
            assert_eq!(
                columns.values,
                [Column::from(scores)],
                "window {start}..{end}"
            );

            let scanned: Vec<PredictionRecord> = segment
                .scan_predictions("m", start, end)
                .flat_map(Result::unwrap)
                .collect();
            let expected_records: Vec<PredictionRecord> = expected.into_iter().cloned().collect();
            assert_eq!(scanned, expected_records, "window {start}..{end}");

            check_delayed_window(segment, &records.delayed, start, end);
        }
    }
}

fn check_delayed_window(segment: &Segment, delayed: &[ResolvedDelayed], start: i64, end: i64) {
    let expected: Vec<ResolvedDelayed> = delayed
        .iter()
        .filter(|d| {
            let t = d.prediction.as_ref().map(|key| key.timestamp_ms);
            t.is_some_and(|t| start <= t && t < end)
        })
        .cloned()
        .collect();
    let read = segment.delayed_for("m", start, end).unwrap();
    assert_eq!(read, expected, "delayed window {start}..{end}");

    let mut columns = DelayedColumns::default();
    segment
        .delayed_columns("m", (start, end), &["label"], &mut columns)
        .unwrap();
    let keys = expected.iter().filter_map(|d| d.prediction.as_ref());
    let timestamps: Vec<i64> = keys.clone().map(|key| key.timestamp_ms).collect();
    let seqs: Vec<u64> = keys.map(|key| key.seq).collect();
    let labels: Vec<Option<Value>> = expected
        .iter()
        .map(|d| d.record.metrics.get("label").cloned())
        .collect();
    assert_eq!(columns.prediction_timestamps, timestamps);
    assert_eq!(columns.prediction_seqs, seqs);
    assert_eq!(columns.values, [Column::from(labels)]);
}

/// Writes the rows of `gaps` as segment 1, checks windows around every group boundary, then
/// rewrites it in version 2 and checks the same windows again.
fn check_both_versions(gaps: &[i64]) {
    let dir = TempDir::new().unwrap();
    let (predictions, delayed) = rows_with_labels(gaps);
    let data = SegmentData {
        predictions: &predictions,
        delayed: &delayed,
        aggregates: &[],
    };
    write_segment(dir.path(), 1, &data, 3).unwrap();
    let timestamps: Vec<i64> = predictions.iter().map(|p| p.timestamp_ms).collect();
    let edges = edges_around_groups(&timestamps);

    let segment = Segment::open(dir.path(), 1).unwrap();
    segment.verify().unwrap();
    check_windows(&segment, &edges);
    let records = segment.records().unwrap();
    drop(segment);

    rewrite_as_version_2(dir.path(), 1);
    let old = Segment::open(dir.path(), 1).unwrap();
    old.verify().unwrap();
    assert_eq!(old.records().unwrap(), records);
    check_windows(&old, &edges);
}

#[test]
fn one_row_groups_match_full_decode() {
    // 257 and 513 rows leave a last group of one row; 4,097 a second block of one row.
    for rows in [1, 255, 256, 257, 513, 4_097] {
        let gaps: Vec<i64> = (0..rows).map(|row| 1 + (row % 5)).collect();
        check_both_versions(&gaps);
    }
}

#[test]
fn duplicates_across_group_boundary_match_full_decode() {
    // Runs of 7 equal timestamps, so runs cross every group boundary of 256 rows.
    let gaps: Vec<i64> = (0..1_200).map(|row| i64::from(row % 7 == 0) * 40).collect();
    check_both_versions(&gaps);
    // One timestamp for a whole block.
    check_both_versions(&[0; 600]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn windows_match_full_decode(
        small in proptest::collection::vec(0i64..3, 1..1_400),
        wide in any::<bool>(),
    ) {
        // Small gaps repeat timestamps often; wide ones make the codec pick other modes.
        let gaps: Vec<i64> = small
            .iter()
            .enumerate()
            .map(|(row, gap)| if wide { gap * 7_919 * (row as i64 % 13) } else { *gap })
            .collect();
        check_both_versions(&gaps);
    }
}
