//! The monthly job: reads each month of predictions with their ground truth, scores the model,
//! and stores the scores as aggregate metrics of that month.

use std::error::Error;

use modelmetrics::{Metrics, Prediction, Store, Value};

use crate::calendar::Month;
use crate::evaluate::{WindowEvaluation, WindowScores};
use crate::ingest::MODEL;

/// Scores each month of `months` and tracks the scores as aggregate metrics of the window from
/// the month's first millisecond to the next month's.
pub fn evaluate_months(store: &Store, months: &[Month]) -> Result<(), Box<dyn Error>> {
    for month in months {
        let start_ms = month.start_ms();
        let end_ms = month.next().start_ms();
        let scores = evaluate_window(store, start_ms, end_ms)?;
        store.track_aggregate_metrics(MODEL, start_ms, end_ms, &aggregate_metrics(&scores))?;
    }
    Ok(())
}

fn evaluate_window(
    store: &Store,
    start_ms: i64,
    end_ms: i64,
) -> Result<WindowScores, Box<dyn Error>> {
    let mut window = WindowEvaluation::default();
    for prediction in store.read_metrics(MODEL, start_ms, end_ms)? {
        let prediction = prediction?;
        let score = score(&prediction)?;
        let predicted = class(&prediction, &prediction.metrics, "y_pred")?;
        let actual = match prediction.delayed.get("repaid") {
            Some(_) => Some(class(&prediction, &prediction.delayed, "repaid")?),
            None => None,
        };
        window.add(score, predicted, actual);
    }
    Ok(window.finish())
}

/// Metrics `rows`, `labeled`, and `roc_auc` and `accuracy` when the window has them.
fn aggregate_metrics(scores: &WindowScores) -> Metrics {
    let mut metrics = Metrics::new()
        .with("rows", scores.rows as i64)
        .with("labeled", scores.labeled as i64);
    if let Some(roc_auc) = scores.roc_auc {
        metrics.push("roc_auc", roc_auc);
    }
    if let Some(accuracy) = scores.accuracy {
        metrics.push("accuracy", accuracy);
    }
    metrics
}

/// Returns the inline metric `y_pred_proba`, which must be a finite float.
fn score(prediction: &Prediction) -> Result<f64, String> {
    match prediction.metrics.get("y_pred_proba") {
        Some(Value::F64(score)) if score.is_finite() => Ok(*score),
        other => Err(unexpected(
            prediction,
            "y_pred_proba",
            "a finite f64",
            other,
        )),
    }
}

/// Returns the metric `name` of `metrics`, which must be a class label: an i64 of 0 or 1.
fn class(prediction: &Prediction, metrics: &Metrics, name: &str) -> Result<i64, String> {
    match metrics.get(name) {
        Some(Value::I64(label @ (0 | 1))) => Ok(*label),
        other => Err(unexpected(prediction, name, "an i64 of 0 or 1", other)),
    }
}

fn unexpected(
    prediction: &Prediction,
    name: &str,
    expected: &str,
    found: Option<&Value>,
) -> String {
    let found = match found {
        Some(value) => format!("{} {value}", value.type_name()),
        None => "no value".to_owned(),
    };
    format!(
        "prediction {} of model {} has {found} for metric {name}, expected {expected}",
        prediction.uuid, prediction.model
    )
}
