//! Prints what a modelmetrics store directory holds, and with `--verify` checks every checksum.
//!
//! ```text
//! cargo run --example dump -- [--verify] [--all-frames] DIR
//! ```
//!
//! The dump only reads files: it takes no lock, replays nothing and writes no byte, so it can
//! run while a writer has the store open. It never calls `Store::open`, which would take the
//! lock and repair the log. A damaged file is reported and the dump goes on with the others.
//!
//! Exit codes: 0 when no problem was found, 1 when a file is damaged or missing or DIR holds
//! no store, 2 on invalid arguments.

mod args;
mod files;
mod header;
mod index_runs;
mod logs;
mod report;
mod segments;
mod table;
mod time;
mod totals;

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use modelmetrics::manifest::Manifest;

use crate::args::{Args, Command};
use crate::files::{FileKind, MANIFEST_FILE, StoreFile};
use crate::report::{Dump, Totals};

/// Exit code for invalid arguments.
const EXIT_USAGE: u8 = 2;

/// Why a dump ended early.
enum Failure {
    /// DIR is missing or holds no store.
    NoStore(String),
    /// Writing to standard output failed.
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Output(error)
    }
}

fn main() -> ExitCode {
    let args = match args::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Dump(args)) => args,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dump: {message}\nRun with --help to list the options.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&args) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::FAILURE,
        Err(Failure::NoStore(message)) => {
            eprintln!("dump: {message}");
            ExitCode::FAILURE
        }
        // A reader such as `head` that stops early closes the pipe: nothing left to say.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::FAILURE
        }
        Err(Failure::Output(error)) => {
            eprintln!("dump: writing to standard output failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Dumps the store in `args.dir` to standard output. Returns true when a problem was found.
fn run(args: &Args) -> Result<bool, Failure> {
    let files = list_store(&args.dir)?;
    let manifest_bytes = read_manifest(&args.dir)?;
    let mut dump = Dump {
        dir: args.dir.clone(),
        verify: args.verify,
        all_frames: args.all_frames,
        out: BufWriter::new(io::stdout().lock()),
        files,
        problems: Vec::new(),
        totals: Totals::default(),
    };
    let manifest = header::write_header(&mut dump, &manifest_bytes)?;
    let live = LiveFiles::new(&dump.files, manifest.as_ref());
    segments::dump_segments(&mut dump, &live.segments)?;
    index_runs::dump_index_runs(&mut dump, &live.index_runs)?;
    logs::dump_logs(&mut dump, &live.logs)?;
    totals::write_totals(&mut dump, manifest.as_ref())?;
    totals::write_problems(&mut dump)?;
    dump.out.flush()?;
    Ok(!dump.problems.is_empty())
}

/// Lists `dir`, or explains why it holds no store.
fn list_store(dir: &Path) -> Result<Vec<StoreFile>, Failure> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(Failure::NoStore(format!("{shown} is not a directory"))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let message = format!("store directory {shown} not found: check the path");
            return Err(Failure::NoStore(message));
        }
        Err(error) => {
            let message = format!("reading store directory {shown} failed: {error}");
            return Err(Failure::NoStore(message));
        }
    }
    files::list_files(dir).map_err(|error| {
        Failure::NoStore(format!("listing store directory {shown} failed: {error}"))
    })
}

/// Reads the bytes of `DIR/MANIFEST`, which every store has from its first open.
fn read_manifest(dir: &Path) -> Result<Vec<u8>, Failure> {
    let path = dir.join(MANIFEST_FILE);
    std::fs::read(&path).map_err(|error| {
        let message = match error.kind() {
            io::ErrorKind::NotFound => format!(
                "{} has no MANIFEST, so it holds no modelmetrics store: pass the directory \
                 that a Store was opened in",
                dir.display()
            ),
            _ => format!("reading {} failed: {error}", path.display()),
        };
        Failure::NoStore(message)
    })
}

/// The ids of the files to dump: those the manifest lists, or every one found when the
/// manifest is damaged.
struct LiveFiles {
    segments: Vec<u64>,
    index_runs: Vec<u64>,
    /// Log files numbered `wal_start` and up, ascending.
    logs: Vec<u64>,
}

impl LiveFiles {
    fn new(files: &[StoreFile], manifest: Option<&Manifest>) -> LiveFiles {
        let found = |pick: fn(FileKind) -> Option<u64>| -> Vec<u64> {
            let mut ids: Vec<u64> = files.iter().filter_map(|file| pick(file.kind)).collect();
            ids.sort_unstable();
            ids
        };
        let logs = found(|kind| match kind {
            FileKind::Log(number) => Some(number),
            _ => None,
        });
        let Some(manifest) = manifest else {
            return LiveFiles {
                segments: found(|kind| match kind {
                    FileKind::Segment(id) => Some(id),
                    _ => None,
                }),
                index_runs: found(|kind| match kind {
                    FileKind::IndexRun(id) => Some(id),
                    _ => None,
                }),
                logs,
            };
        };
        LiveFiles {
            segments: manifest.segments.clone(),
            index_runs: manifest.index_runs.clone(),
            logs: logs
                .into_iter()
                .filter(|&n| n >= manifest.wal_start)
                .collect(),
        }
    }
}
