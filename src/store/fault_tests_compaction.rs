//! Crash-point sweeps of `Store::compact`: each file operation of a compaction fails in turn.
//!
//! The store contains a week of predictions in many small segments, with labels, late labels,
//! orphans and aggregate metrics, under a policy that expires the oldest day, rolls up three
//! more, coarsens the older rollups and merges what is left. One `compact` call runs those
//! steps in that order. Only the first three change what reads return, so a store passes
//! through four read states. `references` computes them one step at a time, under policies
//! that allow only one more step each.
//!
//! After a failure in step `k`, the store must still return state `k`, and a later `compact`
//! must reach the last state. The reopened directory, a copy as a killed process leaves it and
//! a power-loss image must each open in state `k` or `k + 1` with no file outside the manifest,
//! and compact to the last state.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Store;
use crate::error::Error;
use crate::io::fault::{Fault, FaultyIo, Loss, Op};
use crate::io::{CreateMode, OsIo, StoreFile, StoreIo};
use crate::manifest::{MANIFEST_TMP_FILE, Manifest};
use crate::options::{Compaction, Durability, Options, Retention, RollupTier};
use crate::record::{Aggregate, NewDelayed, NewPrediction, OrphanedDelayed, Prediction};
use crate::value::Metrics;

const MODEL: &str = "fraud";
const DAY: i64 = 86_400_000;
const DAYS: usize = 7;
/// Flushes per day of data, each one segment.
const FLUSHES_PER_DAY: usize = 3;
/// Predictions per flush.
const PER_FLUSH: usize = 15;
/// Predictions whose lookup every state records: expired, rolled up, coarsened and kept.
const LOOKED_UP: [usize; 7] = [0, 7, 50, 120, 200, 300, 314];

fn prediction_uuid(n: usize) -> Uuid {
    Uuid::from_u128(n as u128 + 1)
}

fn orphan_uuid(batch: usize) -> Uuid {
    Uuid::from_u128(u128::MAX - batch as u128)
}

fn options(retention: Retention, target_segment_bytes: u64) -> Options {
    Options::default()
        .durability(Durability::Sync)
        .flush_interval(Duration::from_secs(3600))
        .head_size_bytes(64 << 20)
        .compaction(Compaction {
            enabled: false,
            target_segment_bytes,
            partition: Duration::from_secs(86_400),
            retention,
            ..Compaction::default()
        })
}

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// Expire after 5 days, raw for 2 days, 5-minute rollups until 3 days, then hourly.
fn full_policy() -> Retention {
    Retention::keep_raw_for(days(2))
        .then(RollupTier::every(Duration::from_secs(300)).until(days(3)))
        .then(RollupTier::every(Duration::from_secs(3600)))
        .delete_after(days(5))
}

std::thread_local! {
    /// `target_segment_bytes` of the swept store. A test that lowers it makes each step
    /// rewrite its segments in several groups, so that faults also hit between two groups.
    static SWEPT_TARGET_BYTES: std::cell::Cell<u64> = const { std::cell::Cell::new(64 << 20) };
}

/// Options of the swept store: the full policy, with merges of small segments.
fn swept_options() -> Options {
    options(full_policy(), SWEPT_TARGET_BYTES.get())
}

/// Tracks and flushes batch `batch`: predictions spread over its third of a day, a label for
/// every second one, a late label for every third prediction of the batch before, one orphan
/// and one aggregate window.
fn track_batch(store: &Store, batch: usize) {
    let day = (batch / FLUSHES_PER_DAY) as i64;
    let step = DAY / (FLUSHES_PER_DAY * PER_FLUSH) as i64;
    let first = batch * PER_FLUSH;
    let predictions: Vec<NewPrediction> = (first..first + PER_FLUSH)
        .map(|n| NewPrediction {
            model: MODEL.to_owned(),
            uuid: prediction_uuid(n),
            timestamp_ms: day * DAY + (n % (FLUSHES_PER_DAY * PER_FLUSH)) as i64 * step,
            metrics: Metrics::new().with("score", (n % 97) as f64 / 97.0),
        })
        .collect();
    store.track_metrics_batch(&predictions).unwrap();

    let mut delayed: Vec<NewDelayed> = (first..first + PER_FLUSH)
        .step_by(2)
        .map(|n| NewDelayed {
            uuid: prediction_uuid(n),
            timestamp_ms: day * DAY + 1,
            metrics: Metrics::new().with("label", n % 3 == 0),
        })
        .collect();
    let late = (first.saturating_sub(PER_FLUSH)..first).step_by(3);
    delayed.extend(late.map(|n| NewDelayed {
        uuid: prediction_uuid(n),
        timestamp_ms: day * DAY + 2,
        metrics: Metrics::new().with("late", n as i64),
    }));
    delayed.push(NewDelayed {
        uuid: orphan_uuid(batch),
        timestamp_ms: day * DAY + 7,
        metrics: Metrics::new().with("label", true),
    });
    store.track_delayed_metrics_batch(&delayed).unwrap();

    let window_ms = DAY / FLUSHES_PER_DAY as i64;
    let start = day * DAY + (batch % FLUSHES_PER_DAY) as i64 * window_ms;
    let auc = Metrics::new().with("auc", batch as f64 / 100.0);
    store
        .track_aggregate_metrics(MODEL, start, start + window_ms, &auc)
        .unwrap();
    store.flush().unwrap();
}

/// Builds the store that every crash point starts from, in a directory of its own.
fn build_template() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), swept_options()).unwrap();
    for batch in 0..DAYS * FLUSHES_PER_DAY {
        track_batch(&store, batch);
    }
    store.close().unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// What reads return: every view that a compaction must keep, or change only by a step.
#[derive(Debug, PartialEq)]
struct Views {
    raw: Vec<Prediction>,
    /// `raw_from_ms` of `read_tiered` over the whole week.
    raw_from_ms: i64,
    /// (start, interval, predictions, labeled) of each rollup that `read_tiered` returns.
    rollups: Vec<(i64, i64, u64, u64)>,
    tiered_raw: usize,
    lookups: Vec<Option<Prediction>>,
    orphans: Vec<OrphanedDelayed>,
    aggregates: Vec<Aggregate>,
}

impl Views {
    fn read(store: &Store) -> Views {
        let raw = store.read_metrics(MODEL, i64::MIN, i64::MAX).unwrap();
        let tiered = store.read_tiered(MODEL, 0, DAYS as i64 * DAY).unwrap();
        let rollups = tiered.rollups.iter();
        let rollups = rollups.map(|r| (r.start_ms, r.interval_ms, r.predictions, r.labeled));
        let lookups = LOOKED_UP
            .iter()
            .map(|&n| store.lookup(prediction_uuid(n)).unwrap());
        Views {
            raw: raw.collect::<crate::Result<_>>().unwrap(),
            raw_from_ms: tiered.raw_from_ms,
            rollups: rollups.collect(),
            tiered_raw: tiered.raw.map(Result::unwrap).count(),
            lookups: lookups.collect(),
            orphans: store.orphaned_delayed_metrics().unwrap(),
            aggregates: store
                .read_aggregate_metrics(MODEL, i64::MIN, i64::MAX)
                .unwrap(),
        }
    }

    /// Predictions counted by `read_tiered`, raw or in a rollup.
    fn tiered_total(&self) -> u64 {
        let rolled: u64 = self.rollups.iter().map(|r| r.2).sum();
        rolled + self.tiered_raw as u64
    }

    /// Names the first view that differs from `other`, or `None` when all agree.
    fn first_difference(&self, other: &Views) -> Option<&'static str> {
        let differs = [
            ("raw reads", self.raw != other.raw),
            ("raw_from_ms", self.raw_from_ms != other.raw_from_ms),
            ("rollups", self.rollups != other.rollups),
            ("tiered raw count", self.tiered_raw != other.tiered_raw),
            ("lookups", self.lookups != other.lookups),
            ("orphans", self.orphans != other.orphans),
            ("aggregates", self.aggregates != other.aggregates),
        ];
        differs.into_iter().find(|d| d.1).map(|d| d.0)
    }
}

/// Opens a copy of `template` with `options`, compacts it and returns what it reads then.
fn compacted_views(template: &Path, options: Options) -> Views {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    let store = Store::open_with(dir.path(), options).unwrap();
    store.compact().unwrap();
    let views = Views::read(&store);
    store.close().unwrap();
    views
}

/// Returns the four read states of a compaction of `template`: before it, after the expiry,
/// after the roll-up and after the coarsening. Merges are kept out by a target segment size
/// that no segment is below.
fn references(template: &Path) -> Vec<Views> {
    let expire = Retention::default().delete_after(days(5));
    let roll_up = Retention::keep_raw_for(days(2))
        .then(RollupTier::every(Duration::from_secs(300)))
        .delete_after(days(5));
    let store = Store::open_with(template, swept_options()).unwrap();
    let before = Views::read(&store);
    store.close().unwrap();
    let states = vec![
        before,
        compacted_views(template, options(expire, 1)),
        compacted_views(template, options(roll_up, 1)),
        compacted_views(template, options(full_policy(), 1)),
    ];
    check_references(&states);
    states
}

/// Checks that each step changed the reads, and that none lost or duplicated a prediction.
fn check_references(states: &[Views]) {
    let total = DAYS * FLUSHES_PER_DAY * PER_FLUSH;
    let unexpired = total - FLUSHES_PER_DAY * PER_FLUSH;
    assert_eq!(states[0].raw.len(), total, "raw reads before compaction");
    for (k, pair) in states.windows(2).enumerate() {
        assert!(pair[0] != pair[1], "step {} changed no read", k + 1);
    }
    for (k, state) in states.iter().enumerate().skip(1) {
        assert_eq!(
            state.tiered_total(),
            unexpired as u64,
            "state {k}: predictions counted by read_tiered"
        );
    }
    assert_eq!(states[2].raw_from_ms, 4 * DAY, "raw tier after the roll-up");
    let hourly = states[3]
        .rollups
        .iter()
        .filter(|r| r.1 == 3_600_000)
        .count();
    assert!(hourly > 0, "no rollup was coarsened to an hour");
}

/// Checks that every data file in `dir` but those named in `kept` is listed by its manifest,
/// and no temporary manifest is left.
fn assert_no_stray_files(dir: &Path, kept: &[String], context: &str) {
    let listed = Manifest::load(dir).unwrap().unwrap().live_files();
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let data_file = ["seg-", "index-", "rollup-"]
            .iter()
            .any(|p| name.starts_with(p));
        assert!(
            !data_file || listed.contains(&name) || kept.contains(&name),
            "{context}: {name} is not in the manifest"
        );
        assert_ne!(
            name, MANIFEST_TMP_FILE,
            "{context}: temporary manifest left"
        );
    }
}

/// Checks that `store` reads one of `allowed` states, given by number.
fn assert_state_in(store: &Store, states: &[Views], allowed: &[usize], context: &str) {
    let views = Views::read(store);
    let differences: Vec<String> = allowed
        .iter()
        .map(|&k| match views.first_difference(&states[k]) {
            None => String::new(),
            Some(view) => format!("state {k}: {view} differ"),
        })
        .collect();
    assert!(
        differences.iter().any(String::is_empty),
        "{context}: reads match no allowed state ({differences:?})"
    );
}

/// Opens `dir`, checks its files and its state among `allowed`, compacts it and checks that it
/// reaches the last state.
fn assert_reopens(dir: &Path, states: &[Views], allowed: &[usize], context: &str) {
    let opened = Store::open_with(dir, swept_options());
    let store = opened.unwrap_or_else(|e| panic!("{context}: open failed: {e}"));
    assert_no_stray_files(dir, &[], &format!("{context}, after open"));
    assert_state_in(&store, states, allowed, &format!("{context}, after open"));
    let compacted = store.compact();
    assert!(
        compacted.is_ok(),
        "{context}: compact after open returned {compacted:?}"
    );
    let last = states.len() - 1;
    assert_state_in(
        &store,
        states,
        &[last],
        &format!("{context}, compacted after open"),
    );
    store.close().unwrap();
}

/// Counts the manifest switches that completed before operation `at` of `trace`.
fn switches_before(trace: &[(Op, PathBuf)], at: usize) -> usize {
    let before = &trace[..at - 1];
    let manifest_renames = before.iter().filter(|(op, path)| {
        *op == Op::Rename
            && path
                .file_name()
                .is_some_and(|name| name == MANIFEST_TMP_FILE)
    });
    manifest_renames.count()
}

/// The outcome of one crash point.
enum Point {
    Failed(Op),
    PastEnd,
}

/// Copies of the store directory taken right after the compaction returned.
struct Images {
    /// As a killed process leaves it.
    killed: PathBuf,
    /// As a power loss leaves it, keeping no unsynced change.
    power_loss: PathBuf,
    /// As a power loss leaves it, keeping random pages and directory changes not yet synced.
    torn: PathBuf,
}

/// Compacts a copy of `template` with operation `at` failing with `fault`, and checks the
/// store, the reopened directory and the images of that moment.
fn run_point(template: &Path, states: &[Views], at: u64, fault: Fault) -> Point {
    let dir = tempfile::tempdir().unwrap();
    let images_dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir.path(), swept_options(), Arc::new(io.clone())).unwrap();
    io.arm(at, fault);
    let result = store.compact();

    let images = Images {
        killed: images_dir.path().join("killed"),
        power_loss: images_dir.path().join("power-loss"),
        torn: images_dir.path().join("torn"),
    };
    io.crash_image(dir.path(), &images.power_loss).unwrap();
    let torn = Loss::Pages { seed: at };
    io.crash_image_with(dir.path(), &images.torn, torn).unwrap();
    io.kill_image(dir.path(), &images.killed).unwrap();
    io.disarm();

    let Some((_, op)) = io.failed() else {
        let context = format!(
            "no fault: the compaction ended after {} operations",
            io.ops()
        );
        assert!(result.is_ok(), "{context}: compact returned {result:?}");
        check_completed(store, states, dir.path(), &images, &context);
        return Point::PastEnd;
    };
    let failure = Failure::of(&io.trace(), at as usize, states.len() - 1);
    let context = format!(
        "{fault:?} at operation {at} ({op:?} of {}), step {}",
        failure.name,
        failure.step + 1
    );
    assert_eq!(
        result.is_ok(),
        failure.only_logged,
        "{context}: compact returned {result:?}"
    );
    check_failed(store, states, &failure, &context);
    check_reopened(states, dir.path(), &images, &failure, &context);
    Point::Failed(op)
}

/// Checks a store and its images after a compaction that ran without fault.
fn check_completed(store: Store, states: &[Views], dir: &Path, images: &Images, context: &str) {
    let last = states.len() - 1;
    assert_state_in(&store, states, &[last], context);
    store.close().unwrap();
    let copies = [
        (dir, "directory"),
        (&images.killed, "kill"),
        (&images.power_loss, "power-loss"),
        (&images.torn, "torn power-loss"),
    ];
    for (copy, name) in copies {
        assert_reopens(copy, states, &[last], &format!("{context}, {name}"));
    }
}

/// The operation that failed, and what the compaction had done by then.
struct Failure {
    /// File name of the path that the operation named.
    name: String,
    /// Number of steps whose manifest switch completed: the store's read state.
    step: usize,
    /// True for the directory sync right after the manifest rename, which poisons the store.
    poisons: bool,
    /// True for a removal, which the compaction only logs.
    only_logged: bool,
}

impl Failure {
    /// Describes operation `at` of `trace`, for a compaction of `last` read-changing steps.
    fn of(trace: &[(Op, PathBuf)], at: usize, last: usize) -> Failure {
        let (op, path) = &trace[at - 1];
        // A failed directory sync right after the manifest rename poisons the store, which
        // keeps reading the state before that switch while the directory contains the one
        // after it.
        let poisons = *op == Op::SyncDir && trace.get(at - 2).is_some_and(|t| t.0 == Op::Rename);
        Failure {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            step: (switches_before(trace, at) - usize::from(poisons)).min(last),
            poisons,
            only_logged: *op == Op::Remove,
        }
    }
}

/// Checks the store after the failure: its reads, a later compaction and its files.
fn check_failed(store: Store, states: &[Views], failure: &Failure, context: &str) {
    let last = states.len() - 1;
    // A failed removal of a replaced file is only logged, and the compaction goes on.
    let now = if failure.only_logged {
        last
    } else {
        failure.step
    };
    assert_state_in(
        &store,
        states,
        &[now],
        &format!("{context}, store after the failure"),
    );

    let again = store.compact();
    if failure.poisons {
        let poisoned = matches!(again, Err(Error::Poisoned { .. }));
        assert!(
            poisoned,
            "{context}: compact of a poisoned store returned {again:?}"
        );
    } else {
        assert!(
            again.is_ok(),
            "{context}: a later compact returned {again:?}"
        );
        assert_state_in(
            &store,
            states,
            &[last],
            &format!("{context}, later compact"),
        );
        // The files of the failed step are gone at once, except one whose removal failed.
        let kept = if failure.only_logged {
            vec![failure.name.clone()]
        } else {
            vec![]
        };
        assert_no_stray_files(store.dir(), &kept, &format!("{context}, later compact"));
    }
    let closed = store.close();
    assert!(
        failure.poisons || closed.is_ok(),
        "{context}: close returned {closed:?}"
    );
}

/// Reopens the directory and the images, and checks each of them.
fn check_reopened(states: &[Views], dir: &Path, images: &Images, failure: &Failure, context: &str) {
    let last = states.len() - 1;
    let around = vec![failure.step, (failure.step + 1).min(last)];
    let on_disk = if failure.poisons {
        around.clone()
    } else {
        vec![last]
    };
    assert_reopens(dir, states, &on_disk, &format!("{context}, reopened"));
    let imaged = if failure.only_logged {
        vec![last]
    } else {
        around
    };
    assert_reopens(
        &images.killed,
        states,
        &imaged,
        &format!("{context}, kill image"),
    );
    let power_loss = format!("{context}, power-loss image");
    assert_reopens(&images.power_loss, states, &imaged, &power_loss);
    let torn = format!("{context}, torn power-loss image");
    assert_reopens(&images.torn, states, &imaged, &torn);
}

/// Fails operation 1, 2, 3, ... of a compaction until one completes, and returns the kinds of
/// the operations that failed, in order.
fn sweep(fault: Fault) -> Vec<Op> {
    let template = build_template();
    let states = references(template.path());
    let mut failed = Vec::new();
    for at in 1.. {
        match run_point(template.path(), &states, at, fault) {
            Point::Failed(op) => failed.push(op),
            Point::PastEnd => break,
        }
    }
    failed
}

fn count(ops: &[Op], kind: Op) -> usize {
    ops.iter().filter(|&&op| op == kind).count()
}

#[test]
fn compaction_survives_io_error_everywhere() {
    let ops = sweep(Fault::Io);
    // Expiry, roll-up, coarsening and at least one merge each switch the manifest.
    assert!(count(&ops, Op::Rename) >= 4, "{ops:?}");
    assert!(count(&ops, Op::SyncDir) >= 4, "{ops:?}");
    assert!(count(&ops, Op::Remove) >= 1, "{ops:?}");
}

/// Segments of the template take about 640 bytes, so a target of 700 bytes splits the expiry
/// and the roll-up into runs of two segments, each written before the next is read.
#[test]
fn compaction_in_capped_groups_survives_io_error_everywhere() {
    SWEPT_TARGET_BYTES.set(700);
    let ops = sweep(Fault::Io);
    assert!(count(&ops, Op::Rename) >= 4, "{ops:?}");
    assert!(count(&ops, Op::Create) >= 8, "{ops:?}");
}

#[test]
fn compaction_survives_full_disk_everywhere() {
    let ops = sweep(Fault::NoSpace);
    assert!(count(&ops, Op::Create) >= 8, "{ops:?}");
    assert!(count(&ops, Op::Rename) >= 4, "{ops:?}");
}

/// A file name prefix, and the function to run before the first file with it is created.
type Hook = (String, Box<dyn FnOnce() + Send>);

/// A `StoreIo` that runs a hook once, before the first creation of a file whose name starts
/// with the armed prefix, and otherwise calls the operating system.
#[derive(Clone, Default)]
struct HookIo {
    hook: Arc<parking_lot::Mutex<Option<Hook>>>,
}

impl HookIo {
    fn arm(&self, prefix: &str, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock() = Some((prefix.to_owned(), Box::new(hook)));
    }

    fn run_hook(&self, path: &Path) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut armed = self.hook.lock();
        let hit = armed
            .as_ref()
            .is_some_and(|(prefix, _)| name.starts_with(prefix.as_str()));
        let hook = if hit { armed.take() } else { None };
        drop(armed);
        if let Some((_, hook)) = hook {
            hook();
        }
    }
}

impl StoreIo for HookIo {
    fn create(&self, path: &Path, mode: CreateMode) -> std::io::Result<Box<dyn StoreFile>> {
        self.run_hook(path);
        OsIo.create(path, mode)
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsIo.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsIo.sync_dir(dir)
    }

    fn remove(&self, path: &Path) -> std::io::Result<()> {
        OsIo.remove(path)
    }

    fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> std::io::Result<File> {
        OsIo.open_mapped(path, create)
    }

    fn allocate(&self, file: &File, path: &Path, len: u64) -> std::io::Result<()> {
        OsIo.allocate(file, path, len)
    }

    fn note_write(&self, path: &Path, offset: u64, bytes: &[u8]) {
        OsIo.note_write(path, offset, bytes);
    }

    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        OsIo.sync_data(file, path)
    }
}

/// A flush that lands between a roll-up's read and its manifest switch, with a prediction the
/// roll-up should have taken, makes the step start again. The files of the abandoned attempt
/// must not outlive it.
#[test]
fn raced_roll_up_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let io = HookIo::default();
    let retention =
        Retention::keep_raw_for(days(2)).then(RollupTier::every(Duration::from_secs(300)));
    let store =
        Store::open_with_io(dir.path(), options(retention, 1), Arc::new(io.clone())).unwrap();
    let store = Arc::new(store);
    for batch in 0..DAYS * FLUSHES_PER_DAY {
        track_batch(&store, batch);
    }
    let total = Views::read(&store).tiered_total();

    let racer = Arc::clone(&store);
    io.arm("index-", move || {
        let late = Metrics::new().with("score", 0.5);
        racer
            .track_metrics(MODEL, prediction_uuid(1_000_000), 5, &late)
            .unwrap();
        racer.flush().unwrap();
    });
    let steps = store.compact().unwrap();
    assert!(
        io.hook.lock().is_none(),
        "the flush never ran inside the compaction"
    );
    assert!(steps >= 2, "the raced roll-up ran {steps} steps");

    let views = Views::read(&store);
    assert_eq!(views.raw_from_ms, 4 * DAY, "raw tier after the roll-up");
    assert_eq!(
        views.tiered_total(),
        total + 1,
        "predictions counted by read_tiered"
    );
    assert_no_stray_files(dir.path(), &[], "after the raced roll-up");
    store.close().unwrap();
}

/// Tracks the week of batches into a store whose compaction rolls up days 0 to 3, with `io`
/// running a hook before the roll-up writes its rollup file.
fn week_before_roll_up(dir: &Path, io: &HookIo) -> Arc<Store> {
    let retention =
        Retention::keep_raw_for(days(2)).then(RollupTier::every(Duration::from_secs(300)));
    let store = Store::open_with_io(dir, options(retention, 1), Arc::new(io.clone())).unwrap();
    let store = Arc::new(store);
    for batch in 0..DAYS * FLUSHES_PER_DAY {
        track_batch(&store, batch);
    }
    store
}

/// Returns the UUID and mark of each orphan with an `audit` metric.
fn audited_orphans(store: &Store) -> Vec<(Uuid, bool)> {
    let orphans = store.orphaned_delayed_metrics().unwrap();
    let audits = orphans.iter().filter(|o| o.metrics.get("audit").is_some());
    audits.map(|o| (o.uuid, o.prediction_rolled_up)).collect()
}

/// A delayed metric tracked while a roll-up runs, for a prediction that it takes, and still in
/// the head at the roll-up's manifest switch, becomes an orphan marked as rolled up.
#[test]
fn label_in_head_during_roll_up_is_marked() {
    let dir = tempfile::tempdir().unwrap();
    let io = HookIo::default();
    let store = week_before_roll_up(dir.path(), &io);
    let racer = Arc::clone(&store);
    io.arm("rollup-", move || {
        let audit = Metrics::new().with("audit", 1i64);
        racer
            .track_delayed_metrics(prediction_uuid(4), DAY, &audit)
            .unwrap();
    });
    store.compact().unwrap();
    assert!(io.hook.lock().is_none(), "the label was never tracked");
    assert_eq!(
        Views::read(&store).raw_from_ms,
        4 * DAY,
        "raw tier after the roll-up"
    );

    let expected = [(prediction_uuid(4), true)];
    assert_eq!(audited_orphans(&store), expected, "in the head");
    store.flush().unwrap();
    assert_eq!(audited_orphans(&store), expected, "flushed");
    store.close().unwrap();
}

/// A delayed metric flushed while a roll-up runs, for a prediction that it takes, makes the
/// step start again. The retry must join it into the prediction's rollup.
#[test]
fn label_flushed_during_roll_up_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let io = HookIo::default();
    let store = week_before_roll_up(dir.path(), &io);
    let racer = Arc::clone(&store);
    io.arm("rollup-", move || {
        let audit = Metrics::new().with("audit", 1i64);
        racer
            .track_delayed_metrics(prediction_uuid(1), DAY, &audit)
            .unwrap();
        racer.flush().unwrap();
    });
    let steps = store.compact().unwrap();
    assert!(io.hook.lock().is_none(), "the label was never tracked");
    assert!(steps >= 2, "the raced roll-up ran {steps} steps");

    assert_eq!(audited_orphans(&store), [], "orphans");
    let rollups = store.read_rollups(MODEL, 0, DAY).unwrap();
    let joined: u64 = rollups
        .iter()
        .filter_map(|r| r.delayed.get("audit")?.numeric.as_ref())
        .map(|summary| summary.count)
        .sum();
    assert_eq!(joined, 1, "audit labels in the rollups of day 0");
    store.close().unwrap();
}
