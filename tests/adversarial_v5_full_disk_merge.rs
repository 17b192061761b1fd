//! An index merge that meets a full disk. The flush before it fits, the merged run does not.
//! `Store::flush` then returns the merge's full-disk error. The flush's segment and run are
//! live all the same, so reads, lookups and the duplicate check see every prediction, and the
//! merge leaves no partial run behind. Once space is back, the merge thread retries by itself
//! and merges the runs, and a reopen finds every prediction exactly once.
//!
//! Runs only as root, because it mounts a small tmpfs. Otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::path::Path;
use std::time::{Duration, Instant};

use adversarial::{assert_disk_full_under, count_by_uuid, settled_problems, stray_files};
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Durability, Error, Metrics, NewPrediction, Options, Store, index};
use support::{read_all, uuid};
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "merging";
const T0: i64 = 1_700_000_000_000;
/// Predictions of each of the first runs, and of the last run, whose flush starts the merge.
/// The merge policy takes runs within a factor of four of the smallest, so the last run merges
/// with the others although it is smaller, and the merged run is much larger than one flush.
const FIRST_RUN_ROWS: u128 = 80_000;
const LAST_RUN_ROWS: u128 = 20_000;
/// Runs that the merge policy merges: the flush that adds the last one merges.
const RUNS: u128 = index::MERGE_MIN_RUNS as u128;
const TOTAL_ROWS: u128 = (RUNS - 1) * FIRST_RUN_ROWS + LAST_RUN_ROWS;
/// Maximum wait for the merge thread to merge once space is back. Its retry delay doubles
/// from 100 ms after each failure, and the disk stays full for well under a second.
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);

fn options() -> Options {
    // No compaction, so only merges change the index runs, and no background flush.
    Options::default()
        .durability(Durability::Os)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

/// Tracks the predictions `first..first + count` into the head.
fn track_rows(store: &Store, first: u128, count: u128) {
    let batch = (first..first + count).map(|n| NewPrediction {
        model: MODEL.into(),
        uuid: uuid(n),
        timestamp_ms: T0 + n as i64,
        metrics: Metrics::new().with("n", n as i64),
    });
    store.track_metrics_batch_owned(batch.collect()).unwrap();
}

fn file_len(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).unwrap().len()
}

/// Returns the bytes that a flush of `rows` predictions writes, judged from the newest segment
/// and run, with room to spare.
fn flush_bytes(dir: &Path, rows: u128) -> u64 {
    let manifest = Manifest::load(dir).unwrap().unwrap();
    let segment = *manifest.segments.last().unwrap();
    let run = *manifest.index_runs.last().unwrap();
    let written = file_len(dir, &modelmetrics::segment::segment_file_name(segment))
        + file_len(dir, &index::index_file_name(run));
    let per_run = written * rows as u64 / FIRST_RUN_ROWS as u64;
    per_run + per_run / 4 + (64 << 10)
}

fn run_count(dir: &Path) -> usize {
    Manifest::load(dir).unwrap().unwrap().index_runs.len()
}

fn check_every_prediction(store: &Store, context: &str) {
    let rows = read_all(store, MODEL);
    assert_eq!(rows.len() as u128, TOTAL_ROWS, "{context}: rows");
    let counts = count_by_uuid(&rows);
    assert!(
        counts.values().all(|&c| c == 1),
        "{context}: duplicated rows"
    );
    for n in [0, FIRST_RUN_ROWS, TOTAL_ROWS - 1] {
        let found = store.lookup(uuid(n)).unwrap();
        assert!(found.is_some(), "{context}: lookup of {n}");
        let again = store.track_metrics(MODEL, uuid(n), T0, &Metrics::new());
        assert!(
            matches!(again, Err(Error::DuplicatePrediction { .. })),
            "{context}: tracking {n} again returned {again:?}"
        );
    }
}

#[test]
fn merge_on_full_disk_is_retried() {
    let Some(fs) = Tmpfs::mount(48 << 20, "merge_on_full_disk_is_retried") else {
        return;
    };
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    for run in 0..RUNS - 1 {
        track_rows(&store, run * FIRST_RUN_ROWS, FIRST_RUN_ROWS);
        store.flush().unwrap();
    }
    assert_eq!(run_count(&dir), RUNS as usize - 1, "runs before the merge");
    track_rows(&store, (RUNS - 1) * FIRST_RUN_ROWS, LAST_RUN_ROWS);
    let room = flush_bytes(&dir, LAST_RUN_ROWS);
    let filler = Filler::leaving(&fs.path().join("filler"), room);

    let error = store.flush().expect_err("a merge on a full disk succeeded");
    println!("merge on the full disk: {error}");
    assert_disk_full_under(&error, fs.path(), "merge");
    assert_eq!(
        run_count(&dir),
        RUNS as usize,
        "the flush's run is not live"
    );
    let problems = settled_problems(|| stray_files(&dir));
    assert!(problems.is_empty(), "after the failed merge: {problems:?}");
    check_every_prediction(&store, "disk full");

    filler.remove();
    let deadline = Instant::now() + RETRY_TIMEOUT;
    while run_count(&dir) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        run_count(&dir),
        1,
        "the merge thread did not merge once space was back"
    );
    let problems = settled_problems(|| stray_files(&dir));
    assert!(problems.is_empty(), "after the retried merge: {problems:?}");
    check_every_prediction(&store, "merged");
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    check_every_prediction(&store, "reopened");
    store.close().unwrap();
}
