//! Drift of a numeric feature between a reference sample and a window.

use super::ks::{KsTest, ks_two_sample_sorted};
use super::psi::{DEFAULT_PSI_BINS, QuantileBins, psi};
use super::wasserstein::wasserstein_sorted;
use super::{NonFinite, Undefined, finite_sorted};
use crate::error::{Error, Result};

/// A reference sample of a numeric feature, prepared once to be compared with many windows.
///
/// Preparation keeps the finite values sorted and takes the PSI bin edges from their
/// quantiles (see [`NumericDrift::psi_edges`]). NaN and infinities are excluded and counted.
#[derive(Clone, Debug)]
pub struct NumericDrift {
    sorted: Vec<f64>,
    excluded: NonFinite,
    bins: QuantileBins,
    /// Reference values per PSI bin.
    reference_counts: Vec<u64>,
}

/// Drift of one window against the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericDriftResult {
    /// Finite values of the reference.
    pub reference_len: usize,
    /// Finite values of the window.
    pub window_len: usize,
    /// Values of the window excluded because they are NaN or infinite.
    pub window_excluded: NonFinite,
    /// The two-sample Kolmogorov–Smirnov test, as SciPy's `ks_2samp(reference, window)`.
    pub ks: Result<KsTest, Undefined>,
    /// The Wasserstein-1 distance, as SciPy's `wasserstein_distance`, in the unit of the
    /// feature.
    pub wasserstein: Result<f64, Undefined>,
    /// The Population Stability Index over the reference's quantile bins.
    pub psi: Result<f64, Undefined>,
}

impl NumericDrift {
    /// Prepares `reference` with `DEFAULT_PSI_BINS` (10) PSI bins.
    pub fn new(reference: &[f64]) -> Self {
        Self::prepare(reference, DEFAULT_PSI_BINS)
    }

    /// Prepares `reference` with `bins` candidate PSI bins. Returns `Error::InvalidInput`
    /// when `bins` is 0.
    pub fn with_psi_bins(reference: &[f64], bins: usize) -> Result<Self> {
        if bins == 0 {
            return Err(Error::invalid(
                "PSI bin count",
                "0",
                "pass at least 1; the default is 10",
            ));
        }
        Ok(Self::prepare(reference, bins))
    }

    fn prepare(reference: &[f64], bins: usize) -> Self {
        let (sorted, excluded) = finite_sorted(reference);
        let bins = QuantileBins::from_sorted(&sorted, bins);
        let reference_counts = bins.counts(&sorted);
        NumericDrift {
            sorted,
            excluded,
            bins,
            reference_counts,
        }
    }

    /// Returns the number of finite values of the reference.
    pub fn reference_len(&self) -> usize {
        self.sorted.len()
    }

    /// Returns the counts of the reference values excluded as NaN or infinite.
    pub fn reference_excluded(&self) -> NonFinite {
        self.excluded
    }

    /// Returns the inner edges of the PSI bins, strictly increasing; there is one more bin.
    ///
    /// For b bins the candidate edges are the reference quantiles at i/b, i = 1 .. b-1, by
    /// linear interpolation between the sorted values at position q (n - 1), as numpy's
    /// default `quantile` method (up to an ulp of rounding). Equal candidates collapse into
    /// one edge, so a feature with many ties gets fewer bins, and a constant reference gets
    /// two: below its value, and at or above it. Bins are closed on the left. Values below
    /// the reference minimum or above its maximum fall in the first or last bin.
    pub fn psi_edges(&self) -> &[f64] {
        self.bins.edges()
    }

    /// Compares the finite values of `window` with the reference.
    ///
    /// Every figure is `Undefined::EmptyReference` when the reference has no finite value and
    /// `Undefined::EmptyWindow` when the window has none.
    pub fn compare(&self, window: &[f64]) -> NumericDriftResult {
        let (window_sorted, window_excluded) = finite_sorted(window);
        NumericDriftResult {
            reference_len: self.sorted.len(),
            window_len: window_sorted.len(),
            window_excluded,
            ks: ks_two_sample_sorted(&self.sorted, &window_sorted),
            wasserstein: wasserstein_sorted(&self.sorted, &window_sorted),
            psi: self.psi(&window_sorted),
        }
    }

    /// PSI = Σ (qᵢ - pᵢ) ln(qᵢ / pᵢ) over the bins, with p the reference fractions and q the
    /// window fractions. An empty bin counts as `PSI_EPSILON` (1e-4) on either side.
    fn psi(&self, window: &[f64]) -> Result<f64, Undefined> {
        if self.sorted.is_empty() {
            return Err(Undefined::EmptyReference);
        }
        if window.is_empty() {
            return Err(Undefined::EmptyWindow);
        }
        let window_counts = self.bins.counts(window);
        let counts = self.reference_counts.iter().copied().zip(window_counts);
        Ok(psi(counts, self.sorted.len() as u64, window.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::PSI_EPSILON;

    fn reference() -> Vec<f64> {
        (0..100).map(f64::from).collect()
    }

    #[test]
    fn same_sample_shows_no_drift() {
        let drift = NumericDrift::new(&reference());
        let result = drift.compare(&reference());
        assert_eq!(result.ks.unwrap().statistic, 0.0);
        assert_eq!(result.wasserstein, Ok(0.0));
        assert_eq!(result.psi, Ok(0.0));
    }

    #[test]
    fn window_beyond_reference_falls_in_last_bin() {
        let drift = NumericDrift::new(&reference());
        let result = drift.compare(&[1000.0, 2000.0]);
        // Every bin but the last holds 1/10 of the reference and nothing of the window.
        let p = 0.1_f64;
        let empty = (PSI_EPSILON - p) * (PSI_EPSILON / p).ln();
        let expected = 9.0 * empty + (1.0 - p) * (1.0 / p).ln();
        let actual = result.psi.unwrap();
        assert!((actual - expected).abs() < 1e-12, "{actual} vs {expected}");
        assert_eq!(result.ks.unwrap().statistic, 1.0);
    }

    #[test]
    fn window_counts_exclusions() {
        let drift = NumericDrift::new(&[1.0, f64::NAN, 2.0]);
        assert_eq!(drift.reference_len(), 2);
        assert_eq!(drift.reference_excluded().nan, 1);
        let result = drift.compare(&[f64::NEG_INFINITY, 1.5]);
        assert_eq!(result.window_len, 1);
        assert_eq!(result.window_excluded.infinite, 1);
    }

    #[test]
    fn empty_window_is_undefined() {
        let drift = NumericDrift::new(&reference());
        let result = drift.compare(&[f64::NAN]);
        assert_eq!(result.ks, Err(Undefined::EmptyWindow));
        assert_eq!(result.wasserstein, Err(Undefined::EmptyWindow));
        assert_eq!(result.psi, Err(Undefined::EmptyWindow));
    }

    #[test]
    fn empty_reference_is_undefined() {
        let drift = NumericDrift::new(&[]);
        let result = drift.compare(&[1.0]);
        assert_eq!(result.ks, Err(Undefined::EmptyReference));
        assert_eq!(result.wasserstein, Err(Undefined::EmptyReference));
        assert_eq!(result.psi, Err(Undefined::EmptyReference));
    }

    #[test]
    fn zero_psi_bins_are_rejected() {
        assert!(NumericDrift::with_psi_bins(&reference(), 0).is_err());
        let one_bin = NumericDrift::with_psi_bins(&reference(), 1).unwrap();
        assert!(one_bin.psi_edges().is_empty());
        assert_eq!(one_bin.compare(&[1e9]).psi, Ok(0.0));
    }
}
