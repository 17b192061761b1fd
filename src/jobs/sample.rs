//! Reading one window of predictions into the columns that a job's figures need.

use std::collections::BTreeMap;

use super::config::JobConfig;
use super::window::Window;
use crate::error::{Error, Result};
use crate::eval::bool_category;
use crate::record::Prediction;
use crate::store::Store;
use crate::value::{Metrics, Value, preview};

/// The values of one window that a job uses, in the order `read_metrics` returns predictions.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct WindowSample {
    pub rows: u64,
    /// Predictions with the label.
    pub labeled: u64,
    /// (score, label) of the predictions with both.
    pub pairs: Vec<(f64, bool)>,
    /// Values of each numeric feature, in the order of the configuration.
    pub numeric: Vec<Vec<f64>>,
    /// Categories of each categorical feature, in the order of the configuration.
    pub categorical: Vec<Vec<String>>,
    /// Predictions without the score or a feature, by metric name.
    pub missing: BTreeMap<String, u64>,
}

/// The columns a read collects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Score, label and features: a window of the job.
    All,
    /// Features only: the reference, whose labels the job does not use.
    Features,
}

impl WindowSample {
    /// Reads the predictions of `window` one at a time, keeping only the values the job uses.
    ///
    /// Returns `Error::InvalidInput` naming the prediction when a score, label or feature has
    /// a type the job cannot read.
    pub fn read(
        store: &Store,
        config: &JobConfig,
        window: Window,
        columns: Columns,
    ) -> Result<Self> {
        let mut sample = WindowSample {
            numeric: vec![Vec::new(); config.numeric_features().len()],
            categorical: vec![Vec::new(); config.categorical_features().len()],
            ..WindowSample::default()
        };
        let predictions = store.read_metrics(config.model(), window.start_ms, window.end_ms)?;
        for prediction in predictions {
            let prediction = prediction?;
            sample.rows += 1;
            if columns == Columns::All {
                sample.add_classification(config, &prediction)?;
            }
            sample.add_features(config, &prediction)?;
        }
        Ok(sample)
    }

    fn add_classification(&mut self, config: &JobConfig, prediction: &Prediction) -> Result<()> {
        let Some(classification) = config.classification() else {
            return Ok(());
        };
        let score = self.number(prediction, &prediction.metrics, &classification.score)?;
        let Some(value) = prediction.delayed.get(&classification.label) else {
            return Ok(());
        };
        let label = read_label(prediction, &classification.label, value)?;
        self.labeled += 1;
        if let Some(score) = score {
            self.pairs.push((score, label));
        }
        Ok(())
    }

    fn add_features(&mut self, config: &JobConfig, prediction: &Prediction) -> Result<()> {
        for (index, feature) in config.numeric_features().iter().enumerate() {
            let value = self.number(prediction, &prediction.metrics, feature)?;
            if let (Some(value), Some(column)) = (value, self.numeric.get_mut(index)) {
                column.push(value);
            }
        }
        for (index, feature) in config.categorical_features().iter().enumerate() {
            let value = self.category(prediction, feature)?;
            if let (Some(value), Some(column)) = (value, self.categorical.get_mut(index)) {
                column.push(value);
            }
        }
        Ok(())
    }

    /// Returns the metric `name` as a number, or `None`, counted as missing, without it.
    fn number(
        &mut self,
        prediction: &Prediction,
        metrics: &Metrics,
        name: &str,
    ) -> Result<Option<f64>> {
        match metrics.get(name) {
            Some(Value::F64(value)) => Ok(Some(*value)),
            Some(Value::I64(value)) => Ok(Some(*value as f64)),
            Some(other) => Err(wrong_type(prediction, name, other, "an f64 or an i64")),
            None => {
                self.count_missing(name);
                Ok(None)
            }
        }
    }

    /// Returns the inline metric `name` as a category, or `None`, counted as missing, without
    /// it. Booleans become `"true"` and `"false"`.
    fn category(&mut self, prediction: &Prediction, name: &str) -> Result<Option<String>> {
        match prediction.metrics.get(name) {
            Some(Value::Str(value)) => Ok(Some(value.clone())),
            Some(Value::Bool(value)) => Ok(Some(bool_category(*value).to_owned())),
            Some(other) => Err(wrong_type(prediction, name, other, "a string or a bool")),
            None => {
                self.count_missing(name);
                Ok(None)
            }
        }
    }

    fn count_missing(&mut self, name: &str) {
        match self.missing.get_mut(name) {
            Some(count) => *count += 1,
            None => {
                self.missing.insert(name.to_owned(), 1);
            }
        }
    }
}

/// Reads a label: a bool, or an i64 of 0 or 1.
fn read_label(prediction: &Prediction, name: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(label) => Ok(*label),
        Value::I64(0) => Ok(false),
        Value::I64(1) => Ok(true),
        other => Err(wrong_type(
            prediction,
            name,
            other,
            "a bool or an i64 of 0 or 1",
        )),
    }
}

fn wrong_type(prediction: &Prediction, name: &str, found: &Value, expected: &str) -> Error {
    let found = match found {
        Value::Str(text) => format!("string {}", preview(text)),
        other => format!("{} {other}", other.type_name()),
    };
    Error::invalid(
        "metric value",
        format!(
            "{found} of metric {} in prediction {}",
            preview(name),
            prediction.uuid
        ),
        format!(
            "the job reads this metric as {expected}: name another metric in the job's \
             configuration, or list a feature as numeric or categorical to match its type"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Uuid;
    use crate::jobs::WindowScheme;

    fn config() -> JobConfig {
        JobConfig::builder("m")
            .score("score")
            .label("label")
            .numeric_features(["x"])
            .categorical_features(["c"])
            .reference(0, 1)
            .windows(WindowScheme::Days)
            .range(0, 1)
            .build()
            .unwrap()
    }

    fn prediction(metrics: Metrics, delayed: Metrics) -> Prediction {
        Prediction {
            model: "m".to_owned(),
            uuid: Uuid::nil(),
            timestamp_ms: 0,
            metrics,
            delayed,
        }
    }

    fn empty_sample() -> WindowSample {
        WindowSample {
            numeric: vec![Vec::new()],
            categorical: vec![Vec::new()],
            ..WindowSample::default()
        }
    }

    fn add(sample: &mut WindowSample, prediction: &Prediction) -> Result<()> {
        let config = config();
        sample.rows += 1;
        sample.add_classification(&config, prediction)?;
        sample.add_features(&config, prediction)
    }

    #[test]
    fn integer_values_read_as_numbers() {
        let mut sample = empty_sample();
        let inline = Metrics::new()
            .with("score", 1i64)
            .with("x", 7i64)
            .with("c", true);
        add(
            &mut sample,
            &prediction(inline, Metrics::new().with("label", 1i64)),
        )
        .unwrap();
        assert_eq!(sample.pairs, [(1.0, true)]);
        assert_eq!(sample.numeric, [vec![7.0]]);
        assert_eq!(sample.categorical, [vec!["true".to_owned()]]);
        assert_eq!(sample.labeled, 1);
    }

    #[test]
    fn missing_values_are_counted() {
        let mut sample = empty_sample();
        let delayed = Metrics::new().with("label", false);
        add(&mut sample, &prediction(Metrics::new(), delayed)).unwrap();
        assert_eq!(sample.labeled, 1);
        assert!(sample.pairs.is_empty());
        assert_eq!(sample.missing.get("score"), Some(&1));
        assert_eq!(sample.missing.get("x"), Some(&1));
        assert_eq!(sample.missing.get("c"), Some(&1));
    }

    #[test]
    fn label_outside_zero_one_is_rejected() {
        let mut sample = empty_sample();
        let inline = Metrics::new().with("score", 0.5);
        let error = add(
            &mut sample,
            &prediction(inline, Metrics::new().with("label", 2i64)),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("i64 2"), "{message}");
        assert!(message.contains(&Uuid::nil().to_string()), "{message}");
    }

    #[test]
    fn string_score_is_rejected() {
        let mut sample = empty_sample();
        let inline = Metrics::new().with("score", "high");
        let error = add(&mut sample, &prediction(inline, Metrics::new())).unwrap_err();
        assert!(error.to_string().contains("string \"high\""), "{error}");
    }

    #[test]
    fn float_category_is_rejected() {
        let mut sample = empty_sample();
        let inline = Metrics::new().with("c", 1.5);
        let error = add(&mut sample, &prediction(inline, Metrics::new())).unwrap_err();
        assert!(error.to_string().contains("a string or a bool"), "{error}");
    }
}
