//! Rewriting the groups of a compaction step one at a time: each group's segments are read,
//! rewritten and written out, with a run of their index entries, before the next group is
//! read. A step therefore keeps the records of one group in memory. The step caps a group at
//! twice `Compaction::target_segment_bytes` of input, whatever the number of groups.

use std::collections::HashSet;
use std::sync::Arc;

use super::Inner;
use super::compact::Written;
use super::flush::index_entries;
use super::purge::Purge;
use crate::compaction::plan;
use crate::compaction::rewrite::{self, Deleted, Drop, Output, Split};
use crate::compaction::rolled_up::RollupBuilder;
use crate::error::Result;
use crate::index::{IndexEntry, IndexRun};
use crate::manifest::CompactionRecord;
use crate::record::{ResolvedDelayed, Seq};
use crate::segment::{self, Segment, SegmentData, SegmentRecords};
use crate::segment_set::SegmentSet;

/// The replacement of one group of adjacent segments.
pub(super) struct Replacement {
    pub(super) group: Vec<u64>,
    pub(super) segments: Vec<Arc<Segment>>,
}

/// The kind of a step on segments, beyond dropping records: a merge, or a roll-up of late
/// predictions.
#[derive(Clone, Copy)]
pub(super) struct StepKind {
    pub(super) merging: bool,
    pub(super) late: bool,
}

/// The segments a step wrote in place of its groups.
pub(super) struct GroupOutputs {
    pub(super) replacements: Vec<Replacement>,
    /// One run of the index entries of each group's new segments.
    pub(super) runs: Vec<IndexRun>,
    /// The rollups of a roll-up step, `None` for other steps.
    pub(super) rollups: Option<RollupBuilder>,
    pub(super) record: CompactionRecord,
}

pub(super) enum Rewritten {
    /// The step would change nothing in these segments: a merge that would not lower their
    /// number, or a late roll-up that found no late prediction.
    Skipped(Vec<u64>),
    Done(GroupOutputs),
}

/// The inputs shared by the rewrites of every group of one step.
struct Context<'a> {
    inner: &'a Inner,
    segments: &'a SegmentSet,
    drop: Drop,
    kind: StepKind,
    orphans: &'a HashSet<uuid::Uuid>,
    deleted: Deleted<'a>,
}

/// Rewrites each group of adjacent segments without what `drop` and `purge` remove, and
/// writes the outputs, one group at a time.
pub(super) fn rewrite_groups(
    inner: &Inner,
    segments: &SegmentSet,
    groups: Vec<Vec<u64>>,
    (drop, kind): (Drop, StepKind),
    purge: Option<&Purge>,
    written: &mut Written,
) -> Result<Rewritten> {
    let (orphans, deletions) = {
        let state = inner.state.read();
        (Arc::clone(&state.orphans), Arc::clone(&state.deletions))
    };
    let no_seqs = HashSet::new();
    let context = Context {
        inner,
        segments,
        drop,
        kind,
        orphans: &orphans,
        deleted: Deleted {
            deletions: &deletions,
            prediction_seqs: purge.map_or(&no_seqs, |p| &p.prediction_seqs),
        },
    };
    let mut out = GroupOutputs {
        replacements: Vec::with_capacity(groups.len()),
        runs: Vec::new(),
        rollups: match drop {
            Drop::RolledUp { interval_ms, .. } => Some(RollupBuilder::new(interval_ms)),
            Drop::Nothing | Drop::Expired { .. } => None,
        },
        record: CompactionRecord::default(),
    };
    let mut untouched: Vec<u64> = Vec::new();
    for (at, group) in groups.iter().enumerate() {
        let later = groups.get(at + 1..).unwrap_or_default();
        match rewrite_group(&context, group, later, &mut out, written)? {
            GroupResult::Written => {}
            GroupResult::Untouched => untouched.extend(group),
            GroupResult::Unproductive => return Ok(Rewritten::Skipped(group.clone())),
        }
    }
    if kind.late && out.replacements.is_empty() {
        log::debug!("no late prediction in segments {untouched:?} can be rolled up: skipped");
        return Ok(Rewritten::Skipped(untouched));
    }
    Ok(Rewritten::Done(out))
}

enum GroupResult {
    Written,
    /// A late roll-up found nothing to roll up in the group, which stays as it is.
    Untouched,
    /// A merge would not lower the number of segments.
    Unproductive,
}

/// Reads, rewrites and writes one group, adding its outputs to `out`. `later` are the groups
/// after it in the step, which may hold labels of its rolled-up predictions.
fn rewrite_group(
    context: &Context<'_>,
    group: &[u64],
    later: &[Vec<u64>],
    out: &mut GroupOutputs,
    written: &mut Written,
) -> Result<GroupResult> {
    let inner = context.inner;
    // TODO: decode and write block by block from columns, as the flush encodes the head. The
    // records of a group took 19 to 24 times its file bytes in tests/compaction_memory.rs.
    let (mut inputs, group_bytes) = read_group(context.segments, group)?;
    let input_count = inputs.len();
    if let Drop::RolledUp { .. } = context.drop {
        let labels = labels_in_later_groups(context.segments, &inputs, later, context.drop)?;
        if !labels.is_empty() {
            inputs.push(SegmentRecords {
                delayed: labels,
                ..SegmentRecords::default()
            });
        }
    }

    out.record.bytes_in += group_bytes;
    out.record.segments_in += group.len() as u64;
    let split = split_for(&inputs, group_bytes, inner);
    let rewritten = rewrite::rewrite(
        inputs,
        context.drop,
        context.orphans,
        context.deleted,
        split,
    );
    if context.kind.merging && rewritten.outputs.len() >= input_count {
        log::debug!("merging segments {group:?} would not lower their number: skipped");
        return Ok(GroupResult::Unproductive);
    }
    if context.kind.late && rewritten.rolled_up.is_empty() {
        return Ok(GroupResult::Untouched);
    }

    out.record.expired += rewritten.expired;
    if let Some(rollups) = &mut out.rollups {
        rollups.add(rewritten.rolled_up)?;
    }
    let mut outputs = Vec::with_capacity(rewritten.outputs.len());
    let mut entries = Vec::new();
    for output in &rewritten.outputs {
        let (segment, segment_entries) = write_output(inner, output, written)?;
        out.record.bytes_out += segment.file_bytes();
        entries.extend(segment_entries);
        outputs.push(Arc::new(segment));
    }
    out.runs.extend(write_entries(inner, entries, written)?);
    out.record.segments_out += outputs.len() as u64;
    out.replacements.push(Replacement {
        group: group.to_vec(),
        segments: outputs,
    });
    Ok(GroupResult::Written)
}

/// Decodes the records of the segments of `group` and returns them with the segments' file
/// bytes.
fn read_group(segments: &SegmentSet, group: &[u64]) -> Result<(Vec<SegmentRecords>, u64)> {
    let mut inputs = Vec::with_capacity(group.len() + 1);
    let mut bytes = 0;
    for segment in group.iter().filter_map(|id| segments.get(id)) {
        bytes += segment.file_bytes();
        inputs.push(segment.records()?);
    }
    Ok((inputs, bytes))
}

/// Returns the resolved delayed rows in the `later` groups of the predictions in `inputs`
/// that the roll-up `drop` takes, so that the roll-up joins them.
///
/// A roll-up rewrites each group of adjacent segments on its own. A label can be flushed after
/// segments of newer predictions, which the roll-up leaves alone, so it can lie in another
/// group than its prediction. Resolved rows always lie in the prediction's segment or a later
/// one, and groups come in data order, so the rows go after the group's own rows, which keeps
/// the latest value last. The later groups drop these rows when they are rewritten, as they
/// drop every resolved row of a rolled-up prediction. Rows of a prediction kept raw stay only
/// where they are, so they are not copied.
fn labels_in_later_groups(
    segments: &SegmentSet,
    inputs: &[SegmentRecords],
    later: &[Vec<u64>],
    drop: Drop,
) -> Result<Vec<ResolvedDelayed>> {
    let rolled_up = inputs
        .iter()
        .flat_map(|records| &records.predictions)
        .filter(|p| drop.rolls_up(p.timestamp_ms));
    let mut seqs: HashSet<Seq> = HashSet::new();
    let mut range: Option<(i64, i64)> = None;
    for prediction in rolled_up {
        seqs.insert(prediction.seq);
        let ts = prediction.timestamp_ms;
        range = Some(range.map_or((ts, ts), |(min, max)| (min.min(ts), max.max(ts))));
    }
    let Some(range) = range else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for segment in later.iter().flatten().filter_map(|id| segments.get(id)) {
        rows.extend(segment.resolved_delayed(range, |key| seqs.contains(&key.seq))?);
    }
    Ok(rows)
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
