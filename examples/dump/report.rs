//! The state of one dump: where it prints, the files it listed, the problems and totals found.

use std::io::{self, Write};
use std::path::PathBuf;

use modelmetrics::Error;

use crate::files::StoreFile;

/// A damaged, missing or unreadable file, or another inconsistency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// File name inside the store directory.
    pub file: String,
    pub message: String,
}

/// Counts that the totals section prints.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub segment_predictions: u64,
    pub log_predictions: u64,
    /// Predictions that the rollups of the rollup files count.
    pub rollup_predictions: u64,
    /// Bytes of log files up to the end of their last frame, without the preallocated zeros.
    pub log_bytes_used: u64,
    pub segments_checked: u64,
    pub index_runs_checked: u64,
    pub rollup_files_checked: u64,
    pub log_files_checked: u64,
    /// UUIDs of the orphaned delayed rows of the segments, and whether a rolled-up filter of a
    /// rollup file contains each.
    pub orphans: Vec<(modelmetrics::Uuid, bool)>,
}

/// One dump of a store directory.
pub struct Dump<W: Write> {
    pub dir: PathBuf,
    pub verify: bool,
    pub all_frames: bool,
    pub out: W,
    /// The directory's entries when the dump started.
    pub files: Vec<StoreFile>,
    pub problems: Vec<Problem>,
    pub totals: Totals,
}

impl<W: Write> Dump<W> {
    /// Returns true when the directory listing taken at the start contains `name`.
    pub fn was_listed(&self, name: &str) -> bool {
        self.files.iter().any(|file| file.name == name)
    }

    /// Records a problem with `file` and prints it on its own indented line.
    pub fn problem(&mut self, file: &str, message: String) -> io::Result<()> {
        writeln!(self.out, "  PROBLEM: {file}: {message}")?;
        self.problems.push(Problem {
            file: file.to_owned(),
            message,
        });
        Ok(())
    }

    /// Reports an error of opening or reading `file`. A file that the directory listing held
    /// and that is gone now was removed by a writer (a flush trims the log, a merge replaces
    /// index runs, a compaction replaces segments and rollup files), which is no damage, so it
    /// is only noted.
    pub fn file_error(&mut self, file: &str, error: &Error) -> io::Result<()> {
        if self.was_listed(file) && is_not_found(error) {
            return writeln!(
                self.out,
                "  note: {file} was removed after the dump listed the directory: a writer \
                 flushed, merged or compacted meanwhile"
            );
        }
        self.problem(file, describe_error(error))
    }

    /// Records that the manifest lists `file` but the directory does not hold it.
    pub fn missing(&mut self, file: &str) -> io::Result<()> {
        let message = "missing: the manifest lists it but the directory does not hold it";
        self.problem(file, message.to_owned())
    }
}

/// Describes an error without repeating the file's path: the offset and reason of a
/// corruption, the message of any other error.
pub fn describe_error(error: &Error) -> String {
    match error {
        Error::Corruption { offset, reason, .. } => {
            format!("damaged at offset {offset}: {reason}")
        }
        other => other.to_string(),
    }
}

fn is_not_found(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Formats `numerator / denominator` with two decimals, or `-` when the denominator is 0.
pub fn ratio(numerator: u64, denominator: u64) -> String {
    if denominator == 0 {
        return "-".to_owned();
    }
    format!("{:.2}", numerator as f64 / denominator as f64)
}
