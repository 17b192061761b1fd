//! Float column codec: the smallest of four modes per block, exact to the bit.
//!
//! Every mode round-trips the bits of each value, so NaN payloads, `-0.0`, subnormals and
//! infinities come back as written. The encoder sizes each eligible mode and writes only the
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

mod rows;

pub use rows::decode_rows;

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
/// Magnitude from which an `f64` no longer converts to an `i64` (2^63).
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;
/// The fraction field of an `f64`.
const FRACTION_MASK: u64 = 0x000f_ffff_ffff_ffff;
/// The implicit leading bit of the significand of a normal `f64`.
const IMPLICIT_BIT: u64 = 1 << 52;

/// Appends the encoding of `values`.
///
/// Sizes every eligible mode without writing it, then writes only the smallest.
pub fn encode(values: &[f64], out: &mut Vec<u8>) {
    let mut best = Choice::Raw;
    let mut best_len = RAW_VALUE_LEN * values.len();
    let mut counter = BitCounter::default();
    xor_stream(values, &mut counter);
    let xor_len = counter.bits.div_ceil(8);
    if xor_len < best_len {
        best = Choice::Xor;
        best_len = xor_len;
    }
    let decimal = ScaledBody::decimal(values);
    // With 0 places, the binary mode has exponent 0 and the same integers, so its body is one
    // byte longer and never wins.
    let binary = match &decimal {
        Some(body) if body.prefix == [0] => None,
        _ => ScaledBody::binary(values),
    };
    for (tag, body) in [(TAG_DECIMAL, decimal), (TAG_BINARY, binary)] {
        if let Some(body) = body.filter(|body| body.len() < best_len) {
            best_len = body.len();
            best = Choice::Scaled(tag, body);
        }
    }
    out.reserve(1 + best_len);
    match best {
        Choice::Raw => {
            out.push(TAG_RAW);
            write_raw(values, out);
        }
        Choice::Xor => {
            out.push(TAG_XOR);
            let mut writer = BitWriter::new(out);
            xor_stream(values, &mut writer);
            writer.finish();
        }
        Choice::Scaled(tag, body) => {
            out.push(tag);
            body.write(out);
        }
    }
}

/// The mode that [`encode`] writes.
enum Choice {
    Raw,
    Xor,
    /// The decimal or the binary mode, with its tag.
    Scaled(u8, ScaledBody),
}

/// The body of the decimal or the binary mode: a short prefix (the places or the exponent),
/// then the integers in the [`super::ints`] encoding that [`ints::Plan`] picked.
struct ScaledBody {
    prefix: Vec<u8>,
    integers: Vec<i64>,
    plan: ints::Plan,
}

impl ScaledBody {
    fn new(prefix: Vec<u8>, integers: Vec<i64>) -> ScaledBody {
        let plan = ints::Plan::of(&integers);
        ScaledBody {
            prefix,
            integers,
            plan,
        }
    }

    /// Returns the decimal-mode body, or `None` when the values are not all decimals.
    fn decimal(values: &[f64]) -> Option<ScaledBody> {
        let (places, integers) = decimal_integers(values)?;
        Some(ScaledBody::new(vec![places], integers))
    }

    /// Returns the binary-mode body, or `None` when no exponent suits every value.
    fn binary(values: &[f64]) -> Option<ScaledBody> {
        let exponent = binary_exponent(values)?;
        let integers = values
            .iter()
            .map(|value| binary_integer(value.to_bits(), exponent))
            .collect();
        Some(ScaledBody::new(exponent.to_le_bytes().to_vec(), integers))
    }

    fn len(&self) -> usize {
        self.prefix.len().saturating_add(self.plan.len())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        self.plan.write(&self.integers, out);
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

/// A destination for the bits of the XOR mode: a writer, or a counter that sizes the mode.
trait BitSink {
    fn write(&mut self, value: u64, width: u32);
}

impl BitSink for BitWriter<'_> {
    fn write(&mut self, value: u64, width: u32) {
        BitWriter::write(self, value, width);
    }
}

/// Counts bits instead of writing them.
#[derive(Default)]
struct BitCounter {
    bits: usize,
}

impl BitSink for BitCounter {
    fn write(&mut self, _value: u64, width: u32) {
        self.bits += width as usize;
    }
}

/// Sends the XOR-mode bit stream of `values` to `sink`.
fn xor_stream(values: &[f64], sink: &mut impl BitSink) {
    let Some((first, rest)) = values.split_first() else {
        return;
    };
    let mut previous = first.to_bits();
    sink.write(previous, 64);
    let mut window: Option<Window> = None;
    for value in rest {
        let current = value.to_bits();
        let xor = current ^ previous;
        previous = current;
        if xor == 0 {
            sink.write(0, 1);
            continue;
        }
        let fitted = Window {
            leading: xor.leading_zeros(),
            trailing: xor.trailing_zeros(),
        };
        match window {
            Some(current) if fits(current, fitted) => {
                // A one bit for a change, then a zero bit for the current window.
                sink.write(0b01, 2);
                sink.write(xor >> current.trailing, current.len());
            }
            _ => {
                sink.write(0b11, 2);
                sink.write(u64::from(fitted.leading), WINDOW_FIELD_BITS);
                sink.write(u64::from(fitted.len() - 1), WINDOW_FIELD_BITS);
                sink.write(xor >> fitted.trailing, fitted.len());
                window = Some(fitted);
            }
        }
    }
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

/// Returns the places and the integers of the decimal mode, or `None` when a value is not
/// exactly `k / 10^d` with `|k| < 2^53` for the block's `d`.
///
/// The block's `d` is found value by value: each value raises it to the fewest places, from
/// the current `d` up to 6, that represent the value. Every value must then be exact at the
/// final `d`, so the values read before the last raise are scaled again.
fn decimal_integers(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    let mut places = 0u8;
    let mut integers = Vec::with_capacity(values.len());
    // The integers before this index were scaled with fewer places than `places`.
    let mut rescale_end = 0;
    for &value in values {
        let integer = match scale_exactly(value, places) {
            Some(integer) => integer,
            None => {
                let mut more_places = places.saturating_add(1)..=MAX_DECIMAL_PLACES;
                let (more, integer) = more_places
                    .find_map(|d| scale_exactly(value, d).map(|integer| (d, integer)))?;
                places = more;
                rescale_end = integers.len();
                integer
            }
        };
        integers.push(integer);
    }
    let rescaled = integers.iter_mut().zip(values).take(rescale_end);
    for (integer, &value) in rescaled {
        *integer = scale_exactly(value, places)?;
    }
    Some((places, integers))
}

/// Returns `k` such that `k as f64 / 10^places` has the bits of `value`, if there is one
/// with `|k| < 2^53`.
fn scale_exactly(value: f64, places: u8) -> Option<i64> {
    let power = POWERS_OF_TEN.get(usize::from(places)).copied()?;
    let integer = round_to_integer(value * power)?;
    if integer.unsigned_abs() >= EXACT_INTEGER_LIMIT as u64 {
        return None;
    }
    let restored = integer as f64 / power;
    (restored.to_bits() == value.to_bits()).then_some(integer)
}

/// Rounds half away from zero, as `f64::round` does, or returns `None` for NaN, infinities
/// and magnitudes of `2^63` and above.
///
/// On x86-64 without SSE4.1, `f64::round` compiles to a call into compiler-builtins. Truncating
/// and comparing the fraction gives the same integer: `x - trunc(x)` is exact for every `f64`.
fn round_to_integer(x: f64) -> Option<i64> {
    // The comparison is false for NaN.
    let fits_i64 = x.abs() < I64_LIMIT;
    if !fits_i64 {
        return None;
    }
    let truncated = x as i64;
    let fraction = x - truncated as f64;
    let rounded = if fraction >= 0.5 {
        truncated + 1
    } else if fraction <= -0.5 {
        truncated - 1
    } else {
        truncated
    };
    Some(rounded)
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

/// Returns the smallest exponent `e` that makes every value an integer below `2^63` in
/// magnitude when multiplied by `2^e`, or `None` when there is none or a value is not `+0.0`
/// or a normal number.
fn binary_exponent(values: &[f64]) -> Option<u16> {
    // A normal value is `s * 2^(b - 1075)`, with `b` its biased exponent and `s` its 53-bit
    // significand. It is an integer when `e >= 1075 - b - trailing_zeros(s)`, and stays below
    // `2^63` when `e <= 1085 - b`, because the odd part of `s` has `53 - trailing_zeros(s)` bits.
    let mut lowest = 0i32;
    let mut highest_biased = 0i32;
    for value in values {
        let bits = value.to_bits();
        if bits == 0 {
            continue;
        }
        let biased = biased_exponent(bits);
        if biased == 0 || biased == 0x7ff {
            return None;
        }
        let zeros = (bits | IMPLICIT_BIT).trailing_zeros() as i32;
        lowest = lowest.max(1075 - biased - zeros);
        highest_biased = highest_biased.max(biased);
    }
    if lowest > 1085 - highest_biased {
        return None;
    }
    u16::try_from(lowest).ok()
}

/// Returns the integer `k` with `k * 2^-exponent` equal to the value of `bits`, for `+0.0` and
/// the normal numbers that [`binary_exponent`] accepted with this exponent.
///
/// The product `k as f64 * 2^-exponent` is exact, so decoding restores the bits: `k` has at
/// most 53 significant bits and the result is the normal value itself.
fn binary_integer(bits: u64, exponent: u16) -> i64 {
    if bits == 0 {
        return 0;
    }
    let significand = (bits & FRACTION_MASK) | IMPLICIT_BIT;
    // From -52 to 10 for an accepted value: the bounds of `binary_exponent`.
    let shift = biased_exponent(bits) - 1075 + i32::from(exponent);
    let magnitude = match u32::try_from(shift) {
        Ok(left) => significand << left,
        Err(_) => significand >> shift.unsigned_abs(),
    } as i64;
    if bits >> 63 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

fn biased_exponent(bits: u64) -> i32 {
    ((bits >> 52) & 0x7ff) as i32
}

/// Returns `2^-exponent` for `exponent` in 0..=1074, exact, as a normal or subnormal `f64`.
fn negative_power_of_two(exponent: u16) -> f64 {
    let exponent = u64::from(exponent.min(MAX_BINARY_EXPONENT));
    match exponent {
        0..=1022 => f64::from_bits((1023 - exponent) << 52),
        _ => f64::from_bits(1 << (1074 - exponent)),
    }
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

    fn xor_body(values: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        xor_stream(values, &mut writer);
        writer.finish();
        let mut counter = BitCounter::default();
        xor_stream(values, &mut counter);
        assert_eq!(out.len(), counter.bits.div_ceil(8));
        out
    }

    fn binary_body(values: &[f64]) -> Option<Vec<u8>> {
        let body = ScaledBody::binary(values)?;
        let mut out = Vec::new();
        body.write(&mut out);
        assert_eq!(out.len(), body.len());
        Some(out)
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
        round_trip_mode(TAG_XOR, xor_body(&values), &values);
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
        assert!(binary_body(&[(1u64 << 62) as f64, -1.0]).is_some());
        assert!(binary_body(&[(1u64 << 63) as f64]).is_none());
        assert!(binary_body(&[(1u64 << 62) as f64, 0.5]).is_none());
        assert!(binary_body(&[-0.0, 0.5]).is_none());
        assert!(binary_body(&[f64::from_bits(1), 0.5]).is_none());
        assert!(binary_body(&[f64::INFINITY]).is_none());
        assert!(binary_body(&[f64::NAN]).is_none());
    }

    #[test]
    fn binary_mode_smallest_exponent_round_trips() {
        let tiny = f64::from_bits((1 << 52) | 1);
        let values = [tiny, f64::MIN_POSITIVE, 0.0, -tiny];
        let body = binary_body(&values).unwrap();
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
