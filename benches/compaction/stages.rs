//! The staged runs: one `Store::compact` call per kind of step, each timed alone.

use super::*;

/// Records read and written by one `Store::compact` call that ran one kind of step.
#[derive(Clone, Copy)]
pub(crate) struct StepRun {
    pub(crate) seconds: f64,
    pub(crate) read: u64,
    pub(crate) written: u64,
    pub(crate) steps: u32,
}

impl StepRun {
    pub(crate) fn read_per_second(&self) -> f64 {
        self.read as f64 / self.seconds
    }

    pub(crate) fn written_per_second(&self) -> f64 {
        self.written as f64 / self.seconds
    }
}

/// Figures of the step kinds run one at a time on a copy of the built store, with no writer.
pub(crate) struct Staged {
    pub(crate) merge: StepRun,
    pub(crate) roll_up: StepRun,
    pub(crate) coarsen: StepRun,
    pub(crate) merged: DiskBytes,
    /// Predictions that the rollups summarise, after the roll-up.
    pub(crate) rolled_up: u64,
    pub(crate) rolled_up_bytes: DiskBytes,
    pub(crate) coarsened: DiskBytes,
}

pub(crate) fn timed_compact(dir: &Path, options: Options) -> (Store, f64, u32) {
    let store = Store::open_with(dir, options).expect("open the store");
    let started = Instant::now();
    let steps = store.compact().expect("compact");
    (store, started.elapsed().as_secs_f64(), steps)
}

pub(crate) fn rollups(store: &Store) -> Vec<Rollup> {
    store
        .read_rollups(MODEL, i64::MIN, i64::MAX)
        .expect("read the rollups")
}

pub(crate) fn staged(dir: &Path, predictions: u64) -> Staged {
    let merge = stage_merge(dir, predictions);
    let merged = DiskBytes::of(dir);
    let (roll_up, rolled_up) = stage_roll_up(dir);
    let rolled_up_bytes = DiskBytes::of(dir);
    let coarsen = stage_coarsen(dir);
    Staged {
        merge,
        roll_up,
        coarsen,
        merged,
        rolled_up,
        rolled_up_bytes,
        coarsened: DiskBytes::of(dir),
    }
}

/// Merges only: every segment is small, and no retention is set.
pub(crate) fn stage_merge(dir: &Path, predictions: u64) -> StepRun {
    let (store, seconds, steps) = timed_compact(dir, options(Retention::default(), 64 << 20));
    let rows = store.read_metrics(MODEL, i64::MIN, i64::MAX);
    let read_back = rows.expect("read the predictions").count() as u64;
    assert_eq!(read_back, predictions, "a merge lost or added predictions");
    store.close().expect("close the store");
    StepRun {
        seconds,
        read: predictions,
        written: read_back,
        steps,
    }
}

/// Rolls up only, at the first tier kept for ever, with no merge. Returns the step's figures
/// and the predictions rolled up.
pub(crate) fn stage_roll_up(dir: &Path) -> (StepRun, u64) {
    let first_tier = Retention::keep_raw_for(2 * DAY).then(RollupTier::every(FIVE_MINUTES));
    let (store, seconds, steps) = timed_compact(dir, options(first_tier, 0));
    let fine = rollups(&store);
    let rolled_up: u64 = fine.iter().map(|r| r.predictions).sum();
    store.close().expect("close the store");
    let step = StepRun {
        seconds,
        read: rolled_up,
        written: fine.len() as u64,
        steps,
    };
    (step, rolled_up)
}

/// Coarsens only: the 5-minute rollups older than 4 days become hourly ones. The step reads
/// and rewrites every rollup.
pub(crate) fn stage_coarsen(dir: &Path) -> StepRun {
    let store = Store::open_with(dir, options(full_policy(), 0)).expect("open the store");
    let before = rollups(&store).len() as u64;
    store.close().expect("close the store");
    let (store, seconds, steps) = timed_compact(dir, options(full_policy(), 0));
    let after = rollups(&store);
    let hourly = after
        .iter()
        .filter(|r| r.interval_ms == HOUR.as_millis() as i64);
    assert!(hourly.count() > 0, "no rollup was coarsened");
    store.close().expect("close the store");
    StepRun {
        seconds,
        read: before,
        written: after.len() as u64,
        steps,
    }
}
