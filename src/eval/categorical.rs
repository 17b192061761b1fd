//! Drift of a categorical feature, strings or booleans, between a reference sample and a
//! window.

use std::collections::BTreeMap;

use super::Undefined;
use super::psi::psi;
use super::special::chi_square_sf;
use super::sum::CompensatedSum;

/// Returns the category key of a boolean feature: `"true"` or `"false"`.
pub fn bool_category(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A reference sample of a categorical feature, prepared once to be compared with many
/// windows. Categories are compared as exact strings. Map booleans with [`bool_category`].
#[derive(Clone, Debug, Default)]
pub struct CategoricalDrift {
    counts: BTreeMap<String, u64>,
    len: u64,
}

/// Result of a chi-square test of independence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChiSquareTest {
    pub statistic: f64,
    pub p_value: f64,
    pub degrees_of_freedom: u64,
}

/// Drift of one window against the reference.
///
/// The figures are computed over the categories seen in either sample. A category seen in
/// one sample only has a frequency of 0 in the other.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalDriftResult {
    pub reference_len: u64,
    pub window_len: u64,
    /// Categories seen in the reference, the window or both.
    pub categories: usize,
    /// Categories seen in the window but not in the reference.
    pub window_only_categories: usize,
    /// Categories seen in the reference but not in the window.
    pub reference_only_categories: usize,
    /// Chi-square test of the 2 × k table of counts (reference and window against the k
    /// categories), without continuity correction. See [`CategoricalDrift::compare`].
    pub chi_square: Result<ChiSquareTest, Undefined>,
    /// Jensen–Shannon distance of the two frequency vectors, base 2, in [0, 1].
    pub jensen_shannon: Result<f64, Undefined>,
    /// Population Stability Index over the categories. An absent category counts as
    /// `PSI_EPSILON` (1e-4).
    pub psi: Result<f64, Undefined>,
    /// max |pᵢ - qᵢ| over the categories, with p and q the frequency vectors.
    pub l_infinity: Result<f64, Undefined>,
}

/// Counts of one category in the reference and in the window.
#[derive(Clone, Copy, Debug, Default)]
struct CategoryCounts {
    reference: u64,
    window: u64,
}

impl CategoricalDrift {
    /// Counts the categories of `reference`.
    pub fn new<I>(reference: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let (counts, len) = count_categories(reference);
        CategoricalDrift { counts, len }
    }

    /// Returns the number of values in the reference.
    pub fn reference_len(&self) -> u64 {
        self.len
    }

    /// Compares the categories of `window` with the reference.
    ///
    /// - `chi_square` equals SciPy's `chi2_contingency(table, correction=False)`: the
    ///   statistic Σ (O - E)² / E with E = row total · column total / n, and the p-value of
    ///   the chi-square distribution with k - 1 degrees of freedom. With one category only,
    ///   SciPy's rule gives statistic 0 and p-value 1 with 0 degrees of freedom.
    /// - `jensen_shannon` equals SciPy's `jensenshannon(p, q, base=2)`:
    ///   √((KL(p ‖ m) + KL(q ‖ m)) / 2) with m = (p + q) / 2 and logarithms base 2.
    /// - `psi` is Σ (qᵢ - pᵢ) ln(qᵢ / pᵢ), with `PSI_EPSILON` for an absent category.
    /// - `l_infinity` is max |pᵢ - qᵢ|.
    ///
    /// Every figure is `Undefined::EmptyReference` when the reference is empty and
    /// `Undefined::EmptyWindow` when the window is. SciPy raises an error for a table with
    /// an empty row.
    pub fn compare<I>(&self, window: I) -> CategoricalDriftResult
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let (window_counts, window_len) = count_categories(window);
        let table = self.table(&window_counts);
        let undefined = if self.len == 0 {
            Some(Undefined::EmptyReference)
        } else if window_len == 0 {
            Some(Undefined::EmptyWindow)
        } else {
            None
        };
        let figure = |f: &dyn Fn() -> f64| undefined.map_or_else(|| Ok(f()), Err);

        CategoricalDriftResult {
            reference_len: self.len,
            window_len,
            categories: table.len(),
            window_only_categories: table.iter().filter(|c| c.reference == 0).count(),
            reference_only_categories: table.iter().filter(|c| c.window == 0).count(),
            chi_square: undefined.map_or_else(|| Ok(chi_square(&table)), Err),
            jensen_shannon: figure(&|| jensen_shannon(&table, self.len, window_len)),
            psi: figure(&|| {
                let counts = table.iter().map(|c| (c.reference, c.window));
                psi(counts, self.len, window_len)
            }),
            l_infinity: figure(&|| l_infinity(&table, self.len, window_len)),
        }
    }

    /// Aligns the reference counts and `window` counts over the categories seen in either.
    fn table(&self, window: &BTreeMap<String, u64>) -> Vec<CategoryCounts> {
        let mut table: BTreeMap<&str, CategoryCounts> = BTreeMap::new();
        for (category, &count) in &self.counts {
            table.entry(category).or_default().reference = count;
        }
        for (category, &count) in window {
            table.entry(category).or_default().window = count;
        }
        table.into_values().collect()
    }
}

fn count_categories<I>(values: I) -> (BTreeMap<String, u64>, u64)
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut len = 0;
    for value in values {
        let value = value.as_ref();
        match counts.get_mut(value) {
            Some(count) => *count += 1,
            None => {
                counts.insert(value.to_owned(), 1);
            }
        }
        len += 1;
    }
    (counts, len)
}

/// Pearson's chi-square test of the 2 × k table; both rows must be non-empty.
fn chi_square(table: &[CategoryCounts]) -> ChiSquareTest {
    let degrees_of_freedom = table.len().saturating_sub(1) as u64;
    if degrees_of_freedom == 0 {
        return ChiSquareTest {
            statistic: 0.0,
            p_value: 1.0,
            degrees_of_freedom,
        };
    }
    let reference_total: u64 = table.iter().map(|c| c.reference).sum();
    let window_total: u64 = table.iter().map(|c| c.window).sum();
    let total = (reference_total + window_total) as f64;
    let mut statistic = CompensatedSum::default();
    for category in table {
        let column_total = (category.reference + category.window) as f64;
        for (observed, row_total) in [
            (category.reference, reference_total),
            (category.window, window_total),
        ] {
            let expected = row_total as f64 * column_total / total;
            let difference = observed as f64 - expected;
            statistic.add(difference * difference / expected);
        }
    }
    let statistic = statistic.value();
    ChiSquareTest {
        statistic,
        p_value: chi_square_sf(statistic, degrees_of_freedom),
        degrees_of_freedom,
    }
}

fn frequencies(category: &CategoryCounts, reference_len: u64, window_len: u64) -> (f64, f64) {
    (
        category.reference as f64 / reference_len as f64,
        category.window as f64 / window_len as f64,
    )
}

fn jensen_shannon(table: &[CategoryCounts], reference_len: u64, window_len: u64) -> f64 {
    // x ln(x / m), with 0 ln 0 = 0.
    let relative_entropy = |x: f64, m: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
    let mut divergence = CompensatedSum::default();
    for category in table {
        let (p, q) = frequencies(category, reference_len, window_len);
        let m = (p + q) / 2.0;
        divergence.add(relative_entropy(p, m));
        divergence.add(relative_entropy(q, m));
    }
    // The divergence can round to just below zero for equal frequency vectors.
    let divergence = (divergence.value() / std::f64::consts::LN_2).max(0.0);
    (divergence / 2.0).sqrt()
}

fn l_infinity(table: &[CategoryCounts], reference_len: u64, window_len: u64) -> f64 {
    table
        .iter()
        .map(|category| {
            let (p, q) = frequencies(category, reference_len, window_len);
            (p - q).abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sample_shows_no_drift() {
        let sample = ["a", "b", "b", "c"];
        let result = CategoricalDrift::new(sample).compare(sample);
        assert_eq!(result.categories, 3);
        let chi_square = result.chi_square.unwrap();
        assert_eq!(chi_square.statistic, 0.0);
        assert_eq!(chi_square.p_value, 1.0);
        assert_eq!(chi_square.degrees_of_freedom, 2);
        assert_eq!(result.jensen_shannon, Ok(0.0));
        assert_eq!(result.psi, Ok(0.0));
        assert_eq!(result.l_infinity, Ok(0.0));
    }

    #[test]
    fn disjoint_categories_are_far_apart() {
        let result = CategoricalDrift::new(["a", "a"]).compare(["b"]);
        assert_eq!(result.categories, 2);
        assert_eq!(result.window_only_categories, 1);
        assert_eq!(result.reference_only_categories, 1);
        assert_eq!(result.jensen_shannon, Ok(1.0));
        assert_eq!(result.l_infinity, Ok(1.0));
        // The 2 × 2 table [[2, 0], [0, 1]] has E = [[4/3, 2/3], [2/3, 1/3]].
        let statistic = result.chi_square.unwrap().statistic;
        assert!((statistic - 3.0).abs() < 1e-14, "{statistic}");
    }

    #[test]
    fn one_category_gives_no_degrees_of_freedom() {
        let result = CategoricalDrift::new(["a"]).compare(["a", "a"]);
        let chi_square = result.chi_square.unwrap();
        assert_eq!(chi_square.degrees_of_freedom, 0);
        assert_eq!(chi_square.statistic, 0.0);
        assert_eq!(chi_square.p_value, 1.0);
    }

    #[test]
    fn empty_samples_are_undefined() {
        let empty: [&str; 0] = [];
        let result = CategoricalDrift::new(["a"]).compare(empty);
        assert_eq!(result.chi_square, Err(Undefined::EmptyWindow));
        assert_eq!(result.jensen_shannon, Err(Undefined::EmptyWindow));
        assert_eq!(result.psi, Err(Undefined::EmptyWindow));
        assert_eq!(result.l_infinity, Err(Undefined::EmptyWindow));
        let result = CategoricalDrift::new(empty).compare(["a"]);
        assert_eq!(result.chi_square, Err(Undefined::EmptyReference));
        assert_eq!(result.psi, Err(Undefined::EmptyReference));
    }

    #[test]
    fn booleans_map_to_two_keys() {
        let reference = [true, true, false].map(bool_category);
        let window = [false, false].map(bool_category);
        let result = CategoricalDrift::new(reference).compare(window);
        assert_eq!(result.categories, 2);
        assert_eq!(result.reference_only_categories, 1);
        assert!((result.l_infinity.unwrap() - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn owned_strings_are_accepted() {
        let window: Vec<String> = vec!["x".to_owned(), "y".to_owned()];
        let drift = CategoricalDrift::new(vec!["x".to_owned()]);
        assert_eq!(drift.reference_len(), 1);
        assert_eq!(drift.compare(&window).window_len, 2);
    }
}
