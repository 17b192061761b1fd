//! Reads of some rows of a block's columns. The block's group index lets the fixed integer
//! columns decode from the group where the rows start instead of from the block's first row.

use std::ops::Range;

use crate::codec::{bools, floats, ints};
use crate::error::Result;
use crate::segment::block::BlockReader;
use crate::segment::block::ColumnValues::{self, Bool, F64, I64};
use crate::segment::footer::{ChunkRef, ColumnDef};
use crate::segment::group_index::{GROUP_ROWS, GroupIndex};
use crate::segment::layout::{Encoding, FixedColumn, ValueType, fixed_columns};

/// Rows of a block found by the values of a sorted column, with those values.
pub(crate) struct FoundRows {
    /// The rows, as positions in the block.
    pub rows: Range<usize>,
    /// The column's value of each row of `rows`.
    pub values: Vec<i64>,
}

impl BlockReader<'_> {
    /// Returns the block's fixed integer columns, the ones that its group index covers, in
    /// fixed column order.
    fn indexed_columns(&self) -> impl Iterator<Item = FixedColumn> + '_ {
        let fixed = fixed_columns(self.table, self.block.model.is_none());
        fixed
            .iter()
            .copied()
            .filter(|column| column.encoding() != Encoding::RawUuid)
    }

    /// Returns the position of `column` among the indexed columns.
    fn indexed_position(&self, column: FixedColumn) -> Result<usize> {
        let position = self.indexed_columns().position(|c| c == column);
        position.ok_or_else(|| self.corrupt(0, column.name(), "the column is not indexed"))
    }

    /// Returns the block's group index, parsed on first use.
    fn groups(&self) -> Result<&GroupIndex> {
        if let Some(groups) = self.groups.get() {
            return Ok(groups);
        }
        let mut tags = Vec::new();
        for column in self.indexed_columns() {
            tags.push(self.fixed_chunk(column)?.mode);
        }
        let parsed = GroupIndex::decode(self.group_index, &tags, self.rows()).map_err(|e| {
            let offset = self.chunks.first().map_or(0, |chunk| chunk.offset);
            self.corrupt(offset, "group index", e.reason)
        })?;
        Ok(self.groups.get_or_init(|| parsed))
    }

    /// Decodes the rows `rows` of a fixed integer or timestamp column, from the last restart
    /// of the group index at or before `rows.start`.
    pub fn i64_rows(&self, column: FixedColumn, rows: Range<usize>) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(rows.len());
        self.i64_rows_into(column, rows, &mut out)?;
        Ok(out)
    }

    /// Appends the rows `rows` of a fixed integer or timestamp column to `out`, decoded as
    /// `i64_rows` does.
    fn i64_rows_into(
        &self,
        column: FixedColumn,
        rows: Range<usize>,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        let data = self.chunk_data(self.fixed_chunk(column)?, column.name())?;
        self.check_mode(&data, column.name(), &data.bytes)?;
        let position = self.indexed_position(column)?;
        let restart = self.groups()?.restart(position, rows.start);
        ints::decode_rows(&data.bytes, self.rows(), restart, rows, out)
            .map_err(|e| self.decode_error(&data, column.name(), 0, e))
    }

    /// Decodes the rows `rows` of a fixed column of sequence numbers, as `i64_rows` does.
    pub fn u64_rows(&self, column: FixedColumn, rows: Range<usize>) -> Result<Vec<u64>> {
        let values = self.i64_rows(column, rows)?;
        Ok(values.into_iter().map(|value| value as u64).collect())
    }

    /// Appends the rows `rows` of a fixed column of sequence numbers to `out`, as `u64_rows`
    /// returns them. `scratch` is a buffer for the decoded integers, reused across calls.
    pub fn u64_rows_into(
        &self,
        column: FixedColumn,
        rows: Range<usize>,
        scratch: &mut Vec<i64>,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        scratch.clear();
        self.i64_rows_into(column, rows, scratch)?;
        out.extend(scratch.iter().map(|&value| value as u64));
        Ok(())
    }

    /// Returns the rows whose value `v` of `column`, which must be sorted, has `below_start(v)`
    /// false and `below_end(v)` true. Decodes the column only in the groups that can hold
    /// such rows.
    pub fn rows_between(
        &self,
        column: FixedColumn,
        below_start: impl Fn(i64) -> bool,
        below_end: impl Fn(i64) -> bool,
    ) -> Result<FoundRows> {
        let mut values = Vec::new();
        let rows = self.rows_between_into(column, below_start, below_end, &mut values)?;
        Ok(FoundRows { rows, values })
    }

    /// Returns the rows that `rows_between` returns, and appends their values to `out`
    /// instead of to a vector of their own.
    pub fn rows_between_into(
        &self,
        column: FixedColumn,
        below_start: impl Fn(i64) -> bool,
        below_end: impl Fn(i64) -> bool,
        out: &mut Vec<i64>,
    ) -> Result<Range<usize>> {
        let data = self.chunk_data(self.fixed_chunk(column)?, column.name())?;
        self.check_mode(&data, column.name(), &data.bytes)?;
        let position = self.indexed_position(column)?;
        let groups = self.groups()?;
        let (restart, decoded) =
            groups.rows_around(position, self.rows(), &below_start, &below_end);
        let base = out.len();
        out.reserve(decoded.len());
        ints::decode_rows(&data.bytes, self.rows(), restart, decoded.clone(), out)
            .map_err(|e| self.decode_error(&data, column.name(), 0, e))?;
        let values = out.get(base..).unwrap_or_default();
        let start = values.partition_point(|value| below_start(*value));
        let end = values.partition_point(|value| below_end(*value)).max(start);
        out.truncate(base + end);
        // The decoded rows before the window are removed, which moves the window's values.
        out.drain(base..base + start);
        Ok(decoded.start + start..decoded.start + end)
    }

    /// Decodes the values of `rows` of a metric chunk that every row of the block has, when
    /// its type is f64, i64 or bool. Returns `None` for the other types, which decode whole.
    pub(super) fn metric_rows(
        &self,
        chunk: &ChunkRef,
        def: &ColumnDef,
        rows: Range<usize>,
    ) -> Result<Option<ColumnValues>> {
        if !matches!(
            def.value_type,
            ValueType::F64 | ValueType::I64 | ValueType::Bool
        ) {
            return Ok(None);
        }
        let name = def.name.as_str();
        let data = self.chunk_data(chunk, name)?;
        if def.value_type.encoding().has_mode() {
            self.check_mode(&data, name, &data.bytes)?;
        }
        let n = self.rows();
        let decoded = match def.value_type {
            ValueType::F64 => {
                let mut values = Vec::with_capacity(rows.len());
                floats::decode_rows(&data.bytes, n, rows, &mut values).map(|()| F64(values))
            }
            ValueType::Bool => {
                let mut values = Vec::with_capacity(rows.len());
                bools::decode_rows(&data.bytes, n, rows, &mut values).map(|()| Bool(values))
            }
            _ => {
                let mut values = Vec::with_capacity(rows.len());
                ints::decode_rows(&data.bytes, n, None, rows, &mut values).map(|()| I64(values))
            }
        };
        let values = decoded.map_err(|e| self.decode_error(&data, name, 0, e))?;
        Ok(Some(values))
    }

    /// Checks each restart of the group index against the decoded column, and that decoding
    /// from it gives the column's values to the end of its group.
    pub(super) fn verify_group_index(&self) -> Result<()> {
        let columns: Vec<FixedColumn> = self.indexed_columns().collect();
        let groups = self.groups()?;
        for (position, column) in columns.into_iter().enumerate() {
            let values = self.i64_column(column)?;
            for restart in groups.restarts(position) {
                let end = (restart.row + GROUP_ROWS).min(values.len());
                let expected = values.get(restart.row..end).unwrap_or_default();
                let decoded = self.i64_rows(column, restart.row..end)?;
                let previous = restart.row.checked_sub(1).and_then(|row| values.get(row));
                let delta = previous.map(|previous| restart.value.wrapping_sub(*previous));
                let chunk = self.fixed_chunk(column)?;
                let delta_ok = !ints::stores_delta(chunk.mode) || delta == Some(restart.delta);
                if decoded != expected || !delta_ok {
                    let reason = format!(
                        "the group index restart at row {} does not match the column",
                        restart.row
                    );
                    return Err(self.corrupt(chunk.offset, column.name(), reason));
                }
            }
        }
        Ok(())
    }
}
