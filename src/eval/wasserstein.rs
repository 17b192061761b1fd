//! The Wasserstein-1 (earth mover's) distance between two samples of one variable.

use super::sum::CompensatedSum;
use super::{Undefined, finite_sorted};

/// Computes the Wasserstein-1 distance between the finite values of `u` and `v`, ignoring NaN
/// and infinities: ∫ |U(x) - V(x)| dx, where U and V are the empirical distribution
/// functions. Equals SciPy's `scipy.stats.wasserstein_distance(u, v)` on those values, in
/// the unit of the values.
///
/// Returns `Undefined::EmptyReference` when `u` has no finite value and
/// `Undefined::EmptyWindow` when `v` has none.
pub fn wasserstein_distance(u: &[f64], v: &[f64]) -> Result<f64, Undefined> {
    let (u, _) = finite_sorted(u);
    let (v, _) = finite_sorted(v);
    wasserstein_sorted(&u, &v)
}

/// `wasserstein_distance` of samples that are already finite and sorted in ascending order.
///
/// Between consecutive distinct values x < y of both samples, U and V are constant, so the
/// integral is Σ |U(x) - V(x)| (y - x), with U(x) = i / n formed as SciPy forms it.
pub(crate) fn wasserstein_sorted(u: &[f64], v: &[f64]) -> Result<f64, Undefined> {
    if u.is_empty() {
        return Err(Undefined::EmptyReference);
    }
    if v.is_empty() {
        return Err(Undefined::EmptyWindow);
    }

    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let mut u_values = u.iter().peekable();
    let mut v_values = v.iter().peekable();
    let (mut i, mut j) = (0_usize, 0_usize);
    let mut sum = CompensatedSum::default();
    let mut previous: Option<f64> = None;
    loop {
        let x = match (u_values.peek(), v_values.peek()) {
            (Some(&&a), Some(&&b)) => a.min(b),
            (Some(&&a), None) => a,
            (None, Some(&&b)) => b,
            (None, None) => break,
        };
        if let Some(previous) = previous {
            let difference = (i as f64 / nu - j as f64 / nv).abs();
            sum.add(difference * (x - previous));
        }
        while u_values.next_if(|&&a| a <= x).is_some() {
            i += 1;
        }
        while v_values.next_if(|&&b| b <= x).is_some() {
            j += 1;
        }
        previous = Some(x);
    }
    Ok(sum.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_of_shifted_sample() {
        // Shifting every value by 3 moves all the mass by 3.
        let u = [0.0, 1.0, 5.0];
        let v = [3.0, 4.0, 8.0];
        assert_eq!(wasserstein_distance(&u, &v), Ok(3.0));
    }

    #[test]
    fn wasserstein_of_point_masses() {
        // Half the mass moves from 0 to 1.
        assert_eq!(wasserstein_distance(&[0.0, 0.0], &[0.0, 1.0]), Ok(0.5));
    }

    #[test]
    fn wasserstein_is_symmetric() {
        let u = [0.5, 2.0, 2.0, 7.0];
        let v = [1.0, 3.0];
        assert_eq!(wasserstein_distance(&u, &v), wasserstein_distance(&v, &u));
    }

    #[test]
    fn wasserstein_of_empty_samples() {
        assert_eq!(
            wasserstein_distance(&[], &[1.0]),
            Err(Undefined::EmptyReference)
        );
        assert_eq!(
            wasserstein_distance(&[1.0], &[f64::NAN]),
            Err(Undefined::EmptyWindow)
        );
    }
}
