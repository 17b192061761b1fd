#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod batch;
pub mod error;
/// Evaluators over slices: classification and regression metrics, and drift tests.
pub mod eval;
/// Monitoring jobs: figures per window (months, ISO weeks, days) stored as aggregate metrics.
pub mod jobs;
pub mod options;
pub mod record;
/// Rollups: mergeable summaries of the predictions of one model per interval, and figures
/// computed from them with error bounds.
pub mod rollup;
pub mod value;

// The engine's layers are public so that the `dump` example and the fuzz targets can read
// store files directly. Applications use `Store`; these modules may change between versions.
pub mod codec;
pub mod index;
pub mod manifest;
pub mod segment;
pub mod wal;

mod columns;
mod compaction;
mod deletions;
mod head;
mod io;
mod query;
mod rows;
mod segment_set;
mod store;
mod tiers;

pub use batch::{MetricColumn, NewDelayedColumns, NewPredictionColumns};
pub use columns::{Column, ColumnValues, Columns};
pub use error::{Error, Result};
pub use options::{Compaction, Durability, Options, Retention, RollupTier};
pub use query::ReadMetrics;
pub use record::{Aggregate, NewAggregate, NewDelayed, NewPrediction, OrphanedDelayed, Prediction};
pub use rows::{MetricsRef, PredictionRef, ScanControl, ValueRef};
pub use store::{ReadOnlyStore, Store};
pub use tiers::TieredWindow;
pub use uuid::Uuid;
pub use value::{Metric, Metrics, Value};
