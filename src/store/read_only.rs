//! `ReadOnlyStore`: a view of a store that another process, or another `Store` in this one,
//! writes to. It takes no lock and changes no byte in the directory.

mod log;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use self::log::{LogCursor, LogRead, LogTail};
use super::{Store, open};
use crate::error::{Error, IoContext, Result};
use crate::head::Head;
use crate::index::IndexSet;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::query::{self, ReadMetrics, Snapshot};
use crate::record::{Aggregate, OrphanedDelayed, Prediction, Seq};
use crate::segment_set::SegmentSet;

/// Attempts of one open or refresh to find every file that a manifest names. Each failed
/// attempt means that the writer replaced files between the read of the manifest and their
/// open, which takes one flush or merge, so a few attempts are enough unless the writer
/// flushes without pause.
const MAX_ATTEMPTS: u32 = 8;
/// Wait after the first failed attempt, doubled after each further one (127 ms in all).
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(1);

/// A read-only view of a store directory that a writer may have open.
///
/// [`Store::open_read_only`] opens it. It never takes the writer's lock and never creates,
/// writes, truncates, renames or deletes a file, so any number of readers in any number of
/// processes can watch a store while one writer tracks into it. It offers the read calls of
/// [`Store`] and [`ReadOnlyStore::refresh`], which moves the view forward.
///
/// # What a view contains
///
/// A view is taken at open and at each `refresh`, and it contains:
///
/// - every record in the segments that the `MANIFEST` lists at that moment;
/// - every record in the write-ahead log files from the manifest's first live log file on, up
///   to the first frame that is not complete and valid at that moment, which is the end of the
///   view's log.
///
/// The writer copies each batch into a shared memory mapping of its log file before its
/// `track_*` call returns. So a view taken after a call returned contains its records, even
/// when the writer has not synced them yet, and even when the writer was killed since. A view
/// can also contain records of a call that has not returned yet, such as a `Durability::Sync`
/// call still waiting for its sync. A power loss can still lose those records.
///
/// The records of a view are a prefix of the store's write order: when a view contains a
/// record, it contains every record tracked before it, and it contains a batch call entirely
/// or not at all. The view changes only on `refresh`, so reads between two refreshes agree,
/// and the number of records never goes down from one refresh to the next. Each read uses the
/// view of the moment it starts, as a `Store` read uses its snapshot.
///
/// # The writer's files under a view
///
/// The writer deletes log files after a flush and index runs after a merge. A view keeps the
/// segments and index runs it opened mapped, and Linux keeps the data of a deleted file until
/// its last mapping or descriptor is closed. So a view stays readable after its files are
/// deleted, and their disk space is freed once a refresh or drop lets go of them. A file that
/// the manifest names may be deleted between the read of the manifest and the open of the
/// file. The open or refresh then reads the manifest again, up to 8 reads in all, and fails if
/// the files still do not match. A failed refresh keeps the previous view.
///
/// The view leaves alone what a writer's open cleans up. A torn frame at the end of the log is
/// the end of the view, and the writer that opens next zeroes it. Files that the manifest does
/// not list are not read, and the writer that opens next deletes them.
///
/// A `ReadOnlyStore` is `Send + Sync`. Reads run in parallel; refreshes are serialised.
pub struct ReadOnlyStore {
    dir: PathBuf,
    /// Serialises refreshes, so that two never read the log into one head.
    refresh_lock: Mutex<()>,
    view: RwLock<View>,
}

/// The files and records of one view.
struct View {
    manifest: Manifest,
    segments: Arc<SegmentSet>,
    index: IndexSet,
    orphans: Arc<HashSet<Uuid>>,
    rollups: Arc<Vec<Arc<crate::rollup::RollupFile>>>,
    /// Records read from the log. A refresh that finds the same manifest inserts the new
    /// records into this head, and snapshots taken before keep their `seq_limit`.
    head: Arc<Head>,
    cursor: LogCursor,
    /// Largest sequence number in the view.
    seq_limit: Seq,
}

impl Store {
    /// Opens a read-only view of the store in `dir`, which a writer may have open.
    ///
    /// It takes no lock and writes nothing: see [`ReadOnlyStore`] for what the view contains.
    /// Fails with `Error::InvalidInput` when `dir` contains no `MANIFEST`, because it is not a
    /// store, and with `Error::Io` when `dir` does not exist. Neither failure creates anything.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<ReadOnlyStore> {
        ReadOnlyStore::open(dir.as_ref())
    }
}

impl ReadOnlyStore {
    fn open(dir: &Path) -> Result<ReadOnlyStore> {
        let started = Instant::now();
        let dir = dir
            .canonicalize()
            .io_context("open store directory read-only", dir)?;
        if !dir.join(MANIFEST_FILE).is_file() {
            return Err(Error::invalid(
                "store directory",
                dir.display().to_string(),
                "it contains no MANIFEST file, so it is not a modelmetrics store. A read-only \
                 open never creates a store: create it with Store::open",
            ));
        }
        let (view, records) = retry(&dir, || {
            let Some(manifest) = Manifest::load(&dir)? else {
                return Ok(Found::Missing(dir.join(MANIFEST_FILE)));
            };
            let built = build_view(&dir, manifest.clone(), None)?;
            still_current(&dir, &manifest, built)
        })?;
        ::log::info!(
            "opened store {} read-only in {:?}: {} segments, {} index runs, {records} records \
             from the write-ahead log",
            dir.display(),
            started.elapsed(),
            view.segments.len(),
            view.index.runs().len(),
        );
        Ok(ReadOnlyStore {
            dir,
            refresh_lock: Mutex::new(()),
            view: RwLock::new(view),
        })
    }

    /// Returns the store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves the view forward to the files and complete log frames of this moment.
    ///
    /// When the manifest has not changed, it reads only the log frames written since the last
    /// refresh. Otherwise it opens the new segments and index runs, keeps those already open,
    /// and reads the live log from its start. On error the previous view stays in place.
    pub fn refresh(&self) -> Result<()> {
        let _refreshing = self.refresh_lock.lock();
        let update = {
            let view = self.view.read();
            retry(&self.dir, || next_view(&self.dir, &view))?
        };
        match update {
            Update::Append(tail) => self.append(tail),
            Update::Replace(view, records) => {
                ::log::debug!(
                    "refreshed read-only view of {}: {} segments, {records} log records",
                    self.dir.display(),
                    view.segments.len()
                );
                *self.view.write() = *view;
            }
        }
        Ok(())
    }

    /// Returns the predictions of `model` with `start_ms <= timestamp < end_ms` in the view,
    /// as [`Store::read_metrics`] does.
    pub fn read_metrics(&self, model: &str, start_ms: i64, end_ms: i64) -> Result<ReadMetrics> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        Ok(ReadMetrics::new(self.snapshot(), model, start_ms, end_ms))
    }

    /// Calls `visit` with each prediction of `model` with `start_ms <= timestamp < end_ms` in
    /// the view, as [`Store::scan_metrics`] does.
    pub fn scan_metrics<C: crate::ScanControl>(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        visit: impl FnMut(crate::PredictionRef<'_>) -> C,
    ) -> Result<()> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        crate::rows::scan_metrics(&self.snapshot(), model, (start_ms, end_ms), visit)
    }

    /// Calls `visit` with each prediction of `model` with `start_ms <= timestamp < end_ms` in
    /// the view, with only the metrics named, as [`Store::scan_selected`] does.
    pub fn scan_selected<C: crate::ScanControl>(
        &self,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        metrics: &[&str],
        delayed: &[&str],
        visit: impl FnMut(crate::PredictionRef<'_>) -> C,
    ) -> Result<()> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        let window = (start_ms, end_ms);
        crate::rows::scan_selected(&self.snapshot(), model, window, (metrics, delayed), visit)
    }

    /// Returns the predictions of `model` with `start_ms <= timestamp < end_ms` in the view as
    /// columns of the metrics named, as [`Store::read_columns`] does.
    pub fn read_columns(
        &self,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        metrics: &[&str],
        delayed: &[&str],
    ) -> Result<crate::columns::Columns> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        let snapshot = self.snapshot();
        crate::columns::read_columns(&snapshot, model, (start_ms, end_ms), metrics, delayed)
    }

    /// Returns the aggregate metrics of `model` whose window overlaps `[start_ms, end_ms)` in
    /// the view, as [`Store::read_aggregate_metrics`] does.
    pub fn read_aggregate_metrics(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Aggregate>> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        query::read_aggregates(&self.snapshot(), model, start_ms, end_ms)
    }

    /// Returns one prediction of the view with its delayed metrics joined in, as
    /// [`Store::lookup`] does.
    pub fn lookup(&self, prediction_uuid: Uuid) -> Result<Option<Prediction>> {
        query::lookup(&self.snapshot(), &prediction_uuid)
    }

    /// Returns the delayed metrics of the view whose prediction the view does not hold, as
    /// [`Store::orphaned_delayed_metrics`] does.
    pub fn orphaned_delayed_metrics(&self) -> Result<Vec<OrphanedDelayed>> {
        query::orphans(&self.snapshot())
    }

    fn snapshot(&self) -> Snapshot {
        let view = self.view.read();
        Snapshot {
            seq_limit: view.seq_limit,
            active: Arc::clone(&view.head),
            frozen: None,
            segments: Arc::clone(&view.segments),
            index: view.index.clone(),
            orphans: Arc::clone(&view.orphans),
            rollups: Arc::clone(&view.rollups),
            raw_cutoff_ms: view.manifest.raw_cutoff_ms,
            deletions: Arc::new(crate::deletions::Deletions::new(&view.manifest.deletions)),
        }
    }

    /// Adds log records to the current view. They go into the head first and become visible
    /// when `seq_limit` moves past them, so a snapshot taken before never returns them.
    fn append(&self, tail: LogTail) {
        let head = Arc::clone(&self.view.read().head);
        let mut last = None;
        {
            let mut data = head.write();
            for record in tail.batches.into_iter().flatten() {
                last = last.max(Some(record.seq()));
                data.insert(record);
            }
        }
        let mut view = self.view.write();
        view.cursor = tail.cursor;
        view.seq_limit = view.seq_limit.max(last.unwrap_or_default());
    }
}

/// Result of a refresh.
enum Update {
    /// The manifest has not changed: log records to add to the current view.
    Append(LogTail),
    /// A new view, and the number of log records in it.
    Replace(Box<View>, usize),
}

/// Outcome of one attempt to read the files that a manifest names.
enum Found<T> {
    Done(T),
    /// A file named by the manifest, or a log file, was not found.
    Missing(PathBuf),
}

/// Runs `attempt` until it finds every file it reads, up to `MAX_ATTEMPTS` times.
fn retry<T>(dir: &Path, mut attempt: impl FnMut() -> Result<Found<T>>) -> Result<T> {
    let mut wait = FIRST_RETRY_WAIT;
    let mut missing = PathBuf::new();
    for attempt_number in 1..=MAX_ATTEMPTS {
        match attempt()? {
            Found::Done(done) => return Ok(done),
            Found::Missing(path) => missing = path,
        }
        ::log::debug!(
            "read-only view of {}: {} is gone, reading the manifest again (attempt \
             {attempt_number})",
            dir.display(),
            missing.display()
        );
        if attempt_number < MAX_ATTEMPTS {
            std::thread::sleep(wait);
            wait *= 2;
        }
    }
    Err(Error::Io {
        operation: "open, in a read-only view, the files that the manifest names, such as",
        path: missing,
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "a file was missing in {MAX_ATTEMPTS} reads of the manifest in a row. Either \
                 the writer replaces files faster than they can be opened, so refresh again \
                 later, or the store lost a file, so open it with Store::open to check it"
            ),
        ),
    })
}

/// Reads the manifest, then the log after `current` when the manifest is the same, or else
/// a new view of every file the manifest names.
fn next_view(dir: &Path, current: &View) -> Result<Found<Update>> {
    let Some(manifest) = Manifest::load(dir)? else {
        return Ok(Found::Missing(dir.join(MANIFEST_FILE)));
    };
    let update = if current.manifest != manifest {
        match build_view(dir, manifest.clone(), Some(current))? {
            Found::Done((view, records)) => Found::Done(Update::Replace(Box::new(view), records)),
            Found::Missing(path) => Found::Missing(path),
        }
    } else {
        match log::read_log(dir, current.cursor)? {
            LogRead::Tail(tail) => Found::Done(Update::Append(tail)),
            LogRead::Missing(path) => Found::Missing(path),
        }
    };
    still_current(dir, &manifest, update)
}

/// Returns `found` if `manifest` is still the store's manifest, else `Found::Missing` so that
/// the caller reads the new one.
///
/// The writer deletes log files only after it installs the manifest that no longer needs them,
/// and it creates the next log file only at the next append. A log read while a flush
/// installs a manifest can therefore find no file at all at the manifest's `wal_start`. That
/// looks like a log with no frames yet, but the frames went into a segment that only the new
/// manifest lists. A manifest that is unchanged after the log read rules this out.
fn still_current<T>(dir: &Path, manifest: &Manifest, found: Found<T>) -> Result<Found<T>> {
    if Manifest::load(dir)?.as_ref() == Some(manifest) {
        return Ok(found);
    }
    Ok(Found::Missing(dir.join(MANIFEST_FILE)))
}

/// Opens the files that `manifest` names, taking those already open from `current`, and reads
/// the live log into a new head. Returns the view and the number of log records in it, with a
/// columnar batch counted once per row.
fn build_view(
    dir: &Path,
    manifest: Manifest,
    current: Option<&View>,
) -> Result<Found<(View, usize)>> {
    let no_segments = SegmentSet::default();
    let open_segments = current.map_or(&no_segments, |v| &*v.segments);
    let segments = match open::open_segments(dir, &manifest, open_segments) {
        Ok(segments) => segments,
        Err(e) => return missing_or(e),
    };

    let no_runs = IndexSet::default();
    let open_runs = current.map_or(&no_runs, |v| &v.index);
    let index = match open::open_index(dir, &manifest, open_runs) {
        Ok(index) => index,
        Err(e) => return missing_or(e),
    };
    let deletions = crate::deletions::Deletions::new(&manifest.deletions);
    let stored = open::Stored {
        segments: &segments,
        index: &index,
        deletions: &deletions,
    };
    let orphans = find_orphans(&stored, current)?;
    let open_rollups = current.map_or(&[][..], |v| &v.rollups[..]);
    let rollups = match open::open_rollups(dir, &manifest, open_rollups) {
        Ok(rollups) => rollups,
        Err(e) => return missing_or(e),
    };

    // NOTE: each new manifest makes the view read and decode the whole live log again, which
    // contains every record the writer has not flushed, instead of only the frames added since.
    let tail = match log::read_log(dir, LogCursor::start_of(manifest.wal_start))? {
        LogRead::Tail(tail) => tail,
        LogRead::Missing(path) => return Ok(Found::Missing(path)),
    };
    let head = Head::default();
    let mut seq_limit = manifest.last_seq;
    let mut records = 0;
    {
        let mut data = head.write();
        for record in tail.batches.into_iter().flatten() {
            seq_limit = seq_limit.max(record.seq());
            records += record.seq_count() as usize;
            data.insert(record);
        }
    }

    let view = View {
        manifest,
        segments: Arc::new(segments),
        index,
        orphans: Arc::new(orphans),
        rollups: Arc::new(rollups),
        head: Arc::new(head),
        cursor: tail.cursor,
        seq_limit,
    };
    Ok(Found::Done((view, records)))
}

/// Finds the unresolved orphans of a new view. When the new view keeps every segment of
/// `current`, only the new segments are scanned.
fn find_orphans(stored: &open::Stored<'_>, current: Option<&View>) -> Result<HashSet<Uuid>> {
    let segments = stored.segments;
    let kept = current.filter(|v| v.segments.ids().iter().all(|id| segments.contains_key(id)));
    match kept {
        Some(view) => {
            let added = segments
                .values()
                .filter(|segment| !view.segments.contains_key(&segment.id()));
            open::find_orphans(stored, added, &view.orphans)
        }
        None => open::find_orphans(stored, segments.values(), &HashSet::new()),
    }
}

/// Returns `Found::Missing` for a file that was not found, and the error otherwise.
fn missing_or<T>(error: Error) -> Result<Found<T>> {
    match error {
        Error::Io { path, source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Found::Missing(path))
        }
        other => Err(other),
    }
}
