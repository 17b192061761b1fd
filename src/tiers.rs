//! Reads across the raw tier and the rollup tiers.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::query::{ReadMetrics, Snapshot};
use crate::rollup::{self, Rollup};

/// A window read across tiers: raw predictions where the store keeps them, rollups before.
///
/// Every prediction of the window is counted once: in `raw` when its timestamp is at or after
/// `raw_from_ms`, otherwise in one of `rollups`. Rollups cover whole intervals, so the first
/// and the last may include predictions just outside the window. Rollups of different tiers
/// may overlap in time but never share a prediction.
pub struct TieredWindow {
    /// Start of the raw tier: predictions older than this are rolled up. `i64::MIN` when
    /// nothing was rolled up.
    pub raw_from_ms: i64,
    /// The rollups of the window's part before `raw_from_ms`, ordered by (start, interval).
    pub rollups: Vec<Rollup>,
    /// The raw predictions of the window's part from `raw_from_ms` on.
    pub raw: ReadMetrics,
}

/// Returns the stored rollups of `model` that overlap `[start_ms, end_ms)`, merging those of
/// the same interval, ordered by (start, interval).
pub(crate) fn read_rollups(
    snapshot: &Snapshot,
    model: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Rollup>> {
    let mut by_key: BTreeMap<(i64, i64), Rollup> = BTreeMap::new();
    if snapshot.deletions.hides_rollups_of(model) {
        return Ok(Vec::new());
    }
    for file in snapshot.rollups.iter() {
        for rollup in file.read(model, start_ms, end_ms)? {
            match by_key.get_mut(&(rollup.start_ms, rollup.interval_ms)) {
                Some(existing) => existing.merge(&rollup)?,
                None => {
                    by_key.insert((rollup.start_ms, rollup.interval_ms), rollup);
                }
            }
        }
    }
    Ok(by_key.into_values().collect())
}

/// Reads a window across tiers. Raw predictions older than the raw tier's start that no
/// compaction has rolled up yet, such as late arrivals, are rolled up here at
/// `interval_ms`, so that the split between `raw` and `rollups` is exact.
pub(crate) fn read_tiered(
    snapshot: Snapshot,
    model: &str,
    (start_ms, end_ms): (i64, i64),
    interval_ms: i64,
) -> Result<TieredWindow> {
    let raw_from_ms = snapshot.raw_cutoff_ms;
    let split = raw_from_ms.clamp(start_ms, end_ms);
    let mut rollups = read_rollups(&snapshot, model, start_ms, split)?;
    if start_ms < split {
        let leftovers = ReadMetrics::new(snapshot.clone(), model, start_ms, split);
        let mut leftovers = leftovers.collect::<Result<Vec<_>>>()?;
        // NOTE: a prediction within one interval of i64::MIN or i64::MAX fits in no rollup, so
        // compaction keeps it raw and this read leaves it out. `read_metrics` returns it.
        leftovers.retain(|p| rollup::interval_fits(p.timestamp_ms, interval_ms));
        if !leftovers.is_empty() {
            let mut by_key: BTreeMap<(i64, i64), Rollup> = rollups
                .into_iter()
                .map(|r| ((r.start_ms, r.interval_ms), r))
                .collect();
            for extra in rollup::roll_up(leftovers, interval_ms, rollup::DEFAULT_ALPHA)? {
                match by_key.get_mut(&(extra.start_ms, extra.interval_ms)) {
                    Some(stored) => stored.merge(&extra)?,
                    None => {
                        by_key.insert((extra.start_ms, extra.interval_ms), extra);
                    }
                }
            }
            rollups = by_key.into_values().collect();
        }
    }
    let raw = ReadMetrics::new(snapshot, model, split, end_ms);
    Ok(TieredWindow {
        raw_from_ms,
        rollups,
        raw,
    })
}
