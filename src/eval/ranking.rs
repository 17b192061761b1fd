//! Ranking metrics of a binary classifier, over pairs of a finite score and a label sorted by
//! ascending score.

use super::Undefined;
use super::sum::CompensatedSum;

/// Label counts of one run of equal scores.
struct TiedScores {
    positives: u64,
    negatives: u64,
}

/// Splits pairs sorted by score into runs of equal scores, in ascending order of score.
fn tied_runs(sorted: &[(f64, bool)]) -> impl DoubleEndedIterator<Item = TiedScores> + '_ {
    sorted.chunk_by(|a, b| a.0 == b.0).map(|run| {
        let positives = run.iter().filter(|(_, label)| *label).count() as u64;
        TiedScores {
            positives,
            negatives: run.len() as u64 - positives,
        }
    })
}

/// ROC AUC of pairs sorted by ascending score: the probability that a random positive scores
/// higher than a random negative, ties counting one half.
///
/// The area is the Mann–Whitney U statistic over P·N, with U summed in integers, so the only
/// rounding is the final division. It equals the trapezoidal area under the ROC curve that
/// scikit-learn's `roc_auc_score` returns.
pub(super) fn roc_auc_sorted(sorted: &[(f64, bool)]) -> Result<f64, Undefined> {
    if sorted.is_empty() {
        return Err(Undefined::NoData);
    }
    let mut negatives_below: u128 = 0;
    let mut positives: u128 = 0;
    // 2U: each positive gains 2 per negative below it and 1 per negative tied with it.
    let mut twice_u: u128 = 0;
    for run in tied_runs(sorted) {
        let (run_positives, run_negatives) = (u128::from(run.positives), u128::from(run.negatives));
        twice_u += run_positives * (2 * negatives_below + run_negatives);
        negatives_below += run_negatives;
        positives += run_positives;
    }
    if positives == 0 || negatives_below == 0 {
        return Err(Undefined::OneClass);
    }
    Ok(twice_u as f64 / (2 * positives * negatives_below) as f64)
}

/// Average precision of pairs sorted by ascending score: Σ (Rₖ - Rₖ₋₁) Pₖ over the distinct
/// scores taken as thresholds from the highest down. Pₖ and Rₖ are the precision and recall
/// when every score at or above the k-th threshold counts as positive. Equals scikit-learn's
/// `average_precision_score`, which has no interpolation.
///
/// Without positive labels scikit-learn warns and returns 0; this returns
/// `Undefined::NoPositiveLabels`.
pub(super) fn average_precision_sorted(sorted: &[(f64, bool)]) -> Result<f64, Undefined> {
    if sorted.is_empty() {
        return Err(Undefined::NoData);
    }
    let positives = sorted.iter().filter(|(_, label)| *label).count() as f64;
    if positives == 0.0 {
        return Err(Undefined::NoPositiveLabels);
    }

    let mut true_positives = 0_u64;
    let mut predicted_positives = 0_u64;
    let mut sum = CompensatedSum::default();
    for run in tied_runs(sorted).rev() {
        true_positives += run.positives;
        predicted_positives += run.positives + run.negatives;
        if run.positives > 0 {
            let recall_step = run.positives as f64 / positives;
            let precision = true_positives as f64 / predicted_positives as f64;
            sum.add(recall_step * precision);
        }
    }
    Ok(sum.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(pairs: &[(f64, bool)]) -> Vec<(f64, bool)> {
        let mut pairs = pairs.to_vec();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs
    }

    /// Counts the (positive, negative) pairs ordered correctly, ties as one half.
    fn auc_by_pairs(pairs: &[(f64, bool)]) -> f64 {
        let mut wins = 0.0;
        let mut total = 0.0;
        for &(positive, _) in pairs.iter().filter(|p| p.1) {
            for &(negative, _) in pairs.iter().filter(|p| !p.1) {
                total += 1.0;
                if positive > negative {
                    wins += 1.0;
                } else if positive == negative {
                    wins += 0.5;
                }
            }
        }
        wins / total
    }

    #[test]
    fn roc_auc_matches_pair_counting() {
        // 11 distinct scores over 60 pairs, so most scores are tied.
        let pairs: Vec<(f64, bool)> = (0..60_u32)
            .map(|i| (f64::from(i * 7 % 11) / 10.0, i % 3 == 0 || i % 7 == 0))
            .collect();
        let expected = auc_by_pairs(&pairs);
        let actual = roc_auc_sorted(&sorted(&pairs)).unwrap();
        assert!((actual - expected).abs() < 1e-15, "{actual} vs {expected}");
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        let all_tied = [(0.5, false), (0.5, true), (0.5, true)];
        assert_eq!(roc_auc_sorted(&all_tied), Ok(0.5));
        let one_tie = sorted(&[(0.3, false), (0.7, false), (0.7, true)]);
        assert_eq!(roc_auc_sorted(&one_tie), Ok(0.75));
    }

    #[test]
    fn roc_auc_of_reversed_ranking_is_zero() {
        let reversed = sorted(&[(0.9, false), (0.8, false), (0.2, true), (0.1, true)]);
        assert_eq!(roc_auc_sorted(&reversed), Ok(0.0));
    }

    #[test]
    fn roc_auc_needs_both_classes() {
        assert_eq!(roc_auc_sorted(&[]), Err(Undefined::NoData));
        assert_eq!(
            roc_auc_sorted(&[(0.2, true), (0.9, true)]),
            Err(Undefined::OneClass)
        );
        assert_eq!(roc_auc_sorted(&[(0.2, false)]), Err(Undefined::OneClass));
    }

    #[test]
    fn average_precision_by_hand() {
        // From the top: 0.9 positive (P 1, R 1/2), 0.8 negative, 0.4 positive (P 2/3, R 1).
        let pairs = sorted(&[(0.9, true), (0.8, false), (0.4, true), (0.1, false)]);
        let expected = 0.5 * 1.0 + 0.5 * (2.0 / 3.0);
        let actual = average_precision_sorted(&pairs).unwrap();
        assert!((actual - expected).abs() < 1e-15, "{actual}");
    }

    #[test]
    fn average_precision_takes_ties_as_one_threshold() {
        // The one threshold takes in every pair: precision 1/2 at recall 1.
        let pairs = [(0.5, false), (0.5, true)];
        assert_eq!(average_precision_sorted(&pairs), Ok(0.5));
    }

    #[test]
    fn average_precision_without_positives() {
        let pairs = [(0.5, false), (0.7, false)];
        assert_eq!(
            average_precision_sorted(&pairs),
            Err(Undefined::NoPositiveLabels)
        );
        assert_eq!(average_precision_sorted(&[]), Err(Undefined::NoData));
    }

    #[test]
    fn average_precision_of_positives_only() {
        assert_eq!(
            average_precision_sorted(&[(0.1, true), (0.3, true)]),
            Ok(1.0)
        );
    }
}
