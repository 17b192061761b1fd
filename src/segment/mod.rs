//! Segments: immutable columnar files that hold the records of one flushed head.
//!
//! A segment has three tables (predictions, delayed records, aggregate records), each split
//! into blocks of at most [`BLOCK_ROWS`] rows of one model. Each column of each block is a
//! chunk with its own codec, optional zstd and CRC32. A footer locates every chunk, and a
//! fixed-size trailer locates the footer. docs/format/segment.md describes the bytes.
//!
//! [`Segment::open`] maps the file and reads only the trailer and the footer. Block chunks are
//! checked and decoded when a read needs them.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod block;
mod columns;
mod columns_read;
mod footer;
mod footer_decode;
mod group_index;
mod layout;
mod query;
mod records;
mod records_resolved;
mod summary;
mod trailer;
mod writer;
mod writer_columns;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memmap2::Mmap;

use crate::error::{Error, IoContext, Result};
use block::BlockReader;
use footer::{BlockDir, Footer};
use layout::{FOOTER_MAGIC, FORMAT_VERSION, SEGMENT_EXTENSION, TRAILER_LEN, TRAILER_VERSION};
use trailer::Trailer;

pub use columns_read::{DelayedColumns, PredictionColumns};
pub use layout::BLOCK_ROWS;
pub(crate) use layout::Table;
pub use query::PredictionScan;
pub use records::SegmentRecords;
pub use summary::{ColumnSummary, ModelSummary, RowsSummary, SegmentSummary};
pub use writer::{SegmentData, Written, write_segment};
pub(crate) use writer::{write_head_segment_with, write_segment_with};
pub(crate) use writer_columns::{HEAD_ROW_BYTES, HeadPredictions, HeadSegmentData};

/// Returns the file name of segment `id`: `seg-` and the id in 20 decimal digits, so that names
/// sort by id.
pub fn segment_file_name(id: u64) -> String {
    format!("seg-{id:020}.{SEGMENT_EXTENSION}")
}

/// Returns the id of a file named as `segment_file_name` names it, or `None` for any other name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix("seg-")?
        .strip_suffix(SEGMENT_EXTENSION)?
        .strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An open segment file, mapped into memory. Reads take `&self` and may run on many threads.
pub struct Segment {
    id: u64,
    path: PathBuf,
    map: Mmap,
    footer: Footer,
    footer_offset: u64,
    /// One bit per block of each table, set once the block's UUID chunk passed its CRC check:
    /// `uuid_at` reads UUIDs in place and checks each chunk the first time.
    uuids_checked: [Vec<AtomicU64>; 3],
    /// Set when a compaction replaced this segment: the file is removed when the last reader
    /// drops its handle.
    obsolete: AtomicBool,
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !self.obsolete.load(Ordering::SeqCst) {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => log::debug!("removed replaced segment {}", self.path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "removing replaced segment {} failed: {e}",
                self.path.display()
            ),
        }
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("bytes", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl Segment {
    /// Opens segment `id` in `dir`: maps it, then checks and parses its trailer and footer.
    ///
    /// Returns `Error::Corruption` when the trailer records another segment id, so that a file
    /// copied under the wrong name is never read as segment `id`.
    pub fn open(dir: &Path, id: u64) -> Result<Segment> {
        let path = dir.join(segment_file_name(id));
        let file = File::open(&path).io_context("open segment file", &path)?;
        let len = file
            .metadata()
            .io_context("stat segment file", &path)?
            .len();
        if len < TRAILER_LEN as u64 {
            let reason = format!(
                "the file has {len} bytes, fewer than the {TRAILER_LEN}-byte trailer: \
                 the segment was truncated"
            );
            return Err(Error::corruption(&path, 0, reason));
        }
        // SAFETY: segment files are immutable: the store writes and syncs a segment before it
        // opens it, and never writes to or truncates it afterwards. Another process changing
        // the file while it is mapped is outside the store's contract.
        let map = unsafe { Mmap::map(&file) }.io_context("map segment file", &path)?;
        let (trailer, footer) = read_footer(&path, &map)?;
        trailer.check_segment_id(&path, id)?;
        log::debug!("opened segment {}: {} bytes", path.display(), map.len());
        let checked_bits = |table| {
            let words = footer.table(table).blocks.len().div_ceil(64);
            (0..words).map(|_| AtomicU64::new(0)).collect()
        };
        let uuids_checked = [
            checked_bits(Table::Predictions),
            checked_bits(Table::Delayed),
            checked_bits(Table::Aggregates),
        ];
        Ok(Segment {
            id,
            path,
            map,
            footer,
            footer_offset: trailer.footer_offset,
            uuids_checked,
            obsolete: AtomicBool::new(false),
        })
    }

    /// Marks the file for removal once no reader uses this segment. A compaction calls it
    /// after the manifest stopped listing the segment; a crash before the removal leaves a
    /// file that the next open deletes.
    pub(crate) fn remove_when_unused(&self) {
        self.obsolete.store(true, Ordering::SeqCst);
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Returns the absolute offset of the footer, which is also the size of the block data.
    pub fn footer_offset(&self) -> u64 {
        self.footer_offset
    }

    /// Returns the number of rows of the predictions table.
    pub fn prediction_count(&self) -> u32 {
        self.table(Table::Predictions).rows
    }

    /// Returns the number of rows of the delayed table, orphans included.
    pub fn delayed_count(&self) -> u32 {
        self.table(Table::Delayed).rows
    }

    /// Returns the number of rows of the aggregates table.
    pub fn aggregate_count(&self) -> u32 {
        self.table(Table::Aggregates).rows
    }

    /// Returns the union of the time ranges of all blocks, or `None` for an empty segment.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.footer.time_range
    }

    /// Returns the model ids that have rows in this segment, ascending.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.footer.models.iter().map(String::as_str)
    }

    /// Returns the model ids that have rows in the predictions table of this segment, ascending.
    pub fn prediction_models(&self) -> impl Iterator<Item = &str> {
        let mut previous = None;
        let blocks = self.blocks(Table::Predictions).iter();
        let indexes = blocks.filter_map(move |block| {
            // Blocks are sorted by model, so a model's blocks are adjacent.
            let model = block.model.filter(|&m| previous != Some(m))?;
            previous = Some(model);
            Some(model)
        });
        indexes.filter_map(|m| self.footer.models.get(m as usize).map(String::as_str))
    }

    fn table(&self, table: Table) -> &footer::TableDir {
        self.footer.table(table)
    }

    fn blocks(&self, table: Table) -> &[BlockDir] {
        &self.table(table).blocks
    }

    fn block_reader(&self, table: Table, index: usize) -> Result<BlockReader<'_>> {
        BlockReader::new(&self.path, &self.map, &self.footer, table, index).ok_or_else(|| {
            let reason = format!("{} block {index} does not exist", table.name());
            Error::corruption(&self.path, 0, reason)
        })
    }

    fn model_index(&self, model: &str) -> Option<u32> {
        let found = self
            .footer
            .models
            .binary_search_by(|m| m.as_str().cmp(model));
        found.ok().map(|index| index as u32)
    }

    /// Returns the range of blocks of `model` in `table`: blocks are sorted by model.
    fn model_blocks(&self, table: Table, model: &str) -> Range<usize> {
        let Some(model) = self.model_index(model) else {
            return 0..0;
        };
        let blocks = self.blocks(table);
        let start = blocks.partition_point(|b| b.model.is_some_and(|m| m < model));
        let end = blocks.partition_point(|b| b.model.is_some_and(|m| m <= model));
        start..end
    }

    /// Checks the CRC of the UUID chunk of block `index` of `table` the first time it is read
    /// in place.
    fn check_uuids_once(&self, reader: &BlockReader<'_>, table: Table, index: usize) -> Result<()> {
        let slot = match table {
            Table::Predictions => 0,
            Table::Delayed => 1,
            Table::Aggregates => 2,
        };
        let word = self
            .uuids_checked
            .get(slot)
            .and_then(|words| words.get(index / 64));
        let bit = 1u64 << (index % 64);
        if word.is_some_and(|w| w.load(Ordering::Relaxed) & bit != 0) {
            return Ok(());
        }
        reader.check_uuid_chunk()?;
        if let Some(word) = word {
            word.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Returns the index of the block holding `row`, and the row's position in it.
    fn locate_row(&self, table: Table, row: u32) -> Result<(usize, usize)> {
        let rows = self.table(table).rows;
        if row >= rows {
            return Err(Error::invalid(
                "row",
                row.to_string(),
                format!(
                    "segment {} has {rows} {} rows: the UUID index points past them",
                    self.path.display(),
                    table.name()
                ),
            ));
        }
        let blocks = self.blocks(table);
        let index = blocks
            .partition_point(|b| b.first_row <= row)
            .saturating_sub(1);
        let first_row = blocks.get(index).map_or(0, |b| b.first_row);
        Ok((index, (row - first_row) as usize))
    }
}

/// Checks the trailer and the footer's CRC and version, then parses the footer.
fn read_footer(path: &Path, map: &[u8]) -> Result<(Trailer, Footer)> {
    let trailer = Trailer::decode(path, map)?;
    let start = trailer.footer_offset as usize;
    let bytes = map
        .get(start..start + trailer.footer_len as usize)
        .unwrap_or_default();
    let crc = crc32fast::hash(bytes);
    if crc != trailer.footer_crc {
        let reason = format!(
            "the footer's CRC32 is {crc:#010x}, the trailer records {:#010x}",
            trailer.footer_crc
        );
        return Err(Error::corruption(path, trailer.footer_offset, reason));
    }
    check_version(path, &trailer, bytes)?;
    let (version, footer) = Footer::decode(path, bytes, trailer.footer_offset)?;
    if version != trailer.version {
        let reason = format!(
            "the footer has version {version}, the trailer {}",
            trailer.version
        );
        return Err(Error::corruption(path, trailer.footer_offset, reason));
    }
    Ok((trailer, footer))
}

/// Rejects a file of a format version that this build does not read before its footer is
/// parsed.
///
/// The version is in both the trailer and the CRC-checked footer. When the two agree on a
/// version other than 2 or 3 the file is from another build, and when they disagree the trailer
/// is damaged.
fn check_version(path: &Path, trailer: &Trailer, footer: &[u8]) -> Result<()> {
    if trailer.is_supported() {
        return Ok(());
    }
    let mut reader = crate::codec::Reader::new(footer);
    let magic_ok = reader
        .bytes(FOOTER_MAGIC.len())
        .is_ok_and(|m| m == FOOTER_MAGIC);
    let footer_version = reader.varint().ok();
    if magic_ok && footer_version == Some(u64::from(trailer.version)) {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: trailer.version,
            supported: FORMAT_VERSION,
        });
    }
    let offset = trailer.footer_offset + u64::from(trailer.footer_len) + TRAILER_VERSION as u64;
    let reason = format!(
        "the trailer has version {}, the footer {footer_version:?}",
        trailer.version
    );
    Err(Error::corruption(path, offset, reason))
}
