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

mod restarts;

pub use restarts::{Restart, decode_rows, restarts, stores_delta, stores_position};

use super::bits::{BitReader, BitWriter, bit_width, packed_len, write_fixed_width};
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
    Plan::of(values).write(values, out);
}

/// The smallest encoding of one list of integers, chosen from the sizes of every mode before
/// any byte is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    order: u8,
    packing: Packing,
    /// Size of the encoding in bytes, the tag included.
    len: usize,
    /// Minimum of the packed residuals, used by the frame packing.
    min: i64,
    /// Bit width of the frame packing.
    width: u32,
}

impl Plan {
    /// Sizes every combination of order and packing and keeps the smallest, ties going to the
    /// lowest tag.
    pub(crate) fn of(values: &[i64]) -> Plan {
        let mut best = Plan {
            order: 0,
            packing: Packing::Varint,
            len: usize::MAX,
            min: 0,
            width: 0,
        };
        let by_order = PackedSizes::by_order(values);
        for (order, sizes) in (0..=MAX_ORDER).zip(&by_order) {
            let seeds_len: usize = seeds(values, order)
                .map(|seed| varint_len(zigzag(seed)))
                .sum();
            for packing in PACKINGS {
                let size = seeds_len.saturating_add(sizes.of_packing(packing));
                if size < best.len {
                    best = Plan {
                        order,
                        packing,
                        len: size,
                        min: sizes.min,
                        width: sizes.frame_width(),
                    };
                }
            }
        }
        best.len = best.len.saturating_add(1);
        best
    }

    /// Returns the size of the encoding in bytes, the tag included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends the encoding of `values`, which must be the values this plan was made for.
    pub(crate) fn write(&self, values: &[i64], out: &mut Vec<u8>) {
        out.reserve(self.len);
        out.push(tag(self.order, self.packing));
        for seed in seeds(values, self.order) {
            put_varint_i64(out, seed);
        }
        match self.order {
            0 => self.write_packed(values.iter().copied(), out),
            1 => self.write_packed(deltas(values), out),
            _ => self.write_packed(deltas_of_deltas(values), out),
        }
    }

    fn write_packed(&self, residuals: impl ExactSizeIterator<Item = i64>, out: &mut Vec<u8>) {
        if residuals.len() == 0 {
            return;
        }
        match self.packing {
            Packing::Varint => residuals.for_each(|residual| put_varint_i64(out, residual)),
            Packing::Frame => {
                put_varint_i64(out, self.min);
                out.push(self.width as u8);
                let offsets = residuals.map(|residual| residual.wrapping_sub(self.min) as u64);
                write_fixed_width(out, self.width, offsets);
            }
            Packing::Buckets => write_buckets(residuals, out),
        }
    }
}

/// Returns the seeds of an order: the first `min(order, n)` residuals, written as varints.
fn seeds(values: &[i64], order: u8) -> impl Iterator<Item = i64> {
    let first = values.first().copied();
    let first_delta = deltas(values).next();
    let seeds = match order {
        0 => [None, None],
        1 => [first, None],
        _ => [first, first_delta],
    };
    seeds.into_iter().flatten()
}

/// Returns the residuals of order 1 after the seed: `v[i] - v[i-1]` for `i >= 1`.
fn deltas(values: &[i64]) -> impl ExactSizeIterator<Item = i64> + '_ {
    let next = values.get(1..).unwrap_or_default();
    values
        .iter()
        .zip(next)
        .map(|(previous, current)| current.wrapping_sub(*previous))
}

/// Returns the residuals of order 2 after the seeds: `(v[i] - v[i-1]) - (v[i-1] - v[i-2])`
/// for `i >= 2`.
fn deltas_of_deltas(values: &[i64]) -> impl ExactSizeIterator<Item = i64> + '_ {
    let next = deltas(values.get(1..).unwrap_or_default());
    deltas(values)
        .zip(next)
        .map(|(previous, current)| current.wrapping_sub(previous))
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

fn tag(order: u8, packing: Packing) -> u8 {
    (order << 4) | packing as u8
}

fn parse_tag(tag: u8) -> Option<(u8, Packing)> {
    let order = tag >> 4;
    let packing = PACKINGS.get(usize::from(tag & 0x0f)).copied()?;
    (order <= MAX_ORDER).then_some((order, packing))
}

/// Inverts the difference transform of `order` in place, by taking prefix sums `order` times.
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
    /// How many residuals have each bit width 0..=64 once zigzag mapped. The varint and bucket
    /// sizes follow from these counts, which keeps the pass over the residuals short.
    widths: [usize; 65],
    min: i64,
    max: i64,
}

impl PackedSizes {
    const EMPTY: PackedSizes = PackedSizes {
        count: 0,
        widths: [0; 65],
        min: i64::MAX,
        max: i64::MIN,
    };

    /// Gathers the sizes of the residuals after the seeds of every order, in one pass.
    fn by_order(values: &[i64]) -> [PackedSizes; 3] {
        let mut sizes = [PackedSizes::EMPTY; 3];
        // Order `k` has `k` seeds, so `n - k` packed residuals.
        for (order, order_sizes) in sizes.iter_mut().enumerate() {
            order_sizes.count = values.len().saturating_sub(order);
        }
        let [order_0, order_1, order_2] = &mut sizes;
        let [first, second, rest @ ..] = values else {
            values.iter().for_each(|&value| order_0.add(value));
            return sizes;
        };
        let mut previous = *second;
        let mut previous_delta = second.wrapping_sub(*first);
        order_0.add(*first);
        order_0.add(*second);
        order_1.add(previous_delta);
        for &value in rest {
            let delta = value.wrapping_sub(previous);
            order_0.add(value);
            order_1.add(delta);
            order_2.add(delta.wrapping_sub(previous_delta));
            previous = value;
            previous_delta = delta;
        }
        sizes
    }

    #[inline(always)]
    fn add(&mut self, residual: i64) {
        let width = bit_width(zigzag(residual)) as usize;
        if let Some(count) = self.widths.get_mut(width) {
            *count += 1;
        }
        self.min = self.min.min(residual);
        self.max = self.max.max(residual);
    }

    /// Returns the bytes of the residuals as zigzag varints.
    fn varint_bytes(&self) -> usize {
        let bytes = self.widths.iter().zip(SIZES_OF_WIDTH);
        bytes
            .map(|(&count, (bytes, _))| count * usize::from(bytes))
            .sum()
    }

    /// Returns the bits of the residuals in the bucket packing.
    fn bucket_bits(&self) -> usize {
        let bits = self.widths.iter().zip(SIZES_OF_WIDTH);
        bits.map(|(&count, (_, bits))| count * usize::from(bits))
            .sum()
    }

    /// Returns the bit width of the frame packing: that of `max - min`.
    fn frame_width(&self) -> u32 {
        bit_width(self.max.wrapping_sub(self.min) as u64)
    }

    fn of_packing(&self, packing: Packing) -> usize {
        if self.count == 0 {
            return 0;
        }
        match packing {
            Packing::Varint => self.varint_bytes(),
            Packing::Frame => {
                let bits = packed_len(self.count, self.frame_width()).unwrap_or(usize::MAX);
                (varint_len(zigzag(self.min)) + 1).saturating_add(bits)
            }
            Packing::Buckets => self.bucket_bits().div_ceil(8),
        }
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

/// For each bit width 0..=64 of a zigzag-mapped residual: its varint bytes, and its bits in the
/// bucket packing, prefix plus payload.
const SIZES_OF_WIDTH: [(u8, u8); 65] = sizes_table();

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an index out of bounds fails the build"
)]
const fn sizes_table() -> [(u8, u8); 65] {
    let mut table = [(0u8, 0u8); 65];
    let mut width = 0usize;
    while width <= 64 {
        // A varint of 0 still takes a byte.
        let varint_bytes = if width == 0 { 1 } else { width.div_ceil(7) };
        let bucket = BUCKET_OF_WIDTH[width] as usize;
        let code = BUCKET_CODES[bucket];
        table[width] = (varint_bytes as u8, (code.1 + BUCKET_WIDTHS[bucket]) as u8);
        width += 1;
    }
    table
}

/// The prefix of each bucket as (bits, length): `b` one bits, then a zero bit unless `b` is
/// the last bucket.
const BUCKET_CODES: [(u64, u32); 5] = [(0b0, 1), (0b01, 2), (0b011, 3), (0b0111, 4), (0b1111, 4)];

/// Returns the bucket index for a zigzag-mapped residual.
fn bucket_of(z: u64) -> usize {
    let bucket = BUCKET_OF_WIDTH.get(bit_width(z) as usize).copied();
    usize::from(bucket.unwrap_or(LAST_BUCKET as u8))
}

fn write_buckets(residuals: impl Iterator<Item = i64>, out: &mut Vec<u8>) {
    let mut writer = BitWriter::new(out);
    for residual in residuals {
        let z = zigzag(residual);
        let bucket = bucket_of(z);
        let (prefix, prefix_len) = BUCKET_CODES.get(bucket).copied().unwrap_or((0b1111, 4));
        if bucket < LAST_BUCKET {
            // The payload of buckets 0 to 3 is at most 32 bits, so prefix and payload fit in
            // one write, and `z` fits its bucket's width.
            let width = BUCKET_WIDTHS.get(bucket).copied().unwrap_or(64);
            writer.write((z << prefix_len) | prefix, prefix_len + width);
        } else {
            writer.write(prefix, prefix_len);
            writer.write(z, 64);
        }
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

    /// Encodes `values` in one given order and packing, whether or not it is the smallest.
    fn encoded_with(values: &[i64], order: u8, packing: Packing) -> Vec<u8> {
        let sizes = &PackedSizes::by_order(values)[usize::from(order)];
        let plan = Plan {
            order,
            packing,
            len: 0,
            min: sizes.min,
            width: sizes.frame_width(),
        };
        let mut out = Vec::new();
        plan.write(values, &mut out);
        out
    }

    #[test]
    fn full_range_frame_round_trips() {
        let values = [i64::MIN, i64::MAX, 0];
        let bytes = encoded_with(&values, 0, Packing::Frame);
        assert_eq!(bytes[0], tag(0, Packing::Frame));
        let mut decoded = Vec::new();
        decode(&bytes, 3, &mut decoded).unwrap();
        assert_eq!(decoded, values);
    }

    #[test]
    fn every_mode_round_trips() {
        let values = [5, -3, i64::MAX, i64::MIN, 0, 0, 1 << 40, -(1 << 33), 7];
        for order in 0..=MAX_ORDER {
            for packing in PACKINGS {
                for len in [0, 1, 2, 3, values.len()] {
                    let values = &values[..len];
                    let bytes = encoded_with(values, order, packing);
                    assert_eq!(bytes[0], tag(order, packing));
                    let mut decoded = Vec::new();
                    decode(&bytes, values.len(), &mut decoded).unwrap();
                    assert_eq!(decoded, values, "order {order} packing {packing:?}");
                }
            }
        }
    }

    #[test]
    fn planned_len_is_written_len() {
        let blocks: [&[i64]; 5] = [
            &[],
            &[7],
            &[i64::MIN, i64::MAX, 0],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            &[0, 10, 20, 30, 90, 150, 210, 1 << 50],
        ];
        for values in blocks {
            let plan = Plan::of(values);
            let mut out = Vec::new();
            plan.write(values, &mut out);
            assert_eq!(out.len(), plan.len(), "values {values:?}");
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
