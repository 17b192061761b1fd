//! Regression metrics over pairs of a prediction and its truth.

use super::sum::compensated_sum;
use super::{NonFinite, Undefined, check_lengths};
use crate::error::Result;

/// Errors of a regression model over one window, from pairs of a prediction and its truth
/// (in that order).
///
/// Pairs where either value is NaN or infinite are excluded and counted in `excluded`: as
/// NaN when either value is NaN, as infinite otherwise. Every figure is `Undefined::NoData`
/// when no pair is left.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    /// Pairs where both values are finite.
    pub len: usize,
    pub excluded: NonFinite,
    /// mean(|ŷ - y|), as scikit-learn's `mean_absolute_error`.
    pub mean_absolute_error: Result<f64, Undefined>,
    /// √mean((ŷ - y)²), as scikit-learn's `root_mean_squared_error`.
    pub root_mean_squared_error: Result<f64, Undefined>,
    /// mean(|ŷ - y| / max(|y|, ε)) with ε = f64::EPSILON, as scikit-learn's
    /// `mean_absolute_percentage_error`. It is a fraction, not a percentage, and a truth of 0
    /// with a wrong prediction makes it about 4.5e15 times the error.
    pub mean_absolute_percentage_error: Result<f64, Undefined>,
    /// 1 - Σ(y - ŷ)² / Σ(y - ȳ)², as scikit-learn's `r2_score`. `Undefined::ConstantTruth`
    /// when all truth values are equal, where scikit-learn returns 1.0 for perfect
    /// predictions and 0.0 otherwise.
    pub r2: Result<f64, Undefined>,
}

impl Regression {
    /// Computes every figure over `pairs` of a prediction and its truth.
    pub fn from_pairs(pairs: &[(f64, f64)]) -> Self {
        let mut excluded = NonFinite::default();
        let finite: Vec<(f64, f64)> = pairs
            .iter()
            .copied()
            .filter(|&(prediction, truth)| excluded.keep(&[prediction, truth]))
            .collect();
        Regression {
            len: finite.len(),
            excluded,
            mean_absolute_error: mean_of(&finite, |p, y| (p - y).abs()),
            root_mean_squared_error: mean_of(&finite, |p, y| (p - y) * (p - y)).map(f64::sqrt),
            mean_absolute_percentage_error: mean_of(&finite, |p, y| {
                (p - y).abs() / y.abs().max(f64::EPSILON)
            }),
            r2: r2(&finite),
        }
    }

    /// `from_pairs` over two slices, where `truths[i]` is the truth of `predictions[i]`.
    ///
    /// Returns `Error::InvalidInput` when the slices differ in length.
    pub fn from_slices(predictions: &[f64], truths: &[f64]) -> Result<Self> {
        check_lengths("predictions", predictions.len(), "truths", truths.len())?;
        let pairs: Vec<(f64, f64)> = predictions
            .iter()
            .copied()
            .zip(truths.iter().copied())
            .collect();
        Ok(Self::from_pairs(&pairs))
    }
}

/// Returns the mean of `f(prediction, truth)` over the pairs.
fn mean_of(finite: &[(f64, f64)], f: impl Fn(f64, f64) -> f64) -> Result<f64, Undefined> {
    if finite.is_empty() {
        return Err(Undefined::NoData);
    }
    let sum = compensated_sum(finite.iter().map(|&(p, y)| f(p, y)));
    Ok(sum / finite.len() as f64)
}

fn r2(finite: &[(f64, f64)]) -> Result<f64, Undefined> {
    let Some(&(_, first_truth)) = finite.first() else {
        return Err(Undefined::NoData);
    };
    // Compared exactly: the mean of equal values can differ from them by rounding, which
    // would leave a total sum of squares of 1e-30 instead of 0.
    if finite.iter().all(|&(_, y)| y == first_truth) {
        return Err(Undefined::ConstantTruth);
    }
    let mean = compensated_sum(finite.iter().map(|&(_, y)| y)) / finite.len() as f64;
    let residual = compensated_sum(finite.iter().map(|&(p, y)| (y - p) * (y - p)));
    let total = compensated_sum(finite.iter().map(|&(_, y)| (y - mean) * (y - mean)));
    Ok(1.0 - residual / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Result<f64, Undefined>, expected: f64) -> bool {
        actual.is_ok_and(|a| (a - expected).abs() <= 1e-15 * expected.abs().max(1.0))
    }

    #[test]
    fn regression_by_hand() {
        // Errors 1, -2, 0; truth mean 3, total sum of squares 8.
        let pairs = [(3.0, 2.0), (2.0, 4.0), (3.0, 3.0)];
        let summary = Regression::from_pairs(&pairs);
        assert_eq!(summary.len, 3);
        assert!(close(summary.mean_absolute_error, 1.0));
        assert!(close(
            summary.root_mean_squared_error,
            (5.0_f64 / 3.0).sqrt()
        ));
        assert!(close(
            summary.mean_absolute_percentage_error,
            (0.5 + 0.5) / 3.0
        ));
        assert!(close(summary.r2, 1.0 - 5.0 / 2.0));
    }

    #[test]
    fn percentage_error_with_zero_truth() {
        let summary = Regression::from_pairs(&[(1.0, 0.0)]);
        assert_eq!(
            summary.mean_absolute_percentage_error,
            Ok(1.0 / f64::EPSILON)
        );
    }

    #[test]
    fn r2_of_constant_truth_is_undefined() {
        let summary = Regression::from_pairs(&[(0.2, 0.1), (0.1, 0.1), (0.0, 0.1)]);
        assert_eq!(summary.r2, Err(Undefined::ConstantTruth));
        let single = Regression::from_pairs(&[(0.2, 0.1)]);
        assert_eq!(single.r2, Err(Undefined::ConstantTruth));
    }

    #[test]
    fn non_finite_pairs_are_excluded() {
        let pairs = [
            (1.0, 2.0),
            (f64::NAN, 1.0),
            (1.0, f64::NEG_INFINITY),
            (f64::INFINITY, f64::NAN),
        ];
        let summary = Regression::from_pairs(&pairs);
        assert_eq!(summary.len, 1);
        assert_eq!(
            summary.excluded,
            NonFinite {
                nan: 2,
                infinite: 1
            }
        );
        assert_eq!(summary.mean_absolute_error, Ok(1.0));
    }

    #[test]
    fn empty_regression_has_no_data() {
        let summary = Regression::from_pairs(&[(f64::NAN, 1.0)]);
        assert_eq!(summary.mean_absolute_error, Err(Undefined::NoData));
        assert_eq!(summary.root_mean_squared_error, Err(Undefined::NoData));
        assert_eq!(
            summary.mean_absolute_percentage_error,
            Err(Undefined::NoData)
        );
        assert_eq!(summary.r2, Err(Undefined::NoData));
    }

    #[test]
    fn regression_slices_must_match() {
        let error = Regression::from_slices(&[1.0], &[1.0, 2.0]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("1 predictions and 2 truths"), "{message}");
    }
}
