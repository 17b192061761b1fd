//! Mergeable summaries of the values of one metric: numeric values in a sketch with moments,
//! categories in capped counts.

use std::collections::BTreeMap;

use super::sketch::Sketch;
use crate::error::Result;
use crate::eval::bool_category;
use crate::value::Value;

/// Maximum number of distinct categories, and of label values per label metric, that a
/// rollup keeps. Further ones are counted together in `other`.
pub const MAX_CATEGORIES: usize = 256;

/// The values of one metric over a rollup interval, by value type.
///
/// A metric may change type between predictions. Each type is then summarised apart: f64 and
/// i64 values in `numeric`, booleans and strings in `categorical`, byte strings only counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// `Value::F64` and `Value::I64` values. An i64 of magnitude above 2^53 is rounded to the
    /// nearest f64.
    pub numeric: Option<NumericSummary>,
    /// `Value::Bool` values as the categories `"true"` and `"false"`, and `Value::Str` values.
    pub categorical: Option<CategoryCounts>,
    /// Count of `Value::Bytes` values.
    pub bytes: u64,
}

/// Moments and a sketch of numeric values. `count`, `sum`, `sum_sq`, `min` and `max` cover the
/// finite values only.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericSummary {
    pub count: u64,
    pub sum: f64,
    /// Sum of the squares.
    pub sum_sq: f64,
    /// +∞ while `count` is 0.
    pub min: f64,
    /// −∞ while `count` is 0.
    pub max: f64,
    /// NaN and ±∞ values.
    pub non_finite: u64,
    pub sketch: Sketch,
}

/// Counts per category, at most `MAX_CATEGORIES` of them.
///
/// Invariant: the count of a key in `counts` is the exact count of that category, and `other`
/// counts every other value. Once `other` is non-zero no new key is admitted, because values
/// of that category may already be in `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CategoryCounts {
    pub counts: BTreeMap<String, u64>,
    /// Values of the categories that did not fit.
    pub other: u64,
}

impl Summary {
    /// Adds one value; a numeric value goes into a sketch of relative accuracy `alpha`.
    pub fn add(&mut self, value: &Value, alpha: f64) -> Result<()> {
        match value {
            Value::F64(v) => self.numeric_or_new(alpha)?.add(*v),
            Value::I64(v) => self.numeric_or_new(alpha)?.add(*v as f64),
            Value::Bool(v) => self.categories().add(bool_category(*v)),
            Value::Str(v) => self.categories().add(v),
            Value::Bytes(_) => self.bytes = self.bytes.saturating_add(1),
        }
        Ok(())
    }

    /// Adds the values of `other`. Fails when both have numeric values sketched with
    /// different α.
    pub fn merge(&mut self, other: &Summary) -> Result<()> {
        if let Some(from) = &other.numeric {
            match &mut self.numeric {
                Some(into) => into.merge(from)?,
                None => self.numeric = Some(from.clone()),
            }
        }
        if let Some(from) = &other.categorical {
            self.categories().merge(from);
        }
        self.bytes = self.bytes.saturating_add(other.bytes);
        Ok(())
    }

    /// Returns the number of values of every type, non-finite numbers included.
    pub fn count(&self) -> u64 {
        let numeric = self
            .numeric
            .as_ref()
            .map_or(0, |n| n.count.saturating_add(n.non_finite));
        let categorical = self.categorical.as_ref().map_or(0, CategoryCounts::total);
        numeric
            .saturating_add(categorical)
            .saturating_add(self.bytes)
    }

    /// Returns the numeric part, created with `alpha` if missing. An existing part keeps
    /// the α it was created with.
    fn numeric_or_new(&mut self, alpha: f64) -> Result<&mut NumericSummary> {
        let numeric = match self.numeric.take() {
            Some(numeric) => numeric,
            None => NumericSummary::new(alpha)?,
        };
        Ok(self.numeric.insert(numeric))
    }

    fn categories(&mut self) -> &mut CategoryCounts {
        self.categorical.get_or_insert_with(CategoryCounts::default)
    }
}

impl NumericSummary {
    /// Creates an empty summary whose sketch has relative accuracy `alpha`.
    pub fn new(alpha: f64) -> Result<NumericSummary> {
        Ok(NumericSummary {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            non_finite: 0,
            sketch: Sketch::new(alpha)?,
        })
    }

    pub fn add(&mut self, value: f64) {
        self.sketch.add(value);
        if !value.is_finite() {
            self.non_finite = self.non_finite.saturating_add(1);
            return;
        }
        self.count = self.count.saturating_add(1);
        self.sum += value;
        self.sum_sq += value * value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds the values of `other`. Fails when the sketches have different α.
    pub fn merge(&mut self, other: &NumericSummary) -> Result<()> {
        self.sketch.merge(&other.sketch)?;
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.non_finite = self.non_finite.saturating_add(other.non_finite);
        Ok(())
    }

    /// Returns the mean of the finite values, `None` without any.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Returns the population variance of the finite values, `None` without any.
    ///
    /// NOTE: computed as `E[x²] − E[x]²`, which loses precision when the spread is small
    /// next to the mean.
    pub fn variance(&self) -> Option<f64> {
        let mean = self.mean()?;
        Some((self.sum_sq / self.count as f64 - mean * mean).max(0.0))
    }
}

impl CategoryCounts {
    /// Counts one value of `category`.
    pub fn add(&mut self, category: &str) {
        if let Some(count) = self.counts.get_mut(category) {
            *count = count.saturating_add(1);
        } else if self.other == 0 && self.counts.len() < MAX_CATEGORIES {
            self.counts.insert(category.to_owned(), 1);
        } else {
            self.other = self.other.saturating_add(1);
        }
    }

    /// Adds the counts of `other`, moving to `other` every key whose count is no longer
    /// exact, so that the invariant of `CategoryCounts` still holds.
    pub fn merge(&mut self, other: &CategoryCounts) {
        // u64 counts merge without error.
        let _ = merge_capped(
            &mut self.counts,
            &mut self.other,
            &other.counts,
            &other.other,
        );
    }

    /// Returns the number of values counted.
    pub fn total(&self) -> u64 {
        self.counts
            .values()
            .fold(self.other, |sum, &count| sum.saturating_add(count))
    }

    /// Returns whether every value is counted under its own category.
    pub fn is_exact(&self) -> bool {
        self.other == 0
    }
}

/// A value that can be counted in place of a category and merged into the spill of a capped
/// map.
pub(crate) trait Spill: Clone {
    /// Returns the number of values this entry counts.
    fn weight(&self) -> u64;
    /// Adds the values of `from`.
    fn absorb(&mut self, from: &Self) -> Result<()>;
}

impl Spill for u64 {
    fn weight(&self) -> u64 {
        *self
    }

    fn absorb(&mut self, from: &u64) -> Result<()> {
        *self = self.saturating_add(*from);
        Ok(())
    }
}

/// Merges a capped map and its spill into another, keeping the invariant of
/// [`CategoryCounts`]: every kept key has its exact value.
///
/// A key kept on one side only is exact after the merge unless the other side has a spill,
/// which may hold values of that key. Such keys move to the spill. When more than
/// `MAX_CATEGORIES` keys remain, those of least weight (the larger key first among equal
/// weights) move to the spill.
pub(crate) fn merge_capped<V: Spill>(
    into: &mut BTreeMap<String, V>,
    into_spill: &mut V,
    from: &BTreeMap<String, V>,
    from_spill: &V,
) -> Result<()> {
    let into_spilled = into_spill.weight() > 0;
    if from_spill.weight() > 0 {
        let unmatched: Vec<String> = into
            .keys()
            .filter(|k| !from.contains_key(*k))
            .cloned()
            .collect();
        for key in unmatched {
            if let Some(value) = into.remove(&key) {
                into_spill.absorb(&value)?;
            }
        }
    }
    for (key, value) in from {
        if let Some(kept) = into.get_mut(key) {
            kept.absorb(value)?;
        } else if into_spilled {
            into_spill.absorb(value)?;
        } else {
            into.insert(key.clone(), value.clone());
        }
    }
    into_spill.absorb(from_spill)?;
    spill_surplus(into, into_spill)
}

fn spill_surplus<V: Spill>(map: &mut BTreeMap<String, V>, spill: &mut V) -> Result<()> {
    let Some(surplus) = map.len().checked_sub(MAX_CATEGORIES).filter(|&n| n > 0) else {
        return Ok(());
    };
    let mut by_weight: Vec<(u64, &String)> = map.iter().map(|(k, v)| (v.weight(), k)).collect();
    by_weight.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
    let spilled: Vec<String> = by_weight
        .into_iter()
        .take(surplus)
        .map(|(_, key)| key.clone())
        .collect();
    for key in spilled {
        if let Some(value) = map.remove(&key) {
            spill.absorb(&value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::sketch::DEFAULT_ALPHA;

    fn counts(values: &[&str]) -> CategoryCounts {
        let mut counts = CategoryCounts::default();
        for value in values {
            counts.add(value);
        }
        counts
    }

    #[test]
    fn mixed_types_are_kept_apart() {
        let mut summary = Summary::default();
        summary.add(&Value::F64(1.5), DEFAULT_ALPHA).unwrap();
        summary.add(&Value::I64(3), DEFAULT_ALPHA).unwrap();
        summary.add(&Value::Bool(true), DEFAULT_ALPHA).unwrap();
        summary.add(&Value::Str("a".into()), DEFAULT_ALPHA).unwrap();
        summary.add(&Value::Bytes(vec![1]), DEFAULT_ALPHA).unwrap();
        let numeric = summary.numeric.as_ref().unwrap();
        assert_eq!(numeric.count, 2);
        assert_eq!(numeric.sum, 4.5);
        let categorical = summary.categorical.as_ref().unwrap();
        assert_eq!(categorical.counts.get("true"), Some(&1));
        assert_eq!(categorical.counts.get("a"), Some(&1));
        assert_eq!(summary.bytes, 1);
        assert_eq!(summary.count(), 5);
    }

    #[test]
    fn numeric_summary_skips_non_finite_moments() {
        let mut numeric = NumericSummary::new(DEFAULT_ALPHA).unwrap();
        for value in [2.0, f64::NAN, -1.0, f64::INFINITY] {
            numeric.add(value);
        }
        assert_eq!(numeric.count, 2);
        assert_eq!(numeric.non_finite, 2);
        assert_eq!(numeric.min, -1.0);
        assert_eq!(numeric.max, 2.0);
        assert_eq!(numeric.sum_sq, 5.0);
        assert_eq!(numeric.mean(), Some(0.5));
    }

    #[test]
    fn categories_past_cap_go_to_other() {
        let names: Vec<String> = (0..MAX_CATEGORIES + 3)
            .map(|i| format!("c{i:04}"))
            .collect();
        let mut counts = CategoryCounts::default();
        for name in &names {
            counts.add(name);
        }
        counts.add(&names[0]);
        assert_eq!(counts.counts.len(), MAX_CATEGORIES);
        assert_eq!(counts.other, 3);
        assert_eq!(counts.counts.get("c0000"), Some(&2));
        assert_eq!(counts.total(), names.len() as u64 + 1);
    }

    #[test]
    fn no_new_key_after_spill() {
        let mut counts = CategoryCounts {
            counts: BTreeMap::new(),
            other: 4,
        };
        counts.add("new");
        assert!(counts.counts.is_empty());
        assert_eq!(counts.other, 5);
    }

    #[test]
    fn merge_with_spill_moves_unmatched_keys() {
        let mut kept = counts(&["a", "a", "b"]);
        let mut spilled = counts(&["a"]);
        spilled.other = 2;
        kept.merge(&spilled);
        assert_eq!(kept.counts.get("a"), Some(&3));
        assert_eq!(kept.counts.get("b"), None);
        assert_eq!(kept.other, 3);
        assert_eq!(kept.total(), 6);
    }

    #[test]
    fn merge_into_spilled_side_spills_new_keys() {
        let mut spilled = counts(&["a"]);
        spilled.other = 1;
        spilled.merge(&counts(&["a", "z"]));
        assert_eq!(spilled.counts.get("a"), Some(&2));
        assert_eq!(spilled.counts.get("z"), None);
        assert_eq!(spilled.other, 2);
    }

    #[test]
    fn merge_over_cap_spills_rarest_keys() {
        let first: Vec<String> = (0..MAX_CATEGORIES).map(|i| format!("a{i:04}")).collect();
        let mut left = CategoryCounts::default();
        for name in &first {
            left.add(name);
            left.add(name);
        }
        let mut right = CategoryCounts::default();
        right.add("b");
        left.merge(&right);
        assert_eq!(left.counts.len(), MAX_CATEGORIES);
        assert_eq!(left.counts.get("b"), None);
        assert_eq!(left.other, 1);
        assert!(!left.is_exact());
    }
}
