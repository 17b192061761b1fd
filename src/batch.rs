//! Columnar batches of predictions: the input of `Store::track_metrics_columns`, and the form
//! in which the write-ahead log and the head keep such a batch.
//!
//! A batch-scoring job keeps its predictions as one array per feature. Taking the arrays as
//! they are saves a heap allocation per metric and per row, and lets the store check each
//! fixed-size column once instead of each value. The `delayed` module does the same for
//! delayed metrics.

mod delayed;

use std::collections::HashSet;

use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{PredictionKey, PredictionRecord, Seq};
use crate::value::{
    MAX_METRICS_PER_RECORD, MAX_RECORD_BYTES, Metric, Metrics, Value, duplicate_name, preview,
    validate_bytes_len, validate_metric_name, validate_model, validate_string_len,
};

pub use delayed::{DelayedColumnBatch, NewDelayedColumns};

/// The values of one metric for every prediction of a batch, one entry per row.
#[derive(Clone, Debug)]
pub enum MetricColumn {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Bytes(Vec<Vec<u8>>),
}

impl MetricColumn {
    /// Returns the number of values.
    pub fn len(&self) -> usize {
        match self {
            MetricColumn::F64(values) => values.len(),
            MetricColumn::I64(values) => values.len(),
            MetricColumn::Bool(values) => values.len(),
            MetricColumn::Str(values) => values.len(),
            MetricColumn::Bytes(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns a copy of the value at `row`, or `None` past the end.
    pub fn value(&self, row: usize) -> Option<Value> {
        match self {
            MetricColumn::F64(values) => values.get(row).map(|&v| Value::F64(v)),
            MetricColumn::I64(values) => values.get(row).map(|&v| Value::I64(v)),
            MetricColumn::Bool(values) => values.get(row).map(|&v| Value::Bool(v)),
            MetricColumn::Str(values) => values.get(row).map(|v| Value::Str(v.clone())),
            MetricColumn::Bytes(values) => values.get(row).map(|v| Value::Bytes(v.clone())),
        }
    }

    /// Returns the payload bytes of each value when they are the same for every row, as
    /// `Value::payload_len` counts them: 8 for f64 and i64, 1 for bool, `None` for strings and
    /// bytes.
    fn fixed_payload_len(&self) -> Option<usize> {
        match self {
            MetricColumn::F64(_) | MetricColumn::I64(_) => Some(8),
            MetricColumn::Bool(_) => Some(1),
            MetricColumn::Str(_) | MetricColumn::Bytes(_) => None,
        }
    }

    /// Returns the payload bytes of the value at `row` (0 past the end).
    fn payload_len(&self, row: usize) -> usize {
        match self {
            MetricColumn::Str(values) => values.get(row).map_or(0, String::len),
            MetricColumn::Bytes(values) => values.get(row).map_or(0, Vec::len),
            _ => self.fixed_payload_len().unwrap_or_default(),
        }
    }

    /// Returns the payload bytes of all values, as `Value::payload_len` counts them.
    pub(crate) fn payload_bytes(&self) -> usize {
        match self.fixed_payload_len() {
            Some(len) => self.len() * len,
            None => (0..self.len()).map(|row| self.payload_len(row)).sum(),
        }
    }

    /// Returns the estimated heap bytes of the column, used to size the head.
    ///
    /// Each array counts by its capacity, not its length: the head keeps the caller's arrays
    /// as they are, and a batch built in buffers reserved for more rows occupies all of them.
    fn heap_bytes(&self) -> usize {
        /// Bytes of a `String` or `Vec<u8>` header in the column's array: pointer, length and
        /// capacity.
        const VALUE_HEADER: usize = 24;
        match self {
            MetricColumn::F64(values) => values.capacity() * 8,
            MetricColumn::I64(values) => values.capacity() * 8,
            MetricColumn::Bool(values) => values.capacity(),
            MetricColumn::Str(values) => {
                let contents: usize = values.iter().map(String::capacity).sum();
                values.capacity() * VALUE_HEADER + contents
            }
            MetricColumn::Bytes(values) => {
                let contents: usize = values.iter().map(Vec::capacity).sum();
                values.capacity() * VALUE_HEADER + contents
            }
        }
    }

    /// Checks the length of each string or bytes value. A fixed-size column needs no check.
    fn validate_values(&self, name: &str) -> Result<()> {
        match self {
            MetricColumn::Str(values) => values
                .iter()
                .try_for_each(|v| validate_string_len(name, v.len())),
            MetricColumn::Bytes(values) => values
                .iter()
                .try_for_each(|v| validate_bytes_len(name, v.len())),
            _ => Ok(()),
        }
    }
}

/// Compares floats by their bits, as `Value` does, so that NaN equals itself.
impl PartialEq for MetricColumn {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MetricColumn::F64(a), MetricColumn::F64(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (MetricColumn::I64(a), MetricColumn::I64(b)) => a == b,
            (MetricColumn::Bool(a), MetricColumn::Bool(b)) => a == b,
            (MetricColumn::Str(a), MetricColumn::Str(b)) => a == b,
            (MetricColumn::Bytes(a), MetricColumn::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for MetricColumn {}

/// Input of `Store::track_metrics_columns`: predictions of one model, one array per field.
///
/// Row `i` is the prediction `uuids[i]` at `timestamps_ms[i]` with the metric values at index
/// `i` of each column, so every array must have the length of `uuids`.
///
/// ```
/// use modelmetrics::{MetricColumn, NewPredictionColumns, Uuid};
/// let batch = NewPredictionColumns {
///     model: "fraud".into(),
///     uuids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
///     timestamps_ms: vec![1_000, 2_000],
///     metrics: vec![("score".into(), MetricColumn::F64(vec![0.1, 0.9]))],
/// };
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewPredictionColumns {
    pub model: String,
    pub uuids: Vec<Uuid>,
    pub timestamps_ms: Vec<i64>,
    /// Metric names with their columns. Each name appears once.
    pub metrics: Vec<(String, MetricColumn)>,
}

impl NewPredictionColumns {
    /// Returns the number of predictions, the length of `uuids`.
    pub fn len(&self) -> usize {
        self.uuids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty()
    }

    /// Checks the batch against the limits that `track_metrics_batch` applies to the same
    /// rows, plus equal column lengths and distinct metric names. The batch length is checked
    /// by the caller.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_lengths(&self.uuids, &self.timestamps_ms, &self.metrics)?;
        if self.is_empty() {
            return Ok(());
        }
        validate_model(&self.model)?;
        self.validate_metrics()?;
        self.validate_record_bytes()?;
        self.validate_unique_uuids()
    }

    /// Checks the metric count, the names and the length of each string or bytes value.
    fn validate_metrics(&self) -> Result<()> {
        if self.metrics.len() > MAX_METRICS_PER_RECORD {
            return Err(Error::invalid(
                "metrics",
                format!("{} metrics", self.metrics.len()),
                format!("a record has at most {MAX_METRICS_PER_RECORD} metrics"),
            ));
        }
        let mut names =
            HashSet::with_capacity_and_hasher(self.metrics.len(), RandomState::default());
        for (name, column) in &self.metrics {
            validate_metric_name(name)?;
            if !names.insert(name.as_str()) {
                return Err(duplicate_name(name));
            }
            column.validate_values(name)?;
        }
        Ok(())
    }

    /// Checks that each row's names and values fit in `MAX_RECORD_BYTES`. The error names the
    /// first row over the limit, as the row call, which checks rows in order, does.
    fn validate_record_bytes(&self) -> Result<()> {
        match first_row_over_record_limit(&self.metrics, self.len()) {
            Some((_, total)) => Err(Error::invalid(
                "metrics",
                format!("{total} bytes"),
                format!("one record is at most {MAX_RECORD_BYTES} bytes of names and values"),
            )),
            None => Ok(()),
        }
    }

    fn validate_unique_uuids(&self) -> Result<()> {
        let mut seen = HashSet::with_capacity_and_hasher(self.len(), RandomState::default());
        for uuid in &self.uuids {
            if !seen.insert(*uuid) {
                return Err(Error::invalid(
                    "batch",
                    uuid.to_string(),
                    "the prediction UUID appears twice in one batch",
                ));
            }
        }
        Ok(())
    }
}

/// Returns the first row whose metric names and values exceed `MAX_RECORD_BYTES`, with its
/// byte count. Rows differ only in their string and bytes values, so without such columns the
/// first row stands for every row.
fn first_row_over_record_limit(
    metrics: &[(String, MetricColumn)],
    rows: usize,
) -> Option<(usize, usize)> {
    let fixed: usize = metrics
        .iter()
        .map(|(name, column)| name.len() + column.fixed_payload_len().unwrap_or_default())
        .sum();
    let variable: Vec<&MetricColumn> = metrics
        .iter()
        .map(|(_, column)| column)
        .filter(|column| column.fixed_payload_len().is_none())
        .collect();
    let rows = if variable.is_empty() {
        rows.min(1)
    } else {
        rows
    };
    (0..rows)
        .map(|row| {
            let row_bytes: usize = variable.iter().map(|c| c.payload_len(row)).sum();
            (row, fixed + row_bytes)
        })
        .find(|&(_, total)| total > MAX_RECORD_BYTES)
}

/// Checks that the timestamps and every metric column have one value per UUID.
fn validate_lengths(
    uuids: &[Uuid],
    timestamps_ms: &[i64],
    metrics: &[(String, MetricColumn)],
) -> Result<()> {
    let rows = uuids.len();
    if timestamps_ms.len() != rows {
        return Err(length_mismatch("timestamps_ms", timestamps_ms.len(), rows));
    }
    for (name, column) in metrics {
        if column.len() != rows {
            return Err(length_mismatch_of_metric(name, column.len(), rows));
        }
    }
    Ok(())
}

fn length_mismatch(field: &'static str, len: usize, rows: usize) -> Error {
    Error::invalid(
        field,
        format!("{len} values for {rows} prediction UUIDs"),
        "give every column one value per prediction UUID",
    )
}

fn length_mismatch_of_metric(name: &str, len: usize, rows: usize) -> Error {
    Error::invalid(
        "metric column",
        format!(
            "{} has {len} values for {rows} prediction UUIDs",
            preview(name)
        ),
        "give every column one value per prediction UUID",
    )
}

/// A columnar batch of predictions as the write-ahead log and the head keep it: the caller's
/// arrays, with metric columns sorted by name, and the sequence number of the first row. Row
/// `i` has sequence number `first_seq + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnBatch {
    pub first_seq: Seq,
    pub model: String,
    pub uuids: Vec<Uuid>,
    pub timestamps_ms: Vec<i64>,
    pub metrics: Vec<(String, MetricColumn)>,
}

impl ColumnBatch {
    /// Takes the arrays of a validated batch, with no sequence numbers assigned yet.
    pub(crate) fn new(batch: NewPredictionColumns) -> Self {
        ColumnBatch {
            first_seq: 0,
            model: batch.model,
            uuids: batch.uuids,
            timestamps_ms: batch.timestamps_ms,
            metrics: batch.metrics,
        }
    }

    /// Returns the number of predictions.
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

    /// Sorts the metric columns by name, the order in which reads return metrics.
    pub(crate) fn sort_by_name(&mut self) {
        self.metrics.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Returns row `row` as a prediction record, or `None` past the end.
    pub fn row(&self, row: usize) -> Option<PredictionRecord> {
        let key = self.key(row)?;
        let mut metrics = Vec::with_capacity(self.metrics.len());
        for (name, column) in &self.metrics {
            let value = column.value(row)?;
            metrics.push(Metric {
                name: name.clone(),
                value,
            });
        }
        Some(PredictionRecord {
            seq: key.seq,
            model: key.model,
            uuid: *self.uuids.get(row)?,
            timestamp_ms: key.timestamp_ms,
            metrics: Metrics(metrics),
        })
    }

    /// Returns the model, timestamp and seq of row `row`, or `None` past the end.
    pub(crate) fn key(&self, row: usize) -> Option<PredictionKey> {
        Some(PredictionKey {
            model: self.model.clone(),
            timestamp_ms: *self.timestamps_ms.get(row)?,
            seq: self.first_seq.checked_add(row as Seq)?,
        })
    }

    /// Returns the timestamp and seq of row `row`, or `None` past the end.
    pub(crate) fn time_and_seq(&self, row: usize) -> Option<(i64, Seq)> {
        let timestamp = *self.timestamps_ms.get(row)?;
        Some((timestamp, self.first_seq.checked_add(row as Seq)?))
    }

    /// Returns the estimated heap bytes of the batch, the head's UUID map entries of its rows
    /// included.
    pub(crate) fn heap_bytes(&self) -> usize {
        /// Estimated heap bytes per row of the head's UUID map: a 16-byte key, a 12-byte row
        /// reference and a control byte, in a table between half full and 7/8 full.
        const UUID_MAP_ENTRY: usize = 40;
        /// Estimated heap bytes of a metric column beyond its values: name header and enum tag.
        const COLUMN_OVERHEAD: usize = 56;
        let arrays = self.uuids.capacity() * 16 + self.timestamps_ms.capacity() * 8;
        let rows = arrays + self.len() * UUID_MAP_ENTRY;
        let columns: usize = self
            .metrics
            .iter()
            .map(|(name, column)| name.len() + COLUMN_OVERHEAD + column.heap_bytes())
            .sum();
        self.model.len() + rows + columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_bytes_count_spare_capacity() {
        let mut floats = Vec::with_capacity(1_000);
        floats.push(1.0);
        assert_eq!(MetricColumn::F64(floats).heap_bytes(), 8_000);
        let mut strings = Vec::with_capacity(10);
        strings.push(String::with_capacity(500));
        let bytes = MetricColumn::Str(strings).heap_bytes();
        assert_eq!(bytes, 10 * 24 + 500);
    }

    #[test]
    fn record_limit_names_first_row_over() {
        let big = MAX_RECORD_BYTES;
        let metrics = vec![(
            "blob".to_owned(),
            MetricColumn::Bytes(vec![vec![0; 8], vec![0; big + 10], vec![0; big + 20]]),
        )];
        let over = first_row_over_record_limit(&metrics, 3);
        assert_eq!(over, Some((1, 4 + big + 10)));
        let fits = vec![("score".to_owned(), MetricColumn::F64(vec![0.5; 3]))];
        assert_eq!(first_row_over_record_limit(&fits, 3), None);
    }

    #[test]
    fn batch_heap_bytes_count_spare_capacity() {
        let full = ColumnBatch::new(NewPredictionColumns {
            model: "m".into(),
            uuids: vec![Uuid::from_u128(1)],
            timestamps_ms: vec![0],
            metrics: vec![],
        });
        let mut uuids = Vec::with_capacity(1_000);
        uuids.push(Uuid::from_u128(1));
        let reserved = ColumnBatch::new(NewPredictionColumns {
            model: "m".into(),
            uuids,
            timestamps_ms: vec![0],
            metrics: vec![],
        });
        assert_eq!(reserved.heap_bytes() - full.heap_bytes(), 999 * 16);
    }
}
