//! Reading the columns of one block: CRC check, zstd, codec, presence bitmaps.

mod named;
mod window;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::ops::Range;
use std::path::Path;

use uuid::Uuid;

use crate::codec::{self, DecodeError, DecodeResult, Reader};
use crate::columns::Column;
use crate::error::{Error, Result};
use crate::segment::footer::{BlockDir, ChunkRef, ColumnDef, Footer};
use crate::segment::group_index::GroupIndex;
use crate::segment::layout::{Encoding, FixedColumn, Table, UUID_LEN, ValueType, fixed_columns};
use crate::value::{MAX_BYTES_LEN, Metric, Metrics, Value};

/// The decoded values of one metric column of one block.
enum ColumnValues {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Bytes(Vec<Vec<u8>>),
}

impl ColumnValues {
    /// Moves the values of the rows in `rows` into `slots`, one slot per row of `rows`.
    /// `presence` marks the rows of the block that have a value, `None` when all do.
    fn place(self, presence: Option<&[bool]>, rows: Range<usize>, slots: &mut [Option<Value>]) {
        match self {
            ColumnValues::F64(v) => place(v, Value::F64, presence, rows, slots),
            ColumnValues::I64(v) => place(v, Value::I64, presence, rows, slots),
            ColumnValues::Bool(v) => place(v, Value::Bool, presence, rows, slots),
            ColumnValues::Str(v) => place(v, Value::Str, presence, rows, slots),
            ColumnValues::Bytes(v) => place(v, Value::Bytes, presence, rows, slots),
        }
    }

    /// Appends the values of the rows in `rows` to `out`. `presence` marks the rows of the
    /// block that have a value, `None` when all do.
    fn extend_column(self, presence: Option<&[bool]>, rows: Range<usize>, out: &mut Column) {
        match self {
            ColumnValues::F64(v) => out.extend_block_rows(v, presence, rows),
            ColumnValues::I64(v) => out.extend_block_rows(v, presence, rows),
            ColumnValues::Bool(v) => out.extend_block_rows(v, presence, rows),
            ColumnValues::Str(v) => out.extend_block_rows(v, presence, rows),
            ColumnValues::Bytes(v) => out.extend_block_rows(v, presence, rows),
        }
    }
}

/// Moves the typed `values` of the present rows among `rows` into their slots.
fn place<T>(
    values: Vec<T>,
    wrap: impl Fn(T) -> Value,
    presence: Option<&[bool]>,
    rows: Range<usize>,
    slots: &mut [Option<Value>],
) {
    let values = values.into_iter();
    let Some(presence) = presence else {
        let values = values.skip(rows.start).take(rows.len());
        for (slot, value) in slots.iter_mut().zip(values) {
            *slot = Some(wrap(value));
        }
        return;
    };
    let before = presence.get(..rows.start).unwrap_or_default();
    let skipped = before.iter().filter(|p| **p).count();
    let mut values = values.skip(skipped);
    let present = presence.get(rows).unwrap_or_default();
    for (slot, &present) in slots.iter_mut().zip(present) {
        if present && let Some(value) = values.next() {
            *slot = Some(wrap(value));
        }
    }
}

/// Decodes `n` values of a metric column.
fn decode_values(value_type: ValueType, bytes: &[u8], n: usize) -> DecodeResult<ColumnValues> {
    Ok(match value_type {
        ValueType::F64 => ColumnValues::F64(decode_with(bytes, n, codec::floats::decode)?),
        ValueType::I64 => ColumnValues::I64(decode_with(bytes, n, codec::ints::decode)?),
        ValueType::Bool => ColumnValues::Bool(decode_with(bytes, n, codec::bools::decode)?),
        ValueType::Str => ColumnValues::Str(decode_with(bytes, n, codec::strings::decode)?),
        ValueType::Bytes => {
            let max_total = n.saturating_mul(MAX_BYTES_LEN);
            let decode = |b: &[u8], n, out: &mut Vec<_>| codec::blobs::decode(b, n, max_total, out);
            ColumnValues::Bytes(decode_with(bytes, n, decode)?)
        }
    })
}

fn decode_with<T>(
    bytes: &[u8],
    n: usize,
    decode: impl FnOnce(&[u8], usize, &mut Vec<T>) -> DecodeResult<()>,
) -> DecodeResult<Vec<T>> {
    let mut out = Vec::new();
    decode(bytes, n, &mut out)?;
    Ok(out)
}

/// The bytes of one chunk after its checks, with its footer entry for error reports.
struct ChunkData<'s> {
    bytes: Cow<'s, [u8]>,
    chunk: ChunkRef,
}

/// Read access to one block of one table of an open segment.
pub(crate) struct BlockReader<'s> {
    file: &'s Path,
    map: &'s [u8],
    footer: &'s Footer,
    pub table: Table,
    pub index: usize,
    block: &'s BlockDir,
    chunks: &'s [ChunkRef],
    /// The bytes of the block's group index, empty when it has none.
    group_index: &'s [u8],
    /// The group index, parsed on first use.
    groups: OnceCell<GroupIndex>,
}

impl<'s> BlockReader<'s> {
    pub fn new(
        file: &'s Path,
        map: &'s [u8],
        footer: &'s Footer,
        table: Table,
        index: usize,
    ) -> Option<Self> {
        let dir = footer.table(table);
        let block = dir.blocks.get(index)?;
        Some(BlockReader {
            file,
            map,
            footer,
            table,
            index,
            block,
            chunks: dir.block_chunks(block),
            group_index: dir.group_index(index),
            groups: OnceCell::new(),
        })
    }

    pub fn rows(&self) -> usize {
        self.block.rows as usize
    }

    pub fn model(&self) -> Option<&'s str> {
        let index = self.block.model? as usize;
        self.footer.models.get(index).map(String::as_str)
    }

    fn corrupt(&self, offset: u64, column_name: &str, reason: impl std::fmt::Display) -> Error {
        let table = self.table.name();
        let block = self.index;
        let reason = format!("{table} block {block}, column {column_name}: {reason}");
        Error::corruption(self.file, offset, reason)
    }

    /// Maps a codec error at `base + error.offset` of a chunk's decoded bytes to a file offset.
    /// Inside a zstd chunk only the chunk's start is known.
    fn decode_error(
        &self,
        data: &ChunkData<'_>,
        column_name: &str,
        base: usize,
        error: DecodeError,
    ) -> Error {
        let position = base + error.offset;
        if data.chunk.is_zstd() {
            let reason = format!(
                "{} (at byte {position} after zstd decompression)",
                error.reason
            );
            self.corrupt(data.chunk.offset, column_name, reason)
        } else {
            self.corrupt(
                data.chunk.offset + position as u64,
                column_name,
                error.reason,
            )
        }
    }

    fn fixed_chunk(&self, column: FixedColumn) -> Result<&'s ChunkRef> {
        let fixed = fixed_columns(self.table, self.block.model.is_none());
        let position = fixed.iter().position(|c| *c == column);
        let chunk = position.and_then(|position| self.chunks.get(position));
        chunk.ok_or_else(|| self.corrupt(0, column.name(), "the block has no such column"))
    }

    /// Returns a chunk's bytes after checking its CRC and undoing zstd.
    fn chunk_data(&self, chunk: &ChunkRef, column_name: &str) -> Result<ChunkData<'s>> {
        let range = usize::try_from(chunk.offset)
            .ok()
            .zip(usize::try_from(chunk.end()).ok());
        let stored = range.and_then(|(start, end)| self.map.get(start..end));
        let Some(stored) = stored else {
            return Err(self.corrupt(chunk.offset, column_name, "the chunk extends past the file"));
        };
        let crc = crc32fast::hash(stored);
        if crc != chunk.crc {
            let reason = format!(
                "CRC32 is {crc:#010x}, the footer records {:#010x}",
                chunk.crc
            );
            return Err(self.corrupt(chunk.offset, column_name, reason));
        }
        if !chunk.is_zstd() {
            return Ok(ChunkData {
                bytes: Cow::Borrowed(stored),
                chunk: *chunk,
            });
        }
        let raw_len = usize::try_from(chunk.raw_len).unwrap_or(usize::MAX);
        let raw = codec::decompress_zstd(stored, raw_len)
            .map_err(|e| self.corrupt(chunk.offset, column_name, e.reason))?;
        if raw.len() != raw_len {
            let reason = format!(
                "zstd produced {} bytes, the footer records {raw_len}",
                raw.len()
            );
            return Err(self.corrupt(chunk.offset, column_name, reason));
        }
        Ok(ChunkData {
            bytes: Cow::Owned(raw),
            chunk: *chunk,
        })
    }

    /// Checks that the values start with the mode tag that the footer records.
    fn check_mode(&self, data: &ChunkData<'_>, column_name: &str, values: &[u8]) -> Result<()> {
        let found = values.first().copied();
        if found == Some(data.chunk.mode) {
            return Ok(());
        }
        let reason = format!(
            "mode tag {found:?}, the footer records {:#04x}",
            data.chunk.mode
        );
        Err(self.corrupt(data.chunk.offset, column_name, reason))
    }

    /// Decodes a fixed integer or timestamp column.
    pub fn i64_column(&self, column: FixedColumn) -> Result<Vec<i64>> {
        let data = self.chunk_data(self.fixed_chunk(column)?, column.name())?;
        self.check_mode(&data, column.name(), &data.bytes)?;
        let decode: fn(&[u8], usize, &mut Vec<i64>) -> DecodeResult<()> = match column.encoding() {
            Encoding::Timestamps => codec::timestamps::decode,
            _ => codec::ints::decode,
        };
        decode_with(&data.bytes, self.rows(), decode)
            .map_err(|e| self.decode_error(&data, column.name(), 0, e))
    }

    /// Decodes a fixed column of sequence numbers, which the ints codec stores as the i64 of
    /// the same bits.
    pub fn u64_column(&self, column: FixedColumn) -> Result<Vec<u64>> {
        let values = self.i64_column(column)?;
        Ok(values.into_iter().map(|value| value as u64).collect())
    }

    pub fn seq_column(&self) -> Result<Vec<u64>> {
        self.u64_column(FixedColumn::Seq)
    }

    pub fn uuid_column(&self) -> Result<Vec<Uuid>> {
        let column_name = FixedColumn::Uuid.name();
        let data = self.chunk_data(self.fixed_chunk(FixedColumn::Uuid)?, column_name)?;
        if data.bytes.len() != self.rows() * UUID_LEN {
            let reason = format!("{} bytes for {} rows", data.bytes.len(), self.rows());
            return Err(self.corrupt(data.chunk.offset, column_name, reason));
        }
        let uuids = data.bytes.chunks_exact(UUID_LEN);
        Ok(uuids.filter_map(|b| Uuid::from_slice(b).ok()).collect())
    }

    /// Appends the UUIDs of the rows in `rows` to `out`, after checking the chunk as
    /// `uuid_column` does.
    pub fn uuids_into(&self, rows: Range<usize>, out: &mut Vec<Uuid>) -> Result<()> {
        let column_name = FixedColumn::Uuid.name();
        let data = self.chunk_data(self.fixed_chunk(FixedColumn::Uuid)?, column_name)?;
        if data.bytes.len() != self.rows() * UUID_LEN || rows.end > self.rows() {
            let reason = format!(
                "{} bytes for {} rows, rows {rows:?} asked for",
                data.bytes.len(),
                self.rows()
            );
            return Err(self.corrupt(data.chunk.offset, column_name, reason));
        }
        let bytes = data
            .bytes
            .get(rows.start * UUID_LEN..rows.end * UUID_LEN)
            .unwrap_or_default();
        let uuids = bytes.chunks_exact(UUID_LEN).map(|b| {
            let b: [u8; UUID_LEN] = b.try_into().unwrap_or_default();
            Uuid::from_bytes(b)
        });
        out.extend(uuids);
        Ok(())
    }

    /// Checks the CRC of the block's UUID chunk.
    pub fn check_uuid_chunk(&self) -> Result<()> {
        let column_name = FixedColumn::Uuid.name();
        self.chunk_data(self.fixed_chunk(FixedColumn::Uuid)?, column_name)
            .map(drop)
    }

    /// Reads the UUID of one row in place, without checking the chunk's CRC.
    pub fn uuid_at(&self, row: usize) -> Result<Uuid> {
        let chunk = self.fixed_chunk(FixedColumn::Uuid)?;
        if row >= self.rows() {
            let reason = format!("row {row} is outside the block's {} rows", self.rows());
            return Err(self.corrupt(chunk.offset, FixedColumn::Uuid.name(), reason));
        }
        let offset = chunk.offset + (row * UUID_LEN) as u64;
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|at| self.map.get(at..at + UUID_LEN));
        let uuid = bytes.and_then(|bytes| Uuid::from_slice(bytes).ok());
        uuid.ok_or_else(|| self.corrupt(offset, FixedColumn::Uuid.name(), "row is past the file"))
    }

    /// Returns the metrics of the rows in `rows`, each in directory order. A metric chunk that
    /// every row has is decoded only as far as `named_values_into` decodes it, and the others whole.
    pub fn metrics(&self, rows: Range<usize>) -> Result<Vec<Metrics>> {
        let fixed = fixed_columns(self.table, self.block.model.is_none()).len();
        let columns = self.chunks.len().saturating_sub(fixed);
        let mut out: Vec<Metrics> = Vec::with_capacity(rows.len());
        out.resize_with(rows.len(), || Metrics(Vec::with_capacity(columns)));
        let mut slots: Vec<Option<Value>> = Vec::with_capacity(rows.len());
        for chunk in self.chunks.iter().skip(fixed) {
            let Some(def) = self.footer.columns.get(chunk.column as usize) else {
                return Err(self.corrupt(chunk.offset, "?", "the column is not in the directory"));
            };
            slots.clear();
            slots.resize(rows.len(), None);
            let every_row = chunk.present as usize == self.rows();
            match every_row.then(|| self.metric_rows(chunk, def, rows.clone())) {
                Some(Ok(Some(values))) => values.place(None, 0..rows.len(), &mut slots),
                Some(Err(error)) => return Err(error),
                _ => {
                    let (presence, values) = self.metric_column(chunk, def)?;
                    values.place(presence.as_deref(), rows.clone(), &mut slots);
                }
            }
            for (metrics, slot) in out.iter_mut().zip(slots.iter_mut()) {
                if let Some(value) = slot.take() {
                    metrics.0.push(Metric {
                        name: def.name.clone(),
                        value,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Decodes one metric column: the presence of each row, `None` when every row has a
    /// value, and the values of present rows.
    fn metric_column(
        &self,
        chunk: &ChunkRef,
        def: &ColumnDef,
    ) -> Result<(Option<Vec<bool>>, ColumnValues)> {
        let column_name = def.name.as_str();
        let data = self.chunk_data(chunk, column_name)?;
        let rows = self.rows();
        let present = chunk.present as usize;
        let mut reader = Reader::new(&data.bytes);
        let presence = if present < rows {
            let bitmap = reader
                .len_prefixed()
                .map_err(|e| self.decode_error(&data, column_name, 0, e))?;
            let base = reader.position() - bitmap.len();
            let presence = decode_with(bitmap, rows, codec::bitmap::decode)
                .map_err(|e| self.decode_error(&data, column_name, base, e))?;
            let count = presence.iter().filter(|p| **p).count();
            if count != present {
                let reason = format!("the bitmap has {count} rows present, the footer {present}");
                return Err(self.corrupt(chunk.offset, column_name, reason));
            }
            Some(presence)
        } else {
            None
        };
        let base = reader.position();
        let bytes = reader.rest();
        if def.value_type.encoding().has_mode() {
            self.check_mode(&data, column_name, bytes)?;
        }
        let values = decode_values(def.value_type, bytes, present)
            .map_err(|e| self.decode_error(&data, column_name, base, e))?;
        Ok((presence, values))
    }

    /// Decodes every column of the block and checks the values that the footer summarizes.
    pub fn verify(&self) -> Result<()> {
        let fixed = fixed_columns(self.table, self.block.model.is_none());
        for column in fixed {
            match column {
                FixedColumn::Uuid => drop(self.uuid_column()?),
                _ => drop(self.i64_column(*column)?),
            }
        }
        for chunk in self.chunks.iter().skip(fixed.len()) {
            let Some(def) = self.footer.columns.get(chunk.column as usize) else {
                return Err(self.corrupt(chunk.offset, "?", "the column is not in the directory"));
            };
            self.metric_column(chunk, def)?;
        }
        self.verify_group_index()?;
        self.verify_time_range()
    }

    /// Checks that the block's rows lie in the time range the footer records for the block.
    fn verify_time_range(&self) -> Result<()> {
        let (low, high) = match (self.table, self.block.model) {
            (Table::Predictions, _) => (FixedColumn::Timestamp, FixedColumn::Timestamp),
            (Table::Delayed, Some(_)) => (
                FixedColumn::PredictionTimestamp,
                FixedColumn::PredictionTimestamp,
            ),
            (Table::Delayed, None) => {
                (FixedColumn::DelayedTimestamp, FixedColumn::DelayedTimestamp)
            }
            (Table::Aggregates, _) => (FixedColumn::Start, FixedColumn::End),
        };
        let low_values = self.i64_column(low)?;
        let high_values = self.i64_column(high)?;
        let min = low_values.iter().copied().min();
        let max = high_values.iter().copied().max();
        if min != Some(self.block.min_ts) || max != Some(self.block.max_ts) {
            let reason = format!(
                "rows span {min:?}..={max:?}, the footer records {}..={}",
                self.block.min_ts, self.block.max_ts
            );
            let offset = self.fixed_chunk(low)?.offset;
            return Err(self.corrupt(offset, low.name(), reason));
        }
        Ok(())
    }
}
