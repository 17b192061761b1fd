//! Model monitoring of a car-loan classifier on the synthetic data of NannyML 0.13.1 (bundled in
//! examples/data/car_loan).
//!
//! The job replays 100,000 predictions into a store and tracks their ground truth as delayed
//! metrics, which arrive later and in another order. It then computes the ROC AUC and accuracy
//! of each calendar month as aggregate metrics, and prints them with the store's size and
//! timings.
//!
//! ```text
//! cargo run --release --example car_loan -- [--dir DIR] [--data DIR] [--json]
//! ```
//!
//! Exit codes: 0 on success, 1 when the data or the store fails, 2 on invalid arguments.

mod args;
mod calendar;
mod csv;
mod evaluate;
mod ingest;
mod job;
mod report;

use std::error::Error;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use modelmetrics::Store;
use tempfile::TempDir;

use crate::args::{Args, Command};
use crate::calendar::Month;
use crate::csv::LoanPrediction;
use crate::report::{MonthRow, Summary};

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
    let months = data_months(&predictions);

    let store = Store::open(&dir)?;
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
    job::evaluate_months(&store, &months)?;
    let job_seconds = started.elapsed().as_secs_f64();

    let rows = read_month_rows(&store, &months)?;
    store.close()?;
    let summary = Summary {
        predictions: predictions.len(),
        store_bytes: dir_size(&dir)?,
        ingest_seconds,
        job_seconds,
    };
    print_report(&rows, &summary, args.json)?;
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

/// Returns every month from the first prediction's to the last one's.
fn data_months(sorted_predictions: &[LoanPrediction]) -> Vec<Month> {
    match (sorted_predictions.first(), sorted_predictions.last()) {
        (Some(first), Some(last)) => Month::span(first.timestamp_ms, last.timestamp_ms),
        _ => Vec::new(),
    }
}

fn read_month_rows(store: &Store, months: &[Month]) -> Result<Vec<MonthRow>, Box<dyn Error>> {
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let aggregates =
        store.read_aggregate_metrics(ingest::MODEL, first.start_ms(), last.next().start_ms())?;
    let mut rows: Vec<MonthRow> = aggregates.iter().map(MonthRow::from_aggregate).collect();
    rows.sort_by_key(|row| row.month);
    Ok(rows)
}

/// Returns the total size of the files under `dir`, in bytes.
fn dir_size(dir: &Path) -> Result<u64, Box<dyn Error>> {
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

fn print_report(rows: &[MonthRow], summary: &Summary, json: bool) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    if json {
        report::write_json_rows(&mut out, rows)?;
        report::write_summary_json(&mut out, summary)?;
    } else {
        report::write_table(&mut out, rows)?;
        report::write_summary_text(&mut out, summary)?;
    }
    out.flush()
}
