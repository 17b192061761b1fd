//! A `StoreIo` for tests that fails a chosen operation and models what a power loss keeps.
//!
//! Every call passes through to the real file system, so the store reads what it wrote. Beside
//! that, `FaultyIo` keeps a model of the files it touched:
//!
//! - each file's content as written, its content at its last successful sync (`sync` or
//!   `sync_data`), and the changes made since, in order. Stores into a mapped log file reach
//!   the model through `note_write`, its `write_at` calls as writes, and a preallocation as a
//!   change of length;
//! - the directory entries as they are (`live`), and as they were at the last successful
//!   `sync_dir` (`durable`).
//!
//! `crash_image_with` copies the directory as a power loss at that moment could leave it. Of
//! the changes to a file since its last sync, the image keeps what its `Loss` picks: none, a
//! prefix in write order, or random 4 KiB pages. With `Loss::Unsynced`, which `crash_image`
//! uses, a creation, rename or removal not followed by a directory sync is undone. The torn
//! kinds keep each such change or not, at random, as a file system may write its metadata back
//! before any directory sync. Files that `FaultyIo` never touched (`LOCK`) are copied as they
//! are. A failed sync leaves the synced content as it was, as Linux may drop the dirty pages
//! after a failed `fsync`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{CreateMode, OsIo, StoreFile, StoreIo};

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

/// The kinds of operation that `FaultyIo` counts. `note_write` and `open_mapped` of an
/// existing file cannot fail and are not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Write,
    Sync,
    Rename,
    SyncDir,
    Remove,
    Allocate,
    SyncData,
}

/// The share of a file's changes since its last sync that a power-loss image keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    /// None of them.
    Unsynced,
    /// The first changes in the order they were made, a random number of them, and a random
    /// part of the next one, which is torn. Each creation, rename or removal since the last
    /// directory sync is kept or undone at random. `seed` picks the cut of each file and the
    /// entries.
    Prefix { seed: u64 },
    /// Each changed 4 KiB page new or old at random, and the old or the new length, as when
    /// the kernel writes dirty pages back in any order. Directory entries as for `Prefix`.
    /// `seed` picks the pages and the entries.
    Pages { seed: u64 },
}

/// The page size of `Loss::Pages`.
const PAGE: usize = 4096;

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
    /// Operations counted since the last `arm`, with the path each one named.
    trace: Vec<(Op, PathBuf)>,
    files: Vec<FileModel>,
    live: HashMap<PathBuf, usize>,
    durable: HashMap<PathBuf, usize>,
}

#[derive(Default)]
struct FileModel {
    content: Vec<u8>,
    synced: Vec<u8>,
    /// Changes since the last successful sync, oldest first.
    pending: Vec<Change>,
}

/// One change to a file's content.
enum Change {
    Write { offset: usize, bytes: Vec<u8> },
    SetLen(usize),
}

impl Change {
    /// Returns the size of the change in bytes, for `Loss::Prefix` to tear it. A length change
    /// counts as one byte.
    fn weight(&self) -> usize {
        match self {
            Change::Write { bytes, .. } => bytes.len(),
            Change::SetLen(_) => 1,
        }
    }

    /// Applies the first `limit` bytes of the change to `content`.
    fn apply(&self, content: &mut Vec<u8>, limit: usize) {
        match self {
            Change::Write { offset, bytes } => {
                let bytes = &bytes[..limit.min(bytes.len())];
                let end = offset + bytes.len();
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[*offset..end].copy_from_slice(bytes);
            }
            Change::SetLen(len) if limit > 0 => content.resize(*len, 0),
            Change::SetLen(_) => {}
        }
    }
}

impl FileModel {
    fn record(&mut self, change: Change) {
        change.apply(&mut self.content, usize::MAX);
        self.pending.push(change);
    }

    fn mark_synced(&mut self) {
        self.synced = self.content.clone();
        self.pending.clear();
    }

    /// Returns the content that a power loss now could leave, as `loss` picks it.
    fn image(&self, loss: Loss, rng: &mut ChaCha8Rng) -> Vec<u8> {
        match loss {
            Loss::Unsynced => self.synced.clone(),
            Loss::Prefix { .. } => self.prefix_image(rng),
            Loss::Pages { .. } => self.pages_image(rng),
        }
    }

    /// Applies the first `whole` changes, `whole` drawn from 0 to all of them, and a random
    /// part of the next one.
    fn prefix_image(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let whole = rng.random_range(0..=self.pending.len());
        let mut image = self.synced.clone();
        for change in &self.pending[..whole] {
            change.apply(&mut image, usize::MAX);
        }
        if let Some(torn) = self.pending.get(whole) {
            let part = rng.random_range(0..torn.weight());
            torn.apply(&mut image, part);
        }
        image
    }

    fn pages_image(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let len = if rng.random_bool(0.5) {
            self.synced.len()
        } else {
            self.content.len()
        };
        let mut image = self.synced.clone();
        image.resize(len, 0);
        for start in (0..len).step_by(PAGE) {
            let end = (start + PAGE).min(len);
            let available = self.content.len();
            let mut new = self.content[start.min(available)..end.min(available)].to_vec();
            new.resize(end - start, 0);
            if image[start..end] != new[..] && rng.random_bool(0.5) {
                image[start..end].copy_from_slice(&new);
            }
        }
        image
    }
}

impl Model {
    /// Counts an operation on `path` and returns the injected error when it is the one to fail.
    fn count(&mut self, op: Op, path: &Path) -> io::Result<()> {
        self.ops += 1;
        self.trace.push((op, path.to_path_buf()));
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
        self.files.push(FileModel {
            content,
            synced,
            pending: Vec::new(),
        });
        self.files.len() - 1
    }

    /// Opens `path` for writing as `create` does and returns the file's model.
    fn create_file(&mut self, path: &Path, options: &OpenOptions) -> io::Result<(File, usize)> {
        let existing = self.file_of(path);
        let file = options.open(path)?;
        let id = match existing {
            // Truncation keeps the inode, and its synced content until the next sync.
            Some(id) => {
                self.file_mut(id).record(Change::SetLen(0));
                id
            }
            None => self.new_file(Vec::new(), Vec::new()),
        };
        self.live.insert(path.to_path_buf(), id);
        Ok((file, id))
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
        model.trace.clear();
    }

    /// Cancels a fault that `arm` set and has not injected yet.
    pub(crate) fn disarm(&self) {
        self.model.lock().fail_at = None;
    }

    /// Returns the operations since the last `arm`, each with the path it named.
    pub(crate) fn trace(&self) -> Vec<(Op, PathBuf)> {
        self.model.lock().trace.clone()
    }

    /// Returns the number and kind of the operation that failed since the last `arm`.
    pub(crate) fn failed(&self) -> Option<(u64, Op)> {
        self.model.lock().failed
    }

    /// Returns the number of operations since the last `arm`.
    pub(crate) fn ops(&self) -> u64 {
        self.model.lock().ops
    }

    /// Copies `dir` into the new directory `image` as a power loss now could leave it, with no
    /// unsynced byte kept.
    pub(crate) fn crash_image(&self, dir: &Path, image: &Path) -> io::Result<()> {
        self.crash_image_with(dir, image, Loss::Unsynced)
    }

    /// Copies `dir` into the new directory `image` as a power loss now could leave it, keeping
    /// what `loss` picks of the unsynced changes.
    pub(crate) fn crash_image_with(&self, dir: &Path, image: &Path, loss: Loss) -> io::Result<()> {
        let model = self.model.lock();
        let tracked =
            |path: &Path| model.live.contains_key(path) || model.durable.contains_key(path);
        copy_files(dir, image, &|path| !tracked(path))?;
        let seed = match loss {
            Loss::Unsynced => 0,
            Loss::Prefix { seed } | Loss::Pages { seed } => seed,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Sorted, so that a seed gives the same image whatever the map's order.
        let mut paths: Vec<&PathBuf> = model.live.keys().chain(model.durable.keys()).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            let durable = model.durable.get(path);
            let live = model.live.get(path);
            // A torn image keeps each directory change since the last directory sync, or not.
            let kept = match loss {
                Loss::Unsynced => durable,
                _ if durable == live => durable,
                _ if rng.random_bool(0.5) => live,
                _ => durable,
            };
            if let Some(&id) = kept {
                let content = model.files[id].image(loss, &mut rng);
                fs::write(image.join(entry_name(path)?), content)?;
            }
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
/// by a call that does not go through `FaultyIo` is skipped.
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
        model.count(Op::Create, path)?;
        let mut options = OpenOptions::new();
        options.write(true);
        set_create_mode(&mut options, mode);
        let (file, id) = model.create_file(path, &options)?;
        Ok(Box::new(FaultyFile {
            model: Arc::clone(&self.model),
            id,
            path: path.to_path_buf(),
            file,
            position: 0,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::Rename, from)?;
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
        model.count(Op::SyncDir, dir)?;
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
        model.count(Op::Remove, path)?;
        model.file_of(path);
        fs::remove_file(path)?;
        model.live.remove(path);
        Ok(())
    }

    fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> io::Result<File> {
        let mut model = self.model.lock();
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let Some(mode) = create else {
            let file = options.open(path)?;
            model.file_of(path);
            return Ok(file);
        };
        model.count(Op::Create, path)?;
        set_create_mode(&mut options, mode);
        Ok(model.create_file(path, &options)?.0)
    }

    fn allocate(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        let mut model = self.model.lock();
        model.count(Op::Allocate, path)?;
        OsIo.allocate(file, path, len)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if let Some(id) = model.file_of(path)
            && model.files[id].content.len() < len
        {
            model.file_mut(id).record(Change::SetLen(len));
        }
        Ok(())
    }

    fn note_write(&self, path: &Path, offset: u64, bytes: &[u8]) {
        let mut model = self.model.lock();
        if let Some(id) = model.file_of(path) {
            let offset = offset as usize;
            let bytes = bytes.to_vec();
            model.file_mut(id).record(Change::Write { offset, bytes });
        }
    }

    fn write_at(&self, file: &File, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut model = self.model.lock();
        // An injected fault is a short write, as in `FaultyFile::write`: the first half of the
        // bytes reaches the file, then the call fails.
        let fault = model.count(Op::Write, path).err();
        let written = match fault {
            Some(_) => &bytes[..bytes.len() / 2],
            None => bytes,
        };
        OsIo.write_at(file, path, offset, written)?;
        if let Some(id) = model.file_of(path) {
            let offset = usize::try_from(offset).map_err(io::Error::other)?;
            let bytes = written.to_vec();
            model.file_mut(id).record(Change::Write { offset, bytes });
        }
        match fault {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        // The lock is held across the call, so no store noted after it counts as synced.
        let mut model = self.model.lock();
        model.count(Op::SyncData, path)?;
        file.sync_data()?;
        if let Some(id) = model.live.get(path).copied() {
            model.file_mut(id).mark_synced();
        }
        Ok(())
    }
}

fn set_create_mode(options: &mut OpenOptions, mode: CreateMode) {
    match mode {
        CreateMode::Truncate => options.create(true).truncate(true),
        CreateMode::New => options.create_new(true),
    };
}

/// A file written through `FaultyIo`: each write and sync is counted and mirrored in the
/// model.
struct FaultyFile {
    model: Arc<Mutex<Model>>,
    id: usize,
    path: PathBuf,
    file: File,
    position: u64,
}

impl Write for FaultyFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut model = self.model.lock();
        // An injected fault is a short write: the first half of the buffer reaches the file,
        // then the call fails, as a disk that fills up in the middle of a write leaves it.
        let fault = model.count(Op::Write, &self.path).err();
        let wanted = match fault {
            Some(_) => bytes.len() / 2,
            None => bytes.len(),
        };
        let written = self.file.write(&bytes[..wanted])?;
        let offset = self.position as usize;
        let kept = bytes[..written].to_vec();
        model.file_mut(self.id).record(Change::Write {
            offset,
            bytes: kept,
        });
        self.position += written as u64;
        match fault {
            Some(error) => Err(error),
            None => Ok(written),
        }
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
        model.count(Op::Sync, &self.path)?;
        self.file.sync_all()?;
        model.file_mut(self.id).mark_synced();
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
    fn failed_write_leaves_half_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        io.arm(2, Fault::NoSpace);
        let path = dir.path().join("a");
        let mut file = io.create(&path, CreateMode::New).unwrap();
        assert!(file.write_all(b"abcd").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"ab");
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

    /// Creates `path` as the log does, preallocated to `len` bytes, and writes `bytes` at 0.
    fn mapped_file(io: &FaultyIo, path: &Path, len: u64, bytes: &[u8]) -> File {
        let file = io.open_mapped(path, Some(CreateMode::Truncate)).unwrap();
        io.allocate(&file, path, len).unwrap();
        io.note_write(path, 0, bytes);
        file
    }

    #[test]
    fn mapped_writes_survive_only_after_sync_data() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("log");
        let file = mapped_file(&io, &path, 16, b"head");
        io.sync_dir(dir.path()).unwrap();
        let before = dir.path().join("before");
        io.crash_image(dir.path(), &before).unwrap();
        io.sync_data(&file, &path).unwrap();
        io.note_write(&path, 4, b"tail");
        let after = dir.path().join("after");
        io.crash_image(dir.path(), &after).unwrap();
        assert_eq!(fs::read(before.join("log")).unwrap(), b"");
        let mut synced = b"head".to_vec();
        synced.resize(16, 0);
        assert_eq!(fs::read(after.join("log")).unwrap(), synced);
    }

    #[test]
    fn armed_allocate_fails_and_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("log");
        let file = io.open_mapped(&path, Some(CreateMode::Truncate)).unwrap();
        io.arm(1, Fault::NoSpace);
        let error = io.allocate(&file, &path, 4096).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(io.failed(), Some((1, Op::Allocate)));
        assert_eq!(io.trace(), vec![(Op::Allocate, path)]);
    }

    #[test]
    fn prefix_image_keeps_writes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("log");
        let file = mapped_file(&io, &path, 7, b"synced.");
        io.sync_data(&file, &path).unwrap();
        io.sync_dir(dir.path()).unwrap();
        let written = b"synced.first.second.third.";
        io.note_write(&path, 7, b"first.");
        io.note_write(&path, 13, b"second.");
        io.note_write(&path, 20, b"third.");
        let mut lengths = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let image = dir.path().join(format!("image-{seed}"));
            io.crash_image_with(dir.path(), &image, Loss::Prefix { seed })
                .unwrap();
            let kept = fs::read(image.join("log")).unwrap();
            assert_eq!(kept[..], written[..kept.len()], "seed {seed}");
            lengths.insert(kept.len());
        }
        assert!(lengths.first() < Some(&13), "{lengths:?}");
        assert!(lengths.contains(&written.len()), "{lengths:?}");
        let torn = lengths.iter().any(|&len| ![7, 13, 20, 26].contains(&len));
        assert!(torn, "{lengths:?}");
    }

    #[test]
    fn pages_image_reorders_page_writes() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let path = dir.path().join("log");
        let file = mapped_file(&io, &path, 3 * PAGE as u64, &[b'o'; 3 * PAGE]);
        io.sync_data(&file, &path).unwrap();
        io.sync_dir(dir.path()).unwrap();
        io.note_write(&path, 0, &[b'n'; 3 * PAGE]);
        let mut patterns = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let image = dir.path().join(format!("image-{seed}"));
            io.crash_image_with(dir.path(), &image, Loss::Pages { seed })
                .unwrap();
            let kept = fs::read(image.join("log")).unwrap();
            assert_eq!(kept.len(), 3 * PAGE, "seed {seed}");
            let pages: Vec<u8> = kept.chunks(PAGE).map(|page| page[0]).collect();
            for (page, &first) in kept.chunks(PAGE).zip(&pages) {
                assert!(page.iter().all(|&b| b == first), "seed {seed}: a page torn");
            }
            patterns.insert(pages);
        }
        // A later page kept new while an earlier one stayed old: the writes were reordered.
        assert!(patterns.contains(b"onn".as_slice()), "{patterns:?}");
        assert!(patterns.contains(b"ooo".as_slice()), "{patterns:?}");
        assert!(patterns.contains(b"nnn".as_slice()), "{patterns:?}");
    }

    #[test]
    fn torn_image_may_keep_unsynced_creation() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        write_file(&io, &dir.path().join("new"), b"data", true);
        let mut kept = 0;
        for seed in 0..32 {
            let image = dir.path().join(format!("image-{seed}"));
            io.crash_image_with(dir.path(), &image, Loss::Prefix { seed })
                .unwrap();
            kept += usize::from(image.join("new").exists());
        }
        assert!(kept > 0, "never kept");
        assert!(kept < 32, "always kept");
    }
}
