//! Encoding of the metric columns of one block: a presence bitmap and the values of one
//! (metric name, value type) pair.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;

use crate::batch::MetricColumn;
use crate::codec::{self, put_len_prefixed};
use crate::error::{Error, Result};
use crate::segment::footer::ColumnDef;
use crate::segment::layout::ValueType;
use crate::value::{Metrics, Value};

/// Maps each (metric name, value type) of a segment to its index in the column directory.
pub(crate) struct ColumnIndex<'a> {
    ids: HashMap<(&'a str, ValueType), u32>,
}

impl ColumnIndex<'_> {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn id(&self, name: &str, value_type: ValueType) -> Option<u32> {
        self.ids.get(&(name, value_type)).copied()
    }
}

/// A column directory being built from the rows of a segment in row order: each (metric name,
/// value type) gets the next id at its first appearance.
///
/// Reads return each row's metrics in directory order, so a model whose records list their
/// metrics in one order gets them back in that order.
#[derive(Default)]
pub(crate) struct ColumnIndexBuilder<'a> {
    ids: HashMap<(&'a str, ValueType), u32>,
    defs: Vec<ColumnDef>,
    previous: RowPattern<'a>,
}

impl<'a> ColumnIndexBuilder<'a> {
    /// Adds the metrics of one row.
    pub fn add_metrics(&mut self, metrics: &'a Metrics) {
        for (position, metric) in metrics.iter().enumerate() {
            self.add(position, &metric.name, ValueType::of(&metric.value));
        }
    }

    /// Adds the metric at `position` in its row.
    pub fn add(&mut self, position: usize, name: &'a str, value_type: ValueType) {
        if self.previous.get(position, name, value_type).is_some() {
            return;
        }
        let id = match self.ids.entry((name, value_type)) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                let id = self.defs.len() as u32;
                entry.insert(id);
                self.defs.push(ColumnDef {
                    name: name.to_owned(),
                    value_type,
                });
                id
            }
        };
        self.previous.set(position, name, value_type, id);
    }

    pub fn finish(self) -> (ColumnIndex<'a>, Vec<ColumnDef>) {
        (ColumnIndex { ids: self.ids }, self.defs)
    }
}

/// The column ids of the previous row's metrics by position. A model usually tracks the same
/// metrics in the same order in every record, so comparing a name with the one at its position
/// in the previous row replaces most hash lookups.
#[derive(Default)]
struct RowPattern<'a> {
    columns: Vec<(&'a str, ValueType, u32)>,
}

impl<'a> RowPattern<'a> {
    fn get(&self, position: usize, name: &str, value_type: ValueType) -> Option<u32> {
        match self.columns.get(position) {
            Some(&(seen, seen_type, id)) if seen_type == value_type && seen == name => Some(id),
            _ => None,
        }
    }

    fn set(&mut self, position: usize, name: &'a str, value_type: ValueType, id: u32) {
        match self.columns.get_mut(position) {
            Some(slot) => *slot = (name, value_type, id),
            None => self.columns.push((name, value_type, id)),
        }
    }
}

/// The values of one metric column within one block, borrowed from records or batch arrays.
enum Values<'a> {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<&'a str>),
    Bytes(Vec<&'a [u8]>),
}

impl<'a> Values<'a> {
    fn with_capacity(value_type: ValueType, capacity: usize) -> Values<'a> {
        match value_type {
            ValueType::F64 => Values::F64(Vec::with_capacity(capacity)),
            ValueType::I64 => Values::I64(Vec::with_capacity(capacity)),
            ValueType::Bool => Values::Bool(Vec::with_capacity(capacity)),
            ValueType::Str => Values::Str(Vec::with_capacity(capacity)),
            ValueType::Bytes => Values::Bytes(Vec::with_capacity(capacity)),
        }
    }

    /// Appends `value`, which has the column's type because the column is keyed by it.
    fn push(&mut self, value: &'a Value) {
        match (self, value) {
            (Values::F64(values), Value::F64(v)) => values.push(*v),
            (Values::I64(values), Value::I64(v)) => values.push(*v),
            (Values::Bool(values), Value::Bool(v)) => values.push(*v),
            (Values::Str(values), Value::Str(v)) => values.push(v),
            (Values::Bytes(values), Value::Bytes(v)) => values.push(v),
            _ => {}
        }
    }

    /// Appends the values at `rows` of `column`, which has the column's type because the
    /// column is keyed by it.
    fn extend_from(&mut self, column: &'a MetricColumn, rows: impl Iterator<Item = usize>) {
        match (self, column) {
            (Values::F64(values), MetricColumn::F64(c)) => {
                values.extend(rows.filter_map(|row| c.get(row).copied()))
            }
            (Values::I64(values), MetricColumn::I64(c)) => {
                values.extend(rows.filter_map(|row| c.get(row).copied()))
            }
            (Values::Bool(values), MetricColumn::Bool(c)) => {
                values.extend(rows.filter_map(|row| c.get(row).copied()))
            }
            (Values::Str(values), MetricColumn::Str(c)) => {
                values.extend(rows.filter_map(|row| c.get(row).map(String::as_str)))
            }
            (Values::Bytes(values), MetricColumn::Bytes(c)) => {
                values.extend(rows.filter_map(|row| c.get(row).map(Vec::as_slice)))
            }
            _ => {}
        }
    }

    fn encode(&self, zstd_level: i32, out: &mut Vec<u8>) {
        match self {
            Values::F64(values) => codec::floats::encode(values, out),
            Values::I64(values) => codec::ints::encode(values, out),
            Values::Bool(values) => codec::bools::encode(values, out),
            Values::Str(values) => codec::strings::encode(values, out),
            Values::Bytes(values) => codec::blobs::encode(values, zstd_level, out),
        }
    }
}

/// One metric column of one block while it is being filled.
struct ColumnBuilder<'a> {
    id: u32,
    value_type: ValueType,
    /// Presence flag of each row so far, or `None` while rows `0..next_row` all have a value.
    /// So the usual block, where every row has every metric, needs no flag per value.
    presence: Option<Vec<bool>>,
    /// The row after the last row with a value.
    next_row: usize,
    present: u32,
    values: Values<'a>,
}

impl<'a> ColumnBuilder<'a> {
    /// Starts a column of a block of `rows` rows.
    fn new(id: u32, value_type: ValueType, rows: usize) -> ColumnBuilder<'a> {
        ColumnBuilder {
            id,
            value_type,
            presence: None,
            next_row: 0,
            present: 0,
            values: Values::with_capacity(value_type, rows),
        }
    }

    /// Appends the value of row `row`, or returns false when this row has a value already.
    ///
    /// Rows come in increasing order, and `rows` is the block's row count.
    fn push(&mut self, row: usize, value: &'a Value, rows: usize) -> bool {
        if !self.mark(row..row + 1, rows) {
            return false;
        }
        self.values.push(value);
        true
    }

    /// Marks the rows in `present` as having a value, or returns false when one of them has a
    /// value already. The caller appends their values.
    fn mark(&mut self, present: Range<usize>, rows: usize) -> bool {
        if present.start < self.next_row {
            return false;
        }
        match &mut self.presence {
            None if present.start == self.next_row => {}
            None => {
                let mut presence = Vec::with_capacity(rows);
                presence.resize(self.next_row, true);
                presence.resize(present.start, false);
                presence.resize(present.end, true);
                self.presence = Some(presence);
            }
            Some(presence) => {
                presence.resize(present.start, false);
                presence.resize(present.end, true);
            }
        }
        self.present += present.len() as u32;
        self.next_row = present.end;
        true
    }

    /// Takes the presence flags of the block's `rows` rows: true where the row has a value.
    fn take_presence(&mut self, rows: usize) -> Vec<bool> {
        let presence = self.presence.take();
        let mut presence = presence.unwrap_or_else(|| vec![true; self.next_row]);
        presence.resize(rows, false);
        presence
    }
}

/// One encoded metric column of one block.
pub(crate) struct EncodedColumn {
    pub id: u32,
    pub present: u32,
    pub value_type: ValueType,
    /// The len-prefixed presence bitmap (left out when every row has a value), then the values.
    pub bytes: Vec<u8>,
    /// The first byte of the values: the codec's mode tag for floats and ints.
    pub mode: u8,
}

/// Encodes the metric columns of one block's rows, in directory order.
///
/// Fails when a record contains two metrics with the same name and type, which the store's input
/// checks reject.
pub(crate) fn encode_metric_columns(
    index: &ColumnIndex<'_>,
    rows: &[&Metrics],
    zstd_level: i32,
) -> Result<Vec<EncodedColumn>> {
    let mut block = BlockColumns::new(index, rows.len());
    for metrics in rows {
        block.push_metrics(metrics)?;
    }
    Ok(block.encode(zstd_level))
}

/// The metric columns of one block while its rows are added in row order, from records or
/// from the arrays of columnar batches.
pub(crate) struct BlockColumns<'a, 'i> {
    index: &'i ColumnIndex<'i>,
    builders: Vec<Option<ColumnBuilder<'a>>>,
    /// The block's row count.
    rows: usize,
    /// The row that the next push fills.
    next_row: usize,
    previous: RowPattern<'a>,
}

impl<'a, 'i> BlockColumns<'a, 'i> {
    /// Starts the columns of a block of `rows` rows.
    pub fn new(index: &'i ColumnIndex<'i>, rows: usize) -> Self {
        let mut builders = Vec::new();
        builders.resize_with(index.len(), || None);
        BlockColumns {
            index,
            builders,
            rows,
            next_row: 0,
            previous: RowPattern::default(),
        }
    }

    /// Adds the next row from the metrics of a record.
    pub fn push_metrics(&mut self, metrics: &'a Metrics) -> Result<()> {
        let (row, rows) = (self.next_row, self.rows);
        self.next_row += 1;
        for (position, metric) in metrics.iter().enumerate() {
            let value_type = ValueType::of(&metric.value);
            let id = match self.previous.get(position, &metric.name, value_type) {
                Some(id) => id,
                // The index was built from these records, so every metric has a column.
                None => match self.index.id(&metric.name, value_type) {
                    Some(id) => {
                        self.previous.set(position, &metric.name, value_type, id);
                        id
                    }
                    None => continue,
                },
            };
            let Some(builder) = self.builder(id, value_type) else {
                continue;
            };
            if !builder.push(row, &metric.value, rows) {
                return Err(Error::invalid(
                    "metrics",
                    crate::value::preview(&metric.name),
                    "a record holds this metric twice: pass each metric once",
                ));
            }
        }
        Ok(())
    }

    /// Adds the next `count` rows from the arrays of one columnar batch. `columns` are the
    /// batch's metric columns with their directory ids, and `batch_rows` yields the batch row
    /// of each added row.
    pub fn push_batch_rows(
        &mut self,
        columns: &[(u32, &'a MetricColumn)],
        batch_rows: impl Iterator<Item = usize> + Clone,
        count: usize,
    ) -> Result<()> {
        let (present, rows) = (self.next_row..self.next_row + count, self.rows);
        self.next_row = present.end;
        for &(id, column) in columns {
            let Some(builder) = self.builder(id, ValueType::of_column(column)) else {
                continue;
            };
            if !builder.mark(present.clone(), rows) {
                return Err(Error::invalid(
                    "metric column",
                    format!("column {id}"),
                    "a columnar batch contains this metric twice: pass each metric once",
                ));
            }
            builder.values.extend_from(column, batch_rows.clone());
        }
        Ok(())
    }

    fn builder(&mut self, id: u32, value_type: ValueType) -> Option<&mut ColumnBuilder<'a>> {
        let rows = self.rows;
        let slot = self.builders.get_mut(id as usize)?;
        Some(slot.get_or_insert_with(|| ColumnBuilder::new(id, value_type, rows)))
    }

    /// Encodes the columns that have a value in at least one row, in directory order.
    pub fn encode(self, zstd_level: i32) -> Vec<EncodedColumn> {
        let rows = self.rows;
        let columns = self.builders.into_iter().flatten();
        columns
            .map(|builder| encode_column(builder, rows, zstd_level))
            .collect()
    }
}

fn encode_column(mut builder: ColumnBuilder<'_>, rows: usize, zstd_level: i32) -> EncodedColumn {
    let mut bytes = Vec::new();
    if (builder.present as usize) < rows {
        let presence = builder.take_presence(rows);
        let mut bitmap = Vec::new();
        codec::bitmap::encode(&presence, &mut bitmap);
        put_len_prefixed(&mut bytes, &bitmap);
    }
    let values_start = bytes.len();
    builder.values.encode(zstd_level, &mut bytes);
    EncodedColumn {
        mode: match builder.value_type.encoding().has_mode() {
            true => bytes.get(values_start).copied().unwrap_or_default(),
            false => 0,
        },
        id: builder.id,
        present: builder.present,
        value_type: builder.value_type,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn presence_matches_rows_with_values(flags in proptest::collection::vec(any::<bool>(), 0..200)) {
            let value = Value::F64(0.5);
            let mut builder = ColumnBuilder::new(0, ValueType::F64, flags.len());
            for (row, _) in flags.iter().enumerate().filter(|(_, flag)| **flag) {
                prop_assert!(builder.push(row, &value, flags.len()));
            }
            let present = flags.iter().filter(|flag| **flag).count();
            prop_assert_eq!(builder.present as usize, present);
            prop_assert_eq!(builder.take_presence(flags.len()), flags);
        }
    }

    #[test]
    fn push_rejects_duplicate_row() {
        let value = Value::F64(0.5);
        let mut builder = ColumnBuilder::new(0, ValueType::F64, 4);
        assert!(builder.push(0, &value, 4));
        assert!(!builder.push(0, &value, 4));
        assert!(builder.push(2, &value, 4));
        assert!(!builder.push(2, &value, 4));
        assert!(!builder.push(1, &value, 4));
        assert_eq!(builder.present, 2);
        assert_eq!(builder.take_presence(4), vec![true, false, true, false]);
    }
}
