//! A writer process that tracks large columnar batches is killed with SIGKILL at random
//! moments, several times on the same directory. Each batch's frame is larger than 4 KiB, so
//! it goes to the log through `pwrite` rather than through the mapping. After each kill, open
//! must show every acknowledged batch whole, and any other batch whole or not at all.
//!
//! The test runs this test binary again as the writer: `writer_child_tracks_batches` does
//! nothing unless `CHILD_DIR_VAR` is set. The writer prints `ack <batch>` after each call
//! returns.

#[path = "support/adversarial.rs"]
mod adversarial;
#[path = "support/child.rs"]
mod child;

use std::collections::HashMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use modelmetrics::{MetricColumn, NewPredictionColumns, Options, Store, Uuid};
use rand::RngExt;

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_LARGE_BATCH_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_LARGE_BATCH_ROUND";
const SEED_VAR: &str = "MODELMETRICS_TEST_LARGE_BATCH_SEED";
const CHILD_TEST: &str = "writer_child_tracks_batches";
const PREFIX: &str = "writer: ";

const ROUNDS: u64 = 6;
/// Batches a writer tracks per round if it is not killed first.
const BATCHES: u64 = 100_000;
const ROWS: u64 = 64;
/// Bytes of each row's string value, which makes a frame of about 15 KiB.
const TEXT: usize = 200;
const KILL_DELAY_MS: std::ops::RangeInclusive<u64> = 20..=300;

fn options() -> Options {
    Options::default()
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES * 8)
}

fn uuid(round: u64, batch: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(round << 32 | batch, row)
}

fn batch(round: u64, number: u64) -> NewPredictionColumns {
    let text = |row: u64| format!("{row:0>width$}", width = TEXT);
    NewPredictionColumns {
        model: "m".into(),
        uuids: (0..ROWS).map(|row| uuid(round, number, row)).collect(),
        timestamps_ms: vec![(round << 32 | number) as i64; ROWS as usize],
        metrics: vec![
            (
                "score".into(),
                MetricColumn::F64(vec![number as f64; ROWS as usize]),
            ),
            (
                "text".into(),
                MetricColumn::Str((0..ROWS).map(text).collect()),
            ),
        ],
    }
}

/// Tracks batches of its round until the parent kills it. This is the writer side of the test.
#[test]
fn writer_child_tracks_batches() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, options()).unwrap();
    println!("{PREFIX}open");
    for number in 0..BATCHES {
        store.track_metrics_columns(batch(round, number)).unwrap();
        println!("{PREFIX}ack {number}");
    }
}

/// Returns the rows stored per (round, batch).
fn rows_by_batch(dir: &Path) -> HashMap<(u64, u64), u64> {
    let store = Store::open_with(dir, options()).unwrap();
    let mut rows = HashMap::new();
    for prediction in store.read_metrics("m", i64::MIN, i64::MAX).unwrap() {
        let (high, _) = prediction.unwrap().uuid.as_u64_pair();
        *rows.entry((high >> 32, high & 0xffff_ffff)).or_default() += 1;
    }
    rows
}

#[test]
fn killed_writer_loses_no_acked_batch() {
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut acked_by_round = Vec::new();
    for round in 0..ROUNDS {
        let vars = [
            (CHILD_DIR_VAR, dir.path().display().to_string()),
            (CHILD_ROUND_VAR, round.to_string()),
        ];
        let mut writer = child::spawn(CHILD_TEST, &vars, PREFIX);
        writer.expect_line("open", Duration::from_secs(30));
        thread::sleep(Duration::from_millis(rng.random_range(KILL_DELAY_MS)));
        writer.child.kill().unwrap();
        let status = writer.child.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer finished");
        // The reader of the writer's output ends at end of file, after the kill.
        let acks = writer.lines.iter().filter_map(|line| {
            let number = line.strip_prefix("ack ")?;
            Some(number.parse::<u64>().unwrap() + 1)
        });
        let acked = acks.max().unwrap_or(0);
        println!("round {round}: {acked} batches acknowledged");
        acked_by_round.push(acked);

        let rows = rows_by_batch(dir.path());
        for (&(stored_round, number), &count) in &rows {
            assert_eq!(
                count, ROWS,
                "seed {seed}: batch {number} of round {stored_round}"
            );
        }
        for (earlier, &acked) in acked_by_round.iter().enumerate() {
            for number in 0..acked {
                let found = rows.contains_key(&(earlier as u64, number));
                assert!(
                    found,
                    "seed {seed}: acked batch {number} of round {earlier} lost"
                );
            }
        }
    }
}
