//! Replay of the log when it is opened, and the read-only view of one file that `dump` prints.
//!
//! Open reads the live files in order and stops at the first frame that fails its checksum or
//! its decoding. When no later file contains a valid frame, that frame is a torn write. The
//! bytes from it on are zeroed, the later files are removed, and appends go on right after the
//! last valid frame. A damaged frame or header followed by a later file with valid frames is
//! damage to synced data and fails the open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::LogFile;
use super::format::{FORMAT_VERSION, parse_header, read_frame};
use super::format::{FileHeader, FrameStep, HEADER_LEN, HeaderError, last_nonzero};
use super::payload::decode_records;
use super::{LogPosition, ReplayStats, Wal, wal_file_name};
use crate::error::{Error, IoContext, Result};
use crate::io::StoreIo;
use crate::record::{LogRecord, Seq};

/// Frames of one file up to the first that is not valid.
pub(crate) struct Scan {
    pub frames: u64,
    /// Offset after the last valid frame.
    pub end: usize,
    /// Why the bytes at `end` are not a clean end of the file: zeros up to its last byte.
    pub damage: Option<String>,
}

/// Outcome of `visit` for one frame: `Err` stops the scan (for example a failed callback),
/// `Ok(Err(reason))` marks the frame as damaged.
pub(crate) type Visit = Result<std::result::Result<(), String>>;

/// Walks the frames of `bytes`, a whole file whose header was checked, and calls `visit` with
/// the offset and payload of each frame whose checksum matches.
pub(crate) fn scan_frames(
    bytes: &[u8],
    mut visit: impl FnMut(usize, &[u8]) -> Visit,
) -> Result<Scan> {
    let mut frames = 0;
    let mut offset = HEADER_LEN;
    loop {
        let damage = match read_frame(bytes, offset) {
            FrameStep::Frame { payload, next } => match visit(offset, payload)? {
                Ok(()) => {
                    frames += 1;
                    offset = next;
                    continue;
                }
                Err(reason) => Some(reason),
            },
            FrameStep::Damaged(reason) => Some(reason),
            FrameStep::End => check_zero_tail(bytes, offset),
        };
        return Ok(Scan {
            frames,
            end: offset,
            damage,
        });
    }
}

/// Returns why the bytes from `end` on are not all zero, if they are not.
fn check_zero_tail(bytes: &[u8], end: usize) -> Option<String> {
    let tail = bytes.get(end..)?;
    let last = last_nonzero(tail)?;
    Some(format!(
        "bytes after the last frame are not zero, up to offset {}",
        end + last
    ))
}

/// One live file as open found it.
struct FoundFile {
    path: PathBuf,
    /// `None` when the file is too short to hold a header.
    log: Option<LogFile>,
    /// The frames, or the header damage with `end` 0.
    scan: Scan,
}

/// The state that open leaves for the writer.
pub(crate) struct Recovered {
    /// Last file with valid frames, with its write offset set after the last of them.
    pub active: Option<LogFile>,
    pub next_number: u64,
    pub end: LogPosition,
    pub stats: ReplayStats,
}

/// Replays the files numbered `first_live_file` and up, repairs a torn tail, and makes the
/// replayed files durable.
pub(crate) fn recover(
    dir: &Path,
    first_live_file: u64,
    io: &Arc<dyn StoreIo>,
    on_batch: &mut dyn FnMut(Vec<LogRecord>) -> Result<()>,
) -> Result<Recovered> {
    let mut files = Vec::new();
    for number in live_numbers(dir, first_live_file)? {
        files.push(inspect(dir, number, io)?);
    }
    let tail = files.iter().rposition(|f| f.scan.frames > 0);
    let replayed_len = tail.map_or(0, |t| t + 1);
    let (replayed, trailing) = files.split_at_mut(replayed_len);
    check_before_tail(replayed)?;

    let mut stats = ReplayStats {
        files: replayed.len(),
        ..ReplayStats::default()
    };
    replay_files(replayed, &mut stats, on_batch)?;
    if let Some(last) = replayed.last_mut() {
        repair_tail(last, &mut stats);
    }
    remove_trailing(dir, trailing, io.as_ref(), &mut stats)?;
    for file in replayed.iter() {
        if let Some(log) = &file.log {
            log.sync_data()
                .io_context("sync write-ahead log file", &file.path)?;
        }
    }
    Ok(into_recovered(files, replayed_len, first_live_file, stats))
}

/// Lists the files numbered `first_live_file` and up, which must have consecutive numbers and,
/// when there are any, start at `first_live_file`: the log creates its files in order, so a
/// later file without the first one means the first was lost.
fn live_numbers(dir: &Path, first_live_file: u64) -> Result<Vec<u64>> {
    let mut numbers = Wal::file_numbers(dir)?;
    numbers.retain(|&n| n >= first_live_file);
    if let Some(&first) = numbers.first()
        && first > first_live_file
    {
        return Err(Error::corruption(
            &dir.join(wal_file_name(first_live_file)),
            0,
            format!(
                "write-ahead log file missing: replay starts at file {first_live_file} but the \
                 first file present is {first}. Restore the missing file to replay its records"
            ),
        ));
    }
    for pair in numbers.windows(2) {
        if let [before, after] = *pair
            && after != before + 1
        {
            return Err(Error::corruption(
                &dir.join(wal_file_name(before + 1)),
                0,
                format!(
                    "write-ahead log file missing: files {before} and {after} exist but the \
                     ones between them do not. Restore the missing files to replay their records"
                ),
            ));
        }
    }
    Ok(numbers)
}

/// Maps file `number` and checks its header and frame checksums, without decoding.
fn inspect(dir: &Path, number: u64, io: &Arc<dyn StoreIo>) -> Result<FoundFile> {
    let path = dir.join(wal_file_name(number));
    let log = LogFile::open(&path, number, io)?;
    let header = match &log {
        Some(log) => parse_header(log.bytes()),
        None => Err(HeaderError::Damaged(format!(
            "the file is shorter than its {HEADER_LEN}-byte header"
        ))),
    };
    let header_damage = match header {
        Ok(header) if header.number == number => None,
        Ok(header) => Some(format!("the header names file number {}", header.number)),
        Err(HeaderError::Damaged(reason)) => Some(reason),
        Err(HeaderError::Unsupported(found)) => {
            return Err(Error::UnsupportedVersion {
                file: path,
                found,
                supported: FORMAT_VERSION,
            });
        }
    };
    let scan = match (&log, header_damage) {
        (Some(log), None) => scan_frames(log.bytes(), |_, _| Ok(Ok(())))?,
        (_, damage) => Scan {
            frames: 0,
            end: 0,
            damage,
        },
    };
    Ok(FoundFile { path, log, scan })
}

/// Returns `Error::Corruption` for damage in a file before the last with valid frames. The
/// later frames show that the damaged bytes were written, and most likely synced, before them.
fn check_before_tail(replayed: &[FoundFile]) -> Result<()> {
    let Some((_, before_tail)) = replayed.split_last() else {
        return Ok(());
    };
    for file in before_tail {
        if let Some(reason) = &file.scan.damage {
            return Err(damage_before_tail(file, file.scan.end, reason));
        }
    }
    Ok(())
}

fn damage_before_tail(file: &FoundFile, offset: usize, reason: &str) -> Error {
    Error::corruption(
        &file.path,
        offset as u64,
        format!(
            "{reason}. Later write-ahead log files contain records, so this is damage to \
             written data, not a torn last write. Check the file (wal::read_file lists its \
             frames), then restore it, or move it and every later file away to open the store \
             without their records"
        ),
    )
}

/// Decodes the frames of `replayed` and hands each batch to `on_batch`. A frame that fails to
/// decode ends the replay in the last file and is an error in any other.
fn replay_files(
    replayed: &mut [FoundFile],
    stats: &mut ReplayStats,
    on_batch: &mut dyn FnMut(Vec<LogRecord>) -> Result<()>,
) -> Result<()> {
    let count = replayed.len();
    for (index, file) in replayed.iter_mut().enumerate() {
        let Some(log) = &file.log else {
            continue;
        };
        let scan = scan_frames(log.bytes(), |_, payload| {
            let records = match decode_records(payload) {
                Ok(records) => records,
                Err(reason) => return Ok(Err(format!("frame payload is invalid: {reason}"))),
            };
            stats.frames += 1;
            stats.records += records.iter().map(LogRecord::seq_count).sum::<u64>();
            let max_seq = records.iter().map(LogRecord::seq).max();
            stats.last_seq = stats.last_seq.max(max_seq);
            on_batch(records).map(Ok)
        })?;
        if index + 1 < count
            && let Some(reason) = &scan.damage
        {
            return Err(damage_before_tail(file, scan.end, reason));
        }
        file.scan = scan;
    }
    Ok(())
}

/// Zeroes the bytes from the end of the last valid frame to the last nonzero byte, so that no
/// old frame beyond a torn one can pass as valid once appends have filled the gap.
fn repair_tail(file: &mut FoundFile, stats: &mut ReplayStats) {
    let Some(log) = file.log.as_mut() else {
        return;
    };
    let end = file.scan.end;
    log.write_offset = end;
    let Some(reason) = &file.scan.damage else {
        return;
    };
    let zero_end = log
        .bytes()
        .get(end..)
        .and_then(last_nonzero)
        .map_or(end, |last| end + last + 1);
    log.zero(end, zero_end);
    log::warn!(
        "write-ahead log {} at offset {end}: {reason}. Replay stopped there, as after a write \
         torn by a crash, and zeroed {} bytes from there on",
        file.path.display(),
        zero_end - end
    );
    stats.torn_tail = Some((file.path.clone(), end as u64));
}

/// Removes the files after the last with valid frames, because they contain no record.
fn remove_trailing(
    dir: &Path,
    trailing: &mut [FoundFile],
    io: &dyn StoreIo,
    stats: &mut ReplayStats,
) -> Result<()> {
    for file in trailing.iter_mut() {
        // NOTE: a header damaged after its file was synced looks the same as one torn by a
        // crash, so such a file, and the records in it, is removed here too.
        if let Some(reason) = &file.scan.damage {
            log::warn!(
                "write-ahead log {} at offset {}: {reason}. The file contains no valid frame, as \
                 after a write torn by a crash, and was removed",
                file.path.display(),
                file.scan.end
            );
            stats
                .torn_tail
                .get_or_insert_with(|| (file.path.clone(), file.scan.end as u64));
        }
        file.log = None;
        io.remove(&file.path)
            .io_context("remove write-ahead log file", &file.path)?;
    }
    if !trailing.is_empty() {
        io.sync_dir(dir).io_context("sync directory", dir)?;
    }
    Ok(())
}

fn into_recovered(
    files: Vec<FoundFile>,
    replayed_len: usize,
    first_live_file: u64,
    stats: ReplayStats,
) -> Recovered {
    let last = files.into_iter().take(replayed_len).last();
    let active = last.and_then(|file| file.log);
    match active {
        Some(log) => {
            let end = LogPosition {
                file: log.number,
                offset: log.write_offset as u64,
            };
            // A file of an older version takes no more appends, because a build that reads only
            // that version would take a record of a newer kind in it for damage.
            let current = parse_header(log.bytes()).is_ok_and(|h| h.version == FORMAT_VERSION);
            Recovered {
                next_number: log.number + 1,
                end,
                active: current.then_some(log),
                stats,
            }
        }
        None => {
            let next_number = first_live_file.max(1);
            Recovered {
                active: None,
                next_number,
                end: LogPosition {
                    file: next_number,
                    offset: 0,
                },
                stats,
            }
        }
    }
}

/// One frame as `read_file` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Offset of the frame header in the file.
    pub offset: u64,
    /// Payload length in bytes, without the 8-byte frame header.
    pub payload_len: usize,
    /// Records in the payload: a columnar batch counts as one.
    pub records: usize,
    pub min_seq: Option<Seq>,
    pub max_seq: Option<Seq>,
    /// Predictions, those of columnar batches included.
    pub predictions: usize,
    /// Delayed records, the rows of columnar ones included.
    pub delayed: usize,
    pub aggregates: usize,
}

impl FrameInfo {
    fn new(offset: usize, payload_len: usize, records: &[LogRecord]) -> Self {
        let count = |kind: fn(&LogRecord) -> bool| records.iter().filter(|r| kind(r)).count();
        let first_seq = |r: &LogRecord| match r {
            LogRecord::PredictionColumns(b) => b.first_seq,
            LogRecord::DelayedColumns(b) => b.first_seq,
            _ => r.seq(),
        };
        let column_rows: usize = records
            .iter()
            .map(|r| match r {
                LogRecord::PredictionColumns(b) => b.len(),
                _ => 0,
            })
            .sum();
        let delayed_column_rows: usize = records
            .iter()
            .map(|r| match r {
                LogRecord::DelayedColumns(b) => b.len(),
                _ => 0,
            })
            .sum();
        FrameInfo {
            offset: offset as u64,
            payload_len,
            records: records.len(),
            min_seq: records.iter().map(first_seq).min(),
            max_seq: records.iter().map(LogRecord::seq).max(),
            predictions: count(|r| matches!(r, LogRecord::Prediction(_))) + column_rows,
            delayed: count(|r| matches!(r, LogRecord::Delayed(_))) + delayed_column_rows,
            aggregates: count(|r| matches!(r, LogRecord::Aggregate(_))),
        }
    }
}

/// End state of the frames of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileEnd {
    /// After the last frame the file contains only zeros.
    Clean { offset: u64 },
    /// The bytes at `offset` are neither a valid frame nor zeros.
    Damaged { offset: u64, reason: String },
}

/// A write-ahead log file as `read_file` found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContents {
    pub header: FileHeader,
    pub frames: Vec<FrameInfo>,
    pub end: FileEnd,
}

/// Reads one write-ahead log file and lists its frames, decoding each payload. The file is only
/// read: no mapping, no repair. A damaged header is an `Error::Corruption`; damage after it
/// ends the list and is reported in `FileContents::end`.
pub fn read_file(path: &Path) -> Result<FileContents> {
    let bytes = std::fs::read(path).io_context("read write-ahead log file", path)?;
    let header = match parse_header(&bytes) {
        Ok(header) => header,
        Err(HeaderError::Damaged(reason)) => return Err(Error::corruption(path, 0, reason)),
        Err(HeaderError::Unsupported(found)) => {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
    };
    let mut frames = Vec::new();
    let scan = scan_frames(&bytes, |offset, payload| {
        let decoded = decode_records(payload);
        Ok(decoded
            .map(|records| frames.push(FrameInfo::new(offset, payload.len(), &records)))
            .map_err(|reason| format!("frame payload is invalid: {reason}")))
    })?;
    let offset = scan.end as u64;
    let end = match scan.damage {
        None => FileEnd::Clean { offset },
        Some(reason) => FileEnd::Damaged { offset, reason },
    };
    Ok(FileContents {
        header,
        frames,
        end,
    })
}
