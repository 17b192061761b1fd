//! Writing and scanning a segment of 100,000 predictions with 4 f64 metrics each.
//!
//! Run with `cargo bench --bench segment`. Inputs are seeded, so runs compare like with like.
//! Before the timings, the bench prints the file size per prediction for two shapes of
//! features.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelmetrics::record::PredictionRecord;
use modelmetrics::segment::{Segment, SegmentData, write_segment};
use modelmetrics::{Metrics, Uuid};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;

const ROWS: usize = 100_000;
const ZSTD_LEVEL: i32 = 3;

/// Distribution of the three features of a prediction.
#[derive(Clone, Copy)]
enum Features {
    /// Three unrounded floats, uniform in [0, 1).
    Uniform,
    /// An amount in whole units, a ratio in [0, 1) and a duration in [0, 10) years.
    Credit,
}

/// Predictions of one model with a random UUID, arrivals 300 to 900 ms apart, a score with
/// two decimals and three features.
fn predictions(features: Features) -> Vec<PredictionRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut timestamp_ms = 1_700_000_000_000i64;
    (0..ROWS)
        .map(|row| {
            timestamp_ms += rng.random_range(300..=900);
            let score = (rng.random::<f64>() * 100.0).round() / 100.0;
            let metrics = match features {
                Features::Uniform => Metrics::new()
                    .with("score", score)
                    .with("feature_a", rng.random::<f64>())
                    .with("feature_b", rng.random::<f64>())
                    .with("feature_c", rng.random::<f64>()),
                Features::Credit => Metrics::new()
                    .with("score", score)
                    .with("amount", f64::from(rng.random_range(5_000..80_000u32)))
                    .with("ratio", rng.random::<f64>())
                    .with("tenure", rng.random::<f64>() * 10.0),
            };
            PredictionRecord {
                seq: row as u64 + 1,
                model: "credit".to_owned(),
                uuid: Uuid::from_u128(rng.random()),
                timestamp_ms,
                metrics,
            }
        })
        .collect()
}

fn data(predictions: &[PredictionRecord]) -> SegmentData<'_> {
    SegmentData {
        predictions,
        ..SegmentData::default()
    }
}

fn print_bytes_per_prediction(dir: &TempDir) {
    for (name, features) in [("uniform", Features::Uniform), ("credit", Features::Credit)] {
        let records = predictions(features);
        let written = write_segment(dir.path(), 99, &data(&records), ZSTD_LEVEL).unwrap();
        let per_prediction = written.bytes as f64 / ROWS as f64;
        println!("segment of {ROWS} predictions, {name} features: {per_prediction:.2} bytes each");
    }
}

fn bench_segment(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    print_bytes_per_prediction(&dir);
    let records = predictions(Features::Uniform);

    let mut group = c.benchmark_group("segment_100k_predictions");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("encode", |b| {
        b.iter(|| write_segment(dir.path(), 1, black_box(&data(&records)), ZSTD_LEVEL).unwrap())
    });

    write_segment(dir.path(), 2, &data(&records), ZSTD_LEVEL).unwrap();
    let segment = Segment::open(dir.path(), 2).unwrap();
    group.bench_function("decode_scan", |b| {
        b.iter(|| {
            let mut rows = 0;
            for block in segment.scan_predictions("credit", i64::MIN, i64::MAX) {
                rows += black_box(block.unwrap()).len();
            }
            assert_eq!(rows, ROWS);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_segment);
criterion_main!(benches);
