//! The job runner: prepares the drift reference once, then computes and stores the figures of
//! each window.

use std::time::Instant;

use super::config::JobConfig;
use super::report::{LABELED_METRIC, ROWS_METRIC, UndefinedFigure, WindowReport};
use super::sample::{Columns, WindowSample};
use super::window::{Window, Windows};
use crate::error::{Error, Result};
use crate::eval::{BinaryClassification, CategoricalDrift, NumericDrift, Undefined};
use crate::record::Aggregate;
use crate::store::Store;
use crate::value::Value;

/// A monitoring job for one model, with its drift reference prepared.
///
/// Each run of a window reads its predictions with `read_metrics`, computes the figures, and
/// stores them with `track_aggregate_metrics` under the window's exact bounds. Running a
/// window again stores its figures again, and `read_aggregate_metrics` returns the latest
/// value of each, so a later run replaces an earlier one: run a window again once more labels
/// have arrived.
#[derive(Clone, Debug)]
pub struct Job {
    config: JobConfig,
    reference: Reference,
}

/// The reference sample of each feature, prepared once.
#[derive(Clone, Debug, Default)]
struct Reference {
    rows: u64,
    numeric: Vec<NumericDrift>,
    categorical: Vec<CategoricalDrift>,
}

/// A figure's name and its value, or why the window leaves it undefined.
type Figure = (String, Result<f64, Undefined>);

impl Job {
    /// Reads the reference window of `config`, when it has features, and prepares the drift
    /// evaluators. The reference is read this once: predictions tracked into it later do not
    /// change the figures of this `Job`.
    ///
    /// Returns `Error::InvalidInput` when the store has no prediction of the job's model, as
    /// when its id is misspelled, or when compaction rolled up part of the reference
    /// window: its raw predictions are gone.
    pub fn prepare(store: &Store, config: JobConfig) -> Result<Job> {
        check_model_known(store, config.model())?;
        let reference = match config.reference() {
            Some(window) if config.has_drift() => {
                check_raw(store, window, "reference window")?;
                Reference::read(store, &config, window)?
            }
            _ => Reference::default(),
        };
        Ok(Job { config, reference })
    }

    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// Returns the number of predictions in the reference window, 0 without features.
    pub fn reference_rows(&self) -> u64 {
        self.reference.rows
    }

    /// Returns the windows of the job's range, in time order.
    pub fn windows(&self) -> Windows {
        self.config.windows()
    }

    /// Runs every window of the range in time order and returns their reports. Stops at the
    /// first error, when the windows before it are already stored. For a range of very many
    /// windows, iterate [`Job::windows`] and call [`Job::run_window`] to keep one report at a
    /// time.
    ///
    /// Windows that start before the raw tier (`Store::raw_tier_start`) are skipped: their
    /// predictions are rolled up, and the figures stored by earlier runs stay.
    pub fn run(&self, store: &Store) -> Result<Vec<WindowReport>> {
        let started = Instant::now();
        let raw_from = store.raw_tier_start()?;
        let reports = self
            .windows()
            .filter(|window| window.start_ms >= raw_from)
            .map(|window| self.run_window(store, window))
            .collect::<Result<Vec<_>>>()?;
        log::info!(
            "job for model {} ran {} windows in {:.3} s",
            self.config.model(),
            reports.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(reports)
    }

    /// Computes the figures of `window`, stores them as aggregate metrics of that window, and
    /// returns the report.
    ///
    /// Returns `Error::InvalidInput` when `window` is not a window of the job's scheme, when
    /// the store has no prediction of the job's model in any window, when compaction rolled up
    /// part of the window, or when a prediction has a score, label or feature of a type the job
    /// cannot read. Nothing is stored for the window then. A window without predictions of a
    /// model that has some elsewhere is stored with `rows` 0.
    pub fn run_window(&self, store: &Store, window: Window) -> Result<WindowReport> {
        self.check_window(window)?;
        check_model_known(store, self.config.model())?;
        check_raw(store, window, "window")?;
        let sample = WindowSample::read(store, &self.config, window, Columns::All)?;
        let (figures, undefined) = split_figures(self.evaluate(&sample)?);
        let report = WindowReport {
            window,
            name: self.config.scheme().window_name(window.start_ms),
            rows: sample.rows,
            labeled: self.config.classification().map(|_| sample.labeled),
            figures,
            undefined,
            missing: sample.missing,
        };
        let metrics = report.to_metrics();
        store.track_aggregate_metrics(
            self.config.model(),
            window.start_ms,
            window.end_ms,
            &metrics,
        )?;
        log::debug!(
            "job for model {} stored window {}: {} rows, {} figures undefined",
            self.config.model(),
            report.name,
            report.rows,
            report.undefined.len()
        );
        Ok(report)
    }

    /// Returns the windows of the range that a run has not stored yet, and, for a job with a
    /// label, those whose stored `labeled` count is below their `rows` count: the windows
    /// worth running again.
    pub fn incomplete_windows(&self, store: &Store) -> Result<Vec<Window>> {
        let range = self.config.range();
        let stored =
            store.read_aggregate_metrics(self.config.model(), range.start_ms, range.end_ms)?;
        let with_label = self.config.classification().is_some();
        let mut incomplete = Vec::new();
        for window in self.windows() {
            // `read_aggregate_metrics` returns one entry per window, ordered by (start, end).
            let found = stored
                .binary_search_by_key(&(window.start_ms, window.end_ms), |a| {
                    (a.start_ms, a.end_ms)
                })
                .ok()
                .and_then(|index| stored.get(index));
            let complete = found.is_some_and(|a| !with_label || is_fully_labeled(a));
            if !complete {
                incomplete.push(window);
            }
        }
        Ok(incomplete)
    }

    fn check_window(&self, window: Window) -> Result<()> {
        if self.config.scheme().is_window(window) {
            return Ok(());
        }
        Err(Error::invalid(
            "window",
            window.to_string(),
            format!(
                "it is not a window of the job's scheme {:?}: pass a window from Job::windows \
                 or WindowScheme::window_containing",
                self.config.scheme()
            ),
        ))
    }

    /// Computes every figure of the configuration, in the order of `figure_names`.
    fn evaluate(&self, sample: &WindowSample) -> Result<Vec<Figure>> {
        let mut figures = Vec::new();
        if let Some(classification) = self.config.classification() {
            let summary =
                BinaryClassification::from_pairs(&sample.pairs, classification.threshold)?;
            for metric in &classification.metrics {
                figures.push((metric.name().to_owned(), metric.value(&summary)));
            }
        }
        let numeric = self.config.numeric_features().iter();
        for ((feature, drift), values) in numeric.zip(&self.reference.numeric).zip(&sample.numeric)
        {
            let result = drift.compare(values);
            for measure in self.config.numeric_measures() {
                figures.push((measure.metric_name(feature), measure.value(&result)));
            }
        }
        let categorical = self.config.categorical_features().iter();
        let references = categorical.zip(&self.reference.categorical);
        for ((feature, drift), values) in references.zip(&sample.categorical) {
            let result = drift.compare(values);
            for measure in self.config.categorical_measures() {
                figures.push((measure.metric_name(feature), measure.value(&result)));
            }
        }
        Ok(figures)
    }
}

impl Reference {
    fn read(store: &Store, config: &JobConfig, window: Window) -> Result<Reference> {
        let started = Instant::now();
        let sample = WindowSample::read(store, config, window, Columns::Features)?;
        let reference = Reference {
            rows: sample.rows,
            numeric: sample
                .numeric
                .iter()
                .map(|v| NumericDrift::new(v))
                .collect(),
            categorical: sample
                .categorical
                .iter()
                .map(CategoricalDrift::new)
                .collect(),
        };
        log::info!(
            "job for model {} prepared the reference {window}: {} predictions in {:.3} s",
            config.model(),
            reference.rows,
            started.elapsed().as_secs_f64()
        );
        Ok(reference)
    }
}

/// Rejects a window that starts before the raw tier: its predictions are rolled up.
fn check_raw(store: &Store, window: Window, what: &'static str) -> Result<()> {
    let raw_from = store.raw_tier_start()?;
    if window.start_ms >= raw_from {
        return Ok(());
    }
    Err(Error::invalid(
        what,
        window.to_string(),
        format!(
            "compaction rolled up the predictions before {raw_from} ms, so the window's raw \
             predictions are gone: compute its figures from Store::read_rollups with \
             modelmetrics::rollup::estimate"
        ),
    ))
}

/// Number of model ids that the error of `check_model_known` lists.
const MODELS_SHOWN: usize = 10;

/// Rejects a model without any prediction in the store, because a job would store figures of
/// empty windows under it without a sign that its id is wrong.
fn check_model_known(store: &Store, model: &str) -> Result<()> {
    let models = store.models()?;
    if models.iter().any(|known| known == model) {
        return Ok(());
    }
    let known = match models.len() {
        0 => "The store has no prediction of any model yet: track predictions first".to_owned(),
        count => {
            let shown: Vec<String> = models
                .iter()
                .take(MODELS_SHOWN)
                .map(|m| format!("{m:?}"))
                .collect();
            let more = match count.saturating_sub(MODELS_SHOWN) {
                0 => String::new(),
                rest => format!(" and {rest} more"),
            };
            format!(
                "The store has predictions of {}{more}: check the model id of the JobConfig",
                shown.join(", ")
            )
        }
    };
    Err(Error::invalid(
        "model",
        format!("{model:?}"),
        format!("the store has no prediction of this model. {known}"),
    ))
}

fn split_figures(figures: Vec<Figure>) -> (Vec<(String, f64)>, Vec<UndefinedFigure>) {
    let mut defined = Vec::new();
    let mut undefined = Vec::new();
    for (name, value) in figures {
        match value {
            Ok(value) => defined.push((name, value)),
            Err(reason) => undefined.push(UndefinedFigure { name, reason }),
        }
    }
    (defined, undefined)
}

fn is_fully_labeled(aggregate: &Aggregate) -> bool {
    let count = |name| aggregate.metrics.get(name).and_then(Value::as_i64);
    match (count(ROWS_METRIC), count(LABELED_METRIC)) {
        (Some(rows), Some(labeled)) => labeled >= rows,
        _ => false,
    }
}
