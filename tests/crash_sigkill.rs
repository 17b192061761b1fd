//! Recovery after SIGKILL of a writer process: every acknowledged record is there exactly
//! once with its metrics, including after several kills of writers on the same directory.
//!
//! The test runs this test binary again as the writer: `writer_child_tracks_until_killed`
//! does nothing unless `CHILD_DIR_VAR` is set. The writer prints `ack <step>` after each call
//! returns, and the parent kills it after a random delay, reading the acknowledged steps from
//! the pipe.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use modelmetrics::{
    Error, MetricColumn, Metrics, NewAggregate, NewDelayed, NewPrediction, NewPredictionColumns,
    Options, Store, Uuid,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{ALL_END, ALL_START, by_name, copy_store};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_WRITER_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_WRITER_ROUND";
/// Seed of the kill delays. When it is unset, the test picks a seed and prints it.
const SEED_VAR: &str = "MODELMETRICS_TEST_KILL_SEED";
const CHILD_TEST: &str = "writer_child_tracks_until_killed";

const ROUNDS: u64 = 5;
const KILL_DELAY_MS: std::ops::RangeInclusive<u64> = 50..=400;
/// Steps of the writer's cycle, see `Step::of`.
const CYCLE: u64 = 7;
const BATCH: u64 = 8;
const AGGREGATE_BATCH: u64 = 3;
const MODELS: [&str; 3] = ["a", "b", "c"];
const AGGREGATE_MODEL: &str = "windows";
const T0: i64 = 1_700_000_000_000;

/// What the writer does at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Prediction,
    PredictionBatch,
    /// Delayed metrics for the prediction of step - 2.
    Delayed,
    /// Delayed metrics for the batch of step - 2.
    DelayedBatch,
    Aggregate,
    AggregateBatch,
    /// Delayed metrics for a prediction UUID that is never tracked.
    Orphan,
}

impl Step {
    fn of(step: u64) -> Step {
        match step % CYCLE {
            0 => Step::Prediction,
            1 => Step::PredictionBatch,
            2 => Step::Delayed,
            3 => Step::DelayedBatch,
            4 => Step::Aggregate,
            5 => Step::AggregateBatch,
            _ => Step::Orphan,
        }
    }

    /// Number of records the step writes.
    fn items(step: u64) -> u64 {
        match Step::of(step) {
            Step::Prediction | Step::Delayed | Step::Aggregate | Step::Orphan => 1,
            Step::PredictionBatch | Step::DelayedBatch => BATCH,
            Step::AggregateBatch => AGGREGATE_BATCH,
        }
    }
}

/// Identifies one record written by the writer of `round` at `step`, item `item` of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    round: u64,
    step: u64,
    item: u64,
}

impl Key {
    fn uuid(self) -> Uuid {
        let tag: u128 = 0xc0ffee;
        Uuid::from_u128(
            tag << 104
                | u128::from(self.round) << 64
                | u128::from(self.step) << 16
                | u128::from(self.item),
        )
    }

    fn from_uuid(uuid: Uuid) -> Key {
        let bits = uuid.as_u128();
        Key {
            round: (bits >> 64) as u64 & 0xffff_ffff,
            step: (bits >> 16) as u64 & 0xffff_ffff_ffff,
            item: bits as u64 & 0xffff,
        }
    }

    fn model(self) -> &'static str {
        MODELS[(self.step % 3) as usize]
    }

    fn timestamp(self) -> i64 {
        let spread = (self.round * 1_000_003 + self.step).wrapping_mul(7919) % 10_000_000;
        T0 + spread as i64 * 16 + self.item as i64
    }

    fn metrics(self) -> Metrics {
        Metrics::new()
            .with("round", self.round as i64)
            .with("step", self.step as i64)
            .with("item", self.item as i64)
            .with("score", self.step as f64 / 3.0)
            .with(
                "tag",
                format!("r{}s{}i{}", self.round, self.step, self.item),
            )
    }

    /// Returns the window of the aggregate record of this key.
    fn window(self) -> (i64, i64) {
        let start = (self.round << 40 | self.step << 4 | self.item) as i64;
        (start, start + 1)
    }

    fn new_prediction(self) -> NewPrediction {
        NewPrediction {
            model: self.model().to_owned(),
            uuid: self.uuid(),
            timestamp_ms: self.timestamp(),
            metrics: self.metrics(),
        }
    }
}

/// Returns the predictions of `keys`, all of one step and so of one model, as columns with the
/// metrics of `Key::metrics`.
fn columns_of(keys: &[Key]) -> NewPredictionColumns {
    let ints =
        |value: fn(&Key) -> u64| MetricColumn::I64(keys.iter().map(|k| value(k) as i64).collect());
    let tags = keys
        .iter()
        .map(|k| format!("r{}s{}i{}", k.round, k.step, k.item))
        .collect();
    NewPredictionColumns {
        model: keys[0].model().to_owned(),
        uuids: keys.iter().map(|k| k.uuid()).collect(),
        timestamps_ms: keys.iter().map(|k| k.timestamp()).collect(),
        metrics: vec![
            ("round".to_owned(), ints(|k| k.round)),
            ("step".to_owned(), ints(|k| k.step)),
            ("item".to_owned(), ints(|k| k.item)),
            (
                "score".to_owned(),
                MetricColumn::F64(keys.iter().map(|k| k.step as f64 / 3.0).collect()),
            ),
            ("tag".to_owned(), MetricColumn::Str(tags)),
        ],
    }
}

/// Delayed metrics written at `step` (a delayed step) for the prediction of `step - 2`.
fn delayed_metrics(step: u64) -> Metrics {
    Metrics::new().with("label", step as i64)
}

fn aggregate_metrics(key: Key) -> Metrics {
    Metrics::new().with("value", key.step as f64 + key.item as f64 / 10.0)
}

fn writer_options() -> Options {
    Options::default()
        .head_size_bytes(256 << 10)
        .wal_file_size(1 << 20)
}

/// Performs one step of the writer.
fn write_step(store: &Store, round: u64, step: u64) {
    let key = |step, item| Key { round, step, item };
    let items = 0..Step::items(step);
    match Step::of(step) {
        Step::Prediction => {
            let p = key(step, 0).new_prediction();
            store
                .track_metrics(&p.model, p.uuid, p.timestamp_ms, &p.metrics)
                .unwrap();
        }
        // Every other prediction batch is tracked as columns.
        Step::PredictionBatch if (step / CYCLE).is_multiple_of(2) => {
            let batch: Vec<_> = items.map(|i| key(step, i).new_prediction()).collect();
            store.track_metrics_batch(&batch).unwrap();
        }
        Step::PredictionBatch => {
            let keys: Vec<Key> = items.map(|i| key(step, i)).collect();
            store.track_metrics_columns(columns_of(&keys)).unwrap();
        }
        Step::Delayed => {
            let target = key(step - 2, 0).uuid();
            store
                .track_delayed_metrics(target, T0, &delayed_metrics(step))
                .unwrap();
        }
        Step::DelayedBatch => {
            let batch: Vec<_> = items
                .map(|i| NewDelayed {
                    uuid: key(step - 2, i).uuid(),
                    timestamp_ms: T0,
                    metrics: delayed_metrics(step),
                })
                .collect();
            store.track_delayed_metrics_batch(&batch).unwrap();
        }
        Step::Orphan => {
            let orphan = key(step, 0).uuid();
            store
                .track_delayed_metrics(orphan, T0, &delayed_metrics(step))
                .unwrap();
        }
        Step::Aggregate | Step::AggregateBatch => {
            let batch: Vec<_> = items
                .map(|i| {
                    let (start_ms, end_ms) = key(step, i).window();
                    NewAggregate {
                        model: AGGREGATE_MODEL.to_owned(),
                        start_ms,
                        end_ms,
                        metrics: aggregate_metrics(key(step, i)),
                    }
                })
                .collect();
            if batch.len() == 1 {
                let a = &batch[0];
                store
                    .track_aggregate_metrics(&a.model, a.start_ms, a.end_ms, &a.metrics)
                    .unwrap();
            } else {
                store.track_aggregate_metrics_batch(&batch).unwrap();
            }
        }
    }
}

/// The writer process: runs only when the parent test set `CHILD_DIR_VAR`.
#[test]
fn writer_child_tracks_until_killed() {
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

/// Starts the writer for `round` on `dir`.
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

/// Reads `ack <step>` lines, sends each step, and returns how many steps were acknowledged.
fn read_acks(stdout: impl Read, acks: mpsc::Sender<u64>) -> u64 {
    let mut count = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        // The test harness may print its own text before the first line of the writer.
        if let Some(at) = line.find("ack ") {
            let step: u64 = line[at + 4..].parse().unwrap();
            assert_eq!(step, count, "acknowledgements out of order");
            count += 1;
            let _ = acks.send(step);
        }
    }
    count
}

/// Returns the error of an open of `dir` while another process has it open.
fn open_while_held(dir: &Path) -> Option<Error> {
    Store::open_with(dir, writer_options()).err()
}

/// Runs one writer until a random delay after its first acknowledgement, kills it with
/// SIGKILL, and returns the number of steps it acknowledged. While the writer runs, an open of
/// its directory from this process must fail with `Error::Locked` naming the writer.
fn run_and_kill(dir: &Path, round: u64, delay: Duration) -> u64 {
    let mut child = spawn_writer(dir, round);
    let stdout = child.stdout.take().unwrap();
    let (sender, acks) = mpsc::channel();
    let reader = thread::spawn(move || read_acks(stdout, sender));
    let first = acks.recv_timeout(Duration::from_secs(30));
    let mut second_open = None;
    if first.is_ok() {
        second_open = open_while_held(dir);
        thread::sleep(delay);
    }
    let child_pid = child.id().to_string();
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
        first.is_ok(),
        "round {round}: the writer acknowledged nothing: {stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: {status}: {stderr}"
    );
    let second_open = second_open.expect("a second open succeeded while the writer ran");
    let text = second_open.to_string();
    assert!(
        matches!(second_open, Error::Locked { .. }),
        "{second_open:?}"
    );
    assert!(
        text.contains(&child_pid),
        "{text:?} does not name process {child_pid}"
    );
    reader.join().unwrap()
}

/// Whether a step of a round was acknowledged, may have been written, or was never started.
#[derive(Debug, PartialEq)]
enum Fate {
    Acked,
    /// The step after the last acknowledged one: the kill may have come after its write.
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

/// Checks the predictions and their delayed metrics against the acknowledged steps.
fn check_predictions(store: &Store, acked: &[u64], context: &str) {
    let mut found: HashMap<Key, usize> = HashMap::new();
    for model in MODELS {
        for row in store.read_metrics(model, ALL_START, ALL_END).unwrap() {
            let row = row.unwrap();
            let key = Key::from_uuid(row.uuid);
            *found.entry(key).or_default() += 1;
            assert_ne!(
                fate(acked, key.round, key.step),
                Fate::NotStarted,
                "{context}: {key:?}"
            );
            assert_eq!(row.model, key.model(), "{context}: {key:?}");
            assert_eq!(row.timestamp_ms, key.timestamp(), "{context}: {key:?}");
            assert_eq!(
                by_name(&row.metrics),
                by_name(&key.metrics()),
                "{context}: {key:?}"
            );
            let labeller = key.step + 2;
            let expected = delayed_metrics(labeller);
            match fate(acked, key.round, labeller) {
                Fate::Acked => assert_eq!(row.delayed, expected, "{context}: {key:?}"),
                Fate::InFlight => {
                    let ok = row.delayed.is_empty() || row.delayed == expected;
                    assert!(ok, "{context}: {key:?} has delayed {:?}", row.delayed);
                }
                Fate::NotStarted => assert!(row.delayed.is_empty(), "{context}: {key:?}"),
            }
        }
    }
    let duplicated: Vec<_> = found.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "{context}: read more than once: {duplicated:?}"
    );
    for (round, &count) in acked.iter().enumerate() {
        for step in (0..count)
            .filter(|&s| Step::of(s) == Step::Prediction || Step::of(s) == Step::PredictionBatch)
        {
            for item in 0..Step::items(step) {
                let key = Key {
                    round: round as u64,
                    step,
                    item,
                };
                assert!(
                    found.contains_key(&key),
                    "{context}: acknowledged {key:?} is missing"
                );
                if step % 97 == 0 {
                    let looked_up = store.lookup(key.uuid()).unwrap();
                    assert!(looked_up.is_some(), "{context}: lookup of {key:?}");
                }
            }
        }
    }
}

/// Checks the aggregate windows against the acknowledged steps.
fn check_aggregates(store: &Store, acked: &[u64], context: &str) {
    let aggregates = store
        .read_aggregate_metrics(AGGREGATE_MODEL, ALL_START, ALL_END)
        .unwrap();
    let mut found = HashMap::new();
    for aggregate in &aggregates {
        let start = aggregate.start_ms as u64;
        let key = Key {
            round: start >> 40,
            step: (start >> 4) & 0xf_ffff_ffff,
            item: start & 0xf,
        };
        assert_eq!(
            key.window(),
            (aggregate.start_ms, aggregate.end_ms),
            "{context}"
        );
        assert_ne!(
            fate(acked, key.round, key.step),
            Fate::NotStarted,
            "{context}: {key:?}"
        );
        assert_eq!(
            aggregate.metrics,
            aggregate_metrics(key),
            "{context}: {key:?}"
        );
        found.insert(key, ());
    }
    for (round, &count) in acked.iter().enumerate() {
        let steps =
            (0..count).filter(|&s| matches!(Step::of(s), Step::Aggregate | Step::AggregateBatch));
        for step in steps {
            for item in 0..Step::items(step) {
                let key = Key {
                    round: round as u64,
                    step,
                    item,
                };
                assert!(
                    found.contains_key(&key),
                    "{context}: acknowledged {key:?} is missing"
                );
            }
        }
    }
}

/// Checks the orphaned delayed metrics against the acknowledged steps.
fn check_orphans(store: &Store, acked: &[u64], context: &str) {
    let mut found = HashMap::new();
    for orphan in store.orphaned_delayed_metrics().unwrap() {
        let key = Key::from_uuid(orphan.uuid);
        assert_eq!(Step::of(key.step), Step::Orphan, "{context}: {key:?}");
        assert_ne!(
            fate(acked, key.round, key.step),
            Fate::NotStarted,
            "{context}: {key:?}"
        );
        assert_eq!(
            orphan.metrics,
            delayed_metrics(key.step),
            "{context}: {key:?}"
        );
        assert_eq!(orphan.timestamp_ms, T0, "{context}: {key:?}");
        *found.entry(key).or_insert(0) += 1;
    }
    let duplicated: Vec<_> = found.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "{context}: orphans listed twice: {duplicated:?}"
    );
    for (round, &count) in acked.iter().enumerate() {
        for step in (0..count).filter(|&s| Step::of(s) == Step::Orphan) {
            let key = Key {
                round: round as u64,
                step,
                item: 0,
            };
            assert!(
                found.contains_key(&key),
                "{context}: acknowledged {key:?} is missing"
            );
        }
    }
}

fn check_store(dir: &Path, acked: &[u64], context: &str) {
    let store = Store::open_with(dir, writer_options()).unwrap();
    check_predictions(&store, acked, context);
    check_aggregates(&store, acked, context);
    check_orphans(&store, acked, context);
}

fn kill_seed() -> u64 {
    if let Ok(seed) = std::env::var(SEED_VAR) {
        return seed.parse().unwrap();
    }
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    since_epoch.as_nanos() as u64
}

#[test]
fn sigkill_mid_ingest_keeps_acked_records() {
    let seed = kill_seed();
    println!("kill delays from seed {seed}: rerun with {SEED_VAR}={seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let dir: PathBuf = root.path().join("store");
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(rng.random_range(KILL_DELAY_MS));
        acked.push(run_and_kill(&dir, round, delay));
        println!(
            "round {round}: killed after {delay:?}, {} steps acknowledged",
            acked[round as usize]
        );
        // Check a copy, so that the next writer recovers from the killed one's files.
        let image = root.path().join(format!("image-{round}"));
        copy_store(&dir, &image);
        check_store(&image, &acked, &format!("after kill {round}"));
        std::fs::remove_dir_all(&image).unwrap();
    }
    check_store(&dir, &acked, "after the last kill");

    let store = Store::open_with(&dir, writer_options()).unwrap();
    let key = Key {
        round: ROUNDS,
        step: 0,
        item: 0,
    };
    write_step(&store, ROUNDS, 0);
    store.close().unwrap();
    drop(store);
    let store = Store::open(&dir).unwrap();
    let found = store.lookup(key.uuid()).unwrap().unwrap();
    assert_eq!(by_name(&found.metrics), by_name(&key.metrics()));
}
