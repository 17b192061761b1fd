//! `--downsample-reference`: a retention policy that replaces the reference months by
//! rollups, the compaction that applies it, and the figures of those months estimated from
//! their rollups.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use modelmetrics::eval::Undefined;
use modelmetrics::jobs::JobConfig;
use modelmetrics::jobs::calendar::Date;
use modelmetrics::rollup::{self, Estimate, NumericSummary, Rollup, estimate};
use modelmetrics::{Compaction, Options, Retention, RollupTier, Store};

use crate::drift::MonthRow;
use crate::ingest::MODEL;
use crate::job::{
    LABEL_METRIC, NUMERIC_FEATURES, REFERENCE_END_MS, REFERENCE_START_MS, SCORE_METRIC, THRESHOLD,
};

/// Label value of the positive class. A rollup keeps the i64 label 1 of `repaid` as "1".
const POSITIVE_LABEL: &str = "1";

/// Returns the start of the month after the reference period. Compaction rolls up the
/// predictions before it, so every month it touches is rolled up whole.
pub fn raw_cutoff_ms() -> Result<i64, String> {
    Date::containing(REFERENCE_END_MS - 1)
        .first_of_next_month()
        .and_then(Date::start_ms)
        .ok_or_else(|| "the month after the reference period is out of range".to_owned())
}

/// Returns store options whose retention keeps predictions from `raw_cutoff_ms()` on raw and
/// rolls up older ones at `interval`, with `newest_ms` the newest prediction timestamp.
///
/// Retention ages count back from the newest prediction in the segments, so the raw age is
/// the distance from the cutoff to `newest_ms`. The background compaction is off: the
/// program compacts once, after the ground truth has arrived and the job has run, because
/// ground truth that arrives after its prediction was rolled up stays an orphan.
pub fn options(newest_ms: i64, interval: Duration) -> Result<Options, String> {
    let cutoff_ms = raw_cutoff_ms()?;
    let raw_for_ms = u64::try_from(newest_ms.saturating_sub(cutoff_ms))
        .ok()
        .filter(|&ms| ms > 0)
        .ok_or_else(|| {
            format!(
                "the newest prediction ({}) is not after {}, so no month after the reference \
                 period stays raw: pass data that runs past the reference period",
                modelmetrics::jobs::calendar::format_timestamp(newest_ms),
                modelmetrics::jobs::calendar::format_timestamp(cutoff_ms)
            )
        })?;
    let retention = Retention::keep_raw_for(Duration::from_millis(raw_for_ms))
        .then(RollupTier::every(interval));
    let compaction = Compaction {
        enabled: false,
        retention,
        ..Compaction::default()
    };
    Ok(Options::default().compaction(compaction))
}

/// The outcome of `--downsample-reference`: the compaction's steps and store sizes, and the
/// figures estimated from the rollups.
#[derive(Clone, Debug, PartialEq)]
pub struct Downsampled {
    pub interval: Duration,
    /// Predictions before this timestamp were rolled up.
    pub raw_cutoff_ms: i64,
    pub compaction_steps: u32,
    pub compaction_seconds: f64,
    /// Total bytes of the files of the store directory after a flush, before and after
    /// compaction.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub months: Vec<MonthEstimates>,
}

/// The figures of one rolled-up month.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthEstimates {
    /// The month as `YYYY-MM`.
    pub name: String,
    pub rollups: usize,
    /// Predictions that the rollups count.
    pub predictions: u64,
    pub figures: Vec<FigureEstimate>,
}

/// One figure computed from rollups next to the figure the job computed on the predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct FigureEstimate {
    /// The job's metric name, such as `roc_auc` or `ks:car_value`.
    pub name: String,
    /// The job's figure before compaction, `None` where it left the figure undefined.
    pub exact: Option<f64>,
    pub estimate: Result<Estimate, Undefined>,
}

impl FigureEstimate {
    /// Returns whether the exact figure lies within the estimate's bound, `None` when either
    /// is undefined.
    pub fn within_bound(&self) -> Option<bool> {
        let estimate = self.estimate.as_ref().ok()?;
        Some(estimate.contains(self.exact?))
    }
}

impl Downsampled {
    /// Returns how many figures have both an exact figure and an estimate, and how many of
    /// those exact figures lie within their bound.
    pub fn within_bound(&self) -> (usize, usize) {
        let checked: Vec<bool> = self
            .months
            .iter()
            .flat_map(|month| &month.figures)
            .filter_map(FigureEstimate::within_bound)
            .collect();
        let within = checked.iter().filter(|&&within| within).count();
        (checked.len(), within)
    }
}

/// Flushes the store, compacts it under its retention policy and estimates the figures of
/// every month of `config` that ends by the raw cutoff. `rows` are the job's figures read
/// before compaction. Measures the store directory `dir` before and after compaction.
pub fn compact_and_estimate(
    store: &Store,
    dir: &Path,
    interval: Duration,
    config: &JobConfig,
    rows: &[MonthRow],
) -> Result<Downsampled, Box<dyn Error>> {
    let raw_cutoff_ms = raw_cutoff_ms()?;
    store.flush()?;
    let bytes_before = crate::dir_size(dir)?;
    let started = Instant::now();
    let compaction_steps = store.compact()?;
    store.flush()?;
    let compaction_seconds = started.elapsed().as_secs_f64();
    let bytes_after = crate::dir_size(dir)?;

    let reference = store.read_rollups(MODEL, REFERENCE_START_MS, REFERENCE_END_MS)?;
    let reference = rollup::merge_all(&reference)?;
    let scheme = config.scheme();
    let mut months = Vec::new();
    for window in config.windows().filter(|w| w.end_ms <= raw_cutoff_ms) {
        let name = scheme.window_name(window.start_ms);
        let exact = rows.iter().find(|row| row.name == name);
        let rollups = store.read_rollups(MODEL, window.start_ms, window.end_ms)?;
        months.push(estimate_month(name, &rollups, reference.as_ref(), exact)?);
    }
    Ok(Downsampled {
        interval,
        raw_cutoff_ms,
        compaction_steps,
        compaction_seconds,
        bytes_before,
        bytes_after,
        months,
    })
}

/// Estimates ROC AUC, accuracy and the KS statistic of each numeric feature of one month
/// from its rollups, against the merged rollups of the reference period.
fn estimate_month(
    name: String,
    rollups: &[Rollup],
    reference: Option<&Rollup>,
    exact: Option<&MonthRow>,
) -> modelmetrics::Result<MonthEstimates> {
    let month = rollup::merge_all(rollups)?;
    let month = month.as_slice();
    let exact_drift = |figure: &str| {
        let row = exact?;
        let (_, value) = row.drift.iter().find(|(name, _)| name == figure)?;
        *value
    };
    let mut figures = vec![
        FigureEstimate {
            name: "roc_auc".to_owned(),
            exact: exact.and_then(|row| row.roc_auc),
            estimate: estimate::roc_auc(month, SCORE_METRIC, LABEL_METRIC, POSITIVE_LABEL)?,
        },
        FigureEstimate {
            name: "accuracy".to_owned(),
            exact: exact.and_then(|row| row.accuracy),
            estimate: estimate::accuracy(
                month,
                SCORE_METRIC,
                LABEL_METRIC,
                POSITIVE_LABEL,
                THRESHOLD,
            )?,
        },
    ];
    for feature in NUMERIC_FEATURES {
        let figure = format!("ks:{feature}");
        figures.push(FigureEstimate {
            exact: exact_drift(&figure),
            estimate: ks_statistic(reference, month.first(), feature)?,
            name: figure,
        });
    }
    Ok(MonthEstimates {
        name,
        rollups: rollups.len(),
        predictions: month.first().map_or(0, |merged| merged.predictions),
        figures,
    })
}

/// Estimates the KS statistic of inline metric `feature` between two merged rollups.
fn ks_statistic(
    reference: Option<&Rollup>,
    current: Option<&Rollup>,
    feature: &str,
) -> modelmetrics::Result<Result<Estimate, Undefined>> {
    let summary = |rollup: Option<&Rollup>| -> Option<NumericSummary> {
        rollup?.metrics.get(feature)?.numeric.clone()
    };
    let Some(reference) = summary(reference) else {
        return Ok(Err(Undefined::EmptyReference));
    };
    let Some(current) = summary(current) else {
        return Ok(Err(Undefined::EmptyWindow));
    };
    estimate::ks_statistic(&reference, &current)
}

#[cfg(test)]
mod tests {
    use modelmetrics::Prediction;
    use modelmetrics::{Metrics, Uuid};

    use super::*;

    #[test]
    fn raw_cutoff_is_month_after_reference() {
        let november = Date::new(2018, 11, 1).and_then(Date::start_ms);
        assert_eq!(raw_cutoff_ms(), Ok(november.unwrap()));
    }

    #[test]
    fn options_keep_raw_from_cutoff() {
        let cutoff = raw_cutoff_ms().unwrap();
        let options = options(cutoff + 5_000, Duration::from_secs(3_600)).unwrap();
        let compaction = &options.compaction;
        assert!(!compaction.enabled);
        assert_eq!(
            compaction.retention.raw_for,
            Some(Duration::from_millis(5_000))
        );
        assert_eq!(compaction.retention.tiers.len(), 1);
    }

    #[test]
    fn options_reject_data_ending_at_cutoff() {
        let cutoff = raw_cutoff_ms().unwrap();
        assert!(options(cutoff, Duration::from_secs(3_600)).is_err());
    }

    fn prediction(timestamp_ms: i64, score: f64, repaid: i64, car_value: f64) -> Prediction {
        Prediction {
            model: MODEL.to_owned(),
            uuid: Uuid::new_v4(),
            timestamp_ms,
            metrics: Metrics::new()
                .with(SCORE_METRIC, score)
                .with("car_value", car_value),
            delayed: Metrics::new().with(LABEL_METRIC, repaid),
        }
    }

    #[test]
    fn estimates_contain_exact_figures() {
        let hour = 3_600_000;
        let predictions: Vec<Prediction> = (0..200)
            .map(|i| {
                let repaid = i64::from(i % 3 != 0);
                let score = if repaid == 1 { 0.6 } else { 0.3 } + f64::from(i % 7) / 100.0;
                prediction(
                    REFERENCE_START_MS + i64::from(i) * hour,
                    score,
                    repaid,
                    f64::from(i),
                )
            })
            .collect();
        let rollups = rollup::roll_up(predictions, hour, rollup::DEFAULT_ALPHA).unwrap();
        let reference = rollup::merge_all(&rollups).unwrap();
        let month = estimate_month("2018-01".to_owned(), &rollups, reference.as_ref(), None);
        let month = month.unwrap();
        assert_eq!(month.rollups, 200);
        assert_eq!(month.predictions, 200);
        let roc_auc = month.figures[0].estimate.unwrap();
        assert!(roc_auc.contains(1.0), "{roc_auc:?}");
        let ks = month.figures[2].estimate.unwrap();
        assert!(ks.contains(0.0), "{ks:?}");
        assert_eq!(month.figures[3].estimate, Err(Undefined::EmptyReference));
        assert_eq!(month.figures[2].within_bound(), None, "no exact figure");
    }
}
