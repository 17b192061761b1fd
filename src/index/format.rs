//! Byte layout of an index run file, format version 3.
//!
//! docs/format/index.md describes the layout in tables. This file names each offset and size
//! once, and encodes and decodes the fixed-size parts: header, packed entries, page checksums,
//! footer.
//!
//! An entry does not store its UUID: it stores where the UUID lies (segment slot, kind, row),
//! packed into `entry_bits` bits, and the segment file contains the UUID. A run therefore costs a
//! few bytes per prediction instead of a second copy of its 16-byte UUID.

use std::path::Path;

use super::EntryKind;
use crate::error::{Error, Result};

/// Format version written into the header and the only one this build reads.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// First bytes of every index run file.
pub(crate) const MAGIC: [u8; 8] = *b"MMIDXRUN";
/// Bytes of the header fields; the rest of the header region is zero.
pub(crate) const HEADER_SIZE: usize = 64;
/// Offset of the first page: the header region is padded to one page so that every page
/// starts on a 4096-byte boundary of the file.
pub(crate) const DATA_OFFSET: u64 = 4096;
/// Bytes of one page of entries, including its trailer.
pub(crate) const PAGE_SIZE: usize = 4096;
/// Offset of the page's CRC32, the last 4 bytes of the page.
pub(crate) const PAGE_CRC_OFFSET: usize = PAGE_SIZE - 4;
/// Bytes of a page that hold packed entries: everything before the CRC.
pub(crate) const PAGE_ENTRY_BYTES: usize = PAGE_CRC_OFFSET;
/// Bytes of one fence, the first UUID of a page.
pub(crate) const FENCE_SIZE: usize = 16;
/// Bytes of one segment id in the segment table.
pub(crate) const SEGMENT_ID_SIZE: usize = 8;
/// Bytes of the footer, the last bytes of the file.
pub(crate) const FOOTER_SIZE: usize = 64;
/// Magic of the footer, so that a zero-filled tail never reads as a footer.
pub(crate) const FOOTER_MAGIC: [u8; 4] = *b"IDXF";
/// Largest row-number width of an entry, in bits.
pub(crate) const MAX_ROW_BITS: u32 = 32;
/// Largest slot width of an entry, in bits: a run names at most 2^24 segments.
pub(crate) const MAX_SLOT_BITS: u32 = 24;
/// Largest entry width: a packed entry is read with one unaligned 8-byte load and a shift of
/// at most 7 bits.
pub(crate) const MAX_ENTRY_BITS: u32 = MAX_SLOT_BITS + 1 + MAX_ROW_BITS;

const _: () = assert!(MAX_ENTRY_BITS + 7 <= 64);
const _: () = assert!(H_CRC + 4 == HEADER_SIZE && HEADER_SIZE as u64 <= DATA_OFFSET);
const _: () = assert!(F_CRC + 4 == FOOTER_SIZE);

// Header fields: offsets inside the header.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 8;
const H_ENTRY_BITS: usize = 12;
const H_PAGE_SIZE: usize = 16;
const H_ENTRIES_PER_PAGE: usize = 20;
const H_RUN_ID: usize = 24;
const H_ENTRY_COUNT: usize = 32;
const H_PAGE_COUNT: usize = 40;
const H_SEGMENT_COUNT: usize = 48;
const H_ROW_BITS: usize = 52;
const H_RESERVED: usize = 56;
const H_CRC: usize = 60;

// Footer fields: offsets inside the footer.
const F_FENCE_OFFSET: usize = 0;
const F_FENCE_LEN: usize = 8;
const F_BLOOM_OFFSET: usize = 16;
const F_BLOOM_LEN: usize = 24;
const F_BLOOM_BITS: usize = 32;
const F_BLOOM_HASHES: usize = 40;
const F_FENCE_CRC: usize = 44;
const F_BLOOM_CRC: usize = 48;
const F_SEGMENT_CRC: usize = 52;
const F_MAGIC: usize = 56;
const F_CRC: usize = 60;

/// Copies `N` bytes at `at`. Callers pass fixed-size buffers whose field constants keep every
/// read in bounds; a read past the end returns zeros instead of panicking.
pub(crate) fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(field(bytes, at))
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(field(bytes, at))
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    if let Some(dst) = bytes.get_mut(at..at + value.len()) {
        dst.copy_from_slice(value);
    }
}

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// File offset of page `page`.
pub(crate) fn page_offset(page: u64) -> u64 {
    DATA_OFFSET + page * PAGE_SIZE as u64
}

/// CRC32 of a page: the page index (u64 LE) followed by the page's bytes before its CRC field,
/// so a page copied to another position fails its check.
pub(crate) fn page_crc(page_index: u64, page: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&page_index.to_le_bytes());
    hasher.update(page.get(..PAGE_CRC_OFFSET).unwrap_or(page));
    hasher.finalize()
}

/// Returns the bits needed to write every value in `0..=max`: 0 for `max == 0`.
pub(crate) fn bits_for(max: u64) -> u32 {
    u64::BITS - max.leading_zeros()
}

/// The packing of the entries of one run: how many bits each field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packing {
    pub slot_bits: u32,
    pub row_bits: u32,
}

/// One entry as stored: the segment is a slot of the run's segment table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedEntry {
    pub slot: u32,
    pub kind: EntryKind,
    pub row: u32,
}

impl Packing {
    /// Returns the packing for `segments` table slots and rows up to `max_row`.
    pub(crate) fn new(segments: usize, max_row: u32) -> Packing {
        Packing {
            slot_bits: bits_for(segments.saturating_sub(1) as u64),
            row_bits: bits_for(u64::from(max_row)),
        }
    }

    /// Bits of one entry: slot, kind bit, row.
    pub(crate) fn entry_bits(&self) -> u32 {
        self.slot_bits + 1 + self.row_bits
    }

    /// Entries in every page but the last one.
    pub(crate) fn entries_per_page(&self) -> u64 {
        (PAGE_ENTRY_BYTES as u64 * 8) / u64::from(self.entry_bits())
    }

    /// Number of pages needed for `entries` entries.
    pub(crate) fn page_count(&self, entries: u64) -> u64 {
        entries.div_ceil(self.entries_per_page())
    }

    /// Writes entry `index` of a page into `page`, whose bits at its position are zero.
    pub(crate) fn encode(&self, entry: PackedEntry, index: usize, page: &mut [u8]) {
        let kind = u64::from(entry.kind == EntryKind::Delayed);
        let value = u64::from(entry.row)
            | kind << self.row_bits
            | u64::from(entry.slot) << (self.row_bits + 1);
        let bit = index * self.entry_bits() as usize;
        let at = bit / 8;
        let mut word = [0u8; 8];
        let end = (at + 8).min(page.len());
        let Some(target) = page.get_mut(at..end) else {
            return;
        };
        word.get_mut(..target.len())
            .unwrap_or_default()
            .copy_from_slice(target);
        let merged = u64::from_le_bytes(word) | value << (bit % 8);
        let bytes = merged.to_le_bytes();
        target.copy_from_slice(bytes.get(..target.len()).unwrap_or_default());
    }

    /// Reads entry `index` of a page of packed entries.
    pub(crate) fn decode(&self, page: &[u8], index: usize) -> PackedEntry {
        let bit = index * self.entry_bits() as usize;
        let word = load_le(page, bit / 8) >> (bit % 8);
        let value = word & mask(self.entry_bits());
        PackedEntry {
            row: (value & mask(self.row_bits)) as u32,
            kind: if value >> self.row_bits & 1 == 0 {
                EntryKind::Prediction
            } else {
                EntryKind::Delayed
            },
            slot: (value >> (self.row_bits + 1)) as u32,
        }
    }
}

/// Reads up to 8 bytes at `at` as a little-endian u64, with zeros for bytes past the end.
fn load_le(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    let available = bytes.get(at..).unwrap_or_default();
    let n = available.len().min(8);
    if let (Some(dst), Some(src)) = (word.get_mut(..n), available.get(..n)) {
        dst.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

/// Returns a mask of the low `bits` bits; `bits` is at most 63.
fn mask(bits: u32) -> u64 {
    (1u64 << bits) - 1
}

/// Header fields that vary between files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub run_id: u64,
    pub entry_count: u64,
    pub page_count: u64,
    /// Entries of the segment table.
    pub segment_count: u32,
    pub row_bits: u32,
}

impl Header {
    pub(crate) fn packing(&self) -> Packing {
        Packing {
            slot_bits: bits_for(u64::from(self.segment_count.saturating_sub(1))),
            row_bits: self.row_bits,
        }
    }

    pub(crate) fn encode(&self) -> [u8; HEADER_SIZE] {
        let packing = self.packing();
        let mut out = [0u8; HEADER_SIZE];
        put(&mut out, H_MAGIC, &MAGIC);
        put(&mut out, H_VERSION, &FORMAT_VERSION.to_le_bytes());
        put(&mut out, H_ENTRY_BITS, &packing.entry_bits().to_le_bytes());
        put(&mut out, H_PAGE_SIZE, &(PAGE_SIZE as u32).to_le_bytes());
        let per_page = packing.entries_per_page() as u32;
        put(&mut out, H_ENTRIES_PER_PAGE, &per_page.to_le_bytes());
        put(&mut out, H_RUN_ID, &self.run_id.to_le_bytes());
        put(&mut out, H_ENTRY_COUNT, &self.entry_count.to_le_bytes());
        put(&mut out, H_PAGE_COUNT, &self.page_count.to_le_bytes());
        put(&mut out, H_SEGMENT_COUNT, &self.segment_count.to_le_bytes());
        put(&mut out, H_ROW_BITS, &self.row_bits.to_le_bytes());
        let crc = crc32(out.get(..H_CRC).unwrap_or(&[]));
        put(&mut out, H_CRC, &crc.to_le_bytes());
        out
    }

    /// Decodes and checks the header of run `run_id` read from the start of `file`. The magic,
    /// the version and the CRC keep their offsets in every format version, so a file of another
    /// version is reported as `UnsupportedVersion` rather than as corrupt.
    pub(crate) fn decode(bytes: &[u8; HEADER_SIZE], run_id: u64, file: &Path) -> Result<Header> {
        if field::<8>(bytes, H_MAGIC) != MAGIC {
            let reason = "not an index run file: bad magic";
            return Err(Error::corruption(file, H_MAGIC as u64, reason));
        }
        let stored = read_u32(bytes, H_CRC);
        let actual = crc32(bytes.get(..H_CRC).unwrap_or(&[]));
        if stored != actual {
            let reason =
                format!("header CRC mismatch: stored {stored:#010x}, computed {actual:#010x}");
            return Err(Error::corruption(file, H_CRC as u64, reason));
        }
        let version = read_u32(bytes, H_VERSION);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if read_u32(bytes, H_RESERVED) != 0 {
            let reason = "reserved header bytes are not zero";
            return Err(Error::corruption(file, H_RESERVED as u64, reason));
        }
        let stored_id = read_u64(bytes, H_RUN_ID);
        if stored_id != run_id {
            let reason = format!("header names run {stored_id}, the file name names run {run_id}");
            return Err(Error::corruption(file, H_RUN_ID as u64, reason));
        }
        let header = Header {
            run_id,
            entry_count: read_u64(bytes, H_ENTRY_COUNT),
            page_count: read_u64(bytes, H_PAGE_COUNT),
            segment_count: read_u32(bytes, H_SEGMENT_COUNT),
            row_bits: read_u32(bytes, H_ROW_BITS),
        };
        header
            .check(bytes)
            .map_err(|(at, reason)| Error::corruption(file, at as u64, reason))?;
        Ok(header)
    }

    /// Checks the packing fields against each other; returns the offset and reason of the
    /// first inconsistent field.
    fn check(&self, bytes: &[u8]) -> std::result::Result<(), (usize, String)> {
        if self.row_bits > MAX_ROW_BITS {
            let reason = format!("row width {} bits exceeds {MAX_ROW_BITS}", self.row_bits);
            return Err((H_ROW_BITS, reason));
        }
        let packing = self.packing();
        if packing.slot_bits > MAX_SLOT_BITS {
            let reason = format!("{} segments exceed 2^{MAX_SLOT_BITS}", self.segment_count);
            return Err((H_SEGMENT_COUNT, reason));
        }
        if self.segment_count == 0 && self.entry_count > 0 {
            let reason = format!("{} entries but no segment", self.entry_count);
            return Err((H_SEGMENT_COUNT, reason));
        }
        let expected = [
            (H_ENTRY_BITS, "entry width", u64::from(packing.entry_bits())),
            (H_PAGE_SIZE, "page size", PAGE_SIZE as u64),
            (
                H_ENTRIES_PER_PAGE,
                "entries per page",
                packing.entries_per_page(),
            ),
        ];
        for (at, name, value) in expected {
            let found = u64::from(read_u32(bytes, at));
            if found != value {
                return Err((
                    at,
                    format!("{name} is {found}, the packing requires {value}"),
                ));
            }
        }
        if self.page_count != packing.page_count(self.entry_count) {
            let reason = format!(
                "page count {} does not match {} entries",
                self.page_count, self.entry_count
            );
            return Err((H_PAGE_COUNT, reason));
        }
        Ok(())
    }
}

/// The footer: where the segment table, the fences and the bloom filter are, and their
/// checksums. The segment table starts right after the last page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub fence_offset: u64,
    pub fence_len: u64,
    pub bloom_offset: u64,
    pub bloom_len: u64,
    pub bloom_bits: u64,
    pub bloom_hashes: u32,
    pub fence_crc: u32,
    pub bloom_crc: u32,
    pub segment_crc: u32,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut out = [0u8; FOOTER_SIZE];
        put(&mut out, F_FENCE_OFFSET, &self.fence_offset.to_le_bytes());
        put(&mut out, F_FENCE_LEN, &self.fence_len.to_le_bytes());
        put(&mut out, F_BLOOM_OFFSET, &self.bloom_offset.to_le_bytes());
        put(&mut out, F_BLOOM_LEN, &self.bloom_len.to_le_bytes());
        put(&mut out, F_BLOOM_BITS, &self.bloom_bits.to_le_bytes());
        put(&mut out, F_BLOOM_HASHES, &self.bloom_hashes.to_le_bytes());
        put(&mut out, F_FENCE_CRC, &self.fence_crc.to_le_bytes());
        put(&mut out, F_BLOOM_CRC, &self.bloom_crc.to_le_bytes());
        put(&mut out, F_SEGMENT_CRC, &self.segment_crc.to_le_bytes());
        put(&mut out, F_MAGIC, &FOOTER_MAGIC);
        let crc = crc32(out.get(..F_CRC).unwrap_or(&[]));
        put(&mut out, F_CRC, &crc.to_le_bytes());
        out
    }

    /// Decodes and checks the footer found at file offset `at`. The caller checks that the
    /// offsets agree with the header and the file length.
    pub(crate) fn decode(bytes: &[u8; FOOTER_SIZE], at: u64, file: &Path) -> Result<Footer> {
        if field::<4>(bytes, F_MAGIC) != FOOTER_MAGIC {
            let reason = "bad footer magic: the file is truncated or was not completely written";
            return Err(Error::corruption(file, at + F_MAGIC as u64, reason));
        }
        let stored = read_u32(bytes, F_CRC);
        let actual = crc32(bytes.get(..F_CRC).unwrap_or(&[]));
        if stored != actual {
            let reason =
                format!("footer CRC mismatch: stored {stored:#010x}, computed {actual:#010x}");
            return Err(Error::corruption(file, at + F_CRC as u64, reason));
        }
        Ok(Footer {
            fence_offset: read_u64(bytes, F_FENCE_OFFSET),
            fence_len: read_u64(bytes, F_FENCE_LEN),
            bloom_offset: read_u64(bytes, F_BLOOM_OFFSET),
            bloom_len: read_u64(bytes, F_BLOOM_LEN),
            bloom_bits: read_u64(bytes, F_BLOOM_BITS),
            bloom_hashes: read_u32(bytes, F_BLOOM_HASHES),
            fence_crc: read_u32(bytes, F_FENCE_CRC),
            bloom_crc: read_u32(bytes, F_BLOOM_CRC),
            segment_crc: read_u32(bytes, F_SEGMENT_CRC),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../docs/format/index.md");

    /// Returns the (offset, size) rows of the first table after `heading` in the format page.
    fn doc_table(heading: &str) -> Vec<(usize, usize)> {
        let start = DOC
            .find(heading)
            .unwrap_or_else(|| panic!("{heading} not in the doc"));
        let rows = DOC[start..]
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'));
        rows.filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(2)?.parse().ok()?))
        })
        .collect()
    }

    #[test]
    fn doc_header_table_matches_code() {
        let fields = vec![
            (H_MAGIC, 8),
            (H_VERSION, 4),
            (H_ENTRY_BITS, 4),
            (H_PAGE_SIZE, 4),
            (H_ENTRIES_PER_PAGE, 4),
            (H_RUN_ID, 8),
            (H_ENTRY_COUNT, 8),
            (H_PAGE_COUNT, 8),
            (H_SEGMENT_COUNT, 4),
            (H_ROW_BITS, 4),
            (H_RESERVED, 4),
            (H_CRC, 4),
        ];
        assert_eq!(doc_table("## Header"), fields);
    }

    #[test]
    fn doc_page_table_matches_code() {
        let fields = vec![(0, PAGE_ENTRY_BYTES), (PAGE_CRC_OFFSET, 4)];
        assert_eq!(doc_table("## Page"), fields);
    }

    #[test]
    fn doc_footer_table_matches_code() {
        let fields = vec![
            (F_FENCE_OFFSET, 8),
            (F_FENCE_LEN, 8),
            (F_BLOOM_OFFSET, 8),
            (F_BLOOM_LEN, 8),
            (F_BLOOM_BITS, 8),
            (F_BLOOM_HASHES, 4),
            (F_FENCE_CRC, 4),
            (F_BLOOM_CRC, 4),
            (F_SEGMENT_CRC, 4),
            (F_MAGIC, 4),
            (F_CRC, 4),
        ];
        assert_eq!(doc_table("## Footer"), fields);
    }

    #[test]
    fn doc_names_magic_and_version() {
        let magic = std::str::from_utf8(&MAGIC).unwrap();
        let footer_magic = std::str::from_utf8(&FOOTER_MAGIC).unwrap();
        assert!(DOC.contains(&format!("magic `{magic}`")));
        assert!(DOC.contains(&format!("footer magic `{footer_magic}`")));
        assert!(DOC.contains(&format!("format version {FORMAT_VERSION}")));
    }

    fn header(run_id: u64, entries: u64, segments: u32, row_bits: u32) -> Header {
        let packing = Packing {
            slot_bits: bits_for(u64::from(segments.saturating_sub(1))),
            row_bits,
        };
        Header {
            run_id,
            entry_count: entries,
            page_count: packing.page_count(entries),
            segment_count: segments,
            row_bits,
        }
    }

    #[test]
    fn header_naming_other_run_is_corrupt() {
        let bytes = header(5, 0, 0, 0).encode();
        let err = Header::decode(&bytes, 6, Path::new("x.idx")).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: 24, .. }), "{err}");
    }

    #[test]
    fn header_round_trips() {
        let header = header(42, 100_000, 3, 17);
        let bytes = header.encode();
        let decoded = Header::decode(&bytes, 42, Path::new("x.idx")).unwrap();
        assert_eq!(decoded, header);
    }

    #[test]
    fn header_with_wide_rows_is_corrupt() {
        let mut bytes = header(1, 10, 1, 4).encode();
        put(&mut bytes, H_ROW_BITS, &40u32.to_le_bytes());
        let crc = crc32(&bytes[..H_CRC]);
        put(&mut bytes, H_CRC, &crc.to_le_bytes());
        let err = Header::decode(&bytes, 1, Path::new("x.idx")).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: 52, .. }), "{err}");
    }

    #[test]
    fn header_with_other_version_is_unsupported() {
        let mut bytes = header(1, 0, 0, 0).encode();
        put(&mut bytes, H_VERSION, &1u32.to_le_bytes());
        let crc = crc32(&bytes[..H_CRC]);
        put(&mut bytes, H_CRC, &crc.to_le_bytes());
        let err = Header::decode(&bytes, 1, Path::new("x.idx")).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { found: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn zero_footer_is_rejected() {
        let err = Footer::decode(&[0u8; FOOTER_SIZE], 100, Path::new("x.idx")).unwrap_err();
        assert!(
            matches!(err, Error::Corruption { offset: 156, .. }),
            "{err}"
        );
    }

    #[test]
    fn packed_entries_round_trip_at_every_width() {
        for (segments, max_row) in [(1, 0), (1, 1), (2, 4095), (7, 99_999), (1 << 24, u32::MAX)] {
            let packing = Packing::new(segments, max_row);
            let per_page = packing.entries_per_page() as usize;
            let mut page = vec![0u8; PAGE_SIZE];
            let entry_at = |i: usize| PackedEntry {
                slot: (i % segments) as u32,
                kind: if i.is_multiple_of(3) {
                    EntryKind::Delayed
                } else {
                    EntryKind::Prediction
                },
                row: (i as u64 * 2_654_435_761 % (u64::from(max_row) + 1)) as u32,
            };
            for i in 0..per_page {
                packing.encode(entry_at(i), i, &mut page);
            }
            assert!(
                page[PAGE_CRC_OFFSET..].iter().all(|b| *b == 0),
                "{packing:?}"
            );
            for i in 0..per_page {
                assert_eq!(
                    packing.decode(&page, i),
                    entry_at(i),
                    "{packing:?} entry {i}"
                );
            }
        }
    }

    #[test]
    fn entry_width_is_slot_kind_row() {
        let packing = Packing::new(5, 100_000);
        assert_eq!(packing.slot_bits, 3);
        assert_eq!(packing.row_bits, 17);
        assert_eq!(packing.entry_bits(), 21);
        assert_eq!(packing.entries_per_page(), 4092 * 8 / 21);
    }
}
