//! Model monitoring of a car-loan classifier on the synthetic data of NannyML 0.13.1 (bundled in
//! examples/data/car_loan).
//!
//! The program replays 100,000 predictions into a store and tracks their ground truth as delayed
//! metrics, which arrive later and in another order. It then runs a monitoring job
//! (`modelmetrics::jobs`) over each calendar month: ROC AUC and accuracy, and drift of the
//! features and the score against the reference period. The job stores its figures as
//! aggregate metrics. The program reads them back, prints them with the store's size and
//! timings, and can draw them as an SVG chart.
//!
//! ```text
//! cargo run --release --example car_loan -- [--dir DIR] [--data DIR] [--json] [--plot FILE]
//!     [--drift-threshold X] [--psi-threshold X]
//!     [--downsample-reference [--rollup-interval INTERVAL]]
//! ```
//!
//! With `--downsample-reference` the store is opened with a retention policy, and compacted
//! after the job, which replaces the predictions of the reference months by rollups. The
//! program then compares the figures of those months estimated from the rollups with the
//! exact ones that the job stored.
//!
//! Exit codes: 0 on success, 1 when the data or the store fails, 2 on invalid arguments.

mod args;
mod calendar;
mod csv;
mod downsample;
mod drift;
mod ingest;
mod job;
mod plot;
mod report;
mod rollup_report;

use std::error::Error;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use modelmetrics::Store;
use modelmetrics::jobs::{JobConfig, Window};
use tempfile::TempDir;

use crate::args::{Args, Command, Thresholds};
use crate::csv::LoanPrediction;
use crate::downsample::Downsampled;
use crate::drift::MonthRow;
use crate::report::Summary;

/// Exit code for invalid arguments.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    env_logger::init();
    let args = match args::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("car_loan: {message}\nRun with --help to list the options.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("car_loan: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    // The temporary directory, if any, lives until the end of this function.
    let (dir, _temporary) = store_dir(args.dir.as_deref())?;
    let predictions = load(&args.data)?;
    let timestamps: Vec<i64> = predictions.iter().map(|p| p.timestamp_ms).collect();
    job::check_reference_covered(&timestamps, &args.data)?;
    let config = job_config(&predictions)?;

    let store = open_store(&dir, args, &predictions)?;
    let started = Instant::now();
    let uuids = ingest::track_predictions(&store, &predictions)?;
    let labels = ingest::track_ground_truth(&store, &predictions, &uuids)?;
    store.flush()?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "tracked {} predictions and {labels} labels in {ingest_seconds:.2} s",
        uuids.len()
    );

    let started = Instant::now();
    let (job, _reports) = job::run_months(&store, config)?;
    let job_seconds = started.elapsed().as_secs_f64();

    let rows = read_month_rows(&store, job.config())?;
    let downsampled = match args.downsample {
        Some(interval) => Some(downsample::compact_and_estimate(
            &store,
            &dir,
            interval,
            job.config(),
            &rows,
        )?),
        None => None,
    };
    store.close()?;
    let summary = Summary {
        predictions: predictions.len(),
        reference_predictions: job.reference_rows(),
        reference: job
            .config()
            .reference()
            .map_or_else(String::new, |w| w.to_string()),
        store_bytes: dir_size(&dir)?,
        ingest_seconds,
        job_seconds,
    };
    print_report(&rows, &summary, downsampled.as_ref(), args)?;
    if let Some(path) = &args.plot {
        let subtitle = format!("drift against the reference {}", summary.reference);
        write_plot(path, &rows, args.thresholds, &subtitle)?;
        eprintln!("wrote the chart to {}", path.display());
    }
    Ok(())
}

/// Returns the store directory and, when the caller gave none, the temporary directory that
/// owns it. A given directory must be new or empty, so that the store contains this run alone.
fn store_dir(dir: Option<&Path>) -> Result<(PathBuf, Option<TempDir>), Box<dyn Error>> {
    let Some(dir) = dir else {
        let temporary = tempfile::Builder::new().prefix("car_loan-").tempdir()?;
        return Ok((temporary.path().to_path_buf(), Some(temporary)));
    };
    let describe = |e: io::Error| {
        format!(
            "failed to create or list store directory {}: {e}",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(describe)?;
    if std::fs::read_dir(dir).map_err(describe)?.next().is_some() {
        let message = format!(
            "store directory {} is not empty: pass a new or empty directory to --dir",
            dir.display()
        );
        return Err(message.into());
    }
    Ok((dir.to_path_buf(), None))
}

/// Opens the store, with the retention policy of `--downsample-reference` when it is set.
fn open_store(
    dir: &Path,
    args: &Args,
    sorted_predictions: &[LoanPrediction],
) -> Result<Store, Box<dyn Error>> {
    let Some(interval) = args.downsample else {
        return Ok(Store::open(dir)?);
    };
    let newest_ms = sorted_predictions
        .last()
        .map_or(i64::MIN, |prediction| prediction.timestamp_ms);
    let options = downsample::options(newest_ms, interval)?;
    Ok(Store::open_with(dir, options)?)
}

/// Loads the data and sorts the predictions by timestamp, then id, the order of replay.
fn load(data_dir: &Path) -> Result<Vec<LoanPrediction>, Box<dyn Error>> {
    let started = Instant::now();
    let mut predictions = csv::load_car_loan(data_dir)?;
    if predictions.is_empty() {
        return Err(format!("no predictions in {}", data_dir.display()).into());
    }
    predictions.sort_by_key(|prediction| (prediction.timestamp_ms, prediction.id));
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("loaded {} predictions in {seconds:.2} s", predictions.len());
    Ok(predictions)
}

/// Returns the configuration of the monthly job over every month of the data.
fn job_config(sorted_predictions: &[LoanPrediction]) -> Result<JobConfig, Box<dyn Error>> {
    let (Some(first), Some(last)) = (sorted_predictions.first(), sorted_predictions.last()) else {
        return Err("no predictions to run the job over".into());
    };
    Ok(job::config(first.timestamp_ms, last.timestamp_ms)?)
}

/// Reads back the aggregate metrics that the job stored for each month of its range.
fn read_month_rows(store: &Store, config: &JobConfig) -> Result<Vec<MonthRow>, Box<dyn Error>> {
    let windows: Vec<Window> = config.windows().collect();
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Ok(Vec::new());
    };
    let aggregates = store.read_aggregate_metrics(config.model(), first.start_ms, last.end_ms)?;
    let drift_names: Vec<String> = config
        .figure_names()
        .into_iter()
        .filter(|name| name.contains(':'))
        .collect();
    let scheme = config.scheme();
    let rows = aggregates
        .iter()
        .filter(|aggregate| {
            let window = Window {
                start_ms: aggregate.start_ms,
                end_ms: aggregate.end_ms,
            };
            scheme.is_window(window)
        })
        .map(|aggregate| {
            let name = scheme.window_name(aggregate.start_ms);
            MonthRow::from_aggregate(aggregate, name, &drift_names)
        })
        .collect();
    Ok(rows)
}

/// Returns the total size of the files under `dir`, in bytes.
pub fn dir_size(dir: &Path) -> Result<u64, Box<dyn Error>> {
    let describe =
        |e: io::Error| format!("failed to measure store directory {}: {e}", dir.display());
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(describe)? {
            let entry = entry.map_err(describe)?;
            let metadata = entry.metadata().map_err(describe)?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

fn print_report(
    rows: &[MonthRow],
    summary: &Summary,
    downsampled: Option<&Downsampled>,
    args: &Args,
) -> io::Result<()> {
    let thresholds = args.thresholds;
    let flagged_months = rows
        .iter()
        .filter(|row| !row.flagged(thresholds).is_empty())
        .count();
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        report::write_json_rows(&mut out, rows, thresholds, downsampled)?;
        report::write_summary_json(&mut out, summary, flagged_months, downsampled)?;
    } else {
        report::write_table(&mut out, rows, thresholds)?;
        report::write_flagged(&mut out, rows, thresholds)?;
        report::write_legend(&mut out, summary, thresholds)?;
        report::write_summary_text(&mut out, summary, flagged_months)?;
        if let Some(downsampled) = downsampled {
            rollup_report::write_text(&mut out, downsampled, summary.predictions)?;
        }
    }
    out.flush()
}

fn write_plot(
    path: &Path,
    rows: &[MonthRow],
    thresholds: Thresholds,
    subtitle: &str,
) -> Result<(), String> {
    let describe = |e: io::Error| format!("failed to write the chart {}: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(describe)?;
    }
    let file = std::fs::File::create(path).map_err(describe)?;
    let mut out = BufWriter::new(file);
    plot::write_svg(&mut out, rows, thresholds, subtitle).map_err(describe)?;
    out.flush().map_err(describe)
}
