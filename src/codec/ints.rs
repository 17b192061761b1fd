//! Integer column codec: a difference transform, then one of three packings, per block.
//!
//! The encoder tries every combination of difference order (0, 1 or 2) and packing, and
//! writes the smallest. Ties go to the lowest tag. All arithmetic wraps, so every `i64`
//! sequence round-trips exactly, whatever the gaps between values.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 1 | u8 | mode tag: `order << 4 \| packing` |
//! | 1 | varies | `min(order, n)` zigzag varints | seeds: the first residuals |
//! | then | varies | packed | the other `n - min(order, n)` residuals |
//!
//! Residuals of order `k`: order 0 is the values themselves. Order 1 keeps `v[0]` and
//! replaces each later value by `v[i] - v[i-1]`. Order 2 keeps `v[0]` and `v[1] - v[0]` and
//! stores `(v[i] - v[i-1]) - (v[i-1] - v[i-2])` for `i >= 2`: the delta of deltas.
//! Decoding takes prefix sums, as many times as the order.
//!
//! Packings of the residuals after the seeds (an empty list is written as nothing):
//!
//! - `0` varint: one zigzag varint per residual.
//! - `1` frame of reference: `min` as a zigzag varint, then the bit width `w` (u8, 0..=64),
//!   then a bit stream of `r - min` as `w`-bit unsigned integers, `ceil(count * w / 8)`
//!   bytes. A block of equal residuals has `w = 0` and takes no bits at all.
//! - `2` buckets: a bit stream that runs to the end of the block. Each residual, zigzag
//!   mapped to `z`, is a prefix of `b` one bits, a zero bit unless `b = 4`, then `z` in
//!   [`BUCKET_WIDTHS`]`[b]` bits, where `b` is the smallest bucket whose width fits `z`.
//!   So 0 takes 1 bit, and |r| < 64 takes 9 bits.
//!
//! Bit streams are packed LSB first and padded with zero bits (see the module `codec`).
//! Tags in use: `0x00 0x01 0x02 0x10 0x11 0x12 0x20 0x21 0x22`.

use super::bits::{BitReader, BitWriter, bit_width, packed_len};
use super::{
    DecodeResult, Reader, check_count, decode_atomically, put_varint_i64, try_reserve, unzigzag,
    varint_len, zigzag,
};

/// Highest difference order: 2, the delta of deltas.
pub const MAX_ORDER: u8 = 2;
/// Payload widths of the bucket packing, indexed by the number of leading one bits.
pub const BUCKET_WIDTHS: [u32; 5] = [0, 7, 14, 32, 64];
/// Index of the last bucket, whose prefix has no terminating zero bit.
const LAST_BUCKET: usize = BUCKET_WIDTHS.len() - 1;

/// Storage of the residuals after the seeds. The discriminant is the low nibble of the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Packing {
    Varint = 0,
    Frame = 1,
    Buckets = 2,
}

const PACKINGS: [Packing; 3] = [Packing::Varint, Packing::Frame, Packing::Buckets];

/// Appends the encoding of `values`.
pub fn encode(values: &[i64], out: &mut Vec<u8>) {
    let mut best = (usize::MAX, 0, Packing::Varint);
    let mut best_residuals = Vec::new();
    for order in 0..=MAX_ORDER {
        let residuals = to_residuals(values, order);
        let (seeds, body) = split_seeds(&residuals, order);
        let seeds_len: usize = seeds.iter().map(|&seed| varint_len(zigzag(seed))).sum();
        let sizes = PackedSizes::of(body);
        let mut improved = false;
        for packing in PACKINGS {
            let size = seeds_len.saturating_add(sizes.of_packing(packing));
            if size < best.0 {
                best = (size, order, packing);
                improved = true;
            }
        }
        if improved {
            best_residuals = residuals;
        }
    }
    let (_, order, packing) = best;
    out.push(tag(order, packing));
    let (seeds, body) = split_seeds(&best_residuals, order);
    for &seed in seeds {
        put_varint_i64(out, seed);
    }
    write_packed(packing, body, out);
}

/// Appends exactly `n` values decoded from `bytes`, which must be one whole encoding.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    decode_atomically(out, |out| {
        let mut reader = Reader::new(bytes);
        decode_from(&mut reader, n, out)?;
        reader.check_end()
    })
}

/// Decodes `n` values from the reader's position to the end of its input.
///
/// On error, `out` may contain some of the values, so callers truncate it.
pub(crate) fn decode_from(reader: &mut Reader, n: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    let tag_offset = reader.position();
    let tag = reader.u8()?;
    let Some((order, packing)) = parse_tag(tag) else {
        return Err(super::DecodeError::new(
            tag_offset,
            format!("unknown integer mode tag {tag:#04x}"),
        ));
    };
    let start = out.len();
    let seeds = usize::from(order).min(n);
    for _ in 0..seeds {
        out.push(reader.varint_i64()?);
    }
    read_packed(packing, reader, n - seeds, out)?;
    check_count(out.len() - start, n, reader.position())?;
    if let Some(decoded) = out.get_mut(start..) {
        from_residuals(decoded, order);
    }
    Ok(())
}

/// Splits residuals into the seeds, written as varints, and the packed rest.
fn split_seeds(residuals: &[i64], order: u8) -> (&[i64], &[i64]) {
    residuals.split_at(usize::from(order).min(residuals.len()))
}

fn tag(order: u8, packing: Packing) -> u8 {
    (order << 4) | packing as u8
}

fn parse_tag(tag: u8) -> Option<(u8, Packing)> {
    let order = tag >> 4;
    let packing = PACKINGS.get(usize::from(tag & 0x0f)).copied()?;
    (order <= MAX_ORDER).then_some((order, packing))
}

/// Returns the residuals of `values` for a difference order, as described in the layout.
fn to_residuals(values: &[i64], order: u8) -> Vec<i64> {
    let mut residuals = values.to_vec();
    for start in 0..usize::from(order) {
        let Some(tail) = residuals.get_mut(start..) else {
            break;
        };
        let mut previous = tail.first().copied().unwrap_or(0);
        for value in tail.iter_mut().skip(1) {
            let current = *value;
            *value = current.wrapping_sub(previous);
            previous = current;
        }
    }
    residuals
}

/// Inverts [`to_residuals`] in place.
fn from_residuals(values: &mut [i64], order: u8) {
    for start in (0..usize::from(order)).rev() {
        let Some(tail) = values.get_mut(start..) else {
            continue;
        };
        let mut sum = tail.first().copied().unwrap_or(0);
        for value in tail.iter_mut().skip(1) {
            sum = sum.wrapping_add(*value);
            *value = sum;
        }
    }
}

/// Encoded sizes of one list of residuals under each packing, gathered in one pass.
struct PackedSizes {
    count: usize,
    varint_bytes: usize,
    bucket_bits: usize,
    min: i64,
    max: i64,
}

impl PackedSizes {
    fn of(residuals: &[i64]) -> Self {
        let mut sizes = PackedSizes {
            count: residuals.len(),
            varint_bytes: 0,
            bucket_bits: 0,
            min: i64::MAX,
            max: i64::MIN,
        };
        for &residual in residuals {
            let z = zigzag(residual);
            sizes.varint_bytes += varint_len(z);
            sizes.bucket_bits += bucket_bits(z);
            sizes.min = sizes.min.min(residual);
            sizes.max = sizes.max.max(residual);
        }
        sizes
    }

    fn of_packing(&self, packing: Packing) -> usize {
        if self.count == 0 {
            return 0;
        }
        match packing {
            Packing::Varint => self.varint_bytes,
            Packing::Frame => {
                let width = bit_width(self.max.wrapping_sub(self.min) as u64);
                let bits = packed_len(self.count, width).unwrap_or(usize::MAX);
                (varint_len(zigzag(self.min)) + 1).saturating_add(bits)
            }
            Packing::Buckets => self.bucket_bits.div_ceil(8),
        }
    }
}

fn write_packed(packing: Packing, residuals: &[i64], out: &mut Vec<u8>) {
    match packing {
        Packing::Varint => {
            for &residual in residuals {
                put_varint_i64(out, residual);
            }
        }
        Packing::Frame => write_frame(residuals, out),
        Packing::Buckets => write_buckets(residuals, out),
    }
}

fn read_packed(
    packing: Packing,
    reader: &mut Reader,
    count: usize,
    out: &mut Vec<i64>,
) -> DecodeResult<()> {
    match packing {
        Packing::Varint => read_varints(reader, count, out),
        Packing::Frame => read_frame(reader, count, out),
        Packing::Buckets => read_buckets(reader, count, out),
    }
}

/// Returns the minimum and the bit width of `max - min`, or `None` for an empty list.
fn frame_of_reference(residuals: &[i64]) -> Option<(i64, u32)> {
    let min = residuals.iter().copied().min()?;
    let max = residuals.iter().copied().max()?;
    Some((min, bit_width(max.wrapping_sub(min) as u64)))
}

fn write_frame(residuals: &[i64], out: &mut Vec<u8>) {
    let Some((min, width)) = frame_of_reference(residuals) else {
        return;
    };
    put_varint_i64(out, min);
    out.push(width as u8);
    let mut writer = BitWriter::new(out);
    for &residual in residuals {
        writer.write(residual.wrapping_sub(min) as u64, width);
    }
    writer.finish();
}

/// Bucket index for each bit width 0..=64: the first bucket whose width is at least as wide.
const BUCKET_OF_WIDTH: [u8; 65] = bucket_table();

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an index out of bounds fails the build"
)]
const fn bucket_table() -> [u8; 65] {
    let mut table = [0u8; 65];
    let mut width = 0;
    while width <= 64 {
        let mut bucket = 0;
        while bucket < LAST_BUCKET && width > BUCKET_WIDTHS[bucket] {
            bucket += 1;
        }
        table[width as usize] = bucket as u8;
        width += 1;
    }
    table
}

/// Returns the bucket index for a zigzag-mapped residual.
fn bucket_of(z: u64) -> usize {
    let bucket = BUCKET_OF_WIDTH.get(bit_width(z) as usize).copied();
    usize::from(bucket.unwrap_or(LAST_BUCKET as u8))
}

/// Returns the bits of one residual in the bucket packing: prefix plus payload.
fn bucket_bits(z: u64) -> usize {
    let bucket = bucket_of(z);
    let prefix = if bucket == LAST_BUCKET {
        bucket
    } else {
        bucket + 1
    };
    prefix + BUCKET_WIDTHS.get(bucket).copied().unwrap_or(64) as usize
}

fn write_buckets(residuals: &[i64], out: &mut Vec<u8>) {
    if residuals.is_empty() {
        return;
    }
    let mut writer = BitWriter::new(out);
    for &residual in residuals {
        let z = zigzag(residual);
        let bucket = bucket_of(z);
        for _ in 0..bucket {
            writer.write_bit(true);
        }
        if bucket < LAST_BUCKET {
            writer.write_bit(false);
        }
        writer.write(z, BUCKET_WIDTHS.get(bucket).copied().unwrap_or(64));
    }
    writer.finish();
}

fn read_varints(reader: &mut Reader, count: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    if count > reader.remaining() {
        return Err(reader.error(format!(
            "{count} varints need at least {count} bytes but only {} remain",
            reader.remaining()
        )));
    }
    try_reserve(out, count, reader.position())?;
    for _ in 0..count {
        out.push(reader.varint_i64()?);
    }
    Ok(())
}

fn read_frame(reader: &mut Reader, count: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    if count == 0 {
        return Ok(());
    }
    let min = reader.varint_i64()?;
    let width_offset = reader.position();
    let width = u32::from(reader.u8()?);
    if width > 64 {
        return Err(super::DecodeError::new(
            width_offset,
            format!("bit width {width} exceeds 64"),
        ));
    }
    let Some(len) = packed_len(count, width) else {
        return Err(reader.error(format!("{count} values of {width} bits overflow usize")));
    };
    let base = reader.position();
    let mut bits = BitReader::new(reader.bytes(len)?, base);
    try_reserve(out, count, base)?;
    let start = out.len();
    out.resize(start + count, 0);
    let slots = out.get_mut(start..).unwrap_or_default();
    bits.read_many(width, slots, |value| min.wrapping_add(value as i64))?;
    bits.check_end()
}

fn read_buckets(reader: &mut Reader, count: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    if count == 0 {
        return Ok(());
    }
    let base = reader.position();
    let mut bits = BitReader::new(reader.rest(), base);
    if count > bits.remaining_bits() {
        return Err(bits.error(format!(
            "{count} bucket codes need at least {count} bits but only {} remain",
            bits.remaining_bits()
        )));
    }
    try_reserve(out, count, base)?;
    for _ in 0..count {
        let mut bucket = 0;
        while bucket < LAST_BUCKET && bits.read_bit()? {
            bucket += 1;
        }
        let width = BUCKET_WIDTHS.get(bucket).copied().unwrap_or(64);
        out.push(unzigzag(bits.read(width)?));
    }
    bits.check_end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;

    fn encoded(values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    fn round_trip(values: &[i64]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = vec![-7];
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(
            decoded.first(),
            Some(&-7),
            "decode replaced existing output"
        );
        assert_eq!(&decoded[1..], values);
        bytes
    }

    #[test]
    fn empty_block_is_one_tag_byte() {
        assert_eq!(round_trip(&[]).len(), 1);
    }

    #[test]
    fn single_values_round_trip() {
        for v in [0, 1, -1, i64::MIN, i64::MAX] {
            round_trip(&[v]);
        }
    }

    #[test]
    fn extremes_round_trip() {
        round_trip(&[i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX, -1, i64::MIN + 1]);
        round_trip(&[i64::MAX, i64::MAX, i64::MIN, i64::MIN]);
    }

    #[test]
    fn constant_block_uses_zero_width_frame() {
        let bytes = round_trip(&[42; 1000]);
        assert!(bytes.len() <= 4, "{} bytes", bytes.len());
    }

    #[test]
    fn arithmetic_progression_costs_few_bytes() {
        let values: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + 15_000 * i).collect();
        let bytes = round_trip(&values);
        assert!(bytes.len() <= 16, "{} bytes", bytes.len());
    }

    #[test]
    fn changed_gap_uses_buckets() {
        let mut values = vec![0i64];
        for i in 1..2000 {
            let gap = if i < 1000 { 10_000 } else { 60_000 };
            values.push(values[i - 1] + gap);
        }
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], tag(2, Packing::Buckets));
        assert!(bytes.len() < 2000 / 8 + 16, "{} bytes", bytes.len());
    }

    #[test]
    fn small_range_uses_frame() {
        let values: Vec<i64> = (0..4096).map(|i| (i * 37) % 101).collect();
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], tag(0, Packing::Frame));
        assert!(bytes.len() <= 4096 * 7 / 8 + 4, "{} bytes", bytes.len());
    }

    #[test]
    fn full_range_frame_round_trips() {
        let mut out = Vec::new();
        write_frame(&[i64::MIN, i64::MAX, 0], &mut out);
        let mut reader = Reader::new(&out);
        let mut decoded = Vec::new();
        read_frame(&mut reader, 3, &mut decoded).unwrap();
        assert_eq!(decoded, vec![i64::MIN, i64::MAX, 0]);
    }

    #[test]
    fn every_mode_round_trips() {
        let values = [5, -3, i64::MAX, i64::MIN, 0, 0, 1 << 40, -(1 << 33), 7];
        for order in 0..=MAX_ORDER {
            for packing in PACKINGS {
                let residuals = to_residuals(&values, order);
                let (seeds, body) = residuals.split_at(usize::from(order));
                let mut bytes = vec![tag(order, packing)];
                for &seed in seeds {
                    put_varint_i64(&mut bytes, seed);
                }
                write_packed(packing, body, &mut bytes);
                let mut decoded = Vec::new();
                decode(&bytes, values.len(), &mut decoded).unwrap();
                assert_eq!(decoded, values, "order {order} packing {packing:?}");
            }
        }
    }

    #[test]
    fn unknown_tag_is_rejected() {
        for tag in [0x03, 0x30, 0xff] {
            let error = decode(&[tag], 0, &mut Vec::new()).unwrap_err();
            assert_eq!(error.offset, 0);
        }
    }

    #[test]
    fn wrong_row_count_is_rejected() {
        let bytes = encoded(&[1, 2, 3, 4]);
        assert!(decode(&bytes, 3, &mut Vec::new()).is_err());
        assert!(decode(&bytes, 5, &mut Vec::new()).is_err());
    }

    #[test]
    fn huge_row_count_fails_without_allocating() {
        let bytes = encoded(&[9; 10]);
        assert!(decode(&bytes, usize::MAX, &mut Vec::new()).is_err());
        let varints = [0x00, 1, 2, 3];
        assert!(decode(&varints, 1 << 40, &mut Vec::new()).is_err());
    }

    #[test]
    fn trailing_byte_is_rejected() {
        let mut bytes = encoded(&[1, 5, 9, 100]);
        bytes.push(0);
        assert!(decode(&bytes, 4, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        let blocks: [&[i64]; 4] = [
            &[],
            &[i64::MIN, 3, i64::MAX],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            &[0, 10, 20, 30, 90, 150, 210, 1 << 50],
        ];
        for values in blocks {
            let bytes = encoded(values);
            assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, values.len(), out));
        }
    }

    proptest! {
        #[test]
        fn any_values_round_trip(values in proptest::collection::vec(any::<i64>(), 0..200)) {
            let bytes = encoded(&values);
            let mut decoded = Vec::new();
            decode(&bytes, values.len(), &mut decoded).unwrap();
            prop_assert_eq!(decoded, values);
        }

        #[test]
        fn small_values_round_trip(values in proptest::collection::vec(-300i64..300, 0..200)) {
            let bytes = encoded(&values);
            let mut decoded = Vec::new();
            decode(&bytes, values.len(), &mut decoded).unwrap();
            prop_assert_eq!(decoded, values);
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            n in 0usize..100,
        ) {
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn tagged_garbage_never_panics(
            tag_index in 0usize..9,
            body in proptest::collection::vec(any::<u8>(), 0..64),
            n in 0usize..100,
        ) {
            let tags = [0x00, 0x01, 0x02, 0x10, 0x11, 0x12, 0x20, 0x21, 0x22];
            let mut bytes = vec![tags[tag_index]];
            bytes.extend_from_slice(&body);
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn corrupted_block_never_panics(
            values in proptest::collection::vec(any::<i64>(), 0..100),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values);
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), out));
        }
    }
}
