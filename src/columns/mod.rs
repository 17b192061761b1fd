//! Window reads as columns: one vector per metric instead of one `Prediction` per row.
//!
//! `Store::read_columns` returns what `read_metrics` returns for the metrics asked for, in the
//! same row order, but decodes only those metrics and allocates per column rather than per row
//! and metric. A monitoring job that needs a score and a label reads them this way. Each
//! metric comes back as a [`Column`] of its type, decoded from the segments without a `Value`
//! per row.

mod build;
mod column;

use uuid::Uuid;

use crate::error::Result;
use crate::query::Snapshot;
use crate::record::{PredictionRecord, Seq};
use crate::segment::{DelayedColumns, PredictionColumns};

pub(crate) use build::CellType;
pub use column::{Column, ColumnValues};

/// The predictions of one window as columns: entry `i` of every vector belongs to the same
/// prediction. Rows are in timestamp order, ties in tracking order, as `read_metrics` returns
/// them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    pub uuids: Vec<Uuid>,
    pub timestamps: Vec<i64>,
    /// One column per inline metric asked for, in the order asked: the value of each row,
    /// absent where the prediction lacks the metric.
    pub metrics: Vec<Column>,
    /// One column per delayed metric asked for, in the order asked: the latest value tracked
    /// for each row's prediction, absent where none was.
    pub delayed: Vec<Column>,
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
    window: (i64, i64),
    metrics: &[&str],
    delayed: &[&str],
) -> Result<Columns> {
    let (mut out, seqs) = read_predictions(snapshot, model, window, metrics)?;
    out.delayed = (0..delayed.len())
        .map(|_| Column::absent(out.len()))
        .collect();
    if !delayed.is_empty() && !out.is_empty() {
        join_delayed(snapshot, model, window, delayed, (&mut out, &seqs))?;
    }
    out.metrics.iter_mut().for_each(Column::normalize);
    out.delayed.iter_mut().for_each(Column::normalize);
    Ok(out)
}

/// Reads the visible predictions of the window with their inline metrics `metrics`, and
/// returns each row's seq. The delayed columns are left empty.
fn read_predictions(
    snapshot: &Snapshot,
    model: &str,
    (start_ms, end_ms): (i64, i64),
    metrics: &[&str],
) -> Result<(Columns, Vec<Seq>)> {
    let mut rows = PredictionColumns::default();
    rows.values.resize_with(metrics.len(), Column::default);
    // Each segment and each head returns its rows in (timestamp, seq) order, so the order only
    // needs checking where the rows of one source meet those of the next.
    let mut starts = Vec::new();
    for segment in snapshot.segments.values() {
        starts.push(rows.timestamps.len());
        segment.prediction_columns(model, (start_ms, end_ms), metrics, &mut rows)?;
    }
    for head in snapshot.heads() {
        let found = head
            .read()
            .predictions_in(model, start_ms, end_ms, snapshot.seq_limit);
        starts.push(rows.timestamps.len());
        push_head_rows(&mut rows, found, metrics);
    }
    let keys = (&rows.timestamps[..], &rows.seqs[..]);
    let sorted = starts.iter().all(|&start| sorted_at(keys, start));
    Ok(visible_rows(snapshot, model, rows, sorted))
}

/// Fills the delayed columns of `out`, whose rows have the seqs `seqs`, with the latest value
/// of each delayed metric `names`: from the segments first, then from the records that no
/// segment row contains.
fn join_delayed(
    snapshot: &Snapshot,
    model: &str,
    window: (i64, i64),
    names: &[&str],
    (out, seqs): (&mut Columns, &[Seq]),
) -> Result<()> {
    let mut stored = stored_delayed(snapshot, model, window, names)?;
    join_stored(&mut stored, (&out.timestamps, seqs), &mut out.delayed);
    // Records tracked after the snapshot are invisible to it, so heads without delayed records
    // now need no lookup per row.
    let unstored =
        !snapshot.orphans.is_empty() || snapshot.heads().any(|h| !h.read().delayed.is_empty());
    if unstored {
        join_unstored(snapshot, &out.uuids, names, &mut out.delayed)?;
    }
    Ok(())
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

/// Returns whether the row before `row` sorts at or before it by the (timestamp, seq) keys in
/// `keys`. Returns true at the first row and past the end.
fn sorted_at((timestamps, seqs): (&[i64], &[Seq]), row: usize) -> bool {
    let key = |row: usize| Some((*timestamps.get(row)?, *seqs.get(row)?));
    match (row.checked_sub(1).and_then(key), key(row)) {
        (Some(before), Some(at)) => before <= at,
        _ => true,
    }
}

/// Returns the rows that no deletion hides, in (timestamp, seq) order, with each row's seq.
/// `sorted` is true when `rows` are in that order already. The delayed columns are left empty.
///
/// Segments and heads each return sorted rows, so when they do not overlap and nothing is
/// deleted, the vectors move to the output whole.
fn visible_rows(
    snapshot: &Snapshot,
    model: &str,
    mut rows: PredictionColumns,
    sorted: bool,
) -> (Columns, Vec<Seq>) {
    if sorted && snapshot.deletions.is_empty() {
        let out = Columns {
            uuids: rows.uuids,
            timestamps: rows.timestamps,
            metrics: rows.values,
            delayed: Vec::new(),
        };
        return (out, rows.seqs);
    }
    let mut order: Vec<usize> = (0..rows.timestamps.len()).collect();
    if !sorted {
        order.sort_by_key(|&row| (rows.timestamps.get(row), rows.seqs.get(row)));
    }
    let hidden = |row: usize| match (rows.uuids.get(row), rows.seqs.get(row)) {
        (Some(uuid), Some(&seq)) => snapshot.deletions.hides_prediction(model, uuid, seq),
        _ => true,
    };
    order.retain(|&row| !hidden(row));
    let mut out = Columns {
        uuids: gather_copies(&rows.uuids, &order),
        timestamps: gather_copies(&rows.timestamps, &order),
        metrics: Vec::with_capacity(rows.values.len()),
        delayed: Vec::new(),
    };
    for column in &mut rows.values {
        out.metrics.push(column.take_rows(&order));
    }
    (out, gather_copies(&rows.seqs, &order))
}

fn gather_copies<T: Copy>(values: &[T], order: &[usize]) -> Vec<T> {
    order
        .iter()
        .filter_map(|&row| values.get(row).copied())
        .collect()
}

/// Collects the resolved delayed rows of the segments whose prediction lies in the window, in
/// (prediction timestamp, prediction seq) order. Rows of one prediction keep their order:
/// segments ascend by id and each lists a prediction's rows in seq order, so a later row is a
/// later record.
fn stored_delayed(
    snapshot: &Snapshot,
    model: &str,
    window: (i64, i64),
    names: &[&str],
) -> Result<StoredDelayed> {
    let mut rows = DelayedColumns::default();
    rows.values.resize_with(names.len(), Column::default);
    // Each segment returns its rows sorted by prediction, so the order only needs checking
    // where the rows of one segment meet those of the next.
    let mut starts = Vec::new();
    for segment in snapshot.segments.values() {
        starts.push(rows.prediction_seqs.len());
        segment.delayed_columns(model, window, names, &mut rows)?;
    }
    let keys = (&rows.prediction_timestamps[..], &rows.prediction_seqs[..]);
    let order = match starts.iter().all(|&start| sorted_at(keys, start)) {
        true => None,
        false => {
            let mut order: Vec<usize> = (0..rows.prediction_seqs.len()).collect();
            // A stable sort, so that the rows of one prediction stay in segment order.
            order.sort_by_key(|&row| {
                (
                    rows.prediction_timestamps.get(row),
                    rows.prediction_seqs.get(row),
                )
            });
            Some(order)
        }
    };
    Ok(StoredDelayed { rows, order })
}

/// The resolved delayed rows of a window, and the order that sorts them by prediction when the
/// segments' rows, appended one segment after another, are not sorted already.
struct StoredDelayed {
    rows: DelayedColumns,
    order: Option<Vec<usize>>,
}

/// Moves the values of the stored delayed rows into `columns`, in a merge join with the output
/// rows whose (timestamp, seq) keys are `keys`, in ascending order. A later row of a
/// prediction replaces the values of an earlier one, metric by metric.
fn join_stored(stored: &mut StoredDelayed, keys: (&[i64], &[Seq]), columns: &mut [Column]) {
    let rows = &mut stored.rows;
    match &stored.order {
        Some(order) => merge_join(rows, order.iter().copied(), keys, columns),
        None => merge_join(rows, 0..rows.prediction_seqs.len(), keys, columns),
    }
}

fn merge_join(
    rows: &mut DelayedColumns,
    order: impl Iterator<Item = usize>,
    keys: (&[i64], &[Seq]),
    columns: &mut [Column],
) {
    let mut cursor = KeyCursor { keys, row: 0 };
    // The (output row, stored row) pairs that match, in stored order.
    let mut pairs = Vec::with_capacity(rows.prediction_seqs.len().min(keys.0.len()));
    for entry in order {
        let (Some(&timestamp), Some(&seq)) = (
            rows.prediction_timestamps.get(entry),
            rows.prediction_seqs.get(entry),
        ) else {
            continue;
        };
        let Some(row) = cursor.seek((timestamp, seq)) else {
            break;
        };
        if cursor.matches(row, (timestamp, seq)) {
            pairs.push((row, entry));
        }
    }
    for (column, values) in columns.iter_mut().zip(rows.values.iter_mut()) {
        column.take_pairs(&pairs, values);
    }
}

/// A position in ascending (timestamp, seq) keys that only moves forward.
struct KeyCursor<'a> {
    keys: (&'a [i64], &'a [Seq]),
    row: usize,
}

impl KeyCursor<'_> {
    /// Moves to the first row whose key is at least `key` and returns it, or `None` when every
    /// row's key is less.
    fn seek(&mut self, key: (i64, Seq)) -> Option<usize> {
        let (timestamps, seqs) = self.keys;
        while let (Some(&timestamp), Some(&seq)) = (timestamps.get(self.row), seqs.get(self.row)) {
            if (timestamp, seq) >= key {
                return Some(self.row);
            }
            self.row += 1;
        }
        None
    }

    fn matches(&self, row: usize, key: (i64, Seq)) -> bool {
        let (timestamps, seqs) = self.keys;
        (timestamps.get(row).copied(), seqs.get(row).copied()) == (Some(key.0), Some(key.1))
    }
}

/// Applies the delayed records that no resolved segment row contains to the rows of `uuids`:
/// those in the heads, and stored orphans whose prediction is not flushed yet. They are newer
/// than any segment row, so they replace the stored values.
fn join_unstored(
    snapshot: &Snapshot,
    uuids: &[Uuid],
    names: &[&str],
    columns: &mut [Column],
) -> Result<()> {
    let mut late = Vec::new();
    for (row, uuid) in uuids.iter().enumerate() {
        late.clear();
        if snapshot.orphans.contains(uuid) {
            snapshot.stored_orphans(uuid, &mut late)?;
        }
        snapshot.head_delayed(uuid, &mut late);
        late.sort_by_key(|d| d.seq);
        for record in late.drain(..) {
            apply_metrics(columns, row, names, &record.metrics.0);
        }
    }
    Ok(())
}

/// Sets row `row` of each column of `names` whose metric `metrics` contains. A name requested
/// twice has two columns, and both get the value.
fn apply_metrics(
    columns: &mut [Column],
    row: usize,
    names: &[&str],
    metrics: &[crate::value::Metric],
) {
    for metric in metrics {
        for (name, column) in names.iter().zip(columns.iter_mut()) {
            if *name == metric.name {
                column.set(row, metric.value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
