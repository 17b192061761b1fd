//! Helpers shared by the fuzz targets of modelmetrics: a scratch directory for the inputs that
//! the library reads from files, the row count of the codec targets, the codec contract check,
//! and checksum repair so that mutated files get past their CRCs.

pub mod checksums;
pub mod codec_check;
pub mod scratch;

/// Largest row count that the codec targets pass to `decode`, the bound the codec contract
/// asks callers to enforce.
pub const MAX_ROWS: usize = 65_536;

/// Bytes at the start of a codec input that give the row count.
const ROW_COUNT_BYTES: usize = 3;

/// Splits a codec input into the row count `n`, read from its first three bytes (little-endian,
/// reduced to `0..=MAX_ROWS`), and the encoding. Returns `None` for an input shorter than that.
pub fn split_row_count(data: &[u8]) -> Option<(usize, &[u8])> {
    let (head, encoding) = data.split_first_chunk::<ROW_COUNT_BYTES>()?;
    let [b0, b1, b2] = *head;
    let raw = u32::from_le_bytes([b0, b1, b2, 0]) as usize;
    Some((raw % (MAX_ROWS + 1), encoding))
}

/// Prefixes `encoding` with the three row-count bytes that `split_row_count` reads back as `n`.
pub fn with_row_count(n: usize, encoding: &[u8]) -> Vec<u8> {
    let mut out = (n as u32).to_le_bytes()[..ROW_COUNT_BYTES].to_vec();
    out.extend_from_slice(encoding);
    out
}
