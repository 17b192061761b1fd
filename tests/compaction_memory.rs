//! The heap a compaction step takes is bounded by `target_segment_bytes`, not by the number
//! of predictions it rewrites. A merge of many small segments, a roll-up and an expiry of old
//! predictions each peak at about the same heap for 200,000 and for 800,000 predictions.
//!
//! Run with `--nocapture` to print the peaks.

use std::sync::atomic::Ordering;
use std::time::Duration;

use modelmetrics::{
    Compaction, MetricColumn, NewDelayedColumns, NewPredictionColumns, Options, Retention,
    RollupTier, Store, Uuid,
};

#[path = "support/peak_heap.rs"]
mod peak_heap;

use peak_heap::{LIVE, PEAK};

const DAY: i64 = 86_400_000;
const SMALL: u64 = 200_000;
const LARGE: u64 = 800_000;
/// Predictions per flushed segment: each segment is far under half the target size.
const PER_SEGMENT: u64 = 20_000;
/// Every fourth prediction gets a label, tracked one segment later.
const LABEL_EVERY: u64 = 4;
/// Days of data time that the predictions span, whatever their number, so that the rollups
/// of a roll-up are as many for both sizes.
const DAYS: u64 = 10;
const TARGET_BYTES: u64 = 1 << 20;

/// Held while a test measures, because the counters are global and tests run in parallel.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn uuid(i: u64) -> Uuid {
    Uuid::from_u128(0xc0de_0000_0000_4000_8000_0000_0000_0000 | u128::from(i))
}

/// Returns the timestamp of prediction `i` of `count`, spread evenly over `DAYS`.
fn timestamp(i: u64, count: u64) -> i64 {
    (u128::from(i) * u128::from(DAYS) * DAY as u128 / u128::from(count)) as i64
}

fn predictions(ids: std::ops::Range<u64>, count: u64) -> NewPredictionColumns {
    // Few distinct values, so that the sketches of the rollups are as large for both sizes.
    let scores = ids.clone().map(|i| (i % 2) as f64 / 2.0 + 0.25).collect();
    let amounts = ids.clone().map(|i| (i % 3) as f64 * 12.5).collect();
    NewPredictionColumns {
        model: "m".to_owned(),
        uuids: ids.clone().map(uuid).collect(),
        timestamps_ms: ids.map(|i| timestamp(i, count)).collect(),
        metrics: vec![
            ("score".to_owned(), MetricColumn::F64(scores)),
            ("amount".to_owned(), MetricColumn::F64(amounts)),
        ],
    }
}

fn labels(ids: std::ops::Range<u64>, count: u64) -> NewDelayedColumns {
    let ids: Vec<u64> = ids.filter(|i| i % LABEL_EVERY == 0).collect();
    NewDelayedColumns {
        uuids: ids.iter().map(|&i| uuid(i)).collect(),
        timestamps_ms: ids.iter().map(|&i| timestamp(i, count) + 60_000).collect(),
        metrics: vec![(
            "label".to_owned(),
            MetricColumn::Bool(ids.iter().map(|i| i % 3 == 0).collect()),
        )],
    }
}

fn options(retention: Retention) -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: TARGET_BYTES,
        partition: Duration::from_secs(86_400),
        retention,
        ..Compaction::default()
    })
}

/// Fills a store with `count` predictions in segments of `PER_SEGMENT`, the labels of each
/// segment's predictions in the next, and one prediction 100 days after the last. Then runs
/// `compact` and returns the peak heap growth during it, in bytes.
fn peak_of_compaction(count: u64, retention: Retention) -> usize {
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(retention)).unwrap();
    let mut first = 0;
    while first < count {
        let ids = first..count.min(first + PER_SEGMENT);
        store
            .track_metrics_columns(predictions(ids.clone(), count))
            .unwrap();
        if first > 0 {
            let previous = first - PER_SEGMENT..first;
            store
                .track_delayed_metrics_columns(labels(previous, count))
                .unwrap();
        }
        store.flush().unwrap();
        first = ids.end;
    }
    let last = count.saturating_sub(PER_SEGMENT)..count;
    store
        .track_delayed_metrics_columns(labels(last, count))
        .unwrap();
    let newest = count * (DAYS + 100) / DAYS;
    store
        .track_metrics_columns(predictions(newest..newest + 1, count))
        .unwrap();
    store.flush().unwrap();

    let segment_bytes = segment_bytes(dir.path());
    let baseline = LIVE.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let steps = store.compact().unwrap();
    let peak = PEAK.load(Ordering::SeqCst) - baseline;
    assert!(steps > 0, "compaction of {count} predictions ran no step");
    store.close().unwrap();
    eprintln!(
        "{count} predictions in {:.1} MB of segments: peak heap {:.1} MB",
        segment_bytes as f64 / 1e6,
        peak as f64 / 1e6
    );
    usize::try_from(peak).unwrap()
}

/// Returns the bytes of the segment files in `dir`.
fn segment_bytes(dir: &std::path::Path) -> u64 {
    let entries = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap());
    let segments = entries.filter(|e| e.file_name().to_string_lossy().starts_with("seg-"));
    segments.map(|e| e.metadata().unwrap().len()).sum()
}

/// Measures both sizes and checks that the larger store's peak stays within `1.5` times the
/// smaller one's: a step that loads its whole input would take 4 times as much.
fn check_bounded(kind: &str, retention: impl Fn() -> Retention) {
    let small = peak_of_compaction(SMALL, retention());
    let large = peak_of_compaction(LARGE, retention());
    eprintln!(
        "{kind}: peak heap {:.1} MB for {SMALL} predictions, {:.1} MB for {LARGE}",
        small as f64 / 1e6,
        large as f64 / 1e6
    );
    assert!(
        large * 2 <= small * 3,
        "{kind}: peak heap of {large} bytes for {LARGE} predictions grew from {small} bytes \
         for {SMALL}"
    );
}

#[test]
fn merge_peak_heap_stays_flat() {
    check_bounded("merge", Retention::default);
}

#[test]
fn roll_up_peak_heap_stays_flat() {
    check_bounded("roll-up", || {
        Retention::keep_raw_for(Duration::from_secs(86_400))
            .then(RollupTier::every(Duration::from_secs(300)))
    });
}

#[test]
fn expiry_peak_heap_stays_flat() {
    check_bounded("expiry", || {
        Retention::default().delete_after(Duration::from_secs(86_400))
    });
}
