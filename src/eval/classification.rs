//! Binary classification: the summary of a window, its probability metrics, and the confusion
//! matrix at a threshold.

use super::ranking::{average_precision_sorted, roc_auc_sorted};
use super::sum::compensated_sum;
use super::{NonFinite, Undefined, check_lengths};
use crate::error::{Error, Result};

/// Performance of a binary classifier over one window, from pairs of a score and a label
/// (`true` for the positive class).
///
/// Pairs whose score is NaN or infinite are excluded and counted in `excluded`. Every other
/// figure is computed over the remaining `len` pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryClassification {
    /// Pairs with a finite score.
    pub len: usize,
    /// Pairs with a finite score and a positive label.
    pub positives: usize,
    pub excluded: NonFinite,
    /// See [`roc_auc`].
    pub roc_auc: Result<f64, Undefined>,
    /// See [`average_precision`].
    pub average_precision: Result<f64, Undefined>,
    /// See [`log_loss`].
    pub log_loss: Result<f64, Undefined>,
    /// See [`brier_score`].
    pub brier_score: Result<f64, Undefined>,
    /// Counts at the threshold given to the constructor, with accuracy, precision, recall and
    /// F1 as methods.
    pub confusion: ConfusionMatrix,
}

impl BinaryClassification {
    /// Computes every figure over `samples`, pairs of a score and a label. A score counts as a
    /// positive prediction when it is at or above `threshold`.
    ///
    /// Returns `Error::InvalidInput` when `threshold` is NaN.
    pub fn from_pairs(samples: &[(f64, bool)], threshold: f64) -> Result<Self> {
        check_threshold(threshold)?;
        let (sorted, excluded) = finite_sorted_pairs(samples);
        let positives = sorted.iter().filter(|(_, label)| *label).count();
        Ok(BinaryClassification {
            len: sorted.len(),
            positives,
            excluded,
            roc_auc: roc_auc_sorted(&sorted),
            average_precision: average_precision_sorted(&sorted),
            log_loss: log_loss_finite(&sorted),
            brier_score: brier_score_finite(&sorted),
            confusion: ConfusionMatrix::count(&sorted, threshold),
        })
    }

    /// `from_pairs` over two slices, where `labels[i]` is the label of `scores[i]`.
    ///
    /// Returns `Error::InvalidInput` when the slices differ in length or `threshold` is NaN.
    pub fn from_slices(scores: &[f64], labels: &[bool], threshold: f64) -> Result<Self> {
        check_lengths("scores", scores.len(), "labels", labels.len())?;
        let pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
        Self::from_pairs(&pairs, threshold)
    }
}

/// Computes the ROC AUC of the pairs with a finite score: the probability that a random
/// positive scores higher than a random negative, ties counting one half. Equals
/// scikit-learn's `roc_auc_score`, which warns and returns NaN where this returns
/// `Undefined::OneClass`.
pub fn roc_auc(samples: &[(f64, bool)]) -> Result<f64, Undefined> {
    roc_auc_sorted(&finite_sorted_pairs(samples).0)
}

/// Computes the average precision of the pairs with a finite score:
/// AP = Σ (Rₖ - Rₖ₋₁) Pₖ over the distinct scores from the highest down, without
/// interpolation. Equals scikit-learn's `average_precision_score`.
///
/// Without positive labels scikit-learn warns and returns 0; this returns
/// `Undefined::NoPositiveLabels`.
pub fn average_precision(samples: &[(f64, bool)]) -> Result<f64, Undefined> {
    average_precision_sorted(&finite_sorted_pairs(samples).0)
}

/// Computes the mean log loss (cross-entropy, natural logarithm) of the pairs with a finite
/// score: -mean(ln p) over positives and -mean(ln(1 - p)) over negatives, together.
///
/// As scikit-learn's `log_loss` (1.9.1, binary case), each of p and 1 - p is clipped to
/// [ε, 1 - ε] with ε = f64::EPSILON before the logarithm, so the loss of one pair is at most
/// -ln ε ≈ 36.04. scikit-learn raises an error for a window of one class unless `labels` is
/// given; this returns the loss it computes with `labels=[False, True]`. Returns
/// `Undefined::ScoreOutsideUnitInterval` when a score is outside [0, 1], where scikit-learn
/// raises an error.
pub fn log_loss(samples: &[(f64, bool)]) -> Result<f64, Undefined> {
    log_loss_finite(&finite_pairs(samples))
}

/// Computes the Brier score of the pairs with a finite score: mean((p - y)²) with y = 1 for a
/// positive label and 0 otherwise. Equals scikit-learn's `brier_score_loss`.
///
/// Returns `Undefined::ScoreOutsideUnitInterval` when a score is outside [0, 1], where
/// scikit-learn raises an error.
pub fn brier_score(samples: &[(f64, bool)]) -> Result<f64, Undefined> {
    brier_score_finite(&finite_pairs(samples))
}

/// Counts of predictions against labels at one threshold. A score counts as a positive
/// prediction when it is greater than or equal to the threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfusionMatrix {
    pub threshold: f64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub true_negatives: u64,
    pub false_negatives: u64,
}

impl ConfusionMatrix {
    /// Counts the pairs with a finite score at `threshold`; NaN and infinite scores are
    /// skipped. Returns `Error::InvalidInput` when `threshold` is NaN.
    pub fn new(samples: &[(f64, bool)], threshold: f64) -> Result<Self> {
        check_threshold(threshold)?;
        Ok(Self::count(&finite_pairs(samples), threshold))
    }

    fn count(finite: &[(f64, bool)], threshold: f64) -> Self {
        let mut matrix = ConfusionMatrix {
            threshold,
            true_positives: 0,
            false_positives: 0,
            true_negatives: 0,
            false_negatives: 0,
        };
        for &(score, label) in finite {
            let counter = match (score >= threshold, label) {
                (true, true) => &mut matrix.true_positives,
                (true, false) => &mut matrix.false_positives,
                (false, false) => &mut matrix.true_negatives,
                (false, true) => &mut matrix.false_negatives,
            };
            *counter += 1;
        }
        matrix
    }

    /// Returns the number of pairs counted.
    pub fn len(&self) -> u64 {
        self.true_positives + self.false_positives + self.true_negatives + self.false_negatives
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Computes (TP + TN) / n, as scikit-learn's `accuracy_score`.
    pub fn accuracy(&self) -> Result<f64, Undefined> {
        let correct = self.true_positives + self.true_negatives;
        ratio(correct, self.len(), Undefined::NoData)
    }

    /// Computes TP / (TP + FP), as scikit-learn's `precision_score`. Without predicted
    /// positives scikit-learn warns and returns 0; this returns
    /// `Undefined::NoPredictedPositives`.
    pub fn precision(&self) -> Result<f64, Undefined> {
        let predicted = self.true_positives + self.false_positives;
        let undefined = self.empty_or(Undefined::NoPredictedPositives);
        ratio(self.true_positives, predicted, undefined)
    }

    /// Computes TP / (TP + FN), as scikit-learn's `recall_score`. Without positive labels
    /// scikit-learn warns and returns 0; this returns `Undefined::NoPositiveLabels`.
    pub fn recall(&self) -> Result<f64, Undefined> {
        let actual = self.true_positives + self.false_negatives;
        let undefined = self.empty_or(Undefined::NoPositiveLabels);
        ratio(self.true_positives, actual, undefined)
    }

    /// Computes F1 = 2TP / (2TP + FP + FN), the harmonic mean of precision and recall, as
    /// scikit-learn's `f1_score`. It is 0 when only one of precision and recall is undefined.
    /// Without positive labels and without predicted positives scikit-learn warns and returns
    /// 0; this returns `Undefined::NoPositiveLabels`.
    pub fn f1(&self) -> Result<f64, Undefined> {
        let denominator = 2 * self.true_positives + self.false_positives + self.false_negatives;
        let undefined = self.empty_or(Undefined::NoPositiveLabels);
        ratio(2 * self.true_positives, denominator, undefined)
    }

    fn empty_or(&self, reason: Undefined) -> Undefined {
        if self.is_empty() {
            Undefined::NoData
        } else {
            reason
        }
    }
}

fn ratio(numerator: u64, denominator: u64, undefined: Undefined) -> Result<f64, Undefined> {
    if denominator == 0 {
        return Err(undefined);
    }
    Ok(numerator as f64 / denominator as f64)
}

fn check_threshold(threshold: f64) -> Result<()> {
    if threshold.is_nan() {
        return Err(Error::invalid(
            "threshold",
            "NaN",
            "pass a number: a score at or above the threshold counts as a positive prediction",
        ));
    }
    Ok(())
}

fn finite_pairs(samples: &[(f64, bool)]) -> Vec<(f64, bool)> {
    samples
        .iter()
        .copied()
        .filter(|(score, _)| score.is_finite())
        .collect()
}

/// Returns the pairs with a finite score sorted by score, and the counts of the others.
fn finite_sorted_pairs(samples: &[(f64, bool)]) -> (Vec<(f64, bool)>, NonFinite) {
    let mut excluded = NonFinite::default();
    let mut finite: Vec<(f64, bool)> = samples
        .iter()
        .copied()
        .filter(|&(score, _)| excluded.keep(&[score]))
        .collect();
    finite.sort_by(|a, b| a.0.total_cmp(&b.0));
    (finite, excluded)
}

fn check_probabilities(finite: &[(f64, bool)]) -> Result<(), Undefined> {
    if finite.is_empty() {
        return Err(Undefined::NoData);
    }
    if finite.iter().any(|(p, _)| !(0.0..=1.0).contains(p)) {
        return Err(Undefined::ScoreOutsideUnitInterval);
    }
    Ok(())
}

fn log_loss_finite(finite: &[(f64, bool)]) -> Result<f64, Undefined> {
    check_probabilities(finite)?;
    let epsilon = f64::EPSILON;
    let losses = finite.iter().map(|&(p, label)| {
        let probability_of_label = if label { p } else { 1.0 - p };
        -probability_of_label.clamp(epsilon, 1.0 - epsilon).ln()
    });
    Ok(compensated_sum(losses) / finite.len() as f64)
}

fn brier_score_finite(finite: &[(f64, bool)]) -> Result<f64, Undefined> {
    check_probabilities(finite)?;
    let squares = finite.iter().map(|&(p, label)| {
        let error = p - if label { 1.0 } else { 0.0 };
        error * error
    });
    Ok(compensated_sum(squares) / finite.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [(f64, bool); 5] = [
        (0.9, true),
        (0.8, false),
        (0.6, true),
        (0.3, false),
        (0.1, true),
    ];

    #[test]
    fn confusion_counts_at_threshold() {
        let matrix = ConfusionMatrix::new(&SAMPLES, 0.6).unwrap();
        assert_eq!(matrix.true_positives, 2);
        assert_eq!(matrix.false_positives, 1);
        assert_eq!(matrix.true_negatives, 1);
        assert_eq!(matrix.false_negatives, 1);
        assert_eq!(matrix.accuracy(), Ok(0.6));
        assert_eq!(matrix.precision(), Ok(2.0 / 3.0));
        assert_eq!(matrix.recall(), Ok(2.0 / 3.0));
        assert_eq!(matrix.f1(), Ok(4.0 / 6.0));
    }

    #[test]
    fn score_equal_to_threshold_is_positive() {
        let matrix = ConfusionMatrix::new(&[(0.5, false)], 0.5).unwrap();
        assert_eq!(matrix.false_positives, 1);
    }

    #[test]
    fn precision_without_predicted_positives() {
        let matrix = ConfusionMatrix::new(&SAMPLES, 0.95).unwrap();
        assert_eq!(matrix.precision(), Err(Undefined::NoPredictedPositives));
        assert_eq!(matrix.recall(), Ok(0.0));
        assert_eq!(matrix.f1(), Ok(0.0));
    }

    #[test]
    fn recall_and_f1_without_positives() {
        let negatives = [(0.2, false), (0.4, false)];
        let matrix = ConfusionMatrix::new(&negatives, 0.5).unwrap();
        assert_eq!(matrix.recall(), Err(Undefined::NoPositiveLabels));
        assert_eq!(matrix.f1(), Err(Undefined::NoPositiveLabels));
        assert_eq!(matrix.accuracy(), Ok(1.0));
    }

    #[test]
    fn empty_confusion_matrix_has_no_data() {
        let matrix = ConfusionMatrix::new(&[(f64::NAN, true)], 0.5).unwrap();
        assert!(matrix.is_empty());
        assert_eq!(matrix.accuracy(), Err(Undefined::NoData));
        assert_eq!(matrix.precision(), Err(Undefined::NoData));
        assert_eq!(matrix.recall(), Err(Undefined::NoData));
        assert_eq!(matrix.f1(), Err(Undefined::NoData));
    }

    #[test]
    fn nan_threshold_is_rejected() {
        assert!(ConfusionMatrix::new(&SAMPLES, f64::NAN).is_err());
        assert!(BinaryClassification::from_pairs(&SAMPLES, f64::NAN).is_err());
    }

    #[test]
    fn log_loss_by_hand() {
        let samples = [(0.8, true), (0.4, false)];
        let expected = -(0.8_f64.ln() + 0.6_f64.ln()) / 2.0;
        let actual = log_loss(&samples).unwrap();
        assert!((actual - expected).abs() < 1e-15, "{actual}");
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        let loss = log_loss(&[(0.0, true)]).unwrap();
        assert_eq!(loss, -f64::EPSILON.ln());
    }

    #[test]
    fn probability_metrics_reject_other_scores() {
        let samples = [(1.5, true), (0.5, false)];
        assert_eq!(log_loss(&samples), Err(Undefined::ScoreOutsideUnitInterval));
        assert_eq!(
            brier_score(&samples),
            Err(Undefined::ScoreOutsideUnitInterval)
        );
        assert_eq!(log_loss(&[]), Err(Undefined::NoData));
        assert_eq!(brier_score(&[]), Err(Undefined::NoData));
    }

    #[test]
    fn brier_score_by_hand() {
        let samples = [(0.8, true), (0.4, false)];
        let expected = (0.2 * 0.2 + 0.4 * 0.4) / 2.0;
        let actual = brier_score(&samples).unwrap();
        assert!((actual - expected).abs() < 1e-16, "{actual}");
    }

    #[test]
    fn summary_excludes_non_finite_scores() {
        let samples = [
            (0.9, true),
            (f64::NAN, true),
            (f64::INFINITY, false),
            (0.2, false),
        ];
        let summary = BinaryClassification::from_pairs(&samples, 0.5).unwrap();
        assert_eq!(summary.len, 2);
        assert_eq!(summary.positives, 1);
        assert_eq!(
            summary.excluded,
            NonFinite {
                nan: 1,
                infinite: 1
            }
        );
        assert_eq!(summary.roc_auc, Ok(1.0));
        assert_eq!(summary.confusion.len(), 2);
    }

    #[test]
    fn summary_of_one_class() {
        let summary = BinaryClassification::from_pairs(&[(0.3, true), (0.7, true)], 0.5).unwrap();
        assert_eq!(summary.roc_auc, Err(Undefined::OneClass));
        assert_eq!(summary.average_precision, Ok(1.0));
        assert!(summary.log_loss.is_ok());
    }

    #[test]
    fn slices_of_different_lengths_are_rejected() {
        let error = BinaryClassification::from_slices(&[0.1, 0.2], &[true], 0.5).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("2 scores and 1 labels"), "{message}");
    }
}
