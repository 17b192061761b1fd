//! Opening a store (lock, manifest, stray files, segments, index, log replay) and closing it.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::lock::DirLock;
use super::{Inner, State, flush, new_dir};
use crate::error::{Error, IoContext, Result};
use crate::head::Head;
use crate::index::{self, IndexRun, IndexSet};
use crate::io::StoreIo;
use crate::manifest::{MANIFEST_FILE, MANIFEST_TMP_FILE, Manifest};
use crate::options::Options;
use crate::rollup::{self, RollupFile};
use crate::segment::{self, Segment};
use crate::segment_set::SegmentSet;
use crate::wal::{self, Wal, WalOptions};

pub(crate) fn open(dir: &Path, options: Options, io: Arc<dyn StoreIo>) -> Result<Inner> {
    let started = Instant::now();
    check_options(&options)?;
    fs::create_dir_all(dir).io_context("create store directory", dir)?;
    let dir = dir
        .canonicalize()
        .io_context("resolve store directory", dir)?;
    new_dir::check_new_store_dir(&dir)?;
    let lock = DirLock::acquire(&dir)?;
    let manifest = load_or_create_manifest(&dir, io.as_ref())?;
    remove_stray_files(&dir, &manifest, io.as_ref())?;

    let segments = open_segments(&dir, &manifest, &SegmentSet::default())?;
    let index = open_index(&dir, &manifest, &IndexSet::default())?;
    let deletions = crate::deletions::Deletions::new(&manifest.deletions);
    let stored = Stored {
        segments: &segments,
        index: &index,
        deletions: &deletions,
    };
    let orphans = find_orphans(&stored, segments.values(), &HashSet::new())?;
    let rollups = open_rollups(&dir, &manifest, &[])?;

    let head = Head::default();
    let mut last_seq = manifest.last_seq;
    let wal_options = WalOptions {
        durability: options.durability,
        file_size: options.wal_file_size.max(Options::MIN_WAL_FILE_SIZE),
    };
    let mut replay = |records: Vec<crate::record::LogRecord>| {
        let mut data = head.write();
        for record in records {
            last_seq = last_seq.max(record.seq());
            data.insert(record);
        }
        Ok(())
    };
    let (wal, stats) = Wal::open_with_io(
        &dir,
        manifest.wal_start,
        wal_options,
        Arc::clone(&io),
        &mut replay,
    )?;
    log::info!(
        "opened store {} in {:?}: {} segments, {} index runs, {} records replayed from {} log files",
        dir.display(),
        started.elapsed(),
        segments.len(),
        index.runs().len(),
        stats.records,
        stats.files
    );
    let next_file_id = manifest.next_file_id;
    Ok(Inner {
        dir,
        options,
        io,
        wal,
        writer: Mutex::new(()),
        state: RwLock::new(State {
            active: Arc::new(head),
            frozen: None,
            segments: Arc::new(segments),
            index,
            manifest,
            orphans: Arc::new(orphans),
            rollups: Arc::new(rollups),
            deletions: Arc::new(deletions),
        }),
        flush_lock: Mutex::new(()),
        index_lock: Mutex::new(()),
        merge_requests: super::merger::MergeRequests::new(),
        compaction_lock: Mutex::new(HashSet::new()),
        next_file_id: AtomicU64::new(next_file_id),
        last_seq: AtomicU64::new(last_seq),
        poison: Mutex::new(None),
        closed: AtomicBool::new(false),
        dir_lock: Mutex::new(Some(lock)),
    })
}

/// Flushes the head, syncs the log and trims it, so that the closed store keeps its records
/// in segments only.
pub(crate) fn close(inner: &Inner) -> Result<()> {
    // A poisoned store skips the flush and keeps its log files, because after a failed
    // directory sync the manifest that lists the last segment may not be durable.
    let flushed = match inner.check_poison() {
        Ok(()) => flush::flush(inner),
        Err(poisoned) => Err(poisoned),
    };
    // Holding the writer lock, no append can put a record in the log between the check that
    // the head is empty and the removal of the log files.
    let _writer = inner.writer.lock();
    let closed = inner.wal.close();
    let head_empty = inner.state.read().active.read().is_empty();
    if flushed.is_ok() && closed.is_ok() && head_empty {
        // Every record is in a segment now, so the log files hold nothing to replay.
        if let Err(e) = inner.wal.remove_files_before(u64::MAX) {
            log::warn!("removing empty log files at close failed: {e}");
        }
    }
    inner.closed.store(true, Ordering::SeqCst);
    flushed.and(closed)
}

fn check_options(options: &Options) -> Result<()> {
    if options.wal_file_size > Options::MAX_WAL_FILE_SIZE {
        return Err(Error::invalid(
            "Options::wal_file_size",
            options.wal_file_size.to_string(),
            format!("a log file is at most {} bytes", Options::MAX_WAL_FILE_SIZE),
        ));
    }
    options.compaction.check()
}

fn load_or_create_manifest(dir: &Path, io: &dyn StoreIo) -> Result<Manifest> {
    if let Some(manifest) = Manifest::load(dir)? {
        return Ok(manifest);
    }
    let data_files = fs::read_dir(dir)
        .io_context("list store directory", dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .any(|entry| is_data_file(&entry.file_name().to_string_lossy()));
    if data_files {
        return Err(Error::corruption(
            &dir.join(MANIFEST_FILE),
            0,
            "the manifest is missing but the directory holds segment or index files; \
             restore MANIFEST from a backup",
        ));
    }
    let manifest = Manifest::new_store();
    manifest.store_with(io, dir)?;
    Ok(manifest)
}

/// True for a segment or index run file name, exactly as the store writes them: other files
/// in the directory, such as `seg-notes.txt`, belong to someone else and are left alone.
pub(super) fn is_data_file(name: &str) -> bool {
    segment::parse_segment_file_name(name).is_some()
        || index::parse_index_file_name(name).is_some()
        || rollup::parse_rollup_file_name(name).is_some()
}

/// Deletes files that no manifest lists: output of a flush or merge that crashed before its
/// manifest switch, a temporary manifest, and log files already flushed.
fn remove_stray_files(dir: &Path, manifest: &Manifest, io: &dyn StoreIo) -> Result<()> {
    let live: HashSet<String> = manifest.live_files().into_iter().collect();
    let flushed_logs: HashSet<String> = Wal::file_numbers(dir)?
        .into_iter()
        .filter(|&n| n < manifest.wal_start)
        .map(wal::wal_file_name)
        .collect();
    for entry in fs::read_dir(dir).io_context("list store directory", dir)? {
        let entry = entry.io_context("list store directory", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        // Only files: a directory of such a name belongs to someone else.
        let stray = is_file
            && ((is_data_file(&name) && !live.contains(&name))
                || name == MANIFEST_TMP_FILE
                || flushed_logs.contains(&name));
        if stray {
            let path = entry.path();
            log::warn!("removing stray file {}", path.display());
            io.remove(&path).io_context("remove stray file", &path)?;
        }
    }
    Ok(())
}

/// Opens the segments that `manifest` lists, taking those already open in `reuse` from there.
pub(super) fn open_segments(
    dir: &Path,
    manifest: &Manifest,
    reuse: &SegmentSet,
) -> Result<SegmentSet> {
    let mut segments = Vec::with_capacity(manifest.segments.len());
    for &id in &manifest.segments {
        let segment = match reuse.get(&id) {
            Some(open) => Arc::clone(open),
            None => Arc::new(Segment::open(dir, id)?),
        };
        segments.push(segment);
    }
    Ok(SegmentSet::new(segments))
}

/// Opens the rollup files that `manifest` lists, taking those already open in `reuse`.
pub(super) fn open_rollups(
    dir: &Path,
    manifest: &Manifest,
    reuse: &[Arc<RollupFile>],
) -> Result<Vec<Arc<RollupFile>>> {
    let mut files = Vec::with_capacity(manifest.rollups.len());
    for &id in &manifest.rollups {
        let file = match reuse.iter().find(|file| file.id() == id) {
            Some(open) => Arc::clone(open),
            None => Arc::new(RollupFile::open(dir, id)?),
        };
        files.push(file);
    }
    Ok(files)
}

/// Opens the index runs that `manifest` lists, taking those already open in `reuse` from there.
pub(super) fn open_index(dir: &Path, manifest: &Manifest, reuse: &IndexSet) -> Result<IndexSet> {
    let mut runs = Vec::with_capacity(manifest.index_runs.len());
    for &id in &manifest.index_runs {
        let open = reuse.runs().iter().find(|run| run.info().id == id);
        let run = match open {
            Some(run) => Arc::clone(run),
            None => Arc::new(IndexRun::open(dir, id)?),
        };
        runs.push(run);
    }
    Ok(IndexSet::new(runs))
}

/// The flushed state that decides whether a stored orphan's prediction is known.
pub(super) struct Stored<'a> {
    pub(super) segments: &'a SegmentSet,
    pub(super) index: &'a IndexSet,
    pub(super) deletions: &'a crate::deletions::Deletions,
}

impl Stored<'_> {
    /// Returns whether a segment contains a prediction of `uuid` that no deletion hides.
    fn has_visible_prediction(&self, uuid: &Uuid) -> Result<bool> {
        if self.deletions.is_empty() {
            return self.index.contains_prediction(uuid, self.segments);
        }
        for entry in self.index.lookup(uuid, self.segments)? {
            if entry.kind != crate::index::EntryKind::Prediction {
                continue;
            }
            let Some(segment) = self.segments.get(&entry.segment) else {
                continue;
            };
            let p = segment.prediction_at(entry.row)?;
            if !self.deletions.hides_prediction(&p.model, uuid, p.seq) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Collects the UUIDs of stored orphaned delayed records whose prediction is still unknown:
/// the orphans stored in `scanned` and the `earlier` ones, each checked against the index. A
/// deleted prediction counts as unknown: delayed records tracked after its deletion are
/// orphans.
///
/// A store that opens scans every segment. A view that adds segments to an earlier view scans
/// only the new ones and passes the orphans it knew, because a segment never gains orphans
/// after it is written.
pub(super) fn find_orphans<'a>(
    stored: &Stored<'_>,
    scanned: impl Iterator<Item = &'a Arc<Segment>>,
    earlier: &HashSet<Uuid>,
) -> Result<HashSet<Uuid>> {
    let mut orphans = earlier.clone();
    for segment in scanned {
        for orphan in segment.orphans()? {
            orphans.insert(orphan.record.uuid);
        }
    }
    let mut unresolved = HashSet::with_capacity(orphans.len());
    for uuid in orphans {
        if !stored.has_visible_prediction(&uuid)? {
            unresolved.insert(uuid);
        }
    }
    Ok(unresolved)
}
