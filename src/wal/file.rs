//! One memory-mapped write-ahead log file, and the system calls it needs behind a trait that
//! tests replace to inject a full disk or a failed sync.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};

use super::format::{HEADER_LEN, encode_header};
use super::wal_file_name;
use crate::error::{IoContext, Result};

/// The system calls that can fail for lack of space or on a failed write-back.
pub(crate) trait FileOps: Send + Sync {
    /// Allocates the first `len` bytes of `file` on disk and sets its length to `len`.
    fn allocate(&self, file: &File, len: u64) -> io::Result<()>;
    /// Writes the file's dirty pages, including those written through a mapping, to disk.
    fn sync_data(&self, file: &File) -> io::Result<()>;
    /// Makes the creation and removal of files in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// `FileOps` of the operating system.
pub(crate) struct OsFileOps;

impl FileOps for OsFileOps {
    fn allocate(&self, file: &File, len: u64) -> io::Result<()> {
        let len = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file size over off_t"))?;
        loop {
            // SAFETY: posix_fallocate only reads its integer arguments, and the descriptor
            // belongs to `file`, which outlives the call.
            let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
            // posix_fallocate returns the error number instead of setting errno.
            match code {
                0 => return Ok(()),
                libc::EINTR => continue,
                code => return Err(io::Error::from_raw_os_error(code)),
            }
        }
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A write-ahead log file mapped for writing.
pub(crate) struct LogFile {
    pub number: u64,
    pub path: PathBuf,
    /// The open file, shared with a sync that runs without the writer's lock.
    pub file: Arc<File>,
    map: MmapMut,
    /// Offset where the next frame goes.
    pub write_offset: usize,
}

impl LogFile {
    /// Creates file `number` in `dir`, preallocated to `size` bytes, with its header written.
    /// On failure the file is removed again.
    pub fn create(dir: &Path, number: u64, size: u64, ops: &dyn FileOps) -> Result<LogFile> {
        let path = dir.join(wal_file_name(number));
        // `truncate` because a file with this number contains no record: the writer numbers a
        // new file after every file that open found, and a failed creation leaves no file.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .io_context("create write-ahead log file", &path)?;
        let mapped = ops
            .allocate(&file, size)
            .io_context("preallocate write-ahead log file", &path)
            .and_then(|()| map_file(&file, &path));
        let mut map = match mapped {
            Ok(map) => map,
            Err(error) => {
                drop(file);
                remove_after_failure(&path);
                return Err(error);
            }
        };
        if let Some(header) = map.get_mut(..HEADER_LEN) {
            header.copy_from_slice(&encode_header(number));
        }
        Ok(LogFile {
            number,
            path,
            file: Arc::new(file),
            map,
            write_offset: HEADER_LEN,
        })
    }

    /// Maps an existing file, or returns `None` when it is too short to hold a header.
    pub fn open(path: &Path, number: u64) -> Result<Option<LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
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
        }))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Copies `frame` after the last frame. Returns false, writing nothing, when it does not fit.
    pub fn write(&mut self, frame: &[u8]) -> bool {
        let end = self.write_offset.saturating_add(frame.len());
        let Some(target) = self.map.get_mut(self.write_offset..end) else {
            return false;
        };
        target.copy_from_slice(frame);
        self.write_offset = end;
        true
    }

    /// Writes zeros over `start..end`, clamped to the file.
    pub fn zero(&mut self, start: usize, end: usize) {
        let end = end.min(self.map.len());
        if let Some(range) = self.map.get_mut(start.min(end)..end) {
            range.fill(0);
        }
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
fn remove_after_failure(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
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
    use crate::wal::format::parse_header;

    #[test]
    fn created_file_has_size_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::create(dir.path(), 3, 4096, &OsFileOps).unwrap();
        let len = std::fs::metadata(&file.path).unwrap().len();
        assert_eq!(len, 4096);
        assert_eq!(parse_header(file.bytes()).unwrap().number, 3);
        assert_eq!(file.write_offset, HEADER_LEN);
    }

    #[test]
    fn write_refuses_frame_past_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = LogFile::create(dir.path(), 1, 64, &OsFileOps).unwrap();
        assert!(file.write(&[1; 40]));
        assert!(!file.write(&[1]));
        assert_eq!(file.write_offset, 64);
    }

    #[test]
    fn short_file_opens_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(wal_file_name(1));
        std::fs::write(&path, [0u8; HEADER_LEN - 1]).unwrap();
        assert!(LogFile::open(&path, 1).unwrap().is_none());
    }
}
