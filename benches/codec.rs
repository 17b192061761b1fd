//! Encode and decode throughput of the timestamp and float codecs on 4096-value blocks.
//!
//! Four of the float blocks are shaped like the metric columns of W1 in the vs_sqlite bench:
//! a score with 3 decimals, an amount in cents, a full-precision ratio and whole days.
//!
//! Run with `cargo bench --bench codec`. Inputs are seeded, so runs compare like with like.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelmetrics::codec::{floats, timestamps};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BLOCK_LEN: usize = 4096;

/// Increasing millisecond timestamps, 600 ms apart on average with uniform jitter of 300 ms.
fn jittered_timestamps(rng: &mut ChaCha8Rng) -> Vec<i64> {
    let mut t = 1_700_000_000_000i64;
    (0..BLOCK_LEN)
        .map(|_| {
            t += rng.random_range(300..=900);
            t
        })
        .collect()
}

/// Model scores in [0, 1] rounded to two decimals.
fn scores(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..BLOCK_LEN)
        .map(|_| (rng.random::<f64>() * 100.0).round() / 100.0)
        .collect()
}

/// Model scores in [0, 1] rounded to three decimals.
fn fine_scores(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..BLOCK_LEN)
        .map(|_| (rng.random::<f64>() * 1000.0).round() / 1000.0)
        .collect()
}

/// Amounts in cents, from 0.01 to 999.99.
fn amounts(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..BLOCK_LEN)
        .map(|_| f64::from(rng.random_range(1..100_000u32)) / 100.0)
        .collect()
}

/// Whole days in 0..=365.
fn whole_days(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..BLOCK_LEN)
        .map(|_| f64::from(rng.random_range(0..=365u32)))
        .collect()
}

/// Unrounded features, uniform in [0, 1).
fn features(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..BLOCK_LEN).map(|_| rng.random::<f64>()).collect()
}

fn bench_timestamps(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let values = jittered_timestamps(&mut rng);
    let mut encoded = Vec::new();
    timestamps::encode(&values, &mut encoded);

    let mut group = c.benchmark_group("timestamps_jittered_ms");
    group.throughput(Throughput::Elements(BLOCK_LEN as u64));
    group.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            timestamps::encode(black_box(&values), &mut out);
        })
    });
    group.bench_function("decode", |b| {
        let mut out = Vec::with_capacity(BLOCK_LEN);
        b.iter(|| {
            out.clear();
            timestamps::decode(black_box(&encoded), BLOCK_LEN, &mut out).unwrap();
        })
    });
    group.finish();
}

fn bench_floats(c: &mut Criterion, name: &str, values: &[f64]) {
    let mut encoded = Vec::new();
    floats::encode(values, &mut encoded);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            floats::encode(black_box(values), &mut out);
        })
    });
    group.bench_function("decode", |b| {
        let mut out = Vec::with_capacity(values.len());
        b.iter(|| {
            out.clear();
            floats::decode(black_box(&encoded), values.len(), &mut out).unwrap();
        })
    });
    group.finish();
}

fn bench_float_blocks(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    bench_floats(c, "floats_scores_2_decimals", &scores(&mut rng));
    bench_floats(c, "floats_uniform_features", &features(&mut rng));
    bench_floats(c, "floats_scores_3_decimals", &fine_scores(&mut rng));
    bench_floats(c, "floats_amounts_cents", &amounts(&mut rng));
    bench_floats(c, "floats_whole_days", &whole_days(&mut rng));
}

criterion_group!(benches, bench_timestamps, bench_float_blocks);
criterion_main!(benches);
