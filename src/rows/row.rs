//! One prediction of a scan, borrowed from the columns of the slice it was decoded in.

use uuid::Uuid;

use super::ValueRef;
use crate::columns::Column;
use crate::record::Prediction;
use crate::value::{Metric, Metrics};

/// A prediction as `Store::scan_metrics` visits it: the fields of a [`Prediction`], borrowed
/// from the decoded window instead of copied into one.
///
/// The row lives only during the call that receives it. `to_prediction` copies it into an
/// owned `Prediction` equal to the one `read_metrics` returns.
#[derive(Clone, Copy, Debug)]
pub struct PredictionRef<'a> {
    pub(super) model: &'a str,
    pub(super) uuid: Uuid,
    pub(super) timestamp_ms: i64,
    /// The row's index in the slice's columns.
    pub(super) row: usize,
    pub(super) metrics: &'a [(&'a str, &'a Column)],
    pub(super) delayed: &'a [(&'a str, &'a Column)],
}

impl<'a> PredictionRef<'a> {
    #[inline]
    pub fn model(&self) -> &'a str {
        self.model
    }

    #[inline]
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    #[inline]
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// Returns the inline metrics, sorted by name.
    #[inline]
    pub fn metrics(&self) -> MetricsRef<'a> {
        MetricsRef {
            columns: self.metrics.iter(),
            row: self.row,
        }
    }

    /// Returns the latest value of each delayed metric tracked for the prediction, sorted by
    /// name.
    #[inline]
    pub fn delayed(&self) -> MetricsRef<'a> {
        MetricsRef {
            columns: self.delayed.iter(),
            row: self.row,
        }
    }

    /// Returns the value of the inline metric `name`, or `None` when the prediction lacks it.
    #[inline]
    pub fn metric(&self, name: &str) -> Option<ValueRef<'a>> {
        find(self.metrics, name)?.get_ref(self.row)
    }

    /// Returns the latest value of the delayed metric `name`, or `None` when none was tracked.
    #[inline]
    pub fn delayed_metric(&self, name: &str) -> Option<ValueRef<'a>> {
        find(self.delayed, name)?.get_ref(self.row)
    }

    /// Copies the row into an owned [`Prediction`].
    pub fn to_prediction(&self) -> Prediction {
        Prediction {
            model: self.model.to_owned(),
            uuid: self.uuid,
            timestamp_ms: self.timestamp_ms,
            metrics: self.metrics().to_metrics(),
            delayed: self.delayed().to_metrics(),
        }
    }
}

/// Columns up to this count are searched in order, comparing lengths before bytes, which
/// settles most names without a call to `memcmp`. Longer lists are searched by bisection.
const LINEAR_SEARCH_MAX: usize = 8;

#[inline]
fn find<'a>(columns: &'a [(&'a str, &'a Column)], name: &str) -> Option<&'a Column> {
    if columns.len() <= LINEAR_SEARCH_MAX {
        let same = |column_name: &str| column_name.len() == name.len() && column_name == name;
        let found = columns.iter().find(|(column_name, _)| same(column_name));
        return found.map(|(_, column)| *column);
    }
    let found = columns.binary_search_by(|(column_name, _)| (*column_name).cmp(name));
    let index = found.ok()?;
    columns.get(index).map(|(_, column)| *column)
}

/// The metrics of one [`PredictionRef`]: an iterator over `(name, value)` pairs in name order.
#[derive(Clone, Debug)]
pub struct MetricsRef<'a> {
    columns: std::slice::Iter<'a, (&'a str, &'a Column)>,
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

impl<'a> Iterator for MetricsRef<'a> {
    type Item = (&'a str, ValueRef<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let row = self.row;
        self.columns
            .find_map(|&(name, column)| Some((name, column.get_ref(row)?)))
    }
}
