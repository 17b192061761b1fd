//! Streaming writer of an index run file.
//!
//! Entries arrive sorted, one at a time, so a merge never keeps them all in memory. The writer
//! fills the header region with zeros first and writes the real header last, then syncs: a file
//! cut short at any point has a zero magic or no valid footer, and fails to open.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::bloom::Bloom;
use super::format::{
    self, DATA_OFFSET, Footer, Header, MAX_ROW_BITS, MAX_SLOT_BITS, PAGE_CRC_OFFSET, PAGE_SIZE,
    PackedEntry, Packing,
};
use uuid::Uuid;

use super::{IndexEntry, index_file_name};
use crate::error::{Error, IoContext, Result};
use crate::io::{CreateMode, StoreFile, StoreIo};

/// Bytes buffered between the writer and the file.
const WRITE_BUFFER: usize = 16 * PAGE_SIZE;

/// The range a run addresses: its segment ids and its largest row number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunShape {
    /// Segment ids, ascending and distinct; an entry names a segment by its position here.
    pub segments: Vec<u64>,
    pub max_row: u32,
}

impl RunShape {
    /// Returns the shape that addresses every entry of `entries`.
    pub(crate) fn of(entries: &[IndexEntry]) -> RunShape {
        let mut segments: Vec<u64> = entries.iter().map(|e| e.segment).collect();
        segments.sort_unstable();
        segments.dedup();
        let max_row = entries.iter().map(|e| e.row).max().unwrap_or(0);
        RunShape { segments, max_row }
    }

    fn check(&self) -> Result<Packing> {
        let packing = Packing::new(self.segments.len(), self.max_row);
        if packing.slot_bits > MAX_SLOT_BITS || packing.row_bits > MAX_ROW_BITS {
            let reason = format!("an index run names at most 2^{MAX_SLOT_BITS} segments");
            let count = self.segments.len().to_string();
            return Err(Error::invalid("segment count", count, reason));
        }
        Ok(packing)
    }
}

/// Writes one run file; dropping it before `finish` removes the partial file.
pub(crate) struct RunWriter {
    io: Arc<dyn StoreIo>,
    path: PathBuf,
    file: Option<BufWriter<Box<dyn StoreFile>>>,
    run_id: u64,
    shape: RunShape,
    packing: Packing,
    per_page: usize,
    page: Vec<u8>,
    in_page: usize,
    pages: u64,
    entries: u64,
    fences: Vec<u8>,
    bloom: Bloom,
    last: Option<IndexEntry>,
}

impl RunWriter {
    /// Creates `dir/index-{id}.idx`, which must not exist, for entries that `shape` addresses,
    /// with a bloom filter sized for `expected_entries`.
    #[cfg(test)]
    pub(crate) fn create(
        dir: &Path,
        run_id: u64,
        expected_entries: u64,
        shape: RunShape,
    ) -> Result<RunWriter> {
        RunWriter::create_with(crate::io::os_io(), dir, run_id, expected_entries, shape)
    }

    /// Creates run file `run_id` like `create`, writing it through `io`.
    pub(crate) fn create_with(
        io: Arc<dyn StoreIo>,
        dir: &Path,
        run_id: u64,
        expected_entries: u64,
        shape: RunShape,
    ) -> Result<RunWriter> {
        let bloom = Bloom::with_capacity(expected_entries);
        RunWriter::create_with_bloom(io, dir, run_id, bloom, shape)
    }

    /// Creates run file `run_id` like `create_with`, starting from `bloom` as its filter. The
    /// caller of `push_packed` passes a filter that already contains every UUID it pushes.
    pub(crate) fn create_with_bloom(
        io: Arc<dyn StoreIo>,
        dir: &Path,
        run_id: u64,
        bloom: Bloom,
        shape: RunShape,
    ) -> Result<RunWriter> {
        let packing = shape.check()?;
        let path = dir.join(index_file_name(run_id));
        let file = io
            .create(&path, CreateMode::New)
            .io_context("create index run", &path)?;
        let mut writer = RunWriter {
            io,
            path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            run_id,
            shape,
            packing,
            per_page: packing.entries_per_page() as usize,
            page: vec![0; PAGE_SIZE],
            in_page: 0,
            pages: 0,
            entries: 0,
            fences: Vec::new(),
            bloom,
            last: None,
        };
        writer.write_bytes(&[0; DATA_OFFSET as usize])?;
        Ok(writer)
    }

    /// Appends an entry, which must not sort before the previous one and must lie in a segment
    /// and row range of the writer's shape.
    pub(crate) fn push(&mut self, entry: &IndexEntry) -> Result<()> {
        let packed = self.pack(entry)?;
        if self.last.is_some_and(|last| *entry < last) {
            let reason = "index run entries must be pushed in sorted order";
            return Err(Error::invalid("index entry", format!("{entry:?}"), reason));
        }
        if self.in_page == 0 {
            self.fences.extend_from_slice(entry.uuid.as_bytes());
        }
        self.packing.encode(packed, self.in_page, &mut self.page);
        self.bloom.insert(&entry.uuid);
        self.last = Some(*entry);
        self.entries += 1;
        self.in_page += 1;
        if self.in_page == self.per_page {
            self.write_page()?;
        }
        Ok(())
    }

    /// Appends an entry given by its slot in the writer's segment table, kind and row, for a
    /// copy of entries already in order. The writer neither checks the order nor adds to the
    /// bloom filter, and calls `fence` for the UUID of the entry only when it starts a page.
    pub(crate) fn push_packed(
        &mut self,
        packed: PackedEntry,
        fence: impl FnOnce() -> Result<Uuid>,
    ) -> Result<()> {
        if packed.slot as usize >= self.shape.segments.len() {
            let reason = format!(
                "the run's segment table has {} slots",
                self.shape.segments.len()
            );
            return Err(Error::invalid(
                "segment slot",
                packed.slot.to_string(),
                reason,
            ));
        }
        if packed.row > self.shape.max_row {
            let reason = format!("the run addresses rows up to {}", self.shape.max_row);
            return Err(Error::invalid("row", packed.row.to_string(), reason));
        }
        if self.in_page == 0 {
            self.fences.extend_from_slice(fence()?.as_bytes());
        }
        self.packing.encode(packed, self.in_page, &mut self.page);
        self.entries += 1;
        self.in_page += 1;
        if self.in_page == self.per_page {
            self.write_page()?;
        }
        Ok(())
    }

    fn pack(&self, entry: &IndexEntry) -> Result<PackedEntry> {
        let slot = self.shape.segments.binary_search(&entry.segment);
        let Ok(slot) = slot else {
            let reason = "the run's segment table does not name this segment";
            return Err(Error::invalid(
                "segment id",
                entry.segment.to_string(),
                reason,
            ));
        };
        if entry.row > self.shape.max_row {
            let reason = format!("the run addresses rows up to {}", self.shape.max_row);
            return Err(Error::invalid("row", entry.row.to_string(), reason));
        }
        Ok(PackedEntry {
            slot: slot as u32,
            kind: entry.kind,
            row: entry.row,
        })
    }

    /// Writes the last page, the segment table, the fences, the bloom filter, the footer and
    /// the header, then syncs the file. Returns its path.
    pub(crate) fn finish(mut self) -> Result<PathBuf> {
        if self.in_page > 0 {
            self.write_page()?;
        }
        let segments: Vec<u8> = self
            .shape
            .segments
            .iter()
            .flat_map(|id| id.to_le_bytes())
            .collect();
        let footer = self.footer(&segments);
        let fences = std::mem::take(&mut self.fences);
        self.write_bytes(&segments)?;
        self.write_bytes(&fences)?;
        self.write_bloom()?;
        self.write_bytes(&footer.encode())?;
        self.write_header()?;
        self.file = None;
        Ok(std::mem::take(&mut self.path))
    }

    fn footer(&self, segments: &[u8]) -> Footer {
        let bloom_bytes = self.bloom.words().len() as u64 * 8;
        let fence_offset = format::page_offset(self.pages) + segments.len() as u64;
        let mut bloom_crc = crc32fast::Hasher::new();
        for word in self.bloom.words() {
            bloom_crc.update(&word.to_le_bytes());
        }
        Footer {
            fence_offset,
            fence_len: self.fences.len() as u64,
            bloom_offset: fence_offset + self.fences.len() as u64,
            bloom_len: bloom_bytes,
            bloom_bits: self.bloom.bits(),
            bloom_hashes: self.bloom.hashes(),
            fence_crc: format::crc32(&self.fences),
            bloom_crc: bloom_crc.finalize(),
            segment_crc: format::crc32(segments),
        }
    }

    fn write_page(&mut self) -> Result<()> {
        let crc = format::page_crc(self.pages, &self.page);
        if let Some(slot) = self.page.get_mut(PAGE_CRC_OFFSET..) {
            slot.copy_from_slice(&crc.to_le_bytes());
        }
        let page = std::mem::take(&mut self.page);
        let written = self.write_bytes(&page);
        self.page = page;
        self.page.fill(0);
        written?;
        self.pages += 1;
        self.in_page = 0;
        Ok(())
    }

    fn write_bloom(&mut self) -> Result<()> {
        let path = &self.path;
        let file = self.file.as_mut().ok_or_else(|| finished_error(path))?;
        for word in self.bloom.words() {
            file.write_all(&word.to_le_bytes())
                .io_context("write index run", path)?;
        }
        Ok(())
    }

    fn write_header(&mut self) -> Result<()> {
        let header = Header {
            run_id: self.run_id,
            entry_count: self.entries,
            page_count: self.pages,
            segment_count: self.shape.segments.len() as u32,
            row_bits: self.packing.row_bits,
        };
        let path = &self.path;
        let file = self.file.as_mut().ok_or_else(|| finished_error(path))?;
        file.flush().io_context("write index run", path)?;
        let inner = file.get_mut();
        inner
            .seek(SeekFrom::Start(0))
            .io_context("seek index run", path)?;
        inner
            .write_all(&header.encode())
            .io_context("write index run", path)?;
        // NOTE: the directory is not synced here, so the new file name is durable only after
        // the store syncs the directory, which its manifest update must do.
        inner.sync().io_context("sync index run", path)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let path = &self.path;
        let file = self.file.as_mut().ok_or_else(|| finished_error(path))?;
        file.write_all(bytes).io_context("write index run", path)
    }
}

fn finished_error(path: &Path) -> Error {
    Error::Io {
        operation: "write index run",
        path: path.to_path_buf(),
        source: std::io::Error::other("the writer was already finished"),
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: the store also deletes files that its manifest does not list.
            let _ = self.io.remove(&self.path);
        }
    }
}
