//! The rollup files a compaction step changes: the rollups and rolled-up filter that a roll-up
//! adds, and the rewrites of every rollup file that coarsening, expiry and model deletions make.

use std::sync::Arc;

use super::Inner;
use super::compact::Written;
use super::purge::Purge;
use crate::compaction::plan;
use crate::compaction::rewrite::Drop;
use crate::compaction::rolled_up::RollupBuilder;
use crate::error::Result;
use crate::rollup::{self, RolledUpFilter, Rollup, RollupFile};

/// Writes the rollup files that a step on segments changes: the new rollups of a roll-up, and
/// rewrites without the rollups that an expiry or a model deletion removes.
pub(super) fn change(
    inner: &Inner,
    drop: Drop,
    purge: Option<&Purge>,
    rolled_up: Option<RollupBuilder>,
    written: &mut Written,
) -> Result<RollupChange> {
    match drop {
        Drop::Nothing => match purge.filter(|p| !p.models.is_empty()) {
            // Filters keep the UUIDs of the deleted model's predictions: a bloom filter
            // cannot drop entries, and its bits reveal no UUID.
            Some(purge) => rewrite(inner, written, keep_all, |rollups| {
                let kept = rollups
                    .into_iter()
                    .filter(|r| !purge.models.contains(&r.model));
                Ok(kept.collect())
            }),
            None => Ok(RollupChange::default()),
        },
        Drop::RolledUp { .. } => match rolled_up {
            Some(builder) => add(inner, builder, written),
            None => Ok(RollupChange::default()),
        },
        Drop::Expired { before_ms } => expire(inner, before_ms, written),
    }
}

/// Rollup files a step adds and replaces.
#[derive(Default)]
pub(super) struct RollupChange {
    pub(super) added: Option<RollupFile>,
    pub(super) replaced: Vec<u64>,
}

/// Writes the rollups and filters of a roll-up step into a new rollup file.
fn add(inner: &Inner, builder: RollupBuilder, written: &mut Written) -> Result<RollupChange> {
    if inner.options.compaction.retention.tiers.is_empty() {
        return Ok(RollupChange::default());
    }
    let (rollups, filters) = builder.finish();
    if rollups.is_empty() {
        return Ok(RollupChange::default());
    }
    Ok(RollupChange {
        added: Some(write(inner, &rollups, &filters, written)?),
        replaced: Vec::new(),
    })
}

fn keep_all(_: &RolledUpFilter) -> bool {
    true
}

/// Rewrites every rollup file, merging the rollups of `tier` that end by `before_ms` into the
/// next tier's intervals.
pub(super) fn coarsen(
    inner: &Inner,
    tier: usize,
    before_ms: i64,
    written: &mut Written,
) -> Result<RollupChange> {
    let tiers = &inner.options.compaction.retention.tiers;
    let (Some(from), Some(to)) = (tiers.get(tier), tiers.get(tier + 1)) else {
        return Ok(RollupChange::default());
    };
    let (from, to) = (plan::millis(from.interval), plan::millis(to.interval));
    rewrite(inner, written, keep_all, |rollups| {
        let (old, kept): (Vec<Rollup>, Vec<Rollup>) = rollups
            .into_iter()
            .partition(|r| r.interval_ms == from && r.end_ms() <= before_ms);
        let mut out = rollup::coarsen(&old, to)?;
        out.extend(kept);
        Ok(out)
    })
}

/// Rewrites the rollup files without the rollups that start before `before_ms` and the filters
/// whose predictions all lie before it, when some do.
fn expire(inner: &Inner, before_ms: i64, written: &mut Written) -> Result<RollupChange> {
    let keep = |filter: &RolledUpFilter| filter.newest_ms() >= before_ms;
    rewrite(inner, written, keep, |rollups| {
        Ok(rollups
            .into_iter()
            .filter(|r| r.start_ms >= before_ms)
            .collect())
    })
}

/// Reads every live rollup and rolled-up filter, applies `change` and `keep_filter`, and writes
/// the result as one file that replaces them all. Rollups of the same model, interval and start
/// are merged into one.
fn rewrite(
    inner: &Inner,
    written: &mut Written,
    keep_filter: impl Fn(&RolledUpFilter) -> bool,
    change: impl FnOnce(Vec<Rollup>) -> Result<Vec<Rollup>>,
) -> Result<RollupChange> {
    let files = Arc::clone(&inner.state.read().rollups);
    if files.is_empty() {
        return Ok(RollupChange::default());
    }
    let mut all = Vec::new();
    let mut filters = Vec::new();
    for file in files.iter() {
        all.extend(file.all()?);
        filters.extend(file.filters()?.iter().cloned());
    }
    let (before, filters_before) = (all.len(), filters.len());
    let changed = merge_duplicates(change(all)?)?;
    filters.retain(|f| keep_filter(f));
    let replaced: Vec<u64> = files.iter().map(|f| f.id()).collect();
    let unchanged = changed.len() == before && filters.len() == filters_before;
    if unchanged && files.len() == 1 {
        return Ok(RollupChange::default());
    }
    let added = if changed.is_empty() && filters.is_empty() {
        None
    } else {
        Some(write(inner, &changed, &filters, written)?)
    };
    Ok(RollupChange { added, replaced })
}

/// Merges rollups that share model, interval and start.
fn merge_duplicates(rollups: Vec<Rollup>) -> Result<Vec<Rollup>> {
    let mut by_key: std::collections::BTreeMap<(String, i64, i64), Rollup> = Default::default();
    for rollup in rollups {
        let key = (rollup.model.clone(), rollup.interval_ms, rollup.start_ms);
        match by_key.get_mut(&key) {
            Some(existing) => existing.merge(&rollup)?,
            None => {
                by_key.insert(key, rollup);
            }
        }
    }
    Ok(by_key.into_values().collect())
}

fn write(
    inner: &Inner,
    rollups: &[Rollup],
    filters: &[RolledUpFilter],
    written: &mut Written,
) -> Result<RollupFile> {
    let id = inner.allocate_file_ids(1);
    written.ids.push(id);
    RollupFile::write_with(&*inner.io, &inner.dir, id, rollups, filters)
}
