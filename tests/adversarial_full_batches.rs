//! Batches of the maximum size, 100,000 records, of each kind, into a store with the smallest
//! head, so that one call takes the head far past its size and flushes it itself. Every record
//! reads back once, and the later items of the delayed batch win. Each check runs with the
//! records in the head, after a flush and after a reopen.

mod support;

use std::time::{Duration, Instant};

use modelmetrics::{Metrics, NewAggregate, NewDelayed, NewPrediction, Options, Store, Value};
use support::{ALL_END, ALL_START, Stage, check_in_stages, uuid};

const MODEL: &str = "bulk";
const BATCH: usize = 100_000;
const T0: i64 = 1_700_000_000_000;
/// Generous bound on each whole check, for a debug build.
const CHECK_LIMIT: Duration = Duration::from_secs(20);

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::ZERO)
}

fn predictions() -> Vec<NewPrediction> {
    (0..BATCH)
        .map(|n| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(n as u128),
            timestamp_ms: T0 + (n as i64 % 1_000) * 60_000 + n as i64 / 1_000,
            metrics: Metrics::new()
                .with("score", n as f64 / BATCH as f64)
                .with("n", n as i64),
        })
        .collect()
}

/// Five delayed records for every fifth prediction in one batch: the last one wins.
fn delayed() -> Vec<NewDelayed> {
    (0..BATCH)
        .map(|i| {
            let target = (i % (BATCH / 5)) * 5;
            let round = i / (BATCH / 5);
            NewDelayed {
                uuid: uuid(target as u128),
                timestamp_ms: T0,
                metrics: Metrics::new().with("label", round as i64),
            }
        })
        .collect()
}

fn aggregates() -> Vec<NewAggregate> {
    (0..BATCH)
        .map(|n| NewAggregate {
            model: MODEL.to_owned(),
            start_ms: n as i64 * 10,
            end_ms: n as i64 * 10 + 20,
            metrics: Metrics::new().with("auc", n as f64),
        })
        .collect()
}

fn check(store: &Store, stage: Stage) {
    let started = Instant::now();
    let mut count = 0;
    let mut last_ts = i64::MIN;
    for row in store.read_metrics(MODEL, ALL_START, ALL_END).unwrap() {
        let row = row.unwrap();
        assert!(row.timestamp_ms >= last_ts, "{stage:?}: order");
        last_ts = row.timestamp_ms;
        let Some(Value::I64(n)) = row.metrics.get("n") else {
            panic!("{stage:?}: {} has no metric n", row.uuid);
        };
        assert_eq!(row.uuid, uuid(*n as u128), "{stage:?}");
        let expected_label = (n % 5 == 0).then_some(Value::I64(4));
        assert_eq!(
            row.delayed.get("label"),
            expected_label.as_ref(),
            "{stage:?}: {n}"
        );
        count += 1;
    }
    assert_eq!(count, BATCH, "{stage:?}: predictions");

    let windows = store
        .read_aggregate_metrics(MODEL, ALL_START, ALL_END)
        .unwrap();
    assert_eq!(windows.len(), BATCH, "{stage:?}: aggregate windows");
    let overlapping = store.read_aggregate_metrics(MODEL, 15, 16).unwrap();
    assert_eq!(overlapping.len(), 2, "{stage:?}: windows over 15");
    assert!(
        store.orphaned_delayed_metrics().unwrap().is_empty(),
        "{stage:?}"
    );

    let elapsed = started.elapsed();
    assert!(
        elapsed < CHECK_LIMIT,
        "{stage:?}: the check took {elapsed:?}"
    );
}

#[test]
fn maximum_batches_of_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    let write = |store: &Store| {
        let started = Instant::now();
        store.track_metrics_batch(&predictions()).unwrap();
        store.track_delayed_metrics_batch(&delayed()).unwrap();
        store.track_aggregate_metrics_batch(&aggregates()).unwrap();
        println!("three batches of {BATCH} in {:?}", started.elapsed());
    };
    check_in_stages(dir.path(), &options(), write, check);
}
