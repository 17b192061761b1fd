//! Monitoring jobs: figures of a model computed per window over the store and stored back as
//! aggregate metrics.
//!
//! A [`JobConfig`] names the model, the score and label metrics, and the features to compare
//! with a reference window. It also names a [`WindowScheme`] (calendar months, ISO weeks, days,
//! or a fixed length from an origin, all in UTC) and the range to run over.
//!
//! [`Job::prepare`] reads the reference window once. [`Job::run`] then reads each window of the
//! range with `read_metrics`, one prediction at a time, so memory grows with one window and not
//! with the history. It computes the figures with the evaluators of [`crate::eval`] and stores
//! them with `track_aggregate_metrics`.
//!
//! # What a run stores
//!
//! For each window, one aggregate record under the window's exact bounds:
//!
//! - `rows`, the predictions in the window, and `labeled`, those with the label (jobs with a
//!   label only), as i64;
//! - each defined figure as f64, under the names of [`JobConfig::figure_names`]: `roc_auc`,
//!   `accuracy`, `ks:FEATURE`, `jensen_shannon:FEATURE` and so on;
//! - `undefined`, a string with one `NAME: REASON` line per figure the window leaves
//!   undefined (empty when there is none). Such a figure is not stored.
//!
//! Classification figures use the predictions that have the label and a finite score.
//! Drift figures use every prediction of the window that has the feature.
//!
//! # Running again
//!
//! A window can be run any number of times, for example after more labels arrived:
//! `read_aggregate_metrics` returns the latest value of each metric of a window, so the later
//! run replaces the earlier one. [`WindowReport::unlabeled`] and [`Job::incomplete_windows`]
//! show which windows still wait for labels.
//!
//! NOTE: the store cannot delete an aggregate metric. A figure stored by one run and left
//! undefined by a later run of the same window still reads back with the earlier value, and
//! so does a figure that a changed configuration no longer computes. The `undefined` metric is
//! stored on every run, so a reader can tell: see [`parse_undefined`].
//!
//! [`JobConfig`]: crate::jobs::JobConfig
//! [`JobConfig::figure_names`]: crate::jobs::JobConfig::figure_names
//! [`WindowScheme`]: crate::jobs::WindowScheme
//! [`Job::prepare`]: crate::jobs::Job::prepare
//! [`Job::run`]: crate::jobs::Job::run
//! [`Job::incomplete_windows`]: crate::jobs::Job::incomplete_windows
//! [`WindowReport::unlabeled`]: crate::jobs::WindowReport::unlabeled
//! [`parse_undefined`]: crate::jobs::parse_undefined
//!
//! # Example
//!
//! ```
//! use modelmetrics::jobs::{Job, JobConfig, WindowScheme};
//! use modelmetrics::{Metrics, Store, Uuid};
//!
//! # fn main() -> modelmetrics::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path())?;
//! let day_ms = 86_400_000;
//! let tracked = [(0, 0.9, true), (1, 0.2, false), (40, 0.7, true), (41, 0.6, false)];
//! for (day, score, label) in tracked {
//!     let uuid = Uuid::new_v4();
//!     let inline = Metrics::new().with("score", score).with("region", "north");
//!     store.track_metrics("credit", uuid, day * day_ms, &inline)?;
//!     store.track_delayed_metrics(uuid, day * day_ms, &Metrics::new().with("label", label))?;
//! }
//!
//! let config = JobConfig::builder("credit")
//!     .score("score")
//!     .label("label")
//!     .categorical_features(["region"])
//!     .reference(0, 31 * day_ms)
//!     .windows(WindowScheme::Months)
//!     .range(0, 59 * day_ms)
//!     .build()?;
//! let job = Job::prepare(&store, config)?;
//! let reports = job.run(&store)?;
//! assert_eq!(reports.len(), 2);
//! assert_eq!(reports[1].name, "1970-02");
//! assert_eq!(reports[1].figure("roc_auc"), Some(1.0));
//! assert_eq!(reports[1].figure("jensen_shannon:region"), Some(0.0));
//! # Ok(())
//! # }
//! ```

// The links above name full paths because rustdoc joins this documentation to the summary
// line on `pub mod jobs` in lib.rs and then resolves the links from the crate root.

pub mod calendar;
mod config;
mod measures;
mod report;
mod runner;
mod sample;
mod window;

pub use config::{Classification, DEFAULT_THRESHOLD, JobConfig, JobConfigBuilder};
pub use measures::{
    CategoricalMeasure, ClassificationMetric, DEFAULT_CATEGORICAL_MEASURES,
    DEFAULT_CLASSIFICATION_METRICS, DEFAULT_NUMERIC_MEASURES, NumericMeasure,
};
pub use report::{
    LABELED_METRIC, ROWS_METRIC, UNDEFINED_METRIC, UndefinedFigure, WindowReport, parse_undefined,
};
pub use runner::Job;
pub use window::{Window, WindowScheme, Windows};
