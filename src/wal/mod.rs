//! The write-ahead log: every record is written to a memory-mapped log file before a `track_*`
//! call returns, and replayed into the head when the store opens.
//!
//! The log is a sequence of files `wal-{number:020}.log`, each preallocated and mapped shared,
//! holding frames of one batch of records each. docs/format/wal.md documents the bytes, the
//! replay rules and what each durability mode can lose.
//!
//! Appends write a frame under a short lock and do not wait for a sync. A frame under 4 KiB is
//! copied into the mapping, which makes no system call. A larger one goes through `pwrite`,
//! which costs less than the page faults of the first stores into the mapping's pages. Besides
//! those writes, only the start of a new file calls the file system (create, preallocate,
//! map). `wait_durable`
//! makes a position durable, and threads that wait at the same time share one sync (group
//! commit).
//!
//! Syncing uses `fdatasync` on the file descriptor. Linux writes back pages dirtied through a
//! shared mapping on an fsync of the file, as the comment at the top of its mm/msync.c states.
//! Unlike `msync`, `fdatasync` needs no access to the mapping, so a sync runs without the
//! writer's lock while appends go on.
//!
//! NOTE: the log needs `posix_fallocate` and Linux's write-back of mapped pages on `fdatasync`,
//! so it has been built and tested on Linux only.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod commit;
mod file;
mod format;
mod payload;
mod replay;
mod writer;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, IoContext, Result};
use crate::io::{self as store_io, StoreIo};
use crate::options::{Durability, Options};
use crate::record::{LogRecord, Seq};
use commit::GroupCommit;
use writer::Writer;

pub use format::{FORMAT_VERSION, FileHeader, MIN_READ_VERSION, is_readable_version};
pub use payload::{decode_records, encode_records};
pub use replay::{FileContents, FileEnd, FrameInfo, read_file};

/// Settings of the write-ahead log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Durability mode of the store. The log behaves the same in every mode: the store calls
    /// `wait_durable` in `Durability::Sync` and `sync` on its interval or on request.
    pub durability: Durability,
    /// Bytes preallocated for each file. A frame larger than this gets a file sized to fit it.
    /// The log takes any value, down to 0 for one file per frame. `From<&Options>` raises
    /// values below `Options::MIN_WAL_FILE_SIZE` to that minimum.
    pub file_size: u64,
}

impl From<&Options> for WalOptions {
    fn from(options: &Options) -> Self {
        WalOptions {
            durability: options.durability,
            file_size: options.wal_file_size.max(Options::MIN_WAL_FILE_SIZE),
        }
    }
}

/// Position just after a frame: file number, then byte offset in that file. Later frames have
/// larger positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub file: u64,
    pub offset: u64,
}

/// Summary of the replay done by `Wal::open`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Files replayed, up to the last that contains a valid frame.
    pub files: usize,
    pub frames: u64,
    /// Records replayed, with each row of a columnar batch counted as one.
    pub records: u64,
    /// Largest sequence number replayed.
    pub last_seq: Option<Seq>,
    /// File and offset where replay stopped at a torn write and discarded what followed.
    pub torn_tail: Option<(PathBuf, u64)>,
}

/// The write-ahead log of one store directory. Methods take `&self`, and the log is
/// `Send + Sync`.
pub struct Wal {
    dir: PathBuf,
    /// File calls of the log, which tests replace to inject faults.
    io: Arc<dyn StoreIo>,
    writer: Mutex<Writer>,
    commit: GroupCommit,
}

impl Wal {
    /// Replays the files numbered `first_live_file` and up through `on_batch`, one call per
    /// frame in log order, then opens the log for appending after the last valid frame.
    ///
    /// A torn write at the end of the log is zeroed and reported in `ReplayStats::torn_tail`.
    /// Damage followed by valid frames in a later file is an `Error::Corruption`. An error from
    /// `on_batch` stops the replay and is returned.
    pub fn open(
        dir: &Path,
        first_live_file: u64,
        options: WalOptions,
        on_batch: &mut dyn FnMut(Vec<LogRecord>) -> Result<()>,
    ) -> Result<(Wal, ReplayStats)> {
        Self::open_with_io(dir, first_live_file, options, store_io::os_io(), on_batch)
    }

    /// Opens the log like `open`, with every file call going through `io`.
    pub(crate) fn open_with_io(
        dir: &Path,
        first_live_file: u64,
        options: WalOptions,
        io: Arc<dyn StoreIo>,
        on_batch: &mut dyn FnMut(Vec<LogRecord>) -> Result<()>,
    ) -> Result<(Wal, ReplayStats)> {
        let recovered = replay::recover(dir, first_live_file, &io, on_batch)?;
        let stats = recovered.stats;
        log::info!(
            "opened write-ahead log in {} ({:?}): replayed {} records in {} frames of {} files, \
             appending at {:?}",
            dir.display(),
            options.durability,
            stats.records,
            stats.frames,
            stats.files,
            recovered.end
        );
        let writer = Writer::new(
            dir.to_path_buf(),
            options.file_size,
            Arc::clone(&io),
            recovered.active,
            recovered.next_number,
            recovered.end,
        );
        let wal = Wal {
            dir: dir.to_path_buf(),
            io,
            writer: Mutex::new(writer),
            commit: GroupCommit::new(recovered.end),
        };
        Ok((wal, stats))
    }

    /// Appends `records` as one frame, which replay applies entirely or not at all, and returns
    /// the position after it. Writes the frame to the active file and does not wait for a sync.
    /// An empty slice writes nothing and returns the current end of the log.
    ///
    /// When a new file cannot be preallocated (see `Error::is_disk_full`) or the write fails,
    /// nothing of the batch is kept and a later call tries again.
    pub fn append(&self, records: &[LogRecord]) -> Result<LogPosition> {
        self.commit.check_poison()?;
        FRAME.with_borrow_mut(|frame| {
            // Encoding outside the lock keeps the lock's hold short when threads append at once.
            let appended = writer::encode_frame(records, frame).and_then(|()| {
                let mut writer = self.writer.lock();
                let appended = writer.append_frame(frame);
                match writer.take_sync_failure() {
                    Some(reason) => Err(self.commit.poison(reason)),
                    None => appended,
                }
            });
            // A buffer left large by a batch that failed its checks is freed too.
            if frame.capacity() > writer::MAX_KEPT_FRAME_CAPACITY {
                *frame = Vec::new();
            }
            appended
        })
    }

    /// Returns once the frame ending at `pos` and every frame before it are durable. Threads
    /// that call it together share one sync. After a failed sync this and every later call
    /// returns `Error::Poisoned`.
    pub fn wait_durable(&self, pos: LogPosition) -> Result<()> {
        self.commit.wait_durable(pos, &|| self.sync_once())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let end = self.writer.lock().end();
        self.wait_durable(end)
    }

    /// Closes the current file, syncs the log, and returns the number of the file that takes
    /// the next append: every record appended before is in files with smaller numbers.
    pub fn rotate(&self) -> Result<u64> {
        self.commit.check_poison()?;
        let next = {
            let mut writer = self.writer.lock();
            if writer.is_closed() {
                return Err(Error::Closed);
            }
            writer.retire_active()
        };
        self.sync()?;
        log::info!(
            "rotated write-ahead log in {}: next file {next}",
            self.dir.display()
        );
        Ok(next)
    }

    /// Returns the position after the last frame appended: every frame that `append` wrote
    /// before the call ends at or before it. The offset is 0 when open replayed no frame and no
    /// frame was appended since.
    pub fn end_position(&self) -> LogPosition {
        self.writer.lock().end()
    }

    /// Returns the number of the file that takes the next append if it fits.
    pub fn current_file(&self) -> u64 {
        self.writer.lock().current_file()
    }

    /// Deletes the files numbered below `number` and syncs the directory. Call it once their
    /// records are durable elsewhere. Until `close`, `number` may not exceed `current_file()`;
    /// after it, `u64::MAX` removes every file.
    pub fn remove_files_before(&self, number: u64) -> Result<()> {
        {
            let mut writer = self.writer.lock();
            let current = writer.current_file();
            if number > current && !writer.is_closed() {
                return Err(Error::invalid(
                    "file number",
                    number.to_string(),
                    format!(
                        "file {current} still takes appends: call rotate first and remove the \
                         files before the number it returns"
                    ),
                ));
            }
            writer.forget_files_before(number);
        }
        let mut removed = 0;
        for old in Self::file_numbers(&self.dir)?
            .into_iter()
            .filter(|&n| n < number)
        {
            let path = self.dir.join(wal_file_name(old));
            match self.io.remove(&path) {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                // A directory named like a log file was never one of the log's files.
                Err(error) if error.kind() == io::ErrorKind::IsADirectory => {
                    log::warn!(
                        "not removing {}: it is named like a log file but is a directory",
                        path.display()
                    );
                }
                Err(error) => return Err(error).io_context("remove write-ahead log file", &path),
            }
        }
        if removed > 0 {
            self.io
                .sync_dir(&self.dir)
                .io_context("sync directory", &self.dir)?;
            log::info!(
                "removed {removed} write-ahead log files before file {number} in {}",
                self.dir.display()
            );
        }
        Ok(())
    }

    /// Lists the numbers of the write-ahead log files in `dir`, in ascending order.
    pub fn file_numbers(dir: &Path) -> Result<Vec<u64>> {
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir).io_context("read directory", dir)? {
            let entry = entry.io_context("read directory", dir)?;
            if let Some(number) = entry.file_name().to_str().and_then(parse_file_name) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Syncs the log, unmaps its file and rejects later appends with `Error::Closed`. A second
    /// call does nothing more.
    pub fn close(&self) -> Result<()> {
        self.writer.lock().close();
        self.sync()
    }

    /// Syncs everything appended so far as the group commit leader, and returns the position
    /// covered, or the reason the sync failed.
    fn sync_once(&self) -> std::result::Result<LogPosition, String> {
        let plan = self.writer.lock().plan_sync();
        for target in plan.files() {
            self.io
                .sync_data(&target.file, &target.path)
                .map_err(|e| format!("fdatasync of {} failed: {e}", target.path.display()))?;
        }
        if let Some(dir) = &plan.dir {
            self.io
                .sync_dir(dir)
                .map_err(|e| format!("fsync of directory {} failed: {e}", dir.display()))?;
        }
        self.writer.lock().forget_synced(&plan);
        Ok(plan.end)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        match self.close() {
            // A poisoned log already returned its error to the call that failed.
            Ok(()) | Err(Error::Poisoned { .. }) => {}
            Err(error) => log::warn!(
                "closing the write-ahead log in {} failed: {error}",
                self.dir.display()
            ),
        }
    }
}

thread_local! {
    /// The frame buffer of this thread's appends, kept to reuse its allocation.
    static FRAME: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Returns the name of file `number`: `wal-` and the number in 20 digits, then `.log`.
pub fn wal_file_name(number: u64) -> String {
    format!("wal-{number:020}.log")
}

/// Returns the number in a name that `wal_file_name` made.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
