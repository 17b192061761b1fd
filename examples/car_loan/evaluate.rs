//! Performance of a binary classifier over a window: ROC AUC and accuracy.

/// Returns the area under the ROC curve of `samples`, pairs of a score and whether the true class
/// is positive, or `None` when either class is missing.
///
/// The area is the probability that a random positive scores above a random negative, counting
/// a tie as one half. It is computed as the Mann-Whitney U statistic from the average ranks of
/// the scores, in O(n log n). Scores are ordered by `f64::total_cmp`, so the caller must pass no
/// NaN.
pub fn roc_auc(samples: &[(f64, bool)]) -> Option<f64> {
    let positives = samples.iter().filter(|(_, positive)| *positive).count();
    let negatives = samples.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }

    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));

    // Sum the ranks (1-based, in ascending score) of the positives. Every score of a group of
    // equal scores gets the group's average rank.
    let mut positive_rank_sum = 0.0;
    let mut rank_offset = 0;
    for group in sorted.chunk_by(|a, b| a.0 == b.0) {
        let group_positives = group.iter().filter(|(_, positive)| *positive).count();
        let average_rank = rank_offset as f64 + (group.len() as f64 + 1.0) / 2.0;
        positive_rank_sum += average_rank * group_positives as f64;
        rank_offset += group.len();
    }

    // U counts the (positive, negative) pairs where the positive scores higher, ties as one half.
    let positives = positives as f64;
    let negatives = negatives as f64;
    let u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    Some(u / (positives * negatives))
}

/// Running totals of one window, filled one prediction at a time.
#[derive(Clone, Debug, Default)]
pub struct WindowEvaluation {
    rows: u64,
    samples: Vec<(f64, bool)>,
    correct: u64,
}

/// Performance of the model over one window.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowScores {
    /// Predictions in the window.
    pub rows: u64,
    /// Predictions in the window with ground truth.
    pub labeled: u64,
    /// `None` without labels of both classes.
    pub roc_auc: Option<f64>,
    /// Fraction of labeled predictions whose predicted class is the true one; `None` without
    /// labels.
    pub accuracy: Option<f64>,
}

impl WindowEvaluation {
    /// Adds one prediction: its score, its predicted class and its true class when known.
    pub fn add(&mut self, score: f64, predicted: i64, actual: Option<i64>) {
        self.rows += 1;
        if let Some(actual) = actual {
            self.samples.push((score, actual == 1));
            self.correct += u64::from(predicted == actual);
        }
    }

    pub fn finish(&self) -> WindowScores {
        let labeled = self.samples.len() as u64;
        WindowScores {
            rows: self.rows,
            labeled,
            roc_auc: roc_auc(&self.samples),
            accuracy: (labeled > 0).then(|| self.correct as f64 / labeled as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the (positive, negative) pairs ordered correctly, ties as one half: the definition.
    fn roc_auc_by_pairs(samples: &[(f64, bool)]) -> Option<f64> {
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for &(positive_score, _) in samples.iter().filter(|s| s.1) {
            for &(negative_score, _) in samples.iter().filter(|s| !s.1) {
                pairs += 1.0;
                if positive_score > negative_score {
                    wins += 1.0;
                } else if positive_score == negative_score {
                    wins += 0.5;
                }
            }
        }
        (pairs > 0.0).then(|| wins / pairs)
    }

    #[test]
    fn roc_auc_matches_pair_counting() {
        // A linear congruential generator gives scores with many ties: 21 distinct values.
        let mut state: u64 = 12_345;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        for len in [2, 3, 10, 57, 400] {
            let samples: Vec<(f64, bool)> = (0..len)
                .map(|_| ((next() % 21) as f64 / 20.0, next() % 3 == 0))
                .collect();
            let expected = roc_auc_by_pairs(&samples);
            let actual = roc_auc(&samples);
            match (expected, actual) {
                (Some(e), Some(a)) => assert!((e - a).abs() < 1e-12, "len {len}: {e} vs {a}"),
                _ => assert_eq!(expected, actual, "len {len}"),
            }
        }
    }

    #[test]
    fn roc_auc_of_perfect_and_reversed_ranking() {
        let perfect = [(0.1, false), (0.2, false), (0.8, true), (0.9, true)];
        assert_eq!(roc_auc(&perfect), Some(1.0));
        let reversed = [(0.9, false), (0.8, false), (0.2, true), (0.1, true)];
        assert_eq!(roc_auc(&reversed), Some(0.0));
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        let all_tied = [(0.5, false), (0.5, true), (0.5, true)];
        assert_eq!(roc_auc(&all_tied), Some(0.5));
        // Pairs: (0.7 vs 0.3) = 1, (0.7 vs 0.7) = 0.5, so 1.5 of 2.
        let one_tie = [(0.3, false), (0.7, false), (0.7, true)];
        assert_eq!(roc_auc(&one_tie), Some(0.75));
    }

    #[test]
    fn roc_auc_needs_both_classes() {
        assert_eq!(roc_auc(&[]), None);
        assert_eq!(roc_auc(&[(0.2, true), (0.9, true)]), None);
        assert_eq!(roc_auc(&[(0.2, false)]), None);
    }

    #[test]
    fn window_evaluation_counts_labeled_rows() {
        let mut window = WindowEvaluation::default();
        window.add(0.9, 1, Some(1));
        window.add(0.8, 1, Some(0));
        window.add(0.3, 0, Some(0));
        window.add(0.6, 1, None);
        let scores = window.finish();
        assert_eq!(scores.rows, 4);
        assert_eq!(scores.labeled, 3);
        assert_eq!(scores.accuracy, Some(2.0 / 3.0));
        assert_eq!(scores.roc_auc, Some(1.0));
    }

    #[test]
    fn window_evaluation_without_labels() {
        let mut window = WindowEvaluation::default();
        window.add(0.9, 1, None);
        let scores = window.finish();
        assert_eq!(scores.rows, 1);
        assert_eq!(scores.labeled, 0);
        assert_eq!(scores.accuracy, None);
        assert_eq!(scores.roc_auc, None);
    }
}
