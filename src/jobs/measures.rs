//! The figures a job can store for each window, and the aggregate metric name of each.
//!
//! A classification figure is stored under its own name (`roc_auc`). A drift figure is stored
//! under the measure and the feature joined by a colon (`ks:car_value`).

use crate::eval::{BinaryClassification, CategoricalDriftResult, NumericDriftResult, Undefined};

/// A figure of binary classification, computed over the predictions of a window that have a
/// label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassificationMetric {
    /// `roc_auc`: see [`crate::eval::roc_auc`].
    RocAuc,
    /// `accuracy` at the job's threshold.
    Accuracy,
    /// `precision` at the job's threshold.
    Precision,
    /// `recall` at the job's threshold.
    Recall,
    /// `f1` at the job's threshold.
    F1,
    /// `average_precision`: see [`crate::eval::average_precision`].
    AveragePrecision,
    /// `log_loss`: see [`crate::eval::log_loss`].
    LogLoss,
    /// `brier_score`: see [`crate::eval::brier_score`].
    BrierScore,
}

/// A drift figure of a numeric feature against the reference; see
/// [`crate::eval::NumericDriftResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumericMeasure {
    /// `ks:FEATURE`: the two-sample Kolmogorov–Smirnov statistic, in [0, 1].
    Ks,
    /// `ks_p_value:FEATURE`: the p-value of that test.
    KsPValue,
    /// `wasserstein:FEATURE`: the Wasserstein-1 distance, in the unit of the feature.
    Wasserstein,
    /// `psi:FEATURE`: the Population Stability Index over the reference's quantile bins.
    Psi,
}

/// A drift figure of a categorical feature against the reference; see
/// [`crate::eval::CategoricalDriftResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CategoricalMeasure {
    /// `chi2:FEATURE`: the chi-square statistic of the reference and window counts.
    ChiSquare,
    /// `chi2_p_value:FEATURE`: the p-value of that test.
    ChiSquarePValue,
    /// `jensen_shannon:FEATURE`: the Jensen–Shannon distance, base 2, in [0, 1].
    JensenShannon,
    /// `psi:FEATURE`: the Population Stability Index over the categories.
    Psi,
    /// `l_infinity:FEATURE`: the largest difference of one category's frequency.
    LInfinity,
}

/// Classification figures of a job unless its configuration names others.
pub const DEFAULT_CLASSIFICATION_METRICS: [ClassificationMetric; 2] =
    [ClassificationMetric::RocAuc, ClassificationMetric::Accuracy];
/// Drift figures of each numeric feature unless the configuration names others.
pub const DEFAULT_NUMERIC_MEASURES: [NumericMeasure; 2] =
    [NumericMeasure::Ks, NumericMeasure::Wasserstein];
/// Drift figures of each categorical feature unless the configuration names others.
pub const DEFAULT_CATEGORICAL_MEASURES: [CategoricalMeasure; 3] = [
    CategoricalMeasure::ChiSquare,
    CategoricalMeasure::JensenShannon,
    CategoricalMeasure::Psi,
];

impl ClassificationMetric {
    /// Returns the aggregate metric name.
    pub fn name(self) -> &'static str {
        match self {
            ClassificationMetric::RocAuc => "roc_auc",
            ClassificationMetric::Accuracy => "accuracy",
            ClassificationMetric::Precision => "precision",
            ClassificationMetric::Recall => "recall",
            ClassificationMetric::F1 => "f1",
            ClassificationMetric::AveragePrecision => "average_precision",
            ClassificationMetric::LogLoss => "log_loss",
            ClassificationMetric::BrierScore => "brier_score",
        }
    }

    pub(crate) fn value(self, summary: &BinaryClassification) -> Result<f64, Undefined> {
        match self {
            ClassificationMetric::RocAuc => summary.roc_auc,
            ClassificationMetric::Accuracy => summary.confusion.accuracy(),
            ClassificationMetric::Precision => summary.confusion.precision(),
            ClassificationMetric::Recall => summary.confusion.recall(),
            ClassificationMetric::F1 => summary.confusion.f1(),
            ClassificationMetric::AveragePrecision => summary.average_precision,
            ClassificationMetric::LogLoss => summary.log_loss,
            ClassificationMetric::BrierScore => summary.brier_score,
        }
    }
}

impl NumericMeasure {
    /// Returns the part of the aggregate metric name before the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            NumericMeasure::Ks => "ks",
            NumericMeasure::KsPValue => "ks_p_value",
            NumericMeasure::Wasserstein => "wasserstein",
            NumericMeasure::Psi => "psi",
        }
    }

    /// Returns the aggregate metric name of this measure of `feature`.
    pub fn metric_name(self, feature: &str) -> String {
        format!("{}:{feature}", self.prefix())
    }

    pub(crate) fn value(self, result: &NumericDriftResult) -> Result<f64, Undefined> {
        match self {
            NumericMeasure::Ks => result.ks.map(|test| test.statistic),
            NumericMeasure::KsPValue => result.ks.map(|test| test.p_value),
            NumericMeasure::Wasserstein => result.wasserstein,
            NumericMeasure::Psi => result.psi,
        }
    }
}

impl CategoricalMeasure {
    /// Returns the part of the aggregate metric name before the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            CategoricalMeasure::ChiSquare => "chi2",
            CategoricalMeasure::ChiSquarePValue => "chi2_p_value",
            CategoricalMeasure::JensenShannon => "jensen_shannon",
            CategoricalMeasure::Psi => "psi",
            CategoricalMeasure::LInfinity => "l_infinity",
        }
    }

    /// Returns the aggregate metric name of this measure of `feature`.
    pub fn metric_name(self, feature: &str) -> String {
        format!("{}:{feature}", self.prefix())
    }

    pub(crate) fn value(self, result: &CategoricalDriftResult) -> Result<f64, Undefined> {
        match self {
            CategoricalMeasure::ChiSquare => result.chi_square.map(|test| test.statistic),
            CategoricalMeasure::ChiSquarePValue => result.chi_square.map(|test| test.p_value),
            CategoricalMeasure::JensenShannon => result.jensen_shannon,
            CategoricalMeasure::Psi => result.psi,
            CategoricalMeasure::LInfinity => result.l_infinity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{CategoricalDrift, NumericDrift};

    #[test]
    fn drift_names_join_measure_and_feature() {
        assert_eq!(NumericMeasure::Ks.metric_name("car_value"), "ks:car_value");
        assert_eq!(
            CategoricalMeasure::JensenShannon.metric_name("salary_range"),
            "jensen_shannon:salary_range"
        );
        assert_eq!(CategoricalMeasure::ChiSquare.metric_name("x"), "chi2:x");
    }

    #[test]
    fn classification_values_come_from_summary() {
        let pairs = [(0.9, true), (0.2, false), (0.6, false), (0.7, true)];
        let summary = BinaryClassification::from_pairs(&pairs, 0.5).unwrap();
        assert_eq!(ClassificationMetric::RocAuc.value(&summary), Ok(1.0));
        assert_eq!(ClassificationMetric::Accuracy.value(&summary), Ok(0.75));
        assert_eq!(
            ClassificationMetric::Precision.value(&summary),
            Ok(2.0 / 3.0)
        );
        assert_eq!(ClassificationMetric::Recall.value(&summary), Ok(1.0));
    }

    #[test]
    fn drift_values_come_from_results() {
        let numeric = NumericDrift::new(&[1.0, 2.0, 3.0]).compare(&[2.0, 3.0, 4.0]);
        assert_eq!(NumericMeasure::Wasserstein.value(&numeric), Ok(1.0));
        let ks = numeric.ks.unwrap();
        assert_eq!(NumericMeasure::Ks.value(&numeric), Ok(ks.statistic));
        assert_eq!(NumericMeasure::KsPValue.value(&numeric), Ok(ks.p_value));
        let categorical = CategoricalDrift::new(["a", "a"]).compare(["b"]);
        assert_eq!(
            CategoricalMeasure::JensenShannon.value(&categorical),
            Ok(1.0)
        );
        assert_eq!(CategoricalMeasure::LInfinity.value(&categorical), Ok(1.0));
    }

    #[test]
    fn undefined_figures_keep_their_reason() {
        let numeric = NumericDrift::new(&[1.0]).compare(&[]);
        assert_eq!(
            NumericMeasure::KsPValue.value(&numeric),
            Err(Undefined::EmptyWindow)
        );
        let empty: [&str; 0] = [];
        let categorical = CategoricalDrift::new(empty).compare(["a"]);
        assert_eq!(
            CategoricalMeasure::ChiSquarePValue.value(&categorical),
            Err(Undefined::EmptyReference)
        );
    }
}
