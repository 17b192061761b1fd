//! Compaction under load: the latency of `track_metrics` on one writer thread while
//! `Store::compact` runs on another, the throughput of each kind of compaction step, and the
//! bytes on disk per prediction before and after. Prints markdown tables.
//!
//! ```sh
//! cargo bench --bench compaction
//! MM_COMPACTION_PREDICTIONS=500000 MM_BENCH_RUNS=1 cargo bench --bench compaction
//! ```
//!
//! Environment:
//! - `MM_COMPACTION_PREDICTIONS`: predictions in the store (default 1,500,000), over 7 days.
//! - `MM_COMPACTION_SEGMENTS`: segments they are flushed into (default 150).
//! - `MM_COMPACTION_RATE`: the writer's target calls per second (default 20,000).
//! - `MM_BENCH_SECONDS`: length of the writer's window without compaction (default 3).
//! - `MM_BENCH_RUNS`: repetitions, each on new stores (default 3).
//! - `MM_BENCH_DIR`: directory for the stores' temporary directories (default: the system's).
//! - `MM_COMPACTION_CRITERION`: when set, runs only the criterion group `compaction_merge`
//!   (see `merge_group`) instead of the tables.
//!
//! Each repetition builds one store from the rows of the vs_sqlite workload (W1: 4 f64 inline
//! metrics, random UUID v4, over 7 days), one flush per `predictions / segments` rows, closes
//! it and copies its files. The catch-up run opens the first copy with the policy of
//! `full_policy` and the compaction thread off. Its writer runs for a warm-up of 300 ms, is
//! timed alone for `MM_BENCH_SECONDS`, then while one `Store::compact` call on another thread
//! rolls up, coarsens and merges, then alone again for `MM_BENCH_SECONDS`. On the second copy,
//! three `Store::compact` calls without a writer each run one kind of step, so that the records
//! and seconds of each kind can be counted apart.

#[path = "compaction/catch_up.rs"]
mod catch_up;
#[path = "compaction/report.rs"]
mod report;
#[path = "compaction/stages.rs"]
mod stages;
#[path = "vs_sqlite/workload.rs"]
#[allow(dead_code)]
mod workload;

use catch_up::{CatchUp, DiskBytes, Latencies, catch_up};
use report::{figures, print_summary};
use stages::{Staged, staged};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use modelmetrics::manifest::Manifest;
use modelmetrics::rollup::Rollup;
use modelmetrics::{Compaction, Metrics, NewPrediction, Options, Retention, RollupTier, Store};
use workload::{DAYS, MODEL, MS_PER_DAY, RowGenerator, START_MS};

const DAY: Duration = Duration::from_secs(86_400);
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const HOUR: Duration = Duration::from_secs(3_600);
/// Seed of the writer's rows, apart from the stored ones so that no UUID repeats.
const WRITER_SEED: u64 = workload::SEED ^ 0xffff;
/// Writer time before the first timed window, so that first-call costs stay out of it.
const WARM_UP: Duration = Duration::from_millis(300);
/// Number of the slowest writer calls of each catch-up run that are listed with the store's
/// log records around them.
const SLOWEST_LISTED: usize = 3;
/// Number of log records listed per slow call: the last ones before its end.
const EVENTS_LISTED: usize = 3;
/// Writer calls slower than this are counted apart.
const SLOW_CALL: Duration = Duration::from_millis(1);

struct Config {
    predictions: usize,
    segments: usize,
    rate: f64,
    baseline: Duration,
    runs: usize,
    dir: Option<PathBuf>,
}

impl Config {
    fn from_env() -> Config {
        let number = |name: &str, default: f64| {
            std::env::var(name).map_or(default, |text| {
                let text = text.replace(['_', ','], "");
                text.parse()
                    .unwrap_or_else(|e| panic!("{name}={text:?} is not a number: {e}"))
            })
        };
        let config = Config {
            predictions: number("MM_COMPACTION_PREDICTIONS", 1_500_000.0) as usize,
            segments: number("MM_COMPACTION_SEGMENTS", 150.0) as usize,
            rate: number("MM_COMPACTION_RATE", 20_000.0),
            baseline: Duration::from_secs_f64(number("MM_BENCH_SECONDS", 3.0)),
            runs: number("MM_BENCH_RUNS", 3.0) as usize,
            dir: std::env::var_os("MM_BENCH_DIR").map(PathBuf::from),
        };
        assert!(
            config.segments >= 4,
            "MM_COMPACTION_SEGMENTS: use at least 4"
        );
        assert!(
            config.predictions >= config.segments * 100,
            "use 100 predictions per segment"
        );
        assert!(config.rate > 0.0, "MM_COMPACTION_RATE must be positive");
        config
    }

    fn temporary_dir(&self) -> tempfile::TempDir {
        match &self.dir {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .expect("create a temporary directory")
    }
}

/// The store's log records with the time they were written, to place the slowest writer calls
/// among the compaction's steps.
struct EventLog {
    events: Mutex<Vec<(Instant, String)>>,
}

static EVENTS: EventLog = EventLog {
    events: Mutex::new(Vec::new()),
};

impl log::Log for EventLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("modelmetrics")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let event = (Instant::now(), record.args().to_string());
            self.events.lock().expect("lock the event log").push(event);
        }
    }

    fn flush(&self) {}
}

impl EventLog {
    fn take(&self) -> Vec<(Instant, String)> {
        std::mem::take(&mut *self.events.lock().expect("lock the event log"))
    }
}

/// Raw for 2 days, then 5-minute rollups until 4 days, then hourly rollups.
fn full_policy() -> Retention {
    Retention::keep_raw_for(2 * DAY)
        .then(RollupTier::every(FIVE_MINUTES).until(4 * DAY))
        .then(RollupTier::every(HOUR))
}

/// Options with the compaction thread off. A `target_segment_bytes` of 0 plans no merge.
fn options(retention: Retention, target_segment_bytes: u64) -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes,
        partition: DAY,
        retention,
        ..Compaction::default()
    })
}

fn metrics(row: &workload::Row) -> Metrics {
    Metrics::new()
        .with("score", row.score)
        .with("amount", row.amount)
        .with("ratio", row.ratio)
        .with("tenure", row.tenure)
}

/// Tracks `predictions` rows of the workload over `span_ms` into `dir`, in `segments` flushes.
fn build_store(dir: &Path, predictions: usize, segments: usize, span_ms: i64) {
    let store = Store::open_with(dir, options(Retention::default(), 0)).expect("open the store");
    let spacing_ms = span_ms as f64 / predictions as f64;
    let rows = RowGenerator::new(workload::SEED).rows(predictions, START_MS, spacing_ms);
    let per_segment = predictions.div_ceil(segments);
    for chunk in rows.chunks(per_segment) {
        let batch = chunk.iter().map(|row| NewPrediction {
            model: MODEL.to_owned(),
            uuid: row.uuid,
            timestamp_ms: row.timestamp_ms,
            metrics: metrics(row),
        });
        store
            .track_metrics_batch_owned(batch.collect())
            .expect("track a batch");
        store.flush().expect("flush");
    }
    store.close().expect("close the built store");
}

fn copy_store(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("list the built store") {
        let path = entry.expect("read a directory entry").path();
        if path.is_file() {
            let name = path.file_name().expect("name of a store file");
            std::fs::copy(&path, to.join(name)).expect("copy a store file");
        }
    }
}

/// Runs one repetition. Returns its figures, as named rows of the summary table, and the lines
/// of its slowest writer calls.
fn run_once(config: &Config) -> (Vec<(String, f64)>, Vec<String>) {
    let built = config.temporary_dir();
    let started = Instant::now();
    let span_ms = DAYS * MS_PER_DAY;
    build_store(built.path(), config.predictions, config.segments, span_ms);
    eprintln!(
        "built {} predictions in {:?}",
        config.predictions,
        started.elapsed()
    );
    let copy = config.temporary_dir();
    copy_store(built.path(), copy.path());

    let run = catch_up(built.path(), config);
    let stages = staged(copy.path(), config.predictions as u64);
    let rows = figures(&run, &stages, config.predictions as f64);
    (rows, run.compaction.slowest)
}

/// Predictions per segment in the criterion group.
const MERGE_SEGMENT_PREDICTIONS: usize = 2_000;

/// Criterion group `compaction_merge`: one `Store::compact` call that merges N segments of
/// 2,000 predictions, all in one hour and so in one partition, into one. Copying and opening
/// the store is not timed.
fn merge_group(criterion: &mut Criterion, config: &Config) {
    let mut group = criterion.benchmark_group("compaction_merge");
    group.sample_size(10);
    for segments in [4, 16, 64] {
        let predictions = segments * MERGE_SEGMENT_PREDICTIONS;
        let template = config.temporary_dir();
        build_store(template.path(), predictions, segments, 3_600_000);
        let open_copy = || {
            let dir = config.temporary_dir();
            copy_store(template.path(), dir.path());
            let store = Store::open_with(dir.path(), options(Retention::default(), 64 << 20));
            (store.expect("open the store"), dir)
        };
        group.throughput(Throughput::Elements(predictions as u64));
        group.bench_function(BenchmarkId::from_parameter(segments), |bencher| {
            bencher.iter_batched(
                open_copy,
                |(store, dir)| {
                    let steps = store.compact().expect("compact");
                    assert_eq!(steps, 1, "expected one merge step");
                    (store, dir)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("compaction: bench");
        return;
    }
    let config = Config::from_env();
    if std::env::var_os("MM_COMPACTION_CRITERION").is_some() {
        let mut criterion = Criterion::default().configure_from_args();
        merge_group(&mut criterion, &config);
        criterion.final_summary();
        return;
    }
    println!(
        "{} predictions in {} segments, writer at {} calls/s, {} run(s)\n",
        config.predictions, config.segments, config.rate, config.runs
    );
    log::set_logger(&EVENTS).expect("install the event log");
    log::set_max_level(log::LevelFilter::Info);
    let (runs, slowest): (Vec<_>, Vec<_>) = (0..config.runs).map(|_| run_once(&config)).unzip();
    print_summary(&runs);
    println!("\nSlowest writer calls during the catch-up compaction, with the last info log");
    println!("records of the store from 100 ms before each call to its end (ms after the");
    println!("compaction began):\n");
    println!("| run | call start | call ms | log records |");
    println!("|---:|---:|---:|---|");
    for (run, lines) in slowest.iter().enumerate() {
        for line in lines {
            println!("| {} | {line} |", run + 1);
        }
    }
}
