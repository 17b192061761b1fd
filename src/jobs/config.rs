//! The configuration of a monitoring job and its builder.

use std::collections::HashSet;

use super::measures::{
    CategoricalMeasure, ClassificationMetric, DEFAULT_CATEGORICAL_MEASURES,
    DEFAULT_CLASSIFICATION_METRICS, DEFAULT_NUMERIC_MEASURES, NumericMeasure,
};
use super::report::{LABELED_METRIC, MAX_REASON_LEN, ROWS_METRIC, UNDEFINED_METRIC};
use super::window::{Window, WindowScheme, Windows};
use crate::error::{Error, Result};
use crate::value::{MAX_STRING_LEN, Metrics, Value, preview, validate_metrics, validate_model};

/// Threshold of a job unless its configuration sets another.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// The configuration of a job: the figures it computes for one model and the windows it
/// computes them over. Built by [`JobConfig::builder`], which checks every field.
#[derive(Clone, Debug, PartialEq)]
pub struct JobConfig {
    model: String,
    classification: Option<Classification>,
    numeric_features: Vec<String>,
    numeric_measures: Vec<NumericMeasure>,
    categorical_features: Vec<String>,
    categorical_measures: Vec<CategoricalMeasure>,
    reference: Option<Window>,
    scheme: WindowScheme,
    range: Window,
}

/// The classification part of a job: which inline metric is the score, which delayed metric
/// the label, and the threshold that turns a score into a predicted class.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Inline metric with the score, an f64 or an i64.
    pub score: String,
    /// Delayed metric with the label: a bool, or an i64 of 0 or 1, where true and 1 are the
    /// positive class.
    pub label: String,
    /// A score at or above the threshold counts as a positive prediction.
    pub threshold: f64,
    pub metrics: Vec<ClassificationMetric>,
}

/// Builder of a [`JobConfig`]. `windows` and `range` are required. `score` and `label` go
/// together, and features need a `reference` window.
#[derive(Clone, Debug)]
pub struct JobConfigBuilder {
    model: String,
    score: Option<String>,
    label: Option<String>,
    threshold: f64,
    classification_metrics: Option<Vec<ClassificationMetric>>,
    numeric_features: Vec<String>,
    numeric_measures: Vec<NumericMeasure>,
    categorical_features: Vec<String>,
    categorical_measures: Vec<CategoricalMeasure>,
    reference: Option<(i64, i64)>,
    scheme: Option<WindowScheme>,
    range: Option<(i64, i64)>,
}

impl JobConfig {
    /// Starts the configuration of a job for `model`.
    pub fn builder(model: impl Into<String>) -> JobConfigBuilder {
        JobConfigBuilder {
            model: model.into(),
            score: None,
            label: None,
            threshold: DEFAULT_THRESHOLD,
            classification_metrics: None,
            numeric_features: Vec::new(),
            numeric_measures: DEFAULT_NUMERIC_MEASURES.to_vec(),
            categorical_features: Vec::new(),
            categorical_measures: DEFAULT_CATEGORICAL_MEASURES.to_vec(),
            reference: None,
            scheme: None,
            range: None,
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Returns the classification part, or `None` for a job that computes drift only.
    pub fn classification(&self) -> Option<&Classification> {
        self.classification.as_ref()
    }

    /// Inline metrics compared with the reference as numbers, f64 or i64.
    pub fn numeric_features(&self) -> &[String] {
        &self.numeric_features
    }

    pub fn numeric_measures(&self) -> &[NumericMeasure] {
        &self.numeric_measures
    }

    /// Inline metrics compared with the reference as categories, strings or bools.
    pub fn categorical_features(&self) -> &[String] {
        &self.categorical_features
    }

    pub fn categorical_measures(&self) -> &[CategoricalMeasure] {
        &self.categorical_measures
    }

    /// Returns the window whose predictions are the drift reference, or `None` when none was
    /// set. A job without features does not read it.
    pub fn reference(&self) -> Option<Window> {
        self.reference
    }

    pub fn scheme(&self) -> WindowScheme {
        self.scheme
    }

    /// Returns the range the job runs over: it computes every window of the scheme that
    /// overlaps it.
    pub fn range(&self) -> Window {
        self.range
    }

    /// Returns the windows of the scheme that overlap the range, in time order.
    pub fn windows(&self) -> Windows {
        // `build` checked that both end windows of the range exist, so the fallback is never
        // taken.
        self.scheme
            .windows(self.range)
            .unwrap_or_else(|_| Windows::empty(self.scheme))
    }

    /// Returns whether the job compares features with a reference.
    pub fn has_drift(&self) -> bool {
        !self.numeric_features.is_empty() || !self.categorical_features.is_empty()
    }

    /// Returns the names of every figure the job computes, in the order it reports them:
    /// classification metrics, then each numeric feature's measures, then each categorical
    /// feature's.
    pub fn figure_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .classification
            .iter()
            .flat_map(|c| c.metrics.iter().map(|m| m.name().to_owned()))
            .collect();
        for feature in &self.numeric_features {
            names.extend(self.numeric_measures.iter().map(|m| m.metric_name(feature)));
        }
        for feature in &self.categorical_features {
            names.extend(
                self.categorical_measures
                    .iter()
                    .map(|m| m.metric_name(feature)),
            );
        }
        names
    }
}

impl JobConfigBuilder {
    /// Sets the inline metric with the score.
    pub fn score(mut self, metric: impl Into<String>) -> Self {
        self.score = Some(metric.into());
        self
    }

    /// Sets the delayed metric with the label.
    pub fn label(mut self, delayed_metric: impl Into<String>) -> Self {
        self.label = Some(delayed_metric.into());
        self
    }

    /// Sets the threshold of the predicted class (default 0.5). NaN is rejected by `build`.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets the classification figures (default ROC AUC and accuracy).
    pub fn classification_metrics(
        mut self,
        metrics: impl IntoIterator<Item = ClassificationMetric>,
    ) -> Self {
        self.classification_metrics = Some(dedup(metrics));
        self
    }

    pub fn numeric_features<S: Into<String>>(
        mut self,
        features: impl IntoIterator<Item = S>,
    ) -> Self {
        self.numeric_features = features.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the figures of each numeric feature (default KS statistic and Wasserstein).
    pub fn numeric_measures(mut self, measures: impl IntoIterator<Item = NumericMeasure>) -> Self {
        self.numeric_measures = dedup(measures);
        self
    }

    pub fn categorical_features<S: Into<String>>(
        mut self,
        features: impl IntoIterator<Item = S>,
    ) -> Self {
        self.categorical_features = features.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the figures of each categorical feature (default chi-square statistic,
    /// Jensen–Shannon distance and PSI).
    pub fn categorical_measures(
        mut self,
        measures: impl IntoIterator<Item = CategoricalMeasure>,
    ) -> Self {
        self.categorical_measures = dedup(measures);
        self
    }

    /// Sets the reference window `[start_ms, end_ms)`, such as the training period.
    pub fn reference(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.reference = Some((start_ms, end_ms));
        self
    }

    pub fn windows(mut self, scheme: WindowScheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// Sets the range `[start_ms, end_ms)`. The job computes every window that overlaps it.
    pub fn range(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.range = Some((start_ms, end_ms));
        self
    }

    /// Checks the configuration. Returns `Error::InvalidInput` naming the first field at fault.
    pub fn build(self) -> Result<JobConfig> {
        validate_model(&self.model)?;
        let classification = self.classification()?;
        let scheme = self
            .scheme
            .ok_or_else(|| missing("windows", "a window scheme"))?;
        scheme.check_length()?;
        let (start_ms, end_ms) = self.range.ok_or_else(|| missing("range", "a range"))?;
        let range = Window::new(start_ms, end_ms)?;
        // Both end windows must be representable for the job to run.
        scheme.windows(range)?;
        let reference = self.reference_window()?;
        check_features(&self.numeric_features, &self.categorical_features)?;

        let config = JobConfig {
            model: self.model,
            classification,
            numeric_features: self.numeric_features,
            numeric_measures: self.numeric_measures,
            categorical_features: self.categorical_features,
            categorical_measures: self.categorical_measures,
            reference,
            scheme,
            range,
        };
        check_record(&config)?;
        Ok(config)
    }

    fn classification(&self) -> Result<Option<Classification>> {
        let (score, label) = match (&self.score, &self.label) {
            (Some(score), Some(label)) => (score, label),
            (None, None)
                if self
                    .classification_metrics
                    .as_ref()
                    .is_none_or(Vec::is_empty) =>
            {
                return Ok(None);
            }
            (None, _) => return Err(missing("score", "the inline metric with the score")),
            (_, None) => return Err(missing("label", "the delayed metric with the label")),
        };
        if self.threshold.is_nan() {
            return Err(Error::invalid(
                "threshold",
                "NaN",
                "the threshold must be a number; the default is 0.5",
            ));
        }
        let metrics = self
            .classification_metrics
            .clone()
            .unwrap_or_else(|| DEFAULT_CLASSIFICATION_METRICS.to_vec());
        Ok(Some(Classification {
            score: score.clone(),
            label: label.clone(),
            threshold: self.threshold,
            metrics,
        }))
    }

    fn reference_window(&self) -> Result<Option<Window>> {
        let has_features =
            !self.numeric_features.is_empty() || !self.categorical_features.is_empty();
        match self.reference {
            Some((start_ms, end_ms)) => Ok(Some(Window::new(start_ms, end_ms)?)),
            None if has_features => Err(missing(
                "reference",
                "a reference window to compare the features with",
            )),
            None => Ok(None),
        }
    }
}

fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut unique = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique
}

fn missing(method: &'static str, setting: &str) -> Error {
    Error::invalid(
        "job configuration",
        format!("without {method}"),
        format!("call JobConfigBuilder::{method} to set {setting}"),
    )
}

/// Rejects empty and repeated feature names, including one name in both lists.
fn check_features(numeric: &[String], categorical: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for feature in numeric.iter().chain(categorical) {
        if feature.is_empty() {
            return Err(Error::invalid(
                "feature",
                "\"\"",
                "a feature is the name of an inline metric and must not be empty",
            ));
        }
        if !seen.insert(feature.as_str()) {
            return Err(Error::invalid(
                "feature",
                preview(feature),
                "the feature is listed twice: list each feature once, as numeric or categorical",
            ));
        }
    }
    Ok(())
}

/// Checks that the largest record a run can store passes the store's limits: the number of
/// metrics, each name, and the length of the list of undefined figures.
fn check_record(config: &JobConfig) -> Result<()> {
    let names = config.figure_names();
    let undefined_len: usize = names
        .iter()
        .map(|name| name.len() + MAX_REASON_LEN + 3)
        .sum();
    if undefined_len > MAX_STRING_LEN {
        return Err(Error::invalid(
            "job configuration",
            format!("with {} figures", names.len()),
            format!(
                "the list of undefined figures could reach {undefined_len} bytes, more than a \
                 string value's {MAX_STRING_LEN}: configure fewer features or measures"
            ),
        ));
    }
    let mut record = Metrics::new()
        .with(ROWS_METRIC, 0i64)
        .with(LABELED_METRIC, 0i64)
        .with(UNDEFINED_METRIC, "");
    for name in names {
        record.push(name, Value::F64(0.0));
    }
    validate_metrics(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> JobConfigBuilder {
        JobConfig::builder("model")
            .windows(WindowScheme::Months)
            .range(0, 1_000)
    }

    #[test]
    fn minimal_config_has_no_figures() {
        let config = builder().build().unwrap();
        assert_eq!(config.classification(), None);
        assert!(!config.has_drift());
        assert!(config.figure_names().is_empty());
    }

    #[test]
    fn figure_names_follow_config_order() {
        let config = builder()
            .score("score")
            .label("label")
            .numeric_features(["age", "income"])
            .categorical_features(["region"])
            .reference(-1_000, 0)
            .build()
            .unwrap();
        let expected = [
            "roc_auc",
            "accuracy",
            "ks:age",
            "wasserstein:age",
            "ks:income",
            "wasserstein:income",
            "chi2:region",
            "jensen_shannon:region",
            "psi:region",
        ];
        assert_eq!(config.figure_names(), expected);
    }

    #[test]
    fn score_without_label_is_rejected() {
        let error = builder().score("score").build().unwrap_err();
        assert!(
            error.to_string().contains("JobConfigBuilder::label"),
            "{error}"
        );
        let error = builder().label("label").build().unwrap_err();
        assert!(
            error.to_string().contains("JobConfigBuilder::score"),
            "{error}"
        );
    }

    #[test]
    fn metrics_without_score_are_rejected() {
        let result = builder()
            .classification_metrics([ClassificationMetric::F1])
            .build();
        assert!(result.is_err());
    }

    #[test]
    fn nan_threshold_is_rejected() {
        let result = builder().score("s").label("l").threshold(f64::NAN).build();
        assert!(result.is_err());
    }

    #[test]
    fn windows_and_range_are_required() {
        let no_scheme = JobConfig::builder("m").range(0, 1).build();
        assert!(no_scheme.unwrap_err().to_string().contains("windows"));
        let no_range = JobConfig::builder("m").windows(WindowScheme::Days).build();
        assert!(no_range.unwrap_err().to_string().contains("range"));
    }

    #[test]
    fn empty_range_is_rejected() {
        assert!(builder().range(5, 5).build().is_err());
    }

    #[test]
    fn range_at_i64_end_is_rejected() {
        assert!(builder().range(0, i64::MAX).build().is_err());
    }

    #[test]
    fn zero_fixed_length_is_rejected() {
        let scheme = WindowScheme::Fixed {
            origin_ms: 0,
            length_ms: 0,
        };
        assert!(builder().windows(scheme).build().is_err());
    }

    #[test]
    fn features_need_a_reference() {
        let error = builder().numeric_features(["x"]).build().unwrap_err();
        assert!(error.to_string().contains("reference"), "{error}");
        assert!(builder().reference(5, 1).build().is_err());
    }

    #[test]
    fn repeated_features_are_rejected() {
        let twice = builder()
            .reference(0, 1)
            .numeric_features(["x", "x"])
            .build();
        assert!(twice.is_err());
        let both_kinds = builder()
            .reference(0, 1)
            .numeric_features(["x"])
            .categorical_features(["x"])
            .build();
        assert!(both_kinds.is_err());
        let empty = builder().reference(0, 1).categorical_features([""]).build();
        assert!(empty.is_err());
    }

    #[test]
    fn overlong_feature_name_is_rejected() {
        let long = "f".repeat(250);
        let error = builder()
            .reference(0, 1)
            .categorical_features([long])
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("metric name"), "{error}");
    }

    #[test]
    fn too_many_figures_are_rejected() {
        let features: Vec<String> = (0..600).map(|i| format!("feature_{i}")).collect();
        let result = builder().reference(0, 1).numeric_features(features).build();
        assert!(result.is_err());
    }

    #[test]
    fn repeated_measures_count_once() {
        let config = builder()
            .reference(0, 1)
            .numeric_features(["x"])
            .numeric_measures([NumericMeasure::Psi, NumericMeasure::Psi])
            .build()
            .unwrap();
        assert_eq!(config.figure_names(), ["psi:x"]);
    }
}
