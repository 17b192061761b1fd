//! A model server and a monitoring job in two processes on one store.
//!
//! The command starts this program twice more, with a role as the first argument:
//!
//! - `writer`: the model server. It opens the store in `DIR/served` for writing and tracks
//!   predictions from several threads, each labeled half a second later by a labelling thread,
//!   as ground truth would arrive.
//! - `monitor`: the monitoring job. It opens `DIR/served` read-only, refreshes its view every
//!   `--refresh-ms`, scores the last complete window, prints a line per window, and stores the
//!   scores as aggregate metrics in its own store, `DIR/monitor`, because a store has one writer.
//!
//! Both stop after `--seconds`. The parent waits for them, checks their exit codes, and reads
//! the monitor's store back.
//!
//! ```text
//! cargo run --release --example serve_and_monitor -- [--seconds N] [--refresh-ms N] [--dir DIR]
//! ```
//!
//! Exit codes: 0 on success, 1 when a process or a store fails, 2 on invalid arguments.

mod monitor;
mod writer;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use modelmetrics::Store;

/// Model id of the served model's predictions and of the monitor's aggregates.
pub const MODEL: &str = "credit-v3";
/// Exit code for invalid arguments.
const EXIT_USAGE: u8 = 2;
/// Time a role may take beyond `--seconds` to start and stop before the parent kills it.
const GRACE: Duration = Duration::from_secs(30);

const USAGE: &str = "\
Usage: serve_and_monitor [--seconds N] [--refresh-ms N] [--dir DIR]

Runs a writer process that tracks predictions and their delayed labels from several threads,
and a monitor process that reads the same store read-only and stores per-window scores in its
own store. Both stop after N seconds.

Options:
  --seconds N      how long both processes run, in seconds (default 5)
  --refresh-ms N   how often the monitor refreshes and scores a window, in ms (default 1000)
  --dir DIR        directory for the two stores, new or empty, kept after the run
                   (default: a temporary directory, removed at exit)
  -h, --help       print this help and exit
";

/// Options of a run.
struct Args {
    seconds: u64,
    refresh_ms: u64,
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    env_logger::init();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("writer") => writer::run(&arguments[1..]),
        Some("monitor") => monitor::run(&arguments[1..]),
        _ => match parse_args(&arguments) {
            Ok(Some(args)) => run(&args),
            Ok(None) => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Err(message) => {
                eprintln!("serve_and_monitor: {message}\nRun with --help to list the options.");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("serve_and_monitor: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the options; returns `None` for `--help`.
fn parse_args(arguments: &[String]) -> Result<Option<Args>, String> {
    let mut args = Args {
        seconds: 5,
        refresh_ms: 1_000,
        dir: None,
    };
    let mut arguments = arguments.iter();
    while let Some(name) = arguments.next() {
        let mut value = || {
            arguments
                .next()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match name.as_str() {
            "--seconds" => args.seconds = parse_positive(name, value()?)?,
            "--refresh-ms" => args.refresh_ms = parse_positive(name, value()?)?,
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(Some(args))
}

/// Parses a whole number of at least 1 given to option `name`.
pub fn parse_positive(name: &str, text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!(
            "{name} takes a whole number of at least 1, not {text:?}"
        )),
    }
}

/// Starts both roles on the stores in `args.dir`, waits for them and reads the monitor's
/// results back.
fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let temporary;
    let root = match &args.dir {
        Some(dir) => {
            check_new_or_empty(dir)?;
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().to_path_buf()
        }
    };
    let served = root.join("served");
    let monitored = root.join("monitor");
    let seconds = args.seconds.to_string();
    let refresh_ms = args.refresh_ms.to_string();
    let served_arg = served.display().to_string();
    let monitored_arg = monitored.display().to_string();
    println!(
        "stores in {}: served/ (writer), monitor/ (monitor)",
        root.display()
    );

    let writer = start_role(&["writer", &served_arg, &seconds])?;
    let monitor = start_role(&[
        "monitor",
        &served_arg,
        &monitored_arg,
        &seconds,
        &refresh_ms,
    ])?;
    let deadline = Instant::now() + Duration::from_secs(args.seconds) + GRACE;
    let writer_ok = wait_role("writer", writer, deadline);
    let monitor_ok = wait_role("monitor", monitor, deadline);
    writer_ok?;
    monitor_ok?;

    let results = Store::open_read_only(&monitored)?;
    let windows = results.read_aggregate_metrics(MODEL, i64::MIN, i64::MAX)?;
    println!(
        "both processes exited with code 0; the monitor's store holds {} windows",
        windows.len()
    );
    if windows.is_empty() {
        return Err("the monitor stored no window".into());
    }
    Ok(())
}

fn check_new_or_empty(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(format!("--dir {}: {error}", dir.display()).into()),
    };
    if entries.next().is_some() {
        let message = format!(
            "--dir {} is not empty: pass a new or empty directory",
            dir.display()
        );
        return Err(message.into());
    }
    Ok(())
}

/// Runs this program again with `arguments`, sharing stdout and stderr.
fn start_role(arguments: &[&str]) -> Result<Child, Box<dyn Error>> {
    let program = std::env::current_exe()?;
    let child = Command::new(program).args(arguments).spawn();
    child.map_err(|e| format!("starting the {} process failed: {e}", arguments[0]).into())
}

/// Waits for `child` until `deadline`, kills it after that, and fails unless it exited with
/// code 0.
fn wait_role(role: &str, mut child: Child, deadline: Instant) -> Result<(), Box<dyn Error>> {
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            return Err(format!("the {role} process failed: {status}").into());
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Err(format!("the {role} process did not stop in time and was killed").into());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Returns the wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |d| d.as_millis() as i64)
}
