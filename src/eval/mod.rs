//! Evaluators for model monitoring: binary classification and regression metrics, and drift
//! between a reference sample and a window, as pure functions over slices.
//!
//! Nothing here reads or writes a store. A monitoring job reads a window of predictions with
//! `Store::read_metrics`, passes the values to these functions, and stores the figures with
//! `track_aggregate_metrics`. The drift evaluators prepare the reference once
//! (`NumericDrift::new`, `CategoricalDrift::new`) and then compare any number of windows with
//! it.
//!
//! # Agreement with SciPy and scikit-learn
//!
//! Each figure follows the SciPy or scikit-learn function named in its documentation.
//! `tests/evaluators.rs` checks every evaluator against values that
//! `tests/data/eval/generate.py` computed with SciPy 1.17.1 and scikit-learn 1.9.1, to within
//! 1e-9: absolute for figures up to 1 in magnitude, relative above. The inputs include ties,
//! one class, empty and non-finite samples, and the car-loan data of `examples/data`.
//!
//! # Real data
//!
//! - NaN and ±infinity are excluded before any figure is computed, and counted in a
//!   [`NonFinite`](crate::eval::NonFinite). A pair (a score and its label, a prediction and
//!   its truth) is excluded when one of its values is.
//! - A figure that the data does not define, such as ROC AUC without both classes or R² with
//!   constant truth, is `Err(Undefined)` with the reason. Where scikit-learn returns a number
//!   with a warning in such a case (precision 0 without predicted positives, for example),
//!   these functions return the reason instead. Each such case is listed where it occurs.
//! - Two slices of different lengths are an `Error::InvalidInput` that names both lengths.
//!
//! # Example
//!
//! ```
//! use modelmetrics::eval::{BinaryClassification, NumericDrift};
//!
//! let scores = [0.9, 0.2, 0.65, f64::NAN, 0.4];
//! let labels = [true, false, true, true, false];
//! let summary = BinaryClassification::from_slices(&scores, &labels, 0.5)?;
//! assert_eq!(summary.len, 4);
//! assert_eq!(summary.excluded.nan, 1);
//! assert_eq!(summary.roc_auc, Ok(1.0));
//! assert_eq!(summary.confusion.accuracy(), Ok(1.0));
//!
//! let drift = NumericDrift::new(&[1.0, 2.0, 3.0, 4.0, 5.0]);
//! let result = drift.compare(&[4.0, 5.0, 6.0]);
//! assert!(result.ks?.p_value < 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod categorical;
mod classification;
mod ks;
mod numeric;
mod psi;
mod ranking;
mod regression;
pub mod special;
mod sum;
mod wasserstein;

use std::fmt;

use crate::error::{Error, Result};

pub use categorical::{CategoricalDrift, CategoricalDriftResult, ChiSquareTest, bool_category};
pub use classification::{
    BinaryClassification, ConfusionMatrix, average_precision, brier_score, log_loss, roc_auc,
};
pub use ks::{KS_EXACT_MAX_LEN, KsMethod, KsTest, ks_two_sample};
pub use numeric::{NumericDrift, NumericDriftResult};
pub use psi::{DEFAULT_PSI_BINS, PSI_EPSILON};
pub use regression::Regression;
pub use wasserstein::wasserstein_distance;

/// Reason why a figure is undefined for the data it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undefined {
    /// No value, or no pair, is left once NaN and infinities are excluded.
    NoData,
    /// The reference sample has no finite value.
    EmptyReference,
    /// The window has no finite value.
    EmptyWindow,
    /// All labels belong to one class, so no positive can be ranked against a negative.
    OneClass,
    /// No label is positive.
    NoPositiveLabels,
    /// No score reaches the threshold.
    NoPredictedPositives,
    /// A score is outside [0, 1], so it is not a probability.
    ScoreOutsideUnitInterval,
    /// All truth values are equal, so the total sum of squares is zero. One value counts as
    /// constant.
    ConstantTruth,
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            Undefined::NoData => "no finite values",
            Undefined::EmptyReference => "the reference sample has no finite values",
            Undefined::EmptyWindow => "the window has no finite values",
            Undefined::OneClass => "all labels belong to one class",
            Undefined::NoPositiveLabels => "no label is positive",
            Undefined::NoPredictedPositives => "no score reaches the threshold",
            Undefined::ScoreOutsideUnitInterval => "a score is outside [0, 1]",
            Undefined::ConstantTruth => "all truth values are equal",
        };
        f.write_str(reason)
    }
}

impl std::error::Error for Undefined {}

/// Counts of the values, or pairs, excluded because they are NaN or infinite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonFinite {
    pub nan: usize,
    /// +∞ and -∞ together.
    pub infinite: usize,
}

impl NonFinite {
    pub fn total(&self) -> usize {
        self.nan + self.infinite
    }

    /// Returns whether every value is finite. Otherwise counts the values once: as NaN when
    /// one of them is NaN, as infinite when not.
    fn keep(&mut self, values: &[f64]) -> bool {
        if values.iter().any(|v| v.is_nan()) {
            self.nan += 1;
            return false;
        }
        if values.iter().any(|v| v.is_infinite()) {
            self.infinite += 1;
            return false;
        }
        true
    }
}

/// Returns the finite values of `values` in ascending order, and the counts of the others.
fn finite_sorted(values: &[f64]) -> (Vec<f64>, NonFinite) {
    let mut excluded = NonFinite::default();
    let mut finite: Vec<f64> = values
        .iter()
        .copied()
        .filter(|&v| excluded.keep(&[v]))
        .collect();
    finite.sort_by(f64::total_cmp);
    (finite, excluded)
}

/// Returns `Error::InvalidInput` unless two slices that go together have the same length.
fn check_lengths(first: &str, first_len: usize, second: &str, second_len: usize) -> Result<()> {
    if first_len == second_len {
        return Ok(());
    }
    Err(Error::invalid(
        "slice lengths",
        format!("{first_len} {first} and {second_len} {second}"),
        "the two slices must have the same length, one entry per prediction",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_sorted_counts_exclusions() {
        let values = [3.0, f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY, 2.0];
        let (finite, excluded) = finite_sorted(&values);
        assert_eq!(finite, vec![-1.0, 2.0, 3.0]);
        assert_eq!(excluded.nan, 1);
        assert_eq!(excluded.infinite, 2);
        assert_eq!(excluded.total(), 3);
    }

    #[test]
    fn pair_with_nan_counts_once() {
        let mut excluded = NonFinite::default();
        assert!(!excluded.keep(&[f64::NAN, f64::INFINITY]));
        assert!(excluded.keep(&[1.0, 2.0]));
        assert_eq!(
            excluded,
            NonFinite {
                nan: 1,
                infinite: 0
            }
        );
    }

    #[test]
    fn length_mismatch_names_both_lengths() {
        let error = check_lengths("scores", 3, "labels", 4).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("3 scores"), "{message}");
        assert!(message.contains("4 labels"), "{message}");
    }

    #[test]
    fn undefined_reason_reads_as_text() {
        assert_eq!(
            Undefined::OneClass.to_string(),
            "all labels belong to one class"
        );
    }
}
