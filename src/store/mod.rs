//! The `Store`: the public API over the write-ahead log, the head, segments and the UUID index.

mod checkpoint;
mod compact;
mod compact_groups;
mod compactor;
mod delete;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod fault_tests_close_race;
#[cfg(test)]
mod fault_tests_compaction;
#[cfg(test)]
mod fault_tests_group_commit;
#[cfg(test)]
mod fault_tests_merge_thread;
#[cfg(test)]
mod fault_tests_wal;
mod flush;
mod index_merge;
mod lock;
mod merger;
mod models;
mod new_dir;
mod open;
mod purge;
mod read_only;
mod rollup_change;
mod worker;
mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::head::Head;
use crate::index::IndexSet;
use crate::io::{self, StoreIo};
use crate::manifest::{Deletion, Manifest};
use crate::options::Options;
use crate::query::{self, ReadMetrics, Snapshot};
use crate::record::{Aggregate, OrphanedDelayed, Prediction};
use crate::rows::{PredictionRef, ScanControl};
use crate::tiers::TieredWindow;
use crate::wal::Wal;

pub use read_only::ReadOnlyStore;

/// An embedded model-metrics store in one directory.
///
/// A `Store` is `Send + Sync`: share it between threads through a reference or an `Arc`. Only
/// one `Store` may have a directory open at a time; a second open fails with `Error::Locked`.
/// Dropping a store closes it, but only `close` reports a failure of that last flush.
pub struct Store {
    inner: Arc<Inner>,
    worker: Mutex<Option<worker::Worker>>,
    compactor: Mutex<Option<compactor::Compactor>>,
    merger: Mutex<Option<merger::IndexMerger>>,
}

/// State shared by the store's callers and its background thread.
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub options: Options,
    /// File calls of flushes and index merges: segments, index runs and the manifest.
    pub io: Arc<dyn StoreIo>,
    pub wal: Wal,
    /// Serialises writers: sequence numbers, duplicate checks, log order and head inserts.
    pub writer: Mutex<()>,
    pub state: RwLock<State>,
    /// Serialises flushes and manifest changes.
    pub flush_lock: Mutex<()>,
    /// Held by an index merge, and by a compaction while it rewrites index runs, so that one of
    /// them at a time replaces runs.
    pub index_lock: Mutex<()>,
    /// Requests for the index merge thread, sent after each flush that does not merge itself.
    pub merge_requests: merger::MergeRequests,
    /// Serialises compactions. It guards the merges that gave as many segments as they read,
    /// which are not tried again.
    pub compaction_lock: Mutex<HashSet<Vec<u64>>>,
    /// Next id for a segment, index run or rollup file. Flushes and compactions take ids from
    /// it while they write, and the manifest records it when they switch.
    pub next_file_id: AtomicU64,
    /// Largest sequence number whose record is in a head; readers see records up to it.
    pub last_seq: AtomicU64,
    /// Reason the store rejects writes, set when a sync or a log write failed.
    pub poison: Mutex<Option<String>>,
    pub closed: AtomicBool,
    /// The directory lock, released by `close`.
    pub dir_lock: Mutex<Option<lock::DirLock>>,
}

/// The set of live files and heads; readers clone what they need under a read lock.
pub(crate) struct State {
    pub active: Arc<Head>,
    /// A head being flushed, with the first log file that contains records newer than it.
    pub frozen: Option<(Arc<Head>, u64)>,
    pub segments: Arc<crate::segment_set::SegmentSet>,
    pub index: IndexSet,
    pub manifest: Manifest,
    /// UUIDs of delayed records stored in segments without their prediction.
    pub orphans: Arc<std::collections::HashSet<Uuid>>,
    /// Live rollup files, ascending by id.
    pub rollups: Arc<Vec<Arc<crate::rollup::RollupFile>>>,
    /// `manifest.deletions`, keyed for reads.
    pub deletions: Arc<crate::deletions::Deletions>,
}

impl Store {
    /// Opens the store in `dir` with default options, creating the directory when missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, Options::default())
    }

    /// Opens the store in `dir`, creating the directory when missing, and replays its log.
    ///
    /// A directory without a `MANIFEST` becomes a new store only when it is empty or contains
    /// nothing but files the store writes. Otherwise the open fails with `Error::InvalidInput`,
    /// which names the directory and some of the other files, and creates nothing.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        Store::open_with_io(dir.as_ref(), options, io::os_io())
    }

    /// Opens the store in `dir` like `open_with`, with its flushes writing through `io`.
    pub(crate) fn open_with_io(
        dir: &Path,
        options: Options,
        io: Arc<dyn StoreIo>,
    ) -> Result<Store> {
        let inner = Arc::new(open::open(dir, options, io)?);
        let worker = worker::Worker::start(Arc::clone(&inner))?;
        let compactor = match compactor::Compactor::start(Arc::clone(&inner)) {
            Ok(compactor) => compactor,
            Err(e) => {
                let _ = worker.stop();
                return Err(e);
            }
        };
        let merger = match merger::IndexMerger::start(Arc::clone(&inner)) {
            Ok(merger) => merger,
            Err(e) => {
                let _ = worker.stop();
                if let Some(compactor) = compactor {
                    let _ = compactor.stop();
                }
                return Err(e);
            }
        };
        Ok(Store {
            inner,
            worker: Mutex::new(Some(worker)),
            compactor: Mutex::new(compactor),
            merger: Mutex::new(Some(merger)),
        })
    }

    /// Returns the store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Returns the tracked predictions of `model` with `start_ms <= timestamp < end_ms`, in
    /// timestamp order (ties in tracking order), each with its delayed metrics joined in.
    /// Inline and delayed metrics come back sorted by name, whatever order they were tracked in.
    ///
    /// The iterator reads a consistent snapshot taken by this call: records tracked later are
    /// not returned. It decodes the window a slice at a time, so memory grows with a slice and
    /// with the head, not with the window.
    pub fn read_metrics(&self, model: &str, start_ms: i64, end_ms: i64) -> Result<ReadMetrics> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        Ok(ReadMetrics::new(self.snapshot(), model, start_ms, end_ms))
    }

    /// Calls `visit` with each prediction of `model` with `start_ms <= timestamp < end_ms`, as
    /// a [`PredictionRef`] that borrows its metric names and values from the decoded window.
    ///
    /// The rows, their order and their inline and delayed metrics are those `read_metrics`
    /// returns for a consistent snapshot taken by this call, and `PredictionRef::to_prediction`
    /// gives the same `Prediction`. The scan decodes a slice of the window at a time into
    /// typed columns, as `read_columns` does for all metrics, so visiting a row allocates
    /// nothing: a loop over a window runs many times faster than one over `read_metrics`.
    /// Memory grows with a slice and with the head, not with the window.
    ///
    /// The visitor returns `()`, or a `ControlFlow<()>` (see [`ScanControl`]): `Break` ends the
    /// scan after that row, and the call returns `Ok(())`.
    ///
    /// ```
    /// # fn main() -> modelmetrics::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use modelmetrics::{Metrics, Store, Uuid, ValueRef};
    ///
    /// let store = Store::open(dir.path())?;
    /// let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
    /// store.track_metrics("m", first, 10, &Metrics::new().with("score", 0.25))?;
    /// store.track_metrics("m", second, 20, &Metrics::new().with("score", 0.75))?;
    /// store.track_delayed_metrics(second, 30, &Metrics::new().with("label", true))?;
    ///
    /// let mut labelled = Vec::new();
    /// store.scan_metrics("m", 0, 100, |row| {
    ///     if let Some(ValueRef::Bool(label)) = row.delayed_metric("label") {
    ///         let score = row.metric("score").and_then(ValueRef::as_f64);
    ///         labelled.push((row.uuid(), score, label));
    ///     }
    /// })?;
    /// assert_eq!(labelled, [(second, Some(0.75), true)]);
    ///
    /// let mut owned = Vec::new();
    /// store.scan_metrics("m", 0, 100, |row| owned.push(row.to_prediction()))?;
    /// let read: Vec<_> = store.read_metrics("m", 0, 100)?.collect::<Result<_, _>>()?;
    /// assert_eq!(owned, read);
    ///
    /// // The first prediction with a score above one half, and no row after it.
    /// let mut first_high = None;
    /// store.scan_metrics("m", 0, 100, |row| {
    ///     if row.metric("score").and_then(ValueRef::as_f64) > Some(0.5) {
    ///         first_high = Some(row.uuid());
    ///         return std::ops::ControlFlow::Break(());
    ///     }
    ///     std::ops::ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(first_high, Some(second));
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan_metrics<C: ScanControl>(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        visit: impl FnMut(PredictionRef<'_>) -> C,
    ) -> Result<()> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        crate::rows::scan_metrics(&self.snapshot(), model, (start_ms, end_ms), visit)
    }

    /// Calls `visit` with each prediction of `model` with `start_ms <= timestamp < end_ms`, as
    /// [`scan_metrics`](Store::scan_metrics) does, with only the inline metrics named in
    /// `metrics` and the delayed metrics named in `delayed`.
    ///
    /// Only the metrics named are decoded, as in `read_columns`, so a job that needs a score
    /// and a label of a window with many features visits its rows several times faster. A
    /// name the window lacks gives rows without that metric.
    ///
    /// ```
    /// # fn main() -> modelmetrics::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use modelmetrics::{Metrics, Store, Uuid, ValueRef};
    ///
    /// let store = Store::open(dir.path())?;
    /// let uuid = Uuid::from_u128(1);
    /// let metrics = Metrics::new().with("score", 0.75).with("age", 41);
    /// store.track_metrics("m", uuid, 10, &metrics)?;
    /// store.track_delayed_metrics(uuid, 30, &Metrics::new().with("label", true))?;
    ///
    /// let mut rows = Vec::new();
    /// store.scan_selected("m", (0, 100), &["score"], &["label"], |row| {
    ///     let score = row.metric("score").and_then(ValueRef::as_f64);
    ///     let label = row.delayed_metric("label").and_then(ValueRef::as_bool);
    ///     rows.push((score, label, row.metrics().count()));
    /// })?;
    /// assert_eq!(rows, [(Some(0.75), Some(true), 1)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan_selected<C: ScanControl>(
        &self,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        metrics: &[&str],
        delayed: &[&str],
        visit: impl FnMut(PredictionRef<'_>) -> C,
    ) -> Result<()> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        let window = (start_ms, end_ms);
        crate::rows::scan_selected(&self.snapshot(), model, window, (metrics, delayed), visit)
    }

    /// Returns the predictions of `model` with `start_ms <= timestamp < end_ms` as columns:
    /// their UUIDs and timestamps, the inline metrics `metrics` and the delayed metrics
    /// `delayed`, each as one [`Column`](crate::Column) of its type with the rows where a
    /// prediction lacks the metric marked absent.
    ///
    /// The rows and values are those `read_metrics` returns, in the same order, for a
    /// consistent snapshot taken by this call. Only the metrics named are decoded, and numbers
    /// go from the segments into vectors of their type without a `Value` per row. So a job
    /// that needs a few metrics of a window reads them several times faster than through
    /// `read_metrics`. The whole window is held in
    /// memory: read a long history window by window.
    pub fn read_columns(
        &self,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        metrics: &[&str],
        delayed: &[&str],
    ) -> Result<crate::columns::Columns> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        let snapshot = self.snapshot();
        crate::columns::read_columns(&snapshot, model, (start_ms, end_ms), metrics, delayed)
    }

    /// Returns the start of the raw tier: compaction rolled up the predictions with an earlier
    /// timestamp. A prediction tracked later with an earlier timestamp stays raw until the next
    /// compaction rolls it up too, so `read_metrics` returns it until then. `read_tiered`
    /// counts it with the rollups at once. `i64::MIN` when nothing was rolled up.
    pub fn raw_tier_start(&self) -> Result<i64> {
        self.check_open()?;
        Ok(self.inner.state.read().manifest.raw_cutoff_ms)
    }

    /// Returns the stored rollups of `model` whose interval overlaps `[start_ms, end_ms)`,
    /// ordered by (start, interval). Compaction writes them when it rolls up predictions older
    /// than `Retention::raw_for`; see `read_tiered` for a window that spans both tiers.
    pub fn read_rollups(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<crate::rollup::Rollup>> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        crate::tiers::read_rollups(&self.snapshot(), model, start_ms, end_ms)
    }

    /// Reads the predictions of `model` in `[start_ms, end_ms)` across tiers: raw records
    /// where the store keeps them, rollups where compaction replaced them. Each prediction is
    /// in exactly one of the two parts, and `TieredWindow::raw_from_ms` is where the raw tier
    /// starts.
    pub fn read_tiered(&self, model: &str, start_ms: i64, end_ms: i64) -> Result<TieredWindow> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        // A store reopened without tiers still rolls leftovers up, at one hour.
        let tiers = &self.inner.options.compaction.retention.tiers;
        let interval = tiers.first().map_or(3_600_000, |tier| {
            crate::compaction::plan::millis(tier.interval).max(1)
        });
        crate::tiers::read_tiered(self.snapshot(), model, (start_ms, end_ms), interval)
    }

    /// Returns the aggregate metrics of `model` whose window overlaps `[start_ms, end_ms)`, one
    /// entry per distinct window, ordered by (start, end). A metric tracked again for the same
    /// window shows its latest value.
    pub fn read_aggregate_metrics(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Aggregate>> {
        crate::value::validate_model(model)?;
        crate::value::validate_window(start_ms, end_ms)?;
        self.check_open()?;
        query::read_aggregates(&self.snapshot(), model, start_ms, end_ms)
    }

    /// Returns one prediction with its delayed metrics joined in, found through the UUID
    /// index, or `None` when the store has no prediction with that UUID.
    pub fn lookup(&self, prediction_uuid: Uuid) -> Result<Option<Prediction>> {
        self.check_open()?;
        query::lookup(&self.snapshot(), &prediction_uuid)
    }

    /// Returns the delayed metrics whose prediction UUID the store does not hold, oldest
    /// tracking first. They stay stored and are joined in if the prediction is tracked later.
    pub fn orphaned_delayed_metrics(&self) -> Result<Vec<OrphanedDelayed>> {
        self.check_open()?;
        query::orphans(&self.snapshot())
    }

    /// Writes the head to a segment and starts a new head, so the log can be trimmed, then
    /// merges the UUID index's runs that the merge policy selects, in the calling thread. If a
    /// merge or a compaction has locked the runs at that moment, the call does not wait, and the
    /// store's index merge thread merges them later.
    ///
    /// A poisoned store returns `Error::Poisoned` and writes nothing, as `close` does, so the
    /// records of its log stay where a reopen replays them.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.inner.check_poison()?;
        flush::flush_and_merge(&self.inner)
    }

    /// Writes a consistent copy of the store into `dir`, which must be missing or empty, while
    /// other threads go on tracking and reading. `Store::open` opens the copy as an independent
    /// store.
    ///
    /// The copy contains every record whose `track_*` call returned before this call started,
    /// and may contain records of calls that ran during it, each call's batch whole or not at
    /// all. It consists of the files that the manifest lists (segments, index runs, rollup
    /// files), the log files from the manifest's `wal_start` up to the end of the last complete
    /// frame, and the manifest, which is written last. The files are written into a sibling
    /// directory named like `dir` with `.partial` appended, which is renamed to `dir` once
    /// everything is synced, so `dir` appears complete or not at all. A failed call returns the
    /// error and removes what it wrote. A crash during the call leaves the `.partial`
    /// directory, which the next checkpoint into `dir` reports: delete it and try again.
    ///
    /// Writers wait only for the instant in which the call reads the end of the log. Flushes,
    /// index merges and the manifest switch of a compaction wait while the call links and
    /// copies files. So does a writer that finds the head at twice `Options::head_size_bytes`,
    /// because it must flush first.
    ///
    /// The files that the manifest lists never change, so they are hard-linked: a link takes
    /// no space until the store deletes its own name for the file. Where linking fails, for
    /// example when `dir` is on another file system, they are copied, which takes their full
    /// size, and a warning is logged. Log files are always copied. Runs of zeros in them become
    /// holes where the file system supports them.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.check_open()?;
        checkpoint::checkpoint(&self.inner, dir.as_ref())
    }

    /// Runs compaction now, as the background thread would, and returns when the segments
    /// meet the policy in `Options::compaction`: small segments merged, old predictions
    /// rolled up, data past its maximum age deleted. Returns the number of steps run.
    ///
    /// Only records already flushed to segments are compacted; call `flush` first to include
    /// the head. Writers are not blocked, except for a moment while the manifest switches.
    pub fn compact(&self) -> Result<u32> {
        self.check_open()?;
        compact::compact(&self.inner)
    }

    /// Deletes the prediction `prediction_uuid` and its delayed metrics, as tracked so far.
    ///
    /// Reads stop returning them when the call returns, and the deletion is durable: it is in
    /// the manifest, synced. Compaction then rewrites the files that hold the records, and
    /// `dump` lists the deletion until it has. Rollups hold no single prediction, so a
    /// prediction already rolled up stays counted in its rollup. Until compaction has removed
    /// it, tracking a prediction with the same UUID fails with `Error::DuplicatePrediction`.
    /// Delayed metrics tracked for it after the call are kept as orphans
    /// (`orphaned_delayed_metrics`).
    pub fn delete_prediction(&self, prediction_uuid: Uuid) -> Result<()> {
        self.check_open()?;
        delete::delete(&self.inner, |seq_limit| Deletion::Prediction {
            uuid: prediction_uuid,
            seq_limit,
        })
    }

    /// Deletes every prediction, delayed metric, aggregate and rollup of `model` tracked so
    /// far, as `delete_prediction` deletes one prediction. Records tracked after the call are
    /// kept.
    pub fn delete_model(&self, model: &str) -> Result<()> {
        crate::value::validate_model(model)?;
        self.check_open()?;
        delete::delete(&self.inner, |seq_limit| Deletion::Model {
            model: model.to_owned(),
            seq_limit,
        })
    }

    /// Makes every record tracked so far durable against a power loss.
    pub fn sync(&self) -> Result<()> {
        self.check_open()?;
        self.inner.check_poison()?;
        self.inner
            .wal
            .sync()
            .inspect_err(|e| self.inner.set_poison(e))
    }

    /// Flushes the head, syncs and closes the store, and stops its background threads. An index
    /// merge in progress stops within 65,536 entries and leaves its input runs as they were.
    /// `close` merges no runs itself: the next open merges them after its first flush, if the
    /// merge policy selects them. A `compact` or `flush` running on another thread ends its
    /// current step first, so the store changes no file once `close` has returned.
    ///
    /// After `close` the log contains no records, so the next open replays nothing, and the
    /// directory is unlocked, so it can be opened again while this value still exists. Calling
    /// it twice is harmless; the second call returns `Ok`, and every other call returns
    /// `Error::Closed`.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let compactor_stopped = match self.compactor.lock().take() {
            Some(compactor) => compactor.stop(),
            None => Ok(()),
        };
        let stopped = match self.worker.lock().take() {
            Some(worker) => worker.stop(),
            None => Ok(()),
        };
        // Waits for a merge in progress, which may take seconds on a large index.
        let merger_stopped = match self.merger.lock().take() {
            Some(merger) => merger.stop(),
            None => Ok(()),
        };
        let stopped = compactor_stopped.and(stopped).and(merger_stopped);
        // A `compact` or `flush` that another thread called before `close` may still be
        // writing. Their locks wait for them, and `closed`, set above, keeps them from starting
        // another step, so that nothing changes the directory once its lock is released.
        drop(self.inner.compaction_lock.lock());
        drop(self.inner.index_lock.lock());
        let closed = open::close(&self.inner);
        // Released last, so that no other store can open the directory while this one writes.
        self.inner.dir_lock.lock().take();
        stopped.and(closed)
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::error!("closing store {} failed: {e}", self.inner.dir.display());
        }
    }
}

impl Inner {
    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.read();
        let limit = self.last_seq.load(Ordering::Acquire);
        Snapshot {
            seq_limit: limit,
            active: Arc::clone(&state.active),
            frozen: state.frozen.as_ref().map(|(head, _)| Arc::clone(head)),
            segments: Arc::clone(&state.segments),
            index: state.index.clone(),
            orphans: Arc::clone(&state.orphans),
            rollups: Arc::clone(&state.rollups),
            raw_cutoff_ms: state.manifest.raw_cutoff_ms,
            deletions: Arc::clone(&state.deletions),
        }
    }

    /// Reserves `count` consecutive file ids and returns the first.
    pub(crate) fn allocate_file_ids(&self, count: u64) -> u64 {
        self.next_file_id.fetch_add(count, Ordering::SeqCst)
    }

    pub(crate) fn check_poison(&self) -> Result<()> {
        match self.poison.lock().as_ref() {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Rejects further writes after a failure that left the log in an unknown state.
    ///
    /// `Error::Closed` is no such failure: a flush or sync that meets a log closed under it by
    /// `close` leaves nothing unknown, and a writer racing the close must see `Error::Closed`.
    pub(crate) fn set_poison(&self, error: &Error) {
        if matches!(error, Error::Closed) {
            return;
        }
        let mut poison = self.poison.lock();
        if poison.is_none() {
            log::error!(
                "store {} rejects writes from now on: {error}",
                self.dir.display()
            );
            *poison = Some(error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }

    /// A flush that meets the log closed by `close` must not turn the store's later errors
    /// into `Error::Poisoned`: a writer racing the close expects `Error::Closed`.
    #[test]
    fn closed_log_does_not_poison_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.inner.set_poison(&Error::Closed);
        assert!(store.inner.check_poison().is_ok());

        let failure = Error::Poisoned {
            reason: "fdatasync failed".into(),
        };
        store.inner.set_poison(&failure);
        assert!(matches!(
            store.inner.check_poison(),
            Err(Error::Poisoned { reason }) if reason.contains("fdatasync failed")
        ));
    }

    #[test]
    fn poisoned_store_flush_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let metrics = crate::Metrics::new().with("x", 1.0);
        store
            .track_metrics("m", Uuid::from_u128(1), 0, &metrics)
            .unwrap();
        let files = |dir: &std::path::Path| -> Vec<String> {
            let entries = std::fs::read_dir(dir).unwrap();
            let mut names: Vec<String> = entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let before = files(dir.path());
        let failure = Error::Poisoned {
            reason: "fdatasync failed".into(),
        };
        store.inner.set_poison(&failure);

        let flushed = store.flush();
        assert!(
            matches!(flushed, Err(Error::Poisoned { .. })),
            "{flushed:?}"
        );
        assert_eq!(files(dir.path()), before);
    }
}
