//! Side-by-side benchmark of modelmetrics and SQLite in one process on one generated workload.
//!
//! Each phase runs on modelmetrics, then on SQLite, and the run ends with a markdown table of
//! both stores, their ratio and the targets. docs/benchmarks.md describes the workload and
//! records results.
//!
//! Environment:
//! - `MM_BENCH_PREDICTIONS`: predictions of W1 (default 1,000,000), still over 7 days.
//! - `MM_BENCH_DIR`: directory for the stores' temporary directory (default: the system's).
//! - `MM_BENCH_RESULTS`: file to write this run's figures to, as `store,key,value` lines.
//! - `MM_BENCH_SUMMARIZE`: comma-separated result files; prints the median table of those
//!   runs and measures nothing.
//! - `MM_BENCH_READS_ONLY`: when set, runs W1 to W3 on modelmetrics alone and prints no table,
//!   so that a profile of the full-size reads contains no SQLite work.

#[path = "vs_sqlite/car_loan.rs"]
mod car_loan;
#[path = "vs_sqlite/measure.rs"]
mod measure;
#[path = "vs_sqlite/ours.rs"]
mod ours;
#[path = "vs_sqlite/peer.rs"]
mod peer;
#[path = "vs_sqlite/phases.rs"]
mod phases;
#[path = "vs_sqlite/report.rs"]
mod report;
#[path = "vs_sqlite/sqlite.rs"]
mod sqlite;
#[path = "vs_sqlite/workload.rs"]
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use measure::BenchResult;

const DEFAULT_PREDICTIONS: usize = 1_000_000;

struct Config {
    predictions: usize,
    dir: Option<PathBuf>,
    results: Option<PathBuf>,
    summarize: Option<Vec<PathBuf>>,
    reads_only: bool,
}

impl Config {
    fn from_env() -> BenchResult<Config> {
        let predictions = match std::env::var("MM_BENCH_PREDICTIONS") {
            Ok(text) => text.replace(['_', ','], "").parse().map_err(|e| {
                format!("MM_BENCH_PREDICTIONS={text:?} is not a count of predictions: {e}")
            })?,
            Err(_) => DEFAULT_PREDICTIONS,
        };
        if predictions < 1000 {
            return Err(format!("MM_BENCH_PREDICTIONS={predictions}: use at least 1000").into());
        }
        let path = |name: &str| std::env::var_os(name).map(PathBuf::from);
        let summarize = std::env::var("MM_BENCH_SUMMARIZE")
            .ok()
            .map(|list| list.split(',').map(PathBuf::from).collect());
        Ok(Config {
            predictions,
            dir: path("MM_BENCH_DIR"),
            results: path("MM_BENCH_RESULTS"),
            summarize,
            reads_only: std::env::var_os("MM_BENCH_READS_ONLY").is_some(),
        })
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this bench takes its settings from the environment.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vs_sqlite failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BenchResult<()> {
    let config = Config::from_env()?;
    if let Some(files) = &config.summarize {
        return report::summarize(files);
    }
    measure::self_check()?;
    let started = Instant::now();
    let root = match &config.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    if config.reads_only {
        return phases::reads_alone(root.path(), config.predictions);
    }
    let results = phases::run_all(root.path(), config.predictions)?;
    let elapsed = started.elapsed();
    if let Some(path) = &config.results {
        results.write_csv(path)?;
    }
    println!(
        "modelmetrics vs SQLite {}, {} predictions, run took {:.0} s\n\n{}",
        rusqlite::version(),
        config.predictions,
        elapsed.as_secs_f64(),
        report::table(&results)
    );
    Ok(())
}
