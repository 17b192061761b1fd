//! Reads over a snapshot of heads and segments: windows with the delayed-metric join,
//! aggregates, lookups by UUID and orphans.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use crate::error::Result;
use crate::head::Head;
use crate::index::{EntryKind, IndexSet};
use crate::record::{
    Aggregate, AggregateRecord, DelayedRecord, OrphanedDelayed, Prediction, PredictionRecord, Seq,
};
use crate::segment_set::SegmentSet;
use crate::value::Metrics;

/// Length of the first slice of a window that `ReadMetrics` decodes, in ms.
pub(crate) const FIRST_SLICE_MS: i64 = 3_600_000;
/// A slice with fewer rows than this doubles the next slice's length.
const MIN_SLICE_ROWS: usize = 16_384;
/// A slice with more rows than this halves the next slice's length.
const MAX_SLICE_ROWS: usize = 131_072;

/// The view of one read: the heads and segments live when it started, and the records up to
/// the sequence number tracked by then.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub seq_limit: Seq,
    pub active: Arc<Head>,
    pub frozen: Option<Arc<Head>>,
    pub segments: Arc<SegmentSet>,
    pub index: IndexSet,
    pub orphans: Arc<HashSet<Uuid>>,
    pub rollups: Arc<Vec<Arc<crate::rollup::RollupFile>>>,
    /// Predictions older than this are rolled up (`Manifest::raw_cutoff_ms`).
    pub raw_cutoff_ms: i64,
    /// Deletions that reads apply until compaction has removed the records.
    pub deletions: Arc<crate::deletions::Deletions>,
}

impl Snapshot {
    pub(crate) fn heads(&self) -> impl Iterator<Item = &Arc<Head>> {
        std::iter::once(&self.active).chain(self.frozen.iter())
    }

    /// Appends the delayed records of `uuid` held in the heads to `out`.
    /// Appends the delayed records of `uuid` in the heads to `out`, except those that a
    /// deletion covers.
    pub(crate) fn head_delayed(&self, uuid: &Uuid, out: &mut Vec<DelayedRecord>) {
        let first = out.len();
        for head in self.heads() {
            head.read().delayed_of(uuid, self.seq_limit, out);
        }
        self.drop_deleted(uuid, out, first);
    }

    /// Removes from `out[first..]` the delayed records of `uuid` that a deletion covers.
    fn drop_deleted(&self, uuid: &Uuid, out: &mut Vec<DelayedRecord>, first: usize) {
        if self.deletions.is_empty() {
            return;
        }
        let mut index = 0;
        out.retain(|record| {
            let keep = index < first || !self.deletions.hides_delayed(uuid, record.seq);
            index += 1;
            keep
        });
    }

    /// Appends the stored orphaned delayed records of `uuid` to `out`.
    pub(crate) fn stored_orphans(&self, uuid: &Uuid, out: &mut Vec<DelayedRecord>) -> Result<()> {
        let first = out.len();
        for entry in self.index.lookup(uuid, &*self.segments)? {
            if entry.kind != EntryKind::Delayed {
                continue;
            }
            if let Some(segment) = self.segments.get(&entry.segment) {
                let delayed = segment.delayed_at(entry.row)?;
                if delayed.prediction.is_none() && delayed.record.uuid == *uuid {
                    out.push(delayed.record);
                }
            }
        }
        self.drop_deleted(uuid, out, first);
        Ok(())
    }
}

/// The iterator that `Store::read_metrics` returns: predictions in timestamp order, each with
/// its delayed metrics joined in.
pub struct ReadMetrics {
    snapshot: Snapshot,
    model: String,
    end_ms: i64,
    /// Start of the next slice to decode.
    cursor: i64,
    slice_ms: i64,
    /// Head predictions of the whole window, sorted, consumed slice by slice.
    head_rows: VecDeque<PredictionRecord>,
    ready: VecDeque<Prediction>,
    failed: bool,
}

impl ReadMetrics {
    pub(crate) fn new(snapshot: Snapshot, model: &str, start_ms: i64, end_ms: i64) -> Self {
        let mut head_rows = Vec::new();
        for head in snapshot.heads() {
            head_rows.extend(head.read().predictions_in(
                model,
                start_ms,
                end_ms,
                snapshot.seq_limit,
            ));
        }
        head_rows.sort_by_key(|p| (p.timestamp_ms, p.seq));
        ReadMetrics {
            snapshot,
            model: model.to_owned(),
            end_ms,
            cursor: start_ms,
            slice_ms: FIRST_SLICE_MS,
            head_rows: head_rows.into(),
            ready: VecDeque::new(),
            failed: false,
        }
    }

    /// Decodes the next slice `[cursor, cursor + slice_ms)` of the window into `ready`.
    fn read_slice(&mut self) -> Result<()> {
        let start = self.cursor;
        let end = start.saturating_add(self.slice_ms).min(self.end_ms);
        let mut rows = Vec::new();
        for segment in self.snapshot.segments.values() {
            let overlaps = segment
                .prediction_range(&self.model)
                .is_some_and(|(min, max)| min < end && max >= start);
            if overlaps {
                for block in segment.scan_predictions(&self.model, start, end) {
                    rows.extend(block?);
                }
            }
        }
        while self.head_rows.front().is_some_and(|p| p.timestamp_ms < end) {
            rows.extend(self.head_rows.pop_front());
        }
        rows.sort_by_key(|p| (p.timestamp_ms, p.seq));
        let deletions = &self.snapshot.deletions;
        if !deletions.is_empty() {
            rows.retain(|p| !deletions.hides_prediction(&p.model, &p.uuid, p.seq));
        }

        // Segments name the prediction of a resolved delayed record by its seq, and the heads
        // key delayed records by prediction UUID.
        let mut delayed: HashMap<Seq, Vec<DelayedRecord>> = HashMap::new();
        if !rows.is_empty() {
            for segment in self.snapshot.segments.values() {
                for resolved in segment.delayed_for(&self.model, start, end)? {
                    if let Some(key) = resolved.prediction {
                        delayed.entry(key.seq).or_default().push(resolved.record);
                    }
                }
            }
        }
        let row_count = rows.len();
        for row in rows {
            let mut records = delayed.remove(&row.seq).unwrap_or_default();
            self.snapshot.head_delayed(&row.uuid, &mut records);
            if self.snapshot.orphans.contains(&row.uuid) {
                self.snapshot.stored_orphans(&row.uuid, &mut records)?;
            }
            self.ready.push_back(join(row, records));
        }
        self.adapt_slice(row_count);
        self.cursor = end;
        Ok(())
    }

    fn adapt_slice(&mut self, rows: usize) {
        self.slice_ms = next_slice_ms(self.slice_ms, rows);
    }
}

/// Returns the length of the slice that follows one of `slice_ms` that contained `rows` rows:
/// longer after a sparse slice and shorter after a dense one, so that the rows of each slice
/// stay bounded.
pub(crate) fn next_slice_ms(slice_ms: i64, rows: usize) -> i64 {
    if rows < MIN_SLICE_ROWS {
        slice_ms.saturating_mul(2)
    } else if rows > MAX_SLICE_ROWS {
        (slice_ms / 2).max(1)
    } else {
        slice_ms
    }
}

impl Iterator for ReadMetrics {
    type Item = Result<Prediction>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() && !self.failed && self.cursor < self.end_ms {
            if let Err(e) = self.read_slice() {
                self.failed = true;
                return Some(Err(e));
            }
        }
        self.ready.pop_front().map(Ok)
    }
}

/// Builds a `Prediction` from its record and its delayed records: each metric takes the value
/// of the latest record. Records read back from segments have `STORED_SEQ`, so they must come
/// in write order: segments by id, rows in order. The stable sort keeps that order and puts
/// them before the records of the heads, which are all later.
fn join(prediction: PredictionRecord, mut delayed: Vec<DelayedRecord>) -> Prediction {
    delayed.sort_by_key(|d| d.seq);
    let mut merged = Metrics::new();
    for record in delayed {
        for metric in record.metrics.0 {
            merged.upsert(&metric.name, metric.value);
        }
    }
    merged.sort_by_name();
    // A segment returns metrics in its column order, which need not be name order.
    let mut metrics = prediction.metrics;
    metrics.sort_by_name();
    Prediction {
        model: prediction.model,
        uuid: prediction.uuid,
        timestamp_ms: prediction.timestamp_ms,
        metrics,
        delayed: merged,
    }
}

pub(crate) fn read_aggregates(
    snapshot: &Snapshot,
    model: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Aggregate>> {
    let mut records: Vec<AggregateRecord> = Vec::new();
    for segment in snapshot.segments.values() {
        records.extend(segment.aggregates(model, start_ms, end_ms)?);
    }
    for head in snapshot.heads() {
        records.extend(
            head.read()
                .aggregates_in(model, start_ms, end_ms, snapshot.seq_limit),
        );
    }
    records.retain(|a| !snapshot.deletions.hides_model(&a.model, a.seq));
    records.sort_by_key(|a| (a.start_ms, a.end_ms, a.seq));
    let mut windows: Vec<Aggregate> = Vec::new();
    for record in records {
        let same_window = windows
            .last()
            .is_some_and(|w| w.start_ms == record.start_ms && w.end_ms == record.end_ms);
        if !same_window {
            windows.push(Aggregate {
                model: record.model,
                start_ms: record.start_ms,
                end_ms: record.end_ms,
                metrics: Metrics::new(),
            });
        }
        if let Some(window) = windows.last_mut() {
            for metric in record.metrics.0 {
                window.metrics.upsert(&metric.name, metric.value);
            }
        }
    }
    for window in &mut windows {
        window.metrics.sort_by_name();
    }
    Ok(windows)
}

pub(crate) fn lookup(snapshot: &Snapshot, uuid: &Uuid) -> Result<Option<Prediction>> {
    let mut prediction = None;
    for head in snapshot.heads() {
        let data = head.read();
        if let Some(p) = data
            .prediction(uuid)
            .filter(|p| p.seq <= snapshot.seq_limit)
        {
            prediction = Some(p.into_owned());
        }
    }
    let orphaned = snapshot.orphans.contains(uuid);
    let mut orphans = Vec::new();
    for entry in snapshot.index.lookup(uuid, &*snapshot.segments)? {
        let Some(segment) = snapshot.segments.get(&entry.segment) else {
            continue;
        };
        match entry.kind {
            EntryKind::Prediction if prediction.is_none() => {
                prediction = Some(segment.prediction_at(entry.row)?);
            }
            EntryKind::Prediction => {}
            // Once its prediction is flushed, an orphan is adopted: copied, resolved, into the
            // prediction's segment, and only that copy counts.
            EntryKind::Delayed if orphaned => {
                let stored = segment.delayed_at(entry.row)?;
                if stored.prediction.is_none() && stored.record.uuid == *uuid {
                    orphans.push(stored.record);
                }
            }
            EntryKind::Delayed => {}
        }
    }
    let Some(prediction) = prediction else {
        return Ok(None);
    };
    let deletions = &snapshot.deletions;
    if deletions.hides_prediction(&prediction.model, &prediction.uuid, prediction.seq) {
        return Ok(None);
    }
    // Resolved delayed rows name their prediction by model, timestamp and seq, not by UUID.
    // Segments ascend by id, so the rows come in write order.
    let (at, seq) = (prediction.timestamp_ms, prediction.seq);
    let mut delayed = Vec::new();
    for segment in snapshot.segments.values() {
        let rows = segment.delayed_of(&prediction.model, at, seq)?;
        delayed.extend(rows.into_iter().map(|d| d.record));
    }
    delayed.extend(orphans);
    snapshot.head_delayed(uuid, &mut delayed);
    Ok(Some(join(prediction, delayed)))
}

/// Drops repeated copies of one record, which have the same seq. Every record passed here has
/// its own seq: orphans and head records keep theirs.
fn dedup_by_seq(mut delayed: Vec<DelayedRecord>) -> Vec<DelayedRecord> {
    delayed.sort_by_key(|d| d.seq);
    delayed.dedup_by_key(|d| d.seq);
    delayed
}

pub(crate) fn orphans(snapshot: &Snapshot) -> Result<Vec<OrphanedDelayed>> {
    // A deleted prediction counts as unknown: delayed records tracked after its deletion
    // are orphans.
    let holds_prediction = |uuid: &Uuid| -> Result<bool> {
        if !snapshot.deletions.is_empty() {
            return Ok(lookup(snapshot, uuid)?.is_some());
        }
        let in_head = snapshot.heads().any(|h| h.read().contains_prediction(uuid));
        Ok(in_head
            || snapshot
                .index
                .contains_prediction(uuid, &*snapshot.segments)?)
    };
    let mut records = Vec::new();
    for uuid in snapshot.orphans.iter() {
        if !holds_prediction(uuid)? {
            snapshot.stored_orphans(uuid, &mut records)?;
        }
    }
    let head_uuids: Vec<Uuid> = snapshot
        .heads()
        .flat_map(|h| h.read().delayed.keys().copied().collect::<Vec<_>>())
        .collect();
    for uuid in head_uuids {
        if !holds_prediction(&uuid)? {
            snapshot.head_delayed(&uuid, &mut records);
        }
    }
    let mut records = dedup_by_seq(records);
    records.retain(|d| !snapshot.deletions.hides_delayed(&d.uuid, d.seq));
    records.sort_by_key(|d| d.seq);
    let mut orphans = Vec::with_capacity(records.len());
    for mut d in records {
        // A segment returns metrics in its column order, which need not be name order.
        d.metrics.sort_by_name();
        orphans.push(OrphanedDelayed {
            prediction_rolled_up: was_rolled_up(snapshot, &d.uuid)?,
            uuid: d.uuid,
            timestamp_ms: d.timestamp_ms,
            metrics: d.metrics,
        });
    }
    Ok(orphans)
}

/// Returns whether a rolled-up filter of the snapshot's rollup files probably contains `uuid`.
fn was_rolled_up(snapshot: &Snapshot, uuid: &Uuid) -> Result<bool> {
    for file in snapshot.rollups.iter() {
        if file.may_have_rolled_up(uuid)? {
            return Ok(true);
        }
    }
    Ok(false)
}
