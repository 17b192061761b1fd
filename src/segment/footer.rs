//! The footer of a segment: row counts, time range, model dictionary, metric column directory
//! and, per table, the directory of blocks and their column chunks.

use crate::codec::{put_len_prefixed, put_varint, put_varint_i64};
use crate::segment::layout::{
    Encoding, FLAG_ZSTD, FOOTER_MAGIC, GROUP_INDEX_VERSION, ORPHAN_MODEL, Table, ValueType,
    fixed_columns,
};

/// `ChunkRef::column` of a fixed column.
pub(crate) const NO_COLUMN: u32 = u32::MAX;
/// One metric column of the directory: a metric name with one value type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ColumnDef {
    pub name: String,
    pub value_type: ValueType,
}

/// Location and checksum of one column of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkRef {
    /// Absolute file offset.
    pub offset: u64,
    /// Stored bytes.
    pub len: u64,
    /// Bytes after zstd decompression, equal to `len` for an uncompressed chunk.
    pub raw_len: u64,
    /// CRC32 of the stored bytes.
    pub crc: u32,
    /// Rows that have a value: the block's rows for a fixed column.
    pub present: u32,
    /// Index into the metric column directory, or `NO_COLUMN` for a fixed column.
    pub column: u32,
    pub flags: u8,
    /// The codec's mode tag (the first byte of the values) for encodings that have one, else 0.
    pub mode: u8,
}

impl ChunkRef {
    pub fn is_zstd(&self) -> bool {
        self.flags & FLAG_ZSTD != 0
    }

    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    pub fn with_mode(self, mode: u8) -> ChunkRef {
        ChunkRef { mode, ..self }
    }
}

/// One block of a table: rows of one model (or orphaned delayed rows), with its chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockDir {
    /// Index into the model dictionary, or `None` for a block of orphaned delayed rows.
    pub model: Option<u32>,
    pub first_row: u32,
    pub rows: u32,
    /// Time range of the block's rows: see `docs/format/segment.md` for each table.
    pub min_ts: i64,
    pub max_ts: i64,
    /// Range of the block's chunks in `TableDir::chunks`: the fixed columns, then the
    /// metric columns in directory order.
    pub chunk_start: u32,
    pub chunk_end: u32,
}

/// The blocks and chunks of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableDir {
    pub rows: u32,
    pub blocks: Vec<BlockDir>,
    pub chunks: Vec<ChunkRef>,
    /// The group indexes of the blocks, back to back. Empty in format version 2.
    pub group_index_bytes: Vec<u8>,
    /// The end of each block's group index in `group_index_bytes`. The index of block `i`
    /// starts where that of block `i - 1` ends. Empty in version 2.
    pub group_index_ends: Vec<u32>,
}

impl TableDir {
    pub fn block_chunks(&self, block: &BlockDir) -> &[ChunkRef] {
        self.chunks
            .get(block.chunk_start as usize..block.chunk_end as usize)
            .unwrap_or_default()
    }

    /// Returns the group index of block `index`, empty when it has none.
    pub fn group_index(&self, index: usize) -> &[u8] {
        let start = match index.checked_sub(1) {
            Some(previous) => self.group_index_ends.get(previous).copied(),
            None => Some(0),
        };
        let end = self.group_index_ends.get(index).copied();
        let range = start
            .zip(end)
            .map(|(start, end)| start as usize..end as usize);
        range
            .and_then(|range| self.group_index_bytes.get(range))
            .unwrap_or_default()
    }

    /// Appends the group index of the next block.
    pub fn push_group_index(&mut self, bytes: &[u8]) {
        self.group_index_bytes.extend_from_slice(bytes);
        self.group_index_ends
            .push(self.group_index_bytes.len() as u32);
    }
}

/// The parsed footer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Footer {
    /// Union of the time ranges of all blocks, or `None` when the segment has no rows.
    pub time_range: Option<(i64, i64)>,
    /// Model ids, strictly ascending.
    pub models: Vec<String>,
    /// Metric columns in order of first appearance in the rows, each (name, type) once.
    pub columns: Vec<ColumnDef>,
    /// Tables in `Table::ALL` order.
    pub tables: [TableDir; 3],
}

impl Footer {
    /// Encodes the footer, which `footer_decode` decodes. Chunk offsets are not stored because
    /// each chunk starts where the one before it ends, and the first one at offset 0.
    pub fn encode(&self, version: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&FOOTER_MAGIC);
        put_varint(out, u64::from(version));
        for table in &self.tables {
            put_varint(out, u64::from(table.rows));
        }
        match self.time_range {
            Some((min, max)) => {
                out.push(1);
                put_varint_i64(out, min);
                put_varint_i64(out, max);
            }
            None => out.push(0),
        }
        put_varint(out, self.models.len() as u64);
        for model in &self.models {
            put_len_prefixed_str(out, model);
        }
        put_varint(out, self.columns.len() as u64);
        for column in &self.columns {
            put_len_prefixed_str(out, &column.name);
            out.push(column.value_type.id());
            out.push(column.value_type.encoding().id());
        }
        for (table, dir) in Table::ALL.iter().zip(&self.tables) {
            encode_table(*table, dir, &self.columns, version, out);
        }
    }

    pub fn table(&self, table: Table) -> &TableDir {
        let [predictions, delayed, aggregates] = &self.tables;
        match table {
            Table::Predictions => predictions,
            Table::Delayed => delayed,
            Table::Aggregates => aggregates,
        }
    }

    /// Returns the union of the time ranges of all blocks.
    pub fn block_time_range(&self) -> Option<(i64, i64)> {
        let blocks = self.tables.iter().flat_map(|table| &table.blocks);
        blocks.fold(None, |range, block| match range {
            None => Some((block.min_ts, block.max_ts)),
            Some((min, max)) => Some((min.min(block.min_ts), max.max(block.max_ts))),
        })
    }
}

fn put_len_prefixed_str(out: &mut Vec<u8>, text: &str) {
    put_len_prefixed(out, text.as_bytes());
}

fn encode_table(
    table: Table,
    dir: &TableDir,
    columns: &[ColumnDef],
    version: u32,
    out: &mut Vec<u8>,
) {
    put_varint(out, dir.blocks.len() as u64);
    for (index, block) in dir.blocks.iter().enumerate() {
        put_varint(out, block.model.map_or(ORPHAN_MODEL, |m| u64::from(m) + 1));
        put_varint(out, u64::from(block.rows));
        put_varint_i64(out, block.min_ts);
        put_varint(out, block.max_ts.wrapping_sub(block.min_ts) as u64);
        let chunks = dir.block_chunks(block);
        let fixed = fixed_columns(table, block.model.is_none());
        let (fixed_chunks, metric_chunks) = chunks.split_at(fixed.len().min(chunks.len()));
        for (chunk, column) in fixed_chunks.iter().zip(fixed) {
            encode_chunk(chunk, column.encoding(), out);
        }
        if version >= GROUP_INDEX_VERSION {
            put_len_prefixed(out, dir.group_index(index));
        }
        put_varint(out, metric_chunks.len() as u64);
        let mut previous = None;
        for chunk in metric_chunks {
            let delta = match previous {
                None => chunk.column,
                Some(previous) => chunk.column - previous - 1,
            };
            put_varint(out, u64::from(delta));
            put_varint(out, u64::from(chunk.present));
            // The writer takes column ids from the directory, so the lookup finds the column.
            let value_type = columns.get(chunk.column as usize).map(|c| c.value_type);
            let encoding = value_type.map_or(Encoding::Strings, ValueType::encoding);
            encode_chunk(chunk, encoding, out);
            previous = Some(chunk.column);
        }
    }
}

fn encode_chunk(chunk: &ChunkRef, encoding: Encoding, out: &mut Vec<u8>) {
    put_varint(out, chunk.len);
    out.push(chunk.flags);
    if chunk.is_zstd() {
        put_varint(out, chunk.raw_len);
    }
    if encoding.has_mode() {
        out.push(chunk.mode);
    }
    out.extend_from_slice(&chunk.crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_entries_stay_small() {
        // docs/format/segment.md promises about 40 bytes per block and per chunk in memory.
        assert!(std::mem::size_of::<ChunkRef>() <= 40);
        assert!(std::mem::size_of::<BlockDir>() <= 40);
    }
}
