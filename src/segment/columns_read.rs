//! Column reads of a segment: the rows of one model and window as one vector per column,
//! decoding only the fixed columns and the metrics asked for.

use std::ops::Range;

use uuid::Uuid;

use crate::error::Result;
use crate::segment::Segment;
use crate::segment::layout::{FixedColumn, Table};
use crate::segment::query::window_rows;
use crate::value::Value;

/// Predictions read as columns; entry `i` of every vector belongs to the same row.
#[derive(Debug, Default)]
pub struct PredictionColumns {
    pub timestamps: Vec<i64>,
    pub seqs: Vec<u64>,
    pub uuids: Vec<Uuid>,
    /// One vector per metric asked for, in the order asked.
    pub values: Vec<Vec<Option<Value>>>,
}

/// Resolved delayed rows read as columns, in segment row order: each row's prediction seq and
/// the values of the delayed metrics asked for.
#[derive(Debug, Default)]
pub struct DelayedColumns {
    pub prediction_seqs: Vec<u64>,
    pub values: Vec<Vec<Option<Value>>>,
}

impl Segment {
    /// Appends to `out` the predictions of `model` with `start_ms <= timestamp < end_ms`, in
    /// (timestamp, seq) order, with the values of the metrics `names`.
    pub fn prediction_columns(
        &self,
        model: &str,
        (start_ms, end_ms): (i64, i64),
        names: &[&str],
        out: &mut PredictionColumns,
    ) -> Result<()> {
        out.values.resize_with(names.len(), Vec::new);
        for index in self.model_blocks(Table::Predictions, model) {
            let Some(block) = self.blocks(Table::Predictions).get(index) else {
                break;
            };
            if block.min_ts >= end_ms {
                break;
            }
            if block.max_ts < start_ms {
                continue;
            }
            let reader = self.block_reader(Table::Predictions, index)?;
            let timestamps = reader.i64_column(FixedColumn::Timestamp)?;
            let rows = window_rows(&timestamps, start_ms, end_ms);
            if rows.is_empty() {
                continue;
            }
            let seqs = reader.seq_column()?;
            out.timestamps.extend(slice(&timestamps, &rows));
            out.seqs.extend(slice(&seqs, &rows));
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
        (start_ms, end_ms): (i64, i64),
        names: &[&str],
        out: &mut DelayedColumns,
    ) -> Result<()> {
        out.values.resize_with(names.len(), Vec::new);
        for index in self.model_blocks(Table::Delayed, model) {
            let Some(block) = self.blocks(Table::Delayed).get(index) else {
                break;
            };
            if block.min_ts >= end_ms {
                break;
            }
            if block.max_ts < start_ms {
                continue;
            }
            let reader = self.block_reader(Table::Delayed, index)?;
            let timestamps = reader.i64_column(FixedColumn::PredictionTimestamp)?;
            let rows = window_rows(&timestamps, start_ms, end_ms);
            if rows.is_empty() {
                continue;
            }
            let seqs = reader.u64_column(FixedColumn::PredictionSeq)?;
            out.prediction_seqs.extend(slice(&seqs, &rows));
            for (name, column) in names.iter().zip(out.values.iter_mut()) {
                reader.named_values_into(name, rows.clone(), column)?;
            }
        }
        Ok(())
    }
}

fn slice<'a, T: Copy>(values: &'a [T], rows: &Range<usize>) -> impl Iterator<Item = T> + 'a {
    values.get(rows.clone()).unwrap_or_default().iter().copied()
}
