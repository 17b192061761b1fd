//! The two-sample Kolmogorov–Smirnov test, as SciPy's `scipy.stats.ks_2samp` with its defaults
//! (`alternative='two-sided'`, `method='auto'`).

use super::special::kolmogorov_smirnov_sf;
use super::{Undefined, finite_sorted};

/// Largest sample size, of the larger sample, for which the p-value is exact. SciPy's
/// `ks_2samp` uses the same limit (`MAX_AUTO_N`) for `method='auto'`.
pub const KS_EXACT_MAX_LEN: usize = 10_000;

/// Method that computed the p-value of a two-sample Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsMethod {
    /// The exact distribution of the statistic under the null hypothesis, for samples of at
    /// most `KS_EXACT_MAX_LEN` values.
    Exact,
    /// The one-sample distribution `kstwo` at the effective size n₁n₂ / (n₁ + n₂), rounded.
    Asymptotic,
}

/// Result of a two-sample Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsTest {
    /// The largest absolute difference between the two empirical distribution functions, in
    /// [0, 1]. With the exact method it is rounded to the nearest multiple of 1 / lcm(n₁, n₂),
    /// as SciPy does.
    pub statistic: f64,
    /// Probability under the null hypothesis (both samples from one continuous distribution)
    /// of a statistic at least this large, in [0, 1].
    pub p_value: f64,
    pub method: KsMethod,
}

/// Runs the two-sample Kolmogorov–Smirnov test on the finite values of `reference` and
/// `window`, ignoring NaN and infinities. Equals SciPy's `ks_2samp(reference, window)` on
/// those values.
///
/// The p-value is exact when the larger sample has at most `KS_EXACT_MAX_LEN` values, and
/// asymptotic otherwise, by SciPy's rule for `method='auto'`. Returns
/// `Undefined::EmptyReference` or `Undefined::EmptyWindow` when a sample has no finite value.
///
/// NOTE: the exact p-value costs O(n₁ · band width) steps, where the band widens with the
/// statistic. Two samples of 10,000 values that barely overlap took about 0.6 s in a release
/// build on a 2-core machine; SciPy does the same work.
pub fn ks_two_sample(reference: &[f64], window: &[f64]) -> Result<KsTest, Undefined> {
    let (reference, _) = finite_sorted(reference);
    let (window, _) = finite_sorted(window);
    ks_two_sample_sorted(&reference, &window)
}

/// `ks_two_sample` on samples that are already finite and sorted in ascending order.
pub(crate) fn ks_two_sample_sorted(reference: &[f64], window: &[f64]) -> Result<KsTest, Undefined> {
    if reference.is_empty() {
        return Err(Undefined::EmptyReference);
    }
    if window.is_empty() {
        return Err(Undefined::EmptyWindow);
    }

    let (n1, n2) = (reference.len() as u64, window.len() as u64);
    let statistic = ks_statistic(reference, window);
    if reference.len().max(window.len()) <= KS_EXACT_MAX_LEN {
        let exact = exact_test(n1, n2, statistic);
        if (0.0..=1.0).contains(&exact.p_value) {
            return Ok(exact);
        }
        // SciPy falls back to the asymptotic p-value, with the rounded statistic, when the
        // exact p-value leaves [0, 1]. The arithmetic here is SciPy's, so it falls back in
        // the same cases.
        return Ok(asymptotic_test(n1, n2, exact.statistic));
    }
    Ok(asymptotic_test(n1, n2, statistic))
}

/// Returns max |F₁(x) - F₂(x)| over the values x of both samples, where Fᵢ(x) counts the
/// values <= x. Each difference is formed as i/n₁ - j/n₂, as SciPy forms it.
fn ks_statistic(first: &[f64], second: &[f64]) -> f64 {
    let (n1, n2) = (first.len() as f64, second.len() as f64);
    let mut first_values = first.iter().peekable();
    let mut second_values = second.iter().peekable();
    let (mut i, mut j) = (0_usize, 0_usize);
    let mut max_above = 0.0_f64;
    let mut max_below = 0.0_f64;
    loop {
        let x = match (first_values.peek(), second_values.peek()) {
            (Some(&&a), Some(&&b)) => a.min(b),
            (Some(&&a), None) => a,
            (None, Some(&&b)) => b,
            (None, None) => break,
        };
        while first_values.next_if(|&&a| a <= x).is_some() {
            i += 1;
        }
        while second_values.next_if(|&&b| b <= x).is_some() {
            j += 1;
        }
        let difference = i as f64 / n1 - j as f64 / n2;
        max_above = max_above.max(difference);
        max_below = max_below.max(-difference);
    }
    max_above.max(max_below.min(1.0))
}

/// Runs the exact test. With h = round(d · lcm(n₁, n₂)), the p-value is the fraction of
/// lattice paths from (0, 0) to (n₁, n₂) that touch the band edge h / lcm, and the statistic
/// becomes h / lcm.
fn exact_test(n1: u64, n2: u64, statistic: f64) -> KsTest {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (statistic * lcm as f64).round_ties_even() as u64;
    let p_value = if h == 0 {
        1.0
    } else if n1 == n2 {
        equal_sizes_sf(n1, h)
    } else {
        unequal_sizes_sf(n1, n2, g, h)
    };
    KsTest {
        statistic: h as f64 / lcm as f64,
        p_value,
        method: KsMethod::Exact,
    }
}

fn asymptotic_test(n1: u64, n2: u64, statistic: f64) -> KsTest {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let effective_size = (m * n / (m + n)).round_ties_even().max(1.0) as u64;
    KsTest {
        statistic,
        p_value: kolmogorov_smirnov_sf(effective_size, statistic).clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    }
}

/// P(D(n, n) >= h/n) = 2 Σ (-1)^(k+1) C(2n, n - kh) / C(2n, n) over k >= 1.
///
/// The alternating sum is evaluated from the innermost term outwards as
/// 2 A₀ (1 - A₁ (1 - A₂ (1 - ...))), with Aₖ = C(2n, n - (k+1)h) / C(2n, n - kh), which avoids
/// the cancellation of the plain sum.
fn equal_sizes_sf(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut nested = 0.0;
    for k in (0..=n / h).rev() {
        let mut ratio = 1.0;
        for j in 0..h {
            let numerator = n - k * h - j;
            if numerator <= 0 {
                ratio = 0.0;
                break;
            }
            ratio = numerator as f64 * ratio / (n + k * h + j + 1) as f64;
        }
        nested = ratio * (1.0 - nested);
    }
    2.0 * nested
}

/// P(D(m, n) >= h / lcm(m, n)) for m ≠ n, by the recursion of Viehmann, "Numerically more
/// stable computation of the p-values for the two-sample Kolmogorov-Smirnov test" (2021).
///
/// A path from (0, 0) to (m, n) stays inside while |n·x - m·y| / g < h. With P(x, y) the
/// fraction of paths to (x, y) that have left the band, P = 1 outside the band and
/// P(x, y) = (x P(x-1, y) + y P(x, y-1)) / (x + y) inside, because x / (x + y) of the paths
/// to (x, y) arrive from the left. Every value stays in [0, 1], so nothing overflows. One
/// column over y is kept, and only the rows inside the band are updated.
fn unequal_sizes_sf(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = (m.max(n) as i64, m.min(n) as i64);
    let (mg, ng, h) = ((m / g as i64), (n / g as i64), h as i64);
    let rows = n as usize + 1;

    // Column x = 0: the rows with mg·y < h are inside, where no path has left yet.
    let mut column = vec![1.0_f64; rows];
    let first_end = ceil_div(h, mg).clamp(0, n + 1) as usize;
    for p in column.iter_mut().take(first_end) {
        *p = 0.0;
    }

    for x in 1..=m {
        let start = (floor_div(ng * x - h, mg) + 1).clamp(0, n);
        let end = ceil_div(ng * x + h, mg).min(n + 1);
        if end <= start {
            return 1.0;
        }
        let xf = x as f64;
        // P(x, start - 1): outside the band, or no row at all when start is 0.
        let mut below = if start == 0 { 0.0 } else { 1.0 };
        let band = column
            .iter_mut()
            .enumerate()
            .take(end as usize)
            .skip(start as usize);
        for (y, p) in band {
            let yf = y as f64;
            below = (*p * xf + below * yf) / (xf + yf);
            *p = below;
        }
    }
    column.last().copied().unwrap_or(1.0)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the lattice paths by brute force: the fraction whose largest |i/m - j/n| along
    /// the path reaches d.
    fn brute_force_sf(m: usize, n: usize, d: f64) -> f64 {
        let total = 1_u64 << (m + n);
        let mut hits = 0;
        let mut paths = 0;
        for mask in 0..total {
            if mask.count_ones() as usize != n {
                continue;
            }
            paths += 1;
            let (mut i, mut j, mut max) = (0.0, 0.0, 0.0_f64);
            for step in 0..m + n {
                if mask >> step & 1 == 1 {
                    j += 1.0
                } else {
                    i += 1.0
                }
                max = max.max((i / m as f64 - j / n as f64).abs());
            }
            if max >= d - 1e-12 {
                hits += 1;
            }
        }
        hits as f64 / paths as f64
    }

    #[test]
    fn exact_p_value_matches_path_counting() {
        for (m, n) in [(3, 5), (4, 4), (6, 4), (7, 2), (5, 5)] {
            let lcm = (m * n / gcd(m as u64, n as u64) as usize) as u64;
            for h in 1..=lcm {
                let d = h as f64 / lcm as f64;
                let test = exact_test(m as u64, n as u64, d);
                let expected = brute_force_sf(m, n, d);
                assert!(
                    (test.p_value - expected).abs() < 1e-12,
                    "m {m} n {n} h {h}: {} vs {expected}",
                    test.p_value
                );
            }
        }
    }

    #[test]
    fn ks_statistic_with_ties() {
        // F₁ and F₂ at 1, 2, 3: (1/3, 0), (2/3, 1/2), (1, 1).
        let statistic = ks_statistic(&[1.0, 2.0, 3.0], &[2.0, 3.0]);
        assert!((statistic - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn ks_of_identical_samples_is_zero() {
        let sample = [1.0, 2.0, 2.0, 5.0];
        let test = ks_two_sample(&sample, &sample).unwrap();
        assert_eq!(test.statistic, 0.0);
        assert_eq!(test.p_value, 1.0);
        assert_eq!(test.method, KsMethod::Exact);
    }

    #[test]
    fn ks_of_disjoint_samples_is_one() {
        let test = ks_two_sample(&[1.0, 2.0], &[3.0, 4.0, 5.0]).unwrap();
        assert_eq!(test.statistic, 1.0);
        // Of the C(5, 2) = 10 orderings of five values, 2 put one sample entirely below the
        // other.
        assert!((test.p_value - 0.2).abs() < 1e-15);
    }

    #[test]
    fn ks_ignores_non_finite_values() {
        let with = ks_two_sample(&[1.0, f64::NAN, 2.0], &[f64::INFINITY, 3.0]).unwrap();
        let without = ks_two_sample(&[1.0, 2.0], &[3.0]).unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn ks_of_empty_samples_is_undefined() {
        assert_eq!(ks_two_sample(&[], &[1.0]), Err(Undefined::EmptyReference));
        assert_eq!(
            ks_two_sample(&[1.0], &[f64::NAN]),
            Err(Undefined::EmptyWindow)
        );
    }

    #[test]
    fn ks_method_switches_above_limit() {
        let large: Vec<f64> = (0..=KS_EXACT_MAX_LEN).map(|i| i as f64).collect();
        let test = ks_two_sample(&large, &[0.5, 7.5]).unwrap();
        assert_eq!(test.method, KsMethod::Asymptotic);
        let test = ks_two_sample(&large[1..], &[0.5, 7.5]).unwrap();
        assert_eq!(test.method, KsMethod::Exact);
    }

    #[test]
    fn integer_division_rounds_toward_infinity() {
        assert_eq!(floor_div(-7, 2), -4);
        assert_eq!(ceil_div(-7, 2), -3);
        assert_eq!(ceil_div(7, 2), 4);
        assert_eq!(ceil_div(8, 2), 4);
    }
}
