//! The exact two-sided Kolmogorov–Smirnov distribution P(Dₙ < d) by Durbin's matrix formula,
//! in the arrangement of Marsaglia, Tsang and Wang (2003) that SciPy's `scipy.stats.kstwo`
//! also uses.

/// Entries are scaled down by 2^128 once they exceed 2^128, and the scale is kept as a
/// separate power of two, so that H^n neither overflows nor underflows.
const SCALE_EXPONENT: i32 = 128;

/// Computes P(Dₙ < d) for a sample of size n.
///
/// With nd = k - h, where k is an integer and 0 <= h < 1, the probability is
/// n! / n^n · (H^n)[k-1][k-1] for an m × m matrix H, m = 2k - 1:
/// H[i][j] = 1 / (i - j + 1)! where i - j + 1 >= 0, else 0, except that the first column loses
/// h^(i+1) / (i+1)!, the last row loses h^(m-j) / (m-j)!, and the bottom-left entry gains
/// (2h - 1)^m / m! when 2h > 1. All entries are non-negative, so the power has no
/// cancellation. The cost is O(m³ log n).
pub(crate) fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let matrix = durbin_matrix(2 * k - 1, h);

    let (power, mut exponent) = matrix_power(&matrix, n);
    let center = (k - 1) * power.size + (k - 1);
    let mut p = power.entries.get(center).copied().unwrap_or(0.0);

    // Multiply by n! / n^n one factor at a time, rescaling before the product underflows.
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < scale_down(1.0) {
            p = scale_up(p);
            exponent -= SCALE_EXPONENT;
        }
    }
    ldexp(p, exponent).clamp(0.0, 1.0)
}

/// A square matrix in row-major order.
#[derive(Clone, Debug)]
struct Matrix {
    size: usize,
    entries: Vec<f64>,
}

impl Matrix {
    fn identity(size: usize) -> Self {
        let mut entries = vec![0.0; size * size];
        for (i, entry) in entries.iter_mut().enumerate() {
            if i % (size + 1) == 0 {
                *entry = 1.0;
            }
        }
        Matrix { size, entries }
    }

    fn multiply(&self, other: &Matrix) -> Matrix {
        let size = self.size;
        let mut entries = vec![0.0; size * size];
        for (out_row, left_row) in entries
            .chunks_exact_mut(size)
            .zip(self.entries.chunks_exact(size))
        {
            for (left, right_row) in left_row.iter().zip(other.entries.chunks_exact(size)) {
                for (out, right) in out_row.iter_mut().zip(right_row) {
                    *out += left * right;
                }
            }
        }
        Matrix { size, entries }
    }

    /// Divides every entry by 2^128 when the largest exceeds 2^128, and returns the power of
    /// two removed.
    fn rescale(&mut self) -> i32 {
        let max = self.entries.iter().fold(0.0_f64, |m, e| m.max(e.abs()));
        if max > scale_up(1.0) {
            for entry in &mut self.entries {
                *entry = scale_down(*entry);
            }
            SCALE_EXPONENT
        } else {
            0
        }
    }
}

/// Builds the m × m matrix H of the formula for the fraction h.
fn durbin_matrix(m: usize, h: f64) -> Matrix {
    // inverse_factorials[i] = 1 / i!; it may underflow to zero for large i, which is harmless.
    let mut inverse_factorials = vec![1.0; m + 1];
    for i in 1..=m {
        let previous = inverse_factorials.get(i - 1).copied().unwrap_or(0.0);
        if let Some(slot) = inverse_factorials.get_mut(i) {
            *slot = previous / i as f64;
        }
    }
    let inverse_factorial = |i: usize| inverse_factorials.get(i).copied().unwrap_or(0.0);

    let mut entries = vec![0.0; m * m];
    for (index, entry) in entries.iter_mut().enumerate() {
        let (i, j) = (index / m, index % m);
        if i + 1 >= j {
            *entry = inverse_factorial(i + 1 - j);
        }
        if j == 0 {
            *entry -= h.powi(i as i32 + 1) * inverse_factorial(i + 1);
        }
        if i == m - 1 {
            *entry -= h.powi((m - j) as i32) * inverse_factorial(m - j);
        }
        if i == m - 1 && j == 0 && 2.0 * h > 1.0 {
            *entry += (2.0 * h - 1.0).powi(m as i32) * inverse_factorial(m);
        }
    }
    Matrix { size: m, entries }
}

/// Returns H^n as a matrix and a power of two: H^n = matrix · 2^exponent.
fn matrix_power(matrix: &Matrix, n: u64) -> (Matrix, i32) {
    let mut result = Matrix::identity(matrix.size);
    let mut result_exponent = 0;
    let mut base = matrix.clone();
    let mut base_exponent = 0;
    let mut remaining = n;
    while remaining > 0 {
        if remaining % 2 == 1 {
            result = result.multiply(&base);
            result_exponent += base_exponent;
            result_exponent += result.rescale();
        }
        remaining /= 2;
        if remaining > 0 {
            base = base.multiply(&base);
            base_exponent *= 2;
            base_exponent += base.rescale();
        }
    }
    (result, result_exponent)
}

fn scale_up(x: f64) -> f64 {
    x * 2.0_f64.powi(SCALE_EXPONENT)
}

fn scale_down(x: f64) -> f64 {
    x * 2.0_f64.powi(-SCALE_EXPONENT)
}

/// Returns x · 2^exponent, in steps that keep each factor a normal number.
pub(crate) fn ldexp(mut x: f64, mut exponent: i32) -> f64 {
    const STEP: i32 = 1000;
    while exponent > STEP {
        x *= 2.0_f64.powi(STEP);
        exponent -= STEP;
    }
    while exponent < -STEP {
        x *= 2.0_f64.powi(-STEP);
        exponent += STEP;
    }
    x * 2.0_f64.powi(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durbin_for_one_sample() {
        // For n = 1, D₁ = max(U, 1 - U) with U uniform, so P(D₁ < d) = 2d - 1 for d >= 1/2.
        for d in [0.6, 0.75, 0.9] {
            let p = durbin_cdf(1, d);
            assert!((p - (2.0 * d - 1.0)).abs() < 1e-15, "d {d}: {p}");
        }
    }

    #[test]
    fn durbin_matches_scipy_example() {
        // SciPy's kstwo.cdf(0.274, 10) is 0.6284796154565043.
        let p = durbin_cdf(10, 0.274);
        assert!((p - 0.628_479_615_456_504_3).abs() < 1e-14, "{p}");
    }

    #[test]
    fn durbin_below_half_over_n_is_zero() {
        assert_eq!(durbin_cdf(100, 0.004), 0.0);
        assert_eq!(durbin_cdf(100, 1.0), 1.0);
    }

    #[test]
    fn durbin_survives_large_powers() {
        // (H^n)[k-1][k-1] is about n^n / n! · p, near e^20000 here, far beyond f64.
        let p = durbin_cdf(20_000, 0.005);
        // SciPy's kstwo.cdf(0.005, 20000) is 0.3025911593672387. Rounding grows with the
        // number of products, so the two differ by 1.5e-11 here.
        assert!((p - 0.302_591_159_367_238_7).abs() < 1e-10, "{p}");
    }

    #[test]
    fn ldexp_crosses_the_exponent_range() {
        assert_eq!(ldexp(1.0, -1074), f64::from_bits(1));
        assert_eq!(ldexp(2.0_f64.powi(1000), -1500), 2.0_f64.powi(-500));
        assert_eq!(ldexp(3.0, 2), 12.0);
    }
}
