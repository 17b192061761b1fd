//! A writer fills a large head with columnar batches of 4096 rows, calls `flush`, and is killed
//! with SIGKILL a random moment after the call starts, while the flush encodes the batches from
//! their arrays. The first round lets the flush end and measures it, and the later rounds kill
//! the writer within that time. Every batch was acknowledged before the flush, so after each kill open must
//! show all of them with the values tracked, and every segment on disk must verify.
//!
//! The test runs this test binary again as the writer: `writer_child_fills_and_flushes` does
//! nothing unless `CHILD_DIR_VAR` is set. The writer prints `flushing` before the call and
//! `flushed <microseconds>` after it.

#[path = "support/adversarial.rs"]
mod adversarial;
#[path = "support/child.rs"]
mod child;

use std::collections::HashMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::segment::{Segment, parse_segment_file_name};
use modelmetrics::{Compaction, MetricColumn, NewPredictionColumns, Options, Store, Uuid, Value};
use rand::RngExt;

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_FLUSH_KILL_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_FLUSH_KILL_ROUND";
const SEED_VAR: &str = "MODELMETRICS_TEST_FLUSH_KILL_SEED";
const CHILD_TEST: &str = "writer_child_fills_and_flushes";
const PREFIX: &str = "writer: ";

const ROUNDS: u64 = 6;
/// Batches per round: 163,840 rows, which fit in the 256 MiB head, so the writer's call is the
/// only flush.
const BATCHES: u64 = 40;
const ROWS: u64 = 4_096;

fn options() -> Options {
    Options::default()
        .head_size_bytes(256 << 20)
        .flush_interval(Duration::from_secs(3_600))
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

fn uuid(round: u64, batch: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(round << 32 | batch, row)
}

/// Timestamps of a round overlap those of the other rounds, with runs of 3 equal values.
fn timestamp(batch: u64, row: u64) -> i64 {
    ((batch * ROWS + row) / 3) as i64
}

fn score(round: u64, batch: u64, row: u64) -> f64 {
    (round * 1_000_000 + batch * ROWS + row) as f64 / 16.0
}

fn batch(round: u64, number: u64) -> NewPredictionColumns {
    let rows = 0..ROWS;
    NewPredictionColumns {
        model: "m".into(),
        uuids: rows.clone().map(|row| uuid(round, number, row)).collect(),
        timestamps_ms: rows.clone().map(|row| timestamp(number, row)).collect(),
        metrics: vec![
            (
                "score".into(),
                MetricColumn::F64(rows.clone().map(|r| score(round, number, r)).collect()),
            ),
            (
                "n".into(),
                MetricColumn::I64(rows.map(|row| (row * row) as i64).collect()),
            ),
        ],
    }
}

/// Fills the head with the batches of its round, then flushes. This is the writer side of the
/// test.
#[test]
fn writer_child_fills_and_flushes() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, options()).unwrap();
    for number in 0..BATCHES {
        store.track_metrics_columns(batch(round, number)).unwrap();
    }
    println!("{PREFIX}flushing");
    let started = Instant::now();
    store.flush().unwrap();
    println!("{PREFIX}flushed {}", started.elapsed().as_micros());
    thread::sleep(Duration::from_secs(60));
}

/// Checks every stored prediction against what the writers tracked and returns the rows per
/// (round, batch).
fn stored_rows(dir: &Path, seed: u64) -> HashMap<(u64, u64), u64> {
    let store = Store::open_with(dir, options()).unwrap();
    let mut rows = HashMap::new();
    for prediction in store.read_metrics("m", i64::MIN, i64::MAX).unwrap() {
        let prediction = prediction.unwrap();
        let (high, row) = prediction.uuid.as_u64_pair();
        let (round, number) = (high >> 32, high & 0xffff_ffff);
        let context = format!("seed {seed}: row {row} of batch {number} of round {round}");
        assert_eq!(prediction.timestamp_ms, timestamp(number, row), "{context}");
        let found = prediction.metrics.get("score");
        assert_eq!(
            found,
            Some(&Value::F64(score(round, number, row))),
            "{context}"
        );
        *rows.entry((round, number)).or_default() += 1;
    }
    store.close().unwrap();
    rows
}

/// Verifies every segment of `dir` and returns how many there are.
fn verify_segments(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = parse_segment_file_name(&name) {
            let segment = Segment::open(dir, id).unwrap();
            segment
                .verify()
                .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
            count += 1;
        }
    }
    count
}

/// Waits for the writer's `flushed` line and returns the flush's duration in microseconds.
fn flush_duration(writer: &child::ChildProcess) -> u64 {
    let line = writer.lines.recv_timeout(Duration::from_secs(60)).unwrap();
    let micros = line.strip_prefix("flushed ").unwrap().parse().unwrap();
    println!("a flush of {BATCHES} batches took {micros} µs");
    micros
}

#[test]
fn kill_during_columnar_flush_keeps_batches() {
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut flush_micros = None;
    for round in 0..ROUNDS {
        let vars = [
            (CHILD_DIR_VAR, dir.path().display().to_string()),
            (CHILD_ROUND_VAR, round.to_string()),
        ];
        let mut writer = child::spawn(CHILD_TEST, &vars, PREFIX);
        writer.expect_line("flushing", Duration::from_secs(60));
        match flush_micros {
            None => flush_micros = Some(flush_duration(&writer)),
            Some(micros) => thread::sleep(Duration::from_micros(rng.random_range(0..=micros))),
        }
        writer.child.kill().unwrap();
        writer.child.wait().unwrap();
        // Round 0 has read the `flushed` line already.
        let mut lines = writer.lines.try_iter();
        let flushed = round == 0 || lines.any(|line| line.starts_with("flushed"));
        let when = if flushed { "after" } else { "before" };
        println!("round {round}: killed {when} the flush ended");

        let rows = stored_rows(dir.path(), seed);
        for earlier in 0..=round {
            for number in 0..BATCHES {
                let found = rows.get(&(earlier, number)).copied().unwrap_or(0);
                let context = format!("seed {seed}: batch {number} of round {earlier}");
                assert_eq!(found, ROWS, "rows of acknowledged {context}");
            }
        }
        assert_eq!(
            rows.len() as u64,
            (round + 1) * BATCHES,
            "seed {seed}: batches"
        );
        let segments = verify_segments(dir.path());
        println!("round {round}: {segments} segments verified");
    }
}
