//! SIGKILL of a writer process while its index merge thread merges. The writer never flushes
//! itself: the smallest head makes the background thread and back-pressure flush every few
//! batches, and each such flush sends the merge thread a merge request. The parent kills
//! the writer as soon as an index run that the manifest does not list appears while the
//! manifest lists enough runs to merge. That is most likely a merge before its manifest switch,
//! else a flush's run.
//!
//! After each kill the store opens with every acknowledged batch read exactly once, the batch
//! in flight whole or absent, lookups and the duplicate check finding them through the index,
//! and one index entry per prediction in live segments. The next round's writer opens the same
//! directory, so later merges read runs that earlier rounds left.
//!
//! The test runs this test binary again as the writer: `merging_writer_child` does nothing
//! unless `CHILD_DIR_VAR` is set.

#[path = "support/adversarial.rs"]
mod adversarial;
#[path = "support/child.rs"]
mod child;
mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use modelmetrics::index::{self, IndexRun};
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, NewPrediction, Options, Store, Uuid};
use support::{ALL_END, ALL_START};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_MERGE_KILL_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_MERGE_KILL_ROUND";
const CHILD_TEST: &str = "merging_writer_child";
const ACK_PREFIX: &str = "merge-ack ";

const ROUNDS: u64 = 5;
const MODEL: &str = "merged";
const PER_STEP: u64 = 50;
const T0: i64 = 1_700_000_000_000;
/// Maximum wait for an unlisted index run. The writer is killed after it in any case.
const WATCH_FOR: Duration = Duration::from_secs(3);

fn writer_options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::from_millis(5))
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

/// Options of the checking store in the parent, which flushes only at `close`.
fn parent_options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

fn prediction_uuid(round: u64, step: u64, i: u64) -> Uuid {
    Uuid::from_u128(
        0x3e6u128 << 116 | u128::from(round) << 64 | u128::from(step) << 16 | u128::from(i),
    )
}

/// Returns (round, step, i) of a UUID made by `prediction_uuid`.
fn key_of(uuid: Uuid) -> (u64, u64, u64) {
    let bits = uuid.as_u128();
    let round = (bits >> 64) as u64 & 0xffff_ffff;
    let step = (bits >> 16) as u64 & 0xffff_ffff_ffff;
    (round, step, bits as u64 & 0xffff)
}

fn step_batch(round: u64, step: u64) -> Vec<NewPrediction> {
    (0..PER_STEP)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: prediction_uuid(round, step, i),
            timestamp_ms: T0 + (round * 100_000 + step) as i64,
            metrics: Metrics::new()
                .with("i", i as i64)
                .with("pad", vec![(step % 251) as u8; 96]),
        })
        .collect()
}

/// The writer process: runs only when the parent test set `CHILD_DIR_VAR`.
#[test]
fn merging_writer_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, writer_options()).unwrap();
    let mut out = std::io::stdout();
    for step in 0.. {
        store.track_metrics_batch(&step_batch(round, step)).unwrap();
        writeln!(out, "{ACK_PREFIX}{step}").unwrap();
        out.flush().unwrap();
    }
}

/// Returns whether `dir` contains an index run that its manifest does not list, while the
/// manifest lists enough runs for a merge: the run is most likely a merge's output.
fn unlisted_run(dir: &Path) -> bool {
    let Ok(Some(manifest)) = Manifest::load(dir) else {
        return false;
    };
    if manifest.index_runs.len() < index::MERGE_MIN_RUNS {
        return false;
    }
    let listed: HashSet<String> = manifest
        .index_runs
        .iter()
        .map(|&id| index::index_file_name(id))
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|entry| entry.ok()).any(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        name.starts_with("index-") && !listed.contains(&name)
    })
}

/// Runs one writer, kills it once an unlisted index run appears, and returns the number of
/// steps it acknowledged and whether the kill met such a run.
fn run_and_kill(dir: &Path, round: u64) -> (u64, bool) {
    let vars = [
        (CHILD_DIR_VAR, dir.display().to_string()),
        (CHILD_ROUND_VAR, round.to_string()),
    ];
    let mut writer = child::spawn(CHILD_TEST, &vars, ACK_PREFIX);
    let first = writer.lines.recv_timeout(Duration::from_secs(30));
    assert_eq!(first.as_deref(), Ok("0"), "round {round}: no first step");
    let deadline = Instant::now() + WATCH_FOR;
    let mut met = false;
    while Instant::now() < deadline && !met {
        met = unlisted_run(dir);
    }
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();
    // The output thread ends at the end of the pipe, so every line the writer printed arrives.
    let mut acked = 1;
    while let Ok(line) = writer.lines.recv_timeout(Duration::from_secs(10)) {
        assert_eq!(line, acked.to_string(), "round {round}: steps out of order");
        acked += 1;
    }
    let (status, stderr) = writer.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: {stderr}"
    );
    (acked, met)
}

/// Checks every row, and that each acknowledged step is whole and each other step whole or
/// absent. Returns the number of rows.
fn check_rows(store: &Store, acked: &[u64], context: &str) -> u64 {
    let mut per_step: HashMap<(u64, u64), HashSet<u64>> = HashMap::new();
    let mut rows = 0;
    for row in store.read_metrics(MODEL, ALL_START, ALL_END).unwrap() {
        let row = row.unwrap();
        let (round, step, i) = key_of(row.uuid);
        let fresh = per_step.entry((round, step)).or_default().insert(i);
        assert!(fresh, "{context}: {round}/{step}/{i} read twice");
        let expected = &step_batch(round, step)[i as usize].metrics;
        assert_eq!(&row.metrics, expected, "{context}: {round}/{step}/{i}");
        rows += 1;
    }
    for (&(round, step), found) in &per_step {
        let count = acked.get(round as usize).copied().unwrap_or(0);
        assert!(
            step <= count,
            "{context}: step {round}/{step} was never started"
        );
        assert_eq!(
            found.len() as u64,
            PER_STEP,
            "{context}: step {round}/{step} torn"
        );
    }
    for (round, &count) in acked.iter().enumerate() {
        for step in 0..count {
            let key = (round as u64, step);
            assert!(
                per_step.contains_key(&key),
                "{context}: step {round}/{step} lost"
            );
        }
    }
    rows
}

/// Checks that the index finds the first and last prediction of each acknowledged step.
fn check_index(store: &Store, acked: &[u64], context: &str) {
    for (round, &count) in acked.iter().enumerate() {
        for step in (0..count).step_by(7) {
            for i in [0, PER_STEP - 1] {
                let uuid = prediction_uuid(round as u64, step, i);
                let found = store.lookup(uuid).unwrap();
                assert!(found.is_some(), "{context}: lookup of {round}/{step}/{i}");
                let again = store.track_metrics(MODEL, uuid, T0, &Metrics::new());
                assert!(
                    matches!(again, Err(Error::DuplicatePrediction { .. })),
                    "{context}: tracking {round}/{step}/{i} again returned {again:?}"
                );
            }
        }
    }
}

fn check_runs(dir: &Path, rows: u64, context: &str) {
    let manifest = Manifest::load(dir).unwrap().unwrap();
    let live: HashSet<u64> = manifest.segments.iter().copied().collect();
    let mut entries = 0;
    for &id in &manifest.index_runs {
        let run = IndexRun::open(dir, id).unwrap();
        for segment in run.segments() {
            assert!(
                live.contains(segment),
                "{context}: run {id} points into gone {segment}"
            );
        }
        entries += run.info().entries;
    }
    assert_eq!(entries, rows, "{context}: index entries");
}

#[test]
fn sigkill_during_background_merge_keeps_index() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let mut acked = Vec::new();
    let mut met = 0;
    for round in 0..ROUNDS {
        let (count, raced) = run_and_kill(&dir, round);
        acked.push(count);
        met += u64::from(raced);
        let context = format!("round {round} ({count} steps, unlisted run: {raced})");
        let store = Store::open_with(&dir, parent_options()).unwrap();
        let problems = adversarial::stray_files(&dir);
        assert!(problems.is_empty(), "{context}: {problems:?}");
        let rows = check_rows(&store, &acked, &context);
        check_index(&store, &acked, &context);
        store.close().unwrap();
        drop(store);
        check_runs(&dir, rows, &context);
    }
    println!("{met} of {ROUNDS} kills met an unlisted index run");
    assert!(met > 0, "no kill met an unlisted index run");
}
