//! The in-memory head: records tracked since the last flush, replayed from the log on open.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Instant;

use foldhash::fast::RandomState;
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

/// The records of a head. Its maps hash with foldhash in place of the standard library's
/// SipHash, because each tracked record takes one to three map operations, and SipHash was the
/// largest part of an insert in the W2 profile of docs/benchmarks.md. Each map gets a random
/// seed, so no fixed list of UUIDs collides in every head. The foldhash 0.2 README states that
/// this does not hold against an attacker who can observe the hashes, through timing for
/// example.
#[derive(Debug, Default)]
pub(crate) struct HeadData {
    pub predictions: Vec<PredictionRecord>,
    by_uuid: HashMap<Uuid, usize, RandomState>,
    by_model: HashMap<String, Vec<usize>, RandomState>,
    pub delayed: HashMap<Uuid, DelayedRecords, RandomState>,
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
    /// Inserts a batch of records, reserving room for all of them first.
    pub fn insert_batch(&mut self, records: Vec<LogRecord>) {
        let (mut predictions, mut delayed) = (0, 0);
        for record in &records {
            match record {
                LogRecord::Prediction(_) => predictions += 1,
                LogRecord::Delayed(_) => delayed += 1,
                LogRecord::Aggregate(_) => {}
            }
        }
        self.predictions.reserve(predictions);
        self.by_uuid.reserve(predictions);
        self.delayed.reserve(delayed);
        for record in records {
            self.insert(record);
        }
    }

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
            LogRecord::Delayed(d) => match self.delayed.entry(d.uuid) {
                Entry::Occupied(mut records) => records.get_mut().push(d),
                Entry::Vacant(slot) => {
                    slot.insert(DelayedRecords::One(d));
                }
            },
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
            out.extend(
                records
                    .as_slice()
                    .iter()
                    .filter(|d| d.seq <= limit)
                    .cloned(),
            );
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

/// The delayed records of one prediction UUID in a head, in the order they were tracked. Most
/// predictions get one label, so the first record is kept without a heap allocation of its own.
#[derive(Debug)]
pub(crate) enum DelayedRecords {
    One(DelayedRecord),
    Many(Vec<DelayedRecord>),
}

impl DelayedRecords {
    pub fn as_slice(&self) -> &[DelayedRecord] {
        match self {
            DelayedRecords::One(record) => std::slice::from_ref(record),
            DelayedRecords::Many(records) => records,
        }
    }

    fn push(&mut self, record: DelayedRecord) {
        match self {
            DelayedRecords::Many(records) => records.push(record),
            DelayedRecords::One(_) => {
                let previous = std::mem::replace(self, DelayedRecords::Many(Vec::new()));
                if let DelayedRecords::One(first) = previous {
                    *self = DelayedRecords::Many(vec![first, record]);
                }
            }
        }
    }
}

impl<'a> IntoIterator for &'a DelayedRecords {
    type Item = &'a DelayedRecord;
    type IntoIter = std::slice::Iter<'a, DelayedRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Metrics;

    fn delayed(uuid: u128, seq: Seq) -> LogRecord {
        LogRecord::Delayed(DelayedRecord {
            seq,
            uuid: Uuid::from_u128(uuid),
            timestamp_ms: seq as i64,
            metrics: Metrics::new().with("label", true),
        })
    }

    fn prediction(uuid: u128, seq: Seq) -> LogRecord {
        LogRecord::Prediction(PredictionRecord {
            seq,
            model: "m".into(),
            uuid: Uuid::from_u128(uuid),
            timestamp_ms: seq as i64,
            metrics: Metrics::new().with("score", 0.5),
        })
    }

    fn seqs_of(data: &HeadData, uuid: u128, limit: Seq) -> Vec<Seq> {
        let mut out = Vec::new();
        data.delayed_of(&Uuid::from_u128(uuid), limit, &mut out);
        out.iter().map(|d| d.seq).collect()
    }

    #[test]
    fn delayed_records_keep_tracking_order() {
        let mut data = HeadData::default();
        data.insert_batch(vec![delayed(7, 1), delayed(8, 2), delayed(7, 3)]);
        data.insert_batch(vec![delayed(7, 5)]);

        assert_eq!(seqs_of(&data, 7, Seq::MAX), vec![1, 3, 5]);
        assert_eq!(seqs_of(&data, 7, 4), vec![1, 3]);
        assert_eq!(seqs_of(&data, 8, Seq::MAX), vec![2]);
        assert_eq!(seqs_of(&data, 9, Seq::MAX), Vec::<Seq>::new());
        assert_eq!(data.delayed.len(), 2);
    }

    #[test]
    fn delayed_records_iterate_as_slice() {
        let mut data = HeadData::default();
        data.insert_batch(vec![delayed(1, 1), delayed(2, 2), delayed(2, 3)]);
        let one = data.delayed.get(&Uuid::from_u128(1)).unwrap();
        let two = data.delayed.get(&Uuid::from_u128(2)).unwrap();

        assert_eq!(one.into_iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            two.into_iter().map(|d| d.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn insert_batch_matches_single_inserts() {
        let records = vec![
            prediction(1, 1),
            delayed(1, 2),
            prediction(2, 3),
            delayed(3, 4),
        ];
        let mut batched = HeadData::default();
        batched.insert_batch(records.clone());
        let mut single = HeadData::default();
        for record in records {
            single.insert(record);
        }

        assert_eq!(batched.bytes(), single.bytes());
        assert_eq!(batched.max_seq(), 4);
        assert_eq!(batched.predictions, single.predictions);
        assert!(batched.contains_prediction(&Uuid::from_u128(2)));
        assert!(!batched.contains_prediction(&Uuid::from_u128(3)));
        assert_eq!(batched.predictions_in("m", 0, 10, Seq::MAX).len(), 2);
        assert_eq!(seqs_of(&batched, 3, Seq::MAX), vec![4]);
    }
}
