//! The write-ahead log sections: the header, the frames and the end of each log file.

use std::io::{self, Write};

use modelmetrics::Error;
use modelmetrics::wal::{FileContents, FileEnd, FrameInfo, read_file, wal_file_name};

use crate::report::Dump;
use crate::table::{Align, TextTable};

/// Frames listed from the start of a file unless `--all-frames` is given.
const FIRST_FRAMES: usize = 20;
/// Frames listed from the end of a file unless `--all-frames` is given.
const LAST_FRAMES: usize = 5;

/// Prints each log file of `numbers` (ascending) and checks that no number is missing between
/// them. Every frame is decoded, with or without `--verify`.
pub fn dump_logs(dump: &mut Dump<impl Write>, numbers: &[u64]) -> io::Result<()> {
    writeln!(dump.out, "\nlog files: {}", numbers.len())?;
    for pair in numbers.windows(2) {
        if let [before, after] = *pair
            && after > before + 1
        {
            let message = format!(
                "missing: log files {} to {} are absent between two live log files, which \
                 must have consecutive numbers",
                before + 1,
                after - 1
            );
            dump.problem(&wal_file_name(before + 1), message)?;
        }
    }
    for (i, &number) in numbers.iter().enumerate() {
        dump_log(dump, number, i + 1 == numbers.len())?;
    }
    Ok(())
}

fn dump_log(dump: &mut Dump<impl Write>, number: u64, newest: bool) -> io::Result<()> {
    let name = wal_file_name(number);
    let bytes = file_bytes(dump, &name);
    writeln!(dump.out, "\nlog file {number}: {name}, {bytes} bytes")?;

    let contents = match read_file(&dump.dir.join(&name)) {
        Ok(contents) => contents,
        Err(error) => {
            dump.file_error(&name, &error)?;
            if newest && matches!(error, Error::Corruption { .. }) {
                write_newest_note(&mut dump.out)?;
            }
            return Ok(());
        }
    };
    dump.totals.log_files_checked += 1;

    let header = contents.header;
    writeln!(
        dump.out,
        "  header: format version {}, file number {}",
        header.version, header.number
    )?;
    if header.number != number {
        let message = format!("the header names file number {}", header.number);
        dump.problem(&name, message)?;
    }

    write_frame_summary(&mut dump.out, &contents.frames)?;
    write_frames(&mut dump.out, &contents.frames, dump.all_frames)?;
    dump.totals.log_predictions += contents
        .frames
        .iter()
        .map(|f| f.predictions as u64)
        .sum::<u64>();
    write_end(dump, &name, &contents, bytes, newest)
}

fn file_bytes(dump: &Dump<impl Write>, name: &str) -> u64 {
    let file = dump.files.iter().find(|file| file.name == name);
    file.map_or(0, |file| file.bytes)
}

fn write_frame_summary(out: &mut impl Write, frames: &[FrameInfo]) -> io::Result<()> {
    let sum = |count: fn(&FrameInfo) -> usize| frames.iter().map(count).sum::<usize>();
    let kinds = kinds(
        sum(|f| f.predictions),
        sum(|f| f.delayed),
        sum(|f| f.aggregates),
    );
    let min = frames.iter().filter_map(|f| f.min_seq).min();
    let max = frames.iter().filter_map(|f| f.max_seq).max();
    writeln!(
        out,
        "  frames: {}, records: {} ({kinds}), seq: {}",
        frames.len(),
        sum(|f| f.records),
        seq_range(min, max)
    )
}

fn write_frames(out: &mut impl Write, frames: &[FrameInfo], all: bool) -> io::Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let mut table = TextTable::new(&[
        ("frame", Align::Right),
        ("offset", Align::Right),
        ("payload bytes", Align::Right),
        ("records", Align::Right),
        ("seq", Align::Left),
        ("kinds", Align::Left),
    ]);
    let elide = !all && frames.len() > FIRST_FRAMES + LAST_FRAMES;
    let skipped = frames.len().saturating_sub(FIRST_FRAMES + LAST_FRAMES);
    for (i, frame) in frames.iter().enumerate() {
        if elide && i == FIRST_FRAMES {
            table.push_note(format!(
                "... {skipped} frames not listed; --all-frames lists every frame"
            ));
        }
        if elide && (FIRST_FRAMES..FIRST_FRAMES + skipped).contains(&i) {
            continue;
        }
        table.push(vec![
            i.to_string(),
            frame.offset.to_string(),
            frame.payload_len.to_string(),
            frame.records.to_string(),
            seq_range(frame.min_seq, frame.max_seq),
            kinds(frame.predictions, frame.delayed, frame.aggregates),
        ]);
    }
    table.write(out, "    ")
}

fn write_end(
    dump: &mut Dump<impl Write>,
    name: &str,
    contents: &FileContents,
    bytes: u64,
    newest: bool,
) -> io::Result<()> {
    match &contents.end {
        FileEnd::Clean { offset } => {
            dump.totals.log_bytes_used += offset;
            writeln!(
                dump.out,
                "  end: clean at offset {offset}, then {} bytes of zeros",
                bytes.saturating_sub(*offset)
            )
        }
        FileEnd::Damaged { offset, reason } => {
            dump.totals.log_bytes_used += offset;
            writeln!(dump.out, "  end: damaged at offset {offset}")?;
            dump.problem(name, format!("damaged at offset {offset}: {reason}"))?;
            if newest {
                write_newest_note(&mut dump.out)?;
            }
            Ok(())
        }
    }
}

/// Explains damage in the newest log file, which need not be damage to synced data.
fn write_newest_note(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "  note: damage in the newest log file is what a crash during a write leaves, and the \
         next open zeroes it (or removes the file when its header is damaged). While a writer \
         has the store open, a file or frame being written can look damaged too: run the dump \
         again to tell."
    )
}

fn seq_range(min: Option<u64>, max: Option<u64>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{min} .. {max}"),
        _ => "-".to_owned(),
    }
}

/// Lists the record counts by kind, leaving out kinds with no record.
fn kinds(predictions: usize, delayed: usize, aggregates: usize) -> String {
    let counts = [
        ("predictions", predictions),
        ("delayed", delayed),
        ("aggregates", aggregates),
    ];
    let listed: Vec<String> = counts
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    match listed.is_empty() {
        true => "none".to_owned(),
        false => listed.join(", "),
    }
}
