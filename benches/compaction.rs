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

#[path = "vs_sqlite/workload.rs"]
#[allow(dead_code)]
mod workload;

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

/// Writer calls of one window: their latencies in nanoseconds, sorted, and the slowest calls
/// with their start.
struct Latencies {
    sorted: Vec<u64>,
    slowest: Vec<(Instant, u64)>,
}

impl Latencies {
    fn new(mut calls: Vec<(Instant, u64)>) -> Latencies {
        calls.sort_unstable_by_key(|&(_, ns)| std::cmp::Reverse(ns));
        let slowest = calls.iter().take(SLOWEST_LISTED).copied().collect();
        let mut sorted: Vec<u64> = calls.into_iter().map(|(_, ns)| ns).collect();
        sorted.reverse();
        Latencies { sorted, slowest }
    }

    /// Returns the smallest latency, in µs, that at least `q` (0 to 1) of the calls did not
    /// exceed.
    fn quantile_us(&self, q: f64) -> f64 {
        let n = self.sorted.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.sorted
            .get(rank - 1)
            .map_or(f64::NAN, |&ns| ns as f64 / 1_000.0)
    }

    fn slow_calls(&self) -> usize {
        let limit = SLOW_CALL.as_nanos() as u64;
        self.sorted.iter().filter(|&&ns| ns > limit).count()
    }
}

/// One writer thread tracking predictions at a paced rate, newer than every stored one.
struct Writer {
    rows: RowGenerator,
    next_ms: i64,
    interval: Duration,
}

impl Writer {
    fn new(rate: f64) -> Writer {
        Writer {
            rows: RowGenerator::new(WRITER_SEED),
            next_ms: START_MS + DAYS * MS_PER_DAY,
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }

    fn write_for(&mut self, store: &Store, duration: Duration) -> Latencies {
        let deadline = Instant::now() + duration;
        self.write_while(store, || Instant::now() < deadline)
    }

    /// Tracks one prediction per `interval`, 1 ms of data time apart, while `keep_going`
    /// returns true. A call that starts late is not delayed further, so the rate holds on
    /// average. Times each call alone, not the wait before it.
    ///
    /// NOTE: a slow call also delays the start of the calls due during it, and that delay is
    /// in no latency here (coordinated omission): the tail is that of one call, not of a
    /// client with a fixed schedule.
    fn write_while(&mut self, store: &Store, keep_going: impl Fn() -> bool) -> Latencies {
        let started = Instant::now();
        let mut calls_timed = Vec::with_capacity(1 << 16);
        let mut calls: u32 = 0;
        while keep_going() {
            let due = started + self.interval * calls;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let row = self.rows.row(self.next_ms);
            let metrics = metrics(&row);
            self.next_ms += 1;
            let call = Instant::now();
            store
                .track_metrics(MODEL, row.uuid, row.timestamp_ms, &metrics)
                .expect("track a prediction");
            calls_timed.push((call, call.elapsed().as_nanos() as u64));
            calls += 1;
        }
        Latencies::new(calls_timed)
    }
}

/// Bytes of the store's files by kind.
#[derive(Clone, Copy, Default)]
struct DiskBytes {
    segments: u64,
    index: u64,
    rollups: u64,
}

impl DiskBytes {
    fn of(dir: &Path) -> DiskBytes {
        let mut bytes = DiskBytes::default();
        for entry in std::fs::read_dir(dir).expect("list the store") {
            let entry = entry.expect("read a directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let len = entry.metadata().expect("read file metadata").len();
            if name.starts_with("seg-") {
                bytes.segments += len;
            } else if name.starts_with("index-") {
                bytes.index += len;
            } else if name.starts_with("rollup-") {
                bytes.rollups += len;
            }
        }
        bytes
    }
}

/// The writer's latencies with and without a concurrent compaction, on one store.
struct CatchUp {
    alone: Latencies,
    compaction: Concurrent,
    /// The writer alone again, once the compaction finished.
    alone_after: Latencies,
    /// Index runs in the manifest before and after the compaction.
    index_runs: (usize, usize),
    before: DiskBytes,
    after: DiskBytes,
}

fn catch_up(dir: &Path, config: &Config) -> CatchUp {
    let before = DiskBytes::of(dir);
    let store = Store::open_with(dir, options(full_policy(), 64 << 20)).expect("open the store");
    let index_runs_before = index_runs(dir);
    let mut writer = Writer::new(config.rate);
    writer.write_for(&store, WARM_UP);
    let alone = writer.write_for(&store, config.baseline);
    let compaction = compact_while_writing(&store, &mut writer, dir);
    let index_runs_after = index_runs(dir);
    let alone_after = writer.write_for(&store, config.baseline);
    store.close().expect("close the store");
    CatchUp {
        alone,
        compaction,
        alone_after,
        index_runs: (index_runs_before, index_runs_after),
        before,
        after: DiskBytes::of(dir),
    }
}

fn index_runs(dir: &Path) -> usize {
    let manifest = Manifest::load(dir).expect("read the manifest");
    manifest.map_or(0, |m| m.index_runs.len())
}

/// One `Store::compact` call on another thread while `writer` tracks predictions.
struct Concurrent {
    latencies: Latencies,
    seconds: f64,
    steps: u32,
    /// Lines of `describe_slowest`.
    slowest: Vec<String>,
}

fn compact_while_writing(store: &Store, writer: &mut Writer, dir: &Path) -> Concurrent {
    EVENTS.take();
    let compaction_start = Instant::now();
    let done = AtomicBool::new(false);
    let (latencies, (seconds, steps)) = thread::scope(|scope| {
        let compaction = scope.spawn(|| {
            let started = Instant::now();
            let steps = store.compact().expect("compact");
            done.store(true, Ordering::Release);
            (started.elapsed().as_secs_f64(), steps)
        });
        let latencies = writer.write_while(store, || !done.load(Ordering::Acquire));
        let compaction = compaction.join().expect("join the compaction thread");
        (latencies, compaction)
    });
    let prefix = format!("{}/", dir.display());
    let events: Vec<(Instant, String)> = EVENTS
        .take()
        .into_iter()
        .map(|(at, message)| (at, message.replace(&prefix, "")))
        .collect();
    let slowest = describe_slowest(&latencies, compaction_start, &events);
    Concurrent {
        latencies,
        seconds,
        steps,
        slowest,
    }
}

/// Describes each of the slowest calls: its start after `compaction_start` and its latency in
/// ms, and the last `EVENTS_LISTED` info log records of the store from 100 ms before the call
/// until its end, cut to 90 characters each.
fn describe_slowest(
    calls: &Latencies,
    compaction_start: Instant,
    events: &[(Instant, String)],
) -> Vec<String> {
    let since_start = |at: Instant| at.saturating_duration_since(compaction_start).as_secs_f64();
    let mut lines = Vec::new();
    for &(start, ns) in &calls.slowest {
        let end = start + Duration::from_nanos(ns);
        let from = start
            .checked_sub(Duration::from_millis(100))
            .unwrap_or(start);
        let near: Vec<&(Instant, String)> = events
            .iter()
            .filter(|(at, _)| (from..=end).contains(at))
            .collect();
        let listed = near.iter().skip(near.len().saturating_sub(EVENTS_LISTED));
        let described: Vec<String> = listed
            .map(|(at, message)| {
                let message: String = message.chars().take(90).collect();
                format!("{:.0} ms: {message}", since_start(*at) * 1e3)
            })
            .collect();
        let described = if described.is_empty() {
            "none".to_owned()
        } else {
            described.join("; ")
        };
        let offset = since_start(start) * 1e3;
        lines.push(format!(
            "{offset:.0} | {:.1} | {described}",
            ns as f64 / 1e6
        ));
    }
    lines
}

/// Records read and written by one `Store::compact` call that ran one kind of step.
#[derive(Clone, Copy)]
struct StepRun {
    seconds: f64,
    read: u64,
    written: u64,
    steps: u32,
}

impl StepRun {
    fn read_per_second(&self) -> f64 {
        self.read as f64 / self.seconds
    }

    fn written_per_second(&self) -> f64 {
        self.written as f64 / self.seconds
    }
}

/// Figures of the step kinds run one at a time on a copy of the built store, with no writer.
struct Staged {
    merge: StepRun,
    roll_up: StepRun,
    coarsen: StepRun,
    merged: DiskBytes,
    /// Predictions that the rollups summarise, after the roll-up.
    rolled_up: u64,
    rolled_up_bytes: DiskBytes,
    coarsened: DiskBytes,
}

fn timed_compact(dir: &Path, options: Options) -> (Store, f64, u32) {
    let store = Store::open_with(dir, options).expect("open the store");
    let started = Instant::now();
    let steps = store.compact().expect("compact");
    (store, started.elapsed().as_secs_f64(), steps)
}

fn rollups(store: &Store) -> Vec<Rollup> {
    store
        .read_rollups(MODEL, i64::MIN, i64::MAX)
        .expect("read the rollups")
}

fn staged(dir: &Path, predictions: u64) -> Staged {
    let merge = stage_merge(dir, predictions);
    let merged = DiskBytes::of(dir);
    let (roll_up, rolled_up) = stage_roll_up(dir);
    let rolled_up_bytes = DiskBytes::of(dir);
    let coarsen = stage_coarsen(dir);
    Staged {
        merge,
        roll_up,
        coarsen,
        merged,
        rolled_up,
        rolled_up_bytes,
        coarsened: DiskBytes::of(dir),
    }
}

/// Merges only: every segment is small, and no retention is set.
fn stage_merge(dir: &Path, predictions: u64) -> StepRun {
    let (store, seconds, steps) = timed_compact(dir, options(Retention::default(), 64 << 20));
    let rows = store.read_metrics(MODEL, i64::MIN, i64::MAX);
    let read_back = rows.expect("read the predictions").count() as u64;
    assert_eq!(read_back, predictions, "a merge lost or added predictions");
    store.close().expect("close the store");
    StepRun {
        seconds,
        read: predictions,
        written: read_back,
        steps,
    }
}

/// Rolls up only, at the first tier kept for ever, with no merge. Returns the step's figures
/// and the predictions rolled up.
fn stage_roll_up(dir: &Path) -> (StepRun, u64) {
    let first_tier = Retention::keep_raw_for(2 * DAY).then(RollupTier::every(FIVE_MINUTES));
    let (store, seconds, steps) = timed_compact(dir, options(first_tier, 0));
    let fine = rollups(&store);
    let rolled_up: u64 = fine.iter().map(|r| r.predictions).sum();
    store.close().expect("close the store");
    let step = StepRun {
        seconds,
        read: rolled_up,
        written: fine.len() as u64,
        steps,
    };
    (step, rolled_up)
}

/// Coarsens only: the 5-minute rollups older than 4 days become hourly ones. The step reads
/// and rewrites every rollup.
fn stage_coarsen(dir: &Path) -> StepRun {
    let store = Store::open_with(dir, options(full_policy(), 0)).expect("open the store");
    let before = rollups(&store).len() as u64;
    store.close().expect("close the store");
    let (store, seconds, steps) = timed_compact(dir, options(full_policy(), 0));
    let after = rollups(&store);
    let hourly = after
        .iter()
        .filter(|r| r.interval_ms == HOUR.as_millis() as i64);
    assert!(hourly.count() > 0, "no rollup was coarsened");
    store.close().expect("close the store");
    StepRun {
        seconds,
        read: before,
        written: after.len() as u64,
        steps,
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

fn figures(run: &CatchUp, stages: &Staged, predictions: f64) -> Vec<(String, f64)> {
    let mut rows = writer_figures(run);
    rows.extend(step_figures(stages));
    rows.extend(size_figures(run, stages, predictions));
    rows
}

fn writer_figures(run: &CatchUp) -> Vec<(String, f64)> {
    let compacting = &run.compaction.latencies;
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
        let (alone, during) = (run.alone.quantile_us(q), compacting.quantile_us(q));
        rows.push((format!("writer {name} alone, µs"), alone));
        rows.push((format!("writer {name} during compaction, µs"), during));
        rows.push((format!("writer {name} during / alone"), during / alone));
        let after = run.alone_after.quantile_us(q);
        rows.push((format!("writer {name} alone after compaction, µs"), after));
    }
    let calls = |latencies: &Latencies| latencies.sorted.len() as f64;
    rows.push(("writer calls alone".into(), calls(&run.alone)));
    rows.push(("writer calls during compaction".into(), calls(compacting)));
    let slow = |latencies: &Latencies| latencies.slow_calls() as f64;
    rows.push(("calls > 1 ms alone".into(), slow(&run.alone)));
    rows.push(("calls > 1 ms during compaction".into(), slow(compacting)));
    rows.push((
        "calls > 1 ms alone after compaction".into(),
        slow(&run.alone_after),
    ));
    rows.push(("catch-up compaction, s".into(), run.compaction.seconds));
    rows.push((
        "catch-up compaction steps".into(),
        f64::from(run.compaction.steps),
    ));
    rows.push(("index runs before catch-up".into(), run.index_runs.0 as f64));
    rows.push(("index runs after catch-up".into(), run.index_runs.1 as f64));
    rows
}

fn step_figures(stages: &Staged) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = Vec::new();
    let kinds = [
        ("merge", stages.merge),
        ("roll-up", stages.roll_up),
        ("coarsen", stages.coarsen),
    ];
    for (kind, step) in kinds {
        rows.push((format!("{kind}: steps"), f64::from(step.steps)));
        rows.push((format!("{kind}: s"), step.seconds));
        rows.push((format!("{kind}: records read/s"), step.read_per_second()));
        rows.push((
            format!("{kind}: records written/s"),
            step.written_per_second(),
        ));
    }
    rows
}

fn size_figures(run: &CatchUp, stages: &Staged, predictions: f64) -> Vec<(String, f64)> {
    let per = |bytes: u64, count: f64| bytes as f64 / count;
    let megabytes = |bytes: &DiskBytes| total(bytes) as f64 / 1e6;
    let rolled = stages.rolled_up as f64;
    vec![
        ("MB on disk before catch-up".into(), megabytes(&run.before)),
        ("MB on disk after catch-up".into(), megabytes(&run.after)),
        (
            "segment B/prediction, small segments".into(),
            per(run.before.segments, predictions),
        ),
        (
            "index B/prediction, small segments".into(),
            per(run.before.index, predictions),
        ),
        (
            "segment B/prediction, merged".into(),
            per(stages.merged.segments, predictions),
        ),
        (
            "index B/prediction, merged".into(),
            per(stages.merged.index, predictions),
        ),
        ("predictions rolled up".into(), rolled),
        (
            "rollup B/prediction, 5-minute".into(),
            per(stages.rolled_up_bytes.rollups, rolled),
        ),
        (
            "rollup B/prediction, coarsened".into(),
            per(stages.coarsened.rollups, rolled),
        ),
    ]
}

fn total(bytes: &DiskBytes) -> u64 {
    bytes.segments + bytes.index + bytes.rollups
}

/// Prints one row per figure: each run, then the median and the spread (max - min) / median.
fn print_summary(runs: &[Vec<(String, f64)>]) {
    let Some(first) = runs.first() else {
        return;
    };
    let run_columns: String = (1..=runs.len()).map(|i| format!(" run {i} |")).collect();
    println!("| figure |{run_columns} median | spread |");
    println!("|---|{}---:|---:|", "---:|".repeat(runs.len()));
    for (row, (name, _)) in first.iter().enumerate() {
        let mut values: Vec<f64> = runs
            .iter()
            .filter_map(|run| run.get(row))
            .map(|r| r.1)
            .collect();
        let cells: String = values
            .iter()
            .map(|v| format!(" {} |", format_value(*v)))
            .collect();
        values.sort_by(f64::total_cmp);
        let median = values.get(values.len() / 2).copied().unwrap_or(f64::NAN);
        let spread = values
            .last()
            .zip(values.first())
            .map_or(f64::NAN, |(hi, lo)| hi - lo);
        let spread_percent = 100.0 * spread / median;
        println!(
            "| {name} |{cells} {} | {spread_percent:.0} % |",
            format_value(median)
        );
    }
}

fn format_value(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
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
