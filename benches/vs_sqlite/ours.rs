//! The workload on a modelmetrics store with default options, or `Durability::Sync` in durable
//! mode.

use std::iter::zip;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use modelmetrics::{
    Durability, MetricColumn, Metrics, NewDelayed, NewDelayedColumns, NewPrediction,
    NewPredictionColumns, Options, PredictionRef, Store, Value, ValueRef,
};

use crate::car_loan::{self, CarLoan};
use crate::measure::{BenchResult, Scored, dir_bytes};
use crate::peer::{Mode, Peer};
use crate::workload::{BATCH_LEN, Label, MODEL, Row, RowGenerator, Window};

pub struct Ours {
    dir: PathBuf,
    store: Option<Store>,
}

impl Ours {
    pub fn open(dir: &Path, mode: Mode) -> BenchResult<Ours> {
        Ok(Ours {
            dir: dir.to_owned(),
            store: Some(Store::open_with(dir, options(mode))?),
        })
    }

    fn store(&self) -> BenchResult<&Store> {
        self.store
            .as_ref()
            .ok_or_else(|| format!("the store in {} is closed", self.dir.display()).into())
    }
}

fn options(mode: Mode) -> Options {
    match mode {
        Mode::Default => Options::default(),
        Mode::Durable => Options::default().durability(Durability::Sync),
    }
}

fn metrics(row: &Row) -> Metrics {
    Metrics::new()
        .with("score", row.score)
        .with("amount", row.amount)
        .with("ratio", row.ratio)
        .with("tenure", row.tenure)
}

/// Returns one batch of rows as columns, with the metrics of `metrics`.
fn new_columns(model: &str, rows: &[Row]) -> NewPredictionColumns {
    let column = |value: fn(&Row) -> f64| MetricColumn::F64(rows.iter().map(value).collect());
    NewPredictionColumns {
        model: model.to_owned(),
        uuids: rows.iter().map(|r| r.uuid).collect(),
        timestamps_ms: rows.iter().map(|r| r.timestamp_ms).collect(),
        metrics: vec![
            ("score".to_owned(), column(|r| r.score)),
            ("amount".to_owned(), column(|r| r.amount)),
            ("ratio".to_owned(), column(|r| r.ratio)),
            ("tenure".to_owned(), column(|r| r.tenure)),
        ],
    }
}

/// Returns one batch of labels as columns.
fn label_columns(labels: &[Label]) -> NewDelayedColumns {
    NewDelayedColumns {
        uuids: labels.iter().map(|l| l.uuid).collect(),
        timestamps_ms: labels.iter().map(|l| l.timestamp_ms).collect(),
        metrics: vec![(
            "label".to_owned(),
            MetricColumn::Bool(labels.iter().map(|l| l.label).collect()),
        )],
    }
}

/// Converts one prediction read back into its score and label.
fn scored(prediction: &modelmetrics::Prediction) -> BenchResult<Scored> {
    let score = prediction
        .metrics
        .get("score")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("prediction {} has no f64 score", prediction.uuid))?;
    let label = match prediction.delayed.get("label") {
        None => None,
        Some(Value::Bool(label)) => Some(*label),
        Some(other) => return Err(format!("label {other} is not a bool").into()),
    };
    Ok(Scored { score, label })
}

/// Converts one visited prediction into its score and label, as `scored` does.
#[inline]
fn scored_ref(row: &PredictionRef<'_>) -> BenchResult<Scored> {
    let score = row.metric("score").and_then(ValueRef::as_f64);
    match (score, row.delayed_metric("label")) {
        (Some(score), None) => Ok(Scored { score, label: None }),
        (Some(score), Some(ValueRef::Bool(label))) => Ok(Scored {
            score,
            label: Some(label),
        }),
        _ => Err(unscored(row)),
    }
}

/// Says why `scored_ref` failed for `row`; kept out of line so the common path stays short.
#[cold]
#[inline(never)]
fn unscored(row: &PredictionRef<'_>) -> Box<dyn std::error::Error + Send + Sync> {
    match row.delayed_metric("label") {
        Some(label) if label.as_bool().is_none() => {
            format!("label {} is not a bool", label.to_value()).into()
        }
        _ => format!("prediction {} has no f64 score", row.uuid()).into(),
    }
}

impl Peer for Ours {
    fn ingest(&mut self, rows: &[Row]) -> BenchResult<Duration> {
        let store = self.store()?;
        // The batches are built before the clock starts, as a batch-scoring job would hold
        // them: one array per field. `benches/ingest.rs` compares this with the row call.
        let batches: Vec<NewPredictionColumns> = rows
            .chunks(BATCH_LEN)
            .map(|chunk| new_columns(MODEL, chunk))
            .collect();
        let started = Instant::now();
        for batch in batches {
            store.track_metrics_columns(batch)?;
        }
        Ok(started.elapsed())
    }

    fn track_labels(&mut self, labels: &[Label]) -> BenchResult<Duration> {
        let store = self.store()?;
        // As with predictions, the batches are built before the clock starts, one array per
        // field, as a job that joins labels to predictions would have them.
        let batches: Vec<NewDelayedColumns> = labels.chunks(BATCH_LEN).map(label_columns).collect();
        let started = Instant::now();
        for batch in batches {
            store.track_delayed_metrics_columns(batch)?;
        }
        Ok(started.elapsed())
    }

    fn flush(&mut self) -> BenchResult<()> {
        Ok(self.store()?.flush()?)
    }

    fn read_window(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let mut rows = Vec::new();
        for prediction in self.store()?.read_metrics(MODEL, start_ms, end_ms)? {
            rows.push(scored(&prediction?)?);
        }
        Ok(rows)
    }

    fn read_visited(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let mut rows = Vec::new();
        let mut failure = None;
        let mut metric_count = 0;
        self.store()?.scan_metrics(MODEL, start_ms, end_ms, |row| {
            std::hint::black_box(row.uuid());
            metric_count += row.metrics().count() + row.delayed().count();
            match scored_ref(&row) {
                Ok(scored) => {
                    rows.push(scored);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        std::hint::black_box(metric_count);
        match failure {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn read_selected(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let mut rows = Vec::new();
        let mut failure = None;
        let window = (start_ms, end_ms);
        let store = self.store()?;
        store.scan_selected(MODEL, window, &["score"], &["label"], |row| {
            std::hint::black_box(row.uuid());
            match scored_ref(&row) {
                Ok(scored) => {
                    rows.push(scored);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn read_scores(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let columns =
            self.store()?
                .read_columns(MODEL, (start_ms, end_ms), &["score"], &["label"])?;
        std::hint::black_box((&columns.uuids, &columns.timestamps));
        let scores = columns.metrics.first().ok_or("no score column")?;
        if !scores.all_present() {
            return Err("a prediction has no score".into());
        }
        let scores = scores.as_f64().ok_or("the scores are not all f64")?;
        let labels = columns.delayed.first().ok_or("no label column")?;
        let out: Vec<Scored> = match (labels.as_bool(), labels.presence()) {
            (Some(flags), None) => zip(scores, flags)
                .map(|(&score, &label)| Scored {
                    score,
                    label: Some(label),
                })
                .collect(),
            (Some(flags), Some(present)) => zip(zip(scores, flags), present)
                .map(|((&score, &label), &present)| Scored {
                    score,
                    label: present.then_some(label),
                })
                .collect(),
            // A window without labels has a label column without values.
            (None, _) if labels.present_count() == 0 => {
                let unlabelled = |&score| Scored { score, label: None };
                scores.iter().map(unlabelled).collect()
            }
            (None, _) => return Err("the labels are not all bool".into()),
        };
        Ok(out)
    }

    fn track_aggregates(&mut self, windows: &[Window]) -> BenchResult<()> {
        let store = self.store()?;
        for w in windows {
            let metrics = Metrics::new()
                .with("roc_auc", w.roc_auc)
                .with("predictions", w.predictions);
            store.track_aggregate_metrics(MODEL, w.start_ms, w.end_ms, &metrics)?;
        }
        Ok(store.flush()?)
    }

    fn read_aggregates(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<usize> {
        let windows = self
            .store()?
            .read_aggregate_metrics(MODEL, start_ms, end_ms)?;
        Ok(windows.iter().map(|w| w.metrics.len()).sum())
    }

    fn single_calls(&mut self, rows: &[Row]) -> BenchResult<Vec<Duration>> {
        let store = self.store()?;
        // A model server builds each prediction's metrics anyway and hands them over, so the
        // timed call takes them by value.
        let inputs: Vec<Metrics> = rows.iter().map(metrics).collect();
        let mut latencies = Vec::with_capacity(rows.len());
        for (row, metrics) in rows.iter().zip(inputs) {
            let started = Instant::now();
            store.track_metrics_owned(MODEL, row.uuid, row.timestamp_ms, metrics)?;
            latencies.push(started.elapsed());
        }
        Ok(latencies)
    }

    fn calls_from_threads(
        &mut self,
        threads: usize,
        duration: Duration,
        seed: u64,
        start_ms: i64,
    ) -> BenchResult<u64> {
        let store = self.store()?;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || track_until(store, duration, seed + t as u64, start_ms))
                })
                .collect();
            let mut calls = 0;
            for worker in workers {
                calls += worker.join().map_err(|_| "a writer thread panicked")??;
            }
            Ok(calls)
        })
    }

    fn reopen(&mut self, mode: Mode) -> BenchResult<u64> {
        let bytes = self.close()?;
        self.store = Some(Store::open_with(&self.dir, options(mode))?);
        Ok(bytes)
    }

    fn close(&mut self) -> BenchResult<u64> {
        if let Some(store) = self.store.take() {
            store.close()?;
        }
        dir_bytes(&self.dir)
    }
}

/// Tracks single predictions for `duration` and returns how many it tracked.
fn track_until(store: &Store, duration: Duration, seed: u64, start_ms: i64) -> BenchResult<u64> {
    let mut generator = RowGenerator::new(seed);
    let deadline = Instant::now() + duration;
    let mut calls = 0;
    while Instant::now() < deadline {
        let row = generator.row(start_ms + calls as i64);
        store.track_metrics(MODEL, row.uuid, row.timestamp_ms, &metrics(&row))?;
        calls += 1;
    }
    Ok(calls)
}

/// Tracks the car-loan data into a new store in `dir` and returns its bytes after close.
pub fn track_car_loan(dir: &Path, data: &CarLoan) -> BenchResult<u64> {
    let mut ours = Ours::open(dir, Mode::Default)?;
    let store = ours.store()?;
    for chunk in data.loans.chunks(BATCH_LEN) {
        let batch: Vec<NewPrediction> = chunk
            .iter()
            .map(|loan| NewPrediction {
                model: car_loan::MODEL.to_owned(),
                uuid: loan.uuid,
                timestamp_ms: loan.timestamp_ms,
                metrics: loan.metrics(),
            })
            .collect();
        store.track_metrics_batch(&batch)?;
    }
    let labels: Vec<NewDelayed> = data
        .label_order
        .iter()
        .filter_map(|&i| data.loans.get(i))
        .filter_map(|loan| {
            Some(NewDelayed {
                uuid: loan.uuid,
                timestamp_ms: loan.timestamp_ms,
                metrics: Metrics::new().with("repaid", loan.repaid?),
            })
        })
        .collect();
    for batch in labels.chunks(BATCH_LEN) {
        store.track_delayed_metrics_batch(batch)?;
    }
    ours.close()
}
