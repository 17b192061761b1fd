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
    fn new(value_type: ValueType) -> Values<'a> {
        match value_type {
            ValueType::F64 => Values::F64(Vec::new()),
            ValueType::I64 => Values::I64(Vec::new()),
            ValueType::Bool => Values::Bool(Vec::new()),
            ValueType::Str => Values::Str(Vec::new()),
            ValueType::Bytes => Values::Bytes(Vec::new()),
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
    presence: Vec<bool>,
    present: u32,
    values: Values<'a>,
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
                Some(id) => Some(id),
                None => index.id(&metric.name, value_type),
            };
            // The index was built from these records, so every metric has a column.
            let Some(id) = id else {
                continue;
            };
            previous.set(position, &metric.name, value_type, id);
            let Some(slot) = builders.get_mut(id as usize) else {
                continue;
            };
            let builder = slot.get_or_insert_with(|| ColumnBuilder {
                id,
                value_type,
                presence: Vec::with_capacity(rows.len()),
                present: 0,
                values: Values::new(value_type),
            });
            if builder.presence.len() > row {
                return Err(Error::invalid(
                    "metrics",
                    crate::value::preview(&metric.name),
                    "a record holds this metric twice: pass each metric once",
                ));
            }
            builder.presence.resize(row, false);
            builder.presence.push(true);
            builder.present += 1;
            builder.values.push(&metric.value);
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
        builder.presence.resize(rows, false);
        let mut bitmap = Vec::new();
        codec::bitmap::encode(&builder.presence, &mut bitmap);
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
