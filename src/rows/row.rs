//! One prediction of a scan, borrowed from the columns of the slice it was decoded in.

use std::fmt;

use uuid::Uuid;

use super::ValueRef;
use super::named::{self, NamedColumn};
use crate::record::Prediction;
use crate::value::{Metric, Metrics};

/// A prediction as `Store::scan_metrics` visits it: the fields of a [`Prediction`], borrowed
/// from the decoded window instead of copied into one.
///
/// The row lives only during the call that receives it. `to_prediction` copies it into an
/// owned `Prediction` equal to the one `read_metrics` returns.
///
/// The row is two words, a reference to its slice and its index there, so handing it to the
/// visitor copies two words per row.
#[derive(Clone, Copy)]
pub struct PredictionRef<'a> {
    slice: &'a SliceRows<'a>,
    /// The row's index in the slice's columns, below `slice.uuids.len()`.
    row: usize,
}

/// The decoded columns of one slice of a scan, shared by its rows.
pub(super) struct SliceRows<'a> {
    pub model: &'a str,
    pub uuids: &'a [Uuid],
    pub timestamps: &'a [i64],
    /// The inline metrics that some row of the slice has, sorted by name.
    pub metrics: Vec<NamedColumn<'a>>,
    /// The delayed metrics that some row of the slice has, sorted by name.
    pub delayed: Vec<NamedColumn<'a>>,
}

impl<'a> SliceRows<'a> {
    /// Returns row `row`, which must be below `self.uuids.len()`.
    #[inline]
    pub fn row(&'a self, row: usize) -> PredictionRef<'a> {
        debug_assert!(row < self.uuids.len() && row < self.timestamps.len());
        PredictionRef { slice: self, row }
    }
}

impl<'a> PredictionRef<'a> {
    #[inline]
    pub fn model(&self) -> &'a str {
        self.slice.model
    }

    #[inline]
    pub fn uuid(&self) -> Uuid {
        // `SliceRows::row` hands out rows below the column lengths only.
        self.slice.uuids.get(self.row).copied().unwrap_or_default()
    }

    #[inline]
    pub fn timestamp_ms(&self) -> i64 {
        self.slice
            .timestamps
            .get(self.row)
            .copied()
            .unwrap_or_default()
    }

    /// Returns the inline metrics, sorted by name.
    #[inline]
    pub fn metrics(&self) -> MetricsRef<'a> {
        MetricsRef {
            columns: self.slice.metrics.iter(),
            row: self.row,
        }
    }

    /// Returns the latest value of each delayed metric tracked for the prediction, sorted by
    /// name.
    #[inline]
    pub fn delayed(&self) -> MetricsRef<'a> {
        MetricsRef {
            columns: self.slice.delayed.iter(),
            row: self.row,
        }
    }

    /// Returns the value of the inline metric `name`, or `None` when the prediction lacks it.
    #[inline]
    pub fn metric(&self, name: &str) -> Option<ValueRef<'a>> {
        named::find(&self.slice.metrics, name)?.get_ref(self.row)
    }

    /// Returns the latest value of the delayed metric `name`, or `None` when none was tracked.
    #[inline]
    pub fn delayed_metric(&self, name: &str) -> Option<ValueRef<'a>> {
        named::find(&self.slice.delayed, name)?.get_ref(self.row)
    }

    /// Copies the row into an owned [`Prediction`].
    pub fn to_prediction(&self) -> Prediction {
        Prediction {
            model: self.model().to_owned(),
            uuid: self.uuid(),
            timestamp_ms: self.timestamp_ms(),
            metrics: self.metrics().to_metrics(),
            delayed: self.delayed().to_metrics(),
        }
    }
}

/// Shows the fields of the row alone, not the slice it borrows from.
impl fmt::Debug for PredictionRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PredictionRef")
            .field("model", &self.model())
            .field("uuid", &self.uuid())
            .field("timestamp_ms", &self.timestamp_ms())
            .field("metrics", &self.metrics())
            .field("delayed", &self.delayed())
            .finish()
    }
}

/// The metrics of one [`PredictionRef`]: an iterator over `(name, value)` pairs in name order.
#[derive(Clone)]
pub struct MetricsRef<'a> {
    columns: std::slice::Iter<'a, NamedColumn<'a>>,
    row: usize,
}

impl MetricsRef<'_> {
    /// Copies the remaining metrics into an owned [`Metrics`].
    pub fn to_metrics(&self) -> Metrics {
        let copies = self.clone().map(|(name, value)| Metric {
            name: name.to_owned(),
            value: value.to_value(),
        });
        Metrics(copies.collect())
    }
}

/// Shows the remaining metrics as a map from name to value.
impl fmt::Debug for MetricsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

impl<'a> Iterator for MetricsRef<'a> {
    type Item = (&'a str, ValueRef<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let row = self.row;
        self.columns
            .find_map(|named| Some((named.name, named.column.get_ref(row)?)))
    }
}
