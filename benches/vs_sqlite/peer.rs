//! The operations that the bench runs on each store, so that one driver runs both.

use std::time::Duration;

use crate::car_loan::CarLoan;
use crate::measure::{BenchResult, Scored};
use crate::workload::{Label, Row, Window};

/// Durability setting of a store: the default mode of each store, or durable against a power
/// loss before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// modelmetrics `Durability::Interval(100 ms)`, SQLite `synchronous=NORMAL` in WAL mode.
    Default,
    /// modelmetrics `Durability::Sync`, SQLite `synchronous=FULL` in WAL mode.
    Durable,
}

pub trait Peer {
    /// Tracks `rows` in batches of `BATCH_LEN` and returns the wall time of all batches.
    fn ingest(&mut self, rows: &[Row]) -> BenchResult<Duration>;

    /// Tracks `labels` as delayed metric `label` in batches of `BATCH_LEN` and returns the wall
    /// time of all batches.
    fn track_labels(&mut self, labels: &[Label]) -> BenchResult<Duration>;

    /// Makes what was tracked readable from the store's on-disk form.
    fn flush(&mut self) -> BenchResult<()>;

    /// Reads every prediction of `[start_ms, end_ms)` with its label joined, in timestamp
    /// order.
    fn read_window(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>>;

    /// Reads what `read_window` reads through the store's visitor over borrowed rows, for a
    /// store that has one: every metric of each row is looked at, and the score and label
    /// kept. A store without a visitor reads as `read_window` does.
    fn read_visited(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        self.read_window(start_ms, end_ms)
    }

    /// Reads what `read_scores` reads through the store's visitor over borrowed rows, for a
    /// store that has one, asking for the score and label only. A store without a visitor
    /// reads as `read_scores` does.
    fn read_selected(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        self.read_scores(start_ms, end_ms)
    }

    /// Reads the UUID, timestamp, score and label of every prediction of `[start_ms, end_ms)`
    /// in timestamp order, and no other metric: what a job that computes ROC AUC needs.
    fn read_scores(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>>;

    /// Tracks the aggregate metrics of each window, then flushes.
    fn track_aggregates(&mut self, windows: &[Window]) -> BenchResult<()>;

    /// Reads the aggregate metrics of windows overlapping `[start_ms, end_ms)` and returns
    /// the number of metrics read.
    fn read_aggregates(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<usize>;

    /// Tracks each row by one single-prediction call and returns the latency of each call.
    fn single_calls(&mut self, rows: &[Row]) -> BenchResult<Vec<Duration>>;

    /// Tracks single predictions from `threads` threads for `duration`, in durable mode, and
    /// returns the number of calls that completed. Thread `t` draws rows with seed
    /// `seed + t`, timestamps from `start_ms`.
    fn calls_from_threads(
        &mut self,
        threads: usize,
        duration: Duration,
        seed: u64,
        start_ms: i64,
    ) -> BenchResult<u64>;

    /// Closes the store, returns its bytes on disk, and opens it again in `mode`.
    fn reopen(&mut self, mode: Mode) -> BenchResult<u64>;

    /// Closes the store and returns its bytes on disk.
    fn close(&mut self) -> BenchResult<u64>;
}

/// Tracks the car-loan predictions, then their labels as delayed metric `repaid`, both in
/// batches of `BATCH_LEN`, into a new store in `dir`, and returns its bytes on disk after
/// closing.
pub type TrackCarLoan = fn(&std::path::Path, &CarLoan) -> BenchResult<u64>;
