//! Restart points of an integer encoding: the decoder state at a chosen row, so that decoding
//! can start there instead of at the first row.
//!
//! A restart at row `s` records the value `v[s]`, the delta `v[s] - v[s-1]` (used by order 2
//! only) and the position of the packed residual of row `s + 1`. The position counts bits from
//! the start of the bit stream for the bucket packing, and bytes from the end of the seeds for
//! the varint packing. The frame packing does not need it, because every residual there has
//! the same width, so [`stores_position`] returns whether a caller keeps it.
//!
//! A restart must be at a row `s >= order`, so that row `s + 1` is a packed residual and not a
//! seed. Restarts for a block are taken every `every` rows, from row `every` on.

use std::ops::Range;

use super::{
    BUCKET_WIDTHS, LAST_BUCKET, Packing, SIZES_OF_WIDTH, deltas, deltas_of_deltas, from_residuals,
    parse_tag, tag,
};
use crate::codec::bits::{BitReader, bit_width, packed_len};
use crate::codec::{DecodeError, DecodeResult, Reader, try_reserve, unzigzag, zigzag};

/// The decoder state at one row of an integer encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restart {
    pub row: usize,
    /// The value of `row`.
    pub value: i64,
    /// The value of `row` minus the value of the row before it, for order 2; 0 for the other
    /// orders, which do not use it.
    pub delta: i64,
    /// Position of the packed residual of `row + 1`: bits for the bit-packed modes, bytes for
    /// the varint packing. Unused by the frame packing.
    pub position: u64,
}

/// Returns whether a restart in an encoding of mode `tag` needs its position stored, which is
/// false for the frame packing and for unknown tags.
pub fn stores_position(tag: u8) -> bool {
    matches!(
        parse_tag(tag),
        Some((_, Packing::Varint | Packing::Buckets))
    )
}

/// Returns whether a restart in an encoding of mode `tag` needs its delta stored: only the
/// delta of deltas uses it.
pub fn stores_delta(tag: u8) -> bool {
    matches!(parse_tag(tag), Some((2, _)))
}

/// Returns the restarts at rows `every`, `2 * every`, ... below `values.len()` of the encoding
/// of `values` whose mode tag is `tag`. Returns none for an unknown tag, and none when `every`
/// is below 2, because a restart must not fall on a seed.
pub fn restarts(tag: u8, values: &[i64], every: usize) -> Vec<Restart> {
    let Some((order, packing)) = parse_tag(tag) else {
        return Vec::new();
    };
    if every < 2 || values.len() <= every {
        return Vec::new();
    }
    // Bits or bytes of each packed residual, in packed order.
    let residual_size = |residual: i64| -> u64 {
        let width = bit_width(zigzag(residual)) as usize;
        let (bytes, bits) = SIZES_OF_WIDTH.get(width).copied().unwrap_or((10, 68));
        match packing {
            Packing::Varint => u64::from(bytes),
            _ => u64::from(bits),
        }
    };
    let sizes: Vec<u64> = match (order, packing) {
        (_, Packing::Frame) => Vec::new(),
        (0, _) => values.iter().map(|v| residual_size(*v)).collect(),
        (1, _) => deltas(values).map(residual_size).collect(),
        _ => deltas_of_deltas(values).map(residual_size).collect(),
    };
    let mut out = Vec::with_capacity(values.len() / every);
    let mut position = 0u64;
    let mut summed = 0usize;
    for row in (every..values.len()).step_by(every) {
        // The packed index of row `row + 1`.
        let packed = row + 1 - usize::from(order);
        if packing != Packing::Frame {
            let upto = sizes.get(summed..packed).unwrap_or_default();
            position += upto.iter().sum::<u64>();
            summed = packed;
        }
        let value = values.get(row).copied().unwrap_or_default();
        let previous = values.get(row - 1).copied().unwrap_or_default();
        out.push(Restart {
            row,
            value,
            delta: if order == 2 {
                value.wrapping_sub(previous)
            } else {
                0
            },
            position,
        });
    }
    out
}

/// Appends the values of `rows` of an encoding of `n` values, decoding from `restart` when
/// given, else from the first row. `restart` must be at or before `rows.start`.
///
/// Only the residuals of the rows from the restart to `rows.end` are read, so the checks that
/// `decode` makes at the end of the encoding are not made. On error `out` is unchanged.
pub fn decode_rows(
    bytes: &[u8],
    n: usize,
    restart: Option<&Restart>,
    rows: Range<usize>,
    out: &mut Vec<i64>,
) -> DecodeResult<()> {
    if rows.start > rows.end || rows.end > n {
        return Err(DecodeError::new(
            0,
            format!("rows {rows:?} requested of {n} values"),
        ));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let start = out.len();
    let direct = restart.is_none() && bytes.first() == Some(&tag(0, Packing::Frame));
    let decoded = match restart {
        // Order 0 frame-packed values are the residuals themselves, in a fixed width, so the
        // range is read in place.
        None if direct => {
            let mut reader = Reader::new(bytes.get(1..).unwrap_or_default());
            read_frame_from(&mut reader, n, rows.start, rows.len(), out).map_err(|e| e.shifted(1))
        }
        None => decode_prefix(bytes, n, rows.end, out),
        Some(restart) => decode_after(bytes, n, restart, rows.clone(), out),
    };
    if let Err(error) = decoded {
        out.truncate(start);
        return Err(error);
    }
    let first = match restart {
        None if direct => rows.start,
        None => 0,
        Some(restart) => restart.row,
    };
    out.drain(start..start + (rows.start - first));
    Ok(())
}

/// Decodes the rows `0..end` of an encoding of `n` values.
fn decode_prefix(bytes: &[u8], n: usize, end: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    let mut reader = Reader::new(bytes);
    let (order, packing) = read_tag(&mut reader)?;
    let start = out.len();
    let seeds = usize::from(order).min(n);
    for _ in 0..seeds {
        out.push(reader.varint_i64()?);
    }
    let count = end.saturating_sub(seeds);
    let total = n - seeds;
    read_packed_from(packing, &mut reader, total, (0, 0), count, out)?;
    // Seeds beyond `end` were read only to reach the packed residuals.
    out.truncate(start + end);
    if let Some(decoded) = out.get_mut(start..) {
        from_residuals(decoded, order);
    }
    Ok(())
}

/// Decodes the rows `restart.row..rows.end` of an encoding of `n` values.
fn decode_after(
    bytes: &[u8],
    n: usize,
    restart: &Restart,
    rows: Range<usize>,
    out: &mut Vec<i64>,
) -> DecodeResult<()> {
    let mut reader = Reader::new(bytes);
    let (order, packing) = read_tag(&mut reader)?;
    let order = usize::from(order);
    if restart.row < order || restart.row > rows.start || restart.row >= n {
        let reason = format!(
            "restart at row {} for rows {rows:?} of {n} with order {order}",
            restart.row
        );
        return Err(DecodeError::new(0, reason));
    }
    // The seeds are skipped: the restart replaces them.
    for _ in 0..order {
        reader.varint_i64()?;
    }

    let start = out.len();
    out.push(restart.value);
    let total = n - order;
    let first = (restart.row + 1 - order, restart.position);
    let count = rows.end - restart.row - 1;
    read_packed_from(packing, &mut reader, total, first, count, out)?;

    let residuals = out.get_mut(start + 1..).unwrap_or_default();
    accumulate(residuals, order, restart);
    Ok(())
}

/// Replaces the residuals of the rows after `restart` with their values, in an encoding of
/// order `order`. One loop per order keeps the order's test out of the loop.
fn accumulate(residuals: &mut [i64], order: usize, restart: &Restart) {
    let mut value = restart.value;
    match order {
        // Order 0 residuals are the values.
        0 => {}
        1 => {
            for slot in residuals {
                value = value.wrapping_add(*slot);
                *slot = value;
            }
        }
        _ => {
            let mut delta = restart.delta;
            for slot in residuals {
                delta = delta.wrapping_add(*slot);
                value = value.wrapping_add(delta);
                *slot = value;
            }
        }
    }
}

fn read_tag(reader: &mut Reader) -> DecodeResult<(u8, Packing)> {
    let tag = reader.u8()?;
    parse_tag(tag)
        .ok_or_else(|| DecodeError::new(0, format!("unknown integer mode tag {tag:#04x}")))
}

/// Appends `count` of the `total` packed residuals, from the one at `(index, position)`: its
/// packed index, and its position as a restart stores it.
fn read_packed_from(
    packing: Packing,
    reader: &mut Reader,
    total: usize,
    (index, position): (usize, u64),
    count: usize,
    out: &mut Vec<i64>,
) -> DecodeResult<()> {
    if count == 0 {
        return Ok(());
    }
    try_reserve(out, count, reader.position())?;
    let skip = usize::try_from(position).unwrap_or(usize::MAX);
    match packing {
        Packing::Varint => {
            reader.bytes(skip)?;
            for _ in 0..count {
                out.push(reader.varint_i64()?);
            }
            Ok(())
        }
        Packing::Frame => read_frame_from(reader, total, index, count, out),
        Packing::Buckets => {
            let base = reader.position();
            let mut bits = BitReader::new(reader.rest(), base);
            bits.skip(skip)?;
            for _ in 0..count {
                let mut bucket = 0;
                while bucket < LAST_BUCKET && bits.read_bit()? {
                    bucket += 1;
                }
                let width = BUCKET_WIDTHS.get(bucket).copied().unwrap_or(64);
                out.push(unzigzag(bits.read(width)?));
            }
            Ok(())
        }
    }
}

/// Appends `count` frame-packed residuals of the `total` ones, from packed index `index`.
fn read_frame_from(
    reader: &mut Reader,
    total: usize,
    index: usize,
    count: usize,
    out: &mut Vec<i64>,
) -> DecodeResult<()> {
    let min = reader.varint_i64()?;
    let width = u32::from(reader.u8()?);
    if width > 64 {
        return Err(reader.error(format!("bit width {width} exceeds 64")));
    }
    let in_range = index.checked_add(count).is_some_and(|end| end <= total);
    let len = packed_len(total, width).filter(|_| in_range);
    let Some(len) = len else {
        let reason = format!("residuals {index}..+{count} of {total} at {width} bits");
        return Err(reader.error(reason));
    };
    let base = reader.position();
    let mut bits = BitReader::new(reader.bytes(len)?, base);
    bits.skip(index.saturating_mul(width as usize))?;
    let start = out.len();
    out.resize(start + count, 0);
    let slots = out.get_mut(start..).unwrap_or_default();
    bits.read_many(width, slots, |value| min.wrapping_add(value as i64))
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_ORDER, PACKINGS, PackedSizes, Plan};
    use super::*;
    use proptest::prelude::*;

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

    /// Checks every range of rows whose ends lie within 2 rows of a restart or of the ends,
    /// decoded from the restart at or before its start, against a slice of `values`.
    fn check_ranges(values: &[i64], bytes: &[u8], every: usize) {
        let n = values.len();
        let points = restarts(bytes[0], values, every);
        let mut edges: Vec<usize> = vec![0, 1, 2, n.saturating_sub(1), n];
        for point in &points {
            edges.extend([point.row - 1, point.row, point.row + 1, point.row + 2]);
        }
        edges.retain(|edge| *edge <= n);
        for &start in &edges {
            for &end in edges.iter().filter(|end| **end >= start) {
                let restart = points.iter().rev().find(|point| point.row <= start);
                let mut out = vec![-9];
                decode_rows(bytes, n, restart, start..end, &mut out).unwrap();
                assert_eq!(out[0], -9, "decode_rows replaced existing output");
                assert_eq!(&out[1..], &values[start..end], "rows {start}..{end}");
            }
        }
    }

    #[test]
    fn every_mode_decodes_from_restarts() {
        let mut values: Vec<i64> = (0..700).map(|i| 1_000 * i + (i * i) % 37).collect();
        values[300] = i64::MIN;
        values[301] = i64::MAX;
        values.extend([5, 5, 5, -(1 << 40)]);
        for order in 0..=MAX_ORDER {
            for packing in PACKINGS {
                let bytes = encoded_with(&values, order, packing);
                for every in [2, 3, 64, 256] {
                    check_ranges(&values, &bytes, every);
                }
            }
        }
    }

    #[test]
    fn frame_restarts_need_no_position() {
        let values: Vec<i64> = (0..1000).collect();
        let bytes = encoded_with(&values, 1, Packing::Frame);
        assert!(!stores_position(bytes[0]));
        assert!(!stores_delta(bytes[0]));
        let points = restarts(bytes[0], &values, 256);
        assert_eq!(points.len(), 3);
        let restart = Restart {
            position: 0,
            ..points[1]
        };
        let mut out = Vec::new();
        decode_rows(&bytes, 1000, Some(&restart), 600..700, &mut out).unwrap();
        assert_eq!(out, values[600..700]);
    }

    #[test]
    fn restart_after_start_is_rejected() {
        let values: Vec<i64> = (0..600).map(|i| i * 7).collect();
        let bytes = encoded_with(&values, 1, Packing::Buckets);
        let points = restarts(bytes[0], &values, 256);
        let mut out = vec![1];
        assert!(decode_rows(&bytes, 600, Some(&points[0]), 10..20, &mut out).is_err());
        assert!(decode_rows(&bytes, 600, None, 10..601, &mut out).is_err());
        assert_eq!(out, [1]);
    }

    #[test]
    fn short_blocks_have_no_restarts() {
        let values: Vec<i64> = (0..256).collect();
        let bytes = encoded_with(&values, 1, Packing::Frame);
        assert!(restarts(bytes[0], &values, 256).is_empty());
        assert!(restarts(bytes[0], &values, 1).is_empty());
        assert!(restarts(0xff, &values, 16).is_empty());
    }

    proptest! {
        #[test]
        fn restarts_match_full_decode(
            values in proptest::collection::vec(-2_000i64..2_000, 0..300),
            order in 0..=MAX_ORDER,
            packing in 0usize..3,
            every in 2usize..40,
        ) {
            let bytes = encoded_with(&values, order, PACKINGS[packing]);
            check_ranges(&values, &bytes, every);
        }

        #[test]
        fn damaged_restarts_never_panic(
            values in proptest::collection::vec(any::<i64>(), 3..100),
            order in 0..=MAX_ORDER,
            packing in 0usize..3,
            position in any::<u64>(),
            row in 0usize..120,
            rows in 0usize..120,
        ) {
            let bytes = encoded_with(&values, order, PACKINGS[packing]);
            let restart = Restart { row, value: 0, delta: 0, position };
            let mut out = Vec::new();
            let end = rows.max(row).min(values.len());
            let _ = decode_rows(&bytes, values.len(), Some(&restart), row.min(end)..end, &mut out);
        }
    }
}
