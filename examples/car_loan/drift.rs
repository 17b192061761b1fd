//! The stored figures of one month as the report shows them, and the drift flags.

use modelmetrics::jobs::{LABELED_METRIC, ROWS_METRIC, UNDEFINED_METRIC, parse_undefined};
use modelmetrics::{Aggregate, Value};

use crate::args::Thresholds;

/// Prefixes of the drift figures in [0, 1] that `--drift-threshold` applies to, and that the
/// strongest drift of a month is taken from.
const DISTANCE_PREFIXES: [&str; 2] = ["ks:", "jensen_shannon:"];
const PSI_PREFIX: &str = "psi:";

/// The aggregate metrics of one month as the job stored them.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthRow {
    /// The month as `YYYY-MM`.
    pub name: String,
    pub rows: Option<i64>,
    pub labeled: Option<i64>,
    pub roc_auc: Option<f64>,
    pub accuracy: Option<f64>,
    /// Drift figures in the order of the job, `None` where the month leaves one undefined.
    pub drift: Vec<(String, Option<f64>)>,
}

impl MonthRow {
    /// Reads the month's figures from its aggregate metrics. A figure that the `undefined`
    /// metric lists reads as `None`, whatever value an earlier run stored.
    pub fn from_aggregate(aggregate: &Aggregate, name: String, drift_names: &[String]) -> MonthRow {
        let undefined_text = aggregate
            .metrics
            .get(UNDEFINED_METRIC)
            .and_then(Value::as_str);
        let undefined = parse_undefined(undefined_text.unwrap_or_default());
        let integer = |name| aggregate.metrics.get(name).and_then(Value::as_i64);
        let float = |name: &str| {
            if undefined.iter().any(|(undefined, _)| *undefined == name) {
                return None;
            }
            match aggregate.metrics.get(name) {
                Some(Value::F64(value)) => Some(*value),
                _ => None,
            }
        };
        MonthRow {
            name,
            rows: integer(ROWS_METRIC),
            labeled: integer(LABELED_METRIC),
            roc_auc: float("roc_auc"),
            accuracy: float("accuracy"),
            drift: drift_names
                .iter()
                .map(|name| (name.clone(), float(name)))
                .collect(),
        }
    }

    /// Returns the largest KS statistic or Jensen-Shannon distance of the month, with its
    /// metric name.
    pub fn strongest_drift(&self) -> Option<(&str, f64)> {
        self.defined_drift()
            .filter(|(name, _)| is_distance(name))
            .fold(None, |strongest, (name, value)| match strongest {
                Some((_, max)) if max >= value => strongest,
                _ => Some((name, value)),
            })
    }

    /// Returns the drift figures at or above their threshold, in the order of the job.
    pub fn flagged(&self, thresholds: Thresholds) -> Vec<(&str, f64)> {
        self.defined_drift()
            .filter(|(name, value)| {
                (is_distance(name) && *value >= thresholds.distance)
                    || (name.starts_with(PSI_PREFIX) && *value >= thresholds.psi)
            })
            .collect()
    }

    fn defined_drift(&self) -> impl Iterator<Item = (&str, f64)> {
        self.drift
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), (*value)?)))
    }
}

fn is_distance(name: &str) -> bool {
    DISTANCE_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use modelmetrics::Metrics;

    use super::*;

    fn row(drift: &[(&str, Option<f64>)]) -> MonthRow {
        MonthRow {
            name: "2019-04".to_owned(),
            rows: Some(10),
            labeled: Some(10),
            roc_auc: Some(0.9),
            accuracy: Some(0.8),
            drift: drift
                .iter()
                .map(|(name, value)| (name.to_string(), *value))
                .collect(),
        }
    }

    const THRESHOLDS: Thresholds = Thresholds {
        distance: 0.1,
        psi: 0.2,
    };

    #[test]
    fn strongest_drift_ignores_other_measures() {
        let month = row(&[
            ("ks:a", Some(0.05)),
            ("wasserstein:a", Some(300.0)),
            ("jensen_shannon:b", Some(0.07)),
            ("psi:b", Some(5.0)),
            ("ks:c", None),
        ]);
        assert_eq!(month.strongest_drift(), Some(("jensen_shannon:b", 0.07)));
        assert_eq!(row(&[("chi2:b", Some(9.0))]).strongest_drift(), None);
    }

    #[test]
    fn flags_apply_each_threshold() {
        let month = row(&[
            ("ks:a", Some(0.1)),
            ("ks:b", Some(0.099)),
            ("jensen_shannon:c", Some(0.3)),
            ("psi:c", Some(0.19)),
            ("psi:d", Some(0.25)),
            ("wasserstein:a", Some(1e6)),
            ("chi2:c", Some(1e6)),
        ]);
        let flagged = month.flagged(THRESHOLDS);
        assert_eq!(
            flagged,
            [("ks:a", 0.1), ("jensen_shannon:c", 0.3), ("psi:d", 0.25)]
        );
    }

    #[test]
    fn undefined_figures_read_as_none() {
        let aggregate = Aggregate {
            model: "m".to_owned(),
            start_ms: 0,
            end_ms: 1,
            metrics: Metrics::new()
                .with("rows", 3i64)
                .with("roc_auc", 0.75)
                .with("ks:a", 0.5)
                .with("undefined", "roc_auc: all labels belong to one class"),
        };
        let names = ["ks:a".to_owned(), "ks:b".to_owned()];
        let month = MonthRow::from_aggregate(&aggregate, "1970-01".to_owned(), &names);
        assert_eq!(month.rows, Some(3));
        assert_eq!(month.labeled, None);
        assert_eq!(month.roc_auc, None, "listed as undefined");
        assert_eq!(
            month.drift,
            [("ks:a".to_owned(), Some(0.5)), ("ks:b".to_owned(), None)]
        );
    }
}
