//! One metric of a window read as a typed column.

use crate::rows::ValueRef;
use crate::value::Value;

/// The values of one metric for the rows of a window read, stored by type.
///
/// A metric tracked with one type has its values in a vector of that type, one entry per row,
/// and a presence flag per row. A row without the metric has the type's default value (0.0,
/// 0, `false`, an empty string or payload) and is not present. A metric tracked with several
/// types within the window keeps each value exactly in a `Vec<Option<Value>>`.
///
/// ```
/// # fn main() -> modelmetrics::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use modelmetrics::{Metrics, Store, Uuid, Value};
///
/// let store = Store::open(dir.path())?;
/// let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
/// store.track_metrics("m", first, 10, &Metrics::new().with("score", 0.25))?;
/// store.track_metrics("m", second, 20, &Metrics::new().with("score", 0.75))?;
/// store.track_delayed_metrics(second, 30, &Metrics::new().with("label", true))?;
///
/// let columns = store.read_columns("m", (0, 100), &["score"], &["label"])?;
/// let scores = &columns.metrics[0];
/// assert_eq!(scores.as_f64(), Some(&[0.25, 0.75][..]));
/// assert!(scores.all_present());
///
/// let labels = &columns.delayed[0];
/// assert_eq!(labels.as_bool(), Some(&[false, true][..]));
/// assert!(!labels.is_present(0));
/// assert_eq!(labels.get(1), Some(Value::Bool(true)));
/// assert_eq!(labels.iter().collect::<Vec<_>>(), [None, Some(Value::Bool(true))]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Column {
    pub(super) len: usize,
    /// The presence flag of each row, or `None` when every row has a value.
    pub(super) presence: Option<Vec<bool>>,
    pub(super) values: ColumnValues,
    /// The row count to allocate for when the first value gives an `Empty` column its type.
    pub(super) capacity: usize,
}

/// The values of a [`Column`], one entry per row except in `Empty`.
#[derive(Clone, Debug, Default)]
pub enum ColumnValues {
    /// No row has a value, or the column has no rows.
    #[default]
    Empty,
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Bytes(Vec<Vec<u8>>),
    /// Values of more than one type: `None` where a row lacks the metric.
    Mixed(Vec<Option<Value>>),
}

impl Column {
    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns whether row `row` has a value; false past the last row.
    #[inline(always)]
    pub fn is_present(&self, row: usize) -> bool {
        match &self.presence {
            None => row < self.len,
            Some(presence) => presence.get(row).copied().unwrap_or(false),
        }
    }

    /// Returns whether every row has a value.
    pub fn all_present(&self) -> bool {
        match &self.presence {
            None => true,
            Some(presence) => presence.iter().all(|present| *present),
        }
    }

    /// Returns the presence flag of each row, or `None` when every row has a value.
    pub fn presence(&self) -> Option<&[bool]> {
        self.presence.as_deref()
    }

    /// Returns the number of rows that have a value.
    pub fn present_count(&self) -> usize {
        match &self.presence {
            None => self.len,
            // A sum of the flags as integers compiles to a vectorized loop, unlike a filter.
            Some(presence) => presence.iter().map(|&present| usize::from(present)).sum(),
        }
    }

    /// Returns the values by type.
    pub fn values(&self) -> &ColumnValues {
        &self.values
    }

    /// Returns the f64 of every row when the column stores f64 values, 0.0 where a row lacks
    /// one. Returns `None` for other types, several types, or a column without values.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.values {
            ColumnValues::F64(values) => Some(values),
            _ => None,
        }
    }

    /// Returns the i64 of every row when the column stores i64 values, 0 where a row lacks one.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.values {
            ColumnValues::I64(values) => Some(values),
            _ => None,
        }
    }

    /// Returns the flag of every row when the column stores bool values, `false` where a row
    /// lacks one.
    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.values {
            ColumnValues::Bool(values) => Some(values),
            _ => None,
        }
    }

    /// Returns the string of every row when the column stores strings, empty where a row lacks
    /// one.
    pub fn as_str(&self) -> Option<&[String]> {
        match &self.values {
            ColumnValues::Str(values) => Some(values),
            _ => None,
        }
    }

    /// Returns the payload of every row when the column stores bytes, empty where a row lacks
    /// one.
    pub fn as_bytes(&self) -> Option<&[Vec<u8>]> {
        match &self.values {
            ColumnValues::Bytes(values) => Some(values),
            _ => None,
        }
    }

    /// Returns a copy of the value of row `row`, or `None` where the row lacks the metric or
    /// is past the last row.
    pub fn get(&self, row: usize) -> Option<Value> {
        if !self.is_present(row) {
            return None;
        }
        match &self.values {
            ColumnValues::Empty => None,
            ColumnValues::F64(values) => values.get(row).copied().map(Value::F64),
            ColumnValues::I64(values) => values.get(row).copied().map(Value::I64),
            ColumnValues::Bool(values) => values.get(row).copied().map(Value::Bool),
            ColumnValues::Str(values) => values.get(row).cloned().map(Value::Str),
            ColumnValues::Bytes(values) => values.get(row).cloned().map(Value::Bytes),
            ColumnValues::Mixed(values) => values.get(row).cloned().flatten(),
        }
    }

    /// Returns the value of row `row` borrowed from the column, or `None` where the row lacks
    /// the metric or is past the last row.
    #[inline(always)]
    pub fn get_ref(&self, row: usize) -> Option<ValueRef<'_>> {
        if !self.is_present(row) {
            return None;
        }
        match &self.values {
            ColumnValues::Empty => None,
            ColumnValues::F64(values) => values.get(row).copied().map(ValueRef::F64),
            ColumnValues::I64(values) => values.get(row).copied().map(ValueRef::I64),
            ColumnValues::Bool(values) => values.get(row).copied().map(ValueRef::Bool),
            ColumnValues::Str(values) => values.get(row).map(|v| ValueRef::Str(v)),
            ColumnValues::Bytes(values) => values.get(row).map(|v| ValueRef::Bytes(v)),
            ColumnValues::Mixed(values) => values.get(row)?.as_ref().map(ValueRef::from),
        }
    }

    /// Iterates over the rows as `get` returns them.
    pub fn iter(&self) -> impl Iterator<Item = Option<Value>> + '_ {
        (0..self.len).map(|row| self.get(row))
    }

    /// Returns the values of every row as `get` returns them.
    pub fn to_values(&self) -> Vec<Option<Value>> {
        self.iter().collect()
    }
}

/// Columns are equal when they have the same rows with the same values, however stored: a
/// column of f64 values equals a mixed column with the same values.
impl PartialEq for Column {
    fn eq(&self, other: &Column) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl FromIterator<Option<Value>> for Column {
    fn from_iter<I: IntoIterator<Item = Option<Value>>>(values: I) -> Column {
        let mut column = Column::default();
        for value in values {
            column.push(value);
        }
        column
    }
}

impl From<Vec<Option<Value>>> for Column {
    fn from(values: Vec<Option<Value>>) -> Column {
        values.into_iter().collect()
    }
}
