//! The in-memory head: records tracked since the last flush, replayed from the log on open.

mod delayed;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use foldhash::fast::RandomState;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

use crate::batch::{ColumnBatch, DelayedColumnBatch};
use crate::index::IndexEntry;
use crate::record::{AggregateRecord, LogRecord, PredictionKey, PredictionRecord, Seq};
use crate::segment::{HEAD_ROW_BYTES, HeadPredictions};
use delayed::DelayedRows;

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
    /// `HeadData::bytes` as of the last write guard's release, readable without the lock.
    bytes: AtomicUsize,
}

/// A write guard of a head that publishes the head's size in `Head::bytes` when released.
pub(crate) struct HeadWriteGuard<'a> {
    data: RwLockWriteGuard<'a, HeadData>,
    bytes: &'a AtomicUsize,
}

impl Deref for HeadWriteGuard<'_> {
    type Target = HeadData;

    fn deref(&self) -> &HeadData {
        &self.data
    }
}

impl DerefMut for HeadWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut HeadData {
        &mut self.data
    }
}

impl Drop for HeadWriteGuard<'_> {
    fn drop(&mut self) {
        self.bytes.store(self.data.bytes, Ordering::Relaxed);
    }
}

/// The records of a head. Its maps hash with foldhash in place of the standard library's
/// SipHash, because each tracked record takes one to three map operations, and SipHash was the
/// largest part of an insert in the W2 profile of docs/benchmarks.md. Each map gets a random
/// seed, so no fixed list of UUIDs collides in every head. The foldhash 0.2 README states that
/// this does not hold against an attacker who can observe the hashes, through timing for
/// example.
///
/// Predictions tracked one by one are kept as records, and those tracked as columns stay in
/// their `ColumnBatch`, whose rows are built on demand by the rare reads of the head. Delayed
/// records are kept the same way, in the map `delayed` and in `delayed_batches`.
#[derive(Debug, Default)]
pub(crate) struct HeadData {
    predictions: Vec<PredictionRecord>,
    batches: Vec<ColumnBatch>,
    by_uuid: HashMap<Uuid, HeadRow, RandomState>,
    by_model: HashMap<String, ModelRows, RandomState>,
    /// The delayed records of each prediction UUID, or their locations in `delayed_batches`.
    pub delayed: HashMap<Uuid, DelayedRows, RandomState>,
    delayed_batches: Vec<DelayedColumnBatch>,
    pub aggregates: Vec<AggregateRecord>,
    bytes: usize,
    records: usize,
    oldest: Option<Instant>,
    max_seq: Seq,
}

/// Location of one prediction in the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeadRow {
    /// Index in `HeadData::predictions`.
    Record(u32),
    /// Index in `HeadData::batches`, then row in that batch.
    Column(u32, u32),
}

/// The predictions of one model in a head.
#[derive(Debug, Default)]
struct ModelRows {
    /// Indexes in `HeadData::predictions`.
    records: Vec<usize>,
    /// Indexes in `HeadData::batches`.
    batches: Vec<usize>,
}

impl Head {
    pub fn read(&self) -> RwLockReadGuard<'_, HeadData> {
        self.data.read()
    }

    pub fn write(&self) -> HeadWriteGuard<'_> {
        HeadWriteGuard {
            data: self.data.write(),
            bytes: &self.bytes,
        }
    }

    /// Returns the estimated heap bytes of the head without taking its lock. A write in
    /// progress is not counted until its guard is released.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl HeadData {
    /// Inserts a batch of records, reserving room for all of them first.
    pub fn insert_batch(&mut self, records: Vec<LogRecord>) {
        // A columnar batch's rows take UUID map entries but no `PredictionRecord`s.
        let (mut rows, mut columnar_rows, mut delayed, mut delayed_rows) = (0, 0, 0, 0);
        for record in &records {
            match record {
                LogRecord::Prediction(_) => rows += 1,
                LogRecord::Delayed(_) => delayed += 1,
                LogRecord::Aggregate(_) => {}
                LogRecord::PredictionColumns(b) => columnar_rows += b.len(),
                LogRecord::DelayedColumns(b) => delayed_rows += b.len(),
            }
        }
        self.predictions.reserve(rows);
        self.by_uuid.reserve(rows + columnar_rows);
        self.delayed.reserve(delayed + delayed_rows);
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
                self.by_uuid.insert(p.uuid, HeadRow::Record(row as u32));
                self.add_model_rows(&p.model, |rows| rows.records.push(row));
                self.predictions.push(p);
            }
            LogRecord::PredictionColumns(batch) => self.insert_columns(batch),
            LogRecord::Delayed(d) => self.insert_delayed(d),
            LogRecord::DelayedColumns(batch) => self.insert_delayed_columns(batch),
            LogRecord::Aggregate(a) => self.aggregates.push(a),
        }
    }

    /// Inserts a columnar batch as it is, with one UUID map entry per row.
    fn insert_columns(&mut self, batch: ColumnBatch) {
        let index = self.batches.len();
        self.by_uuid.reserve(batch.len());
        for (row, uuid) in batch.uuids.iter().enumerate() {
            self.by_uuid
                .insert(*uuid, HeadRow::Column(index as u32, row as u32));
        }
        self.add_model_rows(&batch.model, |rows| rows.batches.push(index));
        self.batches.push(batch);
    }

    /// Applies `add` to the rows of `model`. Looking up by `&str` first saves a copy of the
    /// model id on every insert but the model's first.
    fn add_model_rows(&mut self, model: &str, add: impl FnOnce(&mut ModelRows)) {
        match self.by_model.get_mut(model) {
            Some(rows) => add(rows),
            None => {
                let mut rows = ModelRows::default();
                add(&mut rows);
                self.by_model.insert(model.to_owned(), rows);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Returns the model ids that have predictions in this head, in no particular order.
    pub fn prediction_models(&self) -> impl Iterator<Item = &str> {
        self.by_model.keys().map(String::as_str)
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

    /// Returns the prediction of `uuid`, borrowed when it was tracked as a record and built
    /// from its columns otherwise.
    pub fn prediction(&self, uuid: &Uuid) -> Option<Cow<'_, PredictionRecord>> {
        match *self.by_uuid.get(uuid)? {
            HeadRow::Record(row) => self.predictions.get(row as usize).map(Cow::Borrowed),
            HeadRow::Column(batch, row) => {
                let batch = self.batches.get(batch as usize)?;
                batch.row(row as usize).map(Cow::Owned)
            }
        }
    }

    /// Returns the model, timestamp and seq of the prediction of `uuid`.
    pub fn prediction_key(&self, uuid: &Uuid) -> Option<PredictionKey> {
        match *self.by_uuid.get(uuid)? {
            HeadRow::Record(row) => {
                let p = self.predictions.get(row as usize)?;
                Some(PredictionKey {
                    model: p.model.clone(),
                    timestamp_ms: p.timestamp_ms,
                    seq: p.seq,
                })
            }
            HeadRow::Column(batch, row) => self.batches.get(batch as usize)?.key(row as usize),
        }
    }

    pub fn contains_prediction(&self, uuid: &Uuid) -> bool {
        self.by_uuid.contains_key(uuid)
    }

    /// Returns the predictions of the head as the segment writer takes them: the records and
    /// the columnar batches.
    pub fn predictions(&self) -> HeadPredictions<'_> {
        HeadPredictions {
            records: &self.predictions,
            batches: &self.batches,
        }
    }

    /// Returns every prediction of the head as records: borrowed when all were tracked as
    /// records, and otherwise a copy that includes the rows of columnar batches.
    #[cfg(test)]
    pub fn prediction_records(&self) -> Cow<'_, [PredictionRecord]> {
        if self.batches.is_empty() {
            return Cow::Borrowed(&self.predictions);
        }
        let column_rows: usize = self.batches.iter().map(ColumnBatch::len).sum();
        let mut all = Vec::with_capacity(self.predictions.len() + column_rows);
        all.extend(self.predictions.iter().cloned());
        for batch in &self.batches {
            all.extend((0..batch.len()).filter_map(|row| batch.row(row)));
        }
        Cow::Owned(all)
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
        let is_visible = |timestamp_ms: i64, seq: Seq| {
            timestamp_ms >= start_ms && timestamp_ms < end_ms && seq <= limit
        };
        let mut found: Vec<PredictionRecord> = rows
            .records
            .iter()
            .filter_map(|&row| self.predictions.get(row))
            .filter(|p| is_visible(p.timestamp_ms, p.seq))
            .cloned()
            .collect();
        for batch in rows.batches.iter().filter_map(|&i| self.batches.get(i)) {
            for row in 0..batch.len() {
                let in_range = batch
                    .time_and_seq(row)
                    .is_some_and(|(timestamp_ms, seq)| is_visible(timestamp_ms, seq));
                if in_range {
                    found.extend(batch.row(row));
                }
            }
        }
        found.sort_by_key(|p| (p.timestamp_ms, p.seq));
        found
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
        LogRecord::PredictionColumns(b) => return RECORD_OVERHEAD + columnar_bytes(b),
        LogRecord::DelayedColumns(b) => return RECORD_OVERHEAD + delayed::columnar_bytes(b),
    };
    let metric_bytes: usize = metrics
        .iter()
        .map(|m| m.name.len() + m.value.payload_len() + METRIC_OVERHEAD)
        .sum();
    fixed + metric_bytes
}

/// Estimates the heap bytes of a columnar batch: its arrays, plus what the flush allocates per
/// row. The flush encodes the segment from the arrays through a permutation of row
/// references, and then builds the index entries of the new segment.
fn columnar_bytes(batch: &crate::batch::ColumnBatch) -> usize {
    let flush_per_row = HEAD_ROW_BYTES + size_of::<IndexEntry>();
    batch.heap_bytes() + batch.len() * flush_per_row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::MetricColumn;
    use crate::record::DelayedRecord;
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

    #[test]
    fn bytes_published_when_write_guard_released() {
        let head = Head::default();
        assert_eq!(head.bytes(), 0);

        let mut guard = head.write();
        guard.insert(prediction(1, 1));
        assert_eq!(head.bytes(), 0, "published before the guard was released");
        let inserted = guard.bytes();
        drop(guard);
        assert!(inserted > 0);
        assert_eq!(head.bytes(), inserted);

        head.write().insert(prediction(2, 2));
        assert_eq!(head.bytes(), head.read().bytes());
        assert!(head.bytes() > inserted);
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
    fn delayed_records_iterate_in_order() {
        let mut data = HeadData::default();
        data.insert_batch(vec![delayed(1, 1), delayed(2, 2), delayed(2, 3)]);
        let one = data.delayed.get(&Uuid::from_u128(1)).unwrap();
        let two = data.delayed.get(&Uuid::from_u128(2)).unwrap();

        let seqs = |rows| {
            data.delayed_records(rows)
                .map(|d| d.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(one), vec![1]);
        assert_eq!(seqs(two), vec![2, 3]);
    }

    fn delayed_columns(first_seq: Seq, uuids: &[u128]) -> LogRecord {
        let rows = uuids.len();
        LogRecord::DelayedColumns(DelayedColumnBatch {
            first_seq,
            uuids: uuids.iter().map(|&n| Uuid::from_u128(n)).collect(),
            timestamps_ms: (0..rows as i64).map(|i| 100 + i).collect(),
            metrics: vec![(
                "label".into(),
                MetricColumn::Bool((0..rows).map(|i| i % 2 == 0).collect()),
            )],
        })
    }

    #[test]
    fn delayed_columns_read_like_records() {
        let mut data = HeadData::default();
        data.insert_batch(vec![delayed(7, 1)]);
        data.insert_batch(vec![delayed_columns(2, &[7, 8, 7])]);
        data.insert_batch(vec![delayed(7, 5), delayed_columns(6, &[9])]);

        assert_eq!(seqs_of(&data, 7, Seq::MAX), vec![1, 2, 4, 5]);
        assert_eq!(seqs_of(&data, 7, 3), vec![1, 2]);
        assert_eq!(seqs_of(&data, 8, Seq::MAX), vec![3]);
        assert_eq!(seqs_of(&data, 9, Seq::MAX), vec![6]);
        assert_eq!(seqs_of(&data, 9, 5), Vec::<Seq>::new());
        assert_eq!(data.delayed.len(), 3);
        assert_eq!(data.max_seq(), 6);

        let mut out = Vec::new();
        data.delayed_of(&Uuid::from_u128(7), Seq::MAX, &mut out);
        let column_row = &out[2];
        assert_eq!(column_row.uuid, Uuid::from_u128(7));
        assert_eq!(column_row.timestamp_ms, 102);
        assert_eq!(column_row.metrics, Metrics::new().with("label", true));
        let rows = data.delayed.get(&Uuid::from_u128(8)).unwrap();
        let records: Vec<DelayedRecord> = data.delayed_records(rows).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].metrics, Metrics::new().with("label", false));
    }

    #[test]
    fn delayed_columns_count_records_of_flush() {
        let mut columns = HeadData::default();
        let uuids: Vec<u128> = (0..100).collect();
        columns.insert_batch(vec![delayed_columns(1, &uuids)]);
        let mut records = HeadData::default();
        records.insert_batch((0..100).map(|i| delayed(i, i as Seq + 1)).collect());
        assert!(
            columns.bytes() >= records.bytes(),
            "{} < {}",
            columns.bytes(),
            records.bytes()
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

    fn column_batch(first_seq: Seq, first_uuid: u128, timestamps_ms: Vec<i64>) -> LogRecord {
        let rows = timestamps_ms.len();
        let uuids = (first_uuid..first_uuid + rows as u128).map(Uuid::from_u128);
        LogRecord::PredictionColumns(ColumnBatch {
            first_seq,
            model: "m".into(),
            uuids: uuids.collect(),
            timestamps_ms,
            metrics: vec![("score".into(), MetricColumn::F64(vec![0.5; rows]))],
        })
    }

    #[test]
    fn column_rows_read_like_records() {
        let mut data = HeadData::default();
        data.insert_batch(vec![prediction(1, 1), prediction(2, 2)]);
        data.insert_batch(vec![column_batch(3, 10, vec![2, 0, 7])]);
        data.insert_batch(vec![prediction(3, 6)]);

        let found = data.predictions_in("m", 0, 10, Seq::MAX);
        let keys: Vec<(i64, Seq)> = found.iter().map(|p| (p.timestamp_ms, p.seq)).collect();
        assert_eq!(keys, vec![(0, 4), (1, 1), (2, 2), (2, 3), (6, 6), (7, 5)]);
        let limited = data.predictions_in("m", 0, 10, 4);
        assert_eq!(limited.len(), 4);
        assert!(data.predictions_in("other", 0, 10, Seq::MAX).is_empty());

        let row = data.prediction(&Uuid::from_u128(11)).unwrap();
        assert_eq!((row.seq, row.timestamp_ms), (4, 0));
        assert_eq!(row.metrics, Metrics::new().with("score", 0.5));
        let key = data.prediction_key(&Uuid::from_u128(12)).unwrap();
        assert_eq!((key.timestamp_ms, key.seq), (7, 5));
        assert!(data.contains_prediction(&Uuid::from_u128(10)));
        assert!(!data.contains_prediction(&Uuid::from_u128(13)));
        assert_eq!(data.max_seq(), 6);
        assert_eq!(data.prediction_records().len(), 6);
    }

    #[test]
    fn column_batch_counts_arrays_and_flush_rows() {
        let mut columns = HeadData::default();
        columns.insert_batch(vec![column_batch(1, 0, vec![0; 100])]);
        let mut records = HeadData::default();
        records.insert_batch((1..=100).map(|i| prediction(i, i as Seq)).collect());
        // Each row stores a UUID, a timestamp and a score, and takes a UUID map entry of at
        // least its key and row reference. The flush adds a permutation entry, a row of
        // `Written::predictions` and an index entry.
        let arrays = 100 * (16 + 8 + 8 + 28);
        let flush = 100 * (HEAD_ROW_BYTES + size_of::<IndexEntry>());
        assert!(
            columns.bytes() >= arrays + flush,
            "{} < {arrays} + {flush}",
            columns.bytes()
        );
        assert!(
            columns.bytes() <= 2 * (arrays + flush),
            "{} bytes for {arrays} of arrays",
            columns.bytes()
        );
        // The flush builds no record per row, so a batch counts less than the same rows
        // tracked as records.
        assert!(
            columns.bytes() < records.bytes(),
            "{} >= {}",
            columns.bytes(),
            records.bytes()
        );
    }
}
