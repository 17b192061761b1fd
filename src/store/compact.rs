//! Running compaction steps against the store: write the replacement segments, rewrite the
//! index runs that point into the replaced ones, and switch the manifest.
//!
//! The steps that make a compaction visible run in this order:
//!
//! 1. the new segments and a run of their index entries per group are written and synced, one
//!    group at a time (src/store/compact_groups.rs), with no lock held, from a snapshot of the
//!    segments;
//! 2. holding `index_lock` (index merges are put off meanwhile), each run that
//!    points into replaced segments is rewritten without their entries. A run that points into
//!    no other segment is dropped instead. The runs of the new segments are listed beside them;
//! 3. holding `flush_lock` for a moment, a new manifest replaces the segments and runs and is
//!    switched atomically; the store's state follows.
//!
//! A crash before step 3 leaves files that no manifest lists, which the next open deletes.
//! Replaced segments are removed when the last reader drops them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::compact_groups::{Replacement, Rewritten, StepKind, rewrite_groups};
use super::flush::{install_manifest, remove_unlisted};
use super::rollup_change::{self as rollups, RollupChange};
use super::{Inner, purge};
use crate::compaction::plan::{self, SegmentInfo, Step, Watermarks};
use crate::compaction::rewrite::Drop;
use crate::deletions::Deletions;
use crate::error::Result;
use crate::index::{self, IndexRun};
use crate::manifest::CompactionRecord;
use crate::manifest::Deletion;
use crate::rollup::{self, RollupFile};
use crate::segment::Segment;
use crate::segment_set::SegmentSet;
use purge::Purge;

/// Upper bound on steps per call, so that a policy that keeps planning work cannot spin.
const MAX_STEPS_PER_CALL: u32 = 64;

/// Runs compaction steps until the plan is empty; returns how many ran.
pub(crate) fn compact(inner: &Inner) -> Result<u32> {
    let mut unproductive = inner.compaction_lock.lock();
    // `close` takes the lock after setting `closed`, to wait for a compaction in progress.
    if inner.closed.load(Ordering::SeqCst) {
        return Err(crate::error::Error::Closed);
    }
    let mut steps = 0;
    if let Some(purge) = purge::plan(inner)? {
        run_step(
            inner,
            Step::Purge {
                groups: purge.groups.clone(),
            },
            Some(&purge),
        )?;
        steps += 1;
    }
    while steps < MAX_STEPS_PER_CALL && !inner.closed.load(Ordering::SeqCst) {
        inner.check_poison()?;
        let Some(step) = next_step(inner, &unproductive) else {
            break;
        };
        // A roll-up while a model deletion waits could roll up records of that model that the
        // deletion's purge would then drop with the model's older rollups.
        let deletions_wait = !inner.state.read().manifest.deletions.is_empty();
        if deletions_wait && !matches!(step, Step::Merge { .. }) {
            break;
        }
        if let Some(group) = run_step(inner, step, None)? {
            unproductive.insert(group);
        }
        steps += 1;
    }
    Ok(steps)
}

fn next_step(inner: &Inner, unproductive: &HashSet<Vec<u64>>) -> Option<Step> {
    let (segments, manifest) = {
        let state = inner.state.read();
        (Arc::clone(&state.segments), state.manifest.clone())
    };
    let infos: Vec<SegmentInfo> = segments.values().map(|s| info(s)).collect();
    let marks = Watermarks {
        raw_cutoff_ms: manifest.raw_cutoff_ms,
        expired_before_ms: manifest.expired_before_ms,
        newest_ms: segments
            .values()
            .filter_map(|s| s.newest_prediction())
            .max(),
        total_bytes: infos.iter().map(|s| s.bytes).sum(),
        tier_cutoffs: manifest.tier_cutoffs.clone(),
    };
    plan::plan(&infos, &marks, &inner.options.compaction, unproductive)
}

fn info(segment: &Segment) -> SegmentInfo {
    SegmentInfo {
        id: segment.id(),
        bytes: segment.file_bytes(),
        time_range: segment.time_range(),
        prediction_range: segment.prediction_time_range(),
    }
}

/// Files a step wrote, removed again when the step fails before its manifest switch.
#[derive(Default)]
pub(super) struct Written {
    pub(super) ids: Vec<u64>,
}

/// Runs one step. Returns the group of a merge that would not lower the segment count, which
/// is left as it was.
fn run_step(inner: &Inner, step: Step, purge: Option<&Purge>) -> Result<Option<Vec<u64>>> {
    let mut written = Written::default();
    let result = run_step_writing(inner, step, purge, &mut written);
    if result.is_err() {
        remove_unlisted(inner, &written.ids);
    }
    result
}

fn run_step_writing(
    inner: &Inner,
    step: Step,
    purge: Option<&Purge>,
    written: &mut Written,
) -> Result<Option<Vec<u64>>> {
    let started = Instant::now();
    let raw_cutoff = inner.state.read().manifest.raw_cutoff_ms;
    let kind = StepKind {
        merging: matches!(step, Step::Merge { .. }),
        // A roll-up below the current cutoff takes late predictions only.
        late: matches!(step, Step::RollUp { before_ms, .. } if before_ms <= raw_cutoff),
    };
    let (groups, drop) = match step {
        Step::Merge { group } => (vec![group], Drop::Nothing),
        Step::Purge { groups } => (groups, Drop::Nothing),
        Step::Expire { before_ms, groups } => (groups, Drop::Expired { before_ms }),
        Step::RollUp { before_ms, groups } => {
            let tiers = &inner.options.compaction.retention.tiers;
            let interval_ms = tiers.first().map_or(1, |t| plan::millis(t.interval).max(1));
            let drop = Drop::RolledUp {
                before_ms,
                interval_ms,
            };
            (groups, drop)
        }
        Step::Coarsen { tier, before_ms } => {
            let change = rollups::coarsen(inner, tier, before_ms, written)?;
            let mut plan = Change::new(Drop::Nothing, change);
            plan.tier_cutoff = Some((tier, before_ms));
            install(inner, plan, written)?;
            return Ok(None);
        }
    };
    let segments = Arc::clone(&inner.state.read().segments);
    let groups = match drop {
        Drop::RolledUp { .. } if !kind.late => with_adopted_orphans(inner, &segments, groups)?,
        _ => groups,
    };
    let groups = cap_step_groups(inner, &segments, groups, kind);
    let rewritten = match rewrite_groups(inner, &segments, groups, (drop, kind), purge, written)? {
        Rewritten::Skipped(group) => return Ok(Some(group)),
        Rewritten::Done(rewritten) => rewritten,
    };
    let mut record = rewritten.record;
    record.rolled_up = rewritten.rollups.as_ref().map_or(0, |r| r.predictions());
    let rollups = rollups::change(inner, drop, purge, rewritten.rollups, written)?;
    if let Some(file) = &rollups.added {
        record.bytes_out += file.file_bytes();
    }
    let mut change = Change::new(drop, rollups);
    change.replacements = rewritten.replacements;
    change.new_runs = rewritten.runs;
    change.read_from = Some(segments);
    change.record = record;
    change.purged = purge.map(|p| p.deletions.clone()).unwrap_or_default();
    if !install(inner, change, written)? {
        log::info!("compaction step raced with a flush of records it replaces; retried later");
        // No manifest lists the files of this attempt.
        remove_unlisted(inner, &written.ids);
        written.ids.clear();
        return Ok(None);
    }
    log::info!(
        "compaction replaced {} segments ({} bytes) by {} ({} bytes), {} records expired, \
         {} predictions rolled up, in {:?}",
        record.segments_in,
        record.bytes_in,
        record.segments_out,
        record.bytes_out,
        record.expired,
        record.rolled_up,
        started.elapsed()
    );
    Ok(None)
}

/// Splits the groups of an expiry, roll-up or purge into runs of at most twice
/// `target_segment_bytes`, the bound the planner keeps for a merge's group. The step then reads
/// one such run at a time, however many segments are old.
fn cap_step_groups(
    inner: &Inner,
    segments: &SegmentSet,
    groups: Vec<Vec<u64>>,
    kind: StepKind,
) -> Vec<Vec<u64>> {
    if kind.merging {
        return groups;
    }
    let bytes_of = |id: u64| segments.get(&id).map_or(0, |s| s.file_bytes());
    let target = inner.options.compaction.target_segment_bytes;
    plan::cap_groups(groups, bytes_of, target.saturating_mul(2))
}

/// Adds to a roll-up's groups each other segment that still stores the first copy of an
/// adopted orphan, in data order.
///
/// When its prediction arrives, an orphan is copied, resolved, into the prediction's segment,
/// and the first copy is dropped by the next rewrite of its segment. Once the roll-up has
/// replaced the prediction, nothing would tell the first copy from a label that arrived after
/// the roll-up, so the roll-up rewrites its segment too.
fn with_adopted_orphans(
    inner: &Inner,
    segments: &SegmentSet,
    mut groups: Vec<Vec<u64>>,
) -> Result<Vec<Vec<u64>>> {
    let orphans = Arc::clone(&inner.state.read().orphans);
    let grouped: HashSet<u64> = groups.iter().flatten().copied().collect();
    for segment in segments.values() {
        if grouped.contains(&segment.id()) {
            continue;
        }
        let stored = segment.orphans()?;
        if stored.iter().any(|o| !orphans.contains(&o.record.uuid)) {
            groups.push(vec![segment.id()]);
        }
    }
    let ids = segments.ids();
    let position = |group: &Vec<u64>| {
        let first = group.first().copied();
        ids.iter().position(|&id| Some(id) == first)
    };
    groups.sort_by_key(position);
    Ok(groups)
}

/// Everything one step changes, applied at once by `install`.
struct Change {
    replacements: Vec<Replacement>,
    /// Runs of the new segments' index entries, one per group.
    new_runs: Vec<IndexRun>,
    drop: Drop,
    record: CompactionRecord,
    /// The segments the step read, when it replaces segments.
    read_from: Option<Arc<SegmentSet>>,
    rollups: RollupChange,
    tier_cutoff: Option<(usize, i64)>,
    /// Deletions whose records the step removed from every file.
    purged: Vec<Deletion>,
}

impl Change {
    fn new(drop: Drop, rollups: RollupChange) -> Change {
        Change {
            replacements: Vec::new(),
            new_runs: Vec::new(),
            drop,
            record: CompactionRecord::default(),
            read_from: None,
            rollups,
            tier_cutoff: None,
            purged: Vec::new(),
        }
    }
}

/// Rewrites the index runs that point into replaced segments and switches the manifest.
/// Returns false, changing nothing, when a flush since the step's read wrote records that the
/// step would have had to roll up or delete.
fn install(inner: &Inner, mut change: Change, written: &mut Written) -> Result<bool> {
    let new_runs = std::mem::take(&mut change.new_runs);
    let added_rollups = change.rollups.added.take().map(Arc::new);
    let replacements = &change.replacements;
    let removed: HashSet<u64> = replacements.iter().flat_map(|r| r.group.clone()).collect();
    let _index = inner.index_lock.lock();
    let (live, index) = {
        let state = inner.state.read();
        (Arc::clone(&state.segments), state.index.clone())
    };
    let affected: Vec<Arc<IndexRun>> = index
        .runs()
        .iter()
        .filter(|run| run.segments().iter().any(|id| removed.contains(id)))
        .cloned()
        .collect();
    let affected_ids: Vec<u64> = affected.iter().map(|run| run.info().id).collect();
    let new_runs = replace_runs(inner, &live, &affected, new_runs, &removed, written)?;

    let _flushing = inner.flush_lock.lock();
    let (mut manifest, mut segments) = {
        let state = inner.state.read();
        (state.manifest.clone(), (*state.segments).clone())
    };
    if let Some(read_from) = &change.read_from
        && raced_with_flush(&segments, read_from, change.drop)
    {
        return Ok(false);
    }
    for replacement in replacements {
        segments = segments.replace(&replacement.group, &replacement.segments);
    }
    manifest.segments = segments.ids().to_vec();
    manifest.index_runs.retain(|id| !affected_ids.contains(id));
    let new_ids = new_runs.iter().map(|run| run.info().id);
    manifest.index_runs.extend(new_ids);
    manifest.index_runs.sort_unstable();
    let rollups = &change.rollups;
    manifest.rollups.retain(|id| !rollups.replaced.contains(id));
    manifest
        .rollups
        .extend(added_rollups.as_ref().map(|file| file.id()));
    manifest.rollups.sort_unstable();
    apply_watermarks(&mut manifest, &change);
    manifest.deletions.retain(|d| !change.purged.contains(d));
    manifest.next_file_id = inner.next_file_id.load(Ordering::SeqCst);
    let installed = install_manifest(inner, &manifest, &written.ids);
    // A failure before the rename removed the new files already. After the rename, the
    // manifest on disk may list them, so `run_step` must not remove them either.
    written.ids.clear();
    installed?;
    {
        let mut state = inner.state.write();
        state.segments = Arc::new(segments);
        let new_runs = new_runs.into_iter().map(Arc::new).collect();
        state.index = state.index.replace_all(&affected_ids, new_runs);
        let mut files: Vec<Arc<RollupFile>> = state
            .rollups
            .iter()
            .filter(|file| !rollups.replaced.contains(&file.id()))
            .cloned()
            .collect();
        files.extend(added_rollups);
        state.rollups = Arc::new(files);
        state.deletions = Arc::new(Deletions::new(&manifest.deletions));
        state.manifest = manifest;
    }
    for id in &removed {
        if let Some(segment) = live.get(id) {
            segment.remove_when_unused();
        }
    }
    let names = affected_ids.iter().map(|&id| index::index_file_name(id));
    let rollup_names = rollups
        .replaced
        .iter()
        .map(|&id| rollup::rollup_file_name(id));
    for name in names.chain(rollup_names) {
        let path = inner.dir.join(name);
        if let Err(e) = inner.io.remove(&path) {
            log::warn!("removing replaced file {} failed: {e}", path.display());
        }
    }
    Ok(true)
}

/// Returns the runs that replace the runs that point into replaced segments: the runs of the
/// new segments, one per rewritten run of a group, and each of those runs without the entries
/// of replaced segments.
///
/// A run that points only into replaced segments keeps no entry, so it is dropped unread. The
/// others are filtered, which reads no UUID but one per page, so the work grows with the size
/// of the runs that point into kept segments, not with the UUID reads of a merge.
/// `index_merge::pending_runs` keeps those runs small. The new runs are merged later, by the
/// index merge that the next flush requests.
fn replace_runs(
    inner: &Inner,
    live: &SegmentSet,
    affected: &[Arc<IndexRun>],
    new_runs: Vec<IndexRun>,
    removed: &HashSet<u64>,
    written: &mut Written,
) -> Result<Vec<IndexRun>> {
    let mut runs = new_runs;
    let mixed = affected
        .iter()
        .filter(|run| !run.segments().iter().all(|id| removed.contains(id)));
    for run in mixed {
        let id = inner.allocate_file_ids(1);
        written.ids.push(id);
        let io = Arc::clone(&inner.io);
        runs.extend(index::filter_with(io, &inner.dir, id, run, removed, live)?);
    }
    Ok(runs)
}

/// True when a segment that a flush added since `read_from` contains rows that a roll-up or an
/// expiry of that snapshot should have replaced.
fn raced_with_flush(current: &SegmentSet, read_from: &SegmentSet, drop: Drop) -> bool {
    let added = current
        .values()
        .filter(|s| !read_from.contains_key(&s.id()));
    match drop {
        Drop::Nothing => false,
        Drop::RolledUp { before_ms, .. } => added
            .into_iter()
            .any(|s| s.prediction_time_range().is_some_and(|r| r.0 < before_ms)),
        Drop::Expired { before_ms } => added
            .into_iter()
            .any(|s| s.time_range().is_some_and(|r| r.0 < before_ms)),
    }
}

fn apply_watermarks(manifest: &mut crate::manifest::Manifest, change: &Change) {
    match change.drop {
        Drop::Nothing => {}
        Drop::Expired { before_ms } => {
            manifest.expired_before_ms = manifest.expired_before_ms.max(before_ms);
        }
        Drop::RolledUp { before_ms, .. } => {
            manifest.raw_cutoff_ms = manifest.raw_cutoff_ms.max(before_ms);
        }
    }
    if let Some((tier, before_ms)) = change.tier_cutoff {
        if manifest.tier_cutoffs.len() <= tier {
            manifest.tier_cutoffs.resize(tier + 1, i64::MIN);
        }
        if let Some(cutoff) = manifest.tier_cutoffs.get_mut(tier) {
            *cutoff = (*cutoff).max(before_ms);
        }
    }
    manifest.last_compaction = Some(CompactionRecord {
        finished_unix_ms: unix_ms_now(),
        ..change.record
    });
}

fn unix_ms_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
