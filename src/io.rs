//! File operations of the flush path behind a trait, so that tests can fail any of them or
//! simulate a power loss.
//!
//! The segment writer, the index run writer and the manifest switch create, write, sync,
//! rename and remove files only through `StoreIo`. `OsIo`, the store's default, calls the
//! standard library. The write-ahead log has its own seam, `wal::file::FileOps`, and reads
//! (memory maps, manifest loads) go to the file system directly.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
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

/// The file-system calls that a flush makes.
pub(crate) trait StoreIo: Send + Sync {
    /// Opens `path` for writing, creating it.
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>>;

    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Syncs directory `dir`, so that creations, renames and removals in it survive a power
    /// loss.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
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
        options.write(true);
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
}
