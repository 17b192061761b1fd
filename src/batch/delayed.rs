//! Columnar batches of delayed metrics: the input of `Store::track_delayed_metrics_columns`, and
//! the form in which the write-ahead log and the head keep such a batch.
//!
//! A job that joins labels to predictions often has them as arrays: the prediction UUIDs, the
//! time each label became known, and one array per metric. Taking the arrays as they are saves
//! a metric list per row, and lets the store check each fixed-size column once instead of each
//! value.

use std::collections::HashSet;

use foldhash::fast::RandomState;
use uuid::Uuid;

use super::{MetricColumn, first_row_over_record_limit, validate_lengths};
use crate::error::{Error, Result};
use crate::record::{DelayedRecord, Seq};
use crate::value::{
    MAX_BYTES_LEN, MAX_METRICS_PER_RECORD, MAX_RECORD_BYTES, MAX_STRING_LEN, Metric, Metrics,
    duplicate_name, preview, validate_metric_name,
};

/// Input of `Store::track_delayed_metrics_columns`: delayed metrics for many predictions, one
/// array per field.
///
/// Row `i` contains the metrics that became known at `timestamps_ms[i]` for the prediction
/// `uuids[i]`, with the values at index `i` of each column, so every array must have the
/// length of `uuids`. A UUID may appear in several rows, as in several `NewDelayed` items.
///
/// ```
/// use modelmetrics::{MetricColumn, NewDelayedColumns, Uuid};
/// let batch = NewDelayedColumns {
///     uuids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
///     timestamps_ms: vec![5_000, 6_000],
///     metrics: vec![("label".into(), MetricColumn::Bool(vec![true, false]))],
/// };
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewDelayedColumns {
    pub uuids: Vec<Uuid>,
    pub timestamps_ms: Vec<i64>,
    /// Metric names with their columns. Each name appears once.
    pub metrics: Vec<(String, MetricColumn)>,
}

impl NewDelayedColumns {
    /// Returns the number of rows, the length of `uuids`.
    pub fn len(&self) -> usize {
        self.uuids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty()
    }

    /// Checks the batch against the limits that `track_delayed_metrics_batch` applies to the
    /// same rows, plus equal column lengths. The batch length is checked by the caller.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_lengths(&self.uuids, &self.timestamps_ms, &self.metrics)?;
        // The row call checks the metrics of each row, so with no rows it checks nothing.
        if self.is_empty() {
            return Ok(());
        }
        self.validate_metrics()?;
        self.validate_record_bytes()
    }

    /// Checks the metric count, the names and the length of each string or bytes value.
    fn validate_metrics(&self) -> Result<()> {
        if self.metrics.len() > MAX_METRICS_PER_RECORD {
            return Err(Error::invalid(
                "metrics",
                format!("{} metric columns", self.metrics.len()),
                format!(
                    "a record has at most {MAX_METRICS_PER_RECORD} metrics: \
                     track the other columns in a second call"
                ),
            ));
        }
        let mut names =
            HashSet::with_capacity_and_hasher(self.metrics.len(), RandomState::default());
        for (name, column) in &self.metrics {
            validate_metric_name(name)?;
            if !names.insert(name.as_str()) {
                return Err(duplicate_name(name));
            }
            validate_value_lengths(name, column)?;
        }
        Ok(())
    }

    /// Checks that each row's names and values fit in `MAX_RECORD_BYTES`, naming the first row
    /// over the limit.
    fn validate_record_bytes(&self) -> Result<()> {
        match first_row_over_record_limit(&self.metrics, self.len()) {
            Some((row, total)) => Err(Error::invalid(
                "metrics",
                format!("{total} bytes in row {row}"),
                format!(
                    "one record is at most {MAX_RECORD_BYTES} bytes of names and values: \
                     split the row's metrics over two calls"
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Checks the length of each string or bytes value of the column `name`, naming the first row
/// over the limit. A fixed-size column needs no check.
fn validate_value_lengths(name: &str, column: &MetricColumn) -> Result<()> {
    let (what, max, advice) = match column {
        MetricColumn::Str(_) => (
            "string value",
            MAX_STRING_LEN,
            ": store longer text as bytes",
        ),
        MetricColumn::Bytes(_) => ("bytes value", MAX_BYTES_LEN, ""),
        _ => return Ok(()),
    };
    let over = (0..column.len())
        .map(|row| (row, column.payload_len(row)))
        .find(|&(_, len)| len > max);
    match over {
        Some((row, len)) => Err(Error::invalid(
            what,
            format!(
                "{len} bytes in metric column {} at row {row}",
                preview(name)
            ),
            format!("a {what} is at most {max} bytes{advice}"),
        )),
        None => Ok(()),
    }
}

/// A columnar batch of delayed metrics as the write-ahead log and the head keep it: the
/// caller's arrays, with metric columns sorted by name, and the sequence number of the first
/// row. Row `i` has sequence number `first_seq + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayedColumnBatch {
    pub first_seq: Seq,
    pub uuids: Vec<Uuid>,
    pub timestamps_ms: Vec<i64>,
    pub metrics: Vec<(String, MetricColumn)>,
}

impl DelayedColumnBatch {
    /// Takes the arrays of a validated batch, with no sequence numbers assigned yet.
    pub(crate) fn new(batch: NewDelayedColumns) -> Self {
        DelayedColumnBatch {
            first_seq: 0,
            uuids: batch.uuids,
            timestamps_ms: batch.timestamps_ms,
            metrics: batch.metrics,
        }
    }

    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.uuids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty()
    }

    /// Returns the sequence number of the last row, or of the first for an empty batch.
    pub fn last_seq(&self) -> Seq {
        let rows = self.len().saturating_sub(1) as Seq;
        self.first_seq.saturating_add(rows)
    }

    /// Returns the sequence number of row `row`, or `None` past the end.
    pub(crate) fn seq_of(&self, row: usize) -> Option<Seq> {
        if row >= self.len() {
            return None;
        }
        self.first_seq.checked_add(row as Seq)
    }

    /// Sorts the metric columns by name, the order in which reads return metrics.
    pub(crate) fn sort_by_name(&mut self) {
        self.metrics.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Returns row `row` as a delayed record, or `None` past the end.
    pub fn row(&self, row: usize) -> Option<DelayedRecord> {
        let mut metrics = Vec::with_capacity(self.metrics.len());
        for (name, column) in &self.metrics {
            metrics.push(Metric {
                name: name.clone(),
                value: column.value(row)?,
            });
        }
        Some(DelayedRecord {
            seq: self.seq_of(row)?,
            uuid: *self.uuids.get(row)?,
            timestamp_ms: *self.timestamps_ms.get(row)?,
            metrics: Metrics(metrics),
        })
    }

    /// Returns the estimated heap bytes of the arrays.
    pub(crate) fn heap_bytes(&self) -> usize {
        /// Estimated heap bytes of a metric column beyond its values: name header and enum tag.
        const COLUMN_OVERHEAD: usize = 56;
        // Arrays count by capacity, as `MetricColumn::heap_bytes` explains.
        let rows = self.uuids.capacity() * 16 + self.timestamps_ms.capacity() * 8;
        let columns: usize = self
            .metrics
            .iter()
            .map(|(name, column)| name.len() + COLUMN_OVERHEAD + column.heap_bytes())
            .sum();
        rows + columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn labels(rows: usize) -> NewDelayedColumns {
        NewDelayedColumns {
            uuids: (0..rows as u128).map(Uuid::from_u128).collect(),
            timestamps_ms: (0..rows as i64).collect(),
            metrics: vec![
                (
                    "label".into(),
                    MetricColumn::Bool((0..rows).map(|i| i % 2 == 0).collect()),
                ),
                ("note".into(), MetricColumn::Str(vec![String::new(); rows])),
            ],
        }
    }

    fn invalid_input(result: Result<()>) -> (&'static str, String, String) {
        match result {
            Err(Error::InvalidInput {
                what,
                value,
                reason,
            }) => (what, value, reason),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn valid_batch_passes() {
        assert!(labels(3).validate().is_ok());
        assert!(labels(0).validate().is_ok());
    }

    #[test]
    fn empty_batch_skips_metric_checks() {
        let mut batch = labels(0);
        batch
            .metrics
            .push((String::new(), MetricColumn::F64(Vec::new())));
        assert!(batch.validate().is_ok());
    }

    #[test]
    fn short_column_names_metric_and_lengths() {
        let mut batch = labels(3);
        batch
            .metrics
            .push(("score".into(), MetricColumn::F64(vec![0.5])));
        let (what, value, reason) = invalid_input(batch.validate());
        assert_eq!(what, "metric column");
        assert!(value.contains("\"score\" has 1 values for 3"), "{value}");
        assert!(reason.contains("one value per prediction UUID"), "{reason}");
    }

    #[test]
    fn short_timestamps_are_rejected() {
        let mut batch = labels(3);
        batch.timestamps_ms.pop();
        let (what, value, _) = invalid_input(batch.validate());
        assert_eq!(what, "timestamps_ms");
        assert!(value.contains("2 values for 3"), "{value}");
    }

    #[test]
    fn long_string_names_column_and_row() {
        let mut batch = labels(4);
        let long = "x".repeat(MAX_STRING_LEN + 1);
        batch.metrics[1].1 = MetricColumn::Str(vec![String::new(), String::new(), long, "".into()]);
        let (what, value, reason) = invalid_input(batch.validate());
        assert_eq!(what, "string value");
        assert!(value.contains("\"note\" at row 2"), "{value}");
        assert!(
            value.contains(&format!("{} bytes", MAX_STRING_LEN + 1)),
            "{value}"
        );
        assert!(reason.contains("store longer text as bytes"), "{reason}");
    }

    #[test]
    fn long_bytes_value_names_row() {
        let mut batch = labels(2);
        let long = vec![0u8; MAX_BYTES_LEN + 1];
        batch.metrics[1].1 = MetricColumn::Bytes(vec![long, Vec::new()]);
        let (what, value, _) = invalid_input(batch.validate());
        assert_eq!(what, "bytes value");
        assert!(value.contains("at row 0"), "{value}");
    }

    #[test]
    fn oversized_row_is_named() {
        let mut batch = labels(3);
        let value = vec![0u8; MAX_BYTES_LEN];
        let column = || MetricColumn::Bytes(vec![Vec::new(), value.clone(), Vec::new()]);
        batch.metrics = (0..3).map(|i| (format!("b{i}"), column())).collect();
        let (what, value, reason) = invalid_input(batch.validate());
        assert_eq!(what, "metrics");
        assert!(value.contains("in row 1"), "{value}");
        assert!(reason.contains("split"), "{reason}");
    }

    #[test]
    fn bad_and_repeated_names_are_rejected() {
        let mut batch = labels(1);
        batch.metrics[1].0 = "label".into();
        let (what, value, _) = invalid_input(batch.validate());
        assert_eq!((what, value.as_str()), ("metric name", "\"label\""));

        let mut batch = labels(1);
        batch.metrics[0].0 = "tab\there".into();
        let (what, _, reason) = invalid_input(batch.validate());
        assert_eq!(what, "metric name");
        assert!(reason.contains("control characters"), "{reason}");
    }

    #[test]
    fn too_many_columns_are_rejected() {
        let mut batch = labels(1);
        batch.metrics = (0..=MAX_METRICS_PER_RECORD)
            .map(|i| (format!("m{i}"), MetricColumn::I64(vec![1])))
            .collect();
        let (what, value, _) = invalid_input(batch.validate());
        assert_eq!(what, "metrics");
        assert!(value.contains("1025 metric columns"), "{value}");
    }

    #[test]
    fn rows_number_from_first_seq() {
        let mut batch = DelayedColumnBatch::new(labels(3));
        batch.first_seq = 10;
        let row = batch.row(2).unwrap();
        assert_eq!(
            (row.seq, row.uuid, row.timestamp_ms),
            (12, Uuid::from_u128(2), 2)
        );
        assert_eq!(row.metrics.get("label"), Some(&Value::Bool(true)));
        assert_eq!(row.metrics.get("note"), Some(&Value::Str(String::new())));
        assert_eq!(batch.last_seq(), 12);
        assert!(batch.row(3).is_none());
        assert!(batch.seq_of(3).is_none());
    }
}
