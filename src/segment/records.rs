//! Reading every record of a segment, for compaction.

use crate::error::Result;
use crate::record::{AggregateRecord, PredictionRecord, ResolvedDelayed};
use crate::segment::Segment;
use crate::segment::layout::{FixedColumn, Table};
use crate::segment::query::DelayedTargets;

/// All records of one segment, each table in its stored order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentRecords {
    pub predictions: Vec<PredictionRecord>,
    /// Resolved records first, in (model, prediction timestamp, prediction seq) order and, for
    /// one prediction, in the order they were tracked; then the orphans.
    pub delayed: Vec<ResolvedDelayed>,
    pub aggregates: Vec<AggregateRecord>,
}

impl Segment {
    /// Returns the time range of the rows tied to a prediction timestamp: predictions and
    /// resolved delayed records. Reads only the footer.
    pub fn prediction_time_range(&self) -> Option<(i64, i64)> {
        let predictions = self.blocks(Table::Predictions).iter();
        let resolved = self
            .blocks(Table::Delayed)
            .iter()
            .filter(|b| b.model.is_some());
        let mut range: Option<(i64, i64)> = None;
        for block in predictions.chain(resolved) {
            range = Some(match range {
                None => (block.min_ts, block.max_ts),
                Some((min, max)) => (min.min(block.min_ts), max.max(block.max_ts)),
            });
        }
        range
    }

    /// Returns the largest prediction timestamp, or `None` without predictions.
    pub fn newest_prediction(&self) -> Option<i64> {
        self.blocks(Table::Predictions)
            .iter()
            .map(|b| b.max_ts)
            .max()
    }

    /// Decodes every block of every table, checking each chunk's CRC on the way.
    pub fn records(&self) -> Result<SegmentRecords> {
        let mut out = SegmentRecords::default();
        for index in 0..self.blocks(Table::Predictions).len() {
            let reader = self.block_reader(Table::Predictions, index)?;
            let timestamps = reader.i64_column(FixedColumn::Timestamp)?;
            let rows = 0..reader.rows();
            out.predictions
                .extend(self.prediction_rows(&reader, &timestamps, rows)?);
        }
        for index in 0..self.blocks(Table::Delayed).len() {
            let reader = self.block_reader(Table::Delayed, index)?;
            let targets = DelayedTargets::decode(&reader)?;
            let rows = 0..reader.rows();
            out.delayed
                .extend(self.delayed_rows(&reader, &targets, rows)?);
        }
        for index in 0..self.blocks(Table::Aggregates).len() {
            let reader = self.block_reader(Table::Aggregates, index)?;
            out.aggregates
                .extend(self.aggregate_rows(&reader, i64::MIN, i64::MAX)?);
        }
        Ok(out)
    }
}
