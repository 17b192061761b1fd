//! The log-gamma function and the regularized upper incomplete gamma function, which gives the
//! chi-square survival function.

use std::f64::consts::PI;

/// Smallest argument at which the Stirling series of `ln_gamma` is used directly. Below it the
/// argument is shifted up with Γ(x) = Γ(x + k) / (x (x + 1) ... (x + k - 1)).
const STIRLING_MIN: f64 = 15.0;

/// Maximum number of terms of the series or of the continued fraction of `regularized_gamma_q`.
/// Near x = a both need about 8.5√a terms, so this limit is reached for a above about 10^10
/// (an estimate from that count), where the function returns NaN.
const MAX_ITERATIONS: usize = 1_000_000;

/// Computes ln Γ(x) for x > 0, the function SciPy calls `gammaln`.
///
/// For x >= 15 this is Stirling's series with eight Bernoulli terms, whose error is below
/// 1e-20. Smaller arguments are shifted up by the recurrence Γ(x + 1) = x Γ(x). The absolute
/// error is a few ulps of the largest of ln Γ(x) and ln Γ(x + 15). Returns NaN for x <= 0 or
/// NaN.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x >= STIRLING_MIN {
        return stirling_ln_gamma(x);
    }

    let mut shifted = x;
    let mut product = 1.0;
    while shifted < STIRLING_MIN {
        product *= shifted;
        shifted += 1.0;
    }
    stirling_ln_gamma(shifted) - product.ln()
}

/// ln Γ(x) = (x - 1/2) ln x - x + ln(2π) / 2 + S(x), for x >= 15.
fn stirling_ln_gamma(x: f64) -> f64 {
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln() + stirling_series(x)
}

/// Returns S(x) = Σ B(2j) / (2j (2j - 1) x^(2j - 1)) for j = 1..8, the correction term of
/// Stirling's series, where B(2j) are the Bernoulli numbers. The first omitted term is below
/// 1e-20 for x >= 15.
pub(crate) fn stirling_series(x: f64) -> f64 {
    // B(2j) / (2j (2j - 1)) for j = 8 down to 1, in Horner order.
    const COEFFICIENTS: [f64; 8] = [
        -3617.0 / 122_400.0,
        1.0 / 156.0,
        -691.0 / 360_360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let inverse_square = 1.0 / (x * x);
    let polynomial = COEFFICIENTS
        .iter()
        .fold(0.0, |acc, &c| acc * inverse_square + c);
    polynomial / x
}

/// Computes the regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for
/// a > 0 and x >= 0, the function SciPy calls `gammaincc`.
///
/// For x < a + 1 this sums the power series of P(a, x) and returns 1 - P. Otherwise it
/// evaluates Legendre's continued fraction of Q by the modified Lentz method. Both stop when
/// a term changes the result by less than f64::EPSILON relative. For a >= 15 the factor
/// x^a e^(-x) / Γ(a) is formed so that its large terms cancel exactly (see `prefactor`).
/// Returns NaN for a <= 0, a NaN argument, or when neither converges within
/// `MAX_ITERATIONS` terms.
pub fn regularized_gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let value = if x < a + 1.0 {
        lower_series(a, x).map(|p| 1.0 - p)
    } else {
        upper_continued_fraction(a, x)
    };
    value.unwrap_or(f64::NAN)
}

/// Computes the chi-square survival function: the probability that a chi-square variable
/// with `degrees_of_freedom` exceeds `statistic`. Equals SciPy's `chi2.sf(statistic, df)`.
/// Returns NaN for 0 degrees of freedom.
pub fn chi_square_sf(statistic: f64, degrees_of_freedom: u64) -> f64 {
    regularized_gamma_q(degrees_of_freedom as f64 / 2.0, statistic / 2.0)
}

/// Returns x^a e^(-x) / Γ(a), the factor in front of both expansions.
///
/// For a >= 15, ln Γ(a) is expanded by Stirling's series, so that the large terms cancel in
/// closed form: the logarithm is a (ln(1 + t) - t) + ln(a / 2π) / 2 - S(a), with
/// t = (x - a) / a. Its rounding error is then near ε |x - a| instead of ε a ln x.
fn prefactor(a: f64, x: f64) -> f64 {
    if a < STIRLING_MIN {
        return (a * x.ln() - x - ln_gamma(a)).exp();
    }
    let t = (x - a) / a;
    // ln_1p is accurate for small t; for t near -1 the ratio x / a is formed directly.
    let log_ratio_minus_t = if t.abs() < 0.5 {
        t.ln_1p() - t
    } else {
        (x / a).ln() - t
    };
    (a * log_ratio_minus_t + 0.5 * (a / (2.0 * PI)).ln() - stirling_series(a)).exp()
}

/// P(a, x) = x^a e^(-x) / Γ(a + 1) · Σ x^n / ((a + 1) ... (a + n)), for x < a + 1.
fn lower_series(a: f64, x: f64) -> Option<f64> {
    let mut denominator = a;
    let mut term = 1.0 / a;
    let mut sum = term;
    for _ in 0..MAX_ITERATIONS {
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if term.abs() < sum.abs() * f64::EPSILON {
            return Some(sum * prefactor(a, x));
        }
    }
    None
}

/// Q(a, x) = x^a e^(-x) / Γ(a) · 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / ...)),
/// for x >= a + 1.
fn upper_continued_fraction(a: f64, x: f64) -> Option<f64> {
    // Values below this are replaced by it, so that no division is by zero.
    const TINY: f64 = 1e-300;

    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut fraction = d;
    for i in 1..=MAX_ITERATIONS {
        let i = i as f64;
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        fraction *= delta;
        if (delta - 1.0).abs() < f64::EPSILON {
            return Some(fraction * prefactor(a, x));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks |actual - expected| <= tolerance · max(1, |expected|).
    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        let error = (actual - expected).abs() / expected.abs().max(1.0);
        assert!(error <= tolerance, "{actual} vs {expected}: error {error}");
    }

    fn assert_relative(actual: f64, expected: f64, tolerance: f64) {
        let error = (actual - expected).abs() / expected.abs();
        assert!(
            error <= tolerance,
            "{actual} vs {expected}: relative error {error}"
        );
    }

    #[test]
    fn ln_gamma_of_factorials() {
        let mut factorial: f64 = 1.0;
        for n in 1..30 {
            // Γ(n + 1) = n!
            factorial *= n as f64;
            assert_close(ln_gamma(n as f64 + 1.0), factorial.ln(), 1e-14);
        }
    }

    #[test]
    fn ln_gamma_of_half_integers() {
        // Γ(1/2) = √π and Γ(x + 1) = x Γ(x).
        let mut gamma = PI.sqrt();
        let mut x = 0.5;
        for _ in 0..40 {
            assert_relative(ln_gamma(x).exp(), gamma, 1e-13);
            gamma *= x;
            x += 1.0;
        }
    }

    #[test]
    fn ln_gamma_near_its_zeros() {
        // The shift to x + 15 costs a few ulps of ln Γ(16) ≈ 27.9 here.
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
    }

    #[test]
    fn ln_gamma_rejects_non_positive() {
        assert!(ln_gamma(0.0).is_nan());
        assert!(ln_gamma(-1.5).is_nan());
        assert!(ln_gamma(f64::NAN).is_nan());
    }

    #[test]
    fn gamma_q_with_shape_one_is_exponential() {
        // Q(1, x) = e^(-x), on both sides of the switch at x = a + 1.
        for x in [0.1, 0.5, 1.0, 1.9, 2.0, 2.1, 5.0, 30.0, 300.0] {
            assert_relative(regularized_gamma_q(1.0, x), (-x).exp(), 1e-13);
        }
    }

    #[test]
    fn chi_square_with_two_degrees() {
        // With 2 degrees of freedom the survival function is e^(-x/2).
        for x in [0.01, 1.0, 3.0, 10.0, 100.0, 1000.0] {
            assert_relative(chi_square_sf(x, 2), (-x / 2.0).exp(), 1e-13);
        }
    }

    #[test]
    fn chi_square_with_one_degree() {
        // With 1 degree of freedom, sf(x) = erfc(√(x/2)); erfc(1) = 0.157299207050285130659.
        assert_relative(chi_square_sf(2.0, 1), 0.157_299_207_050_285_13, 1e-13);
    }

    #[test]
    fn gamma_q_of_large_shape_near_mean() {
        // Q(a, a) = 1/2 - 1 / (3√(2πa)) + O(1/a). Without the Stirling form of the prefactor,
        // the cancellation in x^a e^(-x) / Γ(a) costs about 1e-8 here.
        let a = 1e8;
        let expected = 0.5 - 1.0 / (3.0 * (2.0 * PI * a).sqrt());
        let actual = regularized_gamma_q(a, a);
        assert!((actual - expected).abs() < 1e-9, "{actual} vs {expected}");
    }

    #[test]
    fn gamma_q_edge_arguments() {
        assert_eq!(regularized_gamma_q(3.0, 0.0), 1.0);
        assert_eq!(regularized_gamma_q(3.0, f64::INFINITY), 0.0);
        assert!(regularized_gamma_q(0.0, 1.0).is_nan());
        assert!(regularized_gamma_q(1.0, f64::NAN).is_nan());
    }
}
