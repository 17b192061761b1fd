//! The Population Stability Index and the quantile bins it uses for numeric features.

use super::sum::CompensatedSum;

/// Number of bins of `NumericDrift::new`.
pub const DEFAULT_PSI_BINS: usize = 10;

/// Fraction that replaces an empty bin or category in the PSI, in the reference and in the
/// window alike, so that the logarithm stays finite. The other fractions are not rescaled.
pub const PSI_EPSILON: f64 = 1e-4;

/// Computes PSI = Σ (qᵢ - pᵢ) ln(qᵢ / pᵢ), where pᵢ and qᵢ are the fractions of the reference
/// and of the window in bin i. A zero fraction becomes `PSI_EPSILON`.
///
/// `counts` yields (reference count, window count) per bin. Both totals must be non-zero.
pub(crate) fn psi(
    counts: impl IntoIterator<Item = (u64, u64)>,
    reference_total: u64,
    window_total: u64,
) -> f64 {
    let fraction = |count: u64, total: u64| {
        if count == 0 {
            PSI_EPSILON
        } else {
            count as f64 / total as f64
        }
    };
    let mut sum = CompensatedSum::default();
    for (reference_count, window_count) in counts {
        let p = fraction(reference_count, reference_total);
        let q = fraction(window_count, window_total);
        sum.add((q - p) * (q / p).ln());
    }
    sum.value()
}

/// Bin edges taken from the quantiles of a reference sample, by the rule that
/// `NumericDrift::psi_edges` documents. A value x falls in the bin whose index is the number
/// of edges <= x.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct QuantileBins {
    /// Inner edges, strictly increasing. There is one more bin than edges.
    edges: Vec<f64>,
}

impl QuantileBins {
    /// Takes the edges of `bins` bins from a sorted, finite sample. An empty sample gives one
    /// bin and no edge.
    pub(crate) fn from_sorted(sorted: &[f64], bins: usize) -> Self {
        let mut edges: Vec<f64> = Vec::with_capacity(bins.saturating_sub(1));
        let Some(last_index) = sorted.len().checked_sub(1) else {
            return QuantileBins { edges };
        };
        for i in 1..bins {
            let position = i as f64 / bins as f64 * last_index as f64;
            let below = position.floor();
            let fraction = position - below;
            let lower = sorted.get(below as usize).copied().unwrap_or(0.0);
            let upper = sorted.get(below as usize + 1).copied().unwrap_or(lower);
            let edge = lower + (upper - lower) * fraction;
            if edges.last().is_none_or(|&last| edge > last) {
                edges.push(edge);
            }
        }
        QuantileBins { edges }
    }

    pub(crate) fn edges(&self) -> &[f64] {
        &self.edges
    }

    pub(crate) fn len(&self) -> usize {
        self.edges.len() + 1
    }

    /// Counts the values of a finite sample in each bin.
    pub(crate) fn counts(&self, values: &[f64]) -> Vec<u64> {
        let mut counts = vec![0; self.len()];
        for &value in values {
            let bin = self.edges.partition_point(|&edge| edge <= value);
            if let Some(count) = counts.get_mut(bin) {
                *count += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_edges_of_ten_values() {
        let sorted: Vec<f64> = (0..10).map(f64::from).collect();
        let bins = QuantileBins::from_sorted(&sorted, 4);
        // Positions 0.25 · 9 = 2.25, 4.5 and 6.75.
        assert_eq!(bins.edges(), &[2.25, 4.5, 6.75]);
        assert_eq!(bins.len(), 4);
    }

    #[test]
    fn duplicate_edges_collapse() {
        let sorted = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0];
        let bins = QuantileBins::from_sorted(&sorted, 10);
        // Positions 0.9, 1.8 ... 6.3 fall on the ones; 7.2 and 8.1 interpolate.
        let edges = bins.edges();
        assert_eq!(edges.len(), 3);
        assert_eq!(edges[0], 1.0);
        assert!((edges[1] - 1.2).abs() < 1e-12, "{edges:?}");
        assert!((edges[2] - 2.1).abs() < 1e-12, "{edges:?}");
    }

    #[test]
    fn constant_reference_has_two_bins() {
        let bins = QuantileBins::from_sorted(&[5.0; 20], 10);
        assert_eq!(bins.edges(), &[5.0]);
        assert_eq!(bins.counts(&[4.0, 5.0, 6.0]), vec![1, 2]);
    }

    #[test]
    fn values_outside_the_range_go_to_end_bins() {
        let sorted: Vec<f64> = (0..10).map(f64::from).collect();
        let bins = QuantileBins::from_sorted(&sorted, 4);
        assert_eq!(bins.counts(&[-100.0, 2.25, 100.0]), vec![1, 1, 0, 1]);
    }

    #[test]
    fn psi_of_equal_fractions_is_zero() {
        assert_eq!(psi([(10, 1), (30, 3)], 40, 4), 0.0);
    }

    #[test]
    fn psi_replaces_empty_bins() {
        // Reference 1/2, 1/2; window 1, 0 → ε.
        let expected =
            (1.0 - 0.5) * (1.0_f64 / 0.5).ln() + (PSI_EPSILON - 0.5) * (PSI_EPSILON / 0.5).ln();
        let actual = psi([(1, 2), (1, 0)], 2, 2);
        assert!((actual - expected).abs() < 1e-15, "{actual} vs {expected}");
    }
}
