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

use super::bits::{BitReader, BitWriter, packed_len};
use super::{DecodeResult, Reader, decode_atomically, try_reserve};

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

    proptest! {
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
