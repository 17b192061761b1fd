//! Measures the peak resident memory of an ingest. The program tracks predictions with 4 f64
//! metrics in batches of 10,000 into a new store with default options, closes it, and prints
//! `ru_maxrss`.
//!
//! ```sh
//! cargo run --release --example peak_memory -- columns 2000000
//! cargo run --release --example peak_memory -- rows 2000000
//! ```
//!
//! `columns` tracks each batch through `track_metrics_columns`, `rows` through
//! `track_metrics_batch_owned`. The store is created in a temporary directory under
//! `MM_BENCH_DIR`, or the system's temporary directory, and removed at the end.

use std::time::Instant;

use modelmetrics::{MetricColumn, Metrics, NewPrediction, NewPredictionColumns, Store, Uuid};

const BATCH_LEN: u64 = 10_000;
const MODEL: &str = "m";
const NAMES: [&str; 4] = ["score", "amount", "ratio", "tenure"];

/// Returns the metric values of prediction `i`: a score, an amount, a ratio and a tenure.
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

fn timestamp(i: u64) -> i64 {
    1_704_067_200_000 + i as i64 * 600
}

fn rows(ids: std::ops::Range<u64>) -> Vec<NewPrediction> {
    ids.map(|i| NewPrediction {
        model: MODEL.to_owned(),
        uuid: uuid(i),
        timestamp_ms: timestamp(i),
        metrics: NAMES.into_iter().zip(values(i)).collect::<Metrics>(),
    })
    .collect()
}

fn columns(ids: std::ops::Range<u64>) -> NewPredictionColumns {
    let metrics = NAMES.iter().enumerate().map(|(m, name)| {
        let column = ids.clone().map(|i| values(i)[m]).collect();
        ((*name).to_owned(), MetricColumn::F64(column))
    });
    NewPredictionColumns {
        model: MODEL.to_owned(),
        metrics: metrics.collect(),
        uuids: ids.clone().map(uuid).collect(),
        timestamps_ms: ids.map(timestamp).collect(),
    }
}

/// Returns the peak resident set size of this process in kB, as `getrusage` reports it.
fn max_rss_kb() -> i64 {
    // SAFETY: `getrusage` writes only into the struct it is given, which lives on this stack.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above, and RUSAGE_SELF is a valid target.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if status == 0 { usage.ru_maxrss } else { -1 }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "columns".to_owned());
    let predictions: u64 = match args.next() {
        Some(text) => text.parse()?,
        None => 2_000_000,
    };
    if mode != "rows" && mode != "columns" {
        return Err(format!("unknown mode {mode:?}: expected rows or columns").into());
    }
    let parent = std::env::var_os("MM_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(parent)?;
    let store = Store::open(dir.path())?;
    let started = Instant::now();
    let mut first = 0;
    while first < predictions {
        let ids = first..predictions.min(first + BATCH_LEN);
        first = ids.end;
        match mode.as_str() {
            "rows" => store.track_metrics_batch_owned(rows(ids))?,
            _ => store.track_metrics_columns(columns(ids))?,
        }
    }
    store.close()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{mode}: {predictions} predictions in {seconds:.2} s, peak RSS {} kB",
        max_rss_kb()
    );
    Ok(())
}
