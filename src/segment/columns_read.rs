//! Column reads of a segment: the rows of one model and window as one vector per column,
//! decoding only the fixed columns and the metrics asked for.

use std::ops::Range;

use uuid::Uuid;

use crate::columns::Column;
use crate::error::Result;
use crate::segment::Segment;
use crate::segment::block::BlockReader;
use crate::segment::footer::BlockDir;
use crate::segment::layout::{FixedColumn, Table};

/// Predictions read as columns; entry `i` of every vector belongs to the same row.
#[derive(Debug, Default)]
pub struct PredictionColumns {
    pub timestamps: Vec<i64>,
    pub seqs: Vec<u64>,
    pub uuids: Vec<Uuid>,
    /// One column per metric asked for, in the order asked.
    pub values: Vec<Column>,
}

/// Resolved delayed rows read as columns, in segment row order: each row's prediction
/// timestamp and prediction seq, and the values of the delayed metrics asked for.
#[derive(Debug, Default)]
pub struct DelayedColumns {
    pub prediction_timestamps: Vec<i64>,
    pub prediction_seqs: Vec<u64>,
    pub values: Vec<Column>,
}

impl Segment {
    /// Returns the names of the metric columns that some block of `table` stores, of every
    /// model, once per value type a name was stored with.
    pub(crate) fn metric_names(&self, table: Table) -> impl Iterator<Item = &str> {
        let mut used = vec![false; self.footer.columns.len()];
        let directory = self.footer.table(table);
        for block in &directory.blocks {
            for chunk in directory.block_chunks(block) {
                if let Some(flag) = used.get_mut(chunk.column as usize) {
                    *flag = true;
                }
            }
        }
        let columns = self.footer.columns.iter().zip(used);
        columns.filter_map(|(column, used)| used.then_some(column.name.as_str()))
    }

    /// Appends to `out` the predictions of `model` with `start_ms <= timestamp < end_ms`, in
    /// (timestamp, seq) order, with the values of the metrics `names`.
    pub fn prediction_columns(
        &self,
        model: &str,
        window: (i64, i64),
        names: &[&str],
        out: &mut PredictionColumns,
    ) -> Result<()> {
        out.values.resize_with(names.len(), Column::default);
        let column = FixedColumn::Timestamp;
        let found = self.window_blocks(
            Table::Predictions,
            column,
            model,
            window,
            &mut out.timestamps,
        )?;
        let rows = found.iter().map(|block| block.rows.len()).sum();
        out.seqs.reserve(rows);
        out.uuids.reserve(rows);
        out.values
            .iter_mut()
            .for_each(|column| column.reserve(rows));
        let mut scratch = Vec::new();
        for WindowBlock { reader, rows } in found {
            reader.u64_rows_into(FixedColumn::Seq, rows.clone(), &mut scratch, &mut out.seqs)?;
            reader.uuids_into(rows.clone(), &mut out.uuids)?;
            for (name, column) in names.iter().zip(out.values.iter_mut()) {
                reader.named_values_into(name, rows.clone(), column)?;
            }
        }
        Ok(())
    }

    /// Appends to `out` the resolved delayed rows whose prediction belongs to `model` and has
    /// `start_ms <= timestamp < end_ms`, in row order, with the values of the metrics `names`.
    pub fn delayed_columns(
        &self,
        model: &str,
        window: (i64, i64),
        names: &[&str],
        out: &mut DelayedColumns,
    ) -> Result<()> {
        out.values.resize_with(names.len(), Column::default);
        let column = FixedColumn::PredictionTimestamp;
        let timestamps = &mut out.prediction_timestamps;
        let found = self.window_blocks(Table::Delayed, column, model, window, timestamps)?;
        let rows = found.iter().map(|block| block.rows.len()).sum();
        out.prediction_seqs.reserve(rows);
        out.values
            .iter_mut()
            .for_each(|column| column.reserve(rows));
        let mut scratch = Vec::new();
        for WindowBlock { reader, rows } in found {
            let seqs = &mut out.prediction_seqs;
            reader.u64_rows_into(FixedColumn::PredictionSeq, rows.clone(), &mut scratch, seqs)?;
            for (name, column) in names.iter().zip(out.values.iter_mut()) {
                reader.named_values_into(name, rows.clone(), column)?;
            }
        }
        Ok(())
    }

    /// Returns the blocks of `model` in `table` that hold rows with `start_ms <= t < end_ms`,
    /// where `t` is the sorted timestamp column `column`, and appends those rows' timestamps to
    /// `timestamps`. Only the groups of rows around the window are decoded. Knowing every
    /// block's rows first lets the callers size their columns once.
    fn window_blocks(
        &self,
        table: Table,
        column: FixedColumn,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        timestamps: &mut Vec<i64>,
    ) -> Result<Vec<WindowBlock<'_>>> {
        let blocks = self.blocks(table).get(self.model_blocks(table, model));
        let overlapping = |block: &&BlockDir| block.max_ts >= start_ms && block.min_ts < end_ms;
        // Room for the rows of every overlapping block, an upper bound, saves copying
        // `timestamps` each time a block's rows outgrow it.
        let bound = blocks.unwrap_or_default().iter().filter(overlapping);
        timestamps.reserve(bound.map(|block| block.rows as usize).sum());
        let mut found = Vec::new();
        for index in self.model_blocks(table, model) {
            let Some(block) = self.blocks(table).get(index) else {
                break;
            };
            if block.min_ts >= end_ms {
                break;
            }
            if block.max_ts < start_ms {
                continue;
            }
            let reader = self.block_reader(table, index)?;
            let below_start = |t| t < start_ms;
            let rows = reader.rows_between_into(column, below_start, |t| t < end_ms, timestamps)?;
            if !rows.is_empty() {
                found.push(WindowBlock { reader, rows });
            }
        }
        Ok(found)
    }
}

/// The rows of one block that fall in a window.
struct WindowBlock<'s> {
    reader: BlockReader<'s>,
    rows: Range<usize>,
}
