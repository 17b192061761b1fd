//! An immutable index run: one memory-mapped file of sorted, packed entries.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use uuid::Uuid;

use super::bloom::{BLOCK_BITS, Bloom, MAX_HASHES, UuidHash};
use super::format::{
    self, DATA_OFFSET, FENCE_SIZE, FOOTER_SIZE, Footer, HEADER_SIZE, Header, PAGE_CRC_OFFSET,
    PAGE_ENTRY_BYTES, PAGE_SIZE, PackedEntry, Packing, SEGMENT_ID_SIZE,
};
use super::writer::{RunShape, RunWriter};
use super::{IndexEntry, RunInfo, UuidSource, index_file_name};
use crate::error::{Error, IoContext, Result};
use crate::io::StoreIo;

/// One index run file, opened: header, footer, segment table, fences and bloom filter are in
/// memory, the entries are read through the memory mapping.
pub struct IndexRun {
    path: PathBuf,
    map: Mmap,
    header: Header,
    packing: Packing,
    /// Segment ids by slot, ascending.
    segments: Vec<u64>,
    /// First UUID of each page, as big-endian u128.
    fences: Vec<u128>,
    bloom: Bloom,
    /// One bit per page, set once the page's CRC has been checked.
    checked: Vec<AtomicU64>,
}

impl std::fmt::Debug for IndexRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexRun")
            .field("path", &self.path)
            .field("entries", &self.header.entry_count)
            .field("pages", &self.header.page_count)
            .field("segments", &self.segments.len())
            .finish()
    }
}

/// The checked bytes of one page and its entry count.
struct Page<'a> {
    index: u64,
    bytes: &'a [u8],
    count: usize,
}

impl IndexRun {
    /// Sorts `entries` and writes them as run `id` in `dir`, then syncs and opens the file.
    /// The file must not exist yet. Several entries may share a UUID.
    pub fn write(dir: &Path, id: u64, entries: Vec<IndexEntry>) -> Result<IndexRun> {
        IndexRun::write_with(crate::io::os_io(), dir, id, entries)
    }

    /// Writes run `id` like `write`, through `io`.
    pub(crate) fn write_with(
        io: Arc<dyn StoreIo>,
        dir: &Path,
        id: u64,
        mut entries: Vec<IndexEntry>,
    ) -> Result<IndexRun> {
        entries.sort_unstable();
        let shape = RunShape::of(&entries);
        let mut writer = RunWriter::create_with(io, dir, id, entries.len() as u64, shape)?;
        for entry in &entries {
            writer.push(entry)?;
        }
        let path = writer.finish()?;
        log::debug!(
            "wrote index run {} with {} entries",
            path.display(),
            entries.len()
        );
        IndexRun::open(dir, id)
    }

    /// Opens run `id` in `dir`, checking the header, the footer, the segment table, the fences
    /// and the bloom filter. Pages are checked when first read, so opening reads a small part
    /// of the file.
    pub fn open(dir: &Path, id: u64) -> Result<IndexRun> {
        let path = dir.join(index_file_name(id));
        let file = File::open(&path).io_context("open index run", &path)?;
        let len = file
            .metadata()
            .io_context("read metadata of index run", &path)?
            .len();
        check_min_len(len, &path)?;
        // SAFETY: index run files are immutable: the store writes and syncs a run before it
        // lists it and never modifies it afterwards, and its directory lock keeps other writers
        // out. A file truncated behind the store's back would fault on access (SIGBUS).
        let map = unsafe { Mmap::map(&file) }.io_context("map index run", &path)?;
        let (header, footer) = read_layout(&map, id, &path)?;
        let segments = load_segments(&map, &header, &footer, &path)?;
        let fences = load_fences(&map, &footer, &path)?;
        let bloom = load_bloom(&map, &footer, &path)?;
        let checked_words = header.page_count.div_ceil(64) as usize;
        Ok(IndexRun {
            path,
            map,
            packing: header.packing(),
            header,
            segments,
            fences,
            bloom,
            checked: (0..checked_words).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    pub fn info(&self) -> RunInfo {
        RunInfo {
            id: self.header.run_id,
            entries: self.header.entry_count,
            file_bytes: self.map.len() as u64,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the ids of the segments that the run's entries point into, ascending.
    pub fn segments(&self) -> &[u64] {
        &self.segments
    }

    /// Returns the width of one packed entry, in bits.
    pub fn entry_bits(&self) -> u32 {
        self.packing.entry_bits()
    }

    #[cfg(test)]
    pub(crate) fn entries_per_page(&self) -> u64 {
        self.packing.entries_per_page()
    }

    pub(crate) fn max_row(&self) -> u32 {
        let bits = self.packing.row_bits;
        if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        }
    }

    /// Returns false when the run contains no entry for `uuid`. True means it probably does.
    pub fn may_contain(&self, uuid: &Uuid) -> bool {
        self.bloom.may_contain(uuid)
    }

    /// Returns false when the run contains no entry for the UUID of `hash`, as `may_contain`
    /// does.
    pub(crate) fn may_contain_hash(&self, hash: UuidHash) -> bool {
        self.bloom.may_contain_hash(hash)
    }

    /// Appends every entry of `uuid` to `out`, in sorted order. `source` reads the UUIDs that
    /// the entries point to.
    pub fn lookup(
        &self,
        uuid: &Uuid,
        source: &dyn UuidSource,
        out: &mut Vec<IndexEntry>,
    ) -> Result<()> {
        if !self.may_contain(uuid) {
            return Ok(());
        }
        let key = uuid.as_u128();
        // The entries of `key` start in the last page whose fence is below `key`, or in the
        // first page whose fence equals it, and may continue over the following pages.
        let mut page = self
            .fences
            .partition_point(|fence| *fence < key)
            .saturating_sub(1);
        while page < self.fences.len() {
            let view = self.page(page as u64, false)?;
            let mut at = self.lower_bound(&view, key, source)?;
            while at < view.count {
                let entry = self.entry(&view, at, source)?;
                if entry.uuid.as_u128() != key {
                    break;
                }
                out.push(entry);
                at += 1;
            }
            if at < view.count {
                break;
            }
            page += 1;
            if self.fences.get(page) != Some(&key) {
                break;
            }
        }
        Ok(())
    }

    /// Returns the position of the first entry of `page` whose UUID is not below `key`.
    fn lower_bound(&self, page: &Page<'_>, key: u128, source: &dyn UuidSource) -> Result<usize> {
        let (mut low, mut high) = (0, page.count);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.entry(page, mid, source)?.uuid.as_u128() < key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    /// Decodes entry `at` of `page` and reads its UUID from `source`.
    fn entry(&self, page: &Page<'_>, at: usize, source: &dyn UuidSource) -> Result<IndexEntry> {
        let packed = self.packing.decode(page.bytes, at);
        let segment = self.slot_segment(page, at, packed.slot)?;
        let uuid = source.uuid_at(segment, packed.kind, packed.row)?;
        Ok(IndexEntry {
            uuid,
            kind: packed.kind,
            segment,
            row: packed.row,
        })
    }

    /// Returns the segment id of `slot`, named by entry `at` of `page`.
    fn slot_segment(&self, page: &Page<'_>, at: usize, slot: u32) -> Result<u64> {
        let Some(&segment) = self.segments.get(slot as usize) else {
            let reason = format!(
                "page {} entry {at} names segment slot {slot}, the run has {} segments",
                page.index,
                self.segments.len()
            );
            let offset = format::page_offset(page.index);
            return Err(Error::corruption(&self.path, offset, reason));
        };
        Ok(segment)
    }

    /// Iterates over all entries in sorted order, reading their UUIDs from `source` and
    /// checking page CRCs and the order. After an error the iterator ends.
    pub fn iter<'a>(
        &'a self,
        source: &'a dyn UuidSource,
    ) -> impl Iterator<Item = Result<IndexEntry>> + 'a {
        self.entries(source)
    }

    pub(crate) fn entries<'a>(&'a self, source: &'a dyn UuidSource) -> RunIter<'a> {
        RunIter {
            run: self,
            source,
            next_page: 0,
            page: None,
            next_in_page: 0,
            previous: None,
            done: false,
        }
    }

    /// Checks every checksum of the file, the zero padding, the segment slots, and, through
    /// the UUIDs that `source` reads, the order of the entries, the fences and that the bloom
    /// filter contains every UUID.
    pub fn verify(&self, source: &dyn UuidSource) -> Result<()> {
        let (header, footer) = read_layout(&self.map, self.header.run_id, &self.path)?;
        let segments = load_segments(&self.map, &header, &footer, &self.path)?;
        let fences = load_fences(&self.map, &footer, &self.path)?;
        let bloom = load_bloom(&self.map, &footer, &self.path)?;
        let same = header == self.header && segments == self.segments;
        if !same || fences != self.fences || bloom != self.bloom {
            let reason = "the file changed after it was opened";
            return Err(Error::corruption(&self.path, 0, reason));
        }
        let mut previous = None;
        for page in 0..header.page_count {
            previous = self.verify_page(page, previous, source)?;
        }
        Ok(())
    }

    pub(crate) fn bloom(&self) -> &Bloom {
        &self.bloom
    }

    /// Calls `visit` with every packed entry, whose slot is checked against the segment table,
    /// in sorted order. It checks the page CRCs but reads no UUID.
    pub(crate) fn for_each_packed(
        &self,
        mut visit: impl FnMut(PackedEntry) -> Result<()>,
    ) -> Result<()> {
        for index in 0..self.header.page_count {
            let page = self.page(index, false)?;
            for at in 0..page.count {
                let packed = self.packing.decode(page.bytes, at);
                self.slot_segment(&page, at, packed.slot)?;
                visit(packed)?;
            }
        }
        Ok(())
    }

    /// Heap bytes held by the run: bloom filter, fences, segment table and checked-page bits.
    pub fn memory_bytes(&self) -> usize {
        self.bloom.memory_bytes()
            + self.fences.capacity() * size_of::<u128>()
            + self.segments.capacity() * size_of::<u64>()
            + self.checked.capacity() * size_of::<AtomicU64>()
            + self.path.capacity()
    }

    /// Checks one page entirely and returns its last entry.
    fn verify_page(
        &self,
        page: u64,
        previous: Option<IndexEntry>,
        source: &dyn UuidSource,
    ) -> Result<Option<IndexEntry>> {
        let view = self.page(page, true)?;
        let offset = format::page_offset(page);
        let used_bits = view.count * self.packing.entry_bits() as usize;
        if !padding_is_zero(view.bytes, used_bits) {
            let reason = format!("page {page}: the bits after its last entry are not zero");
            return Err(Error::corruption(
                &self.path,
                offset + (used_bits / 8) as u64,
                reason,
            ));
        }
        let mut previous = previous;
        for at in 0..view.count {
            let entry = self.entry(&view, at, source)?;
            if at == 0 && Some(entry.uuid.as_u128()) != self.fences.get(page as usize).copied() {
                let reason = format!("page {page}: its first UUID differs from its fence");
                return Err(Error::corruption(&self.path, offset, reason));
            }
            let at_byte = offset + (at * self.packing.entry_bits() as usize / 8) as u64;
            self.check_order(previous, &entry, at_byte)?;
            if !self.bloom.may_contain(&entry.uuid) {
                let reason = format!("the bloom filter lacks UUID {}", entry.uuid);
                return Err(Error::corruption(&self.path, at_byte, reason));
            }
            previous = Some(entry);
        }
        Ok(previous)
    }

    fn check_order(&self, previous: Option<IndexEntry>, entry: &IndexEntry, at: u64) -> Result<()> {
        match previous {
            Some(previous) if previous > *entry => {
                let reason =
                    format!("entry {entry:?} sorts before the previous entry {previous:?}");
                Err(Error::corruption(&self.path, at, reason))
            }
            _ => Ok(()),
        }
    }

    /// Returns page `page`, after checking its CRC unless an earlier read checked it.
    fn page(&self, page: u64, force_check: bool) -> Result<Page<'_>> {
        let offset = format::page_offset(page);
        let Some(bytes) = self.bytes(offset, PAGE_SIZE as u64) else {
            let reason = format!("page {page} lies past the end of the file");
            return Err(Error::corruption(&self.path, offset, reason));
        };
        if force_check || !self.is_checked(page) {
            self.check_page_crc(page, bytes, offset)?;
            self.mark_checked(page);
        }
        let per_page = self.packing.entries_per_page();
        let first = page * per_page;
        let count = self.header.entry_count.saturating_sub(first).min(per_page) as usize;
        Ok(Page {
            index: page,
            bytes: bytes.get(..PAGE_ENTRY_BYTES).unwrap_or(bytes),
            count,
        })
    }

    fn check_page_crc(&self, page: u64, bytes: &[u8], offset: u64) -> Result<()> {
        let stored = format::read_u32(bytes, PAGE_CRC_OFFSET);
        let actual = format::page_crc(page, bytes);
        if stored == actual {
            return Ok(());
        }
        let reason =
            format!("page {page}: CRC mismatch, stored {stored:#010x}, computed {actual:#010x}");
        Err(Error::corruption(&self.path, offset, reason))
    }

    fn is_checked(&self, page: u64) -> bool {
        let word = self.checked.get((page / 64) as usize);
        word.is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (page % 64)) != 0)
    }

    fn mark_checked(&self, page: u64) {
        if let Some(word) = self.checked.get((page / 64) as usize) {
            word.fetch_or(1 << (page % 64), Ordering::Relaxed);
        }
    }

    fn bytes(&self, offset: u64, len: u64) -> Option<&[u8]> {
        slice(&self.map, offset, len)
    }
}

/// Returns true when every bit of `bytes` from bit `from` on is zero.
fn padding_is_zero(bytes: &[u8], from: usize) -> bool {
    let first_byte = from / 8;
    let partial = bytes.get(first_byte).map_or(0, |b| b >> (from % 8));
    let aligned = from.is_multiple_of(8);
    let whole_from = if aligned { first_byte } else { first_byte + 1 };
    let rest = bytes.get(whole_from..).unwrap_or_default();
    (aligned || partial == 0) && rest.iter().all(|b| *b == 0)
}

fn slice(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// Reads the header and the footer and checks that they describe a file of this length:
/// header region, pages, segment table, fences, bloom filter and footer, in this order and
/// without gaps.
fn read_layout(map: &[u8], run_id: u64, path: &Path) -> Result<(Header, Footer)> {
    let len = map.len() as u64;
    check_min_len(len, path)?;
    let header_bytes = format::field::<HEADER_SIZE>(map, 0);
    let header = Header::decode(&header_bytes, run_id, path)?;
    let padding = slice(map, HEADER_SIZE as u64, DATA_OFFSET - HEADER_SIZE as u64);
    if padding.is_none_or(|bytes| bytes.iter().any(|b| *b != 0)) {
        let reason = "the header region after the header is not zero";
        return Err(Error::corruption(path, HEADER_SIZE as u64, reason));
    }
    let footer_at = len.saturating_sub(FOOTER_SIZE as u64);
    let footer_bytes = format::field::<FOOTER_SIZE>(map, footer_at as usize);
    let footer = Footer::decode(&footer_bytes, footer_at, path)?;
    check_layout(&header, &footer, footer_at).map_err(|reason| {
        let reason = format!("{reason}: the footer does not match the header and file length");
        Error::corruption(path, footer_at, reason)
    })?;
    Ok((header, footer))
}

fn check_min_len(len: u64, path: &Path) -> Result<()> {
    let min_len = DATA_OFFSET + FOOTER_SIZE as u64;
    if len >= min_len {
        return Ok(());
    }
    let reason = format!(
        "the file is {len} bytes, shorter than the {min_len} bytes of an empty run: \
         it was not completely written"
    );
    Err(Error::corruption(path, len, reason))
}

/// Offset of the segment table: right after the last page.
fn segment_table_offset(header: &Header) -> Option<u64> {
    header
        .page_count
        .checked_mul(PAGE_SIZE as u64)
        .and_then(|bytes| bytes.checked_add(DATA_OFFSET))
}

fn check_layout(header: &Header, footer: &Footer, footer_at: u64) -> Result<(), String> {
    let table_len = u64::from(header.segment_count) * SEGMENT_ID_SIZE as u64;
    let fence_offset = segment_table_offset(header).and_then(|at| at.checked_add(table_len));
    if fence_offset != Some(footer.fence_offset) {
        return Err(format!("fence offset {}", footer.fence_offset));
    }
    if header.page_count.checked_mul(FENCE_SIZE as u64) != Some(footer.fence_len) {
        return Err(format!("fence length {}", footer.fence_len));
    }
    if footer.fence_offset.checked_add(footer.fence_len) != Some(footer.bloom_offset) {
        return Err(format!("bloom offset {}", footer.bloom_offset));
    }
    let bits = footer.bloom_bits;
    if bits == 0 || !bits.is_multiple_of(BLOCK_BITS) || footer.bloom_len != bits / 8 {
        return Err(format!(
            "bloom size {} bits in {} bytes",
            bits, footer.bloom_len
        ));
    }
    if !(1..=MAX_HASHES).contains(&footer.bloom_hashes) {
        return Err(format!("bloom hash count {}", footer.bloom_hashes));
    }
    if footer.bloom_offset.checked_add(footer.bloom_len) != Some(footer_at) {
        let (offset, len) = (footer.bloom_offset, footer.bloom_len);
        return Err(format!("bloom filter of {len} bytes at offset {offset}"));
    }
    Ok(())
}

/// Loads the segment table after checking its CRC and that its ids ascend strictly.
/// `read_layout` has checked that it lies inside the file.
fn load_segments(map: &[u8], header: &Header, footer: &Footer, path: &Path) -> Result<Vec<u64>> {
    let offset = segment_table_offset(header).unwrap_or(0);
    let len = u64::from(header.segment_count) * SEGMENT_ID_SIZE as u64;
    let bytes = slice(map, offset, len).unwrap_or(&[]);
    let actual = format::crc32(bytes);
    if actual != footer.segment_crc {
        let reason = format!(
            "segment table CRC mismatch: stored {:#010x}, computed {actual:#010x}",
            footer.segment_crc
        );
        return Err(Error::corruption(path, offset, reason));
    }
    let (chunks, _) = bytes.as_chunks::<SEGMENT_ID_SIZE>();
    let ids: Vec<u64> = chunks.iter().map(|c| u64::from_le_bytes(*c)).collect();
    if let Some(i) = ids.windows(2).position(|pair| pair.first() >= pair.get(1)) {
        let at = offset + ((i + 1) * SEGMENT_ID_SIZE) as u64;
        let reason = "segment ids are not in strictly ascending order";
        return Err(Error::corruption(path, at, reason));
    }
    Ok(ids)
}

/// Loads the fences after checking their CRC and their order. `read_layout` has checked that
/// they lie inside the file.
fn load_fences(map: &[u8], footer: &Footer, path: &Path) -> Result<Vec<u128>> {
    let bytes = slice(map, footer.fence_offset, footer.fence_len).unwrap_or(&[]);
    let actual = format::crc32(bytes);
    if actual != footer.fence_crc {
        let reason = format!(
            "fence CRC mismatch: stored {:#010x}, computed {actual:#010x}",
            footer.fence_crc
        );
        return Err(Error::corruption(path, footer.fence_offset, reason));
    }
    let (chunks, _) = bytes.as_chunks::<FENCE_SIZE>();
    let fences: Vec<u128> = chunks.iter().map(|c| u128::from_be_bytes(*c)).collect();
    if let Some(i) = fences
        .windows(2)
        .position(|pair| pair.first() > pair.get(1))
    {
        let at = footer.fence_offset + ((i + 1) * FENCE_SIZE) as u64;
        return Err(Error::corruption(
            path,
            at,
            "fences are not in ascending order",
        ));
    }
    Ok(fences)
}

/// Loads the bloom filter after checking its CRC; `read_layout` has checked its size.
fn load_bloom(map: &[u8], footer: &Footer, path: &Path) -> Result<Bloom> {
    let bytes = slice(map, footer.bloom_offset, footer.bloom_len).unwrap_or(&[]);
    let actual = format::crc32(bytes);
    if actual != footer.bloom_crc {
        let reason = format!(
            "bloom filter CRC mismatch: stored {:#010x}, computed {actual:#010x}",
            footer.bloom_crc
        );
        return Err(Error::corruption(path, footer.bloom_offset, reason));
    }
    let (chunks, _) = bytes.as_chunks::<8>();
    let words = chunks.iter().map(|c| u64::from_le_bytes(*c)).collect();
    Ok(Bloom::from_words(words, footer.bloom_hashes))
}

/// Sorted iterator over the entries of a run; see `IndexRun::iter`.
pub(crate) struct RunIter<'a> {
    run: &'a IndexRun,
    source: &'a dyn UuidSource,
    next_page: u64,
    page: Option<Page<'a>>,
    next_in_page: usize,
    previous: Option<IndexEntry>,
    done: bool,
}

impl RunIter<'_> {
    fn advance(&mut self) -> Result<Option<IndexEntry>> {
        while self
            .page
            .as_ref()
            .is_none_or(|p| self.next_in_page >= p.count)
        {
            if self.next_page >= self.run.header.page_count {
                return Ok(None);
            }
            self.page = Some(self.run.page(self.next_page, false)?);
            self.next_page += 1;
            self.next_in_page = 0;
        }
        let Some(page) = self.page.as_ref() else {
            return Ok(None);
        };
        let entry = self.run.entry(page, self.next_in_page, self.source)?;
        let bit = self.next_in_page * self.run.packing.entry_bits() as usize;
        let at = format::page_offset(page.index) + (bit / 8) as u64;
        self.run.check_order(self.previous, &entry, at)?;
        self.previous = Some(entry);
        self.next_in_page += 1;
        Ok(Some(entry))
    }
}

impl Iterator for RunIter<'_> {
    type Item = Result<IndexEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.advance().transpose();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}
