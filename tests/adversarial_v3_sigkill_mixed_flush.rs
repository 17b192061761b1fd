//! A writer that mixes columnar batches of one model with row batches of another, whose metric
//! sets differ, and labels of the batch before, in a small head that flushes often, is killed
//! with SIGKILL several times on one directory. After each kill every acknowledged batch must
//! be stored whole with its labels, every stored value must be the one tracked, every segment
//! must verify, and windowed reads must agree with the whole read.
//!
//! The test runs this test binary again as the writer: `writer_child_mixes_calls` does nothing
//! unless `CHILD_DIR_VAR` is set. The writer prints `ack <batch>` after each batch and its
//! labels are tracked.

#[path = "support/adversarial.rs"]
mod adversarial;
#[path = "support/child.rs"]
mod child;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::thread;
use std::time::Duration;

use modelmetrics::segment::{Segment, parse_segment_file_name};
use modelmetrics::{
    MetricColumn, Metrics, NewDelayed, NewPrediction, NewPredictionColumns, Options, Prediction,
    Store, Uuid, Value,
};
use rand::RngExt;

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_MIXED_FLUSH_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_MIXED_FLUSH_ROUND";
const SEED_VAR: &str = "MODELMETRICS_TEST_MIXED_FLUSH_SEED";
const CHILD_TEST: &str = "writer_child_mixes_calls";
const PREFIX: &str = "writer: ";

const ROUNDS: u64 = 5;
/// Batches a writer tracks per round if it is not killed first.
const BATCHES: u64 = 100_000;
/// Rows of each batch: one group of 256 rows and a part of the next.
const ROWS: u64 = 300;
const KILL_DELAY_MS: std::ops::RangeInclusive<u64> = 50..=400;

fn options() -> Options {
    Options::default()
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES * 8)
}

fn uuid(round: u64, batch: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(round << 32 | batch, row)
}

/// Runs of seven equal timestamps, and batches that overlap in time.
fn timestamp(round: u64, batch: u64, row: u64) -> i64 {
    ((round << 24) + batch * 20 + row / 7) as i64
}

/// Even batches are columnar batches of model `a`, odd ones row batches of model `b`.
fn model_of(batch: u64) -> &'static str {
    if batch.is_multiple_of(2) { "a" } else { "b" }
}

/// Returns the metrics tracked for row `row` of batch `batch`.
fn metrics_of(batch: u64, row: u64) -> Metrics {
    let key = batch * ROWS + row;
    match model_of(batch) {
        "a" => Metrics::new()
            .with("x", key as f64 / 3.0)
            .with("n", (key as i64).wrapping_mul(0x9e37_79b9))
            .with("s", format!("{:0>40}", key % 97)),
        _ => Metrics::new()
            .with("x", key as i64 - 1_000_000)
            .with("flag", key.is_multiple_of(3)),
    }
}

/// Returns the label tracked for row `row` of batch `batch`, if any. Rows that are multiples
/// of 4 get one when `batch + 1` is a multiple of 3, tracked right after batch `batch + 1`.
fn label_of(batch: u64, row: u64) -> Option<Value> {
    let labelled = (batch + 1).is_multiple_of(3) && row.is_multiple_of(4);
    labelled.then_some(Value::I64((batch * 7 + row) as i64))
}

fn columnar_batch(round: u64, number: u64) -> NewPredictionColumns {
    let rows = 0..ROWS;
    let values = |name: &'static str| {
        let value = move |row| metrics_of(number, row).get(name).cloned();
        rows.clone().map(value)
    };
    let x = values("x").map(|v| v.unwrap().as_f64().unwrap()).collect();
    let n = values("n").map(|v| v.unwrap().as_i64().unwrap()).collect();
    let s = values("s").map(|v| match v {
        Some(Value::Str(text)) => text,
        other => panic!("s is {other:?}"),
    });
    NewPredictionColumns {
        model: "a".into(),
        uuids: rows.clone().map(|row| uuid(round, number, row)).collect(),
        timestamps_ms: rows
            .clone()
            .map(|row| timestamp(round, number, row))
            .collect(),
        metrics: vec![
            ("s".into(), MetricColumn::Str(s.collect())),
            ("x".into(), MetricColumn::F64(x)),
            ("n".into(), MetricColumn::I64(n)),
        ],
    }
}

fn track_batch(store: &Store, round: u64, number: u64) {
    if model_of(number) == "a" {
        store
            .track_metrics_columns(columnar_batch(round, number))
            .unwrap();
    } else {
        let batch: Vec<NewPrediction> = (0..ROWS)
            .map(|row| NewPrediction {
                model: "b".into(),
                uuid: uuid(round, number, row),
                timestamp_ms: timestamp(round, number, row),
                metrics: metrics_of(number, row),
            })
            .collect();
        store.track_metrics_batch(&batch).unwrap();
    }
    let Some(previous) = number.checked_sub(1) else {
        return;
    };
    let labels: Vec<NewDelayed> = (0..ROWS)
        .filter_map(|row| {
            let value = label_of(previous, row)?;
            Some(NewDelayed {
                uuid: uuid(round, previous, row),
                timestamp_ms: timestamp(round, number, ROWS),
                metrics: Metrics::new().with("label", value),
            })
        })
        .collect();
    if !labels.is_empty() {
        store.track_delayed_metrics_batch(&labels).unwrap();
    }
}

/// Tracks batches of its round until the parent kills it. This is the writer side of the test.
#[test]
fn writer_child_mixes_calls() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Store::open_with(&dir, options()).unwrap();
    println!("{PREFIX}open");
    for number in 0..BATCHES {
        track_batch(&store, round, number);
        println!("{PREFIX}ack {number}");
    }
}

/// Checks each stored prediction against what the writer tracked, and returns the rows and
/// labels stored per (round, batch).
fn check_rows(rows: &[Prediction], seed: u64) -> HashMap<(u64, u64), (u64, u64)> {
    let mut counts: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
    for prediction in rows {
        let (high, row) = prediction.uuid.as_u64_pair();
        let (round, number) = (high >> 32, high & 0xffff_ffff);
        let context = format!("seed {seed}: row {row} of batch {number} of round {round}");
        assert_eq!(prediction.model, model_of(number), "{context}");
        assert_eq!(
            prediction.timestamp_ms,
            timestamp(round, number, row),
            "{context}"
        );
        let expected = by_name(&metrics_of(number, row));
        assert_eq!(
            by_name(&prediction.metrics),
            expected,
            "metrics of {context}"
        );
        let label = prediction.delayed.get("label");
        if let Some(found) = label {
            assert_eq!(
                Some(found),
                label_of(number, row).as_ref(),
                "label of {context}"
            );
        }
        let entry = counts.entry((round, number)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(label.is_some());
    }
    counts
}

/// Returns the metrics keyed by name, because reads may list them in another order.
fn by_name(metrics: &Metrics) -> BTreeMap<String, Value> {
    metrics
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect()
}

fn read(store: &Store, model: &str, start: i64, end: i64) -> Vec<Prediction> {
    let rows = store.read_metrics(model, start, end).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
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

/// Returns what each round acknowledged: the count of batches.
fn acked_batches(writer: &child::ChildProcess) -> u64 {
    let acks = writer.lines.iter().filter_map(|line| {
        let number = line.strip_prefix("ack ")?;
        Some(number.parse::<u64>().unwrap() + 1)
    });
    acks.max().unwrap_or(0)
}

#[test]
fn killed_mixed_writer_keeps_acked_batches() {
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
        assert!(
            !writer.child.wait().unwrap().success(),
            "round {round}: the writer finished"
        );
        let acked = acked_batches(&writer);
        println!("round {round}: {acked} batches acknowledged");
        acked_by_round.push(acked);

        let store = Store::open_with(dir.path(), options()).unwrap();
        let mut all = read(&store, "a", i64::MIN, i64::MAX);
        all.extend(read(&store, "b", i64::MIN, i64::MAX));
        let counts = check_rows(&all, seed);
        for (&(stored_round, number), &(rows, labels)) in &counts {
            let context = format!("seed {seed}: batch {number} of round {stored_round}");
            assert_eq!(rows, ROWS, "rows of {context}");
            let acked = acked_by_round[stored_round as usize];
            let expected = (0..ROWS)
                .filter(|row| label_of(number, *row).is_some())
                .count();
            if number + 1 < acked {
                assert_eq!(labels, expected as u64, "labels of acked {context}");
            }
        }
        for (earlier, &acked) in acked_by_round.iter().enumerate() {
            for number in 0..acked {
                let found = counts.contains_key(&(earlier as u64, number));
                assert!(
                    found,
                    "seed {seed}: acked batch {number} of round {earlier} lost"
                );
            }
        }
        // A window that cuts batches in the middle of their groups reads what the whole read
        // has in it.
        for model in ["a", "b"] {
            let (start, end) = (timestamp(round, 3, 200), timestamp(round, 41, 100));
            let window: Vec<Uuid> = read(&store, model, start, end)
                .iter()
                .map(|p| p.uuid)
                .collect();
            let mut whole: Vec<&Prediction> = all
                .iter()
                .filter(|p| p.model == model && (start..end).contains(&p.timestamp_ms))
                .collect();
            whole.sort_by_key(|p| p.timestamp_ms);
            let whole: Vec<Uuid> = whole.iter().map(|p| p.uuid).collect();
            assert_eq!(
                window, whole,
                "seed {seed}: window of model {model} in round {round}"
            );
        }
        store.close().unwrap();
        let segments = verify_segments(dir.path());
        println!("round {round}: {segments} segments verified");
    }
}
