//! Encoding of the metric columns of one block: a presence bitmap and the values of one
//! (metric name, value type) pair.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::codec::{self, put_len_prefixed};
use crate::error::{Error, Result};
use crate::segment::footer::ColumnDef;
use crate::segment::layout::ValueType;
use crate::value::{Metrics, Value};

/// Maps each (metric name, value type) of a segment to its index in the column directory.
pub(crate) struct ColumnIndex<'a> {
    ids: HashMap<(&'a str, ValueType), u32>,
}

impl<'a> ColumnIndex<'a> {
    /// Builds the directory of every metric in `rows`, in order of first appearance.
    ///
    /// Reads return each row's metrics in directory order, so a model whose records list their
    /// metrics in one order gets them back in that order.
    pub fn build(rows: impl Iterator<Item = &'a Metrics>) -> (ColumnIndex<'a>, Vec<ColumnDef>) {
        let mut ids = HashMap::new();
        let mut defs = Vec::new();
        let mut previous = RowPattern::default();
        for metrics in rows {
            for (position, metric) in metrics.iter().enumerate() {
                let value_type = ValueType::of(&metric.value);
                if previous.get(position, &metric.name, value_type).is_some() {
                    continue;
                }
                let key = (metric.name.as_str(), value_type);
                let id = match ids.entry(key) {
                    Entry::Occupied(entry) => *entry.get(),
                    Entry::Vacant(entry) => {
                        let id = defs.len() as u32;
                        entry.insert(id);
                        defs.push(ColumnDef {
                            name: metric.name.clone(),
                            value_type,
                        });
                        id
                    }
                };
                previous.set(position, &metric.name, value_type, id);
            }
        }
        (ColumnIndex { ids }, defs)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    fn id(&self, name: &str, value_type: ValueType) -> Option<u32> {
        self.ids.get(&(name, value_type)).copied()
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

/// The values of one metric column within one block, borrowed from the records.
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
        if row < self.next_row {
            return false;
        }
        match &mut self.presence {
            None if row == self.next_row => {}
            None => {
                let mut presence = Vec::with_capacity(rows);
                presence.resize(self.next_row, true);
                presence.resize(row, false);
                presence.push(true);
                self.presence = Some(presence);
            }
            Some(presence) => {
                presence.resize(row, false);
                presence.push(true);
            }
        }
        self.next_row = row + 1;
        self.present += 1;
        self.values.push(value);
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
pub(crate) fn encode_metric_columns<'a>(
    index: &ColumnIndex<'_>,
    rows: &[&'a Metrics],
    zstd_level: i32,
) -> Result<Vec<EncodedColumn>> {
    let mut builders: Vec<Option<ColumnBuilder<'a>>> = Vec::new();
    builders.resize_with(index.len(), || None);
    let mut previous = RowPattern::default();
    for (row, metrics) in rows.iter().enumerate() {
        for (position, metric) in metrics.iter().enumerate() {
            let value_type = ValueType::of(&metric.value);
            let id = match previous.get(position, &metric.name, value_type) {
                Some(id) => id,
                // The index was built from these records, so every metric has a column.
                None => match index.id(&metric.name, value_type) {
                    Some(id) => {
                        previous.set(position, &metric.name, value_type, id);
                        id
                    }
                    None => continue,
                },
            };
            let Some(slot) = builders.get_mut(id as usize) else {
                continue;
            };
            let builder =
                slot.get_or_insert_with(|| ColumnBuilder::new(id, value_type, rows.len()));
            if !builder.push(row, &metric.value, rows.len()) {
                return Err(Error::invalid(
                    "metrics",
                    crate::value::preview(&metric.name),
                    "a record holds this metric twice: pass each metric once",
                ));
            }
        }
    }

    let columns = builders.into_iter().flatten();
    Ok(columns
        .map(|builder| encode_column(builder, rows.len(), zstd_level))
        .collect())
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
