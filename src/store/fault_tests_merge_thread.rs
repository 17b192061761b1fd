//! The index merge on its own thread: background flushes go on while a merge is held, `close`
//! waits for a held merge, a failed merge is retried, and `Store::flush` merges before it
//! returns.
//!
//! `GateIo` recognises the new run of an index merge by its id: a flush creates segment `id`
//! and then index run `id + 1`, so an index run created without the segment just below it is
//! a merge's output. Compaction is disabled, because its index runs would count as merges.

use std::collections::HashSet;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use super::Store;
use crate::index::{self, MERGE_MIN_RUNS};
use crate::io::{CreateMode, OsIo, StoreFile, StoreIo};
use crate::options::{Compaction, Options};
use crate::record::NewPrediction;
use crate::segment;
use crate::value::Metrics;

/// Maximum wait for a background flush or merge before a test fails.
const WAIT: Duration = Duration::from_secs(30);
/// Maximum time that `GateIo` keeps a merge waiting, so that a failed test cannot hang.
const MAX_HOLD: Duration = Duration::from_secs(300);
/// Predictions per `track_metrics_batch` call, a small part of the minimum head size.
const BATCH: u64 = 50;

/// What `GateIo` does to the new runs of index merges.
#[derive(Default)]
struct Gate {
    /// Ids of the segment files created so far.
    segments: HashSet<u64>,
    /// Hold each merge at the creation of its run until `release`.
    hold: bool,
    /// A merge waits at the gate now.
    held: bool,
    /// Merges whose first write still fails with `ENOSPC`.
    failures: u32,
    /// Runs created by merges so far.
    attempts: u32,
}

/// A `StoreIo` over the operating system's calls that delays or fails the index merges.
#[derive(Clone, Default)]
struct GateIo {
    gate: Arc<(Mutex<Gate>, Condvar)>,
}

impl GateIo {
    fn hold(&self) {
        self.gate.0.lock().hold = true;
    }

    fn release(&self) {
        let (gate, changed) = &*self.gate;
        gate.lock().hold = false;
        changed.notify_all();
    }

    fn fail_next(&self, merges: u32) {
        self.gate.0.lock().failures = merges;
    }

    fn is_held(&self) -> bool {
        self.gate.0.lock().held
    }

    fn attempts(&self) -> u32 {
        self.gate.0.lock().attempts
    }

    /// Returns true when `path` is the new run of an index merge, and counts it.
    fn is_merge_output(&self, path: &Path) -> bool {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut gate = self.gate.0.lock();
        if let Some(id) = segment::parse_segment_file_name(&name) {
            gate.segments.insert(id);
            return false;
        }
        let Some(id) = index::parse_index_file_name(&name) else {
            return false;
        };
        let flushed = id
            .checked_sub(1)
            .is_some_and(|s| gate.segments.contains(&s));
        let merged = !flushed;
        gate.attempts += u32::from(merged);
        merged
    }

    /// Waits until `release`, for at most `MAX_HOLD`, if merges are to be held.
    fn wait_at_gate(&self) {
        let (gate, changed) = &*self.gate;
        let mut state = gate.lock();
        let deadline = Instant::now() + MAX_HOLD;
        state.held = state.hold;
        changed.notify_all();
        while state.hold && !changed.wait_until(&mut state, deadline).timed_out() {}
        state.held = false;
    }

    fn take_failure(&self) -> bool {
        let mut gate = self.gate.0.lock();
        let fail = gate.failures > 0;
        gate.failures -= u32::from(fail);
        fail
    }
}

/// Releases the gate when dropped, so that a failed assertion does not leave `close` waiting.
struct ReleaseOnDrop<'a>(&'a GateIo);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A file of a failing merge: every write fails with `ENOSPC`, as on a full disk.
struct FullDiskFile(Box<dyn StoreFile>);

impl Write for FullDiskFile {
    fn write(&mut self, _bytes: &[u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(libc::ENOSPC))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Seek for FullDiskFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.0.seek(to)
    }
}

impl StoreFile for FullDiskFile {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync()
    }
}

impl StoreIo for GateIo {
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>> {
        if !self.is_merge_output(path) {
            return OsIo.create(path, mode);
        }
        self.wait_at_gate();
        let file = OsIo.create(path, mode)?;
        if self.take_failure() {
            return Ok(Box::new(FullDiskFile(file)));
        }
        Ok(file)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsIo.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        OsIo.sync_dir(dir)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        OsIo.remove(path)
    }

    fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> io::Result<std::fs::File> {
        OsIo.open_mapped(path, create)
    }

    fn allocate(&self, file: &std::fs::File, path: &Path, len: u64) -> io::Result<()> {
        OsIo.allocate(file, path, len)
    }

    fn note_write(&self, path: &Path, offset: u64, bytes: &[u8]) {
        OsIo.note_write(path, offset, bytes);
    }

    fn sync_data(&self, file: &std::fs::File, path: &Path) -> io::Result<()> {
        OsIo.sync_data(file, path)
    }
}

/// Small heads flushed in the background by size only, and no compaction.
fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .flush_interval(Duration::from_secs(3600))
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

fn open(dir: &Path, io: &GateIo) -> Store {
    Store::open_with_io(dir, options(), Arc::new(io.clone())).unwrap()
}

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(u128::from(n) + 1)
}

/// Tracks predictions `tracked..` in batches until the head reaches its size limit, which
/// nudges the background flush, and advances `tracked`. The head stays under twice the
/// limit, so no call flushes in the calling thread.
fn fill_head(store: &Store, tracked: &mut u64) {
    let segments = segment_count(store);
    while !head_full_or_flushed(store, segments) {
        let batch: Vec<NewPrediction> = (*tracked..*tracked + BATCH)
            .map(|n| NewPrediction {
                model: "m".to_owned(),
                uuid: uuid(n),
                timestamp_ms: n as i64,
                metrics: Metrics::new().with("score", n as f64),
            })
            .collect();
        store.track_metrics_batch(&batch).unwrap();
        *tracked += BATCH;
    }
}

/// Returns true when the head is at its size limit, or when the background thread has
/// frozen or flushed it since the store had `segments` segments. Checking the active head
/// alone would miss a head frozen right after the call that filled it.
fn head_full_or_flushed(store: &Store, segments: usize) -> bool {
    let state = store.inner.state.read();
    state.frozen.is_some()
        || state.manifest.segments.len() > segments
        || state.active.read().bytes() >= store.inner.head_limit()
}

fn segment_count(store: &Store) -> usize {
    store.inner.state.read().manifest.segments.len()
}

fn run_count(store: &Store) -> usize {
    store.inner.state.read().manifest.index_runs.len()
}

/// Polls `done` until it returns true or `WAIT` passes, and returns its last result.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Fills one head and waits until the background thread has flushed it.
fn fill_and_flush(store: &Store, tracked: &mut u64) {
    let before = segment_count(store);
    fill_head(store, tracked);
    assert!(
        wait_until(|| segment_count(store) > before),
        "the head with prediction {tracked} was not flushed within {WAIT:?}"
    );
}

/// Fills and flushes heads in the background until enough runs for a merge exist, and returns
/// the number of predictions tracked.
fn fill_until_merge(store: &Store) -> u64 {
    let mut tracked = 0;
    for _ in 0..MERGE_MIN_RUNS {
        fill_and_flush(store, &mut tracked);
    }
    tracked
}

/// Checks that a store reopened from `dir` finds every prediction below `tracked`, and that
/// the directory contains no index run outside its manifest.
fn check_reopened(dir: &Path, tracked: u64) {
    let listed = crate::manifest::Manifest::load(dir).unwrap().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = index::parse_index_file_name(&name) {
            assert!(listed.index_runs.contains(&id), "{name} is not listed");
        }
    }
    let store = Store::open_with(dir, options()).unwrap();
    for n in 0..tracked {
        let found = store.lookup(uuid(n)).unwrap();
        assert!(found.is_some(), "prediction {n} not found after reopen");
    }
    store.close().unwrap();
}

#[test]
fn flushes_go_on_while_merge_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let io = GateIo::default();
    let store = open(dir.path(), &io);
    let _release = ReleaseOnDrop(&io);
    io.hold();
    let mut tracked = fill_until_merge(&store);
    assert!(wait_until(|| io.is_held()), "no merge reached the gate");

    let runs = run_count(&store);
    for _ in 0..3 {
        fill_and_flush(&store, &mut tracked);
    }
    assert!(io.is_held(), "the merge left the gate before its release");
    assert_eq!(run_count(&store), runs + 3);

    io.release();
    assert!(
        wait_until(|| run_count(&store) < runs),
        "the merge did not finish after its release: {} runs of {runs} left, {} merges",
        run_count(&store),
        io.attempts()
    );
    store.close().unwrap();
    check_reopened(dir.path(), tracked);
}

#[test]
fn close_waits_for_held_merge() {
    let dir = tempfile::tempdir().unwrap();
    let io = GateIo::default();
    let store = open(dir.path(), &io);
    let _release = ReleaseOnDrop(&io);
    io.hold();
    let tracked = fill_until_merge(&store);
    assert!(wait_until(|| io.is_held()), "no merge reached the gate");
    let runs = run_count(&store);

    std::thread::scope(|scope| {
        let closing = scope.spawn(|| store.close());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!closing.is_finished(), "close returned during the merge");
        io.release();
        let closed = closing.join().unwrap();
        assert!(closed.is_ok(), "close returned {closed:?}");
    });
    assert_eq!(io.attempts(), 1);
    // The released merge saw `closed` and stopped, so its inputs are still the listed runs.
    let listed = crate::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(listed.index_runs.len(), runs);
    check_reopened(dir.path(), tracked);
}

#[test]
fn failed_merge_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let io = GateIo::default();
    let store = open(dir.path(), &io);
    io.fail_next(2);
    let mut tracked = fill_until_merge(&store);
    assert!(
        wait_until(|| run_count(&store) < MERGE_MIN_RUNS),
        "the merge was not retried after {} attempts",
        io.attempts()
    );
    assert_eq!(io.attempts(), 3);

    // The failures poisoned nothing: writes and background flushes go on.
    fill_and_flush(&store, &mut tracked);
    store.close().unwrap();
    check_reopened(dir.path(), tracked);
}

#[test]
fn flush_merges_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let io = GateIo::default();
    let store = open(dir.path(), &io);
    let metrics = Metrics::new().with("score", 0.5);
    for n in 0..MERGE_MIN_RUNS as u64 {
        store
            .track_metrics("m", uuid(n), n as i64, &metrics)
            .unwrap();
        store.flush().unwrap();
    }
    assert_eq!(run_count(&store), 1);
    assert_eq!(io.attempts(), 1);
    store.close().unwrap();
    check_reopened(dir.path(), MERGE_MIN_RUNS as u64);
}
