//! The prediction table's input as a flush finds it in the head: predictions tracked as
//! records plus columnar batches, put in segment order through a permutation of row
//! references instead of a `PredictionRecord` per row.
//!
//! The file is byte-identical to the one that the same predictions as records give, because
//! both inputs produce the same sorted rows, column directory and block columns.

use uuid::Uuid;

use crate::batch::{ColumnBatch, MetricColumn};
use crate::error::Result;
use crate::record::{AggregateRecord, PredictionRecord, ResolvedDelayed, Seq};
use crate::segment::columns::{BlockColumns, ColumnIndex, ColumnIndexBuilder, EncodedColumn};
use crate::segment::layout::ValueType;

/// The predictions of a head: those tracked as records, and the columnar batches.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeadPredictions<'a> {
    pub records: &'a [PredictionRecord],
    pub batches: &'a [ColumnBatch],
}

impl HeadPredictions<'_> {
    /// Returns the number of predictions.
    pub fn len(&self) -> usize {
        let batch_rows: usize = self.batches.iter().map(ColumnBatch::len).sum();
        self.records.len() + batch_rows
    }
}

/// The tables of a segment written from a head, in any order: the writer sorts them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeadSegmentData<'a> {
    pub predictions: HeadPredictions<'a>,
    pub delayed: &'a [ResolvedDelayed],
    pub aggregates: &'a [AggregateRecord],
}

/// Heap bytes that writing a segment from a head allocates per prediction, beyond the file's
/// buffers: the permutation entry, and the row's entry in `Written::predictions`.
pub(crate) const HEAD_ROW_BYTES: usize = size_of::<SortedRow>() + size_of::<(Uuid, u32)>();

/// The prediction table's input.
#[derive(Clone, Copy, Debug)]
pub(super) enum PredictionInput<'a> {
    Records(&'a [PredictionRecord]),
    Head(HeadPredictions<'a>),
}

impl<'a> PredictionInput<'a> {
    pub fn len(&self) -> usize {
        match self {
            PredictionInput::Records(records) => records.len(),
            PredictionInput::Head(head) => head.len(),
        }
    }

    /// Returns the models of the predictions. A batch gives its model once, and an empty
    /// batch gives none.
    pub fn models(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let (records, batches) = match *self {
            PredictionInput::Records(records) => (records, &[][..]),
            PredictionInput::Head(head) => (head.records, head.batches),
        };
        let batches = batches.iter().filter(|batch| !batch.is_empty());
        let records = records.iter().map(|r| r.model.as_str());
        records.chain(batches.map(|batch| batch.model.as_str()))
    }

    /// Puts the predictions in segment order, (model, timestamp, seq). `models` is the
    /// segment's model dictionary, which contains every model of the input.
    pub fn sort(self, models: &[String]) -> SortedPredictions<'a> {
        match self {
            PredictionInput::Records(records) => {
                let mut rows: Vec<&PredictionRecord> = records.iter().collect();
                rows.sort_by(|a, b| super::writer::compare_predictions(a, b));
                SortedPredictions::Records(rows)
            }
            PredictionInput::Head(head) => SortedPredictions::Head(HeadRows::sort(head, models)),
        }
    }
}

/// The prediction table's rows in segment order.
pub(super) enum SortedPredictions<'a> {
    Records(Vec<&'a PredictionRecord>),
    Head(HeadRows<'a>),
}

impl<'a> SortedPredictions<'a> {
    /// Adds the prediction metrics to the column directory, in row order.
    pub fn add_columns(&self, builder: &mut ColumnIndexBuilder<'a>) {
        match self {
            SortedPredictions::Records(rows) => {
                for record in rows {
                    builder.add_metrics(&record.metrics);
                }
            }
            SortedPredictions::Head(rows) => rows.add_columns(builder),
        }
    }

    /// Returns `(prediction UUID, row)` of each row, in row order.
    pub fn row_uuids(&self) -> Vec<(Uuid, u32)> {
        let uuids: Vec<Uuid> = match self {
            SortedPredictions::Records(rows) => rows.iter().map(|r| r.uuid).collect(),
            SortedPredictions::Head(rows) => rows.uuids(&rows.rows).collect(),
        };
        let rows = uuids.into_iter().enumerate();
        rows.map(|(row, uuid)| (uuid, row as u32)).collect()
    }
}

/// The `source` of a row tracked as a record: its `row` indexes `HeadPredictions::records`.
const RECORD: u32 = u32::MAX;

/// One prediction of a head in the permutation that sorts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SortedRow {
    pub timestamp_ms: i64,
    pub seq: Seq,
    /// Index in the segment's model dictionary.
    pub model: u32,
    /// Index in `HeadPredictions::batches`, or `RECORD`.
    source: u32,
    /// Row in the batch, or index in `HeadPredictions::records`.
    row: u32,
}

/// A head's predictions sorted by (model, timestamp, seq) through row references.
pub(super) struct HeadRows<'a> {
    input: HeadPredictions<'a>,
    pub rows: Vec<SortedRow>,
}

impl<'a> HeadRows<'a> {
    /// Sorts the predictions of `input`, which has at most `u32::MAX` rows.
    fn sort(input: HeadPredictions<'a>, models: &[String]) -> Self {
        let model_index = |model: &str| {
            let found = models.binary_search_by(|m| m.as_str().cmp(model));
            found.map_or(u32::MAX, |index| index as u32)
        };
        let mut rows = Vec::with_capacity(input.len());
        for (index, record) in input.records.iter().enumerate() {
            rows.push(SortedRow {
                timestamp_ms: record.timestamp_ms,
                seq: record.seq,
                model: model_index(&record.model),
                source: RECORD,
                row: index as u32,
            });
        }
        for (source, batch) in input.batches.iter().enumerate() {
            let model = model_index(&batch.model);
            for (row, &timestamp_ms) in batch.timestamps_ms.iter().enumerate() {
                rows.push(SortedRow {
                    timestamp_ms,
                    seq: batch.first_seq.saturating_add(row as Seq),
                    model,
                    source: source as u32,
                    row: row as u32,
                });
            }
        }
        // Sequence numbers are unique, so no two rows compare equal.
        rows.sort_unstable_by_key(|r| (r.model, r.timestamp_ms, r.seq));
        HeadRows { input, rows }
    }

    fn batch(&self, row: &SortedRow) -> Option<&'a ColumnBatch> {
        self.input.batches.get(row.source as usize)
    }

    fn record(&self, row: &SortedRow) -> Option<&'a PredictionRecord> {
        match row.source {
            RECORD => self.input.records.get(row.row as usize),
            _ => None,
        }
    }

    /// Returns the prediction UUIDs of `rows`.
    pub fn uuids(&self, rows: &'a [SortedRow]) -> impl Iterator<Item = Uuid> + use<'a, '_> {
        rows.iter().filter_map(|row| match self.record(row) {
            Some(record) => Some(record.uuid),
            None => self.batch(row)?.uuids.get(row.row as usize).copied(),
        })
    }

    /// Adds the metrics of the rows to the column directory, in row order. The rows of one
    /// batch all have its metrics, so a batch adds them at its first row.
    fn add_columns(&self, builder: &mut ColumnIndexBuilder<'a>) {
        let mut added = vec![false; self.input.batches.len()];
        for row in &self.rows {
            if let Some(record) = self.record(row) {
                builder.add_metrics(&record.metrics);
                continue;
            }
            let Some(added) = added.get_mut(row.source as usize) else {
                continue;
            };
            if *added {
                continue;
            }
            *added = true;
            let metrics = self.batch(row).map_or(&[][..], |batch| &batch.metrics);
            for (position, (name, column)) in metrics.iter().enumerate() {
                builder.add(position, name, ValueType::of_column(column));
            }
        }
    }

    /// Returns each batch's metric columns with their ids in the column directory.
    pub fn batch_columns(&self, index: &ColumnIndex<'_>) -> Vec<Vec<(u32, &'a MetricColumn)>> {
        let columns_of = |batch: &'a ColumnBatch| {
            let columns = batch.metrics.iter().filter_map(|(name, column)| {
                let id = index.id(name, ValueType::of_column(column))?;
                Some((id, column))
            });
            columns.collect()
        };
        self.input.batches.iter().map(columns_of).collect()
    }

    /// Encodes the metric columns of one block of rows. Consecutive rows of one batch are
    /// added together, column by column.
    pub fn encode_metrics(
        &self,
        block: &[SortedRow],
        batch_columns: &[Vec<(u32, &'a MetricColumn)>],
        index: &ColumnIndex<'_>,
        zstd_level: i32,
    ) -> Result<Vec<EncodedColumn>> {
        let mut columns = BlockColumns::new(index, block.len());
        let same_batch = |a: &SortedRow, b: &SortedRow| a.source == b.source && a.source != RECORD;
        for run in block.chunk_by(same_batch) {
            let Some(first) = run.first() else {
                continue;
            };
            if let Some(record) = self.record(first) {
                columns.push_metrics(&record.metrics)?;
                continue;
            }
            let batch_rows = run.iter().map(|row| row.row as usize);
            let metrics = batch_columns.get(first.source as usize);
            let metrics = metrics.map_or(&[][..], Vec::as_slice);
            columns.push_batch_rows(metrics, batch_rows, run.len())?;
        }
        Ok(columns.encode(zstd_level))
    }
}

#[cfg(test)]
#[path = "writer_columns_tests.rs"]
mod tests;
