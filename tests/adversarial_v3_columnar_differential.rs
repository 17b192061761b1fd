//! The same random operations applied to two stores: one tracks predictions as columnar
//! batches, the other tracks the same rows by `track_metrics_batch`. Timestamps form long runs
//! of equal values that cross the 256-row groups, some batches repeat a tracked UUID, one
//! metric name changes type between calls, and labels and deletions hit rows of both kinds.
//! Every read of the two stores must agree, and after each flush their new segment files must
//! be byte-identical, as the columnar flush promises.

#[path = "support/adversarial.rs"]
mod adversarial;

use std::collections::BTreeMap;
use std::path::Path;

use modelmetrics::{
    Compaction, MetricColumn, Metrics, NewDelayed, NewPrediction, NewPredictionColumns, Options,
    Store, Uuid, Value,
};
use rand::{Rng, RngExt};

const SEED_VAR: &str = "MODELMETRICS_TEST_COLUMNAR_DIFFERENTIAL_SEED";
const MODELS: [&str; 2] = ["a", "b"];
const STEPS: usize = 60;
/// Labels name UUIDs up to this many past the last one tracked, so some arrive before their
/// prediction.
const LABEL_AHEAD: u64 = 300;
/// Timestamps are drawn from this many values, so runs of equal timestamps span groups.
const TIMESTAMPS: i64 = 6;

fn options() -> Options {
    // A head large enough that only the test's own flushes write segments, so that both
    // stores cut their segments at the same records.
    Options::default()
        .head_size_bytes(256 << 20)
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

fn uuid_of(n: u64) -> Uuid {
    Uuid::from_u64_pair(0x5eed, n)
}

/// Returns a columnar batch of `rows` new UUIDs from `next_id` on, whose metric `v` is an f64
/// or an i64. One batch in eight repeats a UUID tracked before, which rejects the batch.
fn random_batch(rng: &mut impl Rng, next_id: &mut u64, rows: usize) -> NewPredictionColumns {
    let mut ids: Vec<u64> = (*next_id..*next_id + rows as u64).collect();
    *next_id += rows as u64;
    if rng.random_ratio(1, 8) && ids[0] > 0 {
        let tracked = rng.random_range(0..ids[0]);
        let last = ids.len() - 1;
        ids[last] = tracked;
    }
    let v = match rng.random_bool(0.5) {
        true => MetricColumn::F64((0..rows).map(|_| rng.random_range(-1.0..1.0)).collect()),
        false => MetricColumn::I64((0..rows).map(|_| rng.random_range(-9..9)).collect()),
    };
    let mut metrics = vec![("v".to_owned(), v)];
    if rng.random_bool(0.5) {
        let w = (0..rows).map(|_| rng.random_range(0..1_000_000)).collect();
        metrics.push(("w".to_owned(), MetricColumn::I64(w)));
    }
    NewPredictionColumns {
        model: MODELS[rng.random_range(0..MODELS.len())].to_owned(),
        uuids: ids.into_iter().map(uuid_of).collect(),
        timestamps_ms: (0..rows).map(|_| rng.random_range(0..TIMESTAMPS)).collect(),
        metrics,
    }
}

/// Returns the rows of `batch` as `track_metrics_batch` takes them, with the metrics in name
/// order, which is the order that a columnar batch is stored in.
fn as_rows(batch: &NewPredictionColumns) -> Vec<NewPrediction> {
    let mut columns: Vec<&(String, MetricColumn)> = batch.metrics.iter().collect();
    columns.sort_by(|a, b| a.0.cmp(&b.0));
    let value = |column: &MetricColumn, row: usize| match column {
        MetricColumn::F64(values) => Value::F64(values[row]),
        MetricColumn::I64(values) => Value::I64(values[row]),
        MetricColumn::Bool(values) => Value::Bool(values[row]),
        MetricColumn::Str(values) => Value::Str(values[row].clone()),
        MetricColumn::Bytes(values) => Value::Bytes(values[row].clone()),
    };
    let rows = batch.uuids.iter().zip(&batch.timestamps_ms).enumerate();
    rows.map(|(row, (uuid, timestamp_ms))| {
        let mut metrics = Metrics::new();
        for (name, column) in &columns {
            metrics = metrics.with(name, value(column, row));
        }
        NewPrediction {
            model: batch.model.clone(),
            uuid: *uuid,
            timestamp_ms: *timestamp_ms,
            metrics,
        }
    })
    .collect()
}

fn random_labels(rng: &mut impl Rng, next_id: u64) -> Vec<NewDelayed> {
    let count = rng.random_range(1..400);
    (0..count)
        .map(|_| NewDelayed {
            uuid: uuid_of(rng.random_range(0..next_id + LABEL_AHEAD)),
            timestamp_ms: rng.random_range(0..TIMESTAMPS),
            metrics: Metrics::new().with("label", rng.random_range(0..2i64)),
        })
        .collect()
}

/// Everything both stores must agree on, as text.
fn contents(store: &Store, next_id: u64) -> String {
    let mut out = String::new();
    for model in MODELS {
        for (start, end) in [(i64::MIN, i64::MAX), (0, 1), (1, 3), (2, 3), (5, 6)] {
            let rows: Vec<_> = store
                .read_metrics(model, start, end)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.push_str(&format!("{model} [{start}, {end}): {rows:?}\n"));
            let columns = store
                .read_columns(model, (start, end), &["v", "w"], &["label"])
                .unwrap();
            out.push_str(&format!("{columns:?}\n"));
        }
    }
    for n in (0..next_id + LABEL_AHEAD).step_by(13) {
        out.push_str(&format!("{:?}\n", store.lookup(uuid_of(n)).unwrap()));
    }
    out.push_str(&format!(
        "{:?}\n",
        store.orphaned_delayed_metrics().unwrap()
    ));
    out
}

/// Returns the segment files of `dir` by name, with their bytes.
fn segments(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let files = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap());
    let segments = files.filter(|entry| entry.file_name().to_string_lossy().starts_with("seg-"));
    segments
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn assert_same(columnar: &Store, rows: &Store, next_id: u64, context: &str) {
    let (left, right) = (contents(columnar, next_id), contents(rows, next_id));
    if left != right {
        let line = left.lines().zip(right.lines()).find(|(l, r)| l != r);
        panic!("{context}: the stores differ, first at\n{line:#?}");
    }
}

#[test]
fn columnar_and_row_stores_agree() {
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let root = tempfile::tempdir().unwrap();
    let (columnar_dir, rows_dir) = (root.path().join("columnar"), root.path().join("rows"));
    let columnar = Store::open_with(&columnar_dir, options()).unwrap();
    let rows = Store::open_with(&rows_dir, options()).unwrap();
    let (mut next_id, mut accepted) = (0, 0);

    for step in 0..STEPS {
        let context = format!("seed {seed}, step {step}");
        match rng.random_range(0..10) {
            0..=4 => {
                let size = [1, 255, 256, 257, 700][rng.random_range(0..5)];
                let batch = random_batch(&mut rng, &mut next_id, size);
                let as_rows = as_rows(&batch);
                // A UUID that the store already contains rejects the whole call, in both stores.
                let left = columnar.track_metrics_columns(batch);
                let right = rows.track_metrics_batch(&as_rows);
                assert_eq!(format!("{left:?}"), format!("{right:?}"), "{context}");
                accepted += usize::from(left.is_ok());
            }
            5 | 6 => {
                let labels = random_labels(&mut rng, next_id);
                columnar.track_delayed_metrics_batch(&labels).unwrap();
                rows.track_delayed_metrics_batch(&labels).unwrap();
            }
            7 => {
                let id = uuid_of(rng.random_range(0..next_id + 1));
                columnar.delete_prediction(id).unwrap();
                rows.delete_prediction(id).unwrap();
            }
            _ => {
                columnar.flush().unwrap();
                rows.flush().unwrap();
                assert_eq!(
                    segments(&columnar_dir),
                    segments(&rows_dir),
                    "{context}: segment files differ"
                );
            }
        }
        if step % 6 == 5 {
            assert_same(&columnar, &rows, next_id, &context);
        }
    }
    assert!(
        accepted >= 10,
        "seed {seed}: only {accepted} batches were accepted"
    );

    columnar.flush().unwrap();
    rows.flush().unwrap();
    assert_same(&columnar, &rows, next_id, &format!("seed {seed}, flushed"));

    columnar.compact().unwrap();
    rows.compact().unwrap();
    assert_same(
        &columnar,
        &rows,
        next_id,
        &format!("seed {seed}, compacted"),
    );
    columnar.close().unwrap();
    rows.close().unwrap();
}
