//! Categorical drift figures from the capped category counts of rollups.

use super::{Estimate, ROUNDING, empty_samples};
use crate::eval::Undefined;
use crate::rollup::summary::CategoryCounts;

/// Estimates the chi-square statistic of the 2 × k table of category counts, as
/// `eval::CategoricalDrift::compare` computes it. Exact when neither side has an `other`
/// spill.
///
/// Bound with a spill: the categories that are not known on both sides are merged into one.
/// Merging columns can only lower the statistic (it is N times an f-divergence), and the
/// statistic of a 2-row table is at most N, the total count, so it lies in [merged, N].
pub fn chi_square(
    reference: &CategoryCounts,
    current: &CategoryCounts,
) -> Result<Estimate, Undefined> {
    let table = CategoryTable::new(reference, current)?;
    let merged = table.chi_square();
    if table.is_exact() {
        return Ok(Estimate::between(merged, merged).widened(ROUNDING * merged.max(1.0)));
    }
    let total = table.reference_total as f64 + table.current_total as f64;
    Ok(Estimate::between(merged, total).widened(ROUNDING * total))
}

/// Estimates the Jensen–Shannon distance (base 2) of the two category frequency vectors, as
/// `eval::CategoricalDrift::compare` computes it. Exact when neither side has an `other`
/// spill. Otherwise it lies in [merged, 1], because merging categories can only lower it.
pub fn jensen_shannon(
    reference: &CategoryCounts,
    current: &CategoryCounts,
) -> Result<Estimate, Undefined> {
    let table = CategoryTable::new(reference, current)?;
    let merged = table.jensen_shannon();
    let upper = if table.is_exact() { merged } else { 1.0 };
    Ok(Estimate::between(merged, upper).widened(ROUNDING))
}

/// Estimates max |p_i − q_i| over the categories, as `eval::CategoricalDrift::compare`
/// computes it. Exact when neither side has an `other` spill. Otherwise a category of the
/// merged set U differs by at most max(p_U, q_U), the larger mass of U.
pub fn l_infinity(
    reference: &CategoryCounts,
    current: &CategoryCounts,
) -> Result<Estimate, Undefined> {
    let table = CategoryTable::new(reference, current)?;
    let (known, merged) = table.l_infinity_parts();
    Ok(Estimate::between(known, known.max(merged)).widened(ROUNDING))
}

/// A 2 × k table of category counts, with the categories not known on both sides merged into
/// one column.
struct CategoryTable {
    /// (reference, current) counts of the categories known on both sides.
    known: Vec<(u64, u64)>,
    /// Counts of the merged column.
    merged: (u64, u64),
    reference_total: u64,
    current_total: u64,
}

impl CategoryTable {
    fn new(reference: &CategoryCounts, current: &CategoryCounts) -> Result<Self, Undefined> {
        let (reference_total, current_total) = (reference.total(), current.total());
        if let Some(undefined) = empty_samples(reference_total, current_total) {
            return Err(undefined);
        }
        let mut table = CategoryTable {
            known: Vec::new(),
            merged: (reference.other, current.other),
            reference_total,
            current_total,
        };
        let mut keys: Vec<&String> = reference
            .counts
            .keys()
            .chain(current.counts.keys())
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let first = reference.counts.get(key);
            let second = current.counts.get(key);
            let unknown =
                (first.is_none() && reference.other > 0) || (second.is_none() && current.other > 0);
            let counts = (first.copied().unwrap_or(0), second.copied().unwrap_or(0));
            if unknown {
                table.merged.0 = table.merged.0.saturating_add(counts.0);
                table.merged.1 = table.merged.1.saturating_add(counts.1);
            } else {
                table.known.push(counts);
            }
        }
        Ok(table)
    }

    fn is_exact(&self) -> bool {
        self.merged == (0, 0)
    }

    fn columns(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let merged = (!self.is_exact()).then_some(self.merged);
        self.known.iter().copied().chain(merged)
    }

    fn chi_square(&self) -> f64 {
        if self.columns().count() < 2 {
            return 0.0;
        }
        let (r, c) = (self.reference_total as f64, self.current_total as f64);
        let total = r + c;
        let mut statistic = 0.0;
        for (first, second) in self.columns() {
            let column = first as f64 + second as f64;
            for (observed, row) in [(first as f64, r), (second as f64, c)] {
                let expected = row * column / total;
                statistic += (observed - expected).powi(2) / expected;
            }
        }
        statistic
    }

    fn jensen_shannon(&self) -> f64 {
        let relative_entropy = |x: f64, m: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
        let mut divergence = 0.0;
        for (first, second) in self.columns() {
            let p = first as f64 / self.reference_total as f64;
            let q = second as f64 / self.current_total as f64;
            let m = (p + q) / 2.0;
            divergence += relative_entropy(p, m) + relative_entropy(q, m);
        }
        ((divergence / std::f64::consts::LN_2).max(0.0) / 2.0).sqrt()
    }

    /// Returns max |p − q| over the known categories, and max(p, q) of the merged column.
    fn l_infinity_parts(&self) -> (f64, f64) {
        let frequencies = |(first, second): (u64, u64)| {
            (
                first as f64 / self.reference_total as f64,
                second as f64 / self.current_total as f64,
            )
        };
        let known = self
            .known
            .iter()
            .map(|&counts| frequencies(counts))
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        let (p, q) = frequencies(self.merged);
        (known, p.max(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::CategoricalDrift;

    fn categories(values: &[&str]) -> CategoryCounts {
        let mut counts = CategoryCounts::default();
        values.iter().for_each(|v| counts.add(v));
        counts
    }

    #[test]
    fn categorical_drift_is_exact_without_spill() {
        let reference = ["a", "b", "b", "c", "c", "c"];
        let current = ["a", "a", "b", "d"];
        let exact = CategoricalDrift::new(reference).compare(current);
        let (first, second) = (categories(&reference), categories(&current));
        let chi = chi_square(&first, &second).unwrap();
        let exact_chi = exact.chi_square.unwrap().statistic;
        assert!(chi.contains(exact_chi), "{chi:?} vs {exact_chi}");
        assert!(chi.bound < 1e-6);
        let js = jensen_shannon(&first, &second).unwrap();
        assert!(js.contains(exact.jensen_shannon.unwrap()), "{js:?}");
        let linf = l_infinity(&first, &second).unwrap();
        assert!(linf.contains(exact.l_infinity.unwrap()), "{linf:?}");
    }

    #[test]
    fn categorical_bounds_hold_with_spill() {
        let reference: Vec<String> = (0..600).map(|i| format!("k{}", i % 300)).collect();
        let current: Vec<String> = (0..400).map(|i| format!("k{}", (i * 7) % 290)).collect();
        let exact = CategoricalDrift::new(&reference).compare(&current);
        let first = categories(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let second = categories(&current.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!first.is_exact());
        let chi = chi_square(&first, &second).unwrap();
        assert!(chi.contains(exact.chi_square.unwrap().statistic), "{chi:?}");
        let js = jensen_shannon(&first, &second).unwrap();
        assert!(js.contains(exact.jensen_shannon.unwrap()), "{js:?}");
        let linf = l_infinity(&first, &second).unwrap();
        assert!(linf.contains(exact.l_infinity.unwrap()), "{linf:?}");
    }

    #[test]
    fn categorical_drift_of_empty_window_is_undefined() {
        let result = chi_square(&categories(&["a"]), &categories(&[]));
        assert_eq!(result, Err(Undefined::EmptyWindow));
    }
}
