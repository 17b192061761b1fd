//! SIGKILL of a writer process whose compactions rewrite their groups in capped runs and whose
//! flushes merge index runs. Each step tracks a batch of predictions and flushes, and every
//! eighth step compacts. The target segment size is so small that a merge writes more than one
//! run and leaves index runs that point into both replaced and kept segments.
//!
//! After each kill the store opens with no file outside its manifest. Every acknowledged
//! prediction is read once, and the batch in flight is read whole or not at all. The index
//! runs point only into live segments, with one entry per prediction. A `compact` in the
//! parent keeps all of it, and the next round's writer opens the same directory.
//!
//! The test runs this test binary again as the writer: `compacting_writer_child` does nothing
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
use std::time::Duration;

use modelmetrics::index::IndexRun;
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Metrics, NewPrediction, Options, Store, Uuid};
use rand::RngExt;
use support::{ALL_END, ALL_START};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_CAPPED_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_CAPPED_ROUND";
const SEED_VAR: &str = "MODELMETRICS_TEST_CAPPED_KILL_SEED";
const CHILD_TEST: &str = "compacting_writer_child";
const ACK_PREFIX: &str = "capped-ack ";

const ROUNDS: u64 = 6;
/// Delay between the first acknowledgement and the kill, in microseconds.
const KILL_DELAY_US: std::ops::Range<u64> = 10_000..250_000;
const MODEL: &str = "capped";
const PER_STEP: u64 = 40;
/// Bytes of incompressible payload per prediction.
const PAYLOAD_BYTES: usize = 200;
/// Steps between compactions. Each adds a small segment with 8,000 bytes of payload, so a merge of them
/// exceeds the run cap of twice `target_segment_bytes` and writes more than one run.
const COMPACT_EVERY: u64 = 8;
const T0: i64 = 1_700_000_000_000;

fn writer_options() -> Options {
    Options::default()
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::ZERO)
        .compaction(Compaction {
            enabled: false,
            // Runs are capped at twice this, so a merge of `COMPACT_EVERY` steps writes two or more.
            target_segment_bytes: 24 << 10,
            partition: Duration::from_secs(86_400),
            ..Compaction::default()
        })
}

fn prediction_uuid(round: u64, step: u64, i: u64) -> Uuid {
    Uuid::from_u128(
        0xca9u128 << 116 | u128::from(round) << 64 | u128::from(step) << 16 | u128::from(i),
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
    let mut rng = adversarial::rng(round << 32 | step);
    (0..PER_STEP)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: prediction_uuid(round, step, i),
            // All within one day of data time, so every merge reads one partition.
            timestamp_ms: T0 + (round * 10_000 + step) as i64,
            metrics: Metrics::new().with("i", i as i64).with(
                "payload",
                adversarial::random_bytes(&mut rng, PAYLOAD_BYTES),
            ),
        })
        .collect()
}

/// The writer process: runs only when the parent test set `CHILD_DIR_VAR`.
#[test]
fn compacting_writer_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, writer_options()).unwrap();
    let mut out = std::io::stdout();
    for step in 0.. {
        store.track_metrics_batch(&step_batch(round, step)).unwrap();
        store.flush().unwrap();
        if step % COMPACT_EVERY == COMPACT_EVERY - 1 {
            store.compact().unwrap();
        }
        writeln!(out, "{ACK_PREFIX}{step}").unwrap();
        out.flush().unwrap();
    }
}

/// Runs one writer, kills it `delay` after its first acknowledgement, and returns the number
/// of steps it acknowledged.
fn run_and_kill(dir: &Path, round: u64, delay: Duration) -> u64 {
    let vars = [
        (CHILD_DIR_VAR, dir.display().to_string()),
        (CHILD_ROUND_VAR, round.to_string()),
    ];
    let mut writer = child::spawn(CHILD_TEST, &vars, ACK_PREFIX);
    let first = writer.lines.recv_timeout(Duration::from_secs(30));
    assert_eq!(first.as_deref(), Ok("0"), "round {round}: no first step");
    std::thread::sleep(delay);
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();
    // The output thread ends at the end of the pipe, so every line the writer printed arrives.
    let mut lines = Vec::new();
    while let Ok(line) = writer.lines.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    let (status, stderr) = writer.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: {stderr}"
    );
    let mut acked = 1;
    for line in lines {
        assert_eq!(line, acked.to_string(), "round {round}: steps out of order");
        acked += 1;
    }
    acked
}

/// Checks the rows against the acknowledged steps of each round, the in-flight step of each
/// round whole or absent, and returns how many rows there are.
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
            let present = per_step.contains_key(&(round as u64, step));
            assert!(
                present,
                "{context}: acknowledged step {round}/{step} missing"
            );
        }
    }
    rows
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

fn check_store(dir: &Path, acked: &[u64], context: &str) {
    let store = Store::open_with(dir, writer_options()).unwrap();
    let problems = adversarial::stray_files(dir);
    assert!(problems.is_empty(), "{context}: {problems:?}");
    let rows = check_rows(&store, acked, context);
    // The log may hold the batch in flight, so the head is flushed before the runs are counted.
    store.flush().unwrap();
    check_runs(dir, rows, context);

    store.compact().unwrap();
    let after = format!("{context}, compacted");
    assert_eq!(check_rows(&store, acked, &after), rows, "{after}");
    check_runs(dir, rows, &after);
    let (round, step) = (
        acked.len() as u64 - 1,
        acked.last().copied().unwrap_or(1) - 1,
    );
    let found = store
        .lookup(prediction_uuid(round, step, PER_STEP - 1))
        .unwrap();
    assert!(
        found.is_some(),
        "{after}: lookup of the last acknowledged step"
    );
    store.close().unwrap();
}

#[test]
fn sigkill_during_capped_compaction_keeps_acked() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return;
    }
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_micros(rng.random_range(KILL_DELAY_US));
        acked.push(run_and_kill(&dir, round, delay));
        let context = format!("round {round}, killed after {delay:?}, {acked:?} steps");
        println!("{context}");
        check_store(&dir, &acked, &context);
    }
}
