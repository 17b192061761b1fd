//! Rewrites a segment file of format version 3 in version 2: the same column chunks, a footer
//! without the group index of each block entry, and a trailer of version 2. The footer is
//! walked field by field as docs/format/segment.md describes it, without the crate's decoder,
//! so that a mistake in that decoder cannot hide in the rewrite.
//!
//! Include it with `#[path = "support/segment_v2.rs"] mod segment_v2;`.

#![allow(dead_code)]

use std::path::Path;

/// Bytes of the trailer at the end of a segment file.
const TRAILER_LEN: usize = 36;
/// Fixed chunks of every block entry: each table and kind has three fixed columns.
const FIXED_CHUNKS: usize = 3;
/// Value type ids whose encoding stores a mode byte in a chunk descriptor: f64 and i64.
const TYPES_WITH_MODE: [u8; 2] = [1, 2];

/// A cursor over the footer that copies each byte it passes to `out`. A caller drops a field
/// by truncating `out` after passing it.
struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    out: Vec<u8>,
}

impl Walker<'_> {
    fn take(&mut self, len: usize) -> &[u8] {
        let field = &self.bytes[self.at..self.at + len];
        self.out.extend_from_slice(field);
        self.at += len;
        field
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8();
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint longer than 10 bytes at footer byte {}", self.at);
    }

    fn len_prefixed(&mut self) -> Vec<u8> {
        let len = self.varint() as usize;
        self.take(len).to_vec()
    }

    /// Passes a chunk descriptor, whose mode byte is present when `has_mode`.
    fn chunk(&mut self, has_mode: bool) {
        self.varint();
        let flags = self.u8();
        if flags & 1 == 1 {
            self.varint();
        }
        if has_mode {
            self.u8();
        }
        self.take(4);
    }

    /// Passes the fields before the table directories, writing version 2 in place of 3.
    /// Returns the value type id of each metric column.
    fn header(&mut self) -> Vec<u8> {
        assert_eq!(self.take(4), b"MMSF", "footer magic");
        assert_eq!(self.bytes[self.at], 3, "the footer is not of version 3");
        self.at += 1;
        self.out.push(2);
        for _ in 0..3 {
            self.varint();
        }
        if self.u8() == 1 {
            self.varint();
            self.varint();
        }
        for _ in 0..self.varint() {
            self.len_prefixed();
        }

        let mut types = Vec::new();
        for _ in 0..self.varint() {
            self.len_prefixed();
            types.push(self.u8());
            self.u8();
        }
        types
    }

    /// Passes one block entry of table `table` (0 predictions, 1 delayed, 2 aggregates) and
    /// drops its group index. Returns whether the index was non-empty.
    fn block(&mut self, table: usize, types: &[u8]) -> bool {
        let model = self.varint();
        for _ in 0..3 {
            self.varint();
        }
        // The UUID chunk has no mode: the third fixed chunk of predictions, the second of
        // orphans (model 0 in the delayed table). Other fixed chunks have one.
        let uuid_at = match (table, model) {
            (0, _) => Some(2),
            (1, 0) => Some(1),
            _ => None,
        };
        for fixed in 0..FIXED_CHUNKS {
            self.chunk(uuid_at != Some(fixed));
        }

        let before_index = self.out.len();
        let indexed = !self.len_prefixed().is_empty();
        self.out.truncate(before_index);

        let mut column = None;
        for _ in 0..self.varint() {
            let delta = self.varint();
            let id = column.map_or(delta, |previous: u64| previous + 1 + delta);
            column = Some(id);
            self.varint();
            self.chunk(TYPES_WITH_MODE.contains(&types[id as usize]));
        }
        indexed
    }
}

/// Returns `footer` rewritten in version 2, and the number of non-empty group indexes that it
/// dropped.
fn footer_as_version_2(footer: &[u8]) -> (Vec<u8>, usize) {
    let mut walker = Walker {
        bytes: footer,
        at: 0,
        out: Vec::new(),
    };
    let types = walker.header();
    let mut dropped = 0;
    for table in 0..3 {
        for _ in 0..walker.varint() {
            dropped += usize::from(walker.block(table, &types));
        }
    }
    assert_eq!(
        walker.at,
        footer.len(),
        "footer bytes left after the aggregates"
    );
    (walker.out, dropped)
}

/// Rewrites the segment file `path` in version 2. Returns the number of group indexes that it
/// dropped, so a caller can check that the file had blocks of more than one group.
pub fn rewrite_as_version_2(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let trailer = &bytes[bytes.len() - TRAILER_LEN..];
    let offset = u64::from_le_bytes(trailer[0..8].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(trailer[8..12].try_into().unwrap()) as usize;
    let (footer, dropped) = footer_as_version_2(&bytes[offset..offset + len]);

    let mut out = bytes[..offset].to_vec();
    out.extend_from_slice(&footer);
    out.extend_from_slice(&(offset as u64).to_le_bytes());
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
    // The segment id, then version 2, then the magic.
    out.extend_from_slice(&trailer[16..24]);
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&trailer[28..36]);
    std::fs::write(path, out).unwrap();
    dropped
}
