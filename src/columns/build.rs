//! Filling a [`Column`] while a window is read: typed appends from decoded chunks, and the
//! value-by-value path that turns a column with two types into a mixed one.

use std::ops::Range;

use super::column::{Column, ColumnValues};
use crate::value::Value;

/// A type that a column stores in a vector of its own.
pub(crate) trait CellType: Clone + Default {
    /// Returns the vector of `values` when it contains this type.
    fn vec_mut(values: &mut ColumnValues) -> Option<&mut Vec<Self>>;
    fn into_values(values: Vec<Self>) -> ColumnValues;
    fn into_value(self) -> Value;
}

macro_rules! cell_type {
    ($type:ty, $variant:ident) => {
        impl CellType for $type {
            fn vec_mut(values: &mut ColumnValues) -> Option<&mut Vec<Self>> {
                match values {
                    ColumnValues::$variant(values) => Some(values),
                    _ => None,
                }
            }

            fn into_values(values: Vec<Self>) -> ColumnValues {
                ColumnValues::$variant(values)
            }

            fn into_value(self) -> Value {
                Value::$variant(self)
            }
        }
    };
}

cell_type!(f64, F64);
cell_type!(i64, I64);
cell_type!(bool, Bool);
cell_type!(String, Str);
cell_type!(Vec<u8>, Bytes);

impl Column {
    /// Returns a column of `len` rows, none of which has a value.
    pub(crate) fn absent(len: usize) -> Column {
        Column {
            len,
            presence: (len > 0).then(|| vec![false; len]),
            values: ColumnValues::Empty,
            capacity: len,
        }
    }

    /// Returns the vector of values of type `T` to append rows to, after turning a column
    /// without values into one of `T` with a default value for each row. Returns `None` when
    /// the column stores another type.
    ///
    /// The caller appends to the vector and then calls `mark_present` or `mark_rows` for the
    /// same rows, so the presence flags and `len` follow.
    pub(crate) fn typed_mut<T: CellType>(&mut self) -> Option<&mut Vec<T>> {
        if matches!(self.values, ColumnValues::Empty) {
            let mut values = Vec::with_capacity(self.capacity.max(self.len));
            values.resize(self.len, T::default());
            self.values = T::into_values(values);
        }
        T::vec_mut(&mut self.values)
    }

    /// Records `count` appended rows that all have a value.
    pub(crate) fn mark_present(&mut self, count: usize) {
        self.len += count;
        if let Some(presence) = &mut self.presence {
            presence.resize(self.len, true);
        }
    }

    /// Records appended rows with the presence flags `present`.
    pub(crate) fn mark_rows(&mut self, present: &[bool]) {
        if self.presence.is_none() && present.iter().any(|present| !present) {
            self.presence = Some(vec![true; self.len]);
        }
        self.len += present.len();
        if let Some(presence) = &mut self.presence {
            presence.extend_from_slice(present);
        }
    }

    /// Appends `count` rows without a value.
    pub(crate) fn push_absent(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        let presence = self.presence.get_or_insert_with(|| vec![true; self.len]);
        presence.resize(self.len + count, false);
        self.len += count;
        match &mut self.values {
            ColumnValues::Empty => {}
            ColumnValues::F64(values) => values.resize(self.len, 0.0),
            ColumnValues::I64(values) => values.resize(self.len, 0),
            ColumnValues::Bool(values) => values.resize(self.len, false),
            ColumnValues::Str(values) => values.resize(self.len, String::new()),
            ColumnValues::Bytes(values) => values.resize(self.len, Vec::new()),
            ColumnValues::Mixed(values) => values.resize(self.len, None),
        }
    }

    /// Appends one row: `value`, or no value.
    pub(crate) fn push(&mut self, value: Option<Value>) {
        let Some(value) = value else {
            self.push_absent(1);
            return;
        };
        let pushed = match value {
            Value::F64(v) => self.push_typed(v),
            Value::I64(v) => self.push_typed(v),
            Value::Bool(v) => self.push_typed(v),
            Value::Str(v) => self.push_typed(v),
            Value::Bytes(v) => self.push_typed(v),
        };
        if let Err(value) = pushed {
            self.make_mixed();
            if let ColumnValues::Mixed(values) = &mut self.values {
                values.push(Some(value));
            }
            self.mark_present(1);
        }
    }

    /// Appends `value` when the column stores `T` or no value, else returns it as a `Value`.
    fn push_typed<T: CellType>(&mut self, value: T) -> Result<(), Value> {
        match self.typed_mut::<T>() {
            Some(values) => {
                values.push(value);
                self.mark_present(1);
                Ok(())
            }
            None => Err(value.into_value()),
        }
    }

    /// Appends the values of the rows `rows` of a block chunk: `values` contains the value of
    /// each present row of the block, and `presence` flags the block's rows, `None` when all
    /// are present. A row whose value or flag is missing gets no value, so the column grows
    /// by `rows.len()` rows whatever the chunk decoded to.
    pub(crate) fn extend_block_rows<T: CellType>(
        &mut self,
        values: Vec<T>,
        presence: Option<&[bool]>,
        rows: Range<usize>,
    ) {
        let target = self.len + rows.len();
        match presence {
            None => {
                let values = values.into_iter().skip(rows.start).take(rows.len());
                self.extend_present(values);
            }
            Some(presence) => self.extend_flagged(values, presence, rows),
        }
        self.push_absent(target.saturating_sub(self.len));
    }

    /// Appends the rows `rows` of a block chunk whose rows `presence` flags, as
    /// `extend_block_rows` does.
    fn extend_flagged<T: CellType>(
        &mut self,
        values: Vec<T>,
        presence: &[bool],
        rows: Range<usize>,
    ) {
        let before = presence.get(..rows.start).unwrap_or_default();
        let skipped = before.iter().filter(|present| **present).count();
        let mut values = values.into_iter().skip(skipped);
        let flags = presence.get(rows).unwrap_or_default();
        let mut next = |present: bool| present.then(|| values.next()).flatten();
        match self.typed_mut::<T>() {
            Some(out) => {
                let mut present = Vec::with_capacity(flags.len());
                for &flag in flags {
                    let value = next(flag);
                    present.push(value.is_some());
                    out.push(value.unwrap_or_default());
                }
                self.mark_rows(&present);
            }
            None => {
                for &flag in flags {
                    self.push(next(flag).map(T::into_value));
                }
            }
        }
    }

    /// Appends rows that all have a value.
    fn extend_present<T: CellType>(&mut self, values: impl Iterator<Item = T>) {
        match self.typed_mut::<T>() {
            Some(out) => {
                let before = out.len();
                out.extend(values);
                let added = out.len() - before;
                self.mark_present(added);
            }
            None => values.for_each(|value| self.push(Some(value.into_value()))),
        }
    }

    /// Sets the value of row `row`, which exists, replacing any value it had.
    pub(crate) fn set(&mut self, row: usize, value: Value) {
        if row >= self.len {
            return;
        }
        let set = match value {
            Value::F64(v) => self.set_typed(row, v),
            Value::I64(v) => self.set_typed(row, v),
            Value::Bool(v) => self.set_typed(row, v),
            Value::Str(v) => self.set_typed(row, v),
            Value::Bytes(v) => self.set_typed(row, v),
        };
        if let Err(value) = set {
            self.make_mixed();
            if let ColumnValues::Mixed(values) = &mut self.values
                && let Some(slot) = values.get_mut(row)
            {
                *slot = Some(value);
            }
        }
        if let Some(flag) = self.presence.as_mut().and_then(|p| p.get_mut(row)) {
            *flag = true;
        }
    }

    fn set_typed<T: CellType>(&mut self, row: usize, value: T) -> Result<(), Value> {
        match self.typed_mut::<T>().and_then(|values| values.get_mut(row)) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(value.into_value()),
        }
    }

    /// Moves the value of row `from` of `source` to row `row` for each pair `(row, from)` in
    /// `pairs`, in order, so a later pair for a row replaces an earlier one. Pairs whose
    /// source row has no value change nothing.
    pub(crate) fn take_pairs(&mut self, pairs: &[(usize, usize)], source: &mut Column) {
        let presence = source.presence.as_deref();
        let copied = match &source.values {
            ColumnValues::F64(values) => self.copy_pairs(pairs, values, presence),
            ColumnValues::I64(values) => self.copy_pairs(pairs, values, presence),
            ColumnValues::Bool(values) => self.copy_pairs(pairs, values, presence),
            _ => false,
        };
        if !copied {
            for &(row, from) in pairs {
                self.take_from(row, source, from);
            }
        }
    }

    /// Copies the values of `pairs` as `take_pairs` does, when this column stores `T` or no
    /// value. Returns false, having changed nothing, when it stores another type.
    fn copy_pairs<T: CellType + Copy>(
        &mut self,
        pairs: &[(usize, usize)],
        values: &[T],
        presence: Option<&[bool]>,
    ) -> bool {
        if pairs.is_empty() || self.typed_mut::<T>().is_none() {
            return pairs.is_empty();
        }
        let Some(out) = T::vec_mut(&mut self.values) else {
            return false;
        };
        let mut flags = self.presence.as_deref_mut();
        for &(row, from) in pairs {
            let present = presence.is_none_or(|p| p.get(from).copied().unwrap_or(false));
            let (Some(slot), Some(value)) = (out.get_mut(row), values.get(from)) else {
                continue;
            };
            if present {
                *slot = *value;
                if let Some(flag) = flags.as_mut().and_then(|flags| flags.get_mut(row)) {
                    *flag = true;
                }
            }
        }
        true
    }

    /// Moves the value of row `from` of `source` to row `row`, replacing any value it had.
    /// Does nothing when that source row has no value.
    pub(crate) fn take_from(&mut self, row: usize, source: &mut Column, from: usize) {
        if !source.is_present(from) {
            return;
        }
        let moved = match &mut source.values {
            ColumnValues::F64(values) => self.move_typed(row, values, from),
            ColumnValues::Bool(values) => self.move_typed(row, values, from),
            ColumnValues::I64(values) => self.move_typed(row, values, from),
            _ => false,
        };
        if moved {
            if let Some(flag) = self.presence.as_mut().and_then(|p| p.get_mut(row)) {
                *flag = true;
            }
        } else if let Some(value) = source.take(from) {
            self.set(row, value);
        }
    }

    /// Copies `values[from]` to row `row` when this column stores `T` or no value.
    fn move_typed<T: CellType + Copy>(&mut self, row: usize, values: &[T], from: usize) -> bool {
        let target = self.typed_mut::<T>().and_then(|out| out.get_mut(row));
        match (target, values.get(from)) {
            (Some(slot), Some(value)) => {
                *slot = *value;
                true
            }
            _ => false,
        }
    }

    /// Takes the value of row `row`, leaving the type's default or `None` in its place.
    fn take(&mut self, row: usize) -> Option<Value> {
        if !self.is_present(row) {
            return None;
        }
        match &mut self.values {
            ColumnValues::Empty => None,
            ColumnValues::F64(values) => take_value(values, row),
            ColumnValues::I64(values) => take_value(values, row),
            ColumnValues::Bool(values) => take_value(values, row),
            ColumnValues::Str(values) => take_value(values, row),
            ColumnValues::Bytes(values) => take_value(values, row),
            ColumnValues::Mixed(values) => values.get_mut(row).and_then(Option::take),
        }
    }

    /// Returns the rows `order`, in that order, moving their values out of this column.
    pub(crate) fn take_rows(&mut self, order: &[usize]) -> Column {
        let presence = self.presence.as_ref().map(|presence| {
            let flags = order.iter().map(|&row| presence.get(row).copied());
            flags.map(Option::unwrap_or_default).collect::<Vec<bool>>()
        });
        let values = match &mut self.values {
            ColumnValues::Empty => ColumnValues::Empty,
            ColumnValues::F64(values) => ColumnValues::F64(take_in_order(values, order)),
            ColumnValues::I64(values) => ColumnValues::I64(take_in_order(values, order)),
            ColumnValues::Bool(values) => ColumnValues::Bool(take_in_order(values, order)),
            ColumnValues::Str(values) => ColumnValues::Str(take_in_order(values, order)),
            ColumnValues::Bytes(values) => ColumnValues::Bytes(take_in_order(values, order)),
            ColumnValues::Mixed(values) => ColumnValues::Mixed(take_in_order(values, order)),
        };
        Column {
            len: order.len(),
            presence: presence.filter(|flags| flags.iter().any(|present| !present)),
            values,
            capacity: 0,
        }
    }

    /// Reserves room for `additional` more rows of values of the column's type.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match &mut self.values {
            ColumnValues::Empty => self.capacity = self.len + additional,
            ColumnValues::F64(values) => values.reserve(additional),
            ColumnValues::I64(values) => values.reserve(additional),
            ColumnValues::Bool(values) => values.reserve(additional),
            ColumnValues::Str(values) => values.reserve(additional),
            ColumnValues::Bytes(values) => values.reserve(additional),
            ColumnValues::Mixed(values) => values.reserve(additional),
        }
    }

    /// Stores the values by type when all present values have one, and as `Empty` when none
    /// is present, and drops the presence flags when every row has a value. Replaced values
    /// and removed rows can leave a column mixed, or typed without values, so reads call this
    /// last.
    pub(crate) fn normalize(&mut self) {
        let present = self.present_count();
        if present == self.len {
            self.presence = None;
        }
        if present == 0 {
            self.values = ColumnValues::Empty;
            return;
        }
        let ColumnValues::Mixed(values) = &mut self.values else {
            return;
        };
        let mut types = values.iter().flatten().map(std::mem::discriminant);
        let first = types.next();
        if !types.all(|kind| Some(kind) == first) {
            return;
        }
        let values = std::mem::take(values);
        *self = values.into_iter().collect();
    }

    /// Converts typed values, or none, to a mixed vector of the same rows.
    fn make_mixed(&mut self) {
        if !matches!(self.values, ColumnValues::Mixed(_)) {
            let values = self.iter().collect();
            self.values = ColumnValues::Mixed(values);
        }
    }
}

fn take_value<T: CellType>(values: &mut [T], row: usize) -> Option<Value> {
    values.get_mut(row).map(std::mem::take).map(T::into_value)
}

fn take_in_order<T: Default>(values: &mut [T], order: &[usize]) -> Vec<T> {
    let moved = order
        .iter()
        .map(|&row| values.get_mut(row).map(std::mem::take));
    moved.map(Option::unwrap_or_default).collect()
}
