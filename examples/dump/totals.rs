//! The totals section and the closing list of problems.

use std::io::{self, Write};

use modelmetrics::manifest::Manifest;

use crate::files::{FileKind, stray_reason};
use crate::report::{Dump, ratio};
use crate::table::{Align, TextTable};

/// Groups of files in the totals.
const GROUPS: [&str; 7] = [
    "manifest",
    "lock",
    "segments",
    "index runs",
    "rollup files",
    "log files",
    "stray files",
];

/// Prints the bytes on disk by kind of file, and bytes per prediction.
pub fn write_totals(dump: &mut Dump<impl Write>, manifest: Option<&Manifest>) -> io::Result<()> {
    let mut files = [0u64; GROUPS.len()];
    let mut bytes = [0u64; GROUPS.len()];
    for file in &dump.files {
        let group = group(file.kind, manifest);
        files[group] += 1;
        bytes[group] += file.bytes;
    }
    writeln!(dump.out, "\ntotals:")?;
    let mut table = TextTable::new(&[
        ("kind", Align::Left),
        ("files", Align::Right),
        ("bytes", Align::Right),
    ]);
    for (i, name) in GROUPS.iter().enumerate() {
        table.push(vec![
            name.to_string(),
            files[i].to_string(),
            bytes[i].to_string(),
        ]);
    }
    let all_bytes: u64 = bytes.iter().sum();
    table.push(vec![
        "all".to_owned(),
        dump.files.len().to_string(),
        all_bytes.to_string(),
    ]);
    table.write(&mut dump.out, "  ")?;
    let [_, _, segments, runs, rollups, logs, _] = bytes;
    let by_kind = KindBytes {
        segments_and_index_runs: segments + runs,
        rollups,
        logs,
        all: all_bytes,
    };
    write_per_prediction(dump, &by_kind)
}

/// Bytes of the files that the store uses, by kind, and of every file.
struct KindBytes {
    segments_and_index_runs: u64,
    rollups: u64,
    logs: u64,
    all: u64,
}

fn write_per_prediction(dump: &mut Dump<impl Write>, bytes: &KindBytes) -> io::Result<()> {
    let totals = &dump.totals;
    let predictions =
        totals.segment_predictions + totals.log_predictions + totals.rollup_predictions;
    let used = bytes.all - bytes.logs + totals.log_bytes_used.min(bytes.logs);
    let out = &mut dump.out;
    writeln!(
        out,
        "  predictions: {predictions} ({} in segments, {} in log files, {} in rollups)",
        totals.segment_predictions, totals.log_predictions, totals.rollup_predictions
    )?;
    let orphans = totals.orphans.len();
    let late = totals
        .orphans
        .iter()
        .filter(|(_, rolled_up)| *rolled_up)
        .count();
    writeln!(
        out,
        "  orphaned delayed rows in segments: {orphans}, {late} of them for rolled-up \
         predictions (the filters also match about 1 in 100 other UUIDs)"
    )?;
    writeln!(
        out,
        "  log files: {} bytes up to the end of their last frame, the rest is preallocated zeros",
        totals.log_bytes_used
    )?;
    writeln!(out, "  bytes per prediction:")?;
    writeln!(
        out,
        "    segments and index runs, per prediction in segments: {}",
        ratio(bytes.segments_and_index_runs, totals.segment_predictions)
    )?;
    writeln!(
        out,
        "    rollup files, per prediction in rollups: {}",
        ratio(bytes.rollups, totals.rollup_predictions)
    )?;
    writeln!(
        out,
        "    all files, log files up to their last frame: {}",
        ratio(used, predictions)
    )?;
    writeln!(
        out,
        "    all files, log files at their allocated size: {}",
        ratio(bytes.all, predictions)
    )
}

/// Returns the index in `GROUPS` of a file.
fn group(kind: FileKind, manifest: Option<&Manifest>) -> usize {
    const STRAY: usize = GROUPS.len() - 1;
    if stray_reason(kind, manifest).is_some() {
        return STRAY;
    }
    match kind {
        FileKind::Manifest => 0,
        FileKind::Lock => 1,
        FileKind::Segment(_) => 2,
        FileKind::IndexRun(_) => 3,
        FileKind::Rollup(_) => 4,
        FileKind::Log(_) => 5,
        _ => STRAY,
    }
}

/// Prints the problems found, or that there were none. With `--verify` a clean store ends
/// with a line `verify: OK`.
pub fn write_problems(dump: &mut Dump<impl Write>) -> io::Result<()> {
    let totals = &dump.totals;
    let out = &mut dump.out;
    if dump.problems.is_empty() {
        if !dump.verify {
            return writeln!(
                out,
                "\nproblems: none found; --verify also decodes every block and index page"
            );
        }
        return writeln!(
            out,
            "\nverify: OK (checked the manifest, segments: {}, index runs: {}, rollup files: {}, \
             log files: {})",
            totals.segments_checked,
            totals.index_runs_checked,
            totals.rollup_files_checked,
            totals.log_files_checked
        );
    }
    let heading = if dump.verify { "verify: FAILED, " } else { "" };
    writeln!(out, "\n{heading}problems: {}", dump.problems.len())?;
    for problem in &dump.problems {
        writeln!(out, "  {}: {}", problem.file, problem.message)?;
    }
    Ok(())
}
