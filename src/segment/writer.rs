//! Writing a segment file from the records of a flushed head.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use uuid::Uuid;

use crate::codec;
use crate::codec::ints::Restart;
use crate::error::{Error, IoContext, Result};
use crate::io::{self, CreateMode, StoreFile, StoreIo};
use crate::record::{AggregateRecord, PredictionRecord, ResolvedDelayed};
use crate::segment::columns::{
    ColumnIndex, ColumnIndexBuilder, EncodedColumn, encode_metric_columns,
};
use crate::segment::footer::{BlockDir, ChunkRef, ColumnDef, Footer, NO_COLUMN, TableDir};
use crate::segment::group_index::{self, GROUP_ROWS};
use crate::segment::layout::{BLOCK_ROWS, FLAG_ZSTD, FORMAT_VERSION, Table, ValueType};
use crate::segment::segment_file_name;
use crate::segment::trailer::Trailer;
use crate::segment::writer_columns::{
    HeadRows, HeadSegmentData, PredictionInput, SortedPredictions,
};
use crate::value::Metrics;

/// Buffer size of the segment file writer.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// The records of one segment, in any order: the writer sorts them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentData<'a> {
    pub predictions: &'a [PredictionRecord],
    pub delayed: &'a [ResolvedDelayed],
    pub aggregates: &'a [AggregateRecord],
}

/// The tables of a segment, whichever input they come from.
struct Tables<'a> {
    predictions: PredictionInput<'a>,
    delayed: &'a [ResolvedDelayed],
    aggregates: &'a [AggregateRecord],
}

/// Result of `write_segment`: the file and the prediction UUIDs of its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// Size of the file.
    pub bytes: u64,
    /// The prediction UUID of each prediction row, in row order: entry `i` is `(uuid, i)`.
    pub predictions: Vec<(Uuid, u32)>,
    /// The prediction UUID of each delayed row, in row order, orphans included. The UUIDs come
    /// from the input records: the file stores them for orphans only.
    pub delayed: Vec<(Uuid, u32)>,
    /// The first orphan row of the delayed table: rows from here on keep their UUID.
    pub first_orphan_row: u32,
}

/// Writes segment `id` into `dir` under its final name and syncs it.
///
/// An existing file of that name is replaced: the store's manifest, not the directory, decides
/// which segments are visible. On error the partial file is removed (best effort).
pub fn write_segment(
    dir: &Path,
    id: u64,
    data: &SegmentData<'_>,
    zstd_level: i32,
) -> Result<Written> {
    write_segment_with(&*io::os_io(), dir, id, data, zstd_level)
}

/// Writes segment `id` like `write_segment`, through `io`.
pub(crate) fn write_segment_with(
    io: &dyn StoreIo,
    dir: &Path,
    id: u64,
    data: &SegmentData<'_>,
    zstd_level: i32,
) -> Result<Written> {
    let tables = Tables {
        predictions: PredictionInput::Records(data.predictions),
        delayed: data.delayed,
        aggregates: data.aggregates,
    };
    write_tables(io, dir, id, &tables, zstd_level)
}

/// Writes segment `id` like `write_segment_with`, from a head's predictions: records and
/// columnar batches, whose rows the writer encodes from the arrays without a record per row.
pub(crate) fn write_head_segment_with(
    io: &dyn StoreIo,
    dir: &Path,
    id: u64,
    data: &HeadSegmentData<'_>,
    zstd_level: i32,
) -> Result<Written> {
    let tables = Tables {
        predictions: PredictionInput::Head(data.predictions),
        delayed: data.delayed,
        aggregates: data.aggregates,
    };
    write_tables(io, dir, id, &tables, zstd_level)
}

fn write_tables(
    io: &dyn StoreIo,
    dir: &Path,
    id: u64,
    data: &Tables<'_>,
    zstd_level: i32,
) -> Result<Written> {
    let started = Instant::now();
    let path = dir.join(segment_file_name(id));
    check_input(data)?;
    let result = write_file(io, &path, id, data, zstd_level);
    if result.is_err() {
        let _ = io.remove(&path);
    }
    let written = result?;
    log::info!(
        "wrote segment {}: {} predictions, {} delayed records, {} aggregate records, {} bytes \
         in {} ms",
        path.display(),
        data.predictions.len(),
        data.delayed.len(),
        data.aggregates.len(),
        written.bytes,
        started.elapsed().as_millis()
    );
    Ok(written)
}

fn write_file(
    io: &dyn StoreIo,
    path: &Path,
    id: u64,
    data: &Tables<'_>,
    zstd_level: i32,
) -> Result<Written> {
    let models = model_dictionary(data);
    let predictions = data.predictions.sort(&models);
    let delayed = sorted(data.delayed, compare_delayed);
    let aggregates = sorted(data.aggregates, compare_aggregates);
    let mut column_index = ColumnIndexBuilder::default();
    predictions.add_columns(&mut column_index);
    for metrics in delayed.iter().map(|r| &r.record.metrics) {
        column_index.add_metrics(metrics);
    }
    for metrics in aggregates.iter().map(|r| &r.metrics) {
        column_index.add_metrics(metrics);
    }
    let (index, columns) = column_index.finish();
    check_columns(&columns)?;

    let file = io
        .create(path, CreateMode::Truncate)
        .io_context("create segment file", path)?;
    let mut writer = SegmentWriter {
        path,
        out: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
        offset: 0,
        zstd_level,
        models: &models,
        index: &index,
    };
    let tables = [
        writer.write_prediction_table(&predictions)?,
        writer.write_delayed(&delayed)?,
        writer.write_aggregates(&aggregates)?,
    ];
    let mut footer = Footer {
        time_range: None,
        models: models.clone(),
        columns,
        tables,
    };
    footer.time_range = footer.block_time_range();
    let bytes = writer.finish(&footer, id)?;

    Ok(Written {
        path: path.to_path_buf(),
        bytes,
        predictions: predictions.row_uuids(),
        delayed: row_uuids(delayed.iter().map(|r| r.record.uuid)),
        first_orphan_row: delayed.partition_point(|r| r.prediction.is_some()) as u32,
    })
}

/// Rejects input that the file format cannot hold. The store's own checks reject all of it
/// earlier, and this check keeps a direct caller from writing a segment that fails to open.
fn check_input(data: &Tables<'_>) -> Result<()> {
    for (table, rows) in [
        (Table::Predictions, data.predictions.len()),
        (Table::Delayed, data.delayed.len()),
        (Table::Aggregates, data.aggregates.len()),
    ] {
        if u32::try_from(rows).is_err() {
            return Err(Error::invalid(
                "segment",
                format!("{rows} {} rows", table.name()),
                "a segment holds at most u32::MAX rows per table: flush smaller heads",
            ));
        }
    }
    let predictions = data.predictions.models();
    let delayed = data.delayed.iter().filter_map(delayed_model);
    let aggregates = data.aggregates.iter().map(|r| r.model.as_str());
    if predictions
        .chain(delayed)
        .chain(aggregates)
        .any(str::is_empty)
    {
        return Err(Error::invalid(
            "model",
            "\"\"",
            "a model id must not be empty",
        ));
    }
    Ok(())
}

/// Rejects an empty metric name, which the column directory cannot hold.
fn check_columns(columns: &[ColumnDef]) -> Result<()> {
    if columns.iter().any(|column| column.name.is_empty()) {
        return Err(Error::invalid(
            "metric name",
            "\"\"",
            "a metric name must not be empty",
        ));
    }
    Ok(())
}

fn sorted<T>(records: &[T], compare: fn(&T, &T) -> Ordering) -> Vec<&T> {
    let mut refs: Vec<&T> = records.iter().collect();
    refs.sort_by(|a, b| compare(a, b));
    refs
}

pub(super) fn compare_predictions(a: &PredictionRecord, b: &PredictionRecord) -> Ordering {
    (a.model.as_str(), a.timestamp_ms, a.seq).cmp(&(b.model.as_str(), b.timestamp_ms, b.seq))
}

/// Orders resolved rows by (model, prediction timestamp, prediction seq, seq), then orphans by
/// (delayed timestamp, UUID, seq).
fn compare_delayed(a: &ResolvedDelayed, b: &ResolvedDelayed) -> Ordering {
    let orphan_key = |r: &ResolvedDelayed| (r.record.timestamp_ms, r.record.uuid, r.record.seq);
    match (&a.prediction, &b.prediction) {
        (Some(key_a), Some(key_b)) => {
            let resolved_a = (key_a.model.as_str(), key_a.timestamp_ms, key_a.seq);
            let resolved_b = (key_b.model.as_str(), key_b.timestamp_ms, key_b.seq);
            (resolved_a, a.record.seq).cmp(&(resolved_b, b.record.seq))
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => orphan_key(a).cmp(&orphan_key(b)),
    }
}

fn compare_aggregates(a: &AggregateRecord, b: &AggregateRecord) -> Ordering {
    let key_a = (a.model.as_str(), a.start_ms, a.end_ms, a.seq);
    key_a.cmp(&(b.model.as_str(), b.start_ms, b.end_ms, b.seq))
}

fn model_dictionary(data: &Tables<'_>) -> Vec<String> {
    let mut models: BTreeSet<&str> = BTreeSet::new();
    models.extend(data.predictions.models());
    models.extend(data.delayed.iter().filter_map(delayed_model));
    models.extend(data.aggregates.iter().map(|r| r.model.as_str()));
    models.into_iter().map(str::to_owned).collect()
}

fn delayed_model(record: &ResolvedDelayed) -> Option<&str> {
    record.prediction.as_ref().map(|key| key.model.as_str())
}

fn row_uuids(uuids: impl Iterator<Item = Uuid>) -> Vec<(Uuid, u32)> {
    uuids
        .enumerate()
        .map(|(row, uuid)| (uuid, row as u32))
        .collect()
}

/// Splits sorted rows into blocks of at most `BLOCK_ROWS` rows of one group (one model).
fn split_blocks<T>(rows: &[T], same_group: impl Fn(&T, &T) -> bool) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut start = 0;
    for end in 1..=rows.len() {
        let group_ends = match (rows.get(end - 1), rows.get(end)) {
            (Some(last), Some(next)) => !same_group(last, next),
            _ => true,
        };
        if group_ends || end - start == BLOCK_ROWS {
            blocks.push(start..end);
            start = end;
        }
    }
    blocks
}

/// A fixed column of one block, encoded.
struct FixedChunk {
    bytes: Vec<u8>,
    /// False for chunks that are read in place (UUIDs) or already compressed.
    compressible: bool,
    /// The codec's mode tag, or 0 for the UUID column, which has none.
    mode: u8,
    /// The restarts that the block's group index stores for an integer column, or `None` for
    /// the UUID column, which is not in the index.
    restarts: Option<Vec<Restart>>,
}

fn timestamps_chunk(values: impl Iterator<Item = i64>) -> FixedChunk {
    let values: Vec<i64> = values.collect();
    let mut bytes = Vec::new();
    codec::timestamps::encode(&values, &mut bytes);
    integer_chunk(&values, bytes)
}

fn ints_chunk(values: impl Iterator<Item = i64>) -> FixedChunk {
    let values: Vec<i64> = values.collect();
    let mut bytes = Vec::new();
    codec::ints::encode(&values, &mut bytes);
    integer_chunk(&values, bytes)
}

/// Wraps the encoding `bytes` of a fixed integer column with its mode and restarts.
fn integer_chunk(values: &[i64], bytes: Vec<u8>) -> FixedChunk {
    let mode = bytes.first().copied().unwrap_or_default();
    FixedChunk {
        mode,
        bytes,
        compressible: true,
        restarts: Some(codec::ints::restarts(mode, values, GROUP_ROWS)),
    }
}

/// Encodes sequence numbers as the i64 of the same bits: the ints codec round-trips them.
fn seq_chunk(values: impl Iterator<Item = u64>) -> FixedChunk {
    ints_chunk(values.map(|seq| seq as i64))
}

fn uuid_chunk(values: impl Iterator<Item = Uuid>) -> FixedChunk {
    let mut bytes = Vec::new();
    for uuid in values {
        bytes.extend_from_slice(uuid.as_bytes());
    }
    FixedChunk {
        bytes,
        compressible: false,
        mode: 0,
        restarts: None,
    }
}

/// Encodes the fixed columns of a block of resolved delayed rows, which names each row's
/// prediction by its timestamp and seq. Returns them with the prediction timestamps, which
/// index the block.
///
/// The rows' own seqs are not stored: rows of one prediction are in seq order in the block,
/// and a later segment holds later records, so the position orders them.
fn resolved_fixed_chunks(block: &[&ResolvedDelayed]) -> (Vec<i64>, Vec<FixedChunk>) {
    // Every row of a resolved block has a prediction key: blocks are split by model.
    let keys = block.iter().filter_map(|r| r.prediction.as_ref());
    let prediction_ts: Vec<i64> = keys.clone().map(|key| key.timestamp_ms).collect();
    let fixed = vec![
        ints_chunk(block.iter().map(|r| r.record.timestamp_ms)),
        timestamps_chunk(prediction_ts.iter().copied()),
        seq_chunk(keys.map(|key| key.seq)),
    ];
    (prediction_ts, fixed)
}

/// Encodes the fixed columns of a block of orphans, which keeps each row's prediction UUID.
/// Returns them with the delayed timestamps, which index the block.
fn orphan_fixed_chunks(block: &[&ResolvedDelayed]) -> (Vec<i64>, Vec<FixedChunk>) {
    let delayed_ts: Vec<i64> = block.iter().map(|r| r.record.timestamp_ms).collect();
    let fixed = vec![
        seq_chunk(block.iter().map(|r| r.record.seq)),
        uuid_chunk(block.iter().map(|r| r.record.uuid)),
        ints_chunk(delayed_ts.iter().copied()),
    ];
    (delayed_ts, fixed)
}

/// Encodes the group index of a block from its fixed chunks.
fn group_index(fixed: &[FixedChunk]) -> Vec<u8> {
    let columns: Vec<(u8, &[Restart])> = fixed
        .iter()
        .filter_map(|chunk| Some((chunk.mode, chunk.restarts.as_deref()?)))
        .collect();
    let mut out = Vec::new();
    group_index::encode(&columns, &mut out);
    out
}

/// One block, ready to write.
struct BlockInput<'a> {
    model: Option<u32>,
    min_ts: i64,
    max_ts: i64,
    fixed: Vec<FixedChunk>,
    metrics: BlockMetrics<'a>,
}

/// The metric columns of a block: the metrics of its records, or its columns encoded already.
enum BlockMetrics<'a> {
    Records(Vec<&'a Metrics>),
    Encoded {
        rows: u32,
        columns: Vec<EncodedColumn>,
    },
}

struct SegmentWriter<'w> {
    path: &'w Path,
    out: BufWriter<Box<dyn StoreFile>>,
    offset: u64,
    zstd_level: i32,
    models: &'w [String],
    index: &'w ColumnIndex<'w>,
}

impl SegmentWriter<'_> {
    fn model_index(&self, model: &str) -> Option<u32> {
        self.models
            .binary_search_by(|m| m.as_str().cmp(model))
            .ok()
            .map(|i| i as u32)
    }

    fn write_predictions(&mut self, rows: &[&PredictionRecord]) -> Result<TableDir> {
        let mut dir = table_dir(rows.len());
        for range in split_blocks(rows, |a, b| a.model == b.model) {
            let block = rows.get(range).unwrap_or_default();
            let timestamps = block.iter().map(|r| r.timestamp_ms);
            let input = BlockInput {
                model: block.first().and_then(|r| self.model_index(&r.model)),
                min_ts: timestamps.clone().min().unwrap_or_default(),
                max_ts: timestamps.clone().max().unwrap_or_default(),
                fixed: vec![
                    seq_chunk(block.iter().map(|r| r.seq)),
                    timestamps_chunk(timestamps),
                    uuid_chunk(block.iter().map(|r| r.uuid)),
                ],
                metrics: BlockMetrics::Records(block.iter().map(|r| &r.metrics).collect()),
            };
            self.write_block(&mut dir, input)?;
        }
        Ok(dir)
    }

    fn write_prediction_table(&mut self, rows: &SortedPredictions<'_>) -> Result<TableDir> {
        match rows {
            SortedPredictions::Records(records) => self.write_predictions(records),
            SortedPredictions::Head(rows) => self.write_head_predictions(rows),
        }
    }

    /// Writes the prediction table from a head's rows, encoding each block's metric columns
    /// from the batches' arrays.
    fn write_head_predictions(&mut self, rows: &HeadRows<'_>) -> Result<TableDir> {
        let mut dir = table_dir(rows.rows.len());
        let batch_columns = rows.batch_columns(self.index);
        for range in split_blocks(&rows.rows, |a, b| a.model == b.model) {
            let block = rows.rows.get(range).unwrap_or_default();
            let timestamps = block.iter().map(|r| r.timestamp_ms);
            let columns =
                rows.encode_metrics(block, &batch_columns, self.index, self.zstd_level)?;
            let input = BlockInput {
                model: block.first().map(|r| r.model),
                min_ts: timestamps.clone().min().unwrap_or_default(),
                max_ts: timestamps.clone().max().unwrap_or_default(),
                fixed: vec![
                    seq_chunk(block.iter().map(|r| r.seq)),
                    timestamps_chunk(timestamps),
                    uuid_chunk(rows.uuids(block)),
                ],
                metrics: BlockMetrics::Encoded {
                    rows: block.len() as u32,
                    columns,
                },
            };
            self.write_block(&mut dir, input)?;
        }
        Ok(dir)
    }

    fn write_delayed(&mut self, rows: &[&ResolvedDelayed]) -> Result<TableDir> {
        let mut dir = table_dir(rows.len());
        for range in split_blocks(rows, |a, b| delayed_model(a) == delayed_model(b)) {
            let block = rows.get(range).unwrap_or_default();
            let key = block.first().and_then(|r| r.prediction.as_ref());
            let (range_ts, fixed) = match key {
                Some(_) => resolved_fixed_chunks(block),
                None => orphan_fixed_chunks(block),
            };
            let input = BlockInput {
                model: key.and_then(|key| self.model_index(&key.model)),
                min_ts: range_ts.iter().copied().min().unwrap_or_default(),
                max_ts: range_ts.iter().copied().max().unwrap_or_default(),
                fixed,
                metrics: BlockMetrics::Records(block.iter().map(|r| &r.record.metrics).collect()),
            };
            self.write_block(&mut dir, input)?;
        }
        Ok(dir)
    }

    fn write_aggregates(&mut self, rows: &[&AggregateRecord]) -> Result<TableDir> {
        let mut dir = table_dir(rows.len());
        for range in split_blocks(rows, |a, b| a.model == b.model) {
            let block = rows.get(range).unwrap_or_default();
            let starts = block.iter().map(|r| r.start_ms);
            let ends = block.iter().map(|r| r.end_ms);
            let input = BlockInput {
                model: block.first().and_then(|r| self.model_index(&r.model)),
                min_ts: starts.clone().min().unwrap_or_default(),
                max_ts: ends.clone().max().unwrap_or_default(),
                fixed: vec![
                    seq_chunk(block.iter().map(|r| r.seq)),
                    timestamps_chunk(starts),
                    timestamps_chunk(ends),
                ],
                metrics: BlockMetrics::Records(block.iter().map(|r| &r.metrics).collect()),
            };
            self.write_block(&mut dir, input)?;
        }
        Ok(dir)
    }

    fn write_block(&mut self, dir: &mut TableDir, input: BlockInput<'_>) -> Result<()> {
        let (rows, columns) = match input.metrics {
            BlockMetrics::Records(metrics) => {
                let columns = encode_metric_columns(self.index, &metrics, self.zstd_level)?;
                (metrics.len() as u32, columns)
            }
            BlockMetrics::Encoded { rows, columns } => (rows, columns),
        };
        let first_row = dir.blocks.last().map_or(0, |b| b.first_row + b.rows);
        let chunk_start = dir.chunks.len() as u32;
        for fixed in &input.fixed {
            let chunk = self.write_chunk(&fixed.bytes, fixed.compressible, rows, NO_COLUMN)?;
            dir.chunks.push(chunk.with_mode(fixed.mode));
        }
        for column in columns {
            // Blobs compress each value with zstd already.
            let compressible = column.value_type != ValueType::Bytes;
            let chunk = self.write_chunk(&column.bytes, compressible, column.present, column.id)?;
            dir.chunks.push(chunk.with_mode(column.mode));
        }
        dir.push_group_index(&group_index(&input.fixed));
        dir.blocks.push(BlockDir {
            model: input.model,
            first_row,
            rows,
            min_ts: input.min_ts,
            max_ts: input.max_ts,
            chunk_start,
            chunk_end: dir.chunks.len() as u32,
        });
        Ok(())
    }

    /// Writes one chunk, zstd-compressed when that makes it smaller, and returns its entry
    /// with mode 0.
    fn write_chunk(
        &mut self,
        raw: &[u8],
        compressible: bool,
        present: u32,
        column: u32,
    ) -> Result<ChunkRef> {
        let compressed = compressible.then(|| codec::compress_zstd(raw, self.zstd_level));
        let (stored, flags) = match &compressed {
            Some(frame) if frame.len() < raw.len() => (frame.as_slice(), FLAG_ZSTD),
            _ => (raw, 0),
        };
        self.out
            .write_all(stored)
            .io_context("write segment file", self.path)?;
        let chunk = ChunkRef {
            offset: self.offset,
            len: stored.len() as u64,
            raw_len: raw.len() as u64,
            crc: crc32fast::hash(stored),
            present,
            column,
            flags,
            mode: 0,
        };
        self.offset += chunk.len;
        Ok(chunk)
    }

    /// Writes the footer and the trailer of segment `id`, syncs the file and returns its size.
    fn finish(mut self, footer: &Footer, id: u64) -> Result<u64> {
        let mut bytes = Vec::new();
        footer.encode(FORMAT_VERSION, &mut bytes);
        let footer_len = u32::try_from(bytes.len()).map_err(|_| {
            Error::invalid(
                "segment",
                format!("{} footer bytes", bytes.len()),
                "a segment footer is at most 4 GiB: flush smaller heads",
            )
        })?;
        let trailer = Trailer {
            footer_offset: self.offset,
            footer_len,
            footer_crc: crc32fast::hash(&bytes),
            segment_id: id,
            version: FORMAT_VERSION,
        };
        trailer.encode(&mut bytes);
        self.out
            .write_all(&bytes)
            .io_context("write segment file", self.path)?;
        let file = self.out.into_inner().map_err(|e| e.into_error());
        let mut file = file.io_context("write segment file", self.path)?;
        file.sync().io_context("sync segment file", self.path)?;
        Ok(self.offset + bytes.len() as u64)
    }
}

fn table_dir(rows: usize) -> TableDir {
    TableDir {
        rows: rows as u32,
        ..TableDir::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_blocks_cuts_at_group_and_size() {
        let mut rows = vec![1; BLOCK_ROWS + 10];
        rows.extend([2, 2, 3]);
        let blocks = split_blocks(&rows, |a, b| a == b);
        let expected = vec![
            0..BLOCK_ROWS,
            BLOCK_ROWS..BLOCK_ROWS + 10,
            BLOCK_ROWS + 10..BLOCK_ROWS + 12,
            BLOCK_ROWS + 12..BLOCK_ROWS + 13,
        ];
        assert_eq!(blocks, expected);
    }

    #[test]
    fn split_blocks_of_nothing_is_empty() {
        let rows: [u8; 0] = [];
        assert!(split_blocks(&rows, |a, b| a == b).is_empty());
    }
}
