//! Throughput of `track_metrics` from 1, 2, 4 and 16 writer threads, and the latency of one
//! call under that load, in the default mode and in `Durability::Sync`. Prints a markdown table.
//!
//! ```sh
//! cargo bench --bench threads
//! ```
//!
//! Each case opens a new store with default options in a temporary directory (set
//! `MM_BENCH_DIR` to choose where), starts the threads, lets them run for a warm-up, then
//! measures for `MM_BENCH_SECONDS` seconds (default 2). Every thread tracks one prediction per
//! call with 4 inline metrics, as fast as it can, and times each call. The latency columns are
//! percentiles over the calls of all threads.
//!
//! `MM_BENCH_THREADS` picks the thread counts, as a comma-separated list (default `1,2,4,16`),
//! and `MM_BENCH_MODE` one mode, `default` or `durable`, to profile a single case:
//!
//! ```sh
//! MM_BENCH_MODE=durable MM_BENCH_THREADS=16 cargo bench --bench threads
//! ```

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Durability, Metrics, Options, Store, Uuid};

const THREAD_COUNTS: [usize; 4] = [1, 2, 4, 16];
const WARM_UP: Duration = Duration::from_millis(300);
const DEFAULT_SECONDS: f64 = 2.0;
const T0: i64 = 1_700_000_000_000;
/// Overwrites timed by `fdatasync_floor_us`.
const SYNC_SAMPLES: usize = 200;

/// One row of the table.
struct Measured {
    mode: &'static str,
    threads: usize,
    calls_per_second: f64,
    /// Latency of each measured call, in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Measured {
    /// Returns the latency at quantile `q` (0 to 1) in microseconds: the smallest latency that
    /// at least `q` of the calls did not exceed.
    fn quantile_us(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.latencies
            .get(rank - 1)
            .map_or(f64::NAN, |&ns| ns as f64 / 1_000.0)
    }
}

fn metrics() -> Metrics {
    Metrics::new()
        .with("approved", true)
        .with("latency_ms", 12_i64)
        .with("score", 0.8125)
        .with("segment", "retail")
}

/// Tracks predictions until `stop`, timing the calls made while `measuring` is set. Returns
/// their latencies in nanoseconds.
fn track_until_stopped(
    store: &Store,
    thread: usize,
    start: &Barrier,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Vec<u64> {
    let metrics = metrics();
    let mut latencies = Vec::with_capacity(1 << 20);
    start.wait();
    let mut call: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let uuid = Uuid::from_u128((thread as u128) << 64 | u128::from(call));
        let timestamp = T0 + call as i64;
        let started = Instant::now();
        store
            .track_metrics("bench", uuid, timestamp, &metrics)
            .expect("track a prediction");
        let elapsed = started.elapsed().as_nanos() as u64;
        if measuring.load(Ordering::Relaxed) {
            latencies.push(elapsed);
        }
        call += 1;
    }
    latencies
}

fn measure(mode: &'static str, durability: Durability, threads: usize, run: Duration) -> Measured {
    let dir = bench_dir();
    let options = Options::default().durability(durability);
    let store = Arc::new(Store::open_with(dir.path(), options).expect("open the store"));
    let start = Arc::new(Barrier::new(threads + 1));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (measuring, stop) = (Arc::clone(&measuring), Arc::clone(&stop));
            thread::spawn(move || track_until_stopped(&store, thread, &start, &measuring, &stop))
        })
        .collect();

    start.wait();
    thread::sleep(WARM_UP);
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    thread::sleep(run);
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);

    let mut latencies: Vec<u64> = handles
        .into_iter()
        .flat_map(|handle| handle.join().expect("join a writer thread"))
        .collect();
    store.close().expect("close the store");
    latencies.sort_unstable();
    Measured {
        mode,
        threads,
        calls_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies,
    }
}

/// Returns the median and 99th percentile, in microseconds, of `SYNC_SAMPLES` overwrites of
/// 100 bytes followed by `fdatasync`, the floor of a durable call on this disk.
fn fdatasync_floor_us() -> (f64, f64) {
    let dir = bench_dir();
    let file = std::fs::File::create(dir.path().join("sync-probe")).expect("create a probe file");
    let mut samples: Vec<u64> = (0..SYNC_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            file.write_all_at(&[7; 100], 0)
                .expect("write the probe file");
            file.sync_data().expect("sync the probe file");
            started.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    let probe = Measured {
        mode: "",
        threads: 1,
        calls_per_second: 0.0,
        latencies: samples,
    };
    (probe.quantile_us(0.5), probe.quantile_us(0.99))
}

/// Creates a temporary directory in `MM_BENCH_DIR`, or in the system's when it is unset.
fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("MM_BENCH_DIR") {
        Some(root) => tempfile::tempdir_in(PathBuf::from(root)),
        None => tempfile::tempdir(),
    }
    .expect("create a temporary directory")
}

/// Formats a rate with thousands separators.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn run_seconds() -> Duration {
    let seconds = match std::env::var("MM_BENCH_SECONDS") {
        Ok(text) => text
            .parse()
            .expect("MM_BENCH_SECONDS is a number of seconds"),
        Err(_) => DEFAULT_SECONDS,
    };
    Duration::from_secs_f64(seconds)
}

/// Returns the thread counts that `MM_BENCH_THREADS` lists, or `THREAD_COUNTS`.
fn thread_counts() -> Vec<usize> {
    match std::env::var("MM_BENCH_THREADS") {
        Ok(text) => text
            .split(',')
            .map(|count| {
                count.trim().parse().unwrap_or_else(|e| {
                    panic!("MM_BENCH_THREADS={text:?} is not a comma-separated list of counts: {e}")
                })
            })
            .collect(),
        Err(_) => THREAD_COUNTS.to_vec(),
    }
}

/// Returns the modes to run: both, or the one that `MM_BENCH_MODE` names.
fn modes() -> Vec<(&'static str, Durability)> {
    let modes = [
        ("default", "default", Durability::default()),
        ("durable", "durable (`Sync`)", Durability::Sync),
    ];
    let chosen = std::env::var("MM_BENCH_MODE").ok();
    let picked: Vec<_> = modes
        .into_iter()
        .filter(|(name, _, _)| chosen.as_deref().is_none_or(|c| c == *name))
        .map(|(_, label, durability)| (label, durability))
        .collect();
    assert!(
        !picked.is_empty(),
        "MM_BENCH_MODE is `default` or `durable`, not `{}`",
        chosen.unwrap_or_default()
    );
    picked
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and only checks that
    // the bench builds and runs, so it runs each case briefly.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let run = if benching {
        run_seconds()
    } else {
        Duration::from_millis(50)
    };
    // Parsed first, so that a wrong setting stops the bench before it measures anything.
    let threads_list = thread_counts();
    let modes = modes();
    let (sync_p50, sync_p99) = fdatasync_floor_us();
    println!("overwrite of 100 B + fdatasync: p50 {sync_p50:.0} µs, p99 {sync_p99:.0} µs\n");
    println!("| mode | threads | calls/s | p50 µs | p99 µs | p99.9 µs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, durability) in modes {
        for &threads in &threads_list {
            let row = measure(mode, durability, threads, run);
            println!(
                "| {} | {} | {} | {:.2} | {:.1} | {:.1} |",
                row.mode,
                row.threads,
                thousands(row.calls_per_second),
                row.quantile_us(0.5),
                row.quantile_us(0.99),
                row.quantile_us(0.999)
            );
        }
    }
}
