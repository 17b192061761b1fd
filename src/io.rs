//! File operations of the writer behind a trait, so that tests can fail any of them or
//! simulate a power loss.
//!
//! The segment writer, the index run writer, the manifest switch and the write-ahead log
//! create, write, sync, rename and remove files only through `StoreIo`. `OsIo`, the store's
//! default, calls the standard library. The log copies small frames into a shared memory
//! mapping, which makes no system call, so it reports each store with `note_write`, and writes
//! large frames with `write_at`. Reads (memory maps for reading, manifest loads, directory
//! listings) go to the file system directly.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;

#[cfg(test)]
pub(crate) mod fault;

/// The behaviour of `StoreIo::create` when the file exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreateMode {
    /// Truncates the existing file.
    Truncate,
    /// Fails with `AlreadyExists`.
    New,
}

/// A file opened for writing by `StoreIo::create`.
pub(crate) trait StoreFile: Write + Seek + Send {
    /// Flushes the file's data and metadata to the device (`fsync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// The file-system calls that a flush and the write-ahead log make.
pub(crate) trait StoreIo: Send + Sync {
    /// Opens `path` for writing, creating it. `OsIo` fails with `ELOOP` where `path` is a
    /// symbolic link, instead of writing to the file it points to.
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>>;

    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Syncs directory `dir`, so that creations, renames and removals in it survive a power
    /// loss.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Opens `path` for reading and writing, for the write-ahead log to map. `Some(mode)`
    /// creates the file as `create` does, `None` opens an existing one.
    fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> io::Result<File>;

    /// Allocates the first `len` bytes of `file`, named `path`, on disk and sets its length to
    /// `len` (`posix_fallocate`).
    fn allocate(&self, file: &File, path: &Path, len: u64) -> io::Result<()>;

    /// Records that `bytes` were just stored at `offset` of the mapped file `path`. A store into
    /// a mapping makes no system call, so the log reports it here. It cannot fail.
    fn note_write(&self, path: &Path, offset: u64, bytes: &[u8]);

    /// Writes all of `bytes` at `offset` of the mapped file `file`, named `path` (`pwrite`).
    /// Linux keeps the page cache and the file's shared mappings coherent, so the mapping shows
    /// the bytes at once. After an error, a prefix of `bytes` may have been written. The
    /// default calls the operating system, then `note_write`.
    fn write_at(&self, file: &File, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        file.write_all_at(bytes, offset)?;
        self.note_write(path, offset, bytes);
        Ok(())
    }

    /// Writes the data of `file`, named `path`, to the device, pages dirtied through a mapping
    /// included (`fdatasync`).
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;
}

/// Returns the operating system's file calls, the store's default.
pub(crate) fn os_io() -> Arc<dyn StoreIo> {
    Arc::new(OsIo)
}

/// The operating system's file calls.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OsIo;

impl StoreFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

impl StoreIo for OsIo {
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>> {
        let mut options = OpenOptions::new();
        // A link at `path` is someone else's: `Truncate` would empty the file it points to.
        options.write(true).custom_flags(libc::O_NOFOLLOW);
        match mode {
            CreateMode::Truncate => options.create(true).truncate(true),
            CreateMode::New => options.create_new(true),
        };
        Ok(Box::new(options.open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        match create {
            Some(CreateMode::Truncate) => options.create(true).truncate(true),
            Some(CreateMode::New) => options.create_new(true),
            None => &mut options,
        };
        options.open(path)
    }

    fn allocate(&self, file: &File, _path: &Path, len: u64) -> io::Result<()> {
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

    fn note_write(&self, _path: &Path, _offset: u64, _bytes: &[u8]) {}

    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }
}
