//! Reading the write-ahead log without writing to it: the frames that are complete when they
//! are read, for `ReadOnlyStore`.
//!
//! The writer copies each frame into a shared mapping of a preallocated file, so a frame is in
//! the page cache, and visible to `pread`, as soon as it is copied, before any sync. A reader
//! may also find a frame half copied, or a new file whose header is not written yet. Its
//! checksum then fails, and the reader stops there, as replay stops at a torn write, but it
//! repairs nothing: the next read starts again at the same offset.
//!
//! NOTE: this module parses the file header and the frame header of docs/format/wal.md itself,
//! because `crate::wal` keeps its parser (`wal::format`, `wal::replay::scan_frames`) private.
//! A `pub(crate)` export of those in src/wal/mod.rs would let this module use them instead.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::record::LogRecord;
use crate::wal::{self, Wal};

/// Magic bytes at the start of every log file.
const MAGIC: [u8; 8] = *b"MMWAL\r\n\x1a";
const VERSION_OFFSET: usize = 8;
const NUMBER_OFFSET: usize = 12;
const HEADER_CRC_OFFSET: usize = 20;
/// Size of the file header; the first frame starts here.
const HEADER_LEN: u64 = 24;
/// Size of the frame header: payload length (u32 LE), then CRC-32 (u32 LE) of the length bytes
/// and the payload.
const FRAME_HEADER_LEN: u64 = 8;
/// Bytes read with one `pread`; a frame larger than this is read in one call of its size.
const READ_CHUNK: usize = 256 << 10;

/// Read position of a view in the log: a file number, and the offset after the last frame
/// read from that file. Offset 0 means that no frame of the file was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LogCursor {
    pub file: u64,
    pub offset: u64,
}

impl LogCursor {
    /// Returns the cursor before the first frame of file `number`.
    pub fn start_of(number: u64) -> LogCursor {
        LogCursor {
            file: number,
            offset: 0,
        }
    }
}

/// Records read from the log, one batch per frame in log order, and where reading stopped.
pub(super) struct LogTail {
    pub batches: Vec<Vec<LogRecord>>,
    pub cursor: LogCursor,
}

/// Outcome of `read_log`.
pub(super) enum LogRead {
    Tail(LogTail),
    /// A file the read needs is not there, most likely because the writer flushed its records
    /// and deleted it after the caller read the manifest. The caller reads the manifest again.
    Missing(PathBuf),
}

/// Reads the complete frames after `cursor`, in its file and the files numbered after it.
///
/// Files must have consecutive numbers, and the file of a cursor with an offset must still
/// exist; otherwise the outcome is `LogRead::Missing`. Reading stops at the first frame that
/// is incomplete, as the end of the log at this moment. Such a frame in a file followed by a
/// file with frames is read again, because the writer completes a file before it writes the
/// next one. If it is still not valid, the file is damaged and the call fails with
/// `Error::Corruption`.
pub(super) fn read_log(dir: &Path, cursor: LogCursor) -> Result<LogRead> {
    let mut numbers = Wal::file_numbers(dir)?;
    numbers.retain(|&n| n >= cursor.file);
    let mut scans: Vec<FileScan> = Vec::with_capacity(numbers.len());
    for (expected, number) in (cursor.file..).zip(numbers) {
        let path = dir.join(wal::wal_file_name(expected));
        if number != expected {
            return Ok(LogRead::Missing(path));
        }
        let from = if number == cursor.file {
            cursor.offset
        } else {
            0
        };
        match FileScan::open(path, number, from)? {
            Some(scan) => scans.push(scan),
            None => return Ok(LogRead::Missing(dir.join(wal::wal_file_name(number)))),
        }
    }
    if cursor.offset > 0 && scans.first().is_none_or(|s| s.number != cursor.file) {
        return Ok(LogRead::Missing(dir.join(wal::wal_file_name(cursor.file))));
    }
    let Some(last) = scans.iter().rposition(|s| !s.batches.is_empty()) else {
        return Ok(LogRead::Tail(LogTail {
            batches: Vec::new(),
            cursor,
        }));
    };
    for scan in scans.iter_mut().take(last) {
        scan.finish()?;
    }
    let cursor = scans.get(last).map_or(cursor, |s| LogCursor {
        file: s.number,
        offset: s.end,
    });
    let batches = scans.into_iter().take(last + 1).flat_map(|s| s.batches);
    Ok(LogRead::Tail(LogTail {
        batches: batches.collect(),
        cursor,
    }))
}

/// Reason that reading a file stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// A zero frame length, or no room for a frame header: the end of the frames written.
    Clean,
    /// Bytes that are not a valid frame, or a header that is not valid.
    Invalid { offset: u64, reason: String },
}

/// The frames read from one log file.
struct FileScan {
    number: u64,
    path: PathBuf,
    /// Kept open, so that the file can be read again after the writer deletes it.
    file: File,
    batches: Vec<Vec<LogRecord>>,
    /// Offset after the last frame read, or where reading started when no frame was read.
    end: u64,
    stop: Stop,
}

impl FileScan {
    /// Reads the frames of file `number` from offset `from` (0 for the first frame). Returns
    /// `None` when the file does not exist.
    fn open(path: PathBuf, number: u64, from: u64) -> Result<Option<FileScan>> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).io_context("open write-ahead log file read-only", &path),
        };
        let mut scan = FileScan {
            number,
            path,
            file,
            batches: Vec::new(),
            end: from,
            stop: Stop::Clean,
        };
        scan.read_frames()?;
        Ok(Some(scan))
    }

    /// Reads the frames after `end` again, once a later file showed that this file is
    /// complete, and fails when it still ends in an invalid frame or has bytes that are not
    /// zero after its last frame. The first read may have found the length of a frame that was
    /// being copied still zero, so a clean end is read again too.
    fn finish(&mut self) -> Result<()> {
        self.read_frames()?;
        if self.stop == Stop::Clean
            && let Some(at) = self.first_nonzero_after_end()?
        {
            let reason = format!("byte {at} after the last frame is not zero");
            self.stop = Stop::Invalid {
                offset: self.end,
                reason,
            };
        }
        match &self.stop {
            Stop::Clean => Ok(()),
            Stop::Invalid { offset, reason } => Err(Error::corruption(
                &self.path,
                *offset,
                format!(
                    "{reason}. Later write-ahead log files contain records, so this is damage \
                     to written data, not a write in progress. Open the store with Store::open \
                     to see how replay reports it"
                ),
            )),
        }
    }

    /// Returns the offset of the first byte after `end` that is not zero. A complete file
    /// contains only zeros after its last frame, as replay checks too.
    fn first_nonzero_after_end(&self) -> Result<Option<u64>> {
        let len = self
            .file
            .metadata()
            .io_context("read metadata of write-ahead log file", &self.path)?
            .len();
        let mut buffer = vec![0u8; READ_CHUNK];
        let mut offset = self.end;
        while offset < len {
            let size = (len - offset).min(READ_CHUNK as u64) as usize;
            let chunk = buffer.get_mut(..size).unwrap_or_default();
            self.file
                .read_exact_at(chunk, offset)
                .io_context("read write-ahead log file", &self.path)?;
            if let Some(at) = chunk.iter().position(|&b| b != 0) {
                return Ok(Some(offset + at as u64));
            }
            offset += size as u64;
        }
        Ok(None)
    }

    /// Reads frames from `end` on, appending their records to `batches`, until the first
    /// frame that is not valid.
    fn read_frames(&mut self) -> Result<()> {
        let len = self
            .file
            .metadata()
            .io_context("read metadata of write-ahead log file", &self.path)?
            .len();
        let outcome = match check_header(&self.file, len, self.number) {
            Ok(None) => {
                let mut reader = ChunkReader::new(&self.file, len);
                scan_frames(&mut reader, self.end.max(HEADER_LEN), &mut self.batches)
            }
            Ok(Some(reason)) => Ok((self.end, Stop::Invalid { offset: 0, reason })),
            Err(e) => Err(e),
        };
        let (end, stop) = match outcome {
            Ok(found) => found,
            Err(HeaderError::Unsupported(found)) => {
                return Err(Error::UnsupportedVersion {
                    file: self.path.clone(),
                    found,
                    supported: wal::FORMAT_VERSION,
                });
            }
            Err(HeaderError::Io(e)) => {
                return Err(e).io_context("read write-ahead log file", &self.path);
            }
        };
        self.end = end;
        self.stop = stop;
        Ok(())
    }
}

/// A failure that ends the read of a file.
enum HeaderError {
    Unsupported(u32),
    Io(io::Error),
}

impl From<io::Error> for HeaderError {
    fn from(error: io::Error) -> Self {
        HeaderError::Io(error)
    }
}

/// Checks the file header. Returns why it is not valid yet, or `None` when it is.
fn check_header(
    file: &File,
    len: u64,
    number: u64,
) -> std::result::Result<Option<String>, HeaderError> {
    if len < HEADER_LEN {
        return Ok(Some(format!(
            "the file has {len} bytes, fewer than its {HEADER_LEN}-byte header"
        )));
    }
    let mut header = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut header, 0)?;
    if header.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Ok(Some("the header's magic bytes are wrong".to_owned()));
    }
    let covered = header.get(..HEADER_CRC_OFFSET).unwrap_or_default();
    if le_u32(&header, HEADER_CRC_OFFSET) != Some(crc32fast::hash(covered)) {
        return Ok(Some("the header checksum does not match".to_owned()));
    }
    let version = le_u32(&header, VERSION_OFFSET).unwrap_or_default();
    if !wal::is_readable_version(version) {
        return Err(HeaderError::Unsupported(version));
    }
    let found = le_u64(&header, NUMBER_OFFSET).unwrap_or_default();
    if found != number {
        return Ok(Some(format!("the header names file number {found}")));
    }
    Ok(None)
}

/// Reads frames from `offset` on into `batches`; returns the offset after the last valid frame
/// and why reading stopped there.
fn scan_frames(
    reader: &mut ChunkReader<'_>,
    mut offset: u64,
    batches: &mut Vec<Vec<LogRecord>>,
) -> std::result::Result<(u64, Stop), HeaderError> {
    let invalid = |offset, reason: String| Stop::Invalid { offset, reason };
    loop {
        let Some(header) = reader.bytes(offset, FRAME_HEADER_LEN as usize)? else {
            return Ok((offset, Stop::Clean));
        };
        let (Some(payload_len), Some(stored_crc)) = (le_u32(header, 0), le_u32(header, 4)) else {
            return Ok((offset, Stop::Clean));
        };
        if payload_len == 0 {
            return Ok((offset, Stop::Clean));
        }
        let payload_start = offset + FRAME_HEADER_LEN;
        let Some(payload) = reader.bytes(payload_start, payload_len as usize)? else {
            let reason = format!("frame length {payload_len} runs past the end of the file");
            return Ok((offset, invalid(offset, reason)));
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&payload_len.to_le_bytes());
        hasher.update(payload);
        if hasher.finalize() != stored_crc {
            let reason = "frame checksum mismatch".to_owned();
            return Ok((offset, invalid(offset, reason)));
        }
        match wal::decode_records(payload) {
            Ok(records) => batches.push(records),
            Err(reason) => {
                let reason = format!("frame payload is invalid: {reason}");
                return Ok((offset, invalid(offset, reason)));
            }
        }
        offset = payload_start + u64::from(payload_len);
    }
}

/// Reads a file through a buffer of `READ_CHUNK` bytes, so that small frames cost no system
/// call each.
struct ChunkReader<'a> {
    file: &'a File,
    /// File length when the read started. Log files never shrink, so every byte below it stays
    /// readable.
    len: u64,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
}

impl<'a> ChunkReader<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        ChunkReader {
            file,
            len,
            buffer: Vec::new(),
            buffer_start: 0,
        }
    }

    /// Returns the `count` bytes at `offset`, or `None` when the file ends before them. The
    /// buffer never grows past the bytes the file has.
    fn bytes(&mut self, offset: u64, count: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = offset.checked_add(count as u64) else {
            return Ok(None);
        };
        if end > self.len {
            return Ok(None);
        }
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        if offset < self.buffer_start || end > buffer_end {
            let available = self.len - offset;
            let size = (count.max(READ_CHUNK) as u64).min(available);
            self.buffer.resize(size as usize, 0);
            self.file.read_exact_at(&mut self.buffer, offset)?;
            self.buffer_start = offset;
        }
        let start = (offset - self.buffer_start) as usize;
        Ok(self.buffer.get(start..start + count))
    }
}

fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn le_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let field = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}
