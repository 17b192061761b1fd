//! Ingest calls of the store: a batch of 10,000 predictions with 4 f64 metrics, as W1 of the
//! SQLite comparison tracks them, through `track_metrics_batch_owned` (rows) and through
//! `track_metrics_columns` (columns).
//!
//! Each iteration tracks new UUIDs into one store with default options, so the head fills and
//! the background thread flushes as it does in W1. Building the batch is left out of the time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use modelmetrics::{MetricColumn, Metrics, NewPrediction, NewPredictionColumns, Store, Uuid};

const BATCH_LEN: usize = 10_000;
const MODEL: &str = "car-loans";
const NAMES: [&str; 4] = ["score", "amount", "ratio", "tenure"];

/// Returns the values of row `i`: a score, an amount, a ratio and a tenure in days.
fn values(i: u64) -> [f64; 4] {
    let x = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64 / (1u64 << 53) as f64;
    [
        (x * 1000.0).round() / 1000.0,
        (x * 50_000.0).round() / 100.0,
        x,
        (x * 365.0).floor(),
    ]
}

fn uuid(i: u64) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | u128::from(i))
}

fn rows(first: u64) -> Vec<NewPrediction> {
    (first..first + BATCH_LEN as u64)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(i),
            timestamp_ms: i as i64,
            metrics: NAMES.into_iter().zip(values(i)).collect::<Metrics>(),
        })
        .collect()
}

fn columns(first: u64) -> NewPredictionColumns {
    let ids = first..first + BATCH_LEN as u64;
    let metrics = NAMES
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let column = ids.clone().map(|i| values(i)[m]).collect();
            ((*name).to_owned(), MetricColumn::F64(column))
        })
        .collect();
    NewPredictionColumns {
        model: MODEL.to_owned(),
        uuids: ids.clone().map(uuid).collect(),
        timestamps_ms: ids.map(|i| i as i64).collect(),
        metrics,
    }
}

fn bench_ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = Store::open(dir.path()).expect("open the store");
    let next = AtomicU64::new(0);
    let first = || next.fetch_add(BATCH_LEN as u64, Ordering::Relaxed);

    let mut group = c.benchmark_group("ingest_10000_predictions");
    group.throughput(Throughput::Elements(BATCH_LEN as u64));
    // Each iteration adds 10,000 predictions to the store: short runs keep it within a few
    // hundred MB of disk.
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("rows", |b| {
        b.iter_batched(
            || rows(first()),
            |batch| store.track_metrics_batch_owned(batch).expect("track rows"),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("columns", |b| {
        b.iter_batched(
            || columns(first()),
            |batch| store.track_metrics_columns(batch).expect("track columns"),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    store.close().expect("close the store");
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
