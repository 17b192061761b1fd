//! The phases of a run, each on modelmetrics and then on SQLite, in this order:
//!
//! 1. W1: ingest the predictions; close, measure the bytes, open again.
//! 2. W2: track the labels; flush.
//! 3. W3: read a 1-hour window and the last day, check that both stores give the same ROC AUC;
//!    close, measure the bytes (W1 + W2), open again.
//! 4. W4: track 168 hourly aggregate windows, flush, read each window back.
//! 5. W1b: single calls in default mode; reopen in durable mode; single calls again, and the
//!    `write()` + `fdatasync()` baselines, in chunks that alternate between them.
//! 6. Durable calls from 1 and from 16 threads, in rounds that alternate between them.
//! 7. The car-loan data into new stores, for its bytes on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::car_loan::CarLoan;
use crate::measure::{self, BaselineFile, BenchResult, Latency, WriteFdatasync, per_second};
use crate::ours::{self, Ours};
use crate::peer::{Mode, Peer, TrackCarLoan};
use crate::report::{self, Figures, Results};
use crate::sqlite::{self, Sqlite};
use crate::workload::{DAYS, MS_PER_DAY, MS_PER_HOUR, RowGenerator, SEED, START_MS, Workload};

/// Single calls of W1b per mode, in chunks that alternate between the stores.
const SINGLE_CALLS: usize = 10_000;
const CHUNKS: usize = 10;
/// How long each store runs the durable calls of each thread count, in rounds that
/// alternate between the thread counts and the stores.
const THREAD_RUN: Duration = Duration::from_secs(2);
const THREAD_ROUNDS: u32 = 4;
const THREAD_COUNTS: [usize; 2] = [1, 16];
/// Passes over the 168 hourly windows in W4.
const AGGREGATE_PASSES: usize = 20;
/// Times each W3 window is read; the median duration counts.
const HOUR_READS: usize = 11;
const DAY_READS: usize = 3;
/// Largest difference allowed between the ROC AUCs of the two stores.
const AUC_TOLERANCE: f64 = 1e-12;

/// One store under test, with its figures.
struct Side {
    name: &'static str,
    peer: Box<dyn Peer>,
    figures: Figures,
}

/// Prints a progress line to stderr with the time since the run started.
fn progress(started: Instant, message: std::fmt::Arguments) {
    eprintln!("[{:7.1} s] {message}", started.elapsed().as_secs_f64());
}

pub fn run_all(root: &Path, predictions: usize) -> BenchResult<Results> {
    let started = Instant::now();
    let workload = Workload::generate(predictions);
    progress(started, format_args!("generated {predictions} predictions"));

    std::fs::create_dir_all(root.join("sqlite"))?;
    let mut sides = [
        Side {
            name: "modelmetrics",
            peer: Box::new(Ours::open(&root.join("modelmetrics"), Mode::Default)?),
            figures: Figures::default(),
        },
        Side {
            name: "SQLite",
            peer: Box::new(Sqlite::open(&root.join("sqlite"), Mode::Default)?),
            figures: Figures::default(),
        },
    ];

    ingest(&mut sides, &workload, started)?;
    track_labels(&mut sides, &workload, started)?;
    read_windows(&mut sides, predictions, started)?;
    aggregates(&mut sides, &workload, started)?;
    let mut baseline = Figures::default();
    single_calls(&mut sides, root, &mut baseline, started)?;
    threads(&mut sides, started)?;
    for side in &mut sides {
        side.peer.close()?;
    }
    car_loan(&mut sides, root, started)?;

    let [ours, sqlite] = sides;
    Ok(Results {
        ours: ours.figures,
        sqlite: sqlite.figures,
        baseline,
    })
}

/// Runs W1, W2 and W3 on modelmetrics alone, for a profiler.
pub fn reads_alone(root: &Path, predictions: usize) -> BenchResult<()> {
    let started = Instant::now();
    let workload = Workload::generate(predictions);
    let mut sides = [Side {
        name: "modelmetrics",
        peer: Box::new(Ours::open(&root.join("modelmetrics"), Mode::Default)?),
        figures: Figures::default(),
    }];
    ingest(&mut sides, &workload, started)?;
    track_labels(&mut sides, &workload, started)?;
    read_windows(&mut sides, predictions, started)?;
    sides
        .iter_mut()
        .try_for_each(|side| side.peer.close().map(drop))
}

fn ingest(sides: &mut [Side], workload: &Workload, started: Instant) -> BenchResult<()> {
    let count = workload.rows.len();
    for side in sides.iter_mut() {
        let elapsed = side.peer.ingest(&workload.rows)?;
        let rate = per_second(count, elapsed);
        side.figures.set(report::INGEST, rate);
        // The calls alone leave part of the work to the store's close: the flush of the head
        // for modelmetrics, the checkpoint of the WAL for SQLite. This figure includes the close,
        // and the open that follows it, which takes milliseconds.
        let closing = Instant::now();
        let bytes = side.peer.reopen(Mode::Default)?;
        let closed = per_second(count, elapsed + closing.elapsed());
        side.figures.set(report::INGEST_CLOSED, closed);
        side.figures
            .set(report::BYTES_W1, bytes as f64 / count as f64);
        progress(
            started,
            format_args!(
                "{}: W1 {count} predictions in {elapsed:.2?}, {bytes} bytes",
                side.name
            ),
        );
    }
    Ok(())
}

fn track_labels(sides: &mut [Side], workload: &Workload, started: Instant) -> BenchResult<()> {
    let count = workload.labels.len();
    for side in sides.iter_mut() {
        let elapsed = side.peer.track_labels(&workload.labels)?;
        side.figures
            .set(report::DELAYED, per_second(count, elapsed));
        side.peer.flush()?;
        progress(
            started,
            format_args!("{}: W2 {count} labels in {elapsed:.2?}", side.name),
        );
    }
    Ok(())
}

/// A way to read a window of W3.
#[derive(Clone, Copy)]
enum Read {
    /// Owned rows: `Peer::read_window`.
    Rows,
    /// Rows visited in place: `Peer::read_visited`.
    Visited,
    /// The score and label of rows visited in place: `Peer::read_selected`.
    Selected,
    /// The score and label columns: `Peer::read_scores`.
    Scores,
}

/// Reads the 1-hour window in the middle of the span and the whole last day.
fn read_windows(sides: &mut [Side], predictions: usize, started: Instant) -> BenchResult<()> {
    let middle = START_MS + DAYS * MS_PER_DAY / 2;
    let last_day = START_MS + (DAYS - 1) * MS_PER_DAY;
    let hour = (middle, middle + MS_PER_HOUR);
    let day = (last_day, last_day + MS_PER_DAY);
    let windows = [
        (report::READ_HOUR, hour, HOUR_READS, Read::Rows),
        (report::READ_DAY, day, DAY_READS, Read::Rows),
        (report::READ_HOUR_VISITED, hour, HOUR_READS, Read::Visited),
        (report::READ_DAY_VISITED, day, DAY_READS, Read::Visited),
        (report::READ_HOUR_SELECTED, hour, HOUR_READS, Read::Selected),
        (report::READ_DAY_SELECTED, day, DAY_READS, Read::Selected),
        (report::READ_HOUR_SCORES, hour, HOUR_READS, Read::Scores),
        (report::READ_DAY_SCORES, day, DAY_READS, Read::Scores),
    ];
    for (key, (start_ms, end_ms), repeats, read) in windows {
        let mut seen: Option<(usize, f64)> = None;
        for side in sides.iter_mut() {
            let peer = &mut side.peer;
            let (rows, elapsed) = measure::median_timed(repeats, || match read {
                Read::Rows => peer.read_window(start_ms, end_ms),
                Read::Visited => peer.read_visited(start_ms, end_ms),
                Read::Selected => peer.read_selected(start_ms, end_ms),
                Read::Scores => peer.read_scores(start_ms, end_ms),
            })?;
            let auc = measure::roc_auc(&rows)?;
            side.figures.set(key, per_second(rows.len(), elapsed));
            progress(
                started,
                format_args!(
                    "{}: W3 {key}: {} rows in {elapsed:.2?} (median of {repeats}), ROC AUC {auc}",
                    side.name,
                    rows.len()
                ),
            );
            check_same_read(seen, rows.len(), auc)?;
            seen = Some((rows.len(), auc));
        }
    }
    for side in sides.iter_mut() {
        let bytes = side.peer.reopen(Mode::Default)?;
        side.figures
            .set(report::BYTES_W1_W2, bytes as f64 / predictions as f64);
        progress(
            started,
            format_args!("{}: W1 + W2 closed, {bytes} bytes", side.name),
        );
    }
    Ok(())
}

fn check_same_read(previous: Option<(usize, f64)>, rows: usize, auc: f64) -> BenchResult<()> {
    match previous {
        Some((other_rows, _)) if other_rows != rows => {
            Err(format!("the stores read {other_rows} and {rows} rows of one window").into())
        }
        Some((_, other_auc)) if (other_auc - auc).abs() > AUC_TOLERANCE => {
            Err(format!("the stores give ROC AUC {other_auc} and {auc} for one window").into())
        }
        _ => Ok(()),
    }
}

fn aggregates(sides: &mut [Side], workload: &Workload, started: Instant) -> BenchResult<()> {
    let windows = &workload.windows;
    for side in sides.iter_mut() {
        side.peer.track_aggregates(windows)?;
        let began = Instant::now();
        for _ in 0..AGGREGATE_PASSES {
            for w in windows {
                let metrics = side.peer.read_aggregates(w.start_ms, w.end_ms)?;
                if metrics != 2 {
                    return Err(format!(
                        "{}: window [{}, {}) read back {metrics} metrics, expected 2",
                        side.name, w.start_ms, w.end_ms
                    )
                    .into());
                }
            }
        }
        let elapsed = began.elapsed();
        let reads = AGGREGATE_PASSES * windows.len();
        side.figures
            .set(report::AGGREGATE_READS, per_second(reads, elapsed));
        progress(
            started,
            format_args!("{}: W4 {reads} reads in {elapsed:.2?}", side.name),
        );
    }
    Ok(())
}

/// Runs W1b in default mode, reopens each store in durable mode, and runs it again with the
/// `write()` + `fdatasync()` baselines. The calls run in chunks, each chunk on every store and
/// baseline in turn, so that a slow minute of a shared disk hits all of them alike.
fn single_calls(
    sides: &mut [Side],
    root: &Path,
    baseline: &mut Figures,
    started: Instant,
) -> BenchResult<()> {
    // Timestamps after the ingested span, one per second.
    let after_span = START_MS + (DAYS + 1) * MS_PER_DAY;
    let modes = [
        (Mode::Default, report::SINGLE_DEFAULT, 1),
        (Mode::Durable, report::SINGLE_DURABLE, 2),
    ];
    for (mode, key, seed_offset) in modes {
        let rows = RowGenerator::new(SEED + seed_offset).rows(SINGLE_CALLS, after_span, 1000.0);
        let mut baselines = Vec::new();
        if mode == Mode::Durable {
            for side in sides.iter_mut() {
                side.peer.reopen(Mode::Durable)?;
            }
            for (kind, key) in [
                (BaselineFile::Append, report::WRITE_FDATASYNC),
                (BaselineFile::Overwrite, report::OVERWRITE_FDATASYNC),
            ] {
                let file = WriteFdatasync::create(root, kind, SINGLE_CALLS)?;
                baselines.push((key, file, Vec::new()));
            }
        }
        let mut samples = vec![Vec::new(); sides.len()];
        for chunk in rows.chunks(SINGLE_CALLS.div_ceil(CHUNKS)) {
            for (side, samples) in sides.iter_mut().zip(&mut samples) {
                samples.extend(side.peer.single_calls(chunk)?);
            }
            for (_, file, samples) in &mut baselines {
                samples.extend(file.calls(chunk.len())?);
            }
        }
        for (side, samples) in sides.iter_mut().zip(samples) {
            let latency = Latency::from_samples(samples)?;
            side.figures.set_latency(key, latency);
            progress(
                started,
                format_args!(
                    "{}: W1b {mode:?} {SINGLE_CALLS} calls, {latency:?}",
                    side.name
                ),
            );
        }
        for (key, file, samples) in baselines {
            file.remove()?;
            let latency = Latency::from_samples(samples)?;
            baseline.set_latency(key, latency);
            progress(started, format_args!("baseline {key}, {latency:?}"));
        }
    }
    Ok(())
}

/// Runs durable single calls from each thread count, in rounds that alternate the thread
/// counts and the stores. The stores are in durable mode already.
fn threads(sides: &mut [Side], started: Instant) -> BenchResult<()> {
    let after_span = START_MS + (DAYS + 2) * MS_PER_DAY;
    let round = THREAD_RUN / THREAD_ROUNDS;
    let mut calls = vec![[0u64; THREAD_COUNTS.len()]; sides.len()];
    for r in 0..THREAD_ROUNDS {
        for (c, threads) in THREAD_COUNTS.into_iter().enumerate() {
            // Thread t of a round draws with seed + t, so seeds differ by 100 between rounds.
            let seed = SEED + 10_000 + 1_000 * u64::from(r) + 100 * c as u64;
            for (side, calls) in sides.iter_mut().zip(&mut calls) {
                calls[c] += side
                    .peer
                    .calls_from_threads(threads, round, seed, after_span)?;
            }
        }
    }
    for (side, calls) in sides.iter_mut().zip(calls) {
        let [one, many] = calls.map(|n| n as f64 / THREAD_RUN.as_secs_f64());
        side.figures.set(report::DURABLE_1, one);
        side.figures.set(report::DURABLE_16, many);
        side.figures.set(report::DURABLE_SCALING, many / one);
        progress(
            started,
            format_args!(
                "{}: durable calls/s, 1 thread {one:.0}, 16 threads {many:.0}",
                side.name
            ),
        );
    }
    Ok(())
}

fn car_loan(sides: &mut [Side], root: &Path, started: Instant) -> BenchResult<()> {
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/car_loan");
    let data = CarLoan::load(&data_dir)?;
    let count = data.loans.len();
    let track: [TrackCarLoan; 2] = [ours::track_car_loan, sqlite::track_car_loan];
    for (side, track) in sides.iter_mut().zip(track) {
        let dir = root.join(format!("car-loan-{}", side.name));
        std::fs::create_dir_all(&dir)?;
        let bytes = track(&dir, &data)?;
        side.figures
            .set(report::BYTES_CAR_LOAN, bytes as f64 / count as f64);
        progress(
            started,
            format_args!(
                "{}: car loan, {count} predictions and {} labels, {bytes} bytes",
                side.name,
                data.label_order.len()
            ),
        );
    }
    Ok(())
}
