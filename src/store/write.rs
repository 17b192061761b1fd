//! The `track_*` calls: validate, check, log, insert into the head.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use foldhash::fast::RandomState;
use uuid::Uuid;

use super::{Inner, Store, flush};
use crate::batch::{ColumnBatch, DelayedColumnBatch, NewDelayedColumns, NewPredictionColumns};
use crate::error::{Error, Result};
use crate::head::HeadData;
use crate::options::Durability;
use crate::record::{
    AggregateRecord, DelayedRecord, LogRecord, NewAggregate, NewDelayed, NewPrediction,
    PredictionRecord,
};
use crate::value::{MAX_BATCH_LEN, Metrics, validate_metrics, validate_model, validate_window};

impl Store {
    /// Tracks one prediction and its inline metrics.
    ///
    /// Fails with `Error::DuplicatePrediction`, writing nothing, when the store already has a
    /// prediction with this UUID.
    pub fn track_metrics(
        &self,
        model: &str,
        prediction_uuid: Uuid,
        timestamp_ms: i64,
        metrics: &Metrics,
    ) -> Result<()> {
        validate_model(model)?;
        validate_metrics(metrics)?;
        let record = PredictionRecord {
            seq: 0,
            model: model.to_owned(),
            uuid: prediction_uuid,
            timestamp_ms,
            metrics: metrics.clone(),
        };
        self.append(Records::One(LogRecord::Prediction(record)))
    }

    /// Tracks one prediction as `track_metrics` does, but takes its metrics by value. The store
    /// keeps the caller's names and values instead of copying them, which saves about a
    /// quarter of the instructions of a single call.
    pub fn track_metrics_owned(
        &self,
        model: &str,
        prediction_uuid: Uuid,
        timestamp_ms: i64,
        metrics: Metrics,
    ) -> Result<()> {
        validate_model(model)?;
        validate_metrics(&metrics)?;
        let record = PredictionRecord {
            seq: 0,
            model: model.to_owned(),
            uuid: prediction_uuid,
            timestamp_ms,
            metrics,
        };
        self.append(Records::One(LogRecord::Prediction(record)))
    }

    /// Tracks many predictions at once: all of them or, on any error, none.
    pub fn track_metrics_batch(&self, predictions: &[NewPrediction]) -> Result<()> {
        check_predictions(predictions)?;
        let records = predictions.iter().map(|p| {
            LogRecord::Prediction(PredictionRecord {
                seq: 0,
                model: p.model.clone(),
                uuid: p.uuid,
                timestamp_ms: p.timestamp_ms,
                metrics: p.metrics.clone(),
            })
        });
        self.append(Records::Many(records.collect()))
    }

    /// Tracks many predictions at once, as `track_metrics_batch` does, but takes the batch by
    /// value: the store keeps the caller's strings and values instead of copying them, which
    /// saves about a third of the call's work for a batch of small records.
    pub fn track_metrics_batch_owned(&self, predictions: Vec<NewPrediction>) -> Result<()> {
        check_predictions(&predictions)?;
        let records = predictions.into_iter().map(|p| {
            LogRecord::Prediction(PredictionRecord {
                seq: 0,
                model: p.model,
                uuid: p.uuid,
                timestamp_ms: p.timestamp_ms,
                metrics: p.metrics,
            })
        });
        self.append(Records::Many(records.collect()))
    }

    /// Tracks many predictions of one model given as columns: one array of UUIDs, one of
    /// timestamps and one per metric, all of the same length. The store logs and keeps the
    /// arrays as they are, so the call allocates nothing per row or per metric.
    ///
    /// The call behaves as `track_metrics_batch_owned` with one `NewPrediction` per row: the
    /// same limits, all rows or none, and `Error::DuplicatePrediction` for a UUID the store
    /// already holds. Columns of different lengths and a metric name given twice fail with
    /// `Error::InvalidInput`. Fixed-size columns (f64, i64, bool) are checked once, string and
    /// bytes columns value by value.
    pub fn track_metrics_columns(&self, batch: NewPredictionColumns) -> Result<()> {
        check_batch_len(batch.len())?;
        batch.validate()?;
        if batch.is_empty() {
            return self.append(Records::Many(Vec::new()));
        }
        let records = vec![LogRecord::PredictionColumns(ColumnBatch::new(batch))];
        self.append(Records::Many(records))
    }

    /// Tracks metrics that became known later for the prediction `prediction_uuid`, such as
    /// its ground truth.
    ///
    /// A metric tracked again for the same prediction replaces the earlier value on read. When
    /// the store does not hold the prediction, the metrics are kept as orphans (see
    /// `orphaned_delayed_metrics`) unless `Options::reject_unknown_predictions` is set, in
    /// which case the call fails with `Error::UnknownPrediction`.
    pub fn track_delayed_metrics(
        &self,
        prediction_uuid: Uuid,
        timestamp_ms: i64,
        metrics: &Metrics,
    ) -> Result<()> {
        validate_metrics(metrics)?;
        let record = DelayedRecord {
            seq: 0,
            uuid: prediction_uuid,
            timestamp_ms,
            metrics: metrics.clone(),
        };
        self.append(Records::One(LogRecord::Delayed(record)))
    }

    /// Tracks delayed metrics for many predictions at once: all of them or none.
    pub fn track_delayed_metrics_batch(&self, items: &[NewDelayed]) -> Result<()> {
        check_batch_len(items.len())?;
        for d in items {
            validate_metrics(&d.metrics)?;
        }
        let records = items.iter().map(|d| {
            LogRecord::Delayed(DelayedRecord {
                seq: 0,
                uuid: d.uuid,
                timestamp_ms: d.timestamp_ms,
                metrics: d.metrics.clone(),
            })
        });
        self.append(Records::Many(records.collect()))
    }

    /// Tracks delayed metrics for many predictions at once, as `track_delayed_metrics_batch`
    /// does, but takes the batch by value so that nothing is copied.
    pub fn track_delayed_metrics_batch_owned(&self, items: Vec<NewDelayed>) -> Result<()> {
        check_batch_len(items.len())?;
        // One pass validates and moves each item, so a large batch is read from memory once.
        let mut records = Vec::with_capacity(items.len());
        for d in items {
            validate_metrics(&d.metrics)?;
            records.push(LogRecord::Delayed(DelayedRecord {
                seq: 0,
                uuid: d.uuid,
                timestamp_ms: d.timestamp_ms,
                metrics: d.metrics,
            }));
        }
        self.append(Records::Many(records))
    }

    /// Tracks delayed metrics for many predictions given as columns: one array of prediction
    /// UUIDs, one of timestamps and one per metric, all of the same length. The store logs and
    /// keeps the arrays as they are, so the call allocates nothing per row or per metric. The
    /// exception is a prediction that gets a second label while the first is in the head: its
    /// labels' locations then move into a vector of their own.
    ///
    /// The call behaves as `track_delayed_metrics_batch_owned` with one `NewDelayed` per row, in
    /// order: the same limits, sequence numbers and orphans, all rows or none, and a UUID may
    /// appear in several rows. Columns of different lengths and a metric name given twice fail
    /// with `Error::InvalidInput`. Fixed-size columns (f64, i64, bool) are checked once, string
    /// and bytes columns value by value.
    pub fn track_delayed_metrics_columns(&self, batch: NewDelayedColumns) -> Result<()> {
        check_batch_len(batch.len())?;
        batch.validate()?;
        if batch.is_empty() {
            return self.append(Records::Many(Vec::new()));
        }
        let records = vec![LogRecord::DelayedColumns(DelayedColumnBatch::new(batch))];
        self.append(Records::Many(records))
    }

    /// Tracks metrics of `model` over the window `[start_ms, end_ms)`, such as last week's
    /// ROC AUC. Tracking a metric again for the same model and window replaces it on read.
    pub fn track_aggregate_metrics(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        metrics: &Metrics,
    ) -> Result<()> {
        let item = NewAggregate {
            model: model.to_owned(),
            start_ms,
            end_ms,
            metrics: metrics.clone(),
        };
        self.track_aggregate_metrics_batch(std::slice::from_ref(&item))
    }

    /// Tracks aggregate metrics of many windows at once: all of them or none.
    pub fn track_aggregate_metrics_batch(&self, items: &[NewAggregate]) -> Result<()> {
        check_batch_len(items.len())?;
        let mut records = Vec::with_capacity(items.len());
        for a in items {
            validate_model(&a.model)?;
            validate_window(a.start_ms, a.end_ms)?;
            validate_metrics(&a.metrics)?;
            records.push(LogRecord::Aggregate(AggregateRecord {
                seq: 0,
                model: a.model.clone(),
                start_ms: a.start_ms,
                end_ms: a.end_ms,
                metrics: a.metrics.clone(),
            }));
        }
        self.append(Records::Many(records))
    }

    /// Checks, numbers, logs and inserts one batch of validated records.
    fn append(&self, mut records: Records) -> Result<()> {
        self.check_open()?;
        if records.as_mut_slice().is_empty() {
            return Ok(());
        }
        self.apply_back_pressure()?;
        let inner = &self.inner;
        let (position, head_bytes) = {
            let _writer = inner.writer.lock();
            inner.check_poison()?;
            let state = inner.state.read();
            let batch = records.as_mut_slice();
            check_existence(inner, &state, batch)?;
            let first = inner.last_seq.load(Ordering::Relaxed) + 1;
            let mut next = first;
            for record in batch.iter_mut() {
                prepare(record, next);
                next += record.seq_count();
            }
            // A failed append kept nothing (a log file could not be created, or a write failed
            // and was zeroed), so the store stays usable: the next call tries again.
            let position = inner.wal.append(batch)?;
            let last = next - 1;
            let mut head = state.active.write();
            records.insert_into(&mut head);
            let head_bytes = head.bytes();
            drop(head);
            inner.last_seq.store(last, Ordering::Release);
            (position, head_bytes)
        };
        if inner.options.durability == Durability::Sync {
            inner
                .wal
                .wait_durable(position)
                .inspect_err(|e| inner.set_poison(e))?;
        }
        if head_bytes >= inner.head_limit()
            && let Some(worker) = self.worker.lock().as_ref()
        {
            worker.nudge();
        }
        Ok(())
    }

    /// Flushes in the calling thread, before anything is written, when the head has grown to
    /// twice its size because background flushes fall behind or fail. A failed flush fails the
    /// call, so memory stays bounded and the caller sees why.
    fn apply_back_pressure(&self) -> Result<()> {
        // The size is read without the head's lock, because callers that wait for the writer
        // lock would otherwise also queue on the head's lock, which the writer holds to insert.
        let head_bytes = self.inner.state.read().active.bytes();
        if head_bytes >= self.inner.head_limit().saturating_mul(2) {
            flush::flush(&self.inner)?;
        }
        Ok(())
    }
}

impl Inner {
    pub(crate) fn head_limit(&self) -> usize {
        self.options
            .head_size_bytes
            .max(crate::options::Options::MIN_HEAD_SIZE_BYTES)
    }
}

/// The records of one `track_*` call. A single record skips the vector's allocation.
enum Records {
    One(LogRecord),
    Many(Vec<LogRecord>),
}

impl Records {
    fn as_mut_slice(&mut self) -> &mut [LogRecord] {
        match self {
            Records::One(record) => std::slice::from_mut(record),
            Records::Many(records) => records,
        }
    }

    fn insert_into(self, head: &mut HeadData) {
        match self {
            Records::One(record) => head.insert(record),
            Records::Many(records) => head.insert_batch(records),
        }
    }
}

fn check_batch_len(len: usize) -> Result<()> {
    if len > MAX_BATCH_LEN {
        return Err(Error::invalid(
            "batch",
            format!("{len} records"),
            format!("a batch holds at most {MAX_BATCH_LEN} records: split it"),
        ));
    }
    Ok(())
}

/// Numbers a record and puts its metrics in name order, the order reads return them in. A
/// columnar batch gets `seq` for its first row.
fn prepare(record: &mut LogRecord, seq: u64) {
    let metrics = match record {
        LogRecord::PredictionColumns(b) => {
            b.first_seq = seq;
            b.sort_by_name();
            return;
        }
        LogRecord::DelayedColumns(b) => {
            b.first_seq = seq;
            b.sort_by_name();
            return;
        }
        LogRecord::Prediction(r) => {
            r.seq = seq;
            &mut r.metrics
        }
        LogRecord::Delayed(r) => {
            r.seq = seq;
            &mut r.metrics
        }
        LogRecord::Aggregate(r) => {
            r.seq = seq;
            &mut r.metrics
        }
    };
    metrics.sort_by_name();
}

/// Validates a batch of predictions: lengths, model ids, metrics, and no UUID twice.
fn check_predictions(predictions: &[NewPrediction]) -> Result<()> {
    check_batch_len(predictions.len())?;
    let mut uuids = HashSet::with_capacity_and_hasher(predictions.len(), RandomState::default());
    for p in predictions {
        validate_model(&p.model)?;
        validate_metrics(&p.metrics)?;
        if !uuids.insert(p.uuid) {
            return Err(Error::invalid(
                "batch",
                p.uuid.to_string(),
                "the prediction UUID appears twice in one batch",
            ));
        }
    }
    Ok(())
}

/// Rejects a prediction UUID the store already has and, when so configured, a delayed record
/// for a prediction it does not have.
fn check_existence(inner: &Inner, state: &super::State, records: &[LogRecord]) -> Result<()> {
    // Both heads are read-locked once per batch instead of once per record. No writer waits
    // on them meanwhile, because the active head is written only under the writer lock, which
    // the caller holds, and a frozen head is never written.
    let active = state.active.read();
    let frozen = state.frozen.as_ref().map(|(head, _)| head.read());
    let holds = |uuid: &Uuid| -> Result<bool> {
        if active.contains_prediction(uuid) {
            return Ok(true);
        }
        if frozen.as_ref().is_some_and(|f| f.contains_prediction(uuid)) {
            return Ok(true);
        }
        state.index.contains_prediction(uuid, &*state.segments)
    };
    let in_head = |uuid: &Uuid| {
        active.contains_prediction(uuid)
            || frozen.as_ref().is_some_and(|f| f.contains_prediction(uuid))
    };
    let duplicate = match records {
        // One prediction, the case of `track_metrics`, needs no vectors of UUIDs and results.
        [LogRecord::Prediction(p)] => {
            let found =
                in_head(&p.uuid) || state.index.contains_prediction(&p.uuid, &*state.segments)?;
            found.then_some(p.uuid)
        }
        _ => {
            // The index is asked for the whole batch at once, which overlaps the cache misses
            // of its bloom filters.
            let new_uuids: Vec<Uuid> = records.iter().flat_map(prediction_uuids).copied().collect();
            let in_index = state
                .index
                .contains_predictions(&new_uuids, &*state.segments)?;
            new_uuids
                .iter()
                .zip(&in_index)
                .find(|(uuid, indexed)| **indexed || in_head(uuid))
                .map(|(uuid, _)| *uuid)
        }
    };
    if let Some(uuid) = duplicate {
        return Err(Error::DuplicatePrediction { uuid });
    }
    for record in records {
        match record {
            LogRecord::Delayed(d)
                if inner.options.reject_unknown_predictions
                    && !tracks_prediction(records, &d.uuid)
                    && !holds(&d.uuid)? =>
            {
                return Err(Error::UnknownPrediction { uuid: d.uuid });
            }
            LogRecord::DelayedColumns(b) if inner.options.reject_unknown_predictions => {
                for uuid in &b.uuids {
                    if !tracks_prediction(records, uuid) && !holds(uuid)? {
                        return Err(Error::UnknownPrediction { uuid: *uuid });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Returns the prediction UUIDs that `record` tracks.
fn prediction_uuids(record: &LogRecord) -> &[Uuid] {
    match record {
        LogRecord::Prediction(p) => std::slice::from_ref(&p.uuid),
        LogRecord::PredictionColumns(b) => &b.uuids,
        _ => &[],
    }
}

/// Returns true when one of `records` tracks the prediction `uuid`.
fn tracks_prediction(records: &[LogRecord], uuid: &Uuid) -> bool {
    records.iter().any(|r| match r {
        LogRecord::Prediction(p) => p.uuid == *uuid,
        LogRecord::PredictionColumns(b) => b.uuids.contains(uuid),
        _ => false,
    })
}
