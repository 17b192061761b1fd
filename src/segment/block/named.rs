//! Reads of one metric of some rows of a block into a typed output [`Column`].

use std::ops::Range;

use crate::codec::{DecodeResult, bools, floats, ints};
use crate::columns::{CellType, Column};
use crate::error::Result;
use crate::segment::block::BlockReader;
use crate::segment::footer::{ChunkRef, ColumnDef};
use crate::segment::layout::{ValueType, fixed_columns};
use crate::value::Value;

impl BlockReader<'_> {
    /// Appends to `out` the values of metric `name` for the rows in `rows`, absent where a
    /// row lacks it. Only the chunks of that name are decoded. A name tracked with several
    /// types has one chunk per type, and each row is present in at most one of them.
    ///
    /// A chunk of f64 or i64 values that every row has is read only for `rows` when its
    /// integers have a fixed width (frame packing of order 0), and straight into `out` when
    /// `out` stores that type. In other integer modes it is read up to `rows.end`, and the XOR
    /// float mode decodes the whole chunk. A bool chunk that every row has is read only for
    /// `rows`.
    /// TODO: other chunks decode every row of the block, also for a window of a few rows.
    /// Restarts in the group index for metric columns would let them skip rows too.
    pub fn named_values_into(
        &self,
        name: &str,
        rows: Range<usize>,
        out: &mut Column,
    ) -> Result<()> {
        let chunks = self.named_chunks(name)?;
        match chunks[..] {
            [] => {
                out.push_absent(rows.len());
                Ok(())
            }
            [(chunk, def)] => self.chunk_rows_into(chunk, def, rows, out),
            _ => self.mixed_rows_into(&chunks, rows, out),
        }
    }

    /// Returns the metric chunks of `name` with their directory entries.
    fn named_chunks(&self, name: &str) -> Result<Vec<(&ChunkRef, &ColumnDef)>> {
        let fixed = fixed_columns(self.table, self.block.model.is_none()).len();
        let mut chunks = Vec::new();
        for chunk in self.chunks.iter().skip(fixed) {
            let Some(def) = self.footer.columns.get(chunk.column as usize) else {
                return Err(self.corrupt(chunk.offset, "?", "the column is not in the directory"));
            };
            if def.name == name {
                chunks.push((chunk, def));
            }
        }
        Ok(chunks)
    }

    /// Appends the rows `rows` of the name's only chunk.
    fn chunk_rows_into(
        &self,
        chunk: &ChunkRef,
        def: &ColumnDef,
        rows: Range<usize>,
        out: &mut Column,
    ) -> Result<()> {
        if chunk.present as usize == self.rows() {
            let window = rows.clone();
            let decoded = match def.value_type {
                ValueType::F64 => self.window_into(chunk, def, window, out, floats::decode_rows),
                ValueType::Bool => self.window_into(chunk, def, window, out, bools::decode_rows),
                ValueType::I64 => {
                    let decode = |bytes: &[u8], n, rows, values: &mut Vec<i64>| {
                        ints::decode_rows(bytes, n, None, rows, values)
                    };
                    self.window_into(chunk, def, window, out, decode)
                }
                ValueType::Str | ValueType::Bytes => Ok(false),
            };
            if decoded? {
                return Ok(());
            }
        }
        let (presence, values) = self.metric_column(chunk, def)?;
        values.extend_column(presence.as_deref(), rows, out);
        Ok(())
    }

    /// Decodes the rows `rows` of a chunk that every row has, into the values of `out` when
    /// it stores `T` or no value yet, else through a vector of its own. Returns true.
    fn window_into<T: CellType>(
        &self,
        chunk: &ChunkRef,
        def: &ColumnDef,
        rows: Range<usize>,
        out: &mut Column,
        decode: impl FnOnce(&[u8], usize, Range<usize>, &mut Vec<T>) -> DecodeResult<()>,
    ) -> Result<bool> {
        let name = def.name.as_str();
        let data = self.chunk_data(chunk, name)?;
        if def.value_type.encoding().has_mode() {
            self.check_mode(&data, name, &data.bytes)?;
        }
        let (n, count) = (self.rows(), rows.len());
        let mut own = Vec::new();
        let typed = out.typed_mut::<T>();
        let direct = typed.is_some();
        let values = typed.unwrap_or(&mut own);
        let start = values.len();
        decode(&data.bytes, n, rows, values).map_err(|e| self.decode_error(&data, name, 0, e))?;
        let decoded = values.len() - start;
        if decoded != count {
            values.truncate(start);
            let reason = format!("{decoded} values decoded for {count} rows");
            return Err(self.corrupt(chunk.offset, name, reason));
        }
        match direct {
            true => out.mark_present(count),
            false => out.extend_block_rows(own, None, 0..count),
        }
        Ok(true)
    }

    /// Appends the rows `rows` of a name with a chunk per type, value by value.
    fn mixed_rows_into(
        &self,
        chunks: &[(&ChunkRef, &ColumnDef)],
        rows: Range<usize>,
        out: &mut Column,
    ) -> Result<()> {
        let mut slots: Vec<Option<Value>> = Vec::new();
        slots.resize(rows.len(), None);
        for (chunk, def) in chunks {
            let (presence, values) = self.metric_column(chunk, def)?;
            values.place(presence.as_deref(), rows.clone(), &mut slots);
        }
        for value in slots {
            out.push(value);
        }
        Ok(())
    }
}
