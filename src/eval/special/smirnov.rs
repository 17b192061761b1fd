//! The one-sided Kolmogorov–Smirnov distribution: P(D⁺ₙ >= d) for a sample of size n, where
//! D⁺ₙ = sup (F(x) - Fₙ(x)).

use crate::eval::sum::CompensatedSum;

/// Sample sizes above this get the approximation exp(-(6nd + 1)² / (18n)), as in SciPy's
/// `scipy.special.smirnov`, instead of the exact sum.
const MAX_EXACT_N: u64 = 1_000_000;

/// ln(2^-1075): below this exponent e^x rounds to zero.
const MIN_LN: f64 = -1075.0 * std::f64::consts::LN_2;

/// Computes P(D⁺ₙ >= d), the survival function of Smirnov's one-sided statistic. Equals
/// SciPy's `scipy.special.smirnov(n, d)`.
///
/// The value comes from the sum of Birnbaum and Tingey (1951):
/// d Σ C(n, v) (d + v/n)^(v-1) (1 - d - v/n)^(n-v) over v = 0 ..= ⌊n (1 - d)⌋, whose terms are
/// all positive. Each term is formed as a logarithm, so large binomial coefficients neither
/// overflow nor cancel. The relative error stays below about n · 1e-16, an estimate from the
/// roundings per term. The closed forms for d <= 1/n and d >= 1 - 1/n, the approximation for
/// n > 1,000,000 and the zero for -2nd² below the exponent range follow SciPy. Returns NaN for
/// n = 0 or d outside [0, 1].
pub fn smirnov_sf(n: u64, d: f64) -> f64 {
    if n == 0 || !(0.0..=1.0).contains(&d) {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - d;
    }
    if d == 0.0 {
        return 1.0;
    }
    if d == 1.0 {
        return 0.0;
    }

    let nf = n as f64;
    let nd = ScaledStatistic::new(n, d);
    if nd.floor == 0 || (nd.floor == 1 && nd.fraction == 0.0) {
        // d <= 1/n: P(D⁺ₙ < d) = d (1 + d)^(n-1).
        return 1.0 - d * ((nf - 1.0) * d.ln_1p()).exp();
    }
    if -2.0 * nf * d * d < MIN_LN {
        return 0.0;
    }
    if nd.floor >= n - 1 {
        return (nf * (-d).ln_1p()).exp();
    }
    if n > MAX_EXACT_N {
        let root = 6.0 * nf * d + 1.0;
        return (-root * root / 18.0 / nf).exp();
    }
    birnbaum_tingey_sum(n, d, nd).clamp(0.0, 1.0)
}

/// n · d split into its integer part and fraction without rounding error, so that the last
/// term of the sum is found exactly when n · d is close to an integer.
#[derive(Clone, Copy, Debug)]
struct ScaledStatistic {
    floor: u64,
    /// In [0, 1).
    fraction: f64,
}

impl ScaledStatistic {
    fn new(n: u64, d: f64) -> Self {
        let nf = n as f64;
        let high = nf * d;
        // The rounding error of the product, exact by the fused multiply-add.
        let low = nf.mul_add(d, -high);
        let mut floor = high.floor();
        let mut fraction = (high - floor) + low;
        if fraction < 0.0 {
            floor -= 1.0;
            fraction += 1.0;
        }
        if fraction >= 1.0 {
            floor += 1.0;
            fraction -= 1.0;
        }
        ScaledStatistic {
            floor: floor as u64,
            fraction,
        }
    }
}

/// Sums the Birnbaum–Tingey terms in logarithms: the largest term is factored out, so no
/// term overflows or underflows before it is compared with the others.
fn birnbaum_tingey_sum(n: u64, d: f64, nd: ScaledStatistic) -> f64 {
    let nf = n as f64;
    // The last v with 1 - d - v/n > 0.
    let last = n - nd.floor - 1;

    let mut ln_binomial = CompensatedSum::default();
    let mut sum = LogSumExp::new(nf * (-d).ln_1p());
    for v in 1..=last {
        let vf = v as f64;
        ln_binomial.add(((nf - vf + 1.0) / vf).ln());
        // d + v/n and 1 - d - v/n, from the exact split of n · d.
        let left = (vf + nd.floor as f64 + nd.fraction) / nf;
        let right = ((n - v - nd.floor) as f64 - nd.fraction) / nf;
        let ln_term =
            ln_binomial.value() + d.ln() + (vf - 1.0) * left.ln() + (nf - vf) * right.ln();
        sum.add(ln_term);
    }
    sum.value()
}

/// A running ln Σ e^(xᵢ), kept as the largest xᵢ and the sum of e^(xᵢ - max).
struct LogSumExp {
    max: f64,
    scaled_sum: f64,
}

impl LogSumExp {
    fn new(first: f64) -> Self {
        LogSumExp {
            max: first,
            scaled_sum: 1.0,
        }
    }

    fn add(&mut self, x: f64) {
        if x > self.max {
            self.scaled_sum = self.scaled_sum * (self.max - x).exp() + 1.0;
            self.max = x;
        } else {
            self.scaled_sum += (x - self.max).exp();
        }
    }

    /// Returns Σ e^(xᵢ).
    fn value(&self) -> f64 {
        (self.max + self.scaled_sum.ln()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums the Birnbaum–Tingey terms in plain arithmetic, for small n where nothing
    /// overflows.
    fn direct_sum(n: u64, d: f64) -> f64 {
        let nf = n as f64;
        let last = (nf * (1.0 - d)).floor() as u64;
        let mut binomial = 1.0;
        let mut total = 0.0;
        for v in 0..=last {
            if v > 0 {
                binomial *= (nf - v as f64 + 1.0) / v as f64;
            }
            let vf = v as f64;
            total +=
                binomial * d * (d + vf / nf).powf(vf - 1.0) * (1.0 - d - vf / nf).powf(nf - vf);
        }
        total
    }

    #[test]
    fn smirnov_matches_direct_sum() {
        for n in [2, 3, 7, 20, 50] {
            for d in [0.05, 0.13, 0.3, 0.55, 0.8, 0.95] {
                let expected = direct_sum(n, d);
                let actual = smirnov_sf(n, d);
                assert!(
                    (actual - expected).abs() <= 1e-13,
                    "n {n} d {d}: {actual} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn smirnov_of_one_sample() {
        // D⁺₁ is uniform on [0, 1].
        assert_eq!(smirnov_sf(1, 0.25), 0.75);
    }

    #[test]
    fn smirnov_at_the_ends() {
        assert_eq!(smirnov_sf(10, 0.0), 1.0);
        assert_eq!(smirnov_sf(10, 1.0), 0.0);
        assert!(smirnov_sf(10, 1.5).is_nan());
        assert!(smirnov_sf(0, 0.5).is_nan());
        assert!(smirnov_sf(10, f64::NAN).is_nan());
    }

    #[test]
    fn smirnov_decreases_in_d() {
        let mut previous = 1.0;
        for i in 1..100 {
            let p = smirnov_sf(400, f64::from(i) / 100.0);
            assert!(p <= previous, "d {i}/100: {p} > {previous}");
            previous = p;
        }
    }

    #[test]
    fn scaled_statistic_is_exact_near_integers() {
        // 0.3 is slightly below 3/10 in binary, so 10 * 0.3 rounds up to 3.0 exactly.
        let split = ScaledStatistic::new(10, 0.3);
        assert_eq!(split.floor, 2);
        assert!(split.fraction > 0.999);
        let split = ScaledStatistic::new(4, 0.25);
        assert_eq!(split.floor, 1);
        assert_eq!(split.fraction, 0.0);
    }
}
