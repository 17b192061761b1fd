//! Decoding and checking of a segment footer.
//!
//! Every count is checked against the bytes left in the footer before anything is allocated.
//! Every structural rule of docs/format/segment.md is checked too, so that a footer whose CRC
//! matches but whose content is wrong (a bug, or a crafted file) is reported as corruption.

use std::collections::HashSet;
use std::path::Path;

use crate::codec::{DecodeError, Reader};
use crate::error::{Error, Result};
use crate::segment::footer::{BlockDir, ChunkRef, ColumnDef, Footer, NO_COLUMN, TableDir};
use crate::segment::layout::{
    BLOCK_ROWS, Encoding, FLAG_ZSTD, FOOTER_MAGIC, FixedColumn, GROUP_INDEX_VERSION, KNOWN_FLAGS,
    ORPHAN_MODEL, Table, UUID_LEN, ValueType, fixed_columns,
};

/// Bound of the decoded bytes per row of a fixed integer column, with its codec headers.
const MAX_FIXED_RAW_BYTES_PER_ROW: u64 = 20;
/// Decoded bytes that a chunk may have beyond its per-row bound: codec headers and the
/// presence bitmap.
const RAW_SLACK_BYTES: u64 = 64 + BLOCK_ROWS as u64 / 8;
/// Minimum footer bytes of one block: model, rows, min, span, metric count and, per
/// fixed column, length, flags and CRC.
const MIN_BLOCK_BYTES: usize = 5 + 3 * 6;

impl Footer {
    /// Decodes a footer stored at absolute offset `base`, whose CRC the caller has checked.
    /// Returns the format version with it.
    pub fn decode(file: &Path, bytes: &[u8], base: u64) -> Result<(u32, Footer)> {
        let mut parser = Parser {
            reader: Reader::new(bytes),
            file,
            base,
            version: 0,
        };
        let version = parser.header()?;
        parser.version = version;
        let mut row_counts = [0u32; 3];
        for count in &mut row_counts {
            *count = parser.u32_varint("table row count")?;
        }
        let time_range = parser.time_range()?;
        let models = parser.models()?;
        let columns = parser.columns()?;

        let mut next_offset = 0u64;
        let mut tables: [TableDir; 3] = Default::default();
        for ((table, dir), rows) in Table::ALL.into_iter().zip(&mut tables).zip(row_counts) {
            let shape = TableShape {
                table,
                rows,
                models: models.len(),
                columns: &columns,
            };
            *dir = parser.table(&shape, &mut next_offset)?;
        }
        parser.finish(next_offset)?;
        let footer = Footer {
            time_range,
            models,
            columns,
            tables,
        };
        parser.check_time_range(&footer)?;
        Ok((version, footer))
    }
}

/// Row count, model count and column directory that a table's directory must agree with.
struct TableShape<'a> {
    table: Table,
    rows: u32,
    models: usize,
    columns: &'a [ColumnDef],
}

/// Column kind of one chunk, which bounds its lengths.
#[derive(Clone, Copy)]
enum ChunkKind {
    Fixed(FixedColumn),
    Metric(ValueType),
}

impl ChunkKind {
    fn encoding(self) -> Encoding {
        match self {
            ChunkKind::Fixed(column) => column.encoding(),
            ChunkKind::Metric(value_type) => value_type.encoding(),
        }
    }
}

/// A footer cursor that reports errors as corruption at absolute file offsets.
struct Parser<'a> {
    reader: Reader<'a>,
    file: &'a Path,
    base: u64,
    /// The footer's format version, which decides whether block entries have a group index.
    version: u32,
}

impl<'a> Parser<'a> {
    fn position(&self) -> usize {
        self.reader.position()
    }

    fn corrupt_at(&self, at: usize, reason: impl Into<String>) -> Error {
        Error::corruption(self.file, self.base + at as u64, reason)
    }

    fn decode_error(&self, error: DecodeError) -> Error {
        let reason = format!("invalid footer: {}", error.reason);
        Error::corruption(self.file, self.base + error.offset as u64, reason)
    }

    fn varint(&mut self) -> Result<u64> {
        self.reader.varint().map_err(|e| self.decode_error(e))
    }

    fn u32_varint(&mut self, field: &str) -> Result<u32> {
        let at = self.position();
        let value = self.varint()?;
        u32::try_from(value)
            .map_err(|_| self.corrupt_at(at, format!("{field} {value} exceeds u32")))
    }

    fn varint_i64(&mut self) -> Result<i64> {
        self.reader.varint_i64().map_err(|e| self.decode_error(e))
    }

    fn u8(&mut self) -> Result<u8> {
        self.reader.u8().map_err(|e| self.decode_error(e))
    }

    fn u32_le(&mut self) -> Result<u32> {
        self.reader.u32_le().map_err(|e| self.decode_error(e))
    }

    fn string(&mut self) -> Result<String> {
        let text = self.reader.str_len_prefixed();
        text.map(str::to_owned).map_err(|e| self.decode_error(e))
    }

    /// Reads a count of items that take at least `min_bytes` each, and checks that the rest of
    /// the footer can hold them, so that no corrupt count makes an allocation larger than the
    /// file.
    fn count(&mut self, item: &str, min_bytes: usize) -> Result<usize> {
        let at = self.position();
        let count = self.varint()?;
        let room = (self.reader.remaining() / min_bytes.max(1)) as u64;
        if count > room {
            return Err(self.corrupt_at(
                at,
                format!("{item} count {count} does not fit in the rest of the footer"),
            ));
        }
        Ok(count as usize)
    }

    fn header(&mut self) -> Result<u32> {
        let magic = self
            .reader
            .bytes(FOOTER_MAGIC.len())
            .map_err(|e| self.decode_error(e))?;
        if magic != FOOTER_MAGIC {
            return Err(self.corrupt_at(0, format!("the footer magic is {magic:02x?}")));
        }
        self.u32_varint("format version")
    }

    fn time_range(&mut self) -> Result<Option<(i64, i64)>> {
        let at = self.position();
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some((self.varint_i64()?, self.varint_i64()?))),
            flag => Err(self.corrupt_at(at, format!("time range flag {flag} is not 0 or 1"))),
        }
    }

    fn models(&mut self) -> Result<Vec<String>> {
        let count = self.count("model", 2)?;
        let mut models: Vec<String> = Vec::with_capacity(count);
        for _ in 0..count {
            let at = self.position();
            let model = self.string()?;
            if model.is_empty() || models.last().is_some_and(|last| *last >= model) {
                return Err(self.corrupt_at(at, "model dictionary is not strictly ascending"));
            }
            models.push(model);
        }
        Ok(models)
    }

    fn columns(&mut self) -> Result<Vec<ColumnDef>> {
        let count = self.count("metric column", 4)?;
        let mut columns: Vec<ColumnDef> = Vec::with_capacity(count);
        let mut seen = HashSet::with_capacity(count);
        for _ in 0..count {
            let at = self.position();
            let name = self.string()?;
            let type_id = self.u8()?;
            let encoding_id = self.u8()?;
            let value_type = ValueType::from_id(type_id).ok_or_else(|| {
                self.corrupt_at(
                    at,
                    format!("metric column {name:?} has unknown type {type_id}"),
                )
            })?;
            if encoding_id != value_type.encoding().id() {
                return Err(self.corrupt_at(
                    at,
                    format!("metric column {name:?} has unknown encoding {encoding_id}"),
                ));
            }
            if name.is_empty() {
                return Err(self.corrupt_at(at, "a metric column has an empty name"));
            }
            if !seen.insert((name.clone(), value_type)) {
                let reason = format!(
                    "metric column {name:?} of type {} repeats",
                    value_type.name()
                );
                return Err(self.corrupt_at(at, reason));
            }
            columns.push(ColumnDef { name, value_type });
        }
        Ok(columns)
    }

    fn table(&mut self, shape: &TableShape<'_>, next_offset: &mut u64) -> Result<TableDir> {
        let count = self.count("block", MIN_BLOCK_BYTES)?;
        let mut dir = TableDir {
            rows: shape.rows,
            blocks: Vec::with_capacity(count),
            ..TableDir::default()
        };
        let mut first_row = 0u32;
        for _ in 0..count {
            let at = self.position();
            let block = self.block(shape, first_row, &mut dir, next_offset)?;
            if let Some(previous) = dir.blocks.last() {
                check_block_order(shape.table, previous, &block)
                    .map_err(|reason| self.corrupt_at(at, reason))?;
            }
            first_row = first_row.checked_add(block.rows).ok_or_else(|| {
                self.corrupt_at(at, format!("{} rows exceed u32", shape.table.name()))
            })?;
            dir.blocks.push(block);
        }
        if first_row != shape.rows {
            return Err(self.corrupt_at(
                self.position(),
                format!(
                    "the {} blocks hold {first_row} rows, the footer counts {}",
                    shape.table.name(),
                    shape.rows
                ),
            ));
        }
        Ok(dir)
    }

    fn block(
        &mut self,
        shape: &TableShape<'_>,
        first_row: u32,
        dir: &mut TableDir,
        next_offset: &mut u64,
    ) -> Result<BlockDir> {
        let chunks = &mut dir.chunks;
        let at = self.position();
        let model = self.block_model(shape)?;
        let rows = self.u32_varint("block row count")?;
        if rows == 0 || rows as usize > BLOCK_ROWS {
            return Err(self.corrupt_at(
                at,
                format!("block row count {rows} is not 1..={BLOCK_ROWS}"),
            ));
        }
        let min_ts = self.varint_i64()?;
        let span = self.varint()?;
        let max_ts = min_ts
            .checked_add_unsigned(span)
            .ok_or_else(|| self.corrupt_at(at, format!("block time span {span} overflows")))?;
        let chunk_start = chunks.len() as u32;
        for column in fixed_columns(shape.table, model.is_none()) {
            let kind = ChunkKind::Fixed(*column);
            chunks.push(self.chunk(kind, rows, rows, NO_COLUMN, next_offset)?);
        }
        if self.version >= GROUP_INDEX_VERSION {
            // The block reader parses the index and checks it against the block's rows.
            let index = self
                .reader
                .len_prefixed()
                .map_err(|e| self.decode_error(e))?;
            dir.push_group_index(index);
        }
        let chunks = &mut dir.chunks;
        self.metric_chunks(shape, rows, chunks, next_offset)?;
        Ok(BlockDir {
            model,
            first_row,
            rows,
            min_ts,
            max_ts,
            chunk_start,
            chunk_end: chunks.len() as u32,
        })
    }

    fn block_model(&mut self, shape: &TableShape<'_>) -> Result<Option<u32>> {
        let at = self.position();
        let model = self.varint()?;
        if model == ORPHAN_MODEL {
            if shape.table != Table::Delayed {
                let table = shape.table.name();
                return Err(self.corrupt_at(at, format!("a block of {table} has no model")));
            }
            return Ok(None);
        }
        match u32::try_from(model - 1) {
            Ok(index) if (index as usize) < shape.models => Ok(Some(index)),
            _ => Err(self.corrupt_at(
                at,
                format!(
                    "block model {model} is outside the {}-model dictionary",
                    shape.models
                ),
            )),
        }
    }

    fn metric_chunks(
        &mut self,
        shape: &TableShape<'_>,
        rows: u32,
        chunks: &mut Vec<ChunkRef>,
        next_offset: &mut u64,
    ) -> Result<()> {
        let count = self.count("block metric column", 7)?;
        let mut next_column = 0u64;
        for _ in 0..count {
            let at = self.position();
            let column = next_column.saturating_add(self.varint()?);
            let present = self.u32_varint("present row count")?;
            let Some(def) = shape.columns.get(column as usize) else {
                let reason = format!("metric column {column} is not in the directory");
                return Err(self.corrupt_at(at, reason));
            };
            if present == 0 || present > rows {
                let reason = format!("metric column has {present} present rows of {rows}");
                return Err(self.corrupt_at(at, reason));
            }
            let kind = ChunkKind::Metric(def.value_type);
            chunks.push(self.chunk(kind, rows, present, column as u32, next_offset)?);
            next_column = column + 1;
        }
        Ok(())
    }

    fn chunk(
        &mut self,
        kind: ChunkKind,
        rows: u32,
        present: u32,
        column: u32,
        next_offset: &mut u64,
    ) -> Result<ChunkRef> {
        let at = self.position();
        let len = self.varint()?;
        let flags = self.u8()?;
        let raw_len = if flags & FLAG_ZSTD != 0 {
            self.varint()?
        } else {
            len
        };
        let encoding = kind.encoding();
        // The codec checks the tag when it decodes the chunk, and the block reader checks that
        // it matches this copy.
        let mode = if encoding.has_mode() { self.u8()? } else { 0 };
        let crc = self.u32_le()?;

        let offset = *next_offset;
        let end = offset.checked_add(len).filter(|end| *end <= self.base);
        let Some(end) = end else {
            let reason = format!("chunk of {len} bytes at offset {offset} overlaps the footer");
            return Err(self.corrupt_at(at, reason));
        };
        check_chunk(kind, rows, len, flags, raw_len)
            .map_err(|reason| self.corrupt_at(at, reason))?;
        *next_offset = end;
        Ok(ChunkRef {
            offset,
            len,
            raw_len,
            crc,
            present,
            column,
            flags,
            mode,
        })
    }

    fn finish(&self, next_offset: u64) -> Result<()> {
        if self.reader.remaining() != 0 {
            let reason = format!("{} bytes follow the last block", self.reader.remaining());
            return Err(self.corrupt_at(self.position(), reason));
        }
        if next_offset != self.base {
            let reason = format!("the chunks end at offset {next_offset}, not at the footer");
            return Err(self.corrupt_at(self.position(), reason));
        }
        Ok(())
    }

    fn check_time_range(&self, footer: &Footer) -> Result<()> {
        let blocks = footer.block_time_range();
        if footer.time_range != blocks {
            let reason = format!(
                "the footer's time range {:?} is not the union of its blocks, {blocks:?}",
                footer.time_range
            );
            return Err(self.corrupt_at(0, reason));
        }
        Ok(())
    }
}

/// Checks that blocks are sorted by model, with orphan blocks last.
fn check_block_order(table: Table, previous: &BlockDir, block: &BlockDir) -> Result<(), String> {
    let in_order = match (previous.model, block.model) {
        (Some(a), Some(b)) => a <= b,
        (Some(_), None) | (None, None) => true,
        (None, Some(_)) => false,
    };
    if in_order {
        Ok(())
    } else {
        Err(format!(
            "the blocks of {} are not sorted by model",
            table.name()
        ))
    }
}

fn check_chunk(
    kind: ChunkKind,
    rows: u32,
    len: u64,
    flags: u8,
    raw_len: u64,
) -> Result<(), String> {
    if flags & !KNOWN_FLAGS != 0 {
        return Err(format!("chunk flags {flags:#04x} have unknown bits"));
    }
    let rows = u64::from(rows);
    let max_raw = match kind {
        ChunkKind::Fixed(FixedColumn::Uuid) => {
            let expected = rows * UUID_LEN as u64;
            if len != expected || flags != 0 {
                return Err(format!(
                    "the UUID chunk has {len} bytes and flags {flags:#04x}, expected {expected} \
                     uncompressed bytes"
                ));
            }
            expected
        }
        ChunkKind::Fixed(_) => rows * MAX_FIXED_RAW_BYTES_PER_ROW + RAW_SLACK_BYTES,
        ChunkKind::Metric(value_type) => {
            let per_row = value_type.max_raw_bytes_per_row() as u64;
            rows.saturating_mul(per_row).saturating_add(RAW_SLACK_BYTES)
        }
    };
    if raw_len > max_raw {
        return Err(format!(
            "chunk raw length {raw_len} exceeds the bound {max_raw}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::put_varint;
    use crate::segment::layout::FORMAT_VERSION;

    fn chunk(offset: u64, len: u64, column: u32, mode: u8) -> ChunkRef {
        ChunkRef {
            offset,
            len,
            raw_len: len,
            crc: 0xDEAD_BEEF,
            present: 10,
            column,
            flags: 0,
            mode,
        }
    }

    /// Builds a footer of one prediction block of 10 rows with seq, timestamp, UUID and one
    /// metric.
    fn sample_footer() -> Footer {
        let chunks = vec![
            chunk(0, 3, NO_COLUMN, 0x11),
            chunk(3, 5, NO_COLUMN, 0x21),
            chunk(8, 160, NO_COLUMN, 0),
            chunk(168, 12, 0, 2),
        ];
        let block = BlockDir {
            model: Some(0),
            first_row: 0,
            rows: 10,
            min_ts: -5,
            max_ts: 1_700_000_000_000,
            chunk_start: 0,
            chunk_end: 4,
        };
        let predictions = TableDir {
            rows: 10,
            blocks: vec![block],
            chunks,
            group_index_bytes: vec![1, 2, 3],
            group_index_ends: vec![3],
        };
        Footer {
            time_range: Some((-5, 1_700_000_000_000)),
            models: vec!["fraud".to_owned()],
            columns: vec![ColumnDef {
                name: "score".to_owned(),
                value_type: ValueType::F64,
            }],
            tables: [predictions, TableDir::default(), TableDir::default()],
        }
    }

    /// Returns `sample_footer` with a delayed table of one resolved block of 4 rows (seq,
    /// delayed timestamp, prediction timestamp, prediction seq and one metric) and one orphan
    /// block of 2 rows (seq, UUID, delayed timestamp). Its chunks end at offset 252.
    fn footer_with_delayed() -> Footer {
        let fixed = |offset, len, rows, mode| ChunkRef {
            present: rows,
            ..chunk(offset, len, NO_COLUMN, mode)
        };
        let chunks = vec![
            fixed(180, 5, 4, 0x01),
            fixed(185, 4, 4, 0x11),
            fixed(189, 3, 4, 0x10),
            ChunkRef {
                present: 4,
                ..chunk(192, 12, 0, 2)
            },
            fixed(204, 3, 2, 0x11),
            fixed(207, 32, 2, 0),
            fixed(239, 10, 2, 0x01),
        ];
        let resolved = BlockDir {
            model: Some(0),
            first_row: 0,
            rows: 4,
            min_ts: 0,
            max_ts: 100,
            chunk_start: 0,
            chunk_end: 4,
        };
        let orphans = BlockDir {
            model: None,
            first_row: 4,
            rows: 2,
            min_ts: 50,
            max_ts: 60,
            chunk_start: 4,
            chunk_end: 7,
        };
        let mut footer = sample_footer();
        footer.tables[1] = TableDir {
            rows: 6,
            blocks: vec![resolved, orphans],
            chunks,
            group_index_bytes: vec![9],
            group_index_ends: vec![1, 1],
        };
        footer.time_range = footer.block_time_range();
        footer
    }

    fn decode(bytes: &[u8], base: u64) -> Result<(u32, Footer)> {
        Footer::decode(Path::new("x.seg"), bytes, base)
    }

    #[test]
    fn footer_round_trips() {
        let footer = sample_footer();
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let (version, decoded) = decode(&bytes, 180).unwrap();
        assert_eq!(version, FORMAT_VERSION);
        assert_eq!(decoded, footer);
    }

    #[test]
    fn version_2_footer_has_no_group_indexes() {
        let footer = footer_with_delayed();
        let mut bytes = Vec::new();
        footer.encode(2, &mut bytes);
        let mut current = Vec::new();
        footer.encode(FORMAT_VERSION, &mut current);
        // The three blocks lose their group indexes, 4, 2 and 1 bytes with the lengths.
        assert_eq!(bytes.len() + 7, current.len());
        let (version, decoded) = decode(&bytes, 249).unwrap();
        assert_eq!(version, 2);
        for (table, expected) in decoded.tables.iter().zip(&footer.tables) {
            assert_eq!(table.blocks, expected.blocks);
            assert_eq!(table.chunks, expected.chunks);
            assert!(table.group_index_ends.is_empty());
            for index in 0..table.blocks.len() {
                assert!(table.group_index(index).is_empty());
            }
        }
    }

    #[test]
    fn chunks_not_reaching_footer_are_corruption() {
        let mut bytes = Vec::new();
        sample_footer().encode(FORMAT_VERSION, &mut bytes);
        assert!(matches!(decode(&bytes, 181), Err(Error::Corruption { .. })));
        assert!(matches!(decode(&bytes, 179), Err(Error::Corruption { .. })));
    }

    #[test]
    fn huge_model_count_is_corruption() {
        let mut bytes = FOOTER_MAGIC.to_vec();
        for value in [1, 0, 0, 0] {
            put_varint(&mut bytes, value);
        }
        bytes.push(0);
        put_varint(&mut bytes, u64::MAX);
        let error = decode(&bytes, 0).unwrap_err();
        let Error::Corruption { offset, reason, .. } = error else {
            panic!("expected corruption");
        };
        assert_eq!(offset, 9);
        assert!(reason.contains("model count"), "{reason}");
    }

    #[test]
    fn unsorted_models_are_corruption() {
        let mut footer = sample_footer();
        footer.models = vec!["b".to_owned(), "a".to_owned()];
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let error = decode(&bytes, 180).unwrap_err();
        assert!(matches!(error, Error::Corruption { .. }));
    }

    #[test]
    fn repeated_column_is_corruption() {
        let mut footer = sample_footer();
        let column = footer.columns[0].clone();
        footer.columns.push(column);
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let error = decode(&bytes, 180).unwrap_err();
        let Error::Corruption { reason, .. } = error else {
            panic!("expected corruption");
        };
        assert!(reason.contains("repeats"), "{reason}");
    }

    #[test]
    fn uuid_chunk_of_wrong_size_is_corruption() {
        let mut footer = sample_footer();
        footer.tables[0].chunks[2].len = 159;
        footer.tables[0].chunks[3].offset = 167;
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let error = decode(&bytes, 179).unwrap_err();
        let Error::Corruption { reason, .. } = error else {
            panic!("expected corruption");
        };
        assert!(reason.contains("UUID chunk"), "{reason}");
    }

    #[test]
    fn delayed_blocks_round_trip() {
        let footer = footer_with_delayed();
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let (_, decoded) = decode(&bytes, 249).unwrap();
        assert_eq!(decoded, footer);
    }

    #[test]
    fn orphan_uuid_chunk_of_wrong_size_is_corruption() {
        let mut footer = footer_with_delayed();
        footer.tables[1].chunks[5].len = 31;
        footer.tables[1].chunks[6].offset = 238;
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let error = decode(&bytes, 248).unwrap_err();
        let Error::Corruption { reason, .. } = error else {
            panic!("expected corruption");
        };
        assert!(reason.contains("UUID chunk"), "{reason}");
    }

    #[test]
    fn wrong_time_range_is_corruption() {
        let mut footer = sample_footer();
        footer.time_range = Some((-6, 1_700_000_000_000));
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        assert!(matches!(decode(&bytes, 180), Err(Error::Corruption { .. })));
    }

    #[test]
    fn every_prefix_is_corruption() {
        let mut bytes = Vec::new();
        sample_footer().encode(FORMAT_VERSION, &mut bytes);
        for len in 0..bytes.len() {
            let result = decode(&bytes[..len], 180);
            assert!(
                matches!(result, Err(Error::Corruption { .. })),
                "prefix of {len} bytes"
            );
        }
    }
}
