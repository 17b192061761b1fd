//! Running compaction steps against the store: write the replacement segments, rewrite the
//! index runs that point into the replaced ones, and switch the manifest.
//!
//! The steps that make a compaction visible run in this order:
//!
//! 1. the new segments and a run of their index entries are written and synced, with no lock
//!    held, from a snapshot of the segments;
//! 2. holding `index_lock` (flushes skip their own index merges meanwhile), each run that
//!    points into replaced segments is rewritten without their entries, or dropped when it
//!    points into no other segment, and that run is listed beside them;
//! 3. holding `flush_lock` for a moment, a new manifest replaces the segments and runs and is
//!    switched atomically; the store's state follows.
//!
//! A crash before step 3 leaves files that no manifest lists, which the next open deletes.
//! Replaced segments are removed when the last reader drops them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::flush::{index_entries, install_manifest, remove_unlisted};
use super::rollup_change::{self as rollups, RollupChange};
use super::{Inner, purge};
use crate::compaction::plan::{self, SegmentInfo, Step, Watermarks};
use crate::compaction::rewrite::{self, Deleted, Drop, Output, Split};
use crate::deletions::Deletions;
use crate::error::Result;
use crate::index::{self, IndexEntry, IndexRun};
use crate::manifest::CompactionRecord;
use crate::manifest::Deletion;
use crate::record::{ResolvedDelayed, Seq};
use crate::rollup::{self, RollupFile};
use crate::segment::SegmentRecords;
use crate::segment::{self, Segment, SegmentData};
use crate::segment_set::SegmentSet;
use purge::Purge;

/// Upper bound on steps per call, so that a policy that keeps planning work cannot spin.
const MAX_STEPS_PER_CALL: u32 = 64;

/// Runs compaction steps until the plan is empty; returns how many ran.
pub(crate) fn compact(inner: &Inner) -> Result<u32> {
    let mut unproductive = inner.compaction_lock.lock();
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

/// The replacement of one group of adjacent segments.
struct Replacement {
    group: Vec<u64>,
    segments: Vec<Arc<Segment>>,
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
    let rewritten = match rewrite_groups(inner, &segments, groups, drop, purge, kind, written)? {
        Rewritten::Skipped(group) => return Ok(Some(group)),
        Rewritten::Done(rewritten) => rewritten,
    };
    let mut record = rewritten.record;
    record.rolled_up = rewritten.rolled_up.len() as u64;
    let rollups = rollups::change(inner, drop, purge, rewritten.rolled_up, written)?;
    if let Some(file) = &rollups.added {
        record.bytes_out += file.file_bytes();
    }
    let mut change = Change::new(drop, rollups);
    change.replacements = rewritten.replacements;
    change.new_run = write_entries(inner, rewritten.entries, written)?;
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

/// The kind of a step on segments, beyond dropping records: a merge, or a roll-up of late
/// predictions.
#[derive(Clone, Copy)]
struct StepKind {
    merging: bool,
    late: bool,
}

/// The segments a step wrote in place of its groups.
struct GroupOutputs {
    replacements: Vec<Replacement>,
    entries: Vec<IndexEntry>,
    rolled_up: Vec<crate::record::Prediction>,
    record: CompactionRecord,
}

enum Rewritten {
    /// The step would change nothing in these segments: a merge that would not lower their
    /// number, or a late roll-up that found no late prediction.
    Skipped(Vec<u64>),
    Done(GroupOutputs),
}

/// Rewrites each group of adjacent segments without what `drop` and `purge` remove, and
/// writes the outputs.
fn rewrite_groups(
    inner: &Inner,
    segments: &SegmentSet,
    groups: Vec<Vec<u64>>,
    drop: Drop,
    purge: Option<&Purge>,
    kind: StepKind,
    written: &mut Written,
) -> Result<Rewritten> {
    let (orphans, deletions) = {
        let state = inner.state.read();
        (Arc::clone(&state.orphans), Arc::clone(&state.deletions))
    };
    let no_seqs = HashSet::new();
    let deleted = Deleted {
        deletions: &deletions,
        prediction_seqs: purge.map_or(&no_seqs, |p| &p.prediction_seqs),
    };
    let mut out = GroupOutputs {
        replacements: Vec::with_capacity(groups.len()),
        entries: Vec::new(),
        rolled_up: Vec::new(),
        record: CompactionRecord::default(),
    };
    let mut untouched: Vec<u64> = Vec::new();
    let mut loaded = Vec::with_capacity(groups.len());
    for group in groups {
        let mut inputs = Vec::with_capacity(group.len());
        let mut group_bytes = 0;
        for id in &group {
            if let Some(segment) = segments.get(id) {
                group_bytes += segment.file_bytes();
                inputs.push(segment.records()?);
            }
        }
        loaded.push((group, inputs, group_bytes));
    }
    if let Drop::RolledUp { before_ms, .. } = drop {
        join_across_groups(&mut loaded, before_ms);
    }
    for (group, inputs, group_bytes) in loaded {
        out.record.bytes_in += group_bytes;
        out.record.segments_in += group.len() as u64;
        let input_count = inputs.len();
        let split = split_for(&inputs, group_bytes, inner);
        let rewritten = rewrite::rewrite(inputs, drop, &orphans, deleted, split);
        if kind.merging && rewritten.outputs.len() >= input_count {
            log::debug!("merging segments {group:?} would not lower their number: skipped");
            return Ok(Rewritten::Skipped(group));
        }
        if kind.late && rewritten.rolled_up.is_empty() {
            untouched.extend(group);
            continue;
        }
        out.record.expired += rewritten.expired;
        out.rolled_up.extend(rewritten.rolled_up);
        let mut outputs = Vec::with_capacity(rewritten.outputs.len());
        for output in &rewritten.outputs {
            let (segment, segment_entries) = write_output(inner, output, written)?;
            out.record.bytes_out += segment.file_bytes();
            out.entries.extend(segment_entries);
            outputs.push(Arc::new(segment));
        }
        out.record.segments_out += outputs.len() as u64;
        out.replacements.push(Replacement {
            group,
            segments: outputs,
        });
    }
    if kind.late && out.replacements.is_empty() {
        log::debug!("no late prediction in segments {untouched:?} can be rolled up: skipped");
        return Ok(Rewritten::Skipped(untouched));
    }
    Ok(Rewritten::Done(out))
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

/// Moves each resolved delayed row of a prediction that a roll-up before `before_ms` takes into
/// the group that contains the prediction, so that the roll-up joins them.
///
/// A roll-up rewrites each group of adjacent segments on its own. A label can be flushed after
/// segments of newer predictions, which the roll-up leaves alone, so it can lie in another
/// group than its prediction. Resolved rows always lie in the prediction's segment or a later
/// one, and groups come in data order, so the moved rows go after the group's own rows, which
/// keeps the latest value last.
fn join_across_groups(loaded: &mut [(Vec<u64>, Vec<SegmentRecords>, u64)], before_ms: i64) {
    let mut home: HashMap<Seq, usize> = HashMap::new();
    for (at, (_, inputs, _)) in loaded.iter().enumerate() {
        let predictions = inputs.iter().flat_map(|records| &records.predictions);
        for p in predictions.filter(|p| p.timestamp_ms < before_ms) {
            home.insert(p.seq, at);
        }
    }
    let mut moved: Vec<Vec<ResolvedDelayed>> = vec![Vec::new(); loaded.len()];
    for (at, (_, inputs, _)) in loaded.iter_mut().enumerate() {
        for records in inputs.iter_mut() {
            let delayed = std::mem::take(&mut records.delayed);
            for row in delayed {
                let target = row
                    .prediction
                    .as_ref()
                    .filter(|key| key.timestamp_ms < before_ms)
                    .and_then(|key| home.get(&key.seq))
                    .filter(|&&target| target != at);
                match target.and_then(|&target| moved.get_mut(target)) {
                    Some(rows) => rows.push(row),
                    None => records.delayed.push(row),
                }
            }
        }
    }
    for ((_, inputs, _), rows) in loaded.iter_mut().zip(moved) {
        if !rows.is_empty() {
            inputs.push(SegmentRecords {
                predictions: Vec::new(),
                delayed: rows,
                aggregates: Vec::new(),
            });
        }
    }
}

/// Outputs of about half the target size: the rows of that many bytes, at the bytes per row
/// of `inputs`, which take `bytes_in` bytes.
fn split_for(inputs: &[SegmentRecords], bytes_in: u64, inner: &Inner) -> Split {
    let rows: u64 = inputs
        .iter()
        .map(|r| (r.predictions.len() + r.delayed.len() + r.aggregates.len()) as u64)
        .sum();
    let bytes_per_row = (bytes_in / rows.max(1)).max(1);
    let target = inner.options.compaction.target_segment_bytes / 2;
    Split {
        partition_ms: plan::partition_ms(&inner.options.compaction),
        min_rows: usize::try_from(target / bytes_per_row)
            .unwrap_or(usize::MAX)
            .max(1),
    }
}

/// Everything one step changes, applied at once by `install`.
struct Change {
    replacements: Vec<Replacement>,
    new_run: Option<IndexRun>,
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
            new_run: None,
            drop,
            record: CompactionRecord::default(),
            read_from: None,
            rollups,
            tier_cutoff: None,
            purged: Vec::new(),
        }
    }
}

/// Writes one output segment and returns it with its index entries.
fn write_output(
    inner: &Inner,
    output: &Output,
    written: &mut Written,
) -> Result<(Segment, Vec<IndexEntry>)> {
    let id = inner.allocate_file_ids(1);
    written.ids.push(id);
    let data = SegmentData {
        predictions: &output.predictions,
        delayed: &output.delayed,
        aggregates: &output.aggregates,
    };
    let file =
        segment::write_segment_with(&*inner.io, &inner.dir, id, &data, inner.options.zstd_level)?;
    let entries = index_entries(id, &file);
    Ok((Segment::open(&inner.dir, id)?, entries))
}

/// Writes the index entries of the new segments as a run of their own, listed beside the live
/// runs at install.
fn write_entries(
    inner: &Inner,
    entries: Vec<IndexEntry>,
    written: &mut Written,
) -> Result<Option<IndexRun>> {
    if entries.is_empty() {
        return Ok(None);
    }
    let id = inner.allocate_file_ids(1);
    written.ids.push(id);
    IndexRun::write_with(Arc::clone(&inner.io), &inner.dir, id, entries).map(Some)
}

/// Rewrites the index runs that point into replaced segments and switches the manifest.
/// Returns false, changing nothing, when a flush since the step's read wrote records that the
/// step would have had to roll up or delete.
fn install(inner: &Inner, mut change: Change, written: &mut Written) -> Result<bool> {
    let new_run = change.new_run.take();
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
    let new_runs = replace_runs(inner, &live, &affected, new_run, &removed, written)?;

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

/// Returns the runs that replace the runs that point into replaced segments: the run of the
/// new segments, and each of those runs without the entries of replaced segments.
///
/// A run that points only into replaced segments keeps no entry, so it is dropped unread. The
/// others are filtered, which reads no UUID but one per page, so the work grows with the size
/// of the runs that point into kept segments, not with the UUID reads of a merge.
/// `index_merge::pending_runs` keeps those runs small. The new runs are merged later, by the
/// policy of the flushes.
fn replace_runs(
    inner: &Inner,
    live: &SegmentSet,
    affected: &[Arc<IndexRun>],
    new_run: Option<IndexRun>,
    removed: &HashSet<u64>,
    written: &mut Written,
) -> Result<Vec<IndexRun>> {
    let mut runs: Vec<IndexRun> = new_run.into_iter().collect();
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
