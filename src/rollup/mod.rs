//! Rollups: mergeable summaries of the predictions of one model over one interval, which
//! retention keeps in place of raw predictions once they are old enough.
//!
//! A rollup keeps, per inline and per delayed metric, a
//! [`Summary`](crate::rollup::Summary): moments and a relative-accuracy
//! [`Sketch`](crate::rollup::Sketch) of numeric values, capped counts of categories. A label
//! metric is a delayed metric with bool, string or i64 values. For each label metric and label
//! value, a rollup also keeps the distribution of every numeric inline metric among the
//! predictions with that label, which ROC AUC and accuracy of a score need.
//! [`estimate`](crate::rollup::estimate) computes those figures and drift figures from
//! rollups, each with a bound on its distance to the figure that `crate::eval` computes on the
//! raw predictions. `docs/rollups.md` derives the bounds.
//!
//! [`roll_up`](crate::rollup::roll_up) builds rollups from predictions,
//! [`coarsen`](crate::rollup::coarsen) merges them into a coarser interval, and
//! [`RollupFile`](crate::rollup::RollupFile) stores them.

mod directory;
mod encode;
pub mod estimate;
pub mod file;
pub mod filter;
pub mod sketch;
pub mod summary;

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::eval::bool_category;
use crate::record::Prediction;
use crate::value::Value;

pub use estimate::Estimate;
pub use file::{RollupFile, parse_rollup_file_name, rollup_file_name};
pub use filter::RolledUpFilter;
pub use sketch::{Bucket, BucketKey, DEFAULT_ALPHA, Sketch};
pub use summary::{CategoryCounts, MAX_CATEGORIES, NumericSummary, Summary};

use summary::{Spill, merge_capped};

/// Summary of the predictions of one model with timestamps in `[start_ms, start_ms +
/// interval_ms)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    pub model: String,
    pub start_ms: i64,
    /// Greater than 0.
    pub interval_ms: i64,
    pub predictions: u64,
    /// Predictions with at least one delayed metric.
    pub labeled: u64,
    /// Inline metrics by name.
    pub metrics: BTreeMap<String, Summary>,
    /// Delayed metrics by name, the latest value per prediction.
    pub delayed: BTreeMap<String, Summary>,
    /// Label metrics by name: the numeric inline metrics per label value.
    pub joined: BTreeMap<String, LabelJoin>,
}

/// The numeric inline metrics of the predictions of each value of one label metric.
///
/// At most `MAX_CATEGORIES` label values are kept, with the invariant of
/// [`CategoryCounts`]: a kept value has exactly the predictions with that label, and `other`
/// has the predictions of every other value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelJoin {
    /// By label value: `"true"` or `"false"` for a bool, the decimal digits of an i64.
    pub values: BTreeMap<String, LabelGroup>,
    pub other: LabelGroup,
}

/// The predictions with one label value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelGroup {
    pub predictions: u64,
    /// Distribution of each numeric inline metric among these predictions.
    pub metrics: BTreeMap<String, NumericSummary>,
}

impl Rollup {
    /// Creates an empty rollup. Returns `Error::InvalidInput` unless `interval_ms` > 0 and
    /// the interval ends within the i64 range.
    pub fn new(model: impl Into<String>, start_ms: i64, interval_ms: i64) -> Result<Rollup> {
        check_interval(start_ms, interval_ms)?;
        Ok(Rollup {
            model: model.into(),
            start_ms,
            interval_ms,
            predictions: 0,
            labeled: 0,
            metrics: BTreeMap::new(),
            delayed: BTreeMap::new(),
            joined: BTreeMap::new(),
        })
    }

    /// Returns the end of the interval, excluded.
    pub fn end_ms(&self) -> i64 {
        self.start_ms.saturating_add(self.interval_ms)
    }

    /// Adds one prediction, its inline metrics and its joined delayed metrics. Numeric values
    /// go into sketches of relative accuracy `alpha`.
    ///
    /// Returns `Error::InvalidInput` when the prediction belongs to another model or lies
    /// outside the interval.
    pub fn add(&mut self, prediction: &Prediction, alpha: f64) -> Result<()> {
        self.check_owns(prediction)?;
        sketch::check_alpha(alpha)?;
        self.predictions = self.predictions.saturating_add(1);
        if !prediction.delayed.is_empty() {
            self.labeled = self.labeled.saturating_add(1);
        }
        for metric in prediction.metrics.iter() {
            let summary = self.metrics.entry(metric.name.clone()).or_default();
            summary.add(&metric.value, alpha)?;
        }
        for metric in prediction.delayed.iter() {
            let summary = self.delayed.entry(metric.name.clone()).or_default();
            summary.add(&metric.value, alpha)?;
            if let Some(label) = label_value(&metric.value) {
                let join = self.joined.entry(metric.name.clone()).or_default();
                join.add(&label, prediction, alpha)?;
            }
        }
        Ok(())
    }

    /// Adds the predictions of `other`, a rollup of the same model whose interval lies
    /// inside this one's or equals it.
    ///
    /// Returns `Error::InvalidInput` for another model or interval, or when a sketch of one
    /// metric has another α.
    pub fn merge(&mut self, other: &Rollup) -> Result<()> {
        if other.model != self.model {
            return Err(Error::invalid(
                "rollup model",
                format!("{:?} into {:?}", other.model, self.model),
                "only rollups of the same model can be merged",
            ));
        }
        if other.start_ms < self.start_ms || other.end_ms() > self.end_ms() {
            return Err(Error::invalid(
                "rollup interval",
                format!(
                    "[{}, {}) into [{}, {})",
                    other.start_ms,
                    other.end_ms(),
                    self.start_ms,
                    self.end_ms()
                ),
                "a merged rollup's interval must lie inside the target's; coarsen first",
            ));
        }
        self.predictions = self.predictions.saturating_add(other.predictions);
        self.labeled = self.labeled.saturating_add(other.labeled);
        merge_summaries(&mut self.metrics, &other.metrics)?;
        merge_summaries(&mut self.delayed, &other.delayed)?;
        for (name, join) in &other.joined {
            self.joined.entry(name.clone()).or_default().merge(join)?;
        }
        Ok(())
    }

    fn check_owns(&self, prediction: &Prediction) -> Result<()> {
        if prediction.model != self.model {
            return Err(Error::invalid(
                "prediction model",
                format!("{:?}", prediction.model),
                format!("this rollup summarises model {:?}", self.model),
            ));
        }
        let timestamp = prediction.timestamp_ms;
        if timestamp < self.start_ms || timestamp >= self.end_ms() {
            return Err(Error::invalid(
                "prediction timestamp",
                timestamp.to_string(),
                format!(
                    "this rollup covers [{}, {}) ms",
                    self.start_ms,
                    self.end_ms()
                ),
            ));
        }
        Ok(())
    }
}

impl LabelJoin {
    fn add(&mut self, label: &str, prediction: &Prediction, alpha: f64) -> Result<()> {
        let group = if let Some(group) = self.values.get_mut(label) {
            group
        } else if self.other.predictions == 0 && self.values.len() < MAX_CATEGORIES {
            self.values.entry(label.to_owned()).or_default()
        } else {
            &mut self.other
        };
        group.add(prediction, alpha)
    }

    fn merge(&mut self, other: &LabelJoin) -> Result<()> {
        merge_capped(
            &mut self.values,
            &mut self.other,
            &other.values,
            &other.other,
        )
    }

    /// Returns the group of label value `label`, `None` when no prediction has it or when
    /// its predictions may be in `other`.
    pub fn group(&self, label: &str) -> Option<&LabelGroup> {
        self.values.get(label)
    }
}

impl LabelGroup {
    fn add(&mut self, prediction: &Prediction, alpha: f64) -> Result<()> {
        self.predictions = self.predictions.saturating_add(1);
        for metric in prediction.metrics.iter() {
            let value = match metric.value {
                Value::F64(v) => v,
                Value::I64(v) => v as f64,
                _ => continue,
            };
            match self.metrics.get_mut(&metric.name) {
                Some(summary) => summary.add(value),
                None => {
                    let mut summary = NumericSummary::new(alpha)?;
                    summary.add(value);
                    self.metrics.insert(metric.name.clone(), summary);
                }
            }
        }
        Ok(())
    }
}

impl Spill for LabelGroup {
    fn weight(&self) -> u64 {
        self.predictions
    }

    fn absorb(&mut self, from: &LabelGroup) -> Result<()> {
        self.predictions = self.predictions.saturating_add(from.predictions);
        for (name, summary) in &from.metrics {
            match self.metrics.get_mut(name) {
                Some(into) => into.merge(summary)?,
                None => {
                    self.metrics.insert(name.clone(), summary.clone());
                }
            }
        }
        Ok(())
    }
}

/// Returns the label value of a delayed metric: bool, string and i64 values are labels,
/// f64 and bytes are not.
pub fn label_value(value: &Value) -> Option<String> {
    match value {
        Value::Bool(v) => Some(bool_category(*v).to_owned()),
        Value::Str(v) => Some(v.clone()),
        Value::I64(v) => Some(v.to_string()),
        Value::F64(_) | Value::Bytes(_) => None,
    }
}

/// Rolls predictions up per model and per interval of `interval_ms`, aligned to multiples
/// of it since the epoch (1970-01-01T00:00:00Z), so a negative timestamp falls in the
/// interval that starts at or before it. Returns the rollups sorted by (model, start_ms).
///
/// Returns `Error::InvalidInput` when `interval_ms` ≤ 0, `alpha` is outside (0, 1), or a
/// timestamp's interval does not fit in the i64 range.
pub fn roll_up(
    predictions: impl IntoIterator<Item = Prediction>,
    interval_ms: i64,
    alpha: f64,
) -> Result<Vec<Rollup>> {
    check_interval(0, interval_ms)?;
    sketch::check_alpha(alpha)?;
    let mut rollups: BTreeMap<(String, i64), Rollup> = BTreeMap::new();
    for prediction in predictions {
        let start_ms = interval_start(prediction.timestamp_ms, interval_ms)?;
        let key = (prediction.model.clone(), start_ms);
        let rollup = match rollups.get_mut(&key) {
            Some(rollup) => rollup,
            None => rollups.entry(key).or_insert(Rollup::new(
                prediction.model.clone(),
                start_ms,
                interval_ms,
            )?),
        };
        rollup.add(&prediction, alpha)?;
    }
    Ok(rollups.into_values().collect())
}

/// Merges rollups into intervals of `interval_ms`, aligned like those of [`roll_up`].
/// Returns the rollups sorted by (model, start_ms).
///
/// Returns `Error::InvalidInput`, naming both intervals, when `interval_ms` is not a
/// multiple of a rollup's interval or a rollup straddles two of the new intervals.
pub fn coarsen(rollups: &[Rollup], interval_ms: i64) -> Result<Vec<Rollup>> {
    check_interval(0, interval_ms)?;
    let mut coarse: BTreeMap<(String, i64), Rollup> = BTreeMap::new();
    for rollup in rollups {
        if interval_ms % rollup.interval_ms != 0 {
            return Err(Error::invalid(
                "rollup interval",
                format!("{} ms into {} ms", rollup.interval_ms, interval_ms),
                "the coarser interval must be a multiple of the rollup's interval",
            ));
        }
        let start_ms = interval_start(rollup.start_ms, interval_ms)?;
        let key = (rollup.model.clone(), start_ms);
        let target = match coarse.get_mut(&key) {
            Some(target) => target,
            None => coarse.entry(key).or_insert(Rollup::new(
                rollup.model.clone(),
                start_ms,
                interval_ms,
            )?),
        };
        target.merge(rollup)?;
    }
    Ok(coarse.into_values().collect())
}

/// Merges every rollup into the first. Returns `Ok(None)` for an empty slice.
///
/// The result's interval spans all of them, so it may cover gaps between them.
pub fn merge_all(rollups: &[Rollup]) -> Result<Option<Rollup>> {
    let Some(first) = rollups.first() else {
        return Ok(None);
    };
    let start_ms = rollups
        .iter()
        .map(|r| r.start_ms)
        .min()
        .unwrap_or(first.start_ms);
    let end_ms = rollups
        .iter()
        .map(Rollup::end_ms)
        .max()
        .unwrap_or(first.end_ms());
    let span = end_ms.checked_sub(start_ms).ok_or_else(|| {
        Error::invalid(
            "rollup span",
            format!("[{start_ms}, {end_ms}) ms"),
            "the merged interval must fit in the i64 range of milliseconds",
        )
    })?;
    let mut merged = Rollup::new(first.model.clone(), start_ms, span)?;
    for rollup in rollups {
        merged.merge(rollup)?;
    }
    Ok(Some(merged))
}

/// Returns whether the interval of `interval_ms` that contains `timestamp_ms` lies within the
/// i64 range, so that [`roll_up`] accepts the timestamp.
pub fn interval_fits(timestamp_ms: i64, interval_ms: i64) -> bool {
    interval_ms > 0 && interval_start(timestamp_ms, interval_ms).is_ok()
}

/// Returns the start of the interval of `interval_ms` that contains `timestamp_ms`.
pub(crate) fn interval_start(timestamp_ms: i64, interval_ms: i64) -> Result<i64> {
    let start = timestamp_ms
        .div_euclid(interval_ms)
        .checked_mul(interval_ms)
        .filter(|start| start.checked_add(interval_ms).is_some());
    start.ok_or_else(|| {
        Error::invalid(
            "timestamp",
            format!("{timestamp_ms} ms"),
            format!("its interval of {interval_ms} ms does not fit in the i64 range of ms"),
        )
    })
}

fn check_interval(start_ms: i64, interval_ms: i64) -> Result<()> {
    if interval_ms <= 0 {
        return Err(Error::invalid(
            "rollup interval",
            format!("{interval_ms} ms"),
            "pass a positive number of milliseconds",
        ));
    }
    if start_ms.checked_add(interval_ms).is_none() {
        return Err(Error::invalid(
            "rollup interval",
            format!("{interval_ms} ms from {start_ms} ms"),
            "the interval must end within the i64 range of milliseconds",
        ));
    }
    Ok(())
}

fn merge_summaries(
    into: &mut BTreeMap<String, Summary>,
    from: &BTreeMap<String, Summary>,
) -> Result<()> {
    for (name, summary) in from {
        match into.get_mut(name) {
            Some(kept) => kept.merge(summary)?,
            None => {
                into.insert(name.clone(), summary.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
