//! Presence bitmap codec: which rows of a block have a value for a metric.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 1 | u8 | tag: 0 every row present, 1 bit stream, 2 no row present |
//! | 1 | `ceil(n / 8)` | bit stream | tag 1 only: row `i` is bit `i % 8` of byte `i / 8`, 1 for present |
//!
//! Tags 0 and 2 have no body. The encoder writes tag 0 for a block of zero rows, and tag 1
//! only when the rows are mixed. The bit stream is the layout of [`super::bools`].

use super::{DecodeError, DecodeResult, Reader, bools, decode_atomically, try_reserve};

pub const TAG_ALL_PRESENT: u8 = 0;
pub const TAG_BITS: u8 = 1;
pub const TAG_NONE_PRESENT: u8 = 2;

/// Appends the encoding of `present`.
pub fn encode(present: &[bool], out: &mut Vec<u8>) {
    if present.iter().all(|&p| p) {
        out.push(TAG_ALL_PRESENT);
    } else if present.iter().all(|&p| !p) {
        out.push(TAG_NONE_PRESENT);
    } else {
        out.push(TAG_BITS);
        bools::encode(present, out);
    }
}

/// Appends exactly `n` flags decoded from `bytes`, which must be one whole encoding.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<bool>) -> DecodeResult<()> {
    decode_atomically(out, |out| {
        let mut reader = Reader::new(bytes);
        let tag = reader.u8()?;
        match tag {
            TAG_ALL_PRESENT | TAG_NONE_PRESENT => {
                reader.check_end()?;
                try_reserve(out, n, 0)?;
                out.resize(out.len() + n, tag == TAG_ALL_PRESENT);
                Ok(())
            }
            TAG_BITS => bools::decode(reader.rest(), n, out).map_err(|error| error.shifted(1)),
            _ => Err(DecodeError::new(
                0,
                format!("unknown bitmap tag {tag:#04x}"),
            )),
        }
    })
}

/// Returns whether an encoding marks every row present, without decoding it.
pub fn is_all_present(bytes: &[u8]) -> bool {
    bytes == [TAG_ALL_PRESENT]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;

    fn encoded(present: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(present, &mut out);
        out
    }

    fn round_trip(present: &[bool]) -> Vec<u8> {
        let bytes = encoded(present);
        let mut decoded = vec![false];
        decode(&bytes, present.len(), &mut decoded).unwrap();
        assert_eq!(&decoded[1..], present);
        bytes
    }

    #[test]
    fn all_present_is_one_byte() {
        let bytes = round_trip(&[true; 4096]);
        assert_eq!(bytes, vec![TAG_ALL_PRESENT]);
        assert!(is_all_present(&bytes));
    }

    #[test]
    fn none_present_is_one_byte() {
        assert_eq!(round_trip(&[false; 100]), vec![TAG_NONE_PRESENT]);
    }

    #[test]
    fn empty_block_is_all_present() {
        assert_eq!(round_trip(&[]), vec![TAG_ALL_PRESENT]);
    }

    #[test]
    fn mixed_rows_use_bits() {
        let bytes = round_trip(&[true, false, true]);
        assert_eq!(bytes, vec![TAG_BITS, 0b101]);
        assert!(!is_all_present(&bytes));
    }

    #[test]
    fn bit_errors_point_into_the_block() {
        let error = decode(&[TAG_BITS, 0b1, 0], 1, &mut Vec::new()).unwrap_err();
        assert_eq!(error.offset, 2);
    }

    #[test]
    fn trailing_byte_after_tag_is_rejected() {
        assert!(decode(&[TAG_ALL_PRESENT, 0], 3, &mut Vec::new()).is_err());
    }

    #[test]
    fn unknown_tag_is_rejected() {
        assert!(decode(&[3], 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        for present in [
            vec![true, false, false, true, true, false, true, true, false],
            vec![],
        ] {
            let bytes = encoded(&present);
            assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, present.len(), out));
        }
    }

    proptest! {
        #[test]
        fn any_flags_round_trip(present in proptest::collection::vec(any::<bool>(), 0..300)) {
            round_trip(&present);
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
