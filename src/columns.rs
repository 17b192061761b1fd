//! Window reads as columns: one vector per metric instead of one `Prediction` per row.
//!
//! `Store::read_columns` returns what `read_metrics` returns for the metrics asked for, in the
//! same row order, but decodes only those metrics and allocates per column rather than per row
//! and metric. A monitoring job that needs a score and a label reads them this way.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use uuid::Uuid;

use crate::error::Result;
use crate::query::Snapshot;
use crate::record::{DelayedRecord, PredictionRecord, Seq};
use crate::segment::{DelayedColumns, PredictionColumns};
use crate::value::Value;

/// The predictions of one window as columns: entry `i` of every vector belongs to the same
/// prediction. Rows are in timestamp order, ties in tracking order, as `read_metrics` returns
/// them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    pub uuids: Vec<Uuid>,
    pub timestamps: Vec<i64>,
    /// One column per inline metric asked for, in the order asked: the value, or `None` where
    /// the prediction lacks the metric.
    pub metrics: Vec<Vec<Option<Value>>>,
    /// One column per delayed metric asked for, in the order asked: the latest value tracked
    /// for the prediction, or `None` where none was.
    pub delayed: Vec<Vec<Option<Value>>>,
}

impl Columns {
    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Reads the window `[start_ms, end_ms)` of `model` from `snapshot` as columns.
pub(crate) fn read_columns(
    snapshot: &Snapshot,
    model: &str,
    (start_ms, end_ms): (i64, i64),
    metrics: &[&str],
    delayed: &[&str],
) -> Result<Columns> {
    let mut rows = PredictionColumns::default();
    rows.values.resize_with(metrics.len(), Vec::new);
    for segment in snapshot.segments.values() {
        segment.prediction_columns(model, (start_ms, end_ms), metrics, &mut rows)?;
    }
    for head in snapshot.heads() {
        let found = head
            .read()
            .predictions_in(model, start_ms, end_ms, snapshot.seq_limit);
        push_head_rows(&mut rows, found, metrics);
    }
    let order = row_order(&rows);
    let mut latest = stored_delayed(snapshot, model, (start_ms, end_ms), delayed)?;
    let mut out = Columns {
        uuids: Vec::with_capacity(order.len()),
        timestamps: Vec::with_capacity(order.len()),
        metrics: vec![Vec::with_capacity(order.len()); metrics.len()],
        delayed: vec![Vec::with_capacity(order.len()); delayed.len()],
    };
    let mut late = Vec::new();
    let hides = !snapshot.deletions.is_empty();
    // Records tracked after the snapshot are invisible to it, so heads without delayed records
    // now need no lookup per row.
    let unstored =
        !snapshot.orphans.is_empty() || snapshot.heads().any(|h| !h.read().delayed.is_empty());
    for &row in &order {
        let (Some(&uuid), Some(&timestamp), Some(&seq)) = (
            rows.uuids.get(row),
            rows.timestamps.get(row),
            rows.seqs.get(row),
        ) else {
            continue;
        };
        if hides && snapshot.deletions.hides_prediction(model, &uuid, seq) {
            continue;
        }
        out.uuids.push(uuid);
        out.timestamps.push(timestamp);
        for (column, values) in out.metrics.iter_mut().zip(rows.values.iter_mut()) {
            column.push(values.get_mut(row).and_then(Option::take));
        }
        latest.push_into(seq, &mut out.delayed);
        if unstored {
            late.clear();
            unstored_delayed(snapshot, &uuid, &mut late)?;
            late.sort_by_key(|d| d.seq);
            for record in late.drain(..) {
                apply_last(&mut out.delayed, delayed, &record.metrics.0);
            }
        }
    }
    Ok(out)
}

fn push_head_rows(rows: &mut PredictionColumns, found: Vec<PredictionRecord>, names: &[&str]) {
    for record in found {
        rows.timestamps.push(record.timestamp_ms);
        rows.seqs.push(record.seq);
        rows.uuids.push(record.uuid);
        for (name, column) in names.iter().zip(rows.values.iter_mut()) {
            column.push(record.metrics.get(name).cloned());
        }
    }
}

/// Returns the row positions in (timestamp, seq) order. Segments and heads each return sorted
/// rows, so the sort is skipped when they do not overlap.
fn row_order(rows: &PredictionColumns) -> Vec<usize> {
    let key = |row: usize| (rows.timestamps.get(row), rows.seqs.get(row));
    let mut order: Vec<usize> = (0..rows.timestamps.len()).collect();
    if !order.is_sorted_by_key(|&row| key(row)) {
        order.sort_by_key(|&row| key(row));
    }
    order
}

/// Hashes a sequence number with one multiplication: seqs are distinct integers chosen by the
/// store, not by a caller, so they need no protection against crafted collisions.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// The latest delayed values of the predictions of a window, `names.len()` values per
/// prediction, found by prediction seq.
struct Latest {
    width: usize,
    rows: HashMap<Seq, usize, BuildHasherDefault<SeqHasher>>,
    values: Vec<Option<Value>>,
}

impl Latest {
    /// Moves the values of the prediction `seq` to the end of `columns`, one per column, or
    /// pushes `None`s when it has none.
    fn push_into(&mut self, seq: Seq, columns: &mut [Vec<Option<Value>>]) {
        let start = self.rows.get(&seq).map(|&row| row * self.width);
        let values = start.and_then(|start| self.values.get_mut(start..start + self.width));
        match values {
            Some(values) => {
                for (column, value) in columns.iter_mut().zip(values) {
                    column.push(value.take());
                }
            }
            None => columns.iter_mut().for_each(|column| column.push(None)),
        }
    }
}

/// Collects the latest value of each delayed metric of `names` from the resolved rows of the
/// segments, by prediction seq. Segments ascend by id and rows come in order, so a later row
/// overwrites an earlier one, as the records' seqs would order them.
fn stored_delayed(
    snapshot: &Snapshot,
    model: &str,
    window: (i64, i64),
    names: &[&str],
) -> Result<Latest> {
    let mut latest = Latest {
        width: names.len(),
        rows: HashMap::default(),
        values: Vec::new(),
    };
    if names.is_empty() {
        return Ok(latest);
    }
    for segment in snapshot.segments.values() {
        let mut rows = DelayedColumns::default();
        segment.delayed_columns(model, window, names, &mut rows)?;
        for (row, seq) in rows.prediction_seqs.iter().enumerate() {
            let next = latest.rows.len();
            let at = *latest.rows.entry(*seq).or_insert(next);
            if at == next {
                latest
                    .values
                    .resize(latest.values.len() + names.len(), None);
            }
            let slots = latest.values.iter_mut().skip(at * names.len());
            for (slot, column) in slots.zip(rows.values.iter_mut()) {
                if let Some(value) = column.get_mut(row).and_then(Option::take) {
                    *slot = Some(value);
                }
            }
        }
    }
    Ok(latest)
}

/// Appends the delayed records of `uuid` that no resolved segment row holds: those in the
/// heads, and stored orphans whose prediction is not flushed yet.
fn unstored_delayed(snapshot: &Snapshot, uuid: &Uuid, out: &mut Vec<DelayedRecord>) -> Result<()> {
    if snapshot.orphans.contains(uuid) {
        snapshot.stored_orphans(uuid, out)?;
    }
    snapshot.head_delayed(uuid, out);
    Ok(())
}

/// Sets the last value of each column of `names` whose metric `metrics` holds. A name asked
/// for twice has two columns, and both get the value.
fn apply_last(
    columns: &mut [Vec<Option<Value>>],
    names: &[&str],
    metrics: &[crate::value::Metric],
) {
    for metric in metrics {
        for (name, column) in names.iter().zip(columns.iter_mut()) {
            if *name == metric.name
                && let Some(slot) = column.last_mut()
            {
                *slot = Some(metric.value.clone());
            }
        }
    }
}
