//! The append side of the log: which file takes the next frame, and what a sync must cover.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::LogPosition;
use super::file::LogFile;
use super::format::{FRAME_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD_LEN, frame_header};
use super::payload::encode_checked_records;
use crate::error::{Error, Result};
use crate::io::StoreIo;
use crate::record::LogRecord;

/// Largest frame buffer kept between appends; a larger one, left by a large batch, is freed.
pub(crate) const MAX_KEPT_FRAME_CAPACITY: usize = 16 << 20;

/// A file that a sync may have to cover. Cloning it only counts references, so a sync plan
/// allocates nothing while no file is retired.
#[derive(Clone)]
pub(crate) struct SyncTarget {
    pub number: u64,
    pub path: Arc<Path>,
    pub file: Arc<File>,
}

impl From<&LogFile> for SyncTarget {
    fn from(file: &LogFile) -> Self {
        SyncTarget {
            number: file.number,
            path: Arc::from(file.path.as_path()),
            file: Arc::clone(&file.file),
        }
    }
}

/// Files and end position that one sync covers to make everything appended so far durable.
pub(crate) struct SyncPlan {
    /// Position after the last frame appended before the plan was made.
    pub end: LogPosition,
    /// Files retired when the plan was made. They take no more frames, so once synced they
    /// leave the writer's list of retired files.
    pub retired: Vec<SyncTarget>,
    /// The active file when the plan was made.
    pub active: Option<SyncTarget>,
    /// The directory, when a file was created in it since the last sync.
    pub dir: Option<PathBuf>,
}

impl SyncPlan {
    /// Returns the files to sync, the retired ones first.
    pub fn files(&self) -> impl Iterator<Item = &SyncTarget> {
        self.retired.iter().chain(&self.active)
    }
}

/// State behind the write-ahead log's lock.
pub(crate) struct Writer {
    dir: PathBuf,
    file_size: u64,
    io: Arc<dyn StoreIo>,
    /// File that takes the next frame if it fits; `None` after a rotation or a failed creation.
    active: Option<LogFile>,
    /// The sync target of `active`, kept so that a sync plan need not copy its path.
    active_target: Option<SyncTarget>,
    /// Number of the next file to create.
    next_number: u64,
    /// Files closed for appending whose bytes a sync has not covered yet.
    retired: Vec<SyncTarget>,
    /// True when a file was created since the last sync, so the directory needs a sync.
    dir_changed: bool,
    /// Position after the last frame appended.
    end: LogPosition,
    closed: bool,
    /// Reason of a failed sync of a retired file, until the log takes it as its poison.
    sync_failure: Option<String>,
}

impl Writer {
    /// Starts appending after `end`, in `active` if it is given, else in file `next_number`.
    pub fn new(
        dir: PathBuf,
        file_size: u64,
        io: Arc<dyn StoreIo>,
        active: Option<LogFile>,
        next_number: u64,
        end: LogPosition,
    ) -> Self {
        Writer {
            dir,
            file_size,
            io,
            active_target: active.as_ref().map(SyncTarget::from),
            active,
            next_number,
            retired: Vec::new(),
            dir_changed: false,
            end,
            closed: false,
            sync_failure: None,
        }
    }

    /// Returns the position after the last frame appended.
    pub fn end(&self) -> LogPosition {
        self.end
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Retires the active file and rejects later appends with `Error::Closed`.
    pub fn close(&mut self) {
        self.closed = true;
        self.retire_active();
    }

    /// Drops the retired files numbered below `number` from the next sync: they are about to
    /// be removed.
    pub fn forget_files_before(&mut self, number: u64) {
        self.retired.retain(|target| target.number >= number);
    }

    /// Appends a frame that `encode_frame` built and returns the position after it. The caller
    /// encodes outside the lock. An empty frame appends nothing.
    pub fn append_frame(&mut self, frame: &[u8]) -> Result<LogPosition> {
        if self.closed {
            return Err(Error::Closed);
        }
        if frame.is_empty() {
            return Ok(self.end);
        }
        let end = match self.write_frame(frame)? {
            Some(end) => end,
            None => {
                self.start_file(frame.len())?;
                self.write_frame(frame)?.ok_or_else(|| {
                    Error::invalid(
                        "frame",
                        format!("{} bytes", frame.len()),
                        "a new write-ahead log file has no room for the frame it was sized for",
                    )
                })?
            }
        };
        self.end = end;
        Ok(end)
    }

    /// Closes the active file for appending and returns the number of the next file.
    pub fn retire_active(&mut self) -> u64 {
        if let Some(active) = self.active.take() {
            // Unmapping keeps the written pages in the page cache, and the sync of the file
            // descriptor writes them back.
            let target = self
                .active_target
                .take()
                .unwrap_or_else(|| SyncTarget::from(&active));
            self.retired.push(target);
            self.next_number = self.next_number.max(active.number + 1);
        }
        self.next_number
    }

    /// Syncs the retired files before a frame goes to a new file. Without it, the kernel may
    /// write back a frame of the new file before the last frames of the old one, and a power
    /// loss would keep a later record while losing an earlier one. A failure is kept in
    /// `sync_failure`, which the log turns into its poison: the data of a failed sync is never
    /// trusted to a retry.
    fn sync_retired(&mut self) -> Result<()> {
        for target in &self.retired {
            if let Err(e) = self.io.sync_data(&target.file, &target.path) {
                let reason = format!("fdatasync of {} failed: {e}", target.path.display());
                self.sync_failure = Some(reason.clone());
                return Err(Error::Poisoned { reason });
            }
        }
        self.retired.clear();
        Ok(())
    }

    /// Takes the reason of a failed sync of a retired file, if one failed.
    pub fn take_sync_failure(&mut self) -> Option<String> {
        self.sync_failure.take()
    }

    /// Returns the files and position that a sync must cover now.
    ///
    /// The retired files stay in the writer until `forget_synced` drops them after the sync.
    /// A new file created meanwhile then syncs them again before its first frame, so a frame
    /// never reaches the disk in a file whose predecessor may still be torn.
    pub fn plan_sync(&mut self) -> SyncPlan {
        let dir = std::mem::take(&mut self.dir_changed).then(|| self.dir.clone());
        SyncPlan {
            end: self.end,
            retired: self.retired.clone(),
            active: self.active_target.clone(),
            dir,
        }
    }

    /// Drops the files that `plan` found retired from the next sync, after a sync of them.
    pub fn forget_synced(&mut self, plan: &SyncPlan) {
        if plan.retired.is_empty() {
            return;
        }
        self.retired
            .retain(|target| !plan.retired.iter().any(|s| s.number == target.number));
    }

    /// Returns the number of the file that the next frame goes to if it fits.
    pub fn current_file(&self) -> u64 {
        match &self.active {
            Some(active) => active.number,
            None => self.next_number,
        }
    }

    /// Writes the frame into the active file and returns the position after it, or `None` when
    /// no file is active or the frame does not fit.
    fn write_frame(&mut self, frame: &[u8]) -> Result<Option<LogPosition>> {
        let Some(active) = self.active.as_mut() else {
            return Ok(None);
        };
        if !active.write(frame)? {
            return Ok(None);
        }
        Ok(Some(LogPosition {
            file: active.number,
            offset: active.write_offset as u64,
        }))
    }

    /// Retires the active file and creates the next one, large enough for a frame of
    /// `frame_len` bytes. On failure no file is active and the next append tries again.
    fn start_file(&mut self, frame_len: usize) -> Result<()> {
        let number = self.retire_active();
        self.sync_retired()?;
        let needed = (HEADER_LEN + frame_len) as u64;
        let size = self.file_size.max(needed);
        let file = LogFile::create(&self.dir, number, size, &self.io)?;
        if size > self.file_size {
            log::info!(
                "created {} with {size} bytes for a frame larger than the file size of {}",
                file.path.display(),
                self.file_size
            );
        }
        self.active_target = Some(SyncTarget::from(&file));
        self.active = Some(file);
        self.next_number = number + 1;
        self.dir_changed = true;
        Ok(())
    }
}

/// Encodes `records` as one whole frame into `frame`, which it clears first. No records give
/// an empty frame. A record over the limits of `decode_records` fails the whole batch.
pub(crate) fn encode_frame(records: &[LogRecord], frame: &mut Vec<u8>) -> Result<()> {
    frame.clear();
    if records.is_empty() {
        return Ok(());
    }
    frame.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    encode_checked_records(records, frame)?;
    let payload = frame.get(FRAME_HEADER_LEN..).unwrap_or_default();
    let Some(header) = frame_header(payload) else {
        return Err(Error::invalid(
            "batch",
            format!("{} records of {} bytes", records.len(), payload.len()),
            format!("one frame holds at most {MAX_PAYLOAD_LEN} bytes: split the batch"),
        ));
    };
    for (target, byte) in frame.iter_mut().zip(header) {
        *target = byte;
    }
    Ok(())
}
