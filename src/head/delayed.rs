//! The delayed records of a head: those tracked as records and the rows of columnar batches,
//! found by prediction UUID.

use std::borrow::Cow;
use std::collections::hash_map::Entry;

use uuid::Uuid;

use super::{HeadData, METRIC_OVERHEAD, RECORD_OVERHEAD};
use crate::batch::DelayedColumnBatch;
use crate::record::{DelayedRecord, Seq};

/// One delayed record in the head: the record itself when it was tracked as a record, or its
/// location in a columnar batch. A record in the map's entry costs the row call fewer
/// instructions than an index into a vector of records.
#[derive(Debug)]
pub(crate) enum DelayedRow {
    Record(DelayedRecord),
    /// Index in `HeadData::delayed_batches`, then row in that batch.
    Column(u32, u32),
}

/// The delayed records of one prediction UUID in a head, in the order they were tracked. Most
/// predictions get one label, so the first is kept without a heap allocation of its own.
#[derive(Debug)]
pub(crate) enum DelayedRows {
    One(DelayedRow),
    Many(Vec<DelayedRow>),
}

impl DelayedRows {
    pub fn as_slice(&self) -> &[DelayedRow] {
        match self {
            DelayedRows::One(row) => std::slice::from_ref(row),
            DelayedRows::Many(rows) => rows,
        }
    }

    fn push(&mut self, row: DelayedRow) {
        match self {
            DelayedRows::Many(rows) => rows.push(row),
            DelayedRows::One(_) => {
                let previous = std::mem::replace(self, DelayedRows::Many(Vec::new()));
                if let DelayedRows::One(first) = previous {
                    *self = DelayedRows::Many(vec![first, row]);
                }
            }
        }
    }
}

impl HeadData {
    pub(super) fn insert_delayed(&mut self, record: DelayedRecord) {
        self.add_delayed_row(record.uuid, DelayedRow::Record(record));
    }

    /// Inserts a columnar batch as it is, with the location of each row in the map of delayed
    /// records.
    pub(super) fn insert_delayed_columns(&mut self, batch: DelayedColumnBatch) {
        let index = self.delayed_batches.len() as u32;
        self.delayed.reserve(batch.len());
        for (row, uuid) in batch.uuids.iter().enumerate() {
            self.add_delayed_row(*uuid, DelayedRow::Column(index, row as u32));
        }
        self.delayed_batches.push(batch);
    }

    fn add_delayed_row(&mut self, uuid: Uuid, row: DelayedRow) {
        match self.delayed.entry(uuid) {
            Entry::Occupied(mut rows) => rows.get_mut().push(row),
            Entry::Vacant(slot) => {
                slot.insert(DelayedRows::One(row));
            }
        }
    }

    /// Returns the sequence number of the delayed record `row`.
    fn delayed_seq(&self, row: &DelayedRow) -> Option<Seq> {
        match *row {
            DelayedRow::Record(ref record) => Some(record.seq),
            DelayedRow::Column(batch, row) => {
                let batch = self.delayed_batches.get(batch as usize)?;
                batch.seq_of(row as usize)
            }
        }
    }

    /// Returns the delayed record `row`: borrowed when it was tracked as a record, and built
    /// from its columns otherwise.
    fn delayed_record<'a>(&'a self, row: &'a DelayedRow) -> Option<Cow<'a, DelayedRecord>> {
        match *row {
            DelayedRow::Record(ref record) => Some(Cow::Borrowed(record)),
            DelayedRow::Column(batch, row) => {
                let batch = self.delayed_batches.get(batch as usize)?;
                batch.row(row as usize).map(Cow::Owned)
            }
        }
    }

    /// Returns copies of the delayed records `rows`, in tracking order.
    pub fn delayed_records<'a>(
        &'a self,
        rows: &'a DelayedRows,
    ) -> impl Iterator<Item = DelayedRecord> + 'a {
        let rows = rows.as_slice().iter();
        rows.filter_map(|row| self.delayed_record(row).map(Cow::into_owned))
    }

    /// Appends copies of the delayed records of `uuid` with `seq <= limit` to `out`.
    pub fn delayed_of(&self, uuid: &Uuid, limit: Seq, out: &mut Vec<DelayedRecord>) {
        let Some(rows) = self.delayed.get(uuid) else {
            return;
        };
        for row in rows.as_slice() {
            if self.delayed_seq(row).is_some_and(|seq| seq <= limit) {
                out.extend(self.delayed_record(row).map(Cow::into_owned));
            }
        }
    }
}

/// Estimates the heap bytes of a columnar batch of delayed metrics: its arrays and the map
/// locations of its rows, plus the records that the flush builds of its rows, counted as
/// `record_bytes` counts the same rows tracked as records.
pub(super) fn columnar_bytes(batch: &DelayedColumnBatch) -> usize {
    /// Estimated heap bytes per row of the head's map of delayed records: a 16-byte key, a
    /// 56-byte `DelayedRows` and a control byte, in a table between half full and 7/8 full.
    const DELAYED_MAP_ENTRY: usize = 100;
    let rows = batch.len();
    let metrics: usize = batch
        .metrics
        .iter()
        .map(|(name, column)| rows * (name.len() + METRIC_OVERHEAD) + column.payload_bytes())
        .sum();
    batch.heap_bytes() + rows * (DELAYED_MAP_ENTRY + RECORD_OVERHEAD) + metrics
}
