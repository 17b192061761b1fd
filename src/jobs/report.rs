//! The report of each window of a job run, and the aggregate metrics the run stores.

use std::collections::BTreeMap;
use std::fmt;

use super::window::Window;
use crate::eval::Undefined;
use crate::value::{Metrics, Value};

/// Aggregate metric with the number of predictions in the window, an i64.
pub const ROWS_METRIC: &str = "rows";
/// Aggregate metric with the number of predictions in the window that have the label, an i64.
/// Stored only by jobs with a label.
pub const LABELED_METRIC: &str = "labeled";
/// Aggregate metric that lists the figures the window leaves undefined, a string; see
/// [`parse_undefined`].
pub const UNDEFINED_METRIC: &str = "undefined";

/// Upper bound on the length of an [`Undefined`] reason as text, in bytes, used to bound the
/// length of the `undefined` metric when a job is configured.
pub(crate) const MAX_REASON_LEN: usize = 64;

/// The result of one window of a job run.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowReport {
    pub window: Window,
    /// The window's name under the job's scheme, such as `2019-01`.
    pub name: String,
    /// Predictions in the window.
    pub rows: u64,
    /// Predictions in the window with the label; `None` for a job without a label.
    pub labeled: Option<u64>,
    /// Figures computed and stored, by aggregate metric name, in the job's order.
    pub figures: Vec<(String, f64)>,
    /// Figures the window leaves undefined, with the reason; none of them was stored.
    pub undefined: Vec<UndefinedFigure>,
    /// Predictions that lack an inline metric the job reads (score or feature), by metric
    /// name. Such a prediction is left out of the figures that need the metric.
    pub missing: BTreeMap<String, u64>,
}

/// A figure that the data of a window does not define, such as ROC AUC when every label is
/// of one class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndefinedFigure {
    /// The aggregate metric name the figure would have.
    pub name: String,
    pub reason: Undefined,
}

impl WindowReport {
    /// Returns the number of predictions of the window still without a label, `None` for a job
    /// without a label. A later run of the window counts the labels tracked since.
    pub fn unlabeled(&self) -> Option<u64> {
        self.labeled
            .map(|labeled| self.rows.saturating_sub(labeled))
    }

    /// Returns the stored figure named `name`.
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|(figure, _)| figure == name)
            .map(|(_, value)| *value)
    }

    /// Returns the reason why the figure named `name` is undefined, if it is.
    pub fn undefined_reason(&self, name: &str) -> Option<Undefined> {
        self.undefined
            .iter()
            .find(|figure| figure.name == name)
            .map(|figure| figure.reason)
    }

    /// Returns the aggregate metrics of the window: rows, labeled, every defined figure, and
    /// the list of undefined ones, empty when there are none.
    pub(crate) fn to_metrics(&self) -> Metrics {
        let mut metrics = Metrics::new().with(ROWS_METRIC, count(self.rows));
        if let Some(labeled) = self.labeled {
            metrics.push(LABELED_METRIC, count(labeled));
        }
        for (name, value) in &self.figures {
            metrics.push(name.as_str(), Value::F64(*value));
        }
        metrics.push(UNDEFINED_METRIC, format_undefined(&self.undefined));
        metrics
    }
}

impl fmt::Display for UndefinedFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

/// Converts a count to the i64 the store keeps. No window contains 2^63 predictions.
fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Formats one `NAME: REASON` line per undefined figure. Metric names contain no control
/// characters, so a newline separates the lines unambiguously.
fn format_undefined(undefined: &[UndefinedFigure]) -> String {
    let lines: Vec<String> = undefined.iter().map(UndefinedFigure::to_string).collect();
    lines.join("\n")
}

/// Splits the value of the `undefined` aggregate metric into pairs of a figure name and the
/// reason why it is undefined, as text.
///
/// A job stores this metric on every run of a window. A figure listed here may still read
/// back with a value from an earlier run, because a run that leaves a figure undefined stores
/// nothing under its name. Trust a figure only when this list does not name it.
pub fn parse_undefined(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| line.rsplit_once(": "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> WindowReport {
        WindowReport {
            window: Window {
                start_ms: 0,
                end_ms: 10,
            },
            name: "w".to_owned(),
            rows: 5,
            labeled: Some(3),
            figures: vec![("accuracy".to_owned(), 0.5)],
            undefined: vec![
                UndefinedFigure {
                    name: "roc_auc".to_owned(),
                    reason: Undefined::OneClass,
                },
                UndefinedFigure {
                    name: "ks:a: b".to_owned(),
                    reason: Undefined::EmptyWindow,
                },
            ],
            missing: BTreeMap::new(),
        }
    }

    #[test]
    fn metrics_hold_counts_figures_and_reasons() {
        let metrics = report().to_metrics();
        assert_eq!(metrics.get("rows"), Some(&Value::I64(5)));
        assert_eq!(metrics.get("labeled"), Some(&Value::I64(3)));
        assert_eq!(metrics.get("accuracy"), Some(&Value::F64(0.5)));
        assert_eq!(metrics.get("roc_auc"), None);
        let expected = "roc_auc: all labels belong to one class\n\
                        ks:a: b: the window has no finite values";
        assert_eq!(metrics.get("undefined"), Some(&Value::from(expected)));
    }

    #[test]
    fn parse_undefined_reads_stored_list() {
        let metrics = report().to_metrics();
        let text = metrics.get("undefined").and_then(Value::as_str).unwrap();
        let parsed = parse_undefined(text);
        assert_eq!(
            parsed,
            [
                ("roc_auc", "all labels belong to one class"),
                ("ks:a: b", "the window has no finite values")
            ]
        );
        assert!(parse_undefined("").is_empty());
    }

    #[test]
    fn unlabeled_counts_rows_without_label() {
        let mut report = report();
        assert_eq!(report.unlabeled(), Some(2));
        report.labeled = None;
        assert_eq!(report.unlabeled(), None);
        assert_eq!(report.to_metrics().get("labeled"), None);
    }

    #[test]
    fn lookups_find_figures_and_reasons() {
        let report = report();
        assert_eq!(report.figure("accuracy"), Some(0.5));
        assert_eq!(report.figure("roc_auc"), None);
        assert_eq!(
            report.undefined_reason("roc_auc"),
            Some(Undefined::OneClass)
        );
    }

    #[test]
    fn every_reason_fits_the_bound() {
        let reasons = [
            Undefined::NoData,
            Undefined::EmptyReference,
            Undefined::EmptyWindow,
            Undefined::OneClass,
            Undefined::NoPositiveLabels,
            Undefined::NoPredictedPositives,
            Undefined::ScoreOutsideUnitInterval,
            Undefined::ConstantTruth,
        ];
        for reason in reasons {
            let text = reason.to_string();
            assert!(text.len() <= MAX_REASON_LEN, "{text}");
            assert!(!text.contains(": "), "{text}");
        }
    }
}
