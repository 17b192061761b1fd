//! Reading a window with the delayed-metric join: one hour and one day of a store of 200,000
//! predictions (4 f64 metrics, one every 3 s) of which a random 20 % have a label, all flushed
//! to segments. Each window is read through `read_metrics` (a `Prediction` per row) and through
//! `read_columns` (the score and the label as columns).
//!
//! Run with `cargo bench --bench read_join`. The vs_sqlite bench compares the same reads with
//! SQLite; this one times them alone, with criterion's statistics.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelmetrics::{Metrics, NewDelayed, NewPrediction, Store, Uuid};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;

const PREDICTIONS: usize = 200_000;
const SPACING_MS: i64 = 3_000;
const START_MS: i64 = 1_704_067_200_000;
const HOUR_MS: i64 = 3_600_000;
const BATCH: usize = 10_000;

/// Writes the store and returns it with its directory.
fn build_store() -> (TempDir, Store) {
    let dir = TempDir::new().expect("temporary directory");
    let store = Store::open(dir.path()).expect("open store");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut labels = Vec::new();
    let predictions: Vec<NewPrediction> = (0..PREDICTIONS)
        .map(|i| {
            let uuid = Uuid::from_u64_pair(rng.random(), rng.random());
            let score = (rng.random::<f64>() * 1000.0).round() / 1000.0;
            let timestamp_ms = START_MS + i as i64 * SPACING_MS;
            if rng.random::<f64>() < 0.2 {
                labels.push(NewDelayed {
                    uuid,
                    timestamp_ms: timestamp_ms + HOUR_MS,
                    metrics: Metrics::new().with("label", rng.random::<f64>() < score),
                });
            }
            NewPrediction {
                model: "m".to_owned(),
                uuid,
                timestamp_ms,
                metrics: Metrics::new()
                    .with("score", score)
                    .with("amount", (rng.random::<f64>() * 10_000.0).round() / 100.0)
                    .with("ratio", rng.random::<f64>())
                    .with("tenure", f64::from(rng.random_range(0..=365u32))),
            }
        })
        .collect();
    for batch in predictions.chunks(BATCH) {
        store.track_metrics_batch(batch).expect("track predictions");
    }
    for batch in labels.chunks(BATCH) {
        store
            .track_delayed_metrics_batch(batch)
            .expect("track labels");
    }
    store.flush().expect("flush");
    (dir, store)
}

fn reads(c: &mut Criterion) {
    let (_dir, store) = build_store();
    let middle = START_MS + (PREDICTIONS as i64 / 2) * SPACING_MS;
    for (name, length) in [("hour", HOUR_MS), ("day", 24 * HOUR_MS)] {
        let window = (middle, middle + length);
        let rows = store
            .read_metrics("m", window.0, window.1)
            .expect("read")
            .count();
        let mut group = c.benchmark_group(format!("read_join/{name}"));
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function("read_metrics", |b| {
            b.iter(|| {
                for row in store.read_metrics("m", window.0, window.1).expect("read") {
                    black_box(row.expect("row"));
                }
            })
        });
        group.bench_function("read_columns", |b| {
            b.iter(|| {
                let columns = store
                    .read_columns("m", window, &["score"], &["label"])
                    .expect("read columns");
                black_box(columns)
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = reads
}
criterion_main!(benches);
