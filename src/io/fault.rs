//! A `StoreIo` for tests that fails a chosen operation and models what a power loss keeps.
//!
//! Every call passes through to the real file system, so the store reads what it wrote. Beside
//! that, `FaultyIo` keeps a model of the files it touched:
//!
//! - each file's content as written, and its content at its last successful `sync`;
//! - the directory entries as they are (`live`), and as they were at the last successful
//!   `sync_dir` (`durable`).
//!
//! `crash_image` copies the directory as a power loss at that moment could leave it. A file
//! keeps the bytes of its last sync only (none if never synced). A creation, rename or removal
//! not followed by a directory sync is undone. Files that `FaultyIo` never touched
//! (the log, `LOCK`) are copied as they are. A failed `sync` leaves the synced content as it
//! was, as Linux may drop the dirty pages after a failed `fsync`.
//!
//! NOTE: the model keeps whole files, never a prefix of the unsynced bytes or reordered
//! writes. A real crash can also persist any part of the unsynced data.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{CreateMode, StoreFile, StoreIo};

/// The error that an injected fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `ENOSPC`, a full disk.
    NoSpace,
    /// `EIO`, a failed device.
    Io,
}

impl Fault {
    fn error(self) -> io::Error {
        let code = match self {
            Fault::NoSpace => libc::ENOSPC,
            Fault::Io => libc::EIO,
        };
        io::Error::from_raw_os_error(code)
    }
}

/// The kinds of operation that `FaultyIo` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Write,
    Sync,
    Rename,
    SyncDir,
    Remove,
}

/// A `StoreIo` that fails the Nth operation after `arm` and records what is durable.
#[derive(Clone, Default)]
pub(crate) struct FaultyIo {
    model: Arc<Mutex<Model>>,
}

#[derive(Default)]
struct Model {
    /// Operations since the last `arm`.
    ops: u64,
    fail_at: Option<(u64, Fault)>,
    /// The operation that failed, with its number.
    failed: Option<(u64, Op)>,
    files: Vec<FileModel>,
    live: HashMap<PathBuf, usize>,
    durable: HashMap<PathBuf, usize>,
}

#[derive(Default)]
struct FileModel {
    content: Vec<u8>,
    synced: Vec<u8>,
}

impl Model {
    /// Counts an operation and returns the injected error when it is the one to fail.
    fn count(&mut self, op: Op) -> io::Result<()> {
        self.ops += 1;
        match self.fail_at {
            Some((at, fault)) if at == self.ops => {
                self.failed = Some((self.ops, op));
                Err(fault.error())
            }
            _ => Ok(()),
        }
    }

    /// Returns the model of the file named `path`. A file that exists but was never touched
    /// counts as durable with its current content.
    fn file_of(&mut self, path: &Path) -> Option<usize> {
        if let Some(&id) = self.live.get(path) {
            return Some(id);
        }
        let content = fs::read(path).ok()?;
        let id = self.new_file(content.clone(), content);
        self.live.insert(path.to_path_buf(), id);
        self.durable.insert(path.to_path_buf(), id);
        Some(id)
    }

    fn new_file(&mut self, content: Vec<u8>, synced: Vec<u8>) -> usize {
        self.files.push(FileModel { content, synced });
        self.files.len() - 1
    }

    fn file_mut(&mut self, id: usize) -> &mut FileModel {
        &mut self.files[id]
    }
}

impl FaultyIo {
    pub(crate) fn new() -> FaultyIo {
        FaultyIo::default()
    }

    /// Restarts the operation count and fails operation `at` (1 for the next one) with
    /// `fault`.
    pub(crate) fn arm(&self, at: u64, fault: Fault) {
        let mut model = self.model.lock();
        model.ops = 0;
        model.fail_at = Some((at, fault));
        model.failed = None;
    }

    /// Returns the number and kind of the operation that failed since the last `arm`.
    pub(crate) fn failed(&self) -> Option<(u64, Op)> {
        self.model.lock().failed
    }

    /// Returns the number of operations since the last `arm`.
    pub(crate) fn ops(&self) -> u64 {
        self.model.lock().ops
    }

    /// Copies `dir` into the new directory `image` as a power loss now could leave it.
    pub(crate) fn crash_image(&self, dir: &Path, image: &Path) -> io::Result<()> {
        let model = self.model.lock();
        let tracked =
            |path: &Path| model.live.contains_key(path) || model.durable.contains_key(path);
        copy_files(dir, image, &|path| !tracked(path))?;
        for (path, &id) in &model.durable {
            fs::write(image.join(entry_name(path)?), &model.files[id].synced)?;
        }
        Ok(())
    }

    /// Copies `dir` into the new directory `image` as a killed process leaves it: every file
    /// with all its written bytes. Operations through `self` wait until the copy is done, so it
    /// shows the directory between two of them.
    pub(crate) fn kill_image(&self, dir: &Path, image: &Path) -> io::Result<()> {
        let _model = self.model.lock();
        copy_files(dir, image, &|_| true)
    }
}

/// Copies the regular files of `dir` that `select` accepts into `to`. A file removed meanwhile
/// by the log, which does not write through `FaultyIo`, is skipped.
fn copy_files(dir: &Path, to: &Path, select: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_file() || !select(&path) {
            continue;
        }
        match fs::copy(&path, to.join(entry_name(&path)?)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn entry_name(path: &Path) -> io::Result<&std::ffi::OsStr> {
    path.file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))
}

impl StoreIo for FaultyIo {
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>> {
        let mut model = self.model.lock();
        model.count(Op::Create)?;
        let existing = model.file_of(path);
        let mut options = OpenOptions::new();
        options.write(true);
        match mode {
            CreateMode::Truncate => options.create(true).truncate(true),
            CreateMode::New => options.create_new(true),
        };
        let file = options.open(path)?;
        let id = match existing {
            // Truncation keeps the inode, and its synced content until the next sync.
            Some(id) => {
                model.file_mut(id).content.clear();
                id
            }
            None => model.new_file(Vec::new(), Vec::new()),
        };
        model.live.insert(path.to_path_buf(), id);
        Ok(Box::new(FaultyFile {
            model: Arc::clone(&self.model),
            id,
            file,
            position: 0,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::Rename)?;
        model.file_of(to);
        let id = model.file_of(from);
        fs::rename(from, to)?;
        model.live.remove(from);
        if let Some(id) = id {
            model.live.insert(to.to_path_buf(), id);
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::SyncDir)?;
        File::open(dir)?.sync_all()?;
        let in_dir = |path: &PathBuf| path.parent() == Some(dir);
        model.durable.retain(|path, _| !in_dir(path));
        let live: Vec<_> = model.live.iter().filter(|(p, _)| in_dir(p)).collect();
        let live: Vec<_> = live.into_iter().map(|(p, &id)| (p.clone(), id)).collect();
        model.durable.extend(live);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::Remove)?;
        model.file_of(path);
        fs::remove_file(path)?;
        model.live.remove(path);
        Ok(())
    }
}

/// A file written through `FaultyIo`: each write and sync is counted and mirrored in the
/// model.
struct FaultyFile {
    model: Arc<Mutex<Model>>,
    id: usize,
    file: File,
    position: u64,
}

impl Write for FaultyFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut model = self.model.lock();
        // NOTE: an injected fault writes nothing. Short writes, where part of the buffer
        // reaches the file before the error, are not injected.
        model.count(Op::Write)?;
        let written = self.file.write(bytes)?;
        let content = &mut model.file_mut(self.id).content;
        let start = self.position as usize;
        let end = start + written;
        if content.len() < end {
            content.resize(end, 0);
        }
        content[start..end].copy_from_slice(&bytes[..written]);
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for FaultyFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = self.file.seek(to)?;
        Ok(self.position)
    }
}

impl StoreFile for FaultyFile {
    fn sync(&mut self) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::Sync)?;
        self.file.sync_all()?;
        let file = model.file_mut(self.id);
        file.synced = file.content.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(io: &FaultyIo, path: &Path, bytes: &[u8], sync: bool) {
        let mut file = io.create(path, CreateMode::New).unwrap();
        file.write_all(bytes).unwrap();
        if sync {
            file.sync().unwrap();
        }
    }

    #[test]
    fn armed_operation_fails_once() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        io.arm(2, Fault::NoSpace);
        let mut file = io.create(&dir.path().join("a"), CreateMode::New).unwrap();
        let error = file.write_all(b"abc").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(io.failed(), Some((2, Op::Write)));
        assert!(file.write_all(b"abc").is_ok());
    }

    #[test]
    fn image_drops_unsynced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("a");
        let mut file = io.create(&path, CreateMode::New).unwrap();
        file.write_all(b"synced").unwrap();
        file.sync().unwrap();
        file.write_all(b" lost").unwrap();
        io.sync_dir(dir.path()).unwrap();
        let image = dir.path().join("image");
        io.crash_image(dir.path(), &image).unwrap();
        assert_eq!(fs::read(image.join("a")).unwrap(), b"synced");
        assert_eq!(fs::read(&path).unwrap(), b"synced lost");
    }

    #[test]
    fn image_undoes_unsynced_creation() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        write_file(&io, &dir.path().join("new"), b"data", true);
        let image = dir.path().join("image");
        io.crash_image(dir.path(), &image).unwrap();
        assert!(!image.join("new").exists());
    }

    #[test]
    fn image_undoes_unsynced_rename() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("target"), b"old").unwrap();
        let io = FaultyIo::new();
        let tmp = dir.path().join("tmp");
        write_file(&io, &tmp, b"new", true);
        io.rename(&tmp, &dir.path().join("target")).unwrap();
        let before_sync = dir.path().join("before");
        io.crash_image(dir.path(), &before_sync).unwrap();
        io.sync_dir(dir.path()).unwrap();
        let after_sync = dir.path().join("after");
        io.crash_image(dir.path(), &after_sync).unwrap();
        assert_eq!(fs::read(before_sync.join("target")).unwrap(), b"old");
        assert_eq!(fs::read(after_sync.join("target")).unwrap(), b"new");
        assert!(!after_sync.join("tmp").exists());
    }

    #[test]
    fn image_restores_unsynced_removal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("kept"), b"bytes").unwrap();
        let io = FaultyIo::new();
        io.remove(&dir.path().join("kept")).unwrap();
        let image = dir.path().join("image");
        io.crash_image(dir.path(), &image).unwrap();
        assert_eq!(fs::read(image.join("kept")).unwrap(), b"bytes");
    }

    #[test]
    fn failed_sync_keeps_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("a");
        let mut file = io.create(&path, CreateMode::New).unwrap();
        file.write_all(b"first").unwrap();
        file.sync().unwrap();
        io.sync_dir(dir.path()).unwrap();
        file.write_all(b" second").unwrap();
        io.arm(1, Fault::Io);
        assert!(file.sync().is_err());
        let image = dir.path().join("image");
        io.crash_image(dir.path(), &image).unwrap();
        assert_eq!(fs::read(image.join("a")).unwrap(), b"first");
    }
}
