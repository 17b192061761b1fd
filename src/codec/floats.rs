//! Float column codec: the smallest of four modes per block, exact to the bit.
//!
//! Every mode round-trips the bits of each value, so NaN payloads, `-0.0`, subnormals and
//! infinities come back as written. The encoder writes each eligible mode and keeps the
//! shortest. Ties go to the lowest tag.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 1 | u8 | mode tag: 0 raw, 1 XOR, 2 decimal, 3 binary |
//! | 1 | varies | | the mode's body, to the end of the block |
//!
//! Bodies:
//!
//! - `0` raw: `n` values as IEEE 754 binary64 bits, u64 little-endian, 8 bytes each.
//! - `1` XOR, in the style of the Gorilla time-series database: a bit stream, LSB first, zero-padded to
//!   a whole byte. The first value is 64 bits. Each later value is XORed with the previous
//!   one, and the XOR `x` is written as one of:
//!   - `0`: `x` is zero, the value repeats.
//!   - `1`, `0`, then the `64 - L - T` bits of `x >> T`, where `L` and `T` are the leading and
//!     trailing zero counts of the current window. The window must exist and `x` must fit it.
//!   - `1`, `1`, `L` in 6 bits, `len - 1` in 6 bits, then the `len` bits of `x >> T`, with
//!     `T = 64 - L - len`. `L + len` must not exceed 64. This sets the window to `(L, T)`.
//!
//!   Bit fields are written in the order listed, each field low bit first.
//! - `2` decimal: one byte `d` (0..=6), then an [`super::ints`] encoding of `n` integers `k`,
//!   each with `|k| < 2^53`. Value `i` is `k[i] as f64 / 10^d`. The encoder picks this mode
//!   only when that division reproduces the bits of every value, so `-0.0`, NaN and
//!   infinities never use it. Scores with two decimals in `[0, 1]` take 7 bits each.
//! - `3` binary: the exponent `e` (u16 little-endian, 0..=1074), then an [`super::ints`]
//!   encoding of `n` integers `k`. Value `i` is `k[i] as f64 * 2^-e`. The encoder picks this
//!   mode only when every value is `+0.0` or a normal number that is an integer multiple of
//!   `2^-e` below `2^63` in magnitude, and the product reproduces its bits. Uniform random
//!   numbers in `[0, 1)` drawn as `m * 2^-53` take 53 bits each.

use super::bits::{BitReader, BitWriter};
use super::{DecodeError, DecodeResult, Reader, check_count, decode_atomically, ints, try_reserve};

pub const TAG_RAW: u8 = 0;
pub const TAG_XOR: u8 = 1;
pub const TAG_DECIMAL: u8 = 2;
pub const TAG_BINARY: u8 = 3;
/// Maximum number of decimal places of the decimal mode.
pub const MAX_DECIMAL_PLACES: u8 = 6;
/// Bits of the leading-zero count and of the length of a new XOR window.
const WINDOW_FIELD_BITS: u32 = 6;
/// Bytes of one raw value.
const RAW_VALUE_LEN: usize = 8;
/// Integers below this magnitude convert to `f64` exactly (2^53).
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
/// Powers of ten for 0..=6 decimal places, each exact in `f64`.
const POWERS_OF_TEN: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
/// Maximum exponent of the binary mode: `2^-1074` is the smallest positive `f64`.
pub const MAX_BINARY_EXPONENT: u16 = 1074;
/// Bits of the integers of the binary mode, without the sign.
const BINARY_INTEGER_BITS: i32 = 63;

/// Appends the encoding of `values`.
pub fn encode(values: &[f64], out: &mut Vec<u8>) {
    let mut xor = Vec::new();
    write_xor(values, &mut xor);
    let candidates = [
        (TAG_XOR, Some(xor)),
        (TAG_DECIMAL, encode_decimal(values)),
        (TAG_BINARY, encode_binary(values)),
    ];
    let mut best: Option<(u8, Vec<u8>)> = None;
    let mut best_len = RAW_VALUE_LEN * values.len();
    for (tag, body) in candidates {
        if let Some(body) = body.filter(|body| body.len() < best_len) {
            best_len = body.len();
            best = Some((tag, body));
        }
    }
    match best {
        Some((tag, body)) => {
            out.push(tag);
            out.extend_from_slice(&body);
        }
        None => {
            out.push(TAG_RAW);
            write_raw(values, out);
        }
    }
}

/// Appends exactly `n` values decoded from `bytes`, which must be one whole encoding.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    decode_atomically(out, |out| {
        let mut reader = Reader::new(bytes);
        let tag = reader.u8()?;
        let start = out.len();
        match tag {
            TAG_RAW => read_raw(&mut reader, n, out)?,
            TAG_XOR => read_xor(&mut reader, n, out)?,
            TAG_DECIMAL => read_decimal(&mut reader, n, out)?,
            TAG_BINARY => read_binary(&mut reader, n, out)?,
            _ => {
                return Err(DecodeError::new(
                    0,
                    format!("unknown float mode tag {tag:#04x}"),
                ));
            }
        }
        check_count(out.len() - start, n, reader.position())?;
        reader.check_end()
    })
}

fn write_raw(values: &[f64], out: &mut Vec<u8>) {
    for value in values {
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

fn read_raw(reader: &mut Reader, n: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    let Some(len) = n.checked_mul(RAW_VALUE_LEN) else {
        return Err(reader.error(format!("{n} raw values overflow usize")));
    };
    if len != reader.remaining() {
        return Err(reader.error(format!(
            "{n} raw values take {len} bytes but {} remain",
            reader.remaining()
        )));
    }
    try_reserve(out, n, reader.position())?;
    for _ in 0..n {
        out.push(f64::from_bits(reader.u64_le()?));
    }
    Ok(())
}

/// Leading and trailing zero counts of the bits that an XOR window carries.
#[derive(Clone, Copy)]
struct Window {
    leading: u32,
    trailing: u32,
}

impl Window {
    fn len(self) -> u32 {
        64 - self.leading - self.trailing
    }
}

fn write_xor(values: &[f64], out: &mut Vec<u8>) {
    let Some((first, rest)) = values.split_first() else {
        return;
    };
    let mut writer = BitWriter::new(out);
    let mut previous = first.to_bits();
    writer.write(previous, 64);
    let mut window: Option<Window> = None;
    for value in rest {
        let bits = value.to_bits();
        let xor = bits ^ previous;
        previous = bits;
        if xor == 0 {
            writer.write_bit(false);
            continue;
        }
        writer.write_bit(true);
        let fitted = Window {
            leading: xor.leading_zeros(),
            trailing: xor.trailing_zeros(),
        };
        match window {
            Some(current) if fits(current, fitted) => {
                writer.write_bit(false);
                writer.write(xor >> current.trailing, current.len());
            }
            _ => {
                writer.write_bit(true);
                writer.write(u64::from(fitted.leading), WINDOW_FIELD_BITS);
                writer.write(u64::from(fitted.len() - 1), WINDOW_FIELD_BITS);
                writer.write(xor >> fitted.trailing, fitted.len());
                window = Some(fitted);
            }
        }
    }
    writer.finish();
}

/// Returns whether reusing `current` for an XOR with window `fitted` is both possible and no
/// larger than writing the new window.
fn fits(current: Window, fitted: Window) -> bool {
    let contains = fitted.leading >= current.leading && fitted.trailing >= current.trailing;
    contains && current.len() <= 2 * WINDOW_FIELD_BITS + fitted.len()
}

fn read_xor(reader: &mut Reader, n: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    let base = reader.position();
    let mut bits = BitReader::new(reader.rest(), base);
    if n == 0 {
        return bits.check_end();
    }
    if n.saturating_add(63) > bits.remaining_bits() {
        return Err(bits.error(format!(
            "{n} XOR-coded values need at least {} bits but only {} remain",
            n.saturating_add(63),
            bits.remaining_bits()
        )));
    }
    try_reserve(out, n, base)?;
    let mut previous = bits.read(64)?;
    out.push(f64::from_bits(previous));
    let mut window: Option<Window> = None;
    for _ in 1..n {
        if bits.read_bit()? {
            let xor = if bits.read_bit()? {
                read_new_window(&mut bits, &mut window)?
            } else {
                let Some(current) = window else {
                    return Err(bits.error("XOR value reuses a window before any was set"));
                };
                bits.read(current.len())? << current.trailing
            };
            previous ^= xor;
        }
        out.push(f64::from_bits(previous));
    }
    bits.check_end()
}

/// Reads a window header and its bits, stores the window and returns the XOR.
fn read_new_window(bits: &mut BitReader, window: &mut Option<Window>) -> DecodeResult<u64> {
    let leading = bits.read(WINDOW_FIELD_BITS)? as u32;
    let len = bits.read(WINDOW_FIELD_BITS)? as u32 + 1;
    if leading + len > 64 {
        return Err(bits.error(format!(
            "XOR window of {leading} leading zeros and {len} bits exceeds 64 bits"
        )));
    }
    let new = Window {
        leading,
        trailing: 64 - leading - len,
    };
    *window = Some(new);
    Ok(bits.read(len)? << new.trailing)
}

/// Returns the decimal-mode body (places, then integers), or `None` when a value is not
/// exactly `k / 10^d` for some `d` in 0..=6 and `|k| < 2^53`.
fn encode_decimal(values: &[f64]) -> Option<Vec<u8>> {
    let mut places = 0u8;
    for &value in values {
        places = (places..=MAX_DECIMAL_PLACES).find(|&d| scale_exactly(value, d).is_some())?;
    }
    let integers: Option<Vec<i64>> = values.iter().map(|&v| scale_exactly(v, places)).collect();
    let mut body = vec![places];
    ints::encode(&integers?, &mut body);
    Some(body)
}

/// Returns `k` such that `k as f64 / 10^places` has the bits of `value`, if there is one
/// with `|k| < 2^53`.
fn scale_exactly(value: f64, places: u8) -> Option<i64> {
    let power = POWERS_OF_TEN.get(usize::from(places)).copied()?;
    let scaled = (value * power).round();
    // The comparison is false for NaN, so NaN and infinities leave here.
    let exact_integer = scaled.abs() < EXACT_INTEGER_LIMIT;
    if !exact_integer {
        return None;
    }
    let integer = scaled as i64;
    let restored = integer as f64 / power;
    (restored.to_bits() == value.to_bits()).then_some(integer)
}

fn read_decimal(reader: &mut Reader, n: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    let places_offset = reader.position();
    let places = reader.u8()?;
    let Some(power) = POWERS_OF_TEN.get(usize::from(places)).copied() else {
        return Err(DecodeError::new(
            places_offset,
            format!("{places} decimal places exceed the maximum of {MAX_DECIMAL_PLACES}"),
        ));
    };
    let integers_offset = reader.position();
    let mut integers = Vec::new();
    ints::decode_from(reader, n, &mut integers)?;
    try_reserve(out, n, integers_offset)?;
    for integer in integers {
        if integer.unsigned_abs() >= EXACT_INTEGER_LIMIT as u64 {
            return Err(DecodeError::new(
                integers_offset,
                format!("decimal integer {integer} is not below 2^53 in magnitude"),
            ));
        }
        out.push(integer as f64 / power);
    }
    Ok(())
}

/// A finite value as `sign * mantissa * 2^power` with an odd mantissa, or zero.
#[derive(Clone, Copy)]
struct BinaryParts {
    negative: bool,
    mantissa: u64,
    power: i32,
}

/// Splits `+0.0` or a normal number into parts. Returns `None` for `-0.0`, subnormals,
/// infinities and NaN, which the binary mode does not take.
fn binary_parts(value: f64) -> Option<BinaryParts> {
    let bits = value.to_bits();
    let negative = bits >> 63 == 1;
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if bits == 0 {
        return Some(BinaryParts {
            negative,
            mantissa: 0,
            power: 0,
        });
    }
    if exponent == 0 || exponent == 0x7ff {
        return None;
    }
    let significand = (bits & 0x000f_ffff_ffff_ffff) | (1 << 52);
    let zeros = significand.trailing_zeros();
    Some(BinaryParts {
        negative,
        mantissa: significand >> zeros,
        power: exponent - 1075 + zeros as i32,
    })
}

/// Returns `2^-exponent` for `exponent` in 0..=1074, exact, as a normal or subnormal `f64`.
fn negative_power_of_two(exponent: u16) -> f64 {
    let exponent = u64::from(exponent.min(MAX_BINARY_EXPONENT));
    match exponent {
        0..=1022 => f64::from_bits((1023 - exponent) << 52),
        _ => f64::from_bits(1 << (1074 - exponent)),
    }
}

/// Returns the binary-mode body (exponent, then integers), or `None` when no exponent makes
/// every value an integer multiple of `2^-e` below `2^63`.
fn encode_binary(values: &[f64]) -> Option<Vec<u8>> {
    let parts: Vec<BinaryParts> = values
        .iter()
        .map(|&v| binary_parts(v))
        .collect::<Option<_>>()?;
    let exponent = binary_exponent(&parts)?;
    let scale = negative_power_of_two(exponent);

    let mut integers = Vec::with_capacity(values.len());
    for (part, value) in parts.iter().zip(values) {
        let magnitude = match part.mantissa {
            0 => 0,
            mantissa => {
                let shift = u32::try_from(part.power + i32::from(exponent)).ok()?;
                (mantissa << shift) as i64
            }
        };
        let integer = if part.negative { -magnitude } else { magnitude };
        if (integer as f64 * scale).to_bits() != value.to_bits() {
            return None;
        }
        integers.push(integer);
    }

    let mut body = exponent.to_le_bytes().to_vec();
    ints::encode(&integers, &mut body);
    Some(body)
}

/// Returns the smallest exponent `e` that makes every value an integer below `2^63` when
/// multiplied by `2^e`, or `None` when there is none.
fn binary_exponent(parts: &[BinaryParts]) -> Option<u16> {
    // Each nonzero value needs `e >= -power`, and `bits(mantissa) + power + e <= 63`.
    let mut lowest = 0i32;
    let mut highest = i32::MAX;
    for part in parts.iter().filter(|part| part.mantissa != 0) {
        lowest = lowest.max(-part.power);
        let mantissa_bits = 64 - part.mantissa.leading_zeros() as i32;
        highest = highest.min(BINARY_INTEGER_BITS - mantissa_bits - part.power);
    }
    if lowest > highest {
        return None;
    }
    u16::try_from(lowest).ok()
}

fn read_binary(reader: &mut Reader, n: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    let exponent_offset = reader.position();
    let exponent = u16::from_le_bytes([reader.u8()?, reader.u8()?]);
    if exponent > MAX_BINARY_EXPONENT {
        return Err(DecodeError::new(
            exponent_offset,
            format!("binary exponent {exponent} exceeds the maximum of {MAX_BINARY_EXPONENT}"),
        ));
    }
    let scale = negative_power_of_two(exponent);
    let integers_offset = reader.position();
    let mut integers = Vec::new();
    ints::decode_from(reader, n, &mut integers)?;
    try_reserve(out, n, integers_offset)?;
    out.extend(integers.into_iter().map(|integer| integer as f64 * scale));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn encoded(values: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    fn bits_of(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    fn round_trip(values: &[f64]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = vec![1.5];
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(decoded.len(), values.len() + 1);
        assert_eq!(bits_of(&decoded[1..]), bits_of(values));
        bytes
    }

    /// Decodes a block written in one given mode.
    fn round_trip_mode(tag: u8, body: Vec<u8>, values: &[f64]) {
        let mut bytes = vec![tag];
        bytes.extend(body);
        let mut decoded = Vec::new();
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(bits_of(&decoded), bits_of(values), "tag {tag}");
    }

    fn special_values() -> Vec<f64> {
        vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff8_dead_beef_0001),
            f64::MAX,
            f64::MIN,
            1.0,
            f64::from_bits(1.0f64.to_bits() + 1),
            f64::from_bits(1.0f64.to_bits() - 1),
        ]
    }

    fn uniform(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f64>()).collect()
    }

    #[test]
    fn empty_block_is_one_tag_byte() {
        assert_eq!(round_trip(&[]), vec![TAG_RAW]);
    }

    #[test]
    fn single_values_round_trip() {
        for value in special_values() {
            round_trip(&[value]);
        }
    }

    #[test]
    fn special_values_round_trip_in_every_mode() {
        let values = special_values();
        round_trip(&values);
        let mut raw = Vec::new();
        write_raw(&values, &mut raw);
        round_trip_mode(TAG_RAW, raw, &values);
        let mut xor = Vec::new();
        write_xor(&values, &mut xor);
        round_trip_mode(TAG_XOR, xor, &values);
    }

    #[test]
    fn values_one_ulp_apart_round_trip() {
        let start = 0.4879263073031473f64.to_bits();
        let values: Vec<f64> = (0..100).map(|i| f64::from_bits(start + i % 3)).collect();
        let bytes = round_trip(&values);
        assert_ne!(bytes[0], TAG_RAW);
        assert!(bytes.len() <= 40, "{} bytes", bytes.len());
    }

    #[test]
    fn signed_zeros_stay_distinct() {
        let bytes = round_trip(&[0.0, -0.0, 0.0, -0.0]);
        assert_ne!(bytes[0], TAG_DECIMAL);
    }

    #[test]
    fn two_decimal_scores_take_under_a_byte() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let values: Vec<f64> = (0..4096)
            .map(|_| (rng.random::<f64>() * 100.0).round() / 100.0)
            .collect();
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], TAG_DECIMAL);
        assert!(bytes.len() <= 4096 * 7 / 8 + 8, "{} bytes", bytes.len());
    }

    #[test]
    fn parsed_decimals_use_decimal_mode() {
        let values: Vec<f64> = ["0.93", "12638.0", "0.000001", "-17.25", "999999.999999"]
            .iter()
            .map(|text| text.parse().unwrap())
            .collect();
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], TAG_DECIMAL);
        assert_eq!(bytes[1], 6);
    }

    #[test]
    fn decimal_mode_boundaries() {
        assert_eq!(scale_exactly(0.000001, 6), Some(1));
        assert_eq!(scale_exactly(0.0000001, 6), None);
        assert_eq!(
            scale_exactly(9_007_199_254_740_991.0, 0),
            Some((1 << 53) - 1)
        );
        assert_eq!(scale_exactly(9_007_199_254_740_992.0, 0), None);
        assert_eq!(
            scale_exactly(-9_007_199_254_740_991.0, 0),
            Some(1 - (1 << 53))
        );
        assert_eq!(scale_exactly(-0.0, 0), None);
        assert_eq!(scale_exactly(f64::NAN, 0), None);
        assert_eq!(scale_exactly(f64::INFINITY, 0), None);
        assert_eq!(scale_exactly(f64::from_bits(1), 6), None);
        assert_eq!(scale_exactly(0.1, 7), None);
    }

    #[test]
    fn decimal_block_with_seven_places_is_not_decimal() {
        let bytes = round_trip(&[0.1234567, 0.5, 0.25]);
        assert_ne!(bytes[0], TAG_DECIMAL);
    }

    #[test]
    fn decimal_block_at_limit_round_trips() {
        let values = [9_007_199_254_740_991.0, -9_007_199_254_740_991.0, 0.0, 1.0];
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], TAG_DECIMAL);
    }

    #[test]
    fn decimal_integer_of_two_pow_53_is_rejected() {
        let mut bytes = vec![TAG_DECIMAL, 0];
        ints::encode(&[1 << 53], &mut bytes);
        assert!(decode(&bytes, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn decimal_places_above_six_are_rejected() {
        let mut bytes = vec![TAG_DECIMAL, 7];
        ints::encode(&[1], &mut bytes);
        assert!(decode(&bytes, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn uniform_floats_take_53_bits() {
        let values = uniform(4096, 4);
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], TAG_BINARY);
        assert!(bytes.len() <= 4096 * 53 / 8 + 16, "{} bytes", bytes.len());
    }

    #[test]
    fn binary_mode_boundaries() {
        let below_limit = [(1u64 << 60) as f64, 0.5, -1.25, 0.0];
        assert_eq!(round_trip(&below_limit)[0], TAG_BINARY);
        assert!(encode_binary(&[(1u64 << 62) as f64, -1.0]).is_some());
        assert!(encode_binary(&[(1u64 << 63) as f64]).is_none());
        assert!(encode_binary(&[(1u64 << 62) as f64, 0.5]).is_none());
        assert!(encode_binary(&[-0.0, 0.5]).is_none());
        assert!(encode_binary(&[f64::from_bits(1), 0.5]).is_none());
        assert!(encode_binary(&[f64::INFINITY]).is_none());
        assert!(encode_binary(&[f64::NAN]).is_none());
    }

    #[test]
    fn binary_mode_smallest_exponent_round_trips() {
        let tiny = f64::from_bits((1 << 52) | 1);
        let values = [tiny, f64::MIN_POSITIVE, 0.0, -tiny];
        let body = encode_binary(&values).unwrap();
        assert_eq!(u16::from_le_bytes([body[0], body[1]]), MAX_BINARY_EXPONENT);
        round_trip_mode(TAG_BINARY, body, &values);
    }

    #[test]
    fn binary_exponent_above_maximum_is_rejected() {
        let mut bytes = vec![TAG_BINARY];
        bytes.extend_from_slice(&(MAX_BINARY_EXPONENT + 1).to_le_bytes());
        ints::encode(&[1], &mut bytes);
        assert!(decode(&bytes, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn random_bits_fall_back_to_raw() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let values: Vec<f64> = (0..1000).map(|_| f64::from_bits(rng.random())).collect();
        let bytes = round_trip(&values);
        assert_eq!(bytes[0], TAG_RAW);
        assert_eq!(bytes.len(), 1 + 8 * 1000);
    }

    #[test]
    fn repeated_value_costs_a_bit_each() {
        let bytes = round_trip(&[0.4879263073031473; 800]);
        assert!(bytes.len() <= 1 + 8 + 100, "{} bytes", bytes.len());
    }

    #[test]
    fn window_reuse_before_any_window_is_rejected() {
        let mut bytes = vec![TAG_XOR];
        let mut writer = BitWriter::new(&mut bytes);
        writer.write(1.0f64.to_bits(), 64);
        writer.write_bit(true);
        writer.write_bit(false);
        writer.finish();
        assert!(decode(&bytes, 2, &mut Vec::new()).is_err());
    }

    #[test]
    fn oversized_window_is_rejected() {
        let mut bytes = vec![TAG_XOR];
        let mut writer = BitWriter::new(&mut bytes);
        writer.write(1.0f64.to_bits(), 64);
        writer.write(0b11, 2);
        writer.write(40, 6);
        writer.write(39, 6);
        writer.write(0, 40);
        writer.finish();
        let error = decode(&bytes, 2, &mut Vec::new()).unwrap_err();
        assert!(error.reason.contains("exceeds 64"), "{error}");
    }

    #[test]
    fn unknown_tag_is_rejected() {
        assert!(decode(&[3], 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        let mut blocks = vec![
            vec![],
            special_values(),
            uniform(20, 6),
            vec![0.25, 0.5, 0.93],
        ];
        blocks.push(vec![1.0; 30]);
        for values in blocks {
            let bytes = encoded(&values);
            assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, values.len(), out));
        }
    }

    proptest! {
        #[test]
        fn any_bits_round_trip(bits in proptest::collection::vec(any::<u64>(), 0..100)) {
            let values: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
            round_trip(&values);
        }

        #[test]
        fn decimals_round_trip(
            integers in proptest::collection::vec(-10_000_000i64..10_000_000, 0..100),
            places in 0u8..=8,
        ) {
            let power = 10f64.powi(i32::from(places));
            let values: Vec<f64> = integers.iter().map(|&k| k as f64 / power).collect();
            round_trip(&values);
        }

        #[test]
        fn binary_fractions_round_trip(
            integers in proptest::collection::vec(-(1i64 << 53)..(1i64 << 53), 0..100),
            exponent in 0i32..1100,
        ) {
            let scale = 2f64.powi(-exponent);
            let values: Vec<f64> = integers.iter().map(|&k| k as f64 * scale).collect();
            round_trip(&values);
        }

        #[test]
        fn nearby_values_round_trip(
            start in any::<f64>(),
            steps in proptest::collection::vec(-4i64..4, 0..100),
        ) {
            let values: Vec<f64> = steps
                .iter()
                .map(|&step| f64::from_bits(start.to_bits().wrapping_add(step as u64)))
                .collect();
            round_trip(&values);
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
            n in 0usize..100,
        ) {
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn tagged_garbage_never_panics(
            tag in 0u8..4,
            body in proptest::collection::vec(any::<u8>(), 0..80),
            n in 0usize..40,
        ) {
            let mut bytes = vec![tag];
            bytes.extend_from_slice(&body);
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn corrupted_block_never_panics(
            values in prop_oneof![
                proptest::collection::vec(any::<f64>(), 0..100),
                proptest::collection::vec((0u32..100).prop_map(|k| f64::from(k) / 100.0), 0..100),
            ],
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values);
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), out));
        }
    }
}
