//! Boolean column codec: one bit per row.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | `ceil(n / 8)` | bit stream | row `i` is bit `i % 8` of byte `i / 8`, 1 for true |
//!
//! There is no header: the row count comes from the block. The padding bits of the last byte
//! are zero, and a block of zero rows is zero bytes.

use std::ops::Range;

use super::bits::{BitReader, BitWriter, packed_len};
use super::{DecodeError, DecodeResult, Reader, decode_atomically, try_reserve};

/// Appends the encoding of `values`.
pub fn encode(values: &[bool], out: &mut Vec<u8>) {
    let mut writer = BitWriter::new(out);
    for &value in values {
        writer.write_bit(value);
    }
    writer.finish();
}

/// Appends exactly `n` values decoded from `bytes`, which must be one whole encoding.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<bool>) -> DecodeResult<()> {
    decode_atomically(out, |out| {
        let mut reader = Reader::new(bytes);
        let Some(len) = packed_len(n, 1) else {
            return Err(reader.error(format!("{n} rows overflow usize")));
        };
        let mut bits = BitReader::new(reader.bytes(len)?, 0);
        reader.check_end()?;
        try_reserve(out, n, 0)?;
        let start = out.len();
        out.resize(start + n, false);
        let slots = out.get_mut(start..).unwrap_or_default();
        bits.read_many(1, slots, |bit| bit == 1)?;
        bits.check_end()
    })
}

/// Appends the values of `rows` of an encoding of `n` values, read in place. The length of
/// the encoding is checked, but not the padding bits, which `decode` checks.
pub fn decode_rows(
    bytes: &[u8],
    n: usize,
    rows: Range<usize>,
    out: &mut Vec<bool>,
) -> DecodeResult<()> {
    if rows.start > rows.end || rows.end > n {
        let reason = format!("rows {rows:?} requested of {n} values");
        return Err(DecodeError::new(0, reason));
    }
    if packed_len(n, 1) != Some(bytes.len()) {
        let reason = format!("{} bytes for {n} values of one bit", bytes.len());
        return Err(DecodeError::new(0, reason));
    }
    try_reserve(out, rows.len(), 0)?;
    let bit = |row: usize| {
        bytes
            .get(row / 8)
            .is_some_and(|byte| byte >> (row % 8) & 1 == 1)
    };
    out.extend(rows.map(bit));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;

    fn encoded(values: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    fn round_trip(values: &[bool]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = vec![true];
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(&decoded[1..], values);
        bytes
    }

    #[test]
    fn empty_block_is_zero_bytes() {
        assert!(round_trip(&[]).is_empty());
    }

    #[test]
    fn bits_are_lsb_first() {
        assert_eq!(round_trip(&[true]), vec![0b1]);
        assert_eq!(round_trip(&[false, true, true]), vec![0b110]);
        assert_eq!(round_trip(&[true; 9]), vec![0xff, 0x01]);
    }

    #[test]
    fn nonzero_padding_is_rejected() {
        assert!(decode(&[0b10], 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn extra_byte_is_rejected() {
        assert!(decode(&[0b1, 0], 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn huge_row_count_is_rejected() {
        assert!(decode(&[0xff], usize::MAX, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        let values: Vec<bool> = (0..21).map(|i| i % 3 == 0).collect();
        let bytes = encoded(&values);
        assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, values.len(), out));
    }

    #[test]
    fn rows_of_a_wrong_length_are_rejected() {
        let bytes = encoded(&[true; 9]);
        let mut out = vec![false];
        assert!(decode_rows(&bytes, 8, 0..8, &mut out).is_err());
        assert!(decode_rows(&bytes, 17, 0..8, &mut out).is_err());
        assert!(decode_rows(&bytes, 9, 5..10, &mut out).is_err());
        assert_eq!(out, [false]);
    }

    proptest! {
        #[test]
        fn rows_match_full_decode(
            values in proptest::collection::vec(any::<bool>(), 0..300),
            start in 0usize..300,
            len in 0usize..300,
        ) {
            let bytes = encoded(&values);
            let start = start.min(values.len());
            let end = (start + len).min(values.len());
            let mut out = vec![true];
            decode_rows(&bytes, values.len(), start..end, &mut out).unwrap();
            prop_assert!(out[0]);
            prop_assert_eq!(&out[1..], &values[start..end]);
        }

        #[test]
        fn any_values_round_trip(values in proptest::collection::vec(any::<bool>(), 0..300)) {
            let bytes = round_trip(&values);
            prop_assert_eq!(bytes.len(), values.len().div_ceil(8));
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..16),
            n in 0usize..130,
        ) {
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn corrupted_block_never_panics(
            values in proptest::collection::vec(any::<bool>(), 0..100),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values);
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), out));
        }
    }
}
