//! Decoding some rows of a float column without converting the others.
//!
//! The decimal and binary modes store integers in the [`super::ints`] codec. Its frame packing
//! of order 0 has a fixed width per value, so the rows of a range are read in place. The other
//! integer modes decode up to the range's end, and the XOR mode decodes the whole column.

use std::ops::Range;

use super::{
    EXACT_INTEGER_LIMIT, MAX_BINARY_EXPONENT, POWERS_OF_TEN, TAG_BINARY, TAG_DECIMAL, TAG_RAW,
    decode, ints, negative_power_of_two,
};
use crate::codec::{DecodeError, DecodeResult};

/// Appends the values of `rows` of a float encoding of `n` values.
///
/// The checks that `decode` makes after the last row, and on the rows that the range leaves
/// out, are not made. On error `out` is unchanged.
pub fn decode_rows(
    bytes: &[u8],
    n: usize,
    rows: Range<usize>,
    out: &mut Vec<f64>,
) -> DecodeResult<()> {
    if rows.start > rows.end || rows.end > n {
        let reason = format!("rows {rows:?} requested of {n} values");
        return Err(DecodeError::new(0, reason));
    }
    match bytes.first().copied() {
        Some(TAG_DECIMAL) => decimal_rows(bytes, n, rows, out),
        Some(TAG_BINARY) => binary_rows(bytes, n, rows, out),
        Some(TAG_RAW) => raw_rows(bytes, rows, out),
        _ => {
            let mut values = Vec::new();
            decode(bytes, n, &mut values)?;
            out.extend_from_slice(values.get(rows).unwrap_or_default());
            Ok(())
        }
    }
}

/// Decodes rows of the decimal mode: the tag, the number of places, then the integers.
fn decimal_rows(
    bytes: &[u8],
    n: usize,
    rows: Range<usize>,
    out: &mut Vec<f64>,
) -> DecodeResult<()> {
    let places = bytes.get(1).copied().unwrap_or(u8::MAX);
    let Some(power) = POWERS_OF_TEN.get(usize::from(places)).copied() else {
        let reason = format!("{places} decimal places are invalid or missing");
        return Err(DecodeError::new(1, reason));
    };
    let integers = integer_rows(bytes, 2, n, rows)?;
    // A magnitude is at least 2^53 exactly when it has a bit at 53 or above, so the bitwise OR
    // of all magnitudes is at least 2^53 exactly when one of them is. One check after the loop
    // replaces a branch per value.
    let start = out.len();
    let mut magnitudes = 0u64;
    out.extend(integers.iter().map(|&integer| {
        magnitudes |= integer.unsigned_abs();
        integer as f64 / power
    }));
    let limit = EXACT_INTEGER_LIMIT as u64;
    if magnitudes >= limit {
        out.truncate(start);
        let integer = integers.iter().find(|i| i.unsigned_abs() >= limit);
        let integer = integer.copied().unwrap_or_default();
        let reason = format!("decimal integer {integer} is not below 2^53 in magnitude");
        return Err(DecodeError::new(2, reason));
    }
    Ok(())
}

/// Decodes rows of the binary mode: the tag, the exponent (u16 little-endian), then the
/// integers.
fn binary_rows(bytes: &[u8], n: usize, rows: Range<usize>, out: &mut Vec<f64>) -> DecodeResult<()> {
    let exponent = match bytes.get(1..3) {
        Some(&[low, high]) => u16::from_le_bytes([low, high]),
        _ => return Err(DecodeError::new(1, "the binary exponent is missing")),
    };
    if exponent > MAX_BINARY_EXPONENT {
        let reason =
            format!("binary exponent {exponent} exceeds the maximum of {MAX_BINARY_EXPONENT}");
        return Err(DecodeError::new(1, reason));
    }
    let scale = negative_power_of_two(exponent);
    let integers = integer_rows(bytes, 3, n, rows)?;
    out.extend(integers.into_iter().map(|integer| integer as f64 * scale));
    Ok(())
}

/// Reads rows of the raw mode in place: 8 bytes per value after the tag.
fn raw_rows(bytes: &[u8], rows: Range<usize>, out: &mut Vec<f64>) -> DecodeResult<()> {
    let range = (1 + rows.start * 8)..(1 + rows.end * 8);
    let Some(raw) = bytes.get(range) else {
        let reason = format!("raw values of rows {rows:?} extend past the chunk");
        return Err(DecodeError::new(0, reason));
    };
    let values = raw.chunks_exact(8).map(|value| {
        let value: [u8; 8] = value.try_into().unwrap_or_default();
        f64::from_bits(u64::from_le_bytes(value))
    });
    out.extend(values);
    Ok(())
}

/// Decodes rows of the integer encoding that starts at byte `at` of `bytes`.
fn integer_rows(bytes: &[u8], at: usize, n: usize, rows: Range<usize>) -> DecodeResult<Vec<i64>> {
    let encoding = bytes.get(at..).unwrap_or_default();
    let mut integers = Vec::with_capacity(rows.len());
    ints::decode_rows(encoding, n, None, rows, &mut integers).map_err(|e| e.shifted(at))?;
    Ok(integers)
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;
    use proptest::prelude::*;

    fn check_rows(values: &[f64]) {
        let mut bytes = Vec::new();
        encode(values, &mut bytes);
        let n = values.len();
        let ends = [n / 3, n / 2, n.saturating_sub(2), n.saturating_sub(1), n];
        let mut edges: Vec<usize> = [0, 1, 2].into_iter().chain(ends).collect();
        edges.retain(|edge| *edge <= n);
        for &start in &edges {
            for &end in edges.iter().filter(|end| **end >= start) {
                let mut out = vec![7.5];
                decode_rows(&bytes, n, start..end, &mut out).unwrap();
                let expected: Vec<u64> = values[start..end].iter().map(|v| v.to_bits()).collect();
                let read: Vec<u64> = out[1..].iter().map(|v| v.to_bits()).collect();
                assert_eq!(out[0], 7.5, "decode_rows replaced existing output");
                assert_eq!(read, expected, "rows {start}..{end} of tag {}", bytes[0]);
            }
        }
    }

    #[test]
    fn every_mode_decodes_rows() {
        let scores: Vec<f64> = (0..300).map(|i| f64::from(i % 101) / 100.0).collect();
        let binary: Vec<f64> = (0..300)
            .map(|i| f64::from(i * 7) / 1_073_741_824.0)
            .collect();
        let repeating: Vec<f64> = (0..300).map(|i| f64::from(i / 50) * 0.1 + 1e-7).collect();
        let raw = [f64::NAN, -0.0, f64::INFINITY, 1e-310, 3.5];
        let mut tags = Vec::new();
        for values in [&scores[..], &binary[..], &repeating[..], &raw[..]] {
            let mut bytes = Vec::new();
            encode(values, &mut bytes);
            tags.push(bytes[0]);
            check_rows(values);
        }
        assert_eq!(tags[0], TAG_DECIMAL);
        assert_eq!(tags[1], TAG_BINARY);
    }

    #[test]
    fn decimal_integer_of_2_pow_53_is_rejected() {
        let integers = [5, -(1 << 53) + 1, 1 << 53, 7];
        let mut bytes = vec![TAG_DECIMAL, 2];
        ints::encode(&integers, &mut bytes);
        let mut out = vec![7.5];
        decode_rows(&bytes, 4, 0..2, &mut out).unwrap();
        assert_eq!(out, [7.5, 0.05, (-(1i64 << 53) + 1) as f64 / 100.0]);
        let error = decode_rows(&bytes, 4, 1..4, &mut out).unwrap_err();
        assert!(
            error.reason.contains(&(1i64 << 53).to_string()),
            "{}",
            error.reason
        );
        assert_eq!(out.len(), 3, "a failed decode left values behind");
    }

    #[test]
    fn rows_past_the_end_are_rejected() {
        let mut bytes = Vec::new();
        encode(&[0.25, 0.5], &mut bytes);
        let mut out = Vec::new();
        assert!(decode_rows(&bytes, 2, 1..3, &mut out).is_err());
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn rows_match_full_decode(
            cents in proptest::collection::vec(-10_000i64..10_000, 0..200),
            bits in proptest::collection::vec(any::<u64>(), 0..20),
        ) {
            let decimals: Vec<f64> = cents.iter().map(|c| *c as f64 / 100.0).collect();
            check_rows(&decimals);
            let any: Vec<f64> = bits.iter().map(|b| f64::from_bits(*b)).collect();
            check_rows(&any);
        }
    }
}
