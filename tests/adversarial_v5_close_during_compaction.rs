//! `close` while another thread runs `Store::compact`, or `Store::flush`, which merges index
//! runs in the calling thread. Once `close` returns, the directory is unlocked and another
//! `Store` may open it. So the closed store must not write, rename or delete a file after that.
//! A compaction step or merge that finished later would replace the manifest of the new owner,
//! or delete files that its manifest lists.
//!
//! Each round fills several small segments, starts `compact` or `flush` on a thread, waits
//! until the step or the merge has written its first file, and closes. The test then checks
//! that the directory does not change while the racing call finishes, that a store opened
//! right after `close` keeps its own writes, and that a last open finds every prediction
//! exactly once.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, NewPrediction, Options, Store, Uuid, index};
use support::{read_all, uuid};

const MODEL: &str = "scored";
const T0: i64 = 1_700_000_000_000;
const SEGMENTS: u128 = 6;
const ROWS_PER_SEGMENT: u128 = 20_000;
const ROUNDS: u64 = 3;
/// Rows that the store opened after `close` tracks, with UUIDs above the first store's.
const LATER_ROWS: u128 = 500;
/// Maximum wait for the racing call to write its first file.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn options() -> Options {
    // No background compaction: only the test's `compact` call merges segments.
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Returns the name and contents of every file in `dir` but `LOCK`, which the next owner
/// rewrites.
fn directory_state(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "LOCK" {
            continue;
        }
        // A file removed between the listing and the read counts as a change too.
        let bytes = std::fs::read(entry.path()).unwrap_or_else(|_| b"<removed>".to_vec());
        files.insert(name, bytes);
    }
    files
}

fn fill(store: &Store, segments: u128) {
    for segment in 0..segments {
        track_segment(store, segment);
        store.flush().unwrap();
    }
}

/// Tracks the predictions of segment `segment` into the head.
fn track_segment(store: &Store, segment: u128) {
    let batch: Vec<NewPrediction> = (0..ROWS_PER_SEGMENT)
        .map(|i| {
            let n = segment * ROWS_PER_SEGMENT + i;
            NewPrediction {
                model: MODEL.into(),
                uuid: uuid(n),
                timestamp_ms: T0 + (i as i64) * 10 + segment as i64,
                metrics: Metrics::new()
                    .with("score", (n % 997) as f64 / 997.0)
                    .with("bucket", format!("b{}", n % 13)),
            }
        })
        .collect();
    store.track_metrics_batch_owned(batch).unwrap();
}

/// Waits until a file appears in `dir` that `before` did not list: the compaction writes it.
/// Returns false when the compaction finished first.
fn wait_for_new_file(
    dir: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    done: &dyn Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        let names = std::fs::read_dir(dir).unwrap();
        let new = names
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .any(|name| name != "LOCK" && !before.contains_key(&name));
        if new {
            return true;
        }
        if done() {
            return false;
        }
        thread::yield_now();
    }
    panic!("compaction wrote no file within {START_TIMEOUT:?}");
}

fn track_later(store: &Store) -> Vec<Uuid> {
    let first = SEGMENTS * ROWS_PER_SEGMENT;
    let uuids: Vec<Uuid> = (first..first + LATER_ROWS).map(uuid).collect();
    for (i, key) in uuids.iter().enumerate() {
        let metrics = Metrics::new().with("score", 0.5);
        store
            .track_metrics(MODEL, *key, T0 - 1 - i as i64, &metrics)
            .unwrap();
    }
    store.flush().unwrap();
    uuids
}

fn check_exactly_once(dir: &Path, expected: usize, round: u64) {
    let store = Store::open_with(dir, options())
        .unwrap_or_else(|e| panic!("round {round}: the store does not reopen: {e}"));
    let rows = read_all(&store, MODEL);
    let counts = adversarial::count_by_uuid(&rows);
    let duplicated = counts.values().filter(|&&count| count > 1).count();
    assert_eq!(duplicated, 0, "round {round}: duplicated predictions");
    assert_eq!(
        rows.len(),
        expected,
        "round {round}: predictions after reopen"
    );
    store.close().unwrap();
}

/// The call that races `close`.
#[derive(Clone, Copy, Debug)]
enum Racer {
    /// `compact` merges the segments.
    Compact,
    /// `flush` writes the fifth segment and index run, and then merges the five runs.
    FlushAndMerge,
}

/// Fills the store, starts the racing call on a thread and waits until it writes. Returns the
/// thread, whether the call was still running when it wrote, and the predictions tracked.
fn start_racer(
    store: &Arc<Store>,
    dir: &Path,
    racer: Racer,
) -> (thread::JoinHandle<modelmetrics::Result<()>>, bool, u128) {
    let store = Arc::clone(store);
    match racer {
        Racer::Compact => {
            fill(&store, SEGMENTS);
            let before = directory_state(dir);
            let compaction = thread::spawn(move || store.compact().map(drop));
            let raced = wait_for_new_file(dir, &before, &|| compaction.is_finished());
            (compaction, raced, SEGMENTS * ROWS_PER_SEGMENT)
        }
        Racer::FlushAndMerge => {
            let runs = index::MERGE_MIN_RUNS as u128;
            fill(&store, runs - 1);
            track_segment(&store, runs - 1);
            // The flush takes two file ids, and the merge the next one.
            let next_id = Manifest::load(dir).unwrap().unwrap().next_file_id;
            let merged_run = dir.join(index::index_file_name(next_id + 2));
            let flush = thread::spawn(move || store.flush());
            let raced = wait_for_file(&merged_run, &|| flush.is_finished());
            (flush, raced, runs * ROWS_PER_SEGMENT)
        }
    }
}

/// Waits until `path` exists. Returns false when `done` turned true first.
fn wait_for_file(path: &Path, done: &dyn Fn() -> bool) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        if done() {
            return false;
        }
        thread::yield_now();
    }
    panic!("{} did not appear within {START_TIMEOUT:?}", path.display());
}

/// Runs one round; returns false when the racing call finished before `close` could race it.
fn run_round(root: &Path, racer: Racer, round: u64) -> bool {
    let dir = root.join(format!("{racer:?}-{round}"));
    let store = Arc::new(Store::open_with(&dir, options()).unwrap());
    let (call, raced, tracked) = start_racer(&store, &dir, racer);
    store.close().unwrap();
    let after_close = directory_state(&dir);

    // The directory is free now: a new owner opens it at once and writes.
    let next = Store::open_with(&dir, options()).unwrap();
    let next_state = directory_state(&dir);
    let outcome = call.join().expect("the racing thread panicked");
    let after_join = directory_state(&dir);
    let changed: Vec<&String> = next_state
        .keys()
        .chain(after_join.keys())
        .filter(|name| next_state.get(*name) != after_join.get(*name))
        .collect();
    assert!(
        changed.is_empty(),
        "{racer:?} round {round}: the closed store changed {changed:?} after close returned \
         (raced: {raced}, {} files at close)",
        after_close.len()
    );
    match outcome {
        Ok(()) | Err(Error::Closed) => {}
        Err(other) => panic!("{racer:?} round {round}: the call racing close returned {other:?}"),
    }
    let later = track_later(&next);
    next.close().unwrap();
    drop(store);
    check_exactly_once(&dir, tracked as usize + later.len(), round);
    raced
}

fn run_rounds(racer: Racer) {
    let root = tempfile::tempdir().unwrap();
    let mut raced = 0;
    for round in 0..ROUNDS {
        raced += u64::from(run_round(root.path(), racer, round));
    }
    println!("{raced} of {ROUNDS} rounds closed while {racer:?} was writing");
    assert!(raced > 0, "no round closed while {racer:?} was writing");
}

#[test]
fn close_waits_for_running_compaction() {
    run_rounds(Racer::Compact);
}

#[test]
fn close_waits_for_running_merge() {
    run_rounds(Racer::FlushAndMerge);
}
