//! Records as the write-ahead log, the head and the segments hold them, and as reads return them.

use uuid::Uuid;

use crate::batch::{ColumnBatch, DelayedColumnBatch};
use crate::value::Metrics;

/// Position of a record in the store's write order. Later records have larger numbers, so
/// "the latest value" of a metric is the one with the largest sequence number.
pub type Seq = u64;

/// The seq of a resolved delayed record read back from a segment, which does not store it. No
/// tracked record has it: sequence numbers start at 1. Stored records are older than every
/// record in the heads, so sorting by seq keeps them first, in the order they were read.
pub const STORED_SEQ: Seq = 0;

/// One tracked prediction with its inline metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredictionRecord {
    pub seq: Seq,
    pub model: String,
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
}

/// Metrics that arrived later for one prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayedRecord {
    pub seq: Seq,
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
}

/// Metrics of one model over a window `[start_ms, end_ms)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateRecord {
    pub seq: Seq,
    pub model: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub metrics: Metrics,
}

/// The prediction a delayed record belongs to, found when the head is flushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredictionKey {
    pub model: String,
    pub timestamp_ms: i64,
    /// The prediction's sequence number, unique in the store, which names the prediction in
    /// place of its UUID.
    pub seq: Seq,
}

/// A delayed record as a segment stores it: with its prediction's key, or without one when the
/// prediction was unknown at flush time (an orphan).
///
/// A segment stores the prediction's seq in place of the UUID of a resolved record, so a
/// resolved record read back from a segment has `record.uuid == Uuid::nil()`. Match it to its
/// prediction by `prediction.seq`. An orphan (`prediction` is `None`) keeps its UUID.
///
/// A segment does not store the seq of a resolved record either: read back, it has
/// `record.seq == STORED_SEQ`. Its position orders it instead: the resolved records of one
/// prediction lie in seq order in their segment, and a later segment contains later records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedDelayed {
    pub record: DelayedRecord,
    pub prediction: Option<PredictionKey>,
}

/// One entry of the write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    Prediction(PredictionRecord),
    Delayed(DelayedRecord),
    Aggregate(AggregateRecord),
    /// Predictions of one model tracked as columns, with consecutive sequence numbers.
    PredictionColumns(ColumnBatch),
    /// Delayed metrics tracked as columns, with consecutive sequence numbers.
    DelayedColumns(DelayedColumnBatch),
}

impl LogRecord {
    /// Returns the record's sequence number, or for a columnar batch that of its last row,
    /// the largest.
    pub fn seq(&self) -> Seq {
        match self {
            LogRecord::Prediction(r) => r.seq,
            LogRecord::Delayed(r) => r.seq,
            LogRecord::Aggregate(r) => r.seq,
            LogRecord::PredictionColumns(b) => b.last_seq(),
            LogRecord::DelayedColumns(b) => b.last_seq(),
        }
    }

    /// Returns how many sequence numbers the record takes: its number of rows for a columnar
    /// batch, 1 for any other record.
    pub fn seq_count(&self) -> u64 {
        match self {
            LogRecord::PredictionColumns(b) => b.len() as u64,
            LogRecord::DelayedColumns(b) => b.len() as u64,
            _ => 1,
        }
    }
}

/// A prediction as `read_metrics` and `lookup` return it: its inline metrics and, joined in,
/// the latest value of each delayed metric tracked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    pub model: String,
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
    pub delayed: Metrics,
}

/// Aggregate metrics of one model and window as `read_aggregate_metrics` returns them, with the
/// latest value of each metric tracked for that exact window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub model: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub metrics: Metrics,
}

/// Input of `Store::track_metrics_batch`: one prediction with its inline metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPrediction {
    pub model: String,
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
}

/// Input of `Store::track_delayed_metrics_batch`: metrics for one earlier prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelayed {
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
}

/// Input of `Store::track_aggregate_metrics_batch`: metrics of one model and window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAggregate {
    pub model: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub metrics: Metrics,
}

/// Delayed metrics whose prediction UUID the store does not hold, as
/// `Store::orphaned_delayed_metrics` returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrphanedDelayed {
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub metrics: Metrics,
    /// True when a prediction of this UUID was rolled up by compaction: the metrics arrived too
    /// late to join it. Rollup files keep bloom filters of the UUIDs they replaced, so this is
    /// also true for about 1 in 100 UUIDs that the store never held.
    pub prediction_rolled_up: bool,
}
