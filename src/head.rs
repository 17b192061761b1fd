//! The in-memory head: records tracked since the last flush, replayed from the log on open.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

use crate::record::{AggregateRecord, DelayedRecord, LogRecord, PredictionRecord, Seq};

/// Estimated heap bytes of a record beyond its names and payloads.
const RECORD_OVERHEAD: usize = 96;
/// Estimated heap bytes of one metric beyond its name and payload.
const METRIC_OVERHEAD: usize = 48;

/// A head. The active head is written under the store's writer lock; a frozen head (being
/// flushed) is only read. Readers keep an `Arc<Head>` and see records up to their snapshot's
/// sequence number, so a head that is frozen and flushed under them stays readable.
#[derive(Debug, Default)]
pub(crate) struct Head {
    data: RwLock<HeadData>,
}

#[derive(Debug, Default)]
pub(crate) struct HeadData {
    pub predictions: Vec<PredictionRecord>,
    by_uuid: HashMap<Uuid, usize>,
    by_model: HashMap<String, Vec<usize>>,
    pub delayed: HashMap<Uuid, Vec<DelayedRecord>>,
    pub aggregates: Vec<AggregateRecord>,
    bytes: usize,
    records: usize,
    oldest: Option<Instant>,
    max_seq: Seq,
}

impl Head {
    pub fn read(&self) -> RwLockReadGuard<'_, HeadData> {
        self.data.read()
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, HeadData> {
        self.data.write()
    }
}

impl HeadData {
    pub fn insert(&mut self, record: LogRecord) {
        self.bytes += record_bytes(&record);
        self.records += 1;
        self.max_seq = self.max_seq.max(record.seq());
        self.oldest.get_or_insert_with(Instant::now);
        match record {
            LogRecord::Prediction(p) => {
                let row = self.predictions.len();
                self.by_uuid.insert(p.uuid, row);
                match self.by_model.get_mut(p.model.as_str()) {
                    Some(rows) => rows.push(row),
                    None => {
                        self.by_model.insert(p.model.clone(), vec![row]);
                    }
                }
                self.predictions.push(p);
            }
            LogRecord::Delayed(d) => self.delayed.entry(d.uuid).or_default().push(d),
            LogRecord::Aggregate(a) => self.aggregates.push(a),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Estimated heap bytes of the records, compared with `Options::head_size_bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// When the oldest record of this head was inserted.
    pub fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    pub fn max_seq(&self) -> Seq {
        self.max_seq
    }

    pub fn prediction(&self, uuid: &Uuid) -> Option<&PredictionRecord> {
        self.by_uuid
            .get(uuid)
            .and_then(|&row| self.predictions.get(row))
    }

    pub fn contains_prediction(&self, uuid: &Uuid) -> bool {
        self.by_uuid.contains_key(uuid)
    }

    /// Returns copies of the model's predictions with `start <= ts < end` and `seq <= limit`,
    /// sorted by (timestamp, seq).
    pub fn predictions_in(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Seq,
    ) -> Vec<PredictionRecord> {
        let Some(rows) = self.by_model.get(model) else {
            return Vec::new();
        };
        let mut found: Vec<PredictionRecord> = rows
            .iter()
            .filter_map(|&row| self.predictions.get(row))
            .filter(|p| p.timestamp_ms >= start_ms && p.timestamp_ms < end_ms && p.seq <= limit)
            .cloned()
            .collect();
        found.sort_by_key(|p| (p.timestamp_ms, p.seq));
        found
    }

    /// Appends copies of the delayed records of `uuid` with `seq <= limit` to `out`.
    pub fn delayed_of(&self, uuid: &Uuid, limit: Seq, out: &mut Vec<DelayedRecord>) {
        if let Some(records) = self.delayed.get(uuid) {
            out.extend(records.iter().filter(|d| d.seq <= limit).cloned());
        }
    }

    /// Returns copies of the model's aggregates whose window overlaps `[start, end)`.
    pub fn aggregates_in(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Seq,
    ) -> Vec<AggregateRecord> {
        self.aggregates
            .iter()
            .filter(|a| a.model == model && a.start_ms < end_ms && a.end_ms > start_ms)
            .filter(|a| a.seq <= limit)
            .cloned()
            .collect()
    }
}

fn record_bytes(record: &LogRecord) -> usize {
    let (fixed, metrics) = match record {
        LogRecord::Prediction(p) => (p.model.len() + RECORD_OVERHEAD, &p.metrics),
        LogRecord::Delayed(d) => (RECORD_OVERHEAD, &d.metrics),
        LogRecord::Aggregate(a) => (a.model.len() + RECORD_OVERHEAD, &a.metrics),
    };
    let metric_bytes: usize = metrics
        .iter()
        .map(|m| m.name.len() + m.value.payload_len() + METRIC_OVERHEAD)
        .sum();
    fixed + metric_bytes
}
