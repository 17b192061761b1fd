//! How the store scales from 1,000,000 to 10,000,000 predictions. For each million, the bench
//! prints the cost of its ingest in wall time and in CPU time, and the lookup latency after it.
//! After close, it prints the time to reopen and the heap that the open store keeps.
//!
//! ```sh
//! cargo bench --bench scale                                # 10,000,000 predictions
//! MM_SCALE_PREDICTIONS=2000000 cargo bench --bench scale   # fewer
//! ```
//!
//! The rows are those of the vs_sqlite workload (4 f64 metrics, random UUID v4), spaced 60 ms
//! apart so that 10,000,000 predictions span about 7 days, tracked in batches of 10,000 with
//! default options.
//!
//! The slowest `track_metrics_batch` call of each million gives the writer's maximum stall, for
//! example a call that found the head at twice its size and flushed it first.
//!
//! Each million pays for its own work. After its batches, the bench calls `flush` and
//! `compact`, so the million's head is in segments, the index runs are merged and the segments
//! compacted before the next million starts. Without that step, the background flushes, index
//! merges and compactions of one million would run, and be timed, during the next. The CPU
//! time is that of the whole process (`getrusage`, user plus system, all threads), so it also
//! counts the background threads, which share the cores with the caller and make the wall
//! time of a single million vary.
//!
//! Under callgrind, `--dump-before='*phase_mark*'` writes one profile part per phase of each
//! million (ingest, settle, lookups), so that instruction counts of an early million and a
//! late one can be compared.
//!
//! A global allocator counts the live heap bytes. The heap figure is their growth across
//! `Store::open`: what the open store keeps.

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

/// Wall and process CPU time of one step.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl Cost {
    fn plus(self, other: Cost) -> Cost {
        Cost {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }
}

/// The figures of one million.
#[derive(Clone, Copy)]
struct Million {
    ingest: Cost,
    /// Duration of the slowest batch call of the ingest.
    max_batch: Duration,
    settle: Cost,
    p99_us: f64,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("scale: bench");
        return;
    }
    let total: usize = std::env::var("MM_SCALE_PREDICTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10 * MILLION);
    // RUST_LOG=info shows the flushes, index merges and compactions between the rows.
    let _ = env_logger::builder().format_timestamp_millis().try_init();
    let parent = std::env::var_os("MM_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &parent {
        Some(p) => tempfile::tempdir_in(p),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let store = Store::open(dir.path()).expect("open");
    let mut rows = RowGenerator::new(workload::SEED);
    let mut uuids: Vec<Uuid> = Vec::with_capacity(total);
    print_header();
    let mut millions: Vec<Million> = Vec::new();
    for million in 0..total.div_ceil(MILLION) {
        let count = MILLION.min(total - million * MILLION);
        let start = START_MS + (million * MILLION) as i64 * SPACING_MS as i64;
        let batch_rows = rows.rows(count, start, SPACING_MS);
        let batches: Vec<Vec<NewPrediction>> = batch_rows
            .chunks(BATCH_LEN)
            .map(|chunk| chunk.iter().map(new_prediction).collect())
            .collect();
        uuids.extend(batch_rows.iter().map(|r| r.uuid));

        phase_mark("ingest", million);
        let mut max_batch = Duration::ZERO;
        let ingest = measure(|| {
            for batch in &batches {
                let started = Instant::now();
                store.track_metrics_batch(batch).expect("track");
                max_batch = max_batch.max(started.elapsed());
            }
        });
        phase_mark("settle", million);
        let settle = measure(|| {
            store.flush().expect("flush");
            store.compact().expect("compact");
        });
        phase_mark("lookups", million);
        let (p50, p99) = lookup_latency(&store, &uuids, million as u64);
        let figures = Million {
            ingest,
            max_batch,
            settle,
            p99_us: p99,
        };
        print_row(million * MILLION + count, count, &figures, p50);
        millions.push(figures);
    }
    phase_mark("close", 0);
    print_growth(&millions, total);
    close_and_reopen(store, dir.path(), total, &uuids);
}

fn print_header() {
    println!(
        "| predictions | ingest s | ingest CPU s | flush and compact s | flush and compact CPU s \
         | µs per prediction | CPU µs per prediction | lookup p50 µs | lookup p99 µs \
         | max batch ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn print_row(done: usize, count: usize, figures: &Million, p50: f64) {
    let (ingest, settle) = (figures.ingest, figures.settle);
    let both = ingest.plus(settle);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / count as f64;
    println!(
        "| {done} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {p50:.2} | {:.2} | {:.1} |",
        ingest.wall.as_secs_f64(),
        ingest.cpu.as_secs_f64(),
        settle.wall.as_secs_f64(),
        settle.cpu.as_secs_f64(),
        per(both.wall),
        per(both.cpu),
        figures.p99_us,
        figures.max_batch.as_secs_f64() * 1e3
    );
}

/// Prints the cost per prediction of the last million against the first, and that of all
/// `total` predictions against the first million's, which spreads the merges that land in one
/// million over all of them.
fn print_growth(millions: &[Million], total: usize) {
    let (Some(first), Some(last)) = (millions.first(), millions.last()) else {
        return;
    };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let (first_all, last_all) = (
        first.ingest.plus(first.settle),
        last.ingest.plus(last.settle),
    );
    println!(
        "\ncost per prediction, last million / first: wall {:.2}×, CPU {:.2}×, \
         ingest alone {:.2}× (CPU {:.2}×), lookup p99 {:.2}×",
        ratio(last_all.wall, first_all.wall),
        ratio(last_all.cpu, first_all.cpu),
        ratio(last.ingest.wall, first.ingest.wall),
        ratio(last.ingest.cpu, first.ingest.cpu),
        last.p99_us / first.p99_us.max(1e-9)
    );
    let whole = millions
        .iter()
        .fold(Cost::default(), |sum, m| sum.plus(m.ingest).plus(m.settle));
    let first_count = MILLION.min(total) as f64;
    let per_first = first_all.cpu.as_secs_f64() / first_count;
    let per_whole = whole.cpu.as_secs_f64() / total as f64;
    println!(
        "CPU µs per prediction: first million {:.3}, all {total} {:.3} ({:.2}×)",
        per_first * 1e6,
        per_whole * 1e6,
        per_whole / per_first.max(1e-12)
    );
    let max_batch = millions.iter().map(|m| m.max_batch).max();
    println!(
        "writer's maximum stall (slowest batch call of {BATCH_LEN} predictions): {:.1} ms",
        max_batch.unwrap_or_default().as_secs_f64() * 1e3
    );
}

/// Closes the store, then reopens it and prints the reopen time, the heap it keeps and the
/// lookup latency.
fn close_and_reopen(store: Store, dir: &std::path::Path, total: usize, uuids: &[Uuid]) {
    let started = Instant::now();
    store.close().expect("close");
    drop(store);
    println!("close (flushes the head): {:?}", started.elapsed());
    let bytes = dir_bytes(dir);
    println!(
        "store size: {bytes} bytes, {:.1} bytes/prediction",
        bytes as f64 / total as f64
    );

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let store = Store::open(dir).expect("reopen");
    let open_time = started.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "reopen: {open_time:?}, heap held by the open store: {:.1} MiB",
        heap as f64 / (1 << 20) as f64
    );
    let (p50, p99) = lookup_latency(&store, uuids, 99);
    println!("lookup after reopen: p50 {p50:.2} µs, p99 {p99:.2} µs");
}

/// Marks the start of a phase, for callgrind's `--dump-before`. It does nothing else.
#[inline(never)]
fn phase_mark(phase: &str, million: usize) {
    std::hint::black_box((phase, million));
}

/// Runs `step` and returns its wall time and the CPU time of the whole process meanwhile.
fn measure(step: impl FnOnce()) -> Cost {
    let cpu = process_cpu();
    let started = Instant::now();
    step();
    Cost {
        wall: started.elapsed(),
        cpu: process_cpu().saturating_sub(cpu),
    }
}

/// User plus system CPU time of all threads of the process.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable rusage; getrusage writes it whole on success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "getrusage failed: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: getrusage returned 0, so it initialised `usage`.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
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

/// Looks up `LOOKUPS` tracked UUIDs picked by an xorshift sequence; returns p50 and p99 in µs.
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
