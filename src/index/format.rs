//! Byte layout of an index run file, format version 1.
//!
//! docs/format/index.md describes the layout in tables. This file names each offset and size
//! once, and encodes and decodes the fixed-size parts: header, entries, page checksums, footer.

use std::path::Path;

use uuid::Uuid;

use super::{EntryKind, IndexEntry};
use crate::error::{Error, Result};

/// Format version written into the header and the only one this build reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// First bytes of every index run file.
pub(crate) const MAGIC: [u8; 8] = *b"MMIDXRUN";
/// Bytes of the header fields; the rest of the header region is zero.
pub(crate) const HEADER_SIZE: usize = 64;
/// Offset of the first page: the header region is padded to one page so that every page
/// starts on a 4096-byte boundary of the file.
pub(crate) const DATA_OFFSET: u64 = 4096;
/// Bytes of one page of entries, including its trailer.
pub(crate) const PAGE_SIZE: usize = 4096;
/// Bytes of one entry on disk.
pub(crate) const ENTRY_SIZE: usize = 28;
/// Entries in every page but the last one.
pub(crate) const ENTRIES_PER_PAGE: usize = 146;
/// Offset of the page's CRC32, the last 4 bytes of the page.
pub(crate) const PAGE_CRC_OFFSET: usize = PAGE_SIZE - 4;
/// Bytes of one fence, the first UUID of a page.
pub(crate) const FENCE_SIZE: usize = 16;
/// Bytes of the footer, the last bytes of the file.
pub(crate) const FOOTER_SIZE: usize = 64;
/// Magic of the footer, so that a zero-filled tail never reads as a footer.
pub(crate) const FOOTER_MAGIC: [u8; 4] = *b"IDXF";
/// Bit of the on-disk segment word that stores the entry kind (set for `Delayed`).
pub(crate) const KIND_BIT: u64 = 1 << 63;
/// Largest segment id an entry can store, because bit 63 stores the kind.
pub(crate) const MAX_SEGMENT: u64 = KIND_BIT - 1;

// A page stores as many entries as fit before its trailer, and the fixed parts end with their
// CRC fields.
const _: () = assert!(ENTRIES_PER_PAGE * ENTRY_SIZE <= PAGE_CRC_OFFSET);
const _: () = assert!((ENTRIES_PER_PAGE + 1) * ENTRY_SIZE > PAGE_CRC_OFFSET);
const _: () = assert!(H_CRC + 4 == HEADER_SIZE && HEADER_SIZE as u64 <= DATA_OFFSET);
const _: () = assert!(F_CRC + 4 == FOOTER_SIZE);

// Header fields: offsets inside the header.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 8;
const H_ENTRY_SIZE: usize = 12;
const H_PAGE_SIZE: usize = 16;
const H_ENTRIES_PER_PAGE: usize = 20;
const H_RUN_ID: usize = 24;
const H_ENTRY_COUNT: usize = 32;
const H_PAGE_COUNT: usize = 40;
const H_RESERVED: usize = 48;
const H_CRC: usize = 60;

// Entry fields: offsets inside an entry.
const E_UUID: usize = 0;
const E_SEGMENT: usize = 16;
const E_ROW: usize = 24;

// Footer fields: offsets inside the footer.
const F_FENCE_OFFSET: usize = 0;
const F_FENCE_LEN: usize = 8;
const F_BLOOM_OFFSET: usize = 16;
const F_BLOOM_LEN: usize = 24;
const F_BLOOM_BITS: usize = 32;
const F_BLOOM_HASHES: usize = 40;
const F_FENCE_CRC: usize = 44;
const F_BLOOM_CRC: usize = 48;
const F_RESERVED: usize = 52;
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

/// Number of pages needed for `entries` entries.
pub(crate) fn page_count(entries: u64) -> u64 {
    entries.div_ceil(ENTRIES_PER_PAGE as u64)
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

/// Encodes an entry whose segment is at most `MAX_SEGMENT` (the writer checks it).
pub(crate) fn encode_entry(entry: &IndexEntry, out: &mut [u8]) {
    let kind = match entry.kind {
        EntryKind::Prediction => 0,
        EntryKind::Delayed => KIND_BIT,
    };
    put(out, E_UUID, entry.uuid.as_bytes());
    put(out, E_SEGMENT, &(entry.segment | kind).to_le_bytes());
    put(out, E_ROW, &entry.row.to_le_bytes());
}

pub(crate) fn decode_entry(bytes: &[u8; ENTRY_SIZE]) -> IndexEntry {
    let word = read_u64(bytes, E_SEGMENT);
    let kind = if word & KIND_BIT == 0 {
        EntryKind::Prediction
    } else {
        EntryKind::Delayed
    };
    IndexEntry {
        uuid: Uuid::from_bytes(field(bytes, E_UUID)),
        kind,
        segment: word & MAX_SEGMENT,
        row: read_u32(bytes, E_ROW),
    }
}

/// Returns the UUID of an encoded entry as a big-endian u128, which orders like the bytes.
pub(crate) fn entry_key(bytes: &[u8; ENTRY_SIZE]) -> u128 {
    u128::from_be_bytes(field(bytes, E_UUID))
}

/// Header fields that vary between files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub run_id: u64,
    pub entry_count: u64,
    pub page_count: u64,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        put(&mut out, H_MAGIC, &MAGIC);
        put(&mut out, H_VERSION, &FORMAT_VERSION.to_le_bytes());
        put(&mut out, H_ENTRY_SIZE, &(ENTRY_SIZE as u32).to_le_bytes());
        put(&mut out, H_PAGE_SIZE, &(PAGE_SIZE as u32).to_le_bytes());
        put(
            &mut out,
            H_ENTRIES_PER_PAGE,
            &(ENTRIES_PER_PAGE as u32).to_le_bytes(),
        );
        put(&mut out, H_RUN_ID, &self.run_id.to_le_bytes());
        put(&mut out, H_ENTRY_COUNT, &self.entry_count.to_le_bytes());
        put(&mut out, H_PAGE_COUNT, &self.page_count.to_le_bytes());
        let crc = crc32(out.get(..H_CRC).unwrap_or(&[]));
        put(&mut out, H_CRC, &crc.to_le_bytes());
        out
    }

    /// Decodes and checks the header of run `run_id` read from the start of `file`. The magic,
    /// the version and the CRC keep their offsets in every format version, so a newer file is
    /// reported as `UnsupportedVersion` rather than as corrupt.
    pub(crate) fn decode(bytes: &[u8; HEADER_SIZE], run_id: u64, file: &Path) -> Result<Header> {
        if field::<8>(bytes, H_MAGIC) != MAGIC {
            return Err(Error::corruption(
                file,
                H_MAGIC as u64,
                "not an index run file: bad magic",
            ));
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
        check_constant(bytes, H_ENTRY_SIZE, ENTRY_SIZE, "entry size", file)?;
        check_constant(bytes, H_PAGE_SIZE, PAGE_SIZE, "page size", file)?;
        check_constant(
            bytes,
            H_ENTRIES_PER_PAGE,
            ENTRIES_PER_PAGE,
            "entries per page",
            file,
        )?;
        if field::<12>(bytes, H_RESERVED) != [0u8; 12] {
            return Err(Error::corruption(
                file,
                H_RESERVED as u64,
                "reserved header bytes are not zero",
            ));
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
        };
        if header.page_count != page_count(header.entry_count) {
            let reason = format!(
                "page count {} does not match {} entries",
                header.page_count, header.entry_count
            );
            return Err(Error::corruption(file, H_PAGE_COUNT as u64, reason));
        }
        Ok(header)
    }
}

fn check_constant(bytes: &[u8], at: usize, expected: usize, name: &str, file: &Path) -> Result<()> {
    let found = read_u32(bytes, at);
    if found as usize == expected {
        return Ok(());
    }
    let reason = format!("{name} is {found}, format version 1 requires {expected}");
    Err(Error::corruption(file, at as u64, reason))
}

/// The footer: where the fences and the bloom filter are, and their checksums.
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
        if read_u32(bytes, F_RESERVED) != 0 {
            let reason = "reserved footer bytes are not zero";
            return Err(Error::corruption(file, at + F_RESERVED as u64, reason));
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
            (H_ENTRY_SIZE, 4),
            (H_PAGE_SIZE, 4),
            (H_ENTRIES_PER_PAGE, 4),
            (H_RUN_ID, 8),
            (H_ENTRY_COUNT, 8),
            (H_PAGE_COUNT, 8),
            (H_RESERVED, 12),
            (H_CRC, 4),
        ];
        assert_eq!(doc_table("## Header"), fields);
    }

    #[test]
    fn doc_page_table_matches_code() {
        let entries = ENTRIES_PER_PAGE * ENTRY_SIZE;
        let fields = vec![
            (0, entries),
            (entries, PAGE_CRC_OFFSET - entries),
            (PAGE_CRC_OFFSET, 4),
        ];
        assert_eq!(doc_table("## Page"), fields);
    }

    #[test]
    fn doc_entry_table_matches_code() {
        let fields = vec![(E_UUID, 16), (E_SEGMENT, 8), (E_ROW, 4)];
        assert_eq!(doc_table("## Entry"), fields);
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
            (F_RESERVED, 4),
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

    #[test]
    fn header_naming_other_run_is_corrupt() {
        let bytes = Header {
            run_id: 5,
            entry_count: 0,
            page_count: 0,
        }
        .encode();
        let err = Header::decode(&bytes, 6, Path::new("x.idx")).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: 24, .. }), "{err}");
    }

    #[test]
    fn entry_round_trips_both_kinds() {
        for kind in [EntryKind::Prediction, EntryKind::Delayed] {
            let entry = IndexEntry {
                uuid: Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
                kind,
                segment: MAX_SEGMENT,
                row: u32::MAX,
            };
            let mut bytes = [0u8; ENTRY_SIZE];
            encode_entry(&entry, &mut bytes);
            assert_eq!(decode_entry(&bytes), entry);
            assert_eq!(entry_key(&bytes), entry.uuid.as_u128());
        }
    }

    #[test]
    fn header_round_trips() {
        let header = Header {
            run_id: 42,
            entry_count: 1000,
            page_count: page_count(1000),
        };
        let bytes = header.encode();
        let decoded = Header::decode(&bytes, 42, Path::new("x.idx")).unwrap();
        assert_eq!(decoded, header);
    }

    #[test]
    fn header_with_other_version_is_unsupported() {
        let mut bytes = Header {
            run_id: 1,
            entry_count: 0,
            page_count: 0,
        }
        .encode();
        put(&mut bytes, H_VERSION, &2u32.to_le_bytes());
        let crc = crc32(&bytes[..H_CRC]);
        put(&mut bytes, H_CRC, &crc.to_le_bytes());
        let err = Header::decode(&bytes, 1, Path::new("x.idx")).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { found: 2, .. }),
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
}
