//! Writes the input as segment file 1 and opens it with `Segment::open`, then runs every read
//! on it: `verify`, `summary`, the scans of each model, single rows, and orphans. Then again
//! with the footer CRC that the trailer records repaired.
//!
//! Every read must return `Ok` or `Err`: a panic is a crash of the target. Beyond that, the
//! target checks that rows lie in the requested window and model, that rows past the end are
//! rejected, and that the reads of a segment which `verify` accepts succeed.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use modelmetrics::Result;
use modelmetrics::segment::{Segment, segment_file_name};
use modelmetrics_fuzz::{checksums, scratch};

/// Id of the segment, in its file name.
const SEGMENT_ID: u64 = 1;

/// Returns the value of a read, and panics when a segment that passed `verify` fails it.
fn checked<T>(verified: bool, read: &str, result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) if verified => panic!("{read} failed on a segment that verify accepts: {error}"),
        Err(_) => None,
    }
}

/// Rows 0, the middle row and the last row of a table of `count` rows.
fn probe_rows(count: u32) -> Vec<u32> {
    let mut rows = vec![0, count / 2, count.saturating_sub(1)];
    rows.retain(|&row| row < count);
    rows.dedup();
    rows
}

/// Asserts that a read of row `count`, one past the last, fails.
fn check_past_end<T: Debug>(read: &str, result: Result<T>) {
    assert!(
        result.is_err(),
        "{read} of the row past the end returned {result:?}"
    );
}

/// Reads the predictions of `model` in `[start_ms, end_ms)` and checks their model and time.
fn scan_window(segment: &Segment, verified: bool, model: &str, start_ms: i64, end_ms: i64) {
    for block in segment.scan_predictions(model, start_ms, end_ms) {
        let Some(rows) = checked(verified, "scan_predictions", block) else {
            break;
        };
        assert!(!rows.is_empty(), "scan_predictions returned an empty block");
        for row in rows {
            assert_eq!(row.model, model, "scan_predictions returned another model");
            let in_window = (start_ms..end_ms).contains(&row.timestamp_ms);
            assert!(
                in_window,
                "scan_predictions returned a row outside its window"
            );
        }
    }
}

/// Scans the predictions of `model` over all time and over the first half of its range.
fn read_predictions(segment: &Segment, verified: bool, model: &str) {
    scan_window(segment, verified, model, i64::MIN, i64::MAX);
    if let Some((min, max)) = segment.prediction_range(model) {
        let middle = (i128::from(min) + i128::from(max)) / 2;
        let middle = i64::try_from(middle).unwrap_or(max);
        scan_window(segment, verified, model, min, middle);
    }
}

/// Reads everything the segment stores for `model`.
fn read_model(segment: &Segment, verified: bool, model: &str) {
    read_predictions(segment, verified, model);
    let delayed = segment.delayed_for(model, i64::MIN, i64::MAX);
    if let Some(delayed) = checked(verified, "delayed_for", delayed) {
        let models = delayed.iter().filter_map(|d| d.prediction.as_ref());
        assert!(models.map(|key| key.model.as_str()).all(|m| m == model));
    }
    let aggregates = segment.aggregates(model, i64::MIN, i64::MAX);
    if let Some(aggregates) = checked(verified, "aggregates", aggregates) {
        assert!(aggregates.iter().all(|a| a.model == model));
    }
}

/// Reads single prediction rows by row number, and checks that both reads of a row agree.
fn read_prediction_rows(segment: &Segment, verified: bool) {
    let count = segment.prediction_count();
    let rows = probe_rows(count);
    for &row in &rows {
        let record = checked(verified, "prediction_at", segment.prediction_at(row));
        let uuid = checked(verified, "uuid_at", segment.uuid_at(row));
        if let (Some(record), Some(uuid)) = (record, uuid) {
            assert_eq!(record.uuid, uuid, "prediction_at and uuid_at disagree");
        }
    }
    checked(verified, "prediction_keys", segment.prediction_keys(&rows));
    check_past_end("prediction_at", segment.prediction_at(count));
    check_past_end("uuid_at", segment.uuid_at(count));
}

/// Reads single delayed rows by row number.
fn read_delayed_rows(segment: &Segment, verified: bool) {
    let count = segment.delayed_count();
    for row in probe_rows(count) {
        checked(verified, "delayed_at", segment.delayed_at(row));
    }
    check_past_end("delayed_at", segment.delayed_at(count));
}

/// Runs every read of `segment`.
fn read_all(segment: &Segment) {
    let verified = segment.verify().is_ok();
    let summary = segment.summary();
    assert_eq!(summary.models.len(), segment.models().count());
    for model in segment.models() {
        read_model(segment, verified, model);
    }
    read_model(segment, verified, "");
    read_prediction_rows(segment, verified);
    read_delayed_rows(segment, verified);
    checked(verified, "orphans", segment.orphans());
}

fn read(bytes: &[u8]) {
    let dir = scratch::write_file(&segment_file_name(SEGMENT_ID), bytes);
    if let Ok(segment) = Segment::open(dir, SEGMENT_ID) {
        read_all(&segment);
    }
}

fuzz_target!(|data: &[u8]| {
    read(data);
    if let Some(repaired) = checksums::segment(data) {
        read(&repaired);
    }
});
