//! Fixed-width bit fields read through the integer codec's frame packing, at every width from
//! 1 to 64 and from every start row, compared with a decoder that reads one bit at a time.
//!
//! An order-0 frame-packed encoding is `0x01`, `min` as a zigzag varint, the width as a byte,
//! then the fields packed LSB first. `ints::decode_rows` reads a range of it in place, so the
//! start row picks the bit offset of the first field. The bit streams are random bytes: a
//! field of any value, and padding that is not zero, must read the same as the reference.

use modelmetrics::codec::{bools, ints};
use proptest::prelude::*;

/// Tag of an order-0, frame-packed integer encoding.
const FRAME_TAG: u8 = 0x01;

fn put_zigzag_varint(value: i64, out: &mut Vec<u8>) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push(zigzag as u8 | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

fn packed_len(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

/// Builds a frame-packed encoding of `count` fields of `width` bits taken from `stream`.
fn frame_encoding(min: i64, width: u32, stream: &[u8]) -> Vec<u8> {
    let mut bytes = vec![FRAME_TAG];
    put_zigzag_varint(min, &mut bytes);
    bytes.push(width as u8);
    bytes.extend_from_slice(stream);
    bytes
}

/// Reads field `index` of `width` bits from `stream` one bit at a time.
fn reference_field(stream: &[u8], width: u32, index: usize) -> u64 {
    let first = index * width as usize;
    (0..width as usize).fold(0u64, |value, k| {
        let bit = first + k;
        let set = stream[bit / 8] >> (bit % 8) & 1;
        value | u64::from(set) << k
    })
}

fn reference_rows(stream: &[u8], min: i64, width: u32, rows: std::ops::Range<usize>) -> Vec<i64> {
    rows.map(|row| min.wrapping_add(reference_field(stream, width, row) as i64))
        .collect()
}

/// Bytes that vary from one position to the next and set the high bits of each byte.
fn patterned_stream(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn check_rows(stream: &[u8], min: i64, width: u32, count: usize, rows: std::ops::Range<usize>) {
    let bytes = frame_encoding(min, width, stream);
    let mut out = vec![-7];
    ints::decode_rows(&bytes, count, None, rows.clone(), &mut out).unwrap_or_else(|error| {
        panic!("width {width}, rows {rows:?} of {count}: {error}");
    });
    assert_eq!(
        out[0], -7,
        "width {width}: decode_rows replaced earlier output"
    );
    let expected = reference_rows(stream, min, width, rows.clone());
    assert_eq!(
        &out[1..],
        &expected[..],
        "width {width}, rows {rows:?} of {count}, min {min}"
    );
}

/// Every width, every start row up to 17 and every length up to 20 rows past it, on a stream
/// long enough for the reads of eight fields at a time, and on one only just long enough.
#[test]
fn every_width_and_start_matches_reference() {
    for width in 1..=64u32 {
        for count in [19usize, 40, 150, 700] {
            let stream = patterned_stream(packed_len(count, width), u64::from(width) * 977);
            for start in 0..count.min(18) {
                for end in start..=count.min(start + 20) {
                    check_rows(&stream, i64::MIN + 3, width, count, start..end);
                }
                check_rows(&stream, -1, width, count, start..count);
            }
        }
    }
}

/// A stream of all one bits: every field is the maximum of its width, so a mask that drops or
/// adds one bit changes the value.
#[test]
fn all_ones_fields_read_as_width_maximum() {
    for width in 1..=64u32 {
        let count = 77;
        let stream = vec![0xff; packed_len(count, width)];
        let bytes = frame_encoding(0, width, &stream);
        let mut out = Vec::new();
        ints::decode_rows(&bytes, count, None, 3..count, &mut out).unwrap();
        let maximum = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        for (row, value) in out.iter().enumerate() {
            assert_eq!(*value as u64, maximum, "width {width}, row {}", row + 3);
        }
    }
}

/// A stream one byte short of `count` fields is rejected rather than read past its end.
#[test]
fn short_stream_is_rejected_at_every_width() {
    for width in 1..=64u32 {
        let count = 33;
        let stream = patterned_stream(packed_len(count, width) - 1, 5);
        let bytes = frame_encoding(0, width, &stream);
        let mut out = vec![1, 2];
        let result = ints::decode_rows(&bytes, count, None, 1..count, &mut out);
        assert!(result.is_err(), "width {width}: a short stream was read");
        assert_eq!(
            out,
            [1, 2],
            "width {width}: a failed read changed the output"
        );
    }
}

fn frame_case() -> impl Strategy<Value = (u32, usize, Vec<u8>, i64, usize, usize)> {
    (1..=64u32, 1..400usize, any::<i64>()).prop_flat_map(|(width, count, min)| {
        (
            Just(width),
            Just(count),
            proptest::collection::vec(any::<u8>(), packed_len(count, width)),
            Just(min),
            0..count,
            0..=count,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_fields_match_reference(case in frame_case()) {
        let (width, count, stream, min, a, b) = case;
        let rows = a.min(b)..a.max(b);
        check_rows(&stream, min, width, count, rows);
    }

    /// Whole encodings with zero padding decode to the same values through `ints::decode`.
    #[test]
    fn whole_decode_matches_reference(case in frame_case()) {
        let (width, count, mut stream, min, _, _) = case;
        let used = count * width as usize;
        if !used.is_multiple_of(8) {
            let last = stream.len() - 1;
            stream[last] &= (1u8 << (used % 8)) - 1;
        }
        let bytes = frame_encoding(min, width, &stream);
        let mut out = Vec::new();
        ints::decode(&bytes, count, &mut out).unwrap();
        prop_assert_eq!(out, reference_rows(&stream, min, width, 0..count));
    }

    /// Boolean columns, read whole and by rows from odd starts, match their bits.
    #[test]
    fn bools_match_bits(values in proptest::collection::vec(any::<bool>(), 0..300), a in 0..300usize) {
        let mut bytes = Vec::new();
        bools::encode(&values, &mut bytes);
        let mut whole = Vec::new();
        bools::decode(&bytes, values.len(), &mut whole).unwrap();
        prop_assert_eq!(&whole, &values);
        let start = a.min(values.len());
        let mut rows = Vec::new();
        bools::decode_rows(&bytes, values.len(), start..values.len(), &mut rows).unwrap();
        prop_assert_eq!(&rows[..], &values[start..]);
    }
}
