//! Reads of an open segment: scans by model and window, and single rows by row number.

use std::iter::FusedIterator;
use std::ops::Range;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{
    AggregateRecord, DelayedRecord, PredictionKey, PredictionRecord, ResolvedDelayed, STORED_SEQ,
};
use crate::segment::Segment;
use crate::segment::block::BlockReader;
use crate::segment::layout::{FixedColumn, Table};

/// Streams the predictions of one model and window, one decoded block at a time.
///
/// Each item holds the rows of one block that fall in the window, in (timestamp, seq) order,
/// and is never empty. After an error the scan ends.
pub struct PredictionScan<'s> {
    segment: &'s Segment,
    blocks: Range<usize>,
    start_ms: i64,
    end_ms: i64,
}

impl Iterator for PredictionScan<'_> {
    type Item = Result<Vec<PredictionRecord>>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(index) = self.blocks.next() {
            let block = self.segment.blocks(Table::Predictions).get(index)?;
            if block.min_ts >= self.end_ms {
                // The blocks of a model are sorted by timestamp: none of the rest is in range.
                self.blocks = 0..0;
                return None;
            }
            if block.max_ts < self.start_ms {
                continue;
            }
            match self
                .segment
                .predictions_in_block(index, self.start_ms, self.end_ms)
            {
                Ok(rows) if rows.is_empty() => continue,
                Ok(rows) => return Some(Ok(rows)),
                Err(error) => {
                    self.blocks = 0..0;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

impl FusedIterator for PredictionScan<'_> {}

impl Segment {
    /// Decodes every block and checks every chunk's CRC, codec and row counts, and that each
    /// block's rows lie in the time range its footer entry records.
    pub fn verify(&self) -> Result<()> {
        for table in Table::ALL {
            for index in 0..self.blocks(table).len() {
                self.block_reader(table, index)?.verify()?;
            }
        }
        Ok(())
    }

    /// Returns the minimum and maximum timestamp of the predictions of `model`, or `None` when
    /// the segment has none. Reads only the footer.
    pub fn prediction_range(&self, model: &str) -> Option<(i64, i64)> {
        let range = self.model_blocks(Table::Predictions, model);
        let blocks = self.blocks(Table::Predictions).get(range)?;
        let min = blocks.iter().map(|b| b.min_ts).min()?;
        let max = blocks.iter().map(|b| b.max_ts).max()?;
        Some((min, max))
    }

    /// Streams the predictions of `model` with `start_ms <= timestamp_ms < end_ms`, a decoded
    /// block at a time, rows in (timestamp, seq) order.
    pub fn scan_predictions<'s>(
        &'s self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> PredictionScan<'s> {
        let blocks = if start_ms < end_ms {
            self.model_blocks(Table::Predictions, model)
        } else {
            0..0
        };
        PredictionScan {
            segment: self,
            blocks,
            start_ms,
            end_ms,
        }
    }

    /// Decodes the block of prediction row `row` and returns that row.
    pub fn prediction_at(&self, row: u32) -> Result<PredictionRecord> {
        let (index, position) = self.locate_row(Table::Predictions, row)?;
        let reader = self.block_reader(Table::Predictions, index)?;
        let rows = position..position + 1;
        let timestamps = reader.i64_rows(FixedColumn::Timestamp, rows.clone())?;
        let rows = self.prediction_rows(&reader, &timestamps, rows)?;
        rows.into_iter()
            .next()
            .ok_or_else(|| missing_row(self, Table::Predictions, row))
    }

    /// Returns the prediction UUID of prediction row `row`, read in place.
    ///
    /// The UUID column is stored raw, so this reads 16 bytes without decoding the block. The
    /// first read of a block checks the CRC of its whole UUID chunk (64 KiB for 4,096 rows).
    pub fn uuid_at(&self, row: u32) -> Result<Uuid> {
        let (index, position) = self.locate_row(Table::Predictions, row)?;
        let reader = self.block_reader(Table::Predictions, index)?;
        self.check_uuids_once(&reader, Table::Predictions, index)?;
        reader.uuid_at(position)
    }

    /// Returns the prediction UUID of orphan row `row` of the delayed table, read in place
    /// like `uuid_at`. A resolved row stores no UUID, so naming one is an error.
    pub fn orphan_uuid_at(&self, row: u32) -> Result<Uuid> {
        let (index, position) = self.locate_row(Table::Delayed, row)?;
        let reader = self.block_reader(Table::Delayed, index)?;
        if reader.model().is_some() {
            let reason = format!(
                "delayed row {row} is resolved and stores no UUID, but was asked for as an orphan"
            );
            return Err(Error::corruption(self.path(), 0, reason));
        }
        self.check_uuids_once(&reader, Table::Delayed, index)?;
        reader.uuid_at(position)
    }

    /// Returns the resolved delayed records whose prediction belongs to `model` and has
    /// `start_ms <= timestamp_ms < end_ms`, in (prediction timestamp, prediction seq, seq) order.
    /// Each record's UUID is nil: match it to its prediction by `PredictionKey::seq`.
    pub fn delayed_for(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ResolvedDelayed>> {
        if start_ms >= end_ms {
            return Ok(Vec::new());
        }
        self.delayed_between(model, start_ms, end_ms - 1)
    }

    /// Returns the resolved delayed records of the prediction of `model` at `timestamp_ms`
    /// with sequence number `seq`, in seq order.
    pub fn delayed_of(
        &self,
        model: &str,
        timestamp_ms: i64,
        seq: u64,
    ) -> Result<Vec<ResolvedDelayed>> {
        let mut rows = self.delayed_between(model, timestamp_ms, timestamp_ms)?;
        rows.retain(|d| d.prediction.as_ref().is_some_and(|key| key.seq == seq));
        Ok(rows)
    }

    /// Like `delayed_for`, over the inclusive range `first_ms ..= last_ms`.
    fn delayed_between(
        &self,
        model: &str,
        first_ms: i64,
        last_ms: i64,
    ) -> Result<Vec<ResolvedDelayed>> {
        let mut out = Vec::new();
        for index in self.model_blocks(Table::Delayed, model) {
            let Some(block) = self.blocks(Table::Delayed).get(index) else {
                break;
            };
            if block.min_ts > last_ms {
                break;
            }
            if block.max_ts < first_ms {
                continue;
            }
            let reader = self.block_reader(Table::Delayed, index)?;
            // Orphan blocks have no model, so the blocks of a model are all resolved.
            let Some(model) = reader.model() else {
                continue;
            };
            let column = FixedColumn::PredictionTimestamp;
            let found = reader.rows_between(column, |t| t < first_ms, |t| t <= last_ms)?;
            if found.rows.is_empty() {
                continue;
            }
            let targets = DelayedTargets::Resolved {
                model,
                first_row: found.rows.start,
                seqs: reader.u64_rows(FixedColumn::PredictionSeq, found.rows.clone())?,
                timestamps: found.values,
            };
            out.extend(self.delayed_rows(&reader, &targets, found.rows)?);
        }
        Ok(out)
    }

    /// Decodes the block of delayed row `row` and returns that row. A resolved row has a nil
    /// UUID, and an orphan has its prediction UUID.
    pub fn delayed_at(&self, row: u32) -> Result<ResolvedDelayed> {
        let (index, position) = self.locate_row(Table::Delayed, row)?;
        let reader = self.block_reader(Table::Delayed, index)?;
        let targets = DelayedTargets::decode(&reader)?;
        let rows = self.delayed_rows(&reader, &targets, position..position + 1)?;
        rows.into_iter()
            .next()
            .ok_or_else(|| missing_row(self, Table::Delayed, row))
    }

    /// Returns the delayed records whose prediction was unknown when the segment was written,
    /// in (delayed timestamp, UUID, seq) order.
    pub fn orphans(&self) -> Result<Vec<ResolvedDelayed>> {
        let blocks = self.blocks(Table::Delayed);
        let first_orphan = blocks.partition_point(|b| b.model.is_some());
        let mut out = Vec::new();
        for index in first_orphan..blocks.len() {
            let reader = self.block_reader(Table::Delayed, index)?;
            let targets = DelayedTargets::decode(&reader)?;
            out.extend(self.delayed_rows(&reader, &targets, 0..reader.rows())?);
        }
        Ok(out)
    }

    /// Returns the aggregate records of `model` whose window overlaps `[start_ms, end_ms)`, in
    /// (start, end, seq) order.
    pub fn aggregates(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AggregateRecord>> {
        let mut out = Vec::new();
        if start_ms >= end_ms {
            return Ok(out);
        }
        for index in self.model_blocks(Table::Aggregates, model) {
            let Some(block) = self.blocks(Table::Aggregates).get(index) else {
                break;
            };
            if block.min_ts >= end_ms {
                break;
            }
            if block.max_ts <= start_ms {
                continue;
            }
            let reader = self.block_reader(Table::Aggregates, index)?;
            out.extend(self.aggregate_rows(&reader, start_ms, end_ms)?);
        }
        Ok(out)
    }

    fn predictions_in_block(
        &self,
        index: usize,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<PredictionRecord>> {
        let reader = self.block_reader(Table::Predictions, index)?;
        let column = FixedColumn::Timestamp;
        let found = reader.rows_between(column, |t| t < start_ms, |t| t < end_ms)?;
        if found.rows.is_empty() {
            return Ok(Vec::new());
        }
        self.prediction_rows(&reader, &found.values, found.rows)
    }

    /// Decodes the block's other columns in `rows` and returns the records of `rows`, whose
    /// timestamps are `timestamps`.
    pub(super) fn prediction_rows(
        &self,
        reader: &BlockReader<'_>,
        timestamps: &[i64],
        rows: Range<usize>,
    ) -> Result<Vec<PredictionRecord>> {
        let model = block_model(self, reader)?;
        let seqs = reader.u64_rows(FixedColumn::Seq, rows.clone())?;
        let mut uuids = Vec::with_capacity(rows.len());
        reader.uuids_into(rows.clone(), &mut uuids)?;
        let metrics = reader.metrics(rows)?;
        let fixed = seqs.iter().zip(timestamps).zip(&uuids);
        let records = fixed
            .zip(metrics)
            .map(|(((seq, timestamp), uuid), metrics)| PredictionRecord {
                seq: *seq,
                model: model.to_owned(),
                uuid: *uuid,
                timestamp_ms: *timestamp,
                metrics,
            });
        Ok(records.collect())
    }

    /// Decodes the block's other columns and returns the records of `rows`.
    pub(super) fn delayed_rows(
        &self,
        reader: &BlockReader<'_>,
        targets: &DelayedTargets<'_>,
        rows: Range<usize>,
    ) -> Result<Vec<ResolvedDelayed>> {
        // Only orphan blocks store each row's seq; see `record::STORED_SEQ`.
        let seqs = match targets {
            DelayedTargets::Orphans(_) => reader.u64_rows(FixedColumn::Seq, rows.clone())?,
            DelayedTargets::Resolved { .. } => vec![STORED_SEQ; rows.len()],
        };
        let timestamps = reader.i64_rows(FixedColumn::DelayedTimestamp, rows.clone())?;
        let metrics = reader.metrics(rows.clone())?;
        let fixed = rows.zip(seqs.iter().zip(&timestamps));
        let mut out = Vec::with_capacity(metrics.len());
        for ((row, (seq, timestamp)), metrics) in fixed.zip(metrics) {
            let Some((uuid, prediction)) = targets.row(row) else {
                let reason = format!("delayed block {} lacks row {row}", reader.index);
                return Err(Error::corruption(self.path(), 0, reason));
            };
            let record = DelayedRecord {
                seq: *seq,
                uuid,
                timestamp_ms: *timestamp,
                metrics,
            };
            out.push(ResolvedDelayed { record, prediction });
        }
        Ok(out)
    }

    pub(super) fn aggregate_rows(
        &self,
        reader: &BlockReader<'_>,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AggregateRecord>> {
        let model = block_model(self, reader)?;
        let starts = reader.i64_column(FixedColumn::Start)?;
        let ends = reader.i64_column(FixedColumn::End)?;
        let overlapping = |(s, e): &(&i64, &i64)| **s < end_ms && **e > start_ms;
        let Some(first) = starts.iter().zip(&ends).position(|pair| overlapping(&pair)) else {
            return Ok(Vec::new());
        };
        let last = starts
            .iter()
            .zip(&ends)
            .rposition(|pair| overlapping(&pair))
            .unwrap_or(first);
        let seqs = reader.seq_column()?;
        let metrics = reader.metrics(first..last + 1)?;
        let fixed = seqs.iter().zip(&starts).zip(&ends).skip(first);
        let records = fixed
            .zip(metrics)
            .filter(|(((_, s), e), _)| overlapping(&(*s, *e)));
        let records = records.map(|(((seq, start), end), metrics)| AggregateRecord {
            seq: *seq,
            model: model.to_owned(),
            start_ms: *start,
            end_ms: *end,
            metrics,
        });
        Ok(records.collect())
    }
}

/// The fixed columns of a delayed block that name each row's prediction.
pub(super) enum DelayedTargets<'s> {
    /// A resolved block: the model, and the prediction timestamp and prediction seq of each
    /// row from `first_row` on.
    Resolved {
        model: &'s str,
        first_row: usize,
        timestamps: Vec<i64>,
        seqs: Vec<u64>,
    },
    /// A block of orphans: each row's prediction UUID.
    Orphans(Vec<Uuid>),
}

impl<'s> DelayedTargets<'s> {
    pub(super) fn decode(reader: &BlockReader<'s>) -> Result<Self> {
        Ok(match reader.model() {
            Some(model) => DelayedTargets::Resolved {
                model,
                first_row: 0,
                timestamps: reader.i64_column(FixedColumn::PredictionTimestamp)?,
                seqs: reader.u64_column(FixedColumn::PredictionSeq)?,
            },
            None => DelayedTargets::Orphans(reader.uuid_column()?),
        })
    }

    /// Returns the record UUID and the prediction key of `row`: a nil UUID and the key for a
    /// resolved row, the UUID and no key for an orphan.
    fn row(&self, row: usize) -> Option<(Uuid, Option<PredictionKey>)> {
        match self {
            DelayedTargets::Resolved {
                model,
                first_row,
                timestamps,
                seqs,
            } => {
                let position = row.checked_sub(*first_row)?;
                let key = PredictionKey {
                    model: (*model).to_owned(),
                    timestamp_ms: *timestamps.get(position)?,
                    seq: *seqs.get(position)?,
                };
                Some((Uuid::nil(), Some(key)))
            }
            DelayedTargets::Orphans(uuids) => Some((*uuids.get(row)?, None)),
        }
    }
}

fn block_model<'s>(segment: &Segment, reader: &BlockReader<'s>) -> Result<&'s str> {
    reader.model().ok_or_else(|| {
        let reason = format!(
            "{} block {} has no model",
            reader.table.name(),
            reader.index
        );
        Error::corruption(segment.path(), 0, reason)
    })
}

fn missing_row(segment: &Segment, table: Table, row: u32) -> Error {
    let reason = format!("{} row {row} is missing from its block", table.name());
    Error::corruption(segment.path(), 0, reason)
}

/// The decoded timestamp and seq columns of one prediction block.
struct KeyColumns {
    block: usize,
    timestamps: Vec<i64>,
    seqs: Vec<u64>,
}

impl KeyColumns {
    fn at(&self, position: usize) -> Option<(i64, u64)> {
        Some((*self.timestamps.get(position)?, *self.seqs.get(position)?))
    }
}

impl Segment {
    /// Returns, for each prediction row in `rows`, its UUID and its key (model, timestamp and
    /// seq). Decodes only the timestamp and seq columns, once per block, so resolving many rows
    /// is cheap.
    pub fn prediction_keys(&self, rows: &[u32]) -> Result<Vec<(Uuid, PredictionKey)>> {
        let mut sorted = rows.to_vec();
        sorted.sort_unstable();
        let mut keys = Vec::with_capacity(sorted.len());
        let mut cached: Option<KeyColumns> = None;
        for row in sorted {
            let (index, position) = self.locate_row(Table::Predictions, row)?;
            let reader = self.block_reader(Table::Predictions, index)?;
            if cached.as_ref().is_none_or(|columns| columns.block != index) {
                cached = Some(KeyColumns {
                    block: index,
                    timestamps: reader.i64_column(FixedColumn::Timestamp)?,
                    seqs: reader.seq_column()?,
                });
            }
            let (timestamp, seq) = cached
                .as_ref()
                .and_then(|columns| columns.at(position))
                .ok_or_else(|| missing_row(self, Table::Predictions, row))?;
            let model = self
                .blocks(Table::Predictions)
                .get(index)
                .and_then(|block| block.model)
                .and_then(|m| self.footer.models.get(m as usize))
                .ok_or_else(|| missing_row(self, Table::Predictions, row))?;
            keys.push((
                reader.uuid_at(position)?,
                PredictionKey {
                    model: model.clone(),
                    timestamp_ms: timestamp,
                    seq,
                },
            ));
        }
        Ok(keys)
    }
}
