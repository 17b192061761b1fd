//! `Store::checkpoint`. A copy of an idle store reads back equal. Copies taken while four
//! threads write contain every acknowledged record and only whole ones. A target that is not
//! empty is rejected, and a target on another file system gets copies instead of hard links.
//! The copy is a store of its own.

mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use modelmetrics::{Error, Metrics, NewPrediction, Options, Prediction, Store, Uuid};
use support::{aggregates_all, metric, read_all, uuid};

const T0: i64 = 1_700_000_000_000;
const WRITERS: u64 = 4;
const CHECKPOINTS: usize = 5;
/// Predictions per batch call of a writer.
const BATCH: u64 = 2;
/// Steps after its prediction at which a writer tracks the label of a prediction.
const LABEL_LAG: u64 = 3;
/// Pause of a writer between two steps.
const WRITER_PAUSE: Duration = Duration::from_micros(100);

/// Log lines of every store in this test binary, so a test can look for its warning.
static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CaptureLog;

impl log::Log for CaptureLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            LOG_LINES.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CaptureLog).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    });
}

fn log_lines_naming(path: &Path) -> Vec<String> {
    let needle = path.display().to_string();
    let lines = LOG_LINES.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(&needle))
        .cloned()
        .collect()
}

/// Everything a reader can see of a store, for equality checks between a store and its copy.
#[derive(Debug, PartialEq)]
struct Contents {
    predictions: BTreeMap<String, Vec<Prediction>>,
    lookups: Vec<Option<Prediction>>,
    aggregates: BTreeMap<String, Vec<modelmetrics::Aggregate>>,
    orphans: Vec<modelmetrics::OrphanedDelayed>,
}

fn contents(store: &Store, models: &[&str], uuids: &[Uuid]) -> Contents {
    let predictions = models
        .iter()
        .map(|&m| (m.to_owned(), read_all(store, m)))
        .collect();
    let aggregates = models
        .iter()
        .map(|&m| (m.to_owned(), aggregates_all(store, m)))
        .collect();
    Contents {
        predictions,
        lookups: uuids.iter().map(|&u| store.lookup(u).unwrap()).collect(),
        aggregates,
        orphans: store.orphaned_delayed_metrics().unwrap(),
    }
}

/// Tracks predictions, delayed and aggregate metrics and orphans, some flushed into segments
/// and some left in the head. Returns the UUIDs tracked, orphans included.
fn fill_idle_store(store: &Store) -> Vec<Uuid> {
    let mut uuids = Vec::new();
    for i in 0..50 {
        let m = metric("score", i as f64 / 50.0).with("rank", i as i64);
        store
            .track_metrics("a", uuid(i), T0 + i as i64, &m)
            .unwrap();
        uuids.push(uuid(i));
    }
    for i in 0..10 {
        let label = metric("label", i % 2 == 0);
        store
            .track_delayed_metrics(uuid(i), T0 + 100, &label)
            .unwrap();
    }
    for orphan in [1000, 1001] {
        let m = metric("label", true);
        store.track_delayed_metrics(uuid(orphan), T0, &m).unwrap();
        uuids.push(uuid(orphan));
    }
    let weekly = metric("auc", 0.81);
    store
        .track_aggregate_metrics("a", T0, T0 + 604_800_000, &weekly)
        .unwrap();
    store.flush().unwrap();

    for i in 50..70 {
        let m = metric("score", i as f64 / 70.0).with("text", format!("row {i}"));
        store
            .track_metrics("a", uuid(i), T0 + i as i64, &m)
            .unwrap();
        uuids.push(uuid(i));
    }
    for i in 70..80 {
        let m = metric("bytes", vec![i as u8; 12]);
        store
            .track_metrics("b", uuid(i), T0 - i as i64, &m)
            .unwrap();
        uuids.push(uuid(i));
    }
    for i in [5, 55, 75] {
        let label = metric("label", 1.5);
        store
            .track_delayed_metrics(uuid(i), T0 + 200, &label)
            .unwrap();
    }
    // The prediction of orphan 1001 arrives now, so the copy must join them too.
    store
        .track_metrics("b", uuid(1001), T0, &metric("score", 0.5))
        .unwrap();
    store
        .track_delayed_metrics(uuid(1002), T0, &metric("label", false))
        .unwrap();
    uuids.push(uuid(1002));
    let daily = metric("auc", 0.79).with("count", 70i64);
    store
        .track_aggregate_metrics("b", T0, T0 + 86_400_000, &daily)
        .unwrap();
    uuids
}

#[test]
fn idle_store_copy_reads_equal() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let uuids = fill_idle_store(&store);
    let target = root.path().join("copy");
    store.checkpoint(&target).unwrap();

    let models = ["a", "b"];
    let expected = contents(&store, &models, &uuids);
    assert_eq!(expected.predictions["a"].len(), 70);
    assert_eq!(expected.orphans.len(), 2);
    let copy = Store::open(&target).unwrap();
    assert_eq!(contents(&copy, &models, &uuids), expected);
    copy.close().unwrap();
    drop(copy);

    let reopened = Store::open(&target).unwrap();
    assert_eq!(
        contents(&reopened, &models, &uuids),
        expected,
        "after reopen"
    );
    assert_eq!(
        contents(&store, &models, &uuids),
        expected,
        "original changed"
    );
}

#[test]
fn checkpoint_without_head_records_copies_no_log() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    store
        .track_metrics("a", uuid(1), T0, &metric("score", 1.0))
        .unwrap();
    store.flush().unwrap();
    let target = root.path().join("copy");
    store.checkpoint(&target).unwrap();

    let logs = support::files_with_prefix(&target, "wal-");
    assert!(logs.is_empty(), "log files copied: {logs:?}");
    let copy = Store::open(&target).unwrap();
    assert_eq!(read_all(&copy, "a"), read_all(&store, "a"));
}

#[test]
fn empty_store_copy_opens_empty() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let target = root.path().join("copy");
    store.checkpoint(&target).unwrap();
    let copy = Store::open(&target).unwrap();
    assert!(read_all(&copy, "a").is_empty());
    assert!(copy.orphaned_delayed_metrics().unwrap().is_empty());
}

/// Acknowledged calls of one writer: calls `0..predicted` and labels `0..labelled` returned.
#[derive(Default)]
struct Acks {
    predicted: AtomicU64,
    labelled: AtomicU64,
}

/// Counts of returned calls of every writer, read before a checkpoint started.
type AckSnapshot = Vec<(u64, u64)>;

fn model_of(writer: u64) -> String {
    format!("writer-{writer}")
}

fn prediction_uuid(writer: u64, step: u64, slot: u64) -> Uuid {
    uuid(((writer as u128) << 40) | ((step as u128) << 8) | slot as u128)
}

/// The inline metrics of a prediction, in name order as reads return them, with a padding
/// string so that the records fill log files quickly.
fn expected_metrics(writer: u64, step: u64, slot: u64) -> Metrics {
    Metrics::new()
        .with("pad", "x".repeat(64 + (step % 7) as usize))
        .with("score", step as f64 / 3.0 + slot as f64)
        .with("slot", slot as i64)
        .with("step", step as i64)
        .with("writer", writer as i64)
}

fn expected_label(writer: u64, step: u64) -> Metrics {
    metric("label", (writer * 1_000_000 + step) as i64)
}

/// Tracks a batch of predictions per step and, `LABEL_LAG` steps later, a label for the first
/// of them, until `stop` is set.
fn run_writer(store: &Store, writer: u64, acks: &Acks, stop: &AtomicBool) {
    let mut step = 0;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<NewPrediction> = (0..BATCH)
            .map(|slot| NewPrediction {
                model: model_of(writer),
                uuid: prediction_uuid(writer, step, slot),
                timestamp_ms: T0 + step as i64,
                metrics: expected_metrics(writer, step, slot),
            })
            .collect();
        store.track_metrics_batch(&batch).unwrap();
        acks.predicted.store(step + 1, Ordering::Release);
        if step >= LABEL_LAG {
            let labelled = step - LABEL_LAG;
            let target = prediction_uuid(writer, labelled, 0);
            let label = expected_label(writer, labelled);
            store.track_delayed_metrics(target, T0, &label).unwrap();
            acks.labelled.store(labelled + 1, Ordering::Release);
        }
        step += 1;
        // A short pause keeps the volume, and the time the checks take, moderate.
        thread::sleep(WRITER_PAUSE);
    }
}

fn snapshot(acks: &[Acks]) -> AckSnapshot {
    acks.iter()
        .map(|a| {
            let labelled = a.labelled.load(Ordering::Acquire);
            (a.predicted.load(Ordering::Acquire), labelled)
        })
        .collect()
}

/// Checks that `store` contains every call counted in `acked`, that every record it contains
/// was tracked and is whole, and that it contains no call beyond those counted in `tracked`.
fn check_records(store: &Store, acked: &AckSnapshot, tracked: &AckSnapshot, context: &str) {
    for writer in 0..WRITERS {
        let (predicted, labelled) = acked[writer as usize];
        let (max_predicted, _) = tracked[writer as usize];
        let rows = read_all(store, &model_of(writer));
        let by_uuid: HashMap<Uuid, &Prediction> = rows.iter().map(|p| (p.uuid, p)).collect();
        assert_eq!(
            by_uuid.len(),
            rows.len(),
            "{context}: writer {writer} read twice"
        );
        assert_eq!(
            rows.len() as u64 % BATCH,
            0,
            "{context}: writer {writer} half a batch"
        );
        let steps = rows.len() as u64 / BATCH;
        assert!(
            steps >= predicted,
            "{context}: writer {writer} holds {steps} of {predicted} acked"
        );
        assert!(
            steps <= max_predicted,
            "{context}: writer {writer} holds untracked steps"
        );
        for step in 0..steps {
            for slot in 0..BATCH {
                let uuid = prediction_uuid(writer, step, slot);
                let Some(row) = by_uuid.get(&uuid) else {
                    panic!("{context}: writer {writer} step {step} slot {slot} is missing");
                };
                let expected = expected_metrics(writer, step, slot);
                assert_eq!(row.metrics, expected, "{context}: {uuid} metrics");
                assert_eq!(
                    row.timestamp_ms,
                    T0 + step as i64,
                    "{context}: {uuid} timestamp"
                );
            }
            let first = by_uuid[&prediction_uuid(writer, step, 0)];
            match first.delayed.get("label") {
                Some(value) => {
                    let expected = expected_label(writer, step);
                    assert_eq!(
                        Some(value),
                        expected.get("label"),
                        "{context}: label {step}"
                    );
                }
                None => assert!(
                    step >= labelled,
                    "{context}: writer {writer} label {step} missing"
                ),
            }
        }
    }
}

/// Small log files, so that a copy spans many, and a head large enough that background
/// flushes are rare.
fn concurrent_options() -> Options {
    support::small_log_options().head_size_bytes(256 << 20)
}

/// Starts the writers, takes the checkpoints, stops the writers. Returns the copies with the
/// counts acknowledged before each, and the final counts.
fn checkpoint_during_writes(
    store: &Arc<Store>,
    root: &Path,
) -> (Vec<(PathBuf, AckSnapshot)>, AckSnapshot) {
    let acks: Arc<Vec<Acks>> = Arc::new((0..WRITERS).map(|_| Acks::default()).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, acks, stop) = (Arc::clone(store), Arc::clone(&acks), Arc::clone(&stop));
            thread::spawn(move || run_writer(&store, writer, &acks[writer as usize], &stop))
        })
        .collect();
    let mut copies = Vec::new();
    for k in 0..CHECKPOINTS {
        thread::sleep(Duration::from_millis(100));
        // The head is large enough that background flushes are rare, so these flushes put
        // most records into segments, and every copy has acknowledged records in the log.
        if k % 2 == 1 {
            store.flush().unwrap();
        }
        thread::sleep(Duration::from_millis(50));
        let acked = snapshot(&acks);
        let target = root.join(format!("copy-{k}"));
        store.checkpoint(&target).unwrap();
        copies.push((target, acked));
    }
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().unwrap();
    }
    (copies, snapshot(&acks))
}

#[test]
fn copies_during_writes_hold_acked_records() {
    let root = tempfile::tempdir().unwrap();
    let store_dir = root.path().join("store");
    let store = Arc::new(Store::open_with(&store_dir, concurrent_options()).unwrap());
    let (copies, tracked) = checkpoint_during_writes(&store, root.path());

    let last_acked = &copies.last().unwrap().1;
    let steps: u64 = last_acked.iter().map(|&(p, _)| p).sum();
    assert!(
        steps > 100,
        "the writers made only {steps} calls before the last checkpoint"
    );
    let segments = support::files_with_prefix(&copies.last().unwrap().0, "seg-");
    assert!(
        !segments.is_empty(),
        "no flush ran before the last checkpoint"
    );
    for (target, acked) in &copies {
        let context = target.display().to_string();
        let logs = support::files_with_prefix(target, "wal-");
        assert!(!logs.is_empty(), "{context}: no log file copied");
        let copy = Store::open(target).unwrap();
        check_records(&copy, acked, &tracked, &context);
        copy.close().unwrap();
    }

    check_records(&store, &tracked, &tracked, "original");
    store.close().unwrap();
    drop(store);
    let reopened = Store::open_with(&store_dir, concurrent_options()).unwrap();
    check_records(&reopened, &tracked, &tracked, "original reopened");
}

#[test]
fn nonempty_target_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    store
        .track_metrics("a", uuid(1), T0, &metric("score", 1.0))
        .unwrap();
    let target = root.path().join("busy");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("notes.txt"), "keep me").unwrap();

    let error = store.checkpoint(&target).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&target.display().to_string()), "{message}");
    assert!(message.contains("not empty"), "{message}");
    let names: Vec<String> = support::list_files(&target).into_keys().collect();
    assert_eq!(names, ["notes.txt"]);
}

#[test]
fn store_directory_is_rejected_as_target() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let before = support::list_files(store.dir());
    let error = store.checkpoint(store.dir()).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert_eq!(support::list_files(store.dir()), before);
}

#[test]
fn file_as_target_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let target = root.path().join("file");
    fs::write(&target, "x").unwrap();
    let error = store.checkpoint(&target).unwrap_err();
    assert!(error.to_string().contains("not a directory"), "{error}");
}

#[test]
fn closed_store_checkpoint_fails() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    store.close().unwrap();
    let target = root.path().join("copy");
    assert!(matches!(store.checkpoint(&target), Err(Error::Closed)));
    assert!(!target.exists());
}

#[test]
fn other_file_system_gets_copies() {
    capture_logs();
    let Some(tmpfs) = tmpfs::Tmpfs::mount(64 << 20, "other_file_system_gets_copies") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let uuids = fill_idle_store(&store);
    let target = tmpfs.path().join("copy");
    store.checkpoint(&target).unwrap();

    let segments = support::files_with_prefix(&target, "seg-");
    assert!(!segments.is_empty());
    for path in &segments {
        assert_eq!(fs::metadata(path).unwrap().nlink(), 1, "{path:?} is linked");
    }
    let lines = log_lines_naming(&target);
    let warned = lines
        .iter()
        .any(|l| l.starts_with("WARN") && l.contains("hard-linking"));
    assert!(warned, "no warning about the copies in {lines:?}");

    let models = ["a", "b"];
    let copy = Store::open(&target).unwrap();
    assert_eq!(
        contents(&copy, &models, &uuids),
        contents(&store, &models, &uuids)
    );
    copy.close().unwrap();
}

/// Returns the inode and bytes of each file of `dir` but `LOCK`, by name.
fn file_states(dir: &Path) -> BTreeMap<String, (u64, Vec<u8>)> {
    let mut states = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "LOCK" {
            let inode = entry.metadata().unwrap().ino();
            states.insert(name, (inode, fs::read(entry.path()).unwrap()));
        }
    }
    states
}

/// Writes into the copy until index runs merge, with delayed metrics for predictions in
/// linked segments and the orphans' predictions.
fn write_into_copy(copy: &Store) {
    for round in 0..6u128 {
        for i in 0..20 {
            let n = 5000 + round * 100 + i;
            copy.track_metrics("a", uuid(n), T0 + n as i64, &metric("score", 2.0))
                .unwrap();
        }
        copy.track_delayed_metrics(uuid(round), T0, &metric("label", 9i64))
            .unwrap();
        copy.flush().unwrap();
    }
    copy.track_metrics("c", uuid(1002), T0, &metric("score", 0.1))
        .unwrap();
    copy.flush().unwrap();
}

#[test]
fn copy_writes_leave_original_alone() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let uuids = fill_idle_store(&store);
    let target = root.path().join("copy");
    store.checkpoint(&target).unwrap();

    let original = file_states(store.dir());
    let copied = file_states(&target);
    let linked: Vec<&String> = copied
        .iter()
        .filter(|(name, (inode, _))| original.get(*name).is_some_and(|(i, _)| i == inode))
        .map(|(name, _)| name)
        .collect();
    assert!(
        linked.iter().any(|n| n.starts_with("seg-")),
        "no segment linked: {linked:?}"
    );
    assert!(
        linked.iter().any(|n| n.starts_with("index-")),
        "no index run linked: {linked:?}"
    );
    let models = ["a", "b", "c"];
    let before = contents(&store, &models, &uuids);

    let copy = Store::open(&target).unwrap();
    write_into_copy(&copy);
    assert_eq!(read_all(&copy, "a").len(), 70 + 6 * 20);
    copy.close().unwrap();
    drop(copy);

    assert_eq!(
        file_states(store.dir()),
        original,
        "the original's files changed"
    );
    assert_eq!(
        contents(&store, &models, &uuids),
        before,
        "the original's reads changed"
    );
    let after = file_states(&target);
    let merged_away = linked.iter().filter(|n| !after.contains_key(**n)).count();
    assert!(merged_away > 0, "the copy's merges removed no linked file");
}

#[test]
fn original_writes_leave_copy_alone() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let uuids = fill_idle_store(&store);
    let target = root.path().join("copy");
    store.checkpoint(&target).unwrap();
    let models = ["a", "b"];
    let at_checkpoint = contents(&store, &models, &uuids);

    store
        .track_metrics("a", uuid(9000), T0, &metric("score", 3.0))
        .unwrap();
    store
        .track_delayed_metrics(uuid(1002), T0, &metric("late", 1i64))
        .unwrap();
    store.flush().unwrap();
    store.close().unwrap();

    let copy = Store::open(&target).unwrap();
    assert_eq!(contents(&copy, &models, &uuids), at_checkpoint);
    assert_eq!(copy.lookup(uuid(9000)).unwrap(), None);
}

#[test]
fn a_partial_directory_left_by_a_crash_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = modelmetrics::Store::open(dir.path().join("store")).unwrap();
    let partial = dir.path().join("copy.partial");
    std::fs::create_dir(&partial).unwrap();
    let message = store
        .checkpoint(dir.path().join("copy"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("copy.partial"), "{message}");
    assert!(message.contains("delete it"), "{message}");
    std::fs::remove_dir(&partial).unwrap();
    store.checkpoint(dir.path().join("copy")).unwrap();
    assert!(dir.path().join("copy").join("MANIFEST").exists());
    assert!(!partial.exists());
}

#[test]
fn a_target_inside_the_store_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = modelmetrics::Store::open(&store_dir).unwrap();
    for target in [
        store_dir.join("backup"),
        store_dir.clone(),
        store_dir.join("a/b"),
    ] {
        let message = store.checkpoint(&target).unwrap_err().to_string();
        assert!(message.contains("inside the store directory"), "{message}");
    }
    assert!(!store_dir.join("backup").exists());
    assert!(!store_dir.join("backup.partial").exists());
}
