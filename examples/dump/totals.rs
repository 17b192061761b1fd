//! The totals section and the closing list of problems.

use std::io::{self, Write};

use modelmetrics::manifest::Manifest;

use crate::files::{FileKind, stray_reason};
use crate::report::{Dump, ratio};
use crate::table::{Align, TextTable};

/// Groups of files in the totals.
const GROUPS: [&str; 6] = [
    "manifest",
    "lock",
    "segments",
    "index runs",
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
    let [_, _, segments, runs, logs, _] = bytes;
    write_per_prediction(dump, segments + runs, all_bytes, logs)
}

fn write_per_prediction(
    dump: &mut Dump<impl Write>,
    segment_and_index_bytes: u64,
    all_bytes: u64,
    log_bytes: u64,
) -> io::Result<()> {
    let totals = &dump.totals;
    let predictions = totals.segment_predictions + totals.log_predictions;
    let used = all_bytes - log_bytes + totals.log_bytes_used.min(log_bytes);
    let out = &mut dump.out;
    writeln!(
        out,
        "  predictions: {predictions} ({} in segments, {} in log files)",
        totals.segment_predictions, totals.log_predictions
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
        ratio(segment_and_index_bytes, totals.segment_predictions)
    )?;
    writeln!(
        out,
        "    all files, log files up to their last frame: {}",
        ratio(used, predictions)
    )?;
    writeln!(
        out,
        "    all files, log files at their allocated size: {}",
        ratio(all_bytes, predictions)
    )
}

/// Returns the index in `GROUPS` of a file.
fn group(kind: FileKind, manifest: Option<&Manifest>) -> usize {
    if stray_reason(kind, manifest).is_some() {
        return 5;
    }
    match kind {
        FileKind::Manifest => 0,
        FileKind::Lock => 1,
        FileKind::Segment(_) => 2,
        FileKind::IndexRun(_) => 3,
        FileKind::Log(_) => 4,
        _ => 5,
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
            "\nverify: OK (checked the manifest, segments: {}, index runs: {}, log files: {})",
            totals.segments_checked, totals.index_runs_checked, totals.log_files_checked
        );
    }
    let heading = if dump.verify { "verify: FAILED, " } else { "" };
    writeln!(out, "\n{heading}problems: {}", dump.problems.len())?;
    for problem in &dump.problems {
        writeln!(out, "  {}: {}", problem.file, problem.message)?;
    }
    Ok(())
}
