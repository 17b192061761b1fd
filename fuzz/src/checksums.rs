//! Checksum repair: recomputes the CRCs of a fuzzed file so that a mutation reaches the parser
//! behind them instead of stopping at the first CRC check.
//!
//! Each function returns a copy of the input with every checksum it can locate rewritten, or
//! `None` when the copy would equal the input. Fields that locate a checksummed range are
//! read from the input and bounds-checked, and a range out of bounds is left alone. The
//! layouts are those of docs/format/.

/// Length of the manifest header: magic, version, payload length.
const MANIFEST_HEADER_LEN: usize = 16;
/// Offset of the manifest's payload length.
const MANIFEST_PAYLOAD_LEN_AT: usize = 12;

/// Length of the write-ahead log file header, whose CRC covers the bytes before it.
const WAL_HEADER_LEN: usize = 24;
const WAL_HEADER_CRC_AT: usize = 20;
const WAL_FRAME_HEADER_LEN: usize = 8;

/// Length of the segment trailer and the offsets of its fields.
const SEGMENT_TRAILER_LEN: usize = 36;
const SEGMENT_FOOTER_LEN_AT: usize = 8;
const SEGMENT_FOOTER_CRC_AT: usize = 12;

// Index run, format version 2: header fields, pages, footer fields.
const INDEX_HEADER_CRC_AT: usize = 60;
const INDEX_PAGE_COUNT_AT: usize = 40;
const INDEX_SEGMENT_COUNT_AT: usize = 48;
const INDEX_DATA_OFFSET: usize = 4096;
const INDEX_PAGE_SIZE: usize = 4096;
const INDEX_PAGE_CRC_AT: usize = INDEX_PAGE_SIZE - 4;
const INDEX_SEGMENT_ID_SIZE: usize = 8;
const INDEX_FOOTER_LEN: usize = 64;
const INDEX_FOOTER_FENCE_AT: usize = 0;
const INDEX_FOOTER_BLOOM_AT: usize = 16;
const INDEX_FOOTER_FENCE_CRC_AT: usize = 44;
const INDEX_FOOTER_BLOOM_CRC_AT: usize = 48;
const INDEX_FOOTER_SEGMENT_CRC_AT: usize = 52;
const INDEX_FOOTER_CRC_AT: usize = 60;

/// Repairs a `MANIFEST`: the payload length from the file size, then the trailing CRC.
pub fn manifest(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let crc_at = out.len().checked_sub(4)?;
    let payload_len = crc_at.checked_sub(MANIFEST_HEADER_LEN)?;
    put_u32(&mut out, MANIFEST_PAYLOAD_LEN_AT, payload_len as u32);
    let crc = crc32fast::hash(out.get(..crc_at)?);
    put_u32(&mut out, crc_at, crc);
    changed(bytes, out)
}

/// Repairs a write-ahead log file: the header CRC, then the CRC of each frame up to the first
/// zero length or the first frame that runs past the end of the file.
pub fn wal_file(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    if let Some(header) = out.get(..WAL_HEADER_CRC_AT) {
        let crc = crc32fast::hash(header);
        put_u32(&mut out, WAL_HEADER_CRC_AT, crc);
    }
    let mut offset = WAL_HEADER_LEN;
    while let Some(len) = read_u32(&out, offset).filter(|&len| len > 0) {
        let start = offset + WAL_FRAME_HEADER_LEN;
        let Some(payload) = start
            .checked_add(len as usize)
            .and_then(|end| out.get(start..end))
        else {
            break;
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len.to_le_bytes());
        hasher.update(payload);
        let crc = hasher.finalize();
        put_u32(&mut out, offset + 4, crc);
        offset = start + len as usize;
    }
    changed(bytes, out)
}

/// Repairs the footer CRC that the trailer of a segment records.
///
/// NOTE: the CRC of each chunk is in the footer, whose varint fields this does not parse, so
/// chunk CRCs stay as they were.
pub fn segment(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let trailer = out.len().checked_sub(SEGMENT_TRAILER_LEN)?;
    let footer_offset = usize::try_from(read_u64(&out, trailer)?).ok()?;
    let footer_len = read_u32(&out, trailer + SEGMENT_FOOTER_LEN_AT)? as usize;
    let footer = out.get(footer_offset..footer_offset.checked_add(footer_len)?)?;
    let crc = crc32fast::hash(footer);
    put_u32(&mut out, trailer + SEGMENT_FOOTER_CRC_AT, crc);
    changed(bytes, out)
}

/// Repairs an index run: the CRC of each page the header counts, the segment table, fence
/// and bloom filter CRCs that the footer records, then the footer and header CRCs.
pub fn index_run(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    repair_index_pages(&mut out);
    if let Some(footer) = out.len().checked_sub(INDEX_FOOTER_LEN) {
        repair_index_footer(&mut out, footer);
    }
    if let Some(header) = out.get(..INDEX_HEADER_CRC_AT) {
        let crc = crc32fast::hash(header);
        put_u32(&mut out, INDEX_HEADER_CRC_AT, crc);
    }
    changed(bytes, out)
}

/// Rewrites the CRC of each page that the header's page count names and the file contains.
/// A page's CRC covers its index as a u64, then its bytes before the CRC.
fn repair_index_pages(out: &mut [u8]) {
    let pages = read_u64(out, INDEX_PAGE_COUNT_AT).unwrap_or(0);
    let in_file = (out.len().saturating_sub(INDEX_DATA_OFFSET) / INDEX_PAGE_SIZE) as u64;
    for page in 0..pages.min(in_file) {
        let start = INDEX_DATA_OFFSET + page as usize * INDEX_PAGE_SIZE;
        let Some(covered) = out.get(start..start + INDEX_PAGE_CRC_AT) else {
            break;
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&page.to_le_bytes());
        hasher.update(covered);
        let crc = hasher.finalize();
        put_u32(out, start + INDEX_PAGE_CRC_AT, crc);
    }
}

/// Rewrites the segment table, fence and bloom filter CRCs of the footer at `footer`, then
/// the footer's own.
fn repair_index_footer(out: &mut [u8], footer: usize) {
    if let Some(crc) = index_segment_table_crc(out) {
        put_u32(out, footer + INDEX_FOOTER_SEGMENT_CRC_AT, crc);
    }
    for (range_at, crc_at) in [
        (INDEX_FOOTER_FENCE_AT, INDEX_FOOTER_FENCE_CRC_AT),
        (INDEX_FOOTER_BLOOM_AT, INDEX_FOOTER_BLOOM_CRC_AT),
    ] {
        if let Some(crc) = index_range_crc(out, footer + range_at) {
            put_u32(out, footer + crc_at, crc);
        }
    }
    if let Some(covered) = out.get(footer..footer + INDEX_FOOTER_CRC_AT) {
        let crc = crc32fast::hash(covered);
        put_u32(out, footer + INDEX_FOOTER_CRC_AT, crc);
    }
}

/// Returns the CRC of the segment table, which starts after the pages that the header counts
/// and contains one u64 id for each segment that the header counts.
fn index_segment_table_crc(bytes: &[u8]) -> Option<u32> {
    let pages = usize::try_from(read_u64(bytes, INDEX_PAGE_COUNT_AT)?).ok()?;
    let segments = read_u32(bytes, INDEX_SEGMENT_COUNT_AT)? as usize;
    let offset = pages
        .checked_mul(INDEX_PAGE_SIZE)?
        .checked_add(INDEX_DATA_OFFSET)?;
    let len = segments.checked_mul(INDEX_SEGMENT_ID_SIZE)?;
    let table = bytes.get(offset..offset.checked_add(len)?)?;
    Some(crc32fast::hash(table))
}

/// Returns the CRC of the range whose u64 offset and u64 length are stored at `at`.
fn index_range_crc(bytes: &[u8], at: usize) -> Option<u32> {
    let offset = usize::try_from(read_u64(bytes, at)?).ok()?;
    let len = usize::try_from(read_u64(bytes, at + 8)?).ok()?;
    let range = bytes.get(offset..offset.checked_add(len)?)?;
    Some(crc32fast::hash(range))
}

fn changed(original: &[u8], repaired: Vec<u8>) -> Option<Vec<u8>> {
    (repaired != original).then_some(repaired)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// Writes `value` at `at` when the four bytes are in `bytes`.
fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(field) = at.checked_add(4).and_then(|end| bytes.get_mut(at..end)) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Reads the committed seeds of `target`, except the ones named in `skip`.
    fn seeds(target: &str, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let mut seeds = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !skip.contains(&name.as_str()) {
                seeds.push((name, std::fs::read(&path).unwrap()));
            }
        }
        assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
        seeds
    }

    /// Asserts that `repair` leaves every valid seed of `target` as it is, which it does only
    /// when its offsets match the format the library writes.
    fn check_valid_seeds_unchanged(
        target: &str,
        skip: &[&str],
        repair: fn(&[u8]) -> Option<Vec<u8>>,
    ) {
        for (name, bytes) in seeds(target, skip) {
            assert!(
                repair(&bytes).is_none(),
                "repair changed the valid seed {target}/{name}"
            );
        }
    }

    #[test]
    fn manifest_repair_keeps_valid_files() {
        check_valid_seeds_unchanged("manifest", &[], manifest);
    }

    #[test]
    fn wal_file_repair_keeps_valid_files() {
        check_valid_seeds_unchanged("wal_file", &["torn_last_frame"], wal_file);
    }

    #[test]
    fn segment_repair_keeps_valid_files() {
        check_valid_seeds_unchanged("segment", &[], segment);
    }

    #[test]
    fn index_run_repair_keeps_valid_files() {
        check_valid_seeds_unchanged("index_run", &[], index_run);
    }

    #[test]
    fn index_run_repair_restores_every_crc() {
        let (_, original) = seeds("index_run", &[])
            .into_iter()
            .find(|(name, _)| name == "two_pages")
            .unwrap();
        let footer = original.len() - INDEX_FOOTER_LEN;
        let page_crcs = [0, 1].map(|page| INDEX_DATA_OFFSET + page * INDEX_PAGE_SIZE);
        let crcs = [
            ("header", INDEX_HEADER_CRC_AT),
            ("page 0", page_crcs[0] + INDEX_PAGE_CRC_AT),
            ("page 1", page_crcs[1] + INDEX_PAGE_CRC_AT),
            ("segment table", footer + INDEX_FOOTER_SEGMENT_CRC_AT),
            ("fences", footer + INDEX_FOOTER_FENCE_CRC_AT),
            ("bloom filter", footer + INDEX_FOOTER_BLOOM_CRC_AT),
            ("footer", footer + INDEX_FOOTER_CRC_AT),
        ];
        for (name, at) in crcs {
            let mut damaged = original.clone();
            damaged[at] ^= 0xff;
            let repaired = index_run(&damaged);
            assert!(
                repaired.as_ref() == Some(&original),
                "repair did not restore the {name} CRC at offset {at}"
            );
        }
    }

    #[test]
    fn segment_repair_fixes_footer_crc() {
        let (_, mut bytes) = seeds("segment", &[]).remove(0);
        let trailer = bytes.len() - SEGMENT_TRAILER_LEN;
        bytes[trailer + SEGMENT_FOOTER_CRC_AT] ^= 0xff;
        let repaired = segment(&bytes).unwrap();
        assert_eq!(repaired[..trailer], bytes[..trailer]);
        assert_ne!(repaired, bytes);
    }
}
