//! Helpers shared by the fuzz targets of modelmetrics. `scratch` writes the inputs that the
//! library reads from files, `codec_check` checks the codec contract, `checksums` repairs
//! the CRCs of mutated files so that they reach the parsers, and `location_uuids` gives index
//! runs the UUIDs of the rows their entries point to.

pub mod checksums;
pub mod codec_check;
pub mod location_uuids;
pub mod scratch;

/// Largest row count that the codec targets pass to `decode`, the bound that the codec contract
/// requires callers to enforce.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_count_reaches_bounds() {
        assert_eq!(split_row_count(&[0, 0, 0, 7]), Some((0, &[7][..])));
        assert_eq!(split_row_count(&[0, 0, 1]), Some((MAX_ROWS, &[][..])));
        assert_eq!(split_row_count(&[1, 0, 1]), Some((0, &[][..])));
    }

    #[test]
    fn row_count_needs_three_bytes() {
        assert_eq!(split_row_count(&[1, 2]), None);
    }
}
