//! One memory-mapped write-ahead log file. Its file calls go through the store's `StoreIo`, and
//! it reports every store into its mapping there, so that tests can fail any of them or model
//! what a power loss keeps.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};

use super::format::{HEADER_LEN, encode_header};
use super::wal_file_name;
use crate::error::{IoContext, Result};
use crate::io::{CreateMode, StoreIo};

/// Smallest frame that `LogFile::write` writes with `pwrite` instead of copying it into the
/// mapping, because the first store into each 4 KiB page of the mapping takes a page fault. On
/// the 2-vCPU test machine (Linux 6.18, ext4), 7.4 MB written in 370 KB chunks took about 7 ms
/// of CPU time through the mapping and 1.5 ms with `pwrite`, and a 4 KB `pwrite` took about
/// 2 µs. Most frames under a page start and end in pages already faulted in, so their copy
/// usually costs less than the system call.
const PWRITE_MIN_LEN: usize = 4096;

/// A write-ahead log file mapped for writing.
pub(crate) struct LogFile {
    pub number: u64,
    pub path: PathBuf,
    /// The open file, shared with a sync that runs without the writer's lock.
    pub file: Arc<File>,
    map: MmapMut,
    /// Offset where the next frame goes.
    pub write_offset: usize,
    io: Arc<dyn StoreIo>,
}

impl LogFile {
    /// Creates file `number` in `dir`, preallocated to `size` bytes, with its header written.
    /// On failure the file is removed again.
    pub fn create(dir: &Path, number: u64, size: u64, io: &Arc<dyn StoreIo>) -> Result<LogFile> {
        let path = dir.join(wal_file_name(number));
        // `Truncate` because a file with this number contains no record: the writer numbers a
        // new file after every file that open found, and a failed creation leaves no file.
        let file = io
            .open_mapped(&path, Some(CreateMode::Truncate))
            .io_context("create write-ahead log file", &path)?;
        let mapped = io
            .allocate(&file, &path, size)
            .io_context("preallocate write-ahead log file", &path)
            .and_then(|()| map_file(&file, &path));
        let map = match mapped {
            Ok(map) => map,
            Err(error) => {
                drop(file);
                remove_after_failure(io.as_ref(), &path);
                return Err(error);
            }
        };
        let mut log = LogFile {
            number,
            path,
            file: Arc::new(file),
            map,
            write_offset: 0,
            io: Arc::clone(io),
        };
        log.write(&encode_header(number))?;
        // A file shorter than the header keeps no header, and no frame fits in it.
        log.write_offset = HEADER_LEN;
        Ok(log)
    }

    /// Maps an existing file, or returns `None` when it is too short to hold a header.
    pub fn open(path: &Path, number: u64, io: &Arc<dyn StoreIo>) -> Result<Option<LogFile>> {
        let file = io
            .open_mapped(path, None)
            .io_context("open write-ahead log file", path)?;
        let len = file
            .metadata()
            .io_context("read metadata of write-ahead log file", path)?
            .len();
        if len < HEADER_LEN as u64 {
            return Ok(None);
        }
        let map = map_file(&file, path)?;
        Ok(Some(LogFile {
            number,
            path: path.to_path_buf(),
            file: Arc::new(file),
            map,
            write_offset: HEADER_LEN,
            io: Arc::clone(io),
        }))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Writes `frame` after the last frame. Returns false, writing nothing, when it does not fit.
    ///
    /// A frame of `PWRITE_MIN_LEN` bytes or more goes through `StoreIo::write_at`, a smaller one
    /// is copied into the mapping. A failed write is zeroed through the mapping and returned, so
    /// the file still ends at its last whole frame and the next frame goes to the same offset.
    pub fn write(&mut self, frame: &[u8]) -> Result<bool> {
        let start = self.write_offset;
        let end = start.saturating_add(frame.len());
        if end > self.map.len() {
            return Ok(false);
        }
        if frame.len() >= PWRITE_MIN_LEN {
            let written = self
                .io
                .write_at(&self.file, &self.path, start as u64, frame);
            if let Err(error) = written {
                self.zero(start, end);
                return Err(error).io_context("write to write-ahead log file", &self.path);
            }
        } else {
            let Some(target) = self.map.get_mut(start..end) else {
                return Ok(false);
            };
            target.copy_from_slice(frame);
            self.io.note_write(&self.path, start as u64, target);
        }
        self.write_offset = end;
        Ok(true)
    }

    /// Writes zeros over `start..end`, clamped to the file.
    pub fn zero(&mut self, start: usize, end: usize) {
        let end = end.min(self.map.len());
        let start = start.min(end);
        if let Some(range) = self.map.get_mut(start..end) {
            range.fill(0);
            self.io.note_write(&self.path, start as u64, range);
        }
    }

    /// Writes the file's data, pages stored through the mapping included, to the device.
    pub fn sync_data(&self) -> io::Result<()> {
        self.io.sync_data(&self.file, &self.path)
    }
}

/// Maps all of `file` for reading and writing.
fn map_file(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: the mapping is shared with the file, so its bytes change only through this
    // process. The store's directory lock keeps other modelmetrics processes away, the log never
    // truncates a mapped file, and the length is fixed by the preallocation before mapping. The
    // blocks are allocated, so stores into the mapping need no new space and do not fault with
    // SIGBUS on a full disk.
    unsafe { MmapOptions::new().map_mut(file) }.io_context("map write-ahead log file", path)
}

/// Removes a file that could not be set up. A failure only leaves an empty file, which the next
/// creation of that number truncates, so it is logged instead of returned.
fn remove_after_failure(io: &dyn StoreIo, path: &Path) {
    if let Err(error) = io.remove(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        log::warn!(
            "could not remove {} after a failed creation: {error}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::os_io;
    use crate::wal::format::parse_header;

    #[test]
    fn created_file_has_size_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::create(dir.path(), 3, 4096, &os_io()).unwrap();
        let len = std::fs::metadata(&file.path).unwrap().len();
        assert_eq!(len, 4096);
        assert_eq!(parse_header(file.bytes()).unwrap().number, 3);
        assert_eq!(file.write_offset, HEADER_LEN);
    }

    #[test]
    fn write_refuses_frame_past_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = LogFile::create(dir.path(), 1, 64, &os_io()).unwrap();
        assert!(file.write(&[1; 40]).unwrap());
        assert!(!file.write(&[1]).unwrap());
        assert_eq!(file.write_offset, 64);
    }

    #[test]
    fn large_and_small_frames_land_in_file() {
        let dir = tempfile::tempdir().unwrap();
        let size = HEADER_LEN + PWRITE_MIN_LEN + 2 * 100;
        let mut file = LogFile::create(dir.path(), 1, size as u64, &os_io()).unwrap();
        let large = vec![7; PWRITE_MIN_LEN];
        assert!(file.write(&[1; 100]).unwrap());
        assert!(file.write(&large).unwrap());
        assert!(file.write(&[2; 100]).unwrap());
        assert!(!file.write(&large).unwrap());

        let on_disk = std::fs::read(&file.path).unwrap();
        let mapped = file.bytes();
        assert_eq!(on_disk, mapped);
        assert_eq!(mapped[HEADER_LEN..HEADER_LEN + 100], [1; 100]);
        let large_end = HEADER_LEN + 100 + PWRITE_MIN_LEN;
        assert_eq!(mapped[HEADER_LEN + 100..large_end], large[..]);
        assert_eq!(mapped[large_end..], [2; 100]);
    }

    #[test]
    fn short_file_opens_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(wal_file_name(1));
        std::fs::write(&path, [0u8; HEADER_LEN - 1]).unwrap();
        assert!(LogFile::open(&path, 1, &os_io()).unwrap().is_none());
    }
}
