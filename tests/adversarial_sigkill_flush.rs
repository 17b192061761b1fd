//! SIGKILL of a writer process that flushes all the time: a small head, an explicit `flush`
//! every few steps, and payloads that fill the head quickly, so that many kills land inside a
//! flush or an index merge. After each kill, a copy of the directory opens with every
//! acknowledged record exactly once, and no file that its manifest does not list is left
//! after the open.
//!
//! The test runs this test binary again as the writer: `flushing_writer_child` does nothing
//! unless `CHILD_DIR_VAR` is set. The writer prints `ack <step>` after each step.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use adversarial::stray_files;
use modelmetrics::{Metrics, Options, Store, Uuid, Value};
use rand::RngExt;
use support::{ALL_END, ALL_START, by_name, copy_store};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_FLUSHER_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_FLUSHER_ROUND";
const SEED_VAR: &str = "MODELMETRICS_TEST_FLUSH_KILL_SEED";
const CHILD_TEST: &str = "flushing_writer_child";

const ROUNDS: u64 = 30;
/// Delay between the first acknowledgement and the kill, in microseconds.
const KILL_DELAY_US: std::ops::Range<u64> = 5_000..200_000;
const MODEL: &str = "flushing";
const AGGREGATE_MODEL: &str = "windows";
const T0: i64 = 1_700_000_000_000;
const PAYLOAD_BYTES: usize = 400;
const FLUSH_EVERY: u64 = 5;
const ORPHAN_EVERY: u64 = 7;
const AGGREGATE_EVERY: u64 = 3;
/// Steps after a prediction at which its delayed metric is tracked.
const LABEL_LAG: u64 = 2;

fn writer_options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::ZERO)
}

fn prediction_uuid(round: u64, step: u64) -> Uuid {
    Uuid::from_u128(0xf1u128 << 120 | u128::from(round) << 64 | u128::from(step))
}

fn orphan_uuid(round: u64, step: u64) -> Uuid {
    Uuid::from_u128(0xf2u128 << 120 | u128::from(round) << 64 | u128::from(step))
}

/// Returns (round, step) of a UUID made by `prediction_uuid` or `orphan_uuid`.
fn key_of(uuid: Uuid) -> (u64, u64) {
    let bits = uuid.as_u128();
    ((bits >> 64) as u64 & 0xffff_ffff, bits as u64)
}

fn window(round: u64, step: u64) -> (i64, i64) {
    let start = (round << 32 | step) as i64;
    (start, start + 1)
}

fn prediction_metrics(round: u64, step: u64) -> Metrics {
    Metrics::new()
        .with("round", round as i64)
        .with("step", step as i64)
        .with("payload", vec![step as u8; PAYLOAD_BYTES])
}

fn write_step(store: &Store, round: u64, step: u64) {
    let ts = T0 + step as i64 * 10 + round as i64;
    let metrics = prediction_metrics(round, step);
    store
        .track_metrics(MODEL, prediction_uuid(round, step), ts, &metrics)
        .unwrap();
    if let Some(target) = step.checked_sub(LABEL_LAG) {
        let label = Metrics::new().with("label", step as i64);
        store
            .track_delayed_metrics(prediction_uuid(round, target), T0, &label)
            .unwrap();
    }
    if step.is_multiple_of(ORPHAN_EVERY) {
        let orphan = Metrics::new().with("orphan", step as i64);
        store
            .track_delayed_metrics(orphan_uuid(round, step), T0, &orphan)
            .unwrap();
    }
    if step.is_multiple_of(AGGREGATE_EVERY) {
        let (start, end) = window(round, step);
        let auc = Metrics::new().with("auc", step as f64);
        store
            .track_aggregate_metrics(AGGREGATE_MODEL, start, end, &auc)
            .unwrap();
    }
    if step % FLUSH_EVERY == FLUSH_EVERY - 1 {
        store.flush().unwrap();
    }
}

/// The writer process: runs only when the parent test set `CHILD_DIR_VAR`.
#[test]
fn flushing_writer_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, writer_options()).unwrap();
    let mut out = std::io::stdout();
    for step in 0.. {
        write_step(&store, round, step);
        writeln!(out, "ack {step}").unwrap();
        out.flush().unwrap();
    }
}

fn spawn_writer(dir: &Path, round: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD_TEST,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_DIR_VAR, dir)
        .env(CHILD_ROUND_VAR, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read_acks(stdout: impl Read, first: mpsc::Sender<()>) -> u64 {
    let mut count = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(at) = line.find("ack ") {
            let step: u64 = line[at + 4..].parse().unwrap();
            assert_eq!(step, count, "acknowledgements out of order");
            count += 1;
            let _ = first.send(());
        }
    }
    count
}

/// Runs one writer, kills it `delay` after its first acknowledgement, and returns the number
/// of steps it acknowledged.
fn run_and_kill(dir: &Path, round: u64, delay: Duration) -> u64 {
    let mut child = spawn_writer(dir, round);
    let stdout = child.stdout.take().unwrap();
    let (sender, first) = mpsc::channel();
    let reader = thread::spawn(move || read_acks(stdout, sender));
    let started = first.recv_timeout(Duration::from_secs(30));
    if started.is_ok() {
        thread::sleep(delay);
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        started.is_ok(),
        "round {round}: nothing acknowledged: {stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: {stderr}"
    );
    reader.join().unwrap()
}

/// Whether a step was acknowledged, may have been written (the step after the last
/// acknowledgement), or never started.
#[derive(Debug, PartialEq)]
enum Fate {
    Acked,
    InFlight,
    NotStarted,
}

fn fate(acked: &[u64], round: u64, step: u64) -> Fate {
    let count = acked.get(round as usize).copied().unwrap_or(0);
    match step.cmp(&count) {
        std::cmp::Ordering::Less => Fate::Acked,
        std::cmp::Ordering::Equal => Fate::InFlight,
        std::cmp::Ordering::Greater => Fate::NotStarted,
    }
}

fn check_predictions(store: &Store, acked: &[u64], context: &str) {
    let mut found: HashMap<(u64, u64), usize> = HashMap::new();
    for row in store.read_metrics(MODEL, ALL_START, ALL_END).unwrap() {
        let row = row.unwrap();
        let (round, step) = key_of(row.uuid);
        *found.entry((round, step)).or_default() += 1;
        assert_ne!(
            fate(acked, round, step),
            Fate::NotStarted,
            "{context}: {round}/{step}"
        );
        assert_eq!(
            by_name(&row.metrics),
            by_name(&prediction_metrics(round, step)),
            "{context}: {round}/{step}"
        );
        let labeller = step + LABEL_LAG;
        let label = row.delayed.get("label");
        let expected = Value::I64(labeller as i64);
        match fate(acked, round, labeller) {
            Fate::Acked => assert_eq!(label, Some(&expected), "{context}: {round}/{step}"),
            Fate::InFlight => assert!(
                label.is_none() || label == Some(&expected),
                "{context}: {round}/{step} label {label:?}"
            ),
            Fate::NotStarted => assert_eq!(label, None, "{context}: {round}/{step}"),
        }
    }
    let twice: Vec<_> = found.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "{context}: read more than once: {twice:?}"
    );
    for (round, &count) in acked.iter().enumerate() {
        for step in 0..count {
            let key = (round as u64, step);
            assert!(
                found.contains_key(&key),
                "{context}: acknowledged {key:?} missing"
            );
        }
    }
}

fn check_orphans_and_windows(store: &Store, acked: &[u64], context: &str) {
    let mut orphans: HashMap<(u64, u64), usize> = HashMap::new();
    for orphan in store.orphaned_delayed_metrics().unwrap() {
        let (round, step) = key_of(orphan.uuid);
        assert_ne!(
            fate(acked, round, step),
            Fate::NotStarted,
            "{context}: orphan {step}"
        );
        assert_eq!(orphan.metrics.get("orphan"), Some(&Value::I64(step as i64)));
        *orphans.entry((round, step)).or_default() += 1;
    }
    assert!(
        orphans.values().all(|c| *c == 1),
        "{context}: orphans listed twice"
    );
    let windows = store
        .read_aggregate_metrics(AGGREGATE_MODEL, ALL_START, ALL_END)
        .unwrap();
    let windows: HashMap<(i64, i64), usize> = windows
        .iter()
        .map(|a| ((a.start_ms, a.end_ms), 1))
        .collect();
    for (round, &count) in acked.iter().enumerate() {
        let round = round as u64;
        for step in 0..count {
            if step.is_multiple_of(ORPHAN_EVERY) {
                let listed = orphans.contains_key(&(round, step));
                assert!(
                    listed,
                    "{context}: acknowledged orphan {round}/{step} missing"
                );
            }
            if step.is_multiple_of(AGGREGATE_EVERY) {
                let present = windows.contains_key(&window(round, step));
                assert!(
                    present,
                    "{context}: acknowledged window {round}/{step} missing"
                );
            }
        }
    }
}

/// Opens a copy of `dir`, checks that the open left only live files and that every
/// acknowledged record is there once.
fn check_copy(dir: &Path, image: &Path, acked: &[u64], context: &str) {
    copy_store(dir, image);
    let store = Store::open_with(image, writer_options()).unwrap();
    let problems = stray_files(image);
    assert!(
        problems.is_empty(),
        "{context}: files after open: {problems:?}"
    );
    check_predictions(&store, acked, context);
    check_orphans_and_windows(&store, acked, context);
    store.close().unwrap();
    drop(store);
    std::fs::remove_dir_all(image).unwrap();
}

#[test]
fn sigkill_during_flushes_keeps_acked_records() {
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let image = root.path().join("image");
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_micros(rng.random_range(KILL_DELAY_US));
        acked.push(run_and_kill(&dir, round, delay));
        let segments = support::files_with_prefix(&dir, "seg-").len();
        println!(
            "round {round}: killed after {delay:?}, {} steps acknowledged, {segments} segment \
             files",
            acked[round as usize]
        );
        check_copy(&dir, &image, &acked, &format!("after kill {round}"));
    }
    let store = Store::open_with(&dir, writer_options()).unwrap();
    let problems = stray_files(&dir);
    assert!(problems.is_empty(), "after the last kill: {problems:?}");
    check_predictions(&store, &acked, "after the last kill");
    store.close().unwrap();
}
