//! Crash-point sweeps of ingest and open: the write-ahead log's file operations fail in turn,
//! and power-loss images are taken while predictions and labels are tracked across log
//! rotations, and while an open repairs a torn log and removes stray files.
//!
//! A run tracks predictions one call at a time and in batches, labels them the same ways, and
//! calls `Store::sync` every few calls. Records are padded to 4 KiB, so each 64 KiB log file
//! takes a dozen calls. After a fault, and in every image, the checks are:
//!
//! - each call is there whole or not at all, and nothing is there twice or unasked;
//! - what is there is a prefix of the calls that returned `Ok`: only a suffix is lost;
//! - under `Durability::Sync` every call that returned `Ok` is there; under `Interval`, every
//!   call that returned `Ok` before the last `Store::sync` that returned `Ok`;
//! - a call that failed without poisoning the store wrote nothing;
//! - after a failed sync every later call returns `Error::Poisoned`, and the log never syncs
//!   again, so no retry is trusted.
//!
//! The background thread stays idle: the flush interval is an hour, the head is large, and the
//! `Interval` mode syncs once an hour, so only `Store::sync` and rotations sync the log.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::error::Error;
use crate::io::fault::{Fault, FaultyIo, Loss, Op};
use crate::manifest::MANIFEST_TMP_FILE;
use crate::options::{Durability, Options};
use crate::record::{NewDelayed, NewPrediction, Prediction};
use crate::segment::segment_file_name;
use crate::store::Store;
use crate::value::{Metric, Metrics, Value};
use crate::wal::{Wal, read_file, wal_file_name};

const MODEL: &str = "churn";
/// Calls of one run.
const CALLS: usize = 48;
/// Predictions of a batch call.
const BATCH: usize = 5;
/// Bytes of the string metric that pads each prediction.
const PADDING: usize = 4000;

fn options(durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .flush_interval(Duration::from_secs(3600))
        .head_size_bytes(64 << 20)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        // The compaction thread would add operations of its own to the sweep's count.
        .compaction(crate::options::Compaction {
            enabled: false,
            ..crate::options::Compaction::default()
        })
}

fn interval() -> Durability {
    Durability::Interval(Duration::from_secs(3600))
}

/// One call of a run.
#[derive(Clone, Debug)]
enum Call {
    Predict(Vec<usize>),
    Label(Vec<usize>),
    Sync,
}

/// A call and what it returned.
struct Done {
    call: Call,
    result: crate::Result<()>,
}

fn uuid(prediction: usize) -> Uuid {
    Uuid::from_u128(prediction as u128 + 1)
}

fn new_prediction(prediction: usize) -> NewPrediction {
    let padding = format!("{prediction:08}").repeat(PADDING / 8);
    let metrics = Metrics(vec![
        Metric::new("request", Value::Str(padding)),
        Metric::new("score", Value::F64(prediction as f64 / 100.0)),
    ]);
    NewPrediction {
        model: MODEL.to_owned(),
        uuid: uuid(prediction),
        timestamp_ms: prediction as i64 * 1000,
        metrics,
    }
}

fn label(prediction: usize) -> Metrics {
    Metrics(vec![Metric::new(
        "label",
        Value::I64(prediction as i64 % 2),
    )])
}

fn new_label(prediction: usize) -> NewDelayed {
    NewDelayed {
        uuid: uuid(prediction),
        timestamp_ms: prediction as i64 * 1000 + 500,
        metrics: label(prediction),
    }
}

/// Returns call `step` of a run, given the predictions acknowledged and not labelled yet: one
/// prediction, one label, a batch of each, and every seventh call a sync, so that rotations
/// fall between syncs at varying distances.
fn next_call(step: usize, next_prediction: &mut usize, unlabelled: &mut Vec<usize>) -> Call {
    if step % 7 == 6 {
        return Call::Sync;
    }
    let len = if step % 4 < 2 { 1 } else { BATCH };
    if step.is_multiple_of(2) {
        let first = *next_prediction;
        *next_prediction += len;
        return Call::Predict((first..first + len).collect());
    }
    let len = len.min(unlabelled.len());
    Call::Label(unlabelled.drain(..len).collect())
}

fn run_call(store: &Store, call: &Call) -> crate::Result<()> {
    match call {
        Call::Predict(ids) if ids.len() == 1 => {
            let p = new_prediction(ids[0]);
            store.track_metrics(&p.model, p.uuid, p.timestamp_ms, &p.metrics)
        }
        Call::Predict(ids) => {
            let batch: Vec<_> = ids.iter().map(|&i| new_prediction(i)).collect();
            store.track_metrics_batch(&batch)
        }
        Call::Label(ids) if ids.len() == 1 => {
            let d = new_label(ids[0]);
            store.track_delayed_metrics(d.uuid, d.timestamp_ms, &d.metrics)
        }
        Call::Label(ids) => {
            let batch: Vec<_> = ids.iter().map(|&i| new_label(i)).collect();
            store.track_delayed_metrics_batch(&batch)
        }
        Call::Sync => store.sync(),
    }
}

/// Runs the calls of a run. After each call, `after_call` receives the store and the calls so
/// far.
fn run_calls(store: &Store, after_call: &mut dyn FnMut(&Store, &[Done])) -> Vec<Done> {
    let mut done = Vec::new();
    let mut next_prediction = 0;
    let mut unlabelled = Vec::new();
    for step in 0..CALLS {
        let call = next_call(step, &mut next_prediction, &mut unlabelled);
        if matches!(&call, Call::Predict(ids) | Call::Label(ids) if ids.is_empty()) {
            continue;
        }
        let result = run_call(store, &call);
        if let (Call::Predict(ids), Ok(())) = (&call, &result) {
            unlabelled.extend(ids);
        }
        done.push(Done { call, result });
        after_call(store, &done);
    }
    done
}

/// How much of each call a view of the store holds.
struct Presence {
    /// For each call: how many of its records are there.
    found: Vec<usize>,
}

/// Reads `store` and counts the records of each call, checking that every record read belongs
/// to a call, is read once and has the tracked content.
fn presence(store: &Store, done: &[Done], context: &str) -> Presence {
    let read: Vec<Prediction> = store
        .read_metrics(MODEL, 0, i64::MAX)
        .unwrap()
        .collect::<crate::Result<_>>()
        .unwrap();
    let mut by_uuid = BTreeMap::new();
    for prediction in read {
        let uuid = prediction.uuid;
        assert!(
            by_uuid.insert(uuid, prediction).is_none(),
            "{context}: {uuid} read twice"
        );
    }
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(
        orphans.is_empty(),
        "{context}: labels without their prediction: {orphans:?}"
    );
    let mut known = HashSet::new();
    let found = done
        .iter()
        .map(|d| match &d.call {
            Call::Predict(ids) => {
                known.extend(ids.iter().map(|&i| uuid(i)));
                count_predictions(&by_uuid, ids, context)
            }
            Call::Label(ids) => count_labels(&by_uuid, ids, context),
            Call::Sync => 0,
        })
        .collect();
    for uuid in by_uuid.keys() {
        assert!(known.contains(uuid), "{context}: {uuid} was never tracked");
    }
    Presence { found }
}

fn count_predictions(read: &BTreeMap<Uuid, Prediction>, ids: &[usize], context: &str) -> usize {
    let mut found = 0;
    for &i in ids {
        let Some(prediction) = read.get(&uuid(i)) else {
            continue;
        };
        let tracked = new_prediction(i);
        assert_eq!(
            prediction.metrics, tracked.metrics,
            "{context}: metrics of prediction {i}"
        );
        assert_eq!(
            prediction.timestamp_ms, tracked.timestamp_ms,
            "{context}: timestamp of prediction {i}"
        );
        found += 1;
    }
    found
}

fn count_labels(read: &BTreeMap<Uuid, Prediction>, ids: &[usize], context: &str) -> usize {
    let labelled = |i: &&usize| {
        read.get(&uuid(**i))
            .is_some_and(|p| p.delayed == label(**i))
    };
    let found = ids.iter().filter(labelled).count();
    for &i in ids {
        let delayed = read.get(&uuid(i)).map(|p| &p.delayed);
        let valid = delayed.is_none_or(|d| d.0.is_empty() || *d == label(i));
        assert!(valid, "{context}: delayed metrics of {i}: {delayed:?}");
    }
    found
}

fn records_of(call: &Call) -> usize {
    match call {
        Call::Predict(ids) | Call::Label(ids) => ids.len(),
        Call::Sync => 0,
    }
}

/// What a view must hold of the calls in `done`.
struct Rules {
    /// Calls before this index that returned `Ok` must be there.
    durable: usize,
    /// True when the view may have lost records of calls that returned `Ok` (a power loss).
    lossy: bool,
}

/// Checks that `store` contains each call whole or not at all, a prefix of the acknowledged
/// calls that reaches at least `rules.durable`, and nothing of a call that wrote nothing.
fn check_view(store: &Store, done: &[Done], rules: Rules, context: &str) {
    let presence = presence(store, done, context);
    let first_poisoned = done.iter().position(|d| is_poisoned(&d.result));
    let mut lost_acknowledged = None;
    for (index, d) in done.iter().enumerate() {
        let found = presence.found[index];
        let whole = records_of(&d.call);
        let call = format!("{context}: call {index} {:?} ({:?})", d.call, d.result);
        assert!(found == 0 || found == whole, "{call}: {found} of {whole}");
        let present = found > 0;
        match &d.result {
            Ok(()) if !present && whole > 0 => {
                assert!(rules.lossy, "{call}: lost");
                let durable = rules.durable;
                assert!(
                    index >= durable,
                    "{call}: lost, but calls before {durable} are durable"
                );
                lost_acknowledged.get_or_insert(index);
            }
            Ok(()) => {
                let lost = lost_acknowledged.filter(|_| present);
                assert!(lost.is_none(), "{call}: there, but call {lost:?} was lost");
            }
            // The call whose sync failed wrote its frame, and the power loss may keep it.
            Err(_) if Some(index) == first_poisoned => {}
            Err(_) => assert!(!present, "{call}: failed but is there"),
        }
    }
}

fn is_poisoned(result: &crate::Result<()>) -> bool {
    matches!(result, Err(Error::Poisoned { .. }))
}

/// Returns the index after the last `Store::sync` that returned `Ok`.
fn synced_calls(done: &[Done]) -> usize {
    let sync = done
        .iter()
        .rposition(|d| matches!(d.call, Call::Sync) && d.result.is_ok());
    sync.map_or(0, |index| index + 1)
}

/// Returns the rules of a power-loss image taken after the calls in `done`.
fn power_loss_rules(durability: Durability, done: &[Done]) -> Rules {
    let durable = match durability {
        Durability::Sync => done.len(),
        _ => synced_calls(done),
    };
    Rules {
        durable,
        lossy: true,
    }
}

/// Takes images of `dir`, one that drops every unsynced change and `seeds` of each torn kind,
/// opens each, and checks it.
fn check_power_loss(
    io: &FaultyIo,
    dir: &Path,
    (durability, seeds): (Durability, u64),
    done: &[Done],
    context: &str,
) {
    let first = done.len() as u64 * 7919 + context.len() as u64;
    let torn =
        (first..first + seeds).flat_map(|seed| [Loss::Prefix { seed }, Loss::Pages { seed }]);
    for loss in std::iter::once(Loss::Unsynced).chain(torn) {
        let images = tempfile::tempdir().unwrap();
        let image = images.path().join("image");
        io.crash_image_with(dir, &image, loss).unwrap();
        let context = format!("{context}, power-loss image {loss:?}");
        let store = Store::open_with(&image, options(durability)).unwrap();
        check_view(&store, done, power_loss_rules(durability, done), &context);
        store.close().unwrap();
    }
}

/// Checks the results of the calls after operation `op` failed: after a failed sync, every call
/// returns `Error::Poisoned` and no sync follows (`syncs_after` counts them). After any other
/// failure, the call returns the error and later calls succeed.
fn check_after_failure(done: &[Done], op: Op, syncs_after: usize, context: &str) {
    let failed = done.iter().position(|d| d.result.is_err());
    let Some(failed) = failed else {
        panic!("{context}: no call failed");
    };
    if matches!(op, Op::SyncData | Op::SyncDir) {
        for d in &done[failed..] {
            let poisoned = is_poisoned(&d.result);
            assert!(poisoned, "{context}: {:?} returned {:?}", d.call, d.result);
        }
        assert_eq!(syncs_after, 0, "{context}: the log synced again");
        return;
    }
    let error = &done[failed].result;
    let io_error = matches!(error, Err(Error::Io { .. }));
    assert!(io_error, "{context}: the failed call returned {error:?}");
    for d in &done[failed + 1..] {
        assert!(
            d.result.is_ok(),
            "{context}: {:?} returned {:?}",
            d.call,
            d.result
        );
    }
}

/// The outcome of one crash point.
enum Point {
    Failed(Op),
    PastEnd,
}

/// Runs the calls with operation `at` failing with `fault`, and checks the store, its images
/// at the failure and at the end, and its reopened directory.
fn run_point(durability: Durability, at: u64, fault: Fault) -> Point {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir.path(), options(durability), Arc::new(io.clone())).unwrap();
    io.arm(at, fault);
    let mut failure_checked = false;
    let done = run_calls(&store, &mut |store, done| {
        if !failure_checked && io.failed().is_some() {
            failure_checked = true;
            let context = format!("{durability:?}, {fault:?} at operation {at}, at the failure");
            check_power_loss(&io, store.dir(), (durability, 1), done, &context);
        }
    });
    let trace = io.trace();
    let Some((_, op)) = io.failed() else {
        io.disarm();
        for d in &done {
            assert!(d.result.is_ok(), "{:?} returned {:?}", d.call, d.result);
        }
        return Point::PastEnd;
    };
    let context = format!("{durability:?}, {fault:?} at operation {at} ({op:?})");
    let is_sync = |op: &Op| matches!(op, Op::SyncData | Op::SyncDir);
    let syncs_after = trace[at as usize..]
        .iter()
        .filter(|(op, _)| is_sync(op))
        .count();
    check_after_failure(&done, op, syncs_after, &context);

    let live = Rules {
        durable: done.len(),
        lossy: false,
    };
    check_view(&store, &done, live, &format!("{context}, store"));
    let killed = tempfile::tempdir().unwrap();
    io.kill_image(store.dir(), killed.path()).unwrap();
    let context_end = format!("{context}, end");
    check_power_loss(&io, store.dir(), (durability, 1), &done, &context_end);
    drop(store);

    for (view, path) in [
        ("killed process image", killed.path()),
        ("reopened", dir.path()),
    ] {
        let reopened = Store::open_with(path, options(durability)).unwrap();
        let rules = Rules {
            durable: done.len(),
            lossy: false,
        };
        check_view(&reopened, &done, rules, &format!("{context}, {view}"));
        reopened.close().unwrap();
    }
    Point::Failed(op)
}

/// Fails operation 1, 2, 3, ... of the calls until they complete, and returns the kinds of the
/// operations that failed, in order.
fn sweep(durability: Durability, fault: Fault) -> Vec<Op> {
    let mut failed = Vec::new();
    for at in 1.. {
        match run_point(durability, at, fault) {
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
fn sync_ingest_survives_io_error_everywhere() {
    let ops = sweep(Durability::Sync, Fault::Io);
    // Each call syncs its frame. Each new log file is created, preallocated, and made durable
    // with a directory sync, and the file before it is synced first.
    assert!(count(&ops, Op::SyncData) >= CALLS / 2, "{ops:?}");
    assert!(count(&ops, Op::Create) >= 3, "{ops:?}");
    assert_eq!(
        count(&ops, Op::Allocate),
        count(&ops, Op::Create),
        "{ops:?}"
    );
    assert_eq!(count(&ops, Op::SyncDir), count(&ops, Op::Create), "{ops:?}");
}

#[test]
fn sync_ingest_survives_full_disk_everywhere() {
    let ops = sweep(Durability::Sync, Fault::NoSpace);
    assert!(count(&ops, Op::Allocate) >= 3, "{ops:?}");
}

#[test]
fn interval_ingest_survives_io_error_everywhere() {
    let ops = sweep(interval(), Fault::Io);
    // Only rotations and `Store::sync` reach the file system.
    assert!(count(&ops, Op::Create) >= 3, "{ops:?}");
    assert!(count(&ops, Op::SyncData) >= 3, "{ops:?}");
    assert!(count(&ops, Op::SyncDir) >= 1, "{ops:?}");
}

/// Torn images of each kind taken after each call of a run without faults.
const SEEDS_PER_CALL: u64 = 4;

/// Takes power-loss images after every call of a run without faults, and checks each.
fn images_after_every_call(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir.path(), options(durability), Arc::new(io.clone())).unwrap();
    let done = run_calls(&store, &mut |store, done| {
        let context = format!("{durability:?}, after call {}", done.len() - 1);
        check_power_loss(
            &io,
            store.dir(),
            (durability, SEEDS_PER_CALL),
            done,
            &context,
        );
    });
    assert!(done.iter().all(|d| d.result.is_ok()));
    store.close().unwrap();
}

#[test]
fn sync_power_loss_keeps_acknowledged_calls() {
    images_after_every_call(Durability::Sync);
}

#[test]
fn interval_power_loss_loses_only_suffix() {
    images_after_every_call(interval());
}

/// Every prediction that `store` returns, in UUID order.
fn read_all(store: &Store) -> Vec<Prediction> {
    let mut read: Vec<Prediction> = store
        .read_metrics(MODEL, 0, i64::MAX)
        .unwrap()
        .collect::<crate::Result<_>>()
        .unwrap();
    read.sort_by_key(|p| p.uuid);
    read
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Builds a directory as a crash during ingest leaves it: the last frame of the log torn, a
/// log file after it without a valid header, a temporary manifest and a segment file that no
/// manifest lists.
fn torn_directory(dir: &Path) {
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir, options(interval()), Arc::new(io.clone())).unwrap();
    run_calls(&store, &mut |_, _| {});
    let image = dir.with_extension("image");
    io.kill_image(dir, &image).unwrap();
    drop(store);
    fs::remove_dir_all(dir).unwrap();
    fs::rename(&image, dir).unwrap();

    let last = *Wal::file_numbers(dir).unwrap().last().unwrap();
    let path = dir.join(wal_file_name(last));
    let frame = read_file(&path).unwrap().frames.pop().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[frame.offset as usize + 20] ^= 0x40;
    fs::write(&path, bytes).unwrap();
    fs::write(dir.join(wal_file_name(last + 1)), [0u8; 100]).unwrap();
    fs::write(dir.join(MANIFEST_TMP_FILE), b"half a manifest").unwrap();
    fs::write(dir.join(segment_file_name(99)), b"half a segment").unwrap();
}

/// Opens a copy of `dir` with operation `at` failing, and checks that the store, or after a
/// failed open a power-loss image and the directory itself, holds exactly `reference`.
fn run_open_point(dir: &Path, reference: &[Prediction], at: u64) -> Option<Op> {
    let root = tempfile::tempdir().unwrap();
    let copy = root.path().join("store");
    copy_dir(dir, &copy);
    let io = FaultyIo::new();
    io.arm(at, Fault::Io);
    let opened = Store::open_with_io(&copy, options(interval()), Arc::new(io.clone()));
    let Some((_, op)) = io.failed() else {
        io.disarm();
        let store = opened.unwrap();
        assert_eq!(read_all(&store), reference, "open without a fault");
        store.close().unwrap();
        return None;
    };
    let context = format!("Io at operation {at} of open ({op:?})");
    assert!(opened.is_err(), "{context}: open returned Ok");
    let losses = [
        Loss::Unsynced,
        Loss::Prefix { seed: at },
        Loss::Pages { seed: at },
    ];
    for loss in losses {
        let image = root.path().join(format!("{loss:?}"));
        io.crash_image_with(&copy, &image, loss).unwrap();
        let store = Store::open_with(&image, options(interval())).unwrap();
        assert_eq!(read_all(&store), reference, "{context}, image {loss:?}");
        store.close().unwrap();
    }
    let store = Store::open_with(&copy, options(interval())).unwrap();
    assert_eq!(read_all(&store), reference, "{context}, reopened");
    store.close().unwrap();
    Some(op)
}

#[test]
fn open_survives_io_error_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("torn");
    torn_directory(&dir);
    let reference = {
        let copy = root.path().join("reference");
        copy_dir(&dir, &copy);
        let store = Store::open_with(&copy, options(interval())).unwrap();
        read_all(&store)
    };
    assert!(!reference.is_empty());
    let mut ops = Vec::new();
    for at in 1.. {
        match run_open_point(&dir, &reference, at) {
            Some(op) => ops.push(op),
            None => break,
        }
    }
    // Two stray files and the file after the torn one are removed, the directory synced, and
    // each replayed log file synced.
    assert_eq!(count(&ops, Op::Remove), 3, "{ops:?}");
    assert_eq!(count(&ops, Op::SyncDir), 1, "{ops:?}");
    assert!(count(&ops, Op::SyncData) >= 3, "{ops:?}");
}
