//! Prints what a modelmetrics store directory contains, rollup files and compaction state
//! included. With `--verify` it also checks every checksum.
//!
//! ```text
//! cargo run --example dump -- [--verify] [--all-frames] DIR
//! ```
//!
//! The dump only reads files: it replays nothing and writes no byte, so it can run while a
//! writer has the store open. It reads the kernel's lock table, `/proc/locks`, to tell whether
//! a writer holds `LOCK`, and never calls `Store::open`, which would take the lock and repair
//! the log. A damaged file is reported and the dump goes on with the others.
//!
//! Exit codes: 0 when no problem was found, 1 when a file is damaged or missing or DIR contains
//! no store, 2 on invalid arguments.

mod args;
mod files;
mod header;
mod index_runs;
mod lock;
mod logs;
mod report;
mod rollups;
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
/// Times the manifest is read to get a directory listing that matches it.
const MANIFEST_READS: usize = 5;

/// Reason a dump ended early.
enum Failure {
    /// DIR is missing or contains no store.
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
        // A reader such as `head` closes the pipe when it has read enough, so exit quietly.
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
    check_directory(&args.dir)?;
    let (files, manifest_bytes) = list_with_manifest(&args.dir)?;
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
    rollups::dump_rollups(&mut dump, &live.rollups)?;
    logs::dump_logs(&mut dump, &live.logs)?;
    totals::write_totals(&mut dump, manifest.as_ref())?;
    totals::write_problems(&mut dump)?;
    dump.out.flush()?;
    Ok(!dump.problems.is_empty())
}

/// Checks that `dir` exists and is a directory.
fn check_directory(dir: &Path) -> Result<(), Failure> {
    let path = dir.display();
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(Failure::NoStore(format!("{path} is not a directory"))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(Failure::NoStore(format!(
            "store directory {path} not found: check the path"
        ))),
        Err(error) => Err(Failure::NoStore(format!(
            "reading store directory {path} failed: {error}"
        ))),
    }
}

/// Lists `dir` and reads its manifest, such that the manifest did not change while the
/// directory was listed.
///
/// A writer creates the files of a flush or merge before it switches the manifest and deletes
/// the old files after. So a listing taken between two equal reads of the manifest contains
/// every file that the manifest lists. When the manifest changes between every pair of its
/// `MANIFEST_READS` reads, the dump goes on with a new listing and the last manifest read.
fn list_with_manifest(dir: &Path) -> Result<(Vec<StoreFile>, Vec<u8>), Failure> {
    let mut before = read_manifest(dir)?;
    for _ in 1..MANIFEST_READS {
        let files = list_files(dir)?;
        let after = read_manifest(dir)?;
        if after == before {
            return Ok((files, after));
        }
        before = after;
    }
    Ok((list_files(dir)?, before))
}

fn list_files(dir: &Path) -> Result<Vec<StoreFile>, Failure> {
    files::list_files(dir).map_err(|error| {
        let message = format!("listing store directory {} failed: {error}", dir.display());
        Failure::NoStore(message)
    })
}

/// Reads the bytes of `DIR/MANIFEST`, which every store has from its first open.
fn read_manifest(dir: &Path) -> Result<Vec<u8>, Failure> {
    let path = dir.join(MANIFEST_FILE);
    std::fs::read(&path).map_err(|error| {
        let message = match error.kind() {
            io::ErrorKind::NotFound => format!(
                "{} has no MANIFEST, so it contains no modelmetrics store: pass the directory \
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
    rollups: Vec<u64>,
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
                rollups: found(|kind| match kind {
                    FileKind::Rollup(id) => Some(id),
                    _ => None,
                }),
                logs,
            };
        };
        LiveFiles {
            segments: manifest.segments.clone(),
            index_runs: manifest.index_runs.clone(),
            rollups: manifest.rollups.clone(),
            logs: logs
                .into_iter()
                .filter(|&n| n >= manifest.wal_start)
                .collect(),
        }
    }
}
