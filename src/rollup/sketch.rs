//! A mergeable sketch of a distribution of f64 values with relative accuracy, in the style of
//! DDSketch (Masson, Rim and Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
//! Relative-Error Guarantees", VLDB 2019).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Relative accuracy of the sketches that a rollup builds by default.
pub const DEFAULT_ALPHA: f64 = 0.01;

/// A log-bucketed histogram of f64 values.
///
/// With γ = (1 + α) / (1 − α), bucket i of the positive store counts the values in
/// (γ^(i−1), γ^i], and bucket i of the negative store the values in [−γ^i, −γ^(i−1)). Zeros
/// (`0.0` and `-0.0`) have a count of their own, and NaN and ±∞ are counted apart and never
/// bucketed. Merging two sketches with the same α adds their counts, so the merge of two
/// sketches equals the sketch of the two samples together.
///
/// The bucket of a value is ⌈ln|x| / ln γ⌉, a non-decreasing function of |x|. So when two
/// values fall in different buckets, the order of their buckets is the order of the values:
/// the evaluators compare values across buckets exactly and only values that share a bucket
/// are uncertain.
///
/// NOTE: that monotonicity relies on `f64::ln` being monotonic, which the platform's libm
/// provides in practice but Rust does not promise.
#[derive(Clone, Debug, PartialEq)]
pub struct Sketch {
    alpha: f64,
    ln_gamma: f64,
    negative: BTreeMap<i32, u64>,
    zero: u64,
    positive: BTreeMap<i32, u64>,
    non_finite: u64,
}

/// Position of a bucket in ascending order of the values it holds: the negative buckets from
/// the largest magnitude down, then zero, then the positive buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    /// -1 for negative values, 0 for zero, 1 for positive values.
    sign: i8,
    /// The bucket index i for positive values, −i for negative values, 0 for zero.
    rank: i32,
}

/// One non-empty bucket of a sketch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub key: BucketKey,
    /// Smallest value the bucket can hold (excluded for a positive bucket).
    pub lower: f64,
    /// Largest value the bucket can hold (excluded for a negative bucket).
    pub upper: f64,
    pub count: u64,
}

impl BucketKey {
    /// The bucket of exact zeros.
    pub const ZERO: BucketKey = BucketKey { sign: 0, rank: 0 };

    /// Returns whether the bucket contains zeros only, so that its values are known exactly.
    pub fn is_zero(self) -> bool {
        self.sign == 0
    }
}

impl Sketch {
    /// Creates an empty sketch with relative accuracy `alpha`.
    ///
    /// Returns `Error::InvalidInput` unless 0 < α < 1.
    pub fn new(alpha: f64) -> Result<Sketch> {
        check_alpha(alpha)?;
        Ok(Sketch {
            alpha,
            ln_gamma: ((1.0 + alpha) / (1.0 - alpha)).ln(),
            negative: BTreeMap::new(),
            zero: 0,
            positive: BTreeMap::new(),
            non_finite: 0,
        })
    }

    /// Builds a sketch from its stores, as a decoder reads them. The caller checks the
    /// bucket indexes and counts.
    pub(crate) fn from_parts(
        alpha: f64,
        negative: BTreeMap<i32, u64>,
        zero: u64,
        positive: BTreeMap<i32, u64>,
        non_finite: u64,
    ) -> Result<Sketch> {
        let mut sketch = Sketch::new(alpha)?;
        sketch.negative = negative;
        sketch.zero = zero;
        sketch.positive = positive;
        sketch.non_finite = non_finite;
        Ok(sketch)
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Returns γ = (1 + α) / (1 − α), the ratio between the bounds of a bucket.
    pub fn gamma(&self) -> f64 {
        self.ln_gamma.exp()
    }

    /// Adds one value: a finite value to its bucket, NaN or ±∞ to the non-finite count.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.non_finite = self.non_finite.saturating_add(1);
        } else if value == 0.0 {
            self.zero = self.zero.saturating_add(1);
        } else if value > 0.0 {
            let count = self.positive.entry(self.index(value)).or_insert(0);
            *count = count.saturating_add(1);
        } else {
            let count = self.negative.entry(self.index(-value)).or_insert(0);
            *count = count.saturating_add(1);
        }
    }

    /// Adds the counts of `other`. Returns `Error::InvalidInput` when the two sketches have
    /// different α, because their buckets then do not line up.
    pub fn merge(&mut self, other: &Sketch) -> Result<()> {
        if self.alpha.to_bits() != other.alpha.to_bits() {
            return Err(Error::invalid(
                "sketch relative accuracy",
                format!("{} and {}", self.alpha, other.alpha),
                "only sketches built with the same alpha can be merged",
            ));
        }
        merge_store(&mut self.negative, &other.negative);
        merge_store(&mut self.positive, &other.positive);
        self.zero = self.zero.saturating_add(other.zero);
        self.non_finite = self.non_finite.saturating_add(other.non_finite);
        Ok(())
    }

    /// Returns the number of finite values.
    pub fn count(&self) -> u64 {
        let buckets = self.negative.values().chain(self.positive.values());
        buckets.fold(self.zero, |sum, &count| sum.saturating_add(count))
    }

    /// Returns the number of NaN and infinite values, which no bucket holds.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Returns the count of exact zeros.
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// Returns the negative store: bucket index i of |x| → count.
    pub fn negative_store(&self) -> &BTreeMap<i32, u64> {
        &self.negative
    }

    /// Returns the positive store: bucket index i → count.
    pub fn positive_store(&self) -> &BTreeMap<i32, u64> {
        &self.positive
    }

    /// Returns the key of the bucket that contains `value`, or `None` for NaN and ±∞.
    pub fn key_of(&self, value: f64) -> Option<BucketKey> {
        if !value.is_finite() {
            return None;
        }
        Some(if value == 0.0 {
            BucketKey::ZERO
        } else if value > 0.0 {
            BucketKey {
                sign: 1,
                rank: self.index(value),
            }
        } else {
            BucketKey {
                sign: -1,
                rank: self.index(-value).saturating_neg(),
            }
        })
    }

    /// Returns the non-empty buckets in ascending order of their values.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        let negative = self.negative.iter().rev().map(|(&i, &count)| {
            let key = BucketKey {
                sign: -1,
                rank: i.saturating_neg(),
            };
            self.bucket(key, count)
        });
        let zero = (self.zero > 0).then(|| self.bucket(BucketKey::ZERO, self.zero));
        let positive = self.positive.iter().map(|(&i, &count)| {
            let key = BucketKey { sign: 1, rank: i };
            self.bucket(key, count)
        });
        negative.chain(zero).chain(positive)
    }

    /// Returns the count of the bucket `key`, 0 when it is empty.
    pub fn count_in(&self, key: BucketKey) -> u64 {
        let store = match key.sign {
            0 => return self.zero,
            1 => self.positive.get(&key.rank),
            _ => self.negative.get(&key.rank.saturating_neg()),
        };
        store.copied().unwrap_or(0)
    }

    /// Returns an estimate of the q-quantile of the finite values, `None` when there is none
    /// or q is outside [0, 1].
    ///
    /// Guarantee: with x the value of rank ⌊q · (n − 1)⌋ (0-based) among the n finite values
    /// sorted ascending, NumPy's `quantile(method="lower")`, the estimate v satisfies
    /// |v − x| ≤ α · |x|, so also |v − x| ≤ α · |v| / (1 − α). The estimate is the midpoint
    /// 2γ^i / (1 + γ) of x's bucket, whose relative distance to either bucket bound is α.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) {
            return None;
        }
        let n = self.count();
        let last = n.checked_sub(1)?;
        let rank = (q * last as f64).floor() as u64;
        let mut seen = 0u64;
        for bucket in self.buckets() {
            seen = seen.saturating_add(bucket.count);
            if seen > rank {
                return Some(self.representative(bucket.key));
            }
        }
        None
    }

    /// Returns the value that stands for the values of bucket `key`: 0 for zeros, else
    /// ±2γ^i / (1 + γ), within relative distance α of every value of the bucket.
    pub fn representative(&self, key: BucketKey) -> f64 {
        let index = if key.sign < 0 {
            key.rank.saturating_neg()
        } else {
            key.rank
        };
        let magnitude = 2.0 * self.power(index) / (1.0 + self.gamma());
        match key.sign {
            0 => 0.0,
            1 => magnitude,
            _ => -magnitude,
        }
    }

    /// Returns bounds on the fraction of finite values at or below `x`: the exact empirical
    /// CDF F(x) lies in [lower, upper]. `None` when the sketch is empty or x is NaN.
    ///
    /// The values of buckets below x's bucket are below x, and those above it are above x,
    /// so only x's own bucket is uncertain, and not even that when x is 0.
    pub fn cdf_at(&self, x: f64) -> Option<(f64, f64)> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let (lower, upper) = self.count_at_most(x)?;
        Some((lower as f64 / n as f64, upper as f64 / n as f64))
    }

    /// Returns bounds on the count of finite values at or below `x`, `None` for NaN.
    pub fn count_at_most(&self, x: f64) -> Option<(u64, u64)> {
        self.rank_bounds(x, true)
    }

    /// Returns bounds on the count of finite values strictly below `x`, `None` for NaN.
    pub fn count_below(&self, x: f64) -> Option<(u64, u64)> {
        self.rank_bounds(x, false)
    }

    fn rank_bounds(&self, x: f64, inclusive: bool) -> Option<(u64, u64)> {
        if x.is_nan() {
            return None;
        }
        let Some(key) = self.key_of(x) else {
            let all = if x > 0.0 { self.count() } else { 0 };
            return Some((all, all));
        };
        let mut below = 0u64;
        let mut same = 0u64;
        for bucket in self.buckets() {
            if bucket.key < key {
                below = below.saturating_add(bucket.count);
            } else if bucket.key == key {
                same = bucket.count;
            }
        }
        if key.is_zero() {
            let exact = if inclusive {
                below.saturating_add(same)
            } else {
                below
            };
            return Some((exact, exact));
        }
        Some((below, below.saturating_add(same)))
    }

    fn index(&self, magnitude: f64) -> i32 {
        // |ln x| ≤ 745 for finite non-zero x and ln γ ≥ ln(1 + 2α), so the cast saturates only
        // for α below about 1e-8, and then merely merges the most extreme buckets.
        (magnitude.ln() / self.ln_gamma).ceil() as i32
    }

    fn bucket(&self, key: BucketKey, count: u64) -> Bucket {
        let (lower, upper) = match key.sign {
            0 => (0.0, 0.0),
            1 => (self.power(key.rank.saturating_sub(1)), self.power(key.rank)),
            _ => {
                let index = key.rank.saturating_neg();
                (-self.power(index), -self.power(index.saturating_sub(1)))
            }
        };
        Bucket {
            key,
            lower,
            upper,
            count,
        }
    }

    fn power(&self, index: i32) -> f64 {
        (f64::from(index) * self.ln_gamma).exp()
    }
}

/// Returns `Error::InvalidInput` unless 0 < `alpha` < 1.
pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    if alpha > 0.0 && alpha < 1.0 {
        return Ok(());
    }
    Err(Error::invalid(
        "sketch relative accuracy",
        alpha.to_string(),
        "alpha must be between 0 and 1 (exclusive); the default is 0.01",
    ))
}

fn merge_store(into: &mut BTreeMap<i32, u64>, from: &BTreeMap<i32, u64>) {
    for (&index, &count) in from {
        let total = into.entry(index).or_insert(0);
        *total = total.saturating_add(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(values: &[f64]) -> Sketch {
        let mut sketch = Sketch::new(DEFAULT_ALPHA).unwrap();
        for &value in values {
            sketch.add(value);
        }
        sketch
    }

    fn sample(len: usize, seed: u64) -> Vec<f64> {
        // A small linear congruential generator keeps the test free of dependencies.
        let mut state = seed;
        (0..len)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
                match i % 7 {
                    0 => 0.0,
                    1 => -unit * 1000.0,
                    _ => unit * 10f64.powi((i % 5) as i32 - 2),
                }
            })
            .collect()
    }

    #[test]
    fn merge_equals_sketch_of_concatenation() {
        let first = sample(500, 1);
        let second = sample(700, 2);
        let mut merged = sketch_of(&first);
        merged.merge(&sketch_of(&second)).unwrap();
        let all: Vec<f64> = first.iter().chain(&second).copied().collect();
        assert_eq!(merged, sketch_of(&all));
    }

    #[test]
    fn merge_rejects_different_alpha() {
        let mut first = Sketch::new(0.01).unwrap();
        let second = Sketch::new(0.02).unwrap();
        let error = first.merge(&second).unwrap_err();
        assert!(error.to_string().contains("0.01 and 0.02"), "{error}");
    }

    #[test]
    fn quantile_within_alpha_of_exact() {
        let values = sample(2_000, 3);
        let sketch = sketch_of(&values);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for step in 0..=100 {
            let q = f64::from(step) / 100.0;
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
            let estimate = sketch.quantile(q).unwrap();
            let error = (estimate - exact).abs();
            assert!(
                error <= DEFAULT_ALPHA * exact.abs() * (1.0 + 1e-9),
                "q {q}: {estimate} vs {exact}"
            );
        }
    }

    #[test]
    fn non_finite_values_are_not_bucketed() {
        let sketch = sketch_of(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0]);
        assert_eq!(sketch.count(), 1);
        assert_eq!(sketch.non_finite(), 3);
        assert_eq!(sketch.buckets().count(), 1);
    }

    #[test]
    fn buckets_ascend_through_zero() {
        let sketch = sketch_of(&[5.0, -0.5, 0.0, -50.0, 0.1]);
        let uppers: Vec<f64> = sketch.buckets().map(|b| b.upper).collect();
        assert!(uppers.is_sorted(), "{uppers:?}");
        assert_eq!(uppers.len(), 5);
    }

    #[test]
    fn bucket_bounds_contain_their_values() {
        let values = sample(300, 4);
        for &value in &values {
            let sketch = sketch_of(&[value]);
            let bucket = sketch.buckets().next().unwrap();
            let slack = 1e-12 * value.abs();
            assert!(bucket.lower - slack <= value, "{value} {bucket:?}");
            assert!(value <= bucket.upper + slack, "{value} {bucket:?}");
        }
    }

    #[test]
    fn cdf_bounds_contain_exact_cdf() {
        let values = sample(1_000, 5);
        let sketch = sketch_of(&values);
        for &x in values.iter().step_by(7).chain(&[0.0, -1e9, 1e9]) {
            let exact = values.iter().filter(|&&v| v <= x).count() as f64 / 1000.0;
            let (lower, upper) = sketch.cdf_at(x).unwrap();
            assert!(lower <= exact, "x {x}: {lower} > {exact}");
            assert!(exact <= upper, "x {x}: {upper} < {exact}");
        }
    }

    #[test]
    fn cdf_at_zero_is_exact() {
        let sketch = sketch_of(&[-1.0, 0.0, 0.0, 2.0]);
        assert_eq!(sketch.cdf_at(0.0), Some((0.75, 0.75)));
        assert_eq!(sketch.count_below(0.0), Some((1, 1)));
    }

    #[test]
    fn new_rejects_alpha_outside_unit_interval() {
        for alpha in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(Sketch::new(alpha).is_err(), "alpha {alpha}");
        }
    }

    #[test]
    fn empty_sketch_has_no_quantile() {
        let sketch = Sketch::new(DEFAULT_ALPHA).unwrap();
        assert_eq!(sketch.quantile(0.5), None);
        assert_eq!(sketch.cdf_at(1.0), None);
    }
}
