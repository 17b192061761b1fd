//! Figures computed from rollups, each with a bound on its distance to the figure that
//! `crate::eval` computes on the raw predictions. `docs/rollups.md` derives each bound.
//!
//! Functions return `Err(Error)` for invalid input (a NaN threshold, rollups of two models,
//! sketches of different α, a positive label value that spilled into `other`) and
//! `Ok(Err(Undefined))` where the exact evaluator returns that reason. A metric or label value
//! that no rollup contains gives `Undefined::NoData` or `Undefined::OneClass`. Label values
//! are `"true"`/`"false"` for bools, and the decimal digits for integers.

use std::collections::BTreeMap;

use super::sketch::{Bucket, BucketKey, Sketch};
use super::summary::{CategoryCounts, NumericSummary};
use super::{Rollup, merge_all};
use crate::error::{Error, Result};
use crate::eval::{DEFAULT_PSI_BINS, PSI_EPSILON, Undefined};

mod categorical;

pub use categorical::{chi_square, jensen_shannon, l_infinity};

/// Allowance for floating-point rounding, added to every bound of a figure in [0, 1]. The
/// exact evaluators and these functions round differently, by far less than this.
pub(super) const ROUNDING: f64 = 1e-9;

/// A figure computed from rollups: the exact figure on the raw predictions lies within
/// `value ± bound`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// Half-width of the interval that contains the exact figure, ≥ 0.
    pub bound: f64,
}

impl Estimate {
    /// Builds the estimate of a figure known to lie in [lower, upper]: the midpoint.
    pub fn between(lower: f64, upper: f64) -> Estimate {
        Estimate {
            value: (lower + upper) / 2.0,
            bound: (upper - lower).max(0.0) / 2.0,
        }
    }

    /// Returns whether `exact` lies within the bound.
    pub fn contains(&self, exact: f64) -> bool {
        (exact - self.value).abs() <= self.bound
    }

    pub(super) fn widened(self, slack: f64) -> Estimate {
        Estimate {
            value: self.value,
            bound: self.bound + slack,
        }
    }
}

/// Scores of one inline metric split by one label value, from merged rollups.
struct ScoresByLabel {
    positives: Sketch,
    negatives: Sketch,
}

/// Estimates the ROC AUC of inline metric `score` against delayed metric `label_metric`,
/// with `positive` the label value of the positive class, as `eval::roc_auc` computes it on
/// the raw pairs with a finite score.
///
/// Bound: pairs of a positive and a negative in different buckets are ordered exactly, so
/// only pairs that share a bucket other than zero are uncertain, each by ½:
/// bound = ½ Σ_b P_b N_b / (P · N) over the non-zero buckets b.
pub fn roc_auc(
    rollups: &[Rollup],
    score: &str,
    label_metric: &str,
    positive: &str,
) -> Result<Result<Estimate, Undefined>> {
    let Some(scores) = scores_by_label(rollups, score, label_metric, positive)? else {
        return Ok(Err(Undefined::NoData));
    };
    roc_auc_of(&scores.positives, &scores.negatives)
}

/// Estimates the ROC AUC of the scores of positives `positives` against those of negatives
/// `negatives`, as [`roc_auc`] does.
pub fn roc_auc_of(positives: &Sketch, negatives: &Sketch) -> Result<Result<Estimate, Undefined>> {
    let (p, n) = (positives.count(), negatives.count());
    if p == 0 && n == 0 {
        return Ok(Err(Undefined::NoData));
    }
    if p == 0 || n == 0 {
        return Ok(Err(Undefined::OneClass));
    }
    let mut negatives_below = 0u128;
    let (mut wins, mut ties, mut uncertain) = (0u128, 0u128, 0u128);
    for joint in joint_buckets(positives, negatives)? {
        let (pb, nb) = (u128::from(joint.first), u128::from(joint.second));
        wins = wins.saturating_add(pb.saturating_mul(negatives_below));
        ties = ties.saturating_add(pb * nb);
        if !joint.key.is_zero() {
            uncertain = uncertain.saturating_add(pb * nb);
        }
        negatives_below = negatives_below.saturating_add(nb);
    }
    let pairs = u128::from(p) * u128::from(n);
    let value = (wins as f64 + ties as f64 / 2.0) / pairs as f64;
    let bound = uncertain as f64 / 2.0 / pairs as f64;
    Ok(Ok(Estimate { value, bound }.widened(ROUNDING)))
}

/// Estimates the accuracy of the rule "positive when `score` ≥ `threshold`" against
/// `label_metric`, as `eval::ConfusionMatrix::accuracy` computes it on the raw pairs with a
/// finite score.
///
/// Bound: a score outside the bucket of the threshold is known to be above or below it, so
/// only the scores of that bucket are uncertain: bound = ½ (P_t + N_t) / (P + N), 0 when the
/// threshold is 0. Returns `Error::InvalidInput` for a NaN threshold.
pub fn accuracy(
    rollups: &[Rollup],
    score: &str,
    label_metric: &str,
    positive: &str,
    threshold: f64,
) -> Result<Result<Estimate, Undefined>> {
    if threshold.is_nan() {
        return Err(Error::invalid(
            "threshold",
            "NaN",
            "pass a number; scores at or above it count as positive predictions",
        ));
    }
    let Some(scores) = scores_by_label(rollups, score, label_metric, positive)? else {
        return Ok(Err(Undefined::NoData));
    };
    let (p, n) = (scores.positives.count(), scores.negatives.count());
    let total = p.saturating_add(n);
    if total == 0 {
        return Ok(Err(Undefined::NoData));
    }

    let below = |sketch: &Sketch| sketch.count_below(threshold).unwrap_or((0, 0));
    let (positives_below_lower, positives_below_upper) = below(&scores.positives);
    let (negatives_below_lower, negatives_below_upper) = below(&scores.negatives);
    // Correct: positives at or above the threshold, negatives below it.
    let correct_lower = p
        .saturating_sub(positives_below_upper)
        .saturating_add(negatives_below_lower);
    let correct_upper = p
        .saturating_sub(positives_below_lower)
        .saturating_add(negatives_below_upper);

    let estimate = Estimate::between(
        correct_lower as f64 / total as f64,
        correct_upper as f64 / total as f64,
    );
    Ok(Ok(estimate.widened(ROUNDING)))
}

/// Estimates the two-sample Kolmogorov–Smirnov statistic max |F_ref(x) − F_cur(x)| between
/// the finite values of two summaries, as `eval::ks_two_sample` computes it.
///
/// Bound: at the edge between two buckets both CDFs are known, which gives a lower bound L.
/// Inside bucket b each CDF lies between its values at the bucket's two edges, which gives an
/// upper bound U. Estimate (L + U) / 2, bound (U − L) / 2 ≤ ½ max_b max(r_b, c_b), with r_b
/// and c_b the fractions of each sample in bucket b.
pub fn ks_statistic(
    reference: &NumericSummary,
    current: &NumericSummary,
) -> Result<Result<Estimate, Undefined>> {
    let (n1, n2) = (reference.sketch.count(), current.sketch.count());
    if let Some(undefined) = empty_samples(n1, n2) {
        return Ok(Err(undefined));
    }
    let (n1, n2) = (n1 as f64, n2 as f64);
    let (mut c1, mut c2) = (0u64, 0u64);
    let (mut lower, mut upper) = (0.0_f64, 0.0_f64);
    for joint in joint_buckets(&reference.sketch, &current.sketch)? {
        let (before1, before2) = (c1 as f64 / n1, c2 as f64 / n2);
        c1 = c1.saturating_add(joint.first);
        c2 = c2.saturating_add(joint.second);
        let (after1, after2) = (c1 as f64 / n1, c2 as f64 / n2);
        let at_edge = (after1 - after2).abs();
        lower = lower.max(at_edge);
        upper = upper.max(at_edge);
        if !joint.key.is_zero() {
            upper = upper.max(after1 - before2).max(after2 - before1);
        }
    }
    Ok(Ok(Estimate::between(lower, upper).widened(ROUNDING)))
}

/// Estimates the Wasserstein-1 distance ∫ |F_ref(x) − F_cur(x)| dx between the finite values
/// of two summaries, as `eval::wasserstein_distance` computes it, in the unit of the values.
///
/// Bound: between buckets both CDFs are known. Over the span of bucket b, of width w_b, each
/// CDF lies between its values at the span's edges, which bounds |F_ref − F_cur| from below
/// and above. Summing w_b times each gives [L, U]; the bound (U − L) / 2 is at most
/// ½ Σ_b w_b (r_b + c_b) ≈ α (mean |x_ref| + mean |x_cur|), as w_b ≈ 2α|x|. The integration
/// stops at the smallest minimum and the largest maximum of the two samples.
pub fn wasserstein(
    reference: &NumericSummary,
    current: &NumericSummary,
) -> Result<Result<Estimate, Undefined>> {
    let (n1, n2) = (reference.sketch.count(), current.sketch.count());
    if let Some(undefined) = empty_samples(n1, n2) {
        return Ok(Err(undefined));
    }

    let (n1, n2) = (n1 as f64, n2 as f64);
    let low_end = reference.min.min(current.min);
    let high_end = reference.max.max(current.max);
    // max then min, not clamp, which panics on a NaN or inverted range from a damaged file.
    let clip = |x: f64| x.max(low_end).min(high_end);
    let (mut c1, mut c2) = (0u64, 0u64);
    let (mut lower, mut upper) = (0.0_f64, 0.0_f64);
    let mut previous_upper = low_end;
    for joint in joint_buckets(&reference.sketch, &current.sketch)? {
        let (before1, before2) = (c1 as f64 / n1, c2 as f64 / n2);
        // The gap up to this bucket, where both CDFs are constant.
        let gap = (clip(joint.lower) - clip(previous_upper)).max(0.0);
        lower += gap * (before1 - before2).abs();
        upper += gap * (before1 - before2).abs();
        c1 = c1.saturating_add(joint.first);
        c2 = c2.saturating_add(joint.second);
        let (after1, after2) = (c1 as f64 / n1, c2 as f64 / n2);
        let width = (clip(joint.upper) - clip(joint.lower)).max(0.0);
        lower += width * interval_distance((before1, after1), (before2, after2));
        upper += width * (after1 - before2).max(after2 - before1);
        previous_upper = joint.upper;
    }

    // Bucket edges come from exp(i ln γ), which may differ from the edges that ln assigns
    // values to by a few units in the last place.
    let slack = 1e-7 * low_end.abs().max(high_end.abs()) + ROUNDING;
    Ok(Ok(Estimate::between(lower, upper).widened(slack)))
}

/// Estimates the quantile q of the finite values of a summary: the value of rank
/// ⌊q (n − 1)⌋ among them sorted ascending, NumPy's `quantile(method="lower")`.
///
/// Bound: the sketch's guarantee |v − x| ≤ α|x| ≤ α|v| / (1 − α); clamping the estimate to
/// [min, max] only moves it closer to x. Returns `Error::InvalidInput` for q outside [0, 1].
pub fn quantile(summary: &NumericSummary, q: f64) -> Result<Result<Estimate, Undefined>> {
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::invalid(
            "quantile",
            q.to_string(),
            "pass a fraction between 0 and 1",
        ));
    }
    let Some(value) = summary.sketch.quantile(q) else {
        return Ok(Err(Undefined::NoData));
    };
    let alpha = summary.sketch.alpha();
    let bound = alpha * value.abs() / (1.0 - alpha) * (1.0 + ROUNDING);
    let clamped = value.max(summary.min).min(summary.max);
    Ok(Ok(Estimate {
        value: clamped,
        bound,
    }))
}

/// Computes the Population Stability Index between two summaries over bins made of whole
/// sketch buckets: up to `DEFAULT_PSI_BINS` (10) bins of about equal reference mass, with
/// `PSI_EPSILON` for an empty bin.
///
/// The counts per bin are exact, but the bins differ from the reference deciles that
/// `eval::NumericDrift` uses, so the figure has no bound against that one.
pub fn psi_on_buckets(
    reference: &NumericSummary,
    current: &NumericSummary,
) -> Result<Result<f64, Undefined>> {
    let (n1, n2) = (reference.sketch.count(), current.sketch.count());
    if let Some(undefined) = empty_samples(n1, n2) {
        return Ok(Err(undefined));
    }
    // Bucket b goes to bin ⌊(reference values before b) · bins / n_ref⌋, so that the bins
    // hold about equal reference mass and never split a bucket.
    let mut bins = [(0u64, 0u64); DEFAULT_PSI_BINS];
    let mut reference_seen = 0u64;
    for joint in joint_buckets(&reference.sketch, &current.sketch)? {
        let index = u128::from(reference_seen) * DEFAULT_PSI_BINS as u128 / u128::from(n1);
        let index = (index as usize).min(DEFAULT_PSI_BINS - 1);
        if let Some(bin) = bins.get_mut(index) {
            bin.0 = bin.0.saturating_add(joint.first);
            bin.1 = bin.1.saturating_add(joint.second);
        }
        reference_seen = reference_seen.saturating_add(joint.first);
    }
    let fraction = |count: u64, total: u64| {
        if count == 0 {
            PSI_EPSILON
        } else {
            count as f64 / total as f64
        }
    };
    let psi = bins
        .iter()
        .filter(|(first, second)| *first > 0 || *second > 0)
        .map(|&(first, second)| {
            let (p, q) = (fraction(first, n1), fraction(second, n2));
            (q - p) * (q / p).ln()
        })
        .sum();
    Ok(Ok(psi))
}

/// Returns the merged summary of inline metric `metric` over `rollups`, `None` when no
/// rollup has a numeric value of it.
pub fn numeric_summary(rollups: &[Rollup], metric: &str) -> Result<Option<NumericSummary>> {
    let Some(merged) = merge_all(rollups)? else {
        return Ok(None);
    };
    Ok(merged.metrics.get(metric).and_then(|s| s.numeric.clone()))
}

/// Returns the merged category counts of inline metric `metric` over `rollups`.
pub fn category_counts(rollups: &[Rollup], metric: &str) -> Result<Option<CategoryCounts>> {
    let Some(merged) = merge_all(rollups)? else {
        return Ok(None);
    };
    Ok(merged
        .metrics
        .get(metric)
        .and_then(|s| s.categorical.clone()))
}

pub(super) fn empty_samples(reference: u64, current: u64) -> Option<Undefined> {
    if reference == 0 {
        Some(Undefined::EmptyReference)
    } else if current == 0 {
        Some(Undefined::EmptyWindow)
    } else {
        None
    }
}

/// Distance between two intervals, 0 when they overlap.
fn interval_distance(first: (f64, f64), second: (f64, f64)) -> f64 {
    (second.0 - first.1).max(first.0 - second.1).max(0.0)
}

/// Splits the scores of the merged rollups by label. `None` when the label metric or score
/// is absent. Returns `Error::InvalidInput` when the positive label value may be in the
/// spill.
fn scores_by_label(
    rollups: &[Rollup],
    score: &str,
    label_metric: &str,
    positive: &str,
) -> Result<Option<ScoresByLabel>> {
    let Some(merged) = merge_all(rollups)? else {
        return Ok(None);
    };
    let Some(join) = merged.joined.get(label_metric) else {
        return Ok(None);
    };
    if !join.values.contains_key(positive) && join.other.predictions > 0 {
        return Err(Error::invalid(
            "label value",
            format!("{positive:?} of {label_metric:?}"),
            format!(
                "the rollups keep {} label values and counted the rest together, so this one \
                 is not known apart",
                join.values.len()
            ),
        ));
    }
    let mut sketches: Option<ScoresByLabel> = None;
    let groups = join.values.iter().map(|(k, g)| (Some(k.as_str()), g));
    for (label, group) in groups.chain([(None, &join.other)]) {
        let Some(summary) = group.metrics.get(score) else {
            continue;
        };
        let alpha = summary.sketch.alpha();
        let scores = match &mut sketches {
            Some(scores) => scores,
            None => sketches.insert(ScoresByLabel {
                positives: Sketch::new(alpha)?,
                negatives: Sketch::new(alpha)?,
            }),
        };
        if label == Some(positive) {
            scores.positives.merge(&summary.sketch)?;
        } else {
            scores.negatives.merge(&summary.sketch)?;
        }
    }
    Ok(sketches)
}

/// One bucket key with the counts of two sketches in it.
struct JointBucket {
    key: BucketKey,
    lower: f64,
    upper: f64,
    first: u64,
    second: u64,
}

/// Returns the buckets that are non-empty in either sketch, ascending. Returns
/// `Error::InvalidInput` when the sketches have different α.
fn joint_buckets(first: &Sketch, second: &Sketch) -> Result<Vec<JointBucket>> {
    if first.alpha().to_bits() != second.alpha().to_bits() {
        return Err(Error::invalid(
            "sketch relative accuracy",
            format!("{} and {}", first.alpha(), second.alpha()),
            "figures compare sketches built with the same alpha only",
        ));
    }
    let mut joint: BTreeMap<BucketKey, JointBucket> = BTreeMap::new();
    let mut add = |bucket: Bucket, is_first: bool| {
        let entry = joint.entry(bucket.key).or_insert(JointBucket {
            key: bucket.key,
            lower: bucket.lower,
            upper: bucket.upper,
            first: 0,
            second: 0,
        });
        if is_first {
            entry.first = entry.first.saturating_add(bucket.count);
        } else {
            entry.second = entry.second.saturating_add(bucket.count);
        }
    };
    first.buckets().for_each(|bucket| add(bucket, true));
    second.buckets().for_each(|bucket| add(bucket, false));
    Ok(joint.into_values().collect())
}
#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::eval::{self, ConfusionMatrix};
    use crate::record::Prediction;
    use crate::rollup::sketch::DEFAULT_ALPHA;
    use crate::rollup::summary::MAX_CATEGORIES;
    use crate::rollup::{coarsen, roll_up};
    use crate::value::Metrics;

    /// Deterministic values in [0, 1) from a linear congruential generator.
    fn units(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// Pairs of a score rounded to two decimals, so with ties, and a label.
    fn pairs(len: usize, seed: u64) -> Vec<(f64, bool)> {
        let scores = units(len, seed);
        let noise = units(len, seed + 1);
        scores
            .iter()
            .zip(&noise)
            .map(|(&s, &n)| ((s * 100.0).round() / 100.0, n < s * 0.8))
            .collect()
    }

    fn rollups_of(pairs: &[(f64, bool)]) -> Vec<Rollup> {
        let predictions = pairs
            .iter()
            .enumerate()
            .map(|(i, &(score, label))| Prediction {
                model: "m".into(),
                uuid: Uuid::new_v4(),
                timestamp_ms: i as i64 * 1_000,
                metrics: Metrics::new().with("score", score),
                delayed: Metrics::new().with("label", label),
            });
        let fine = roll_up(predictions, 60_000, DEFAULT_ALPHA).unwrap();
        coarsen(&fine, 600_000).unwrap()
    }

    fn numeric(values: &[f64]) -> NumericSummary {
        let mut summary = NumericSummary::new(DEFAULT_ALPHA).unwrap();
        values.iter().for_each(|&v| summary.add(v));
        summary
    }

    #[test]
    fn roc_auc_bound_holds_exact_figure() {
        let pairs = pairs(2_000, 7);
        let exact = eval::roc_auc(&pairs).unwrap();
        let estimate = roc_auc(&rollups_of(&pairs), "score", "label", "true")
            .unwrap()
            .unwrap();
        assert!(estimate.contains(exact), "{estimate:?} vs {exact}");
        assert!(estimate.bound < 0.05, "{estimate:?}");
    }

    #[test]
    fn roc_auc_of_one_class_is_undefined() {
        let pairs: Vec<(f64, bool)> = units(50, 3).into_iter().map(|s| (s, true)).collect();
        let result = roc_auc(&rollups_of(&pairs), "score", "label", "true").unwrap();
        assert_eq!(result, Err(Undefined::OneClass));
    }

    #[test]
    fn roc_auc_without_rollups_has_no_data() {
        let result = roc_auc(&[], "score", "label", "true").unwrap();
        assert_eq!(result, Err(Undefined::NoData));
    }

    #[test]
    fn roc_auc_rejects_spilled_positive_label() {
        let mut rollup = Rollup::new("m", 0, 1_000).unwrap();
        for i in 0..MAX_CATEGORIES as i64 + 1 {
            let prediction = Prediction {
                model: "m".into(),
                uuid: Uuid::new_v4(),
                timestamp_ms: 0,
                metrics: Metrics::new().with("score", 0.5),
                delayed: Metrics::new().with("class", i),
            };
            rollup.add(&prediction, DEFAULT_ALPHA).unwrap();
        }
        let last = MAX_CATEGORIES.to_string();
        assert!(roc_auc(&[rollup], "score", "class", &last).is_err());
    }

    #[test]
    fn accuracy_bound_holds_exact_figure() {
        let pairs = pairs(2_000, 11);
        let rollups = rollups_of(&pairs);
        for threshold in [0.0, 0.3, 0.5, 0.77, 1.0, 2.0] {
            let exact = ConfusionMatrix::new(&pairs, threshold)
                .unwrap()
                .accuracy()
                .unwrap();
            let estimate = accuracy(&rollups, "score", "label", "true", threshold)
                .unwrap()
                .unwrap();
            assert!(
                estimate.contains(exact),
                "t {threshold}: {estimate:?} vs {exact}"
            );
        }
    }

    #[test]
    fn accuracy_rejects_nan_threshold() {
        let rollups = rollups_of(&pairs(10, 1));
        assert!(accuracy(&rollups, "score", "label", "true", f64::NAN).is_err());
    }

    #[test]
    fn numeric_drift_bounds_hold_exact_figures() {
        let reference: Vec<f64> = units(1_500, 21).iter().map(|u| u * 200.0 - 50.0).collect();
        let current: Vec<f64> = units(900, 22)
            .iter()
            .map(|u| u * u * 180.0 - 20.0)
            .collect();
        let (first, second) = (numeric(&reference), numeric(&current));
        let ks = ks_statistic(&first, &second).unwrap().unwrap();
        let exact_ks = eval::ks_two_sample(&reference, &current).unwrap().statistic;
        assert!(ks.contains(exact_ks), "{ks:?} vs {exact_ks}");
        let distance = wasserstein(&first, &second).unwrap().unwrap();
        let exact_distance = eval::wasserstein_distance(&reference, &current).unwrap();
        assert!(
            distance.contains(exact_distance),
            "{distance:?} vs {exact_distance}"
        );
    }

    #[test]
    fn quantile_bound_holds_lower_quantile() {
        let values: Vec<f64> = units(999, 5).iter().map(|u| u * 10.0 - 3.0).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let summary = numeric(&values);
        for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let exact = sorted[(q * 998.0_f64).floor() as usize];
            let estimate = quantile(&summary, q).unwrap().unwrap();
            assert!(estimate.contains(exact), "q {q}: {estimate:?} vs {exact}");
        }
    }

    #[test]
    fn drift_of_empty_reference_is_undefined() {
        let empty = numeric(&[]);
        let full = numeric(&[1.0]);
        let result = ks_statistic(&empty, &full).unwrap();
        assert_eq!(result, Err(Undefined::EmptyReference));
        let result = wasserstein(&full, &empty).unwrap();
        assert_eq!(result, Err(Undefined::EmptyWindow));
    }

    #[test]
    fn psi_of_identical_samples_is_zero() {
        let values: Vec<f64> = units(500, 9).iter().map(|u| u * 10.0).collect();
        let psi = psi_on_buckets(&numeric(&values), &numeric(&values));
        assert_eq!(psi.unwrap(), Ok(0.0));
    }
}
