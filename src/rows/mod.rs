//! Window reads as borrowed rows: `Store::scan_metrics` visits each prediction as a
//! [`PredictionRef`] that borrows its model, metric names and values from the decoded window.
//!
//! The scan decodes the window a slice at a time into typed columns, as `read_columns` does,
//! with every metric that a segment or head of the snapshot names. Each row then points into
//! those columns, so visiting a row allocates nothing.

mod named;
mod row;
mod value_ref;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use crate::columns::{self, Column, Columns};
use crate::error::Result;
use crate::query::{self, Snapshot};
use crate::segment::Table;
use named::NamedColumn;

use row::SliceRows;
pub use row::{MetricsRef, PredictionRef};
pub use value_ref::ValueRef;

/// The return type of a scan's visitor: `()` to go on to the next row, or a `ControlFlow<()>`
/// whose `Break` ends the scan after the row it was returned for.
pub trait ScanControl {
    /// Returns whether the scan stops after this row.
    fn stops(&self) -> bool;
}

impl ScanControl for () {
    #[inline]
    fn stops(&self) -> bool {
        false
    }
}

impl ScanControl for ControlFlow<()> {
    #[inline]
    fn stops(&self) -> bool {
        self.is_break()
    }
}

/// Calls `visit` with each prediction of `model` in `[start_ms, end_ms)`, in the order and with
/// the metrics that `read_metrics` returns for the same snapshot.
pub(crate) fn scan_metrics<C: ScanControl>(
    snapshot: &Snapshot,
    model: &str,
    window: (i64, i64),
    visit: impl FnMut(PredictionRef<'_>) -> C,
) -> Result<()> {
    let names = WindowNames::collect(snapshot, model, window);
    let inline: Vec<&str> = names.inline.iter().map(String::as_str).collect();
    let delayed: Vec<&str> = names.delayed.iter().map(String::as_str).collect();
    scan_names(snapshot, model, window, (&inline, &delayed), visit)
}

/// Calls `visit` with each prediction of `model` in `[start_ms, end_ms)` as `scan_metrics`
/// does, with only the inline metrics named in `metrics` and the delayed ones in `delayed`.
pub(crate) fn scan_selected<C: ScanControl>(
    snapshot: &Snapshot,
    model: &str,
    window: (i64, i64),
    (metrics, delayed): (&[&str], &[&str]),
    visit: impl FnMut(PredictionRef<'_>) -> C,
) -> Result<()> {
    let inline = sorted_unique(metrics);
    let delayed = sorted_unique(delayed);
    scan_names(snapshot, model, window, (&inline, &delayed), visit)
}

/// Returns `names` sorted as `read_metrics` sorts a prediction's metrics, each once.
fn sorted_unique<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// Decodes the window a slice at a time with the metrics `names`, sorted by name, and calls
/// `visit` with each row until it returns a break.
fn scan_names<C: ScanControl>(
    snapshot: &Snapshot,
    model: &str,
    (start_ms, end_ms): (i64, i64),
    (inline, delayed): (&[&str], &[&str]),
    mut visit: impl FnMut(PredictionRef<'_>) -> C,
) -> Result<()> {
    let mut cursor = start_ms;
    let mut slice_ms = query::FIRST_SLICE_MS;
    while cursor < end_ms {
        let end = cursor.saturating_add(slice_ms).min(end_ms);
        let slice = columns::read_columns(snapshot, model, (cursor, end), inline, delayed)?;
        if visit_slice(model, &slice, (inline, delayed), &mut visit).is_break() {
            break;
        }
        slice_ms = query::next_slice_ms(slice_ms, slice.len());
        cursor = end;
    }
    Ok(())
}

/// Calls `visit` with each row of `slice`, whose columns hold the metrics `names`, and breaks
/// at the first row for which `visit` returns a break.
fn visit_slice<C: ScanControl>(
    model: &str,
    slice: &Columns,
    (inline, delayed): (&[&str], &[&str]),
    visit: &mut impl FnMut(PredictionRef<'_>) -> C,
) -> ControlFlow<()> {
    // Columns without a value in this slice are left out, so a row looks only at the metrics
    // that some row of the slice has.
    let rows = SliceRows {
        model,
        uuids: &slice.uuids,
        timestamps: &slice.timestamps,
        metrics: present_columns(inline, &slice.metrics),
        delayed: present_columns(delayed, &slice.delayed),
    };
    let count = rows.uuids.len().min(rows.timestamps.len());
    for row in 0..count {
        if visit(rows.row(row)).stops() {
            return ControlFlow::Break(());
        }
    }
    ControlFlow::Continue(())
}

fn present_columns<'a>(names: &[&'a str], columns: &'a [Column]) -> Vec<NamedColumn<'a>> {
    let pairs = names.iter().copied().zip(columns);
    pairs
        .filter(|(_, column)| column.present_count() > 0)
        .map(|(name, column)| NamedColumn::new(name, column))
        .collect()
}

/// The metric names that a window read requests, each once and sorted as `read_metrics` sorts
/// a prediction's metrics, by `str::cmp`.
struct WindowNames {
    inline: BTreeSet<String>,
    delayed: BTreeSet<String>,
}

impl WindowNames {
    /// Collects every metric name the window's rows may have: the names of the metric columns
    /// of each segment's predictions and delayed records, those of the heads' predictions in the
    /// window, and those of the heads' delayed records. Stored orphans are delayed records of a
    /// segment, so their names are among the second.
    ///
    /// NOTE: the names of a segment's table are those of every model it stores, so a store
    /// with many models asks each block for names it lacks. That costs a lookup per block and
    /// name, not per row.
    fn collect(snapshot: &Snapshot, model: &str, (start_ms, end_ms): (i64, i64)) -> WindowNames {
        let mut names = WindowNames {
            inline: BTreeSet::new(),
            delayed: BTreeSet::new(),
        };
        for segment in snapshot.segments.values() {
            let inline = segment.metric_names(Table::Predictions);
            names.inline.extend(inline.map(str::to_owned));
            let delayed = segment.metric_names(Table::Delayed);
            names.delayed.extend(delayed.map(str::to_owned));
        }
        let mut records = Vec::new();
        for head in snapshot.heads() {
            let data = head.read();
            let limit = snapshot.seq_limit;
            for prediction in data.predictions_in(model, start_ms, end_ms, limit) {
                let metrics = prediction.metrics.0.into_iter();
                names.inline.extend(metrics.map(|metric| metric.name));
            }
            for uuid in data.delayed.keys() {
                data.delayed_of(uuid, limit, &mut records);
            }
        }
        for record in records {
            let metrics = record.metrics.0.into_iter();
            names.delayed.extend(metrics.map(|metric| metric.name));
        }
        names
    }
}
