//! Online backup: a consistent copy of the store's files in another directory, taken while
//! writers go on.
//!
//! Under the flush lock the manifest and the files it lists stay as they are, and the writer
//! lock is held only to read the end of the log. Under the flush lock the checkpoint makes:
//!
//! 1. a hard link (or, where linking fails, a copy) of each file that the manifest lists;
//! 2. a copy of the log files from the manifest's `wal_start`, the last one cut right after
//!    the last complete frame.
//!
//! After releasing the lock it syncs those files and writes the manifest last, all in a
//! `.partial` sibling of the target that is renamed to the target at the end. So the target
//! contains a whole copy or does not exist; a crash leaves only the `.partial` directory.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Inner;
use crate::error::{Error, IoContext, Result};
use crate::wal::{self, LogPosition};

/// Bytes read per step when a log file is copied. A step of only zeros is skipped instead of
/// written, so the preallocated, unused end of a log file becomes a hole in the copy.
const COPY_CHUNK_LEN: usize = 1 << 20;

/// Counts of what a checkpoint wrote, for its log line.
#[derive(Debug, Default)]
struct Written {
    linked: usize,
    copied: usize,
    log_files: usize,
    log_bytes: u64,
}

/// Copies the store of `inner` into `target`; see `Store::checkpoint`.
pub(super) fn checkpoint(inner: &Inner, target: &Path) -> Result<()> {
    let started = Instant::now();
    check_outside_store(&inner.dir, target)?;
    let target_exists = check_target(target)?;
    let staging = staging_dir(target)?;
    if fs::symlink_metadata(&staging).is_ok() {
        return Err(Error::invalid(
            "checkpoint directory",
            staging.display().to_string(),
            "it exists, left by a checkpoint that was cut short: delete it and try again",
        ));
    }
    let mut output = Output::prepare(&staging)?;
    let written = write_files(inner, &mut output).and_then(|written| {
        if target_exists {
            fs::remove_dir(target).io_context("replace empty checkpoint directory", target)?;
        }
        fs::rename(&staging, target).io_context("rename checkpoint into", target)?;
        sync_parent(target)?;
        Ok(written)
    });
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            output.discard();
            return Err(e);
        }
    };
    log::info!(
        "checkpoint of store {} into {}: {} files linked, {} copied, {} log files with {} \
         bytes, in {:?}",
        inner.dir.display(),
        target.display(),
        written.linked,
        written.copied,
        written.log_files,
        written.log_bytes,
        started.elapsed()
    );
    Ok(())
}

/// Links and copies the files of the copy under the flush lock, then syncs them and writes
/// the manifest.
// NOTE: these calls go to `std::fs`, not through the `StoreIo` seam, so no test fails a link,
// copy or sync halfway through a checkpoint.
fn write_files(inner: &Inner, output: &mut Output) -> Result<Written> {
    let (manifest, written) = {
        let _flushing = inner.flush_lock.lock();
        // A `close` that started before this call has flushed by now and may delete log files.
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let manifest = inner.state.read().manifest.clone();
        let end = {
            let _writer = inner.writer.lock();
            inner.wal.end_position()
        };
        let mut written = Written::default();
        for name in manifest.live_files() {
            link_or_copy(&inner.dir.join(&name), output, &name, &mut written)?;
        }
        copy_log_files(&inner.dir, output, manifest.wal_start, end, &mut written)?;
        (manifest, written)
    };
    // From here on the store may delete its files again. The links keep their data.
    for name in &output.names {
        sync_file(&output.dir.join(name))?;
    }
    sync_dir(&output.dir)?;
    output.remember(crate::manifest::MANIFEST_FILE);
    manifest.store(&output.dir)?;
    if output.created_dir {
        sync_parent(&output.dir)?;
    }
    Ok(written)
}

/// Hard-links `source` into the copy as `name`, or copies it when linking fails.
fn link_or_copy(
    source: &Path,
    output: &mut Output,
    name: &str,
    written: &mut Written,
) -> Result<()> {
    let destination = output.dir.join(name);
    output.remember(name);
    match fs::hard_link(source, &destination) {
        Ok(()) => written.linked += 1,
        Err(link_error) => {
            if written.copied == 0 {
                log::warn!(
                    "hard-linking {} into {} failed ({link_error}), so the checkpoint copies \
                     the store's files instead, which takes their full size on disk",
                    source.display(),
                    output.dir.display()
                );
            }
            fs::copy(source, &destination).io_context("copy store file", source)?;
            written.copied += 1;
        }
    }
    Ok(())
}

/// Copies the log files numbered `wal_start` to `end.file`, the last one only up to
/// `end.offset`, so that the copy replays every complete frame before `end` and nothing after.
fn copy_log_files(
    dir: &Path,
    output: &mut Output,
    wal_start: u64,
    end: LogPosition,
    written: &mut Written,
) -> Result<()> {
    for number in wal_start..=end.file {
        let name = wal::wal_file_name(number);
        let source = dir.join(&name);
        let len = if number == end.file {
            end.offset
        } else {
            fs::metadata(&source)
                .io_context("read metadata of write-ahead log file", &source)?
                .len()
        };
        // Offset 0 means the log contains no frame, so there is no file to copy.
        if len == 0 {
            continue;
        }
        output.remember(&name);
        copy_prefix(&source, &output.dir.join(&name), len)?;
        written.log_files += 1;
        written.log_bytes += len;
    }
    Ok(())
}

/// Copies the first `len` bytes of `source` into the new file `destination`. Chunks of zeros
/// are skipped, so they become holes on file systems that support them.
fn copy_prefix(source: &Path, destination: &Path, len: u64) -> Result<()> {
    let mut input = File::open(source).io_context("open write-ahead log file", source)?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(destination)
        .io_context("create write-ahead log copy", destination)?;
    let mut chunk = vec![0u8; COPY_CHUNK_LEN];
    let mut copied = 0u64;
    while copied < len {
        let step = usize::try_from(len - copied).map_or(COPY_CHUNK_LEN, |r| r.min(COPY_CHUNK_LEN));
        let buffer = chunk.get_mut(..step).unwrap_or_default();
        input
            .read_exact(buffer)
            .io_context("read write-ahead log file", source)?;
        if buffer.iter().all(|&b| b == 0) {
            output
                .seek(SeekFrom::Current(step as i64))
                .io_context("seek in write-ahead log copy", destination)?;
        } else {
            output
                .write_all(buffer)
                .io_context("write write-ahead log copy", destination)?;
        }
        copied += step as u64;
    }
    // A trailing hole needs the length set explicitly.
    output
        .set_len(len)
        .io_context("set length of write-ahead log copy", destination)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .io_context("sync", path)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .io_context("sync directory", dir)
}

/// Syncs the directory that contains `dir`, so that the creation of `dir` is durable.
fn sync_parent(dir: &Path) -> Result<()> {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// The directory of the copy and the names written into it, removed again on failure.
struct Output {
    dir: PathBuf,
    created_dir: bool,
    names: Vec<String>,
}

impl Output {
    /// Creates `dir`, or checks that it is an empty directory.
    fn prepare(dir: &Path) -> Result<Output> {
        let created_dir = match fs::metadata(dir) {
            Ok(metadata) => {
                check_empty_dir(dir, &metadata)?;
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).io_context("create checkpoint directory", dir)?;
                true
            }
            Err(e) => return Err(e).io_context("read metadata of checkpoint directory", dir),
        };
        Ok(Output {
            dir: dir.to_path_buf(),
            created_dir,
            names: Vec::new(),
        })
    }

    fn remember(&mut self, name: &str) {
        self.names.push(name.to_owned());
    }

    /// Removes the files that a failed checkpoint wrote, and the directory if it created it.
    /// A failure here is only logged, because the caller returns the error that stopped it.
    fn discard(&self) {
        let tmp = crate::manifest::MANIFEST_TMP_FILE;
        for name in self.names.iter().map(String::as_str).chain([tmp]) {
            let path = self.dir.join(name);
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                log::warn!(
                    "removing {} after a failed checkpoint failed: {e}",
                    path.display()
                );
            }
        }
        if self.created_dir
            && let Err(e) = fs::remove_dir(&self.dir)
        {
            log::warn!(
                "removing {} after a failed checkpoint failed: {e}",
                self.dir.display()
            );
        }
    }
}

/// Checks that `target` is missing or an empty directory; returns whether it exists.
fn check_target(target: &Path) -> Result<bool> {
    match fs::metadata(target) {
        Ok(metadata) => check_empty_dir(target, &metadata).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).io_context("read metadata of checkpoint directory", target),
    }
}

/// Rejects a target inside the store's directory, where the copy would sit among the files
/// of the store it copies.
fn check_outside_store(store_dir: &Path, target: &Path) -> Result<()> {
    // The target may not exist yet: resolve its nearest existing ancestor.
    let mut existing = target;
    let resolved = loop {
        match existing.canonicalize() {
            Ok(path) => break Some(path),
            Err(_) => match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
                _ => break std::env::current_dir().ok(),
            },
        }
    };
    if resolved.is_some_and(|path| path.starts_with(store_dir)) {
        return Err(Error::invalid(
            "checkpoint directory",
            target.display().to_string(),
            format!(
                "it is inside the store directory {}: name a directory outside it",
                store_dir.display()
            ),
        ));
    }
    Ok(())
}

/// Returns the sibling of `target` that a checkpoint writes into before renaming it.
fn staging_dir(target: &Path) -> Result<PathBuf> {
    let Some(name) = target.file_name() else {
        return Err(Error::invalid(
            "checkpoint directory",
            target.display().to_string(),
            "it has no final name to write beside: name a directory such as backups/monday",
        ));
    };
    let mut staged = name.to_os_string();
    staged.push(".partial");
    Ok(target.with_file_name(staged))
}

/// Rejects a checkpoint target that is not a directory or that has entries.
fn check_empty_dir(dir: &Path, metadata: &fs::Metadata) -> Result<()> {
    if !metadata.is_dir() {
        return Err(Error::invalid(
            "checkpoint directory",
            dir.display().to_string(),
            "it exists and is not a directory: name a missing or empty directory",
        ));
    }
    let mut entries = fs::read_dir(dir).io_context("list checkpoint directory", dir)?;
    if let Some(entry) = entries.next() {
        let entry = entry.io_context("list checkpoint directory", dir)?;
        return Err(Error::invalid(
            "checkpoint directory",
            dir.display().to_string(),
            format!(
                "it is not empty (it contains {:?}): name a missing or empty directory",
                entry.file_name()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_prefix_keeps_bytes_and_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let mut bytes = vec![0u8; 3 * COPY_CHUNK_LEN];
        bytes[10] = 7;
        bytes[2 * COPY_CHUNK_LEN + 5] = 9;
        fs::write(&source, &bytes).unwrap();
        let destination = dir.path().join("destination");
        copy_prefix(&source, &destination, bytes.len() as u64).unwrap();
        assert_eq!(fs::read(&destination).unwrap(), bytes);
    }

    #[test]
    fn copy_prefix_stops_at_length() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::write(&source, [1u8, 2, 3, 4, 5]).unwrap();
        let destination = dir.path().join("destination");
        copy_prefix(&source, &destination, 3).unwrap();
        assert_eq!(fs::read(&destination).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn copy_prefix_ending_in_zeros_has_length() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let mut bytes = vec![0u8; COPY_CHUNK_LEN + 100];
        bytes[0] = 1;
        fs::write(&source, &bytes).unwrap();
        let destination = dir.path().join("destination");
        copy_prefix(&source, &destination, bytes.len() as u64).unwrap();
        let copied = fs::read(&destination).unwrap();
        assert_eq!(copied.len(), bytes.len());
        assert_eq!(copied, bytes);
    }

    #[test]
    fn prepare_rejects_nonempty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let error = Output::prepare(dir.path()).err().unwrap();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
        assert!(error.to_string().contains("notes.txt"), "{error}");
    }

    #[test]
    fn prepare_rejects_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let error = Output::prepare(&file).err().unwrap();
        assert!(error.to_string().contains("not a directory"), "{error}");
    }

    #[test]
    fn prepare_creates_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a").join("b");
        let output = Output::prepare(&target).unwrap();
        assert!(output.created_dir);
        assert!(target.is_dir());
    }

    #[test]
    fn discard_removes_created_directory() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("copy");
        let mut output = Output::prepare(&target).unwrap();
        fs::write(target.join("seg-1"), "x").unwrap();
        output.remember("seg-1");
        output.discard();
        assert!(!target.exists());
    }

    #[test]
    fn discard_keeps_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut output = Output::prepare(dir.path()).unwrap();
        fs::write(dir.path().join("seg-1"), "x").unwrap();
        output.remember("seg-1");
        output.discard();
        assert!(dir.path().is_dir());
        assert!(!dir.path().join("seg-1").exists());
    }
}
