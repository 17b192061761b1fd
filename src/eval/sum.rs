//! Compensated summation, so that means over long windows do not lose digits to rounding.

/// A running sum with Neumaier's compensation. Its error is about 2ε |sum| + n ε² Σ |xᵢ|, so
/// unlike a plain sum's it does not grow in proportion to n.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Sums `values` with compensation.
pub(crate) fn compensated_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = CompensatedSum::default();
    for value in values {
        sum.add(value);
    }
    sum.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_keeps_small_terms() {
        // A plain sum returns 1e16 here: each 1.0 is lost against the large term.
        let values = [1e16, 1.0, 1.0, 1.0, 1.0, -1e16];
        assert_eq!(compensated_sum(values), 4.0);
    }

    #[test]
    fn compensated_sum_of_nothing_is_zero() {
        assert_eq!(compensated_sum([]), 0.0);
    }
}
