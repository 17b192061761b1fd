//! How the store scales from 1,000,000 to 10,000,000 predictions: ingest rate and lookup
//! latency per million, then, after close, the time to reopen and the heap the open store holds.
//!
//! ```sh
//! cargo bench --bench scale                                # 10,000,000 predictions
//! MM_SCALE_PREDICTIONS=2000000 cargo bench --bench scale   # fewer
//! ```
//!
//! The rows are those of the vs_sqlite workload (4 f64 metrics, random UUID v4), spaced 60 ms
//! apart so that 10,000,000 predictions span about 7 days. A global allocator counts the live
//! heap bytes. The heap figure is their growth across `Store::open`: what the open store keeps.

#[path = "vs_sqlite/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use modelmetrics::{Metrics, NewPrediction, Store, Uuid};
use workload::{BATCH_LEN, MODEL, RowGenerator, START_MS};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's layout; the counter
// only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MILLION: usize = 1_000_000;
/// Spacing of the timestamps, in ms.
const SPACING_MS: f64 = 60.0;
/// Lookups of random tracked UUIDs after each million.
const LOOKUPS: usize = 2_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("scale: bench");
        return;
    }
    let total: usize = std::env::var("MM_SCALE_PREDICTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10 * MILLION);
    let parent = std::env::var_os("MM_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &parent {
        Some(p) => tempfile::tempdir_in(p),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let store = Store::open(dir.path()).expect("open");
    let mut rows = RowGenerator::new(workload::SEED);
    let mut uuids: Vec<Uuid> = Vec::with_capacity(total);
    println!("| predictions | ingest/s of this million | lookup p50 µs | lookup p99 µs |");
    println!("|---:|---:|---:|---:|");
    let mut first_rate = None;
    let mut first_p99 = None;
    for million in 0..total.div_ceil(MILLION) {
        let count = MILLION.min(total - million * MILLION);
        let start = START_MS + (million * MILLION) as i64 * SPACING_MS as i64;
        let batch_rows = rows.rows(count, start, SPACING_MS);
        let batches: Vec<Vec<NewPrediction>> = batch_rows
            .chunks(BATCH_LEN)
            .map(|chunk| chunk.iter().map(new_prediction).collect())
            .collect();
        uuids.extend(batch_rows.iter().map(|r| r.uuid));
        let started = Instant::now();
        for batch in &batches {
            store.track_metrics_batch(batch).expect("track");
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        let (p50, p99) = lookup_latency(&store, &uuids, million as u64);
        let done = million * MILLION + count;
        println!("| {done} | {rate:.0} | {p50:.2} | {p99:.2} |");
        first_rate.get_or_insert(rate);
        first_p99.get_or_insert(p99);
        if done == total {
            let rate_growth = first_rate.map_or(0.0, |r| r / rate);
            let p99_growth = first_p99.map_or(0.0, |p| p99 / p);
            println!(
                "\ncost per prediction, last million / first: ingest {rate_growth:.2}×, lookup p99 {p99_growth:.2}×"
            );
        }
    }
    let started = Instant::now();
    store.close().expect("close");
    drop(store);
    println!("close (flushes the head): {:?}", started.elapsed());
    let bytes = dir_bytes(dir.path());
    println!(
        "store size: {bytes} bytes, {:.1} bytes/prediction",
        bytes as f64 / total as f64
    );

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let store = Store::open(dir.path()).expect("reopen");
    let open_time = started.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "reopen: {open_time:?}, heap held by the open store: {:.1} MiB",
        heap as f64 / (1 << 20) as f64
    );
    let (p50, p99) = lookup_latency(&store, &uuids, 99);
    println!("lookup after reopen: p50 {p50:.2} µs, p99 {p99:.2} µs");
}

fn new_prediction(row: &workload::Row) -> NewPrediction {
    NewPrediction {
        model: MODEL.to_owned(),
        uuid: row.uuid,
        timestamp_ms: row.timestamp_ms,
        metrics: Metrics::new()
            .with("score", row.score)
            .with("amount", row.amount)
            .with("ratio", row.ratio)
            .with("tenure", row.tenure),
    }
}

/// Looks up `LOOKUPS` tracked UUIDs picked by a SplitMix64 sequence; returns p50 and p99 in µs.
fn lookup_latency(store: &Store, uuids: &[Uuid], seed: u64) -> (f64, f64) {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut times: Vec<Duration> = (0..LOOKUPS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uuid = uuids[(state % uuids.len() as u64) as usize];
            let started = Instant::now();
            let found = store.lookup(uuid).expect("lookup");
            let elapsed = started.elapsed();
            assert!(found.is_some(), "tracked prediction {uuid} not found");
            elapsed
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}
