//! Reference encoders for the integer and float codecs, and tests that the fast encoders write
//! the same bytes.
//!
//! The reference encoders write the body of every eligible mode in full and keep the shortest,
//! which makes them easy to check against the layouts in `ints` and `floats` but slow. The
//! fast encoders size each mode first and write only the winner, so their output must match
//! these byte for byte on every input.

use proptest::prelude::*;

use super::bits::{BitWriter, bit_width, packed_len};
use super::floats::TAG_XOR;
use super::floats::{MAX_BINARY_EXPONENT, MAX_DECIMAL_PLACES, TAG_BINARY, TAG_DECIMAL, TAG_RAW};
use super::ints::{BUCKET_WIDTHS, MAX_ORDER};
use super::{floats, ints, put_varint_i64, varint_len, zigzag};

/// Index of the last bucket, whose prefix has no terminating zero bit.
const LAST_BUCKET: usize = BUCKET_WIDTHS.len() - 1;
const WINDOW_FIELD_BITS: u32 = 6;
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
const POWERS_OF_TEN: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// Encodes integers by writing the residuals of every order and keeping the smallest packing.
pub fn encode_ints(values: &[i64], out: &mut Vec<u8>) {
    let mut best = (usize::MAX, 0, 0u8);
    let mut best_residuals = Vec::new();
    for order in 0..=MAX_ORDER {
        let residuals = to_residuals(values, order);
        let (seeds, body) = residuals.split_at(usize::from(order).min(residuals.len()));
        let seeds_len: usize = seeds.iter().map(|&seed| varint_len(zigzag(seed))).sum();
        let mut improved = false;
        for packing in 0..3u8 {
            let size = seeds_len.saturating_add(packed_size(body, packing));
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
    out.push((order << 4) | packing);
    let (seeds, body) = best_residuals.split_at(usize::from(order).min(best_residuals.len()));
    for &seed in seeds {
        put_varint_i64(out, seed);
    }
    match packing {
        0 => body
            .iter()
            .for_each(|&residual| put_varint_i64(out, residual)),
        1 => write_frame(body, out),
        _ => write_buckets(body, out),
    }
}

fn to_residuals(values: &[i64], order: u8) -> Vec<i64> {
    let mut residuals = values.to_vec();
    for start in 0..usize::from(order).min(residuals.len()) {
        let mut previous = residuals[start];
        for value in &mut residuals[start + 1..] {
            let current = *value;
            *value = current.wrapping_sub(previous);
            previous = current;
        }
    }
    residuals
}

fn packed_size(residuals: &[i64], packing: u8) -> usize {
    if residuals.is_empty() {
        return 0;
    }
    let zigzags = residuals.iter().map(|&residual| zigzag(residual));
    match packing {
        0 => zigzags.map(varint_len).sum(),
        1 => {
            let min = *residuals.iter().min().unwrap();
            let max = *residuals.iter().max().unwrap();
            let width = bit_width(max.wrapping_sub(min) as u64);
            let bits = packed_len(residuals.len(), width).unwrap_or(usize::MAX);
            (varint_len(zigzag(min)) + 1).saturating_add(bits)
        }
        _ => zigzags.map(bucket_bits).sum::<usize>().div_ceil(8),
    }
}

fn bucket_of(z: u64) -> usize {
    let width = bit_width(z);
    (0..LAST_BUCKET)
        .find(|&bucket| width <= BUCKET_WIDTHS[bucket])
        .unwrap_or(LAST_BUCKET)
}

fn bucket_bits(z: u64) -> usize {
    let bucket = bucket_of(z);
    let prefix = if bucket == LAST_BUCKET {
        bucket
    } else {
        bucket + 1
    };
    prefix + BUCKET_WIDTHS[bucket] as usize
}

fn write_frame(residuals: &[i64], out: &mut Vec<u8>) {
    let (Some(&min), Some(&max)) = (residuals.iter().min(), residuals.iter().max()) else {
        return;
    };
    let width = bit_width(max.wrapping_sub(min) as u64);
    put_varint_i64(out, min);
    out.push(width as u8);
    let mut writer = BitWriter::new(out);
    for &residual in residuals {
        writer.write(residual.wrapping_sub(min) as u64, width);
    }
    writer.finish();
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
        writer.write(z, BUCKET_WIDTHS[bucket]);
    }
    writer.finish();
}

/// Encodes floats by writing the body of every eligible mode and keeping the shortest.
pub fn encode_floats(values: &[f64], out: &mut Vec<u8>) {
    let mut xor = Vec::new();
    write_xor(values, &mut xor);
    let candidates = [
        (TAG_XOR, Some(xor)),
        (TAG_DECIMAL, encode_decimal(values)),
        (TAG_BINARY, encode_binary(values)),
    ];
    let mut best: Option<(u8, Vec<u8>)> = None;
    let mut best_len = 8 * values.len();
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
            for value in values {
                out.extend_from_slice(&value.to_bits().to_le_bytes());
            }
        }
    }
}

fn write_xor(values: &[f64], out: &mut Vec<u8>) {
    let Some((first, rest)) = values.split_first() else {
        return;
    };
    let mut writer = BitWriter::new(out);
    let mut previous = first.to_bits();
    writer.write(previous, 64);
    // The current window as (leading zeros, trailing zeros).
    let mut window: Option<(u32, u32)> = None;
    for value in rest {
        let bits = value.to_bits();
        let xor = bits ^ previous;
        previous = bits;
        if xor == 0 {
            writer.write_bit(false);
            continue;
        }
        writer.write_bit(true);
        let (leading, trailing) = (xor.leading_zeros(), xor.trailing_zeros());
        let len = 64 - leading - trailing;
        match window {
            Some((current_leading, current_trailing))
                if leading >= current_leading
                    && trailing >= current_trailing
                    && 64 - current_leading - current_trailing <= 2 * WINDOW_FIELD_BITS + len =>
            {
                writer.write_bit(false);
                let current_len = 64 - current_leading - current_trailing;
                writer.write(xor >> current_trailing, current_len);
            }
            _ => {
                writer.write_bit(true);
                writer.write(u64::from(leading), WINDOW_FIELD_BITS);
                writer.write(u64::from(len - 1), WINDOW_FIELD_BITS);
                writer.write(xor >> trailing, len);
                window = Some((leading, trailing));
            }
        }
    }
    writer.finish();
}

fn encode_decimal(values: &[f64]) -> Option<Vec<u8>> {
    let mut places = 0u8;
    for &value in values {
        places = (places..=MAX_DECIMAL_PLACES).find(|&d| scale_exactly(value, d).is_some())?;
    }
    let integers: Option<Vec<i64>> = values.iter().map(|&v| scale_exactly(v, places)).collect();
    let mut body = vec![places];
    encode_ints(&integers?, &mut body);
    Some(body)
}

fn scale_exactly(value: f64, places: u8) -> Option<i64> {
    let power = POWERS_OF_TEN[usize::from(places)];
    let scaled = (value * power).round();
    let exact_integer = scaled.abs() < EXACT_INTEGER_LIMIT;
    if !exact_integer {
        return None;
    }
    let integer = scaled as i64;
    let restored = integer as f64 / power;
    (restored.to_bits() == value.to_bits()).then_some(integer)
}

/// `(negative, odd mantissa, power)` of `+0.0` or a normal number, `None` otherwise.
fn binary_parts(value: f64) -> Option<(bool, u64, i32)> {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if bits == 0 {
        return Some((false, 0, 0));
    }
    if exponent == 0 || exponent == 0x7ff {
        return None;
    }
    let significand = (bits & 0x000f_ffff_ffff_ffff) | (1 << 52);
    let zeros = significand.trailing_zeros();
    Some((
        bits >> 63 == 1,
        significand >> zeros,
        exponent - 1075 + zeros as i32,
    ))
}

fn encode_binary(values: &[f64]) -> Option<Vec<u8>> {
    let parts: Vec<(bool, u64, i32)> = values
        .iter()
        .map(|&v| binary_parts(v))
        .collect::<Option<_>>()?;
    let mut lowest = 0i32;
    let mut highest = i32::MAX;
    for &(_, mantissa, power) in parts.iter().filter(|part| part.1 != 0) {
        lowest = lowest.max(-power);
        let mantissa_bits = 64 - mantissa.leading_zeros() as i32;
        highest = highest.min(63 - mantissa_bits - power);
    }
    if lowest > highest {
        return None;
    }

    let exponent = u16::try_from(lowest).ok()?;
    assert!(exponent <= MAX_BINARY_EXPONENT);
    let scale = match u64::from(exponent) {
        e @ 0..=1022 => f64::from_bits((1023 - e) << 52),
        e => f64::from_bits(1 << (1074 - e)),
    };

    let mut integers = Vec::with_capacity(values.len());
    for (&(negative, mantissa, power), value) in parts.iter().zip(values) {
        let magnitude = match mantissa {
            0 => 0,
            _ => (mantissa << u32::try_from(power + i32::from(exponent)).ok()?) as i64,
        };
        let integer = if negative { -magnitude } else { magnitude };
        if (integer as f64 * scale).to_bits() != value.to_bits() {
            return None;
        }
        integers.push(integer);
    }
    let mut body = exponent.to_le_bytes().to_vec();
    encode_ints(&integers, &mut body);
    Some(body)
}

fn fast_ints(values: &[i64]) -> Vec<u8> {
    let mut out = vec![0xee];
    ints::encode(values, &mut out);
    out
}

fn reference_ints(values: &[i64]) -> Vec<u8> {
    let mut out = vec![0xee];
    encode_ints(values, &mut out);
    out
}

fn fast_floats(values: &[f64]) -> Vec<u8> {
    let mut out = vec![0xee];
    floats::encode(values, &mut out);
    out
}

fn reference_floats(values: &[f64]) -> Vec<u8> {
    let mut out = vec![0xee];
    encode_floats(values, &mut out);
    out
}

fn assert_same_ints(values: &[i64]) {
    assert_eq!(
        fast_ints(values),
        reference_ints(values),
        "values {values:?}"
    );
}

fn assert_same_floats(values: &[f64]) {
    let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(
        fast_floats(values),
        reference_floats(values),
        "bits {bits:x?}"
    );
}

/// Integers where the choice of order or packing is close: extremes, runs, steps and values
/// around the bucket and varint boundaries.
fn edge_integers() -> Vec<i64> {
    let mut edges = vec![0, 1, -1, i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1];
    for shift in [6, 7, 13, 14, 31, 32, 52, 53, 62, 63] {
        let power = 1u64 << shift;
        for delta in [-1i64, 0, 1] {
            edges.push((power as i64).wrapping_add(delta));
            edges.push((power as i64).wrapping_neg().wrapping_add(delta));
        }
    }
    edges
}

/// Floats that take each mode or sit on the edge of one: signed zeros, subnormals, infinities,
/// NaN payloads, decimals, and values next to `2^53` and `2^63`.
fn edge_floats() -> Vec<f64> {
    let mut edges = vec![
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
        f64::EPSILON,
        0.1,
        0.93,
        -17.25,
        0.000001,
        0.0000001,
        999_999.999_999,
        f64::from_bits((1 << 52) | 1),
    ];
    for power in [52, 53, 62, 63, 64] {
        let base = 2f64.powi(power);
        for ulps in [-2i64, -1, 0, 1, 2] {
            edges.push(f64::from_bits(base.to_bits().wrapping_add(ulps as u64)));
            edges.push(-f64::from_bits(base.to_bits().wrapping_add(ulps as u64)));
        }
    }
    edges
}

#[test]
fn ints_empty_and_single_values_match() {
    assert_same_ints(&[]);
    for value in edge_integers() {
        assert_same_ints(&[value]);
        assert_same_ints(&[value, value]);
        assert_same_ints(&[value; 9]);
    }
}

#[test]
fn ints_edge_pairs_and_triples_match() {
    let edges = edge_integers();
    for &a in &edges {
        for &b in &edges {
            assert_same_ints(&[a, b]);
            assert_same_ints(&[a, b, a]);
            assert_same_ints(&[0, a, b, 0, 0]);
        }
    }
}

#[test]
fn ints_progressions_match() {
    let steady: Vec<i64> = (0..500).map(|i| 1_700_000_000_000 + 15_000 * i).collect();
    assert_same_ints(&steady);
    let mut changed = steady.clone();
    changed[250] += 1;
    assert_same_ints(&changed);
    let wrapping: Vec<i64> = (0..100i64)
        .map(|i| i64::MAX.wrapping_add(i.wrapping_mul(1 << 60)))
        .collect();
    assert_same_ints(&wrapping);
}

#[test]
fn floats_empty_and_single_values_match() {
    assert_same_floats(&[]);
    for value in edge_floats() {
        assert_same_floats(&[value]);
        assert_same_floats(&[value, value, value]);
    }
}

#[test]
fn floats_edge_pairs_match() {
    let edges = edge_floats();
    for &a in &edges {
        for &b in &edges {
            assert_same_floats(&[a, b]);
            assert_same_floats(&[0.5, a, 0.25, b]);
        }
    }
}

#[test]
fn floats_places_rising_through_block_match() {
    // The decimal places grow value by value, and an early value may not be exact at the
    // final number of places.
    assert_same_floats(&[1.0, 0.5, 0.25, 0.125, 0.0625]);
    assert_same_floats(&[3.0, 0.1, 0.12, 0.123, 0.1234, 0.12345, 0.123456]);
    assert_same_floats(&[0.3, 0.01, 2.675, 1.005, 0.1234567]);
    let tenths: Vec<f64> = (0..1000).map(|i| f64::from(i) / 10.0).collect();
    let mut mixed = tenths.clone();
    mixed.push(0.001);
    assert_same_floats(&mixed);
}

proptest! {
    #[test]
    fn ints_any_values_match(values in proptest::collection::vec(any::<i64>(), 0..200)) {
        assert_same_ints(&values);
    }

    #[test]
    fn ints_small_values_match(values in proptest::collection::vec(-300i64..300, 0..200)) {
        assert_same_ints(&values);
    }

    #[test]
    fn ints_edge_mixes_match(
        picks in proptest::collection::vec((0usize..200, -2i64..=2), 0..120),
    ) {
        let edges = edge_integers();
        let values: Vec<i64> = picks
            .iter()
            .map(|&(pick, delta)| edges[pick % edges.len()].wrapping_add(delta))
            .collect();
        assert_same_ints(&values);
    }

    #[test]
    fn ints_runs_and_steps_match(
        start in any::<i64>(),
        steps in proptest::collection::vec((-3i64..=3, 1usize..40), 0..20),
        scale in prop_oneof![Just(1i64), Just(1000), Just(1 << 40)],
    ) {
        let mut values = Vec::new();
        let mut value = start;
        for (step, run) in steps {
            for _ in 0..run {
                value = value.wrapping_add(step.wrapping_mul(scale));
                values.push(value);
            }
        }
        assert_same_ints(&values);
    }

    #[test]
    fn floats_any_bits_match(bits in proptest::collection::vec(any::<u64>(), 0..100)) {
        let values: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_decimals_match(
        integers in proptest::collection::vec(-10_000_000i64..10_000_000, 0..100),
        places in 0u8..=8,
    ) {
        let power = 10f64.powi(i32::from(places));
        let values: Vec<f64> = integers.iter().map(|&k| k as f64 / power).collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_mixed_places_match(
        picks in proptest::collection::vec((-100_000i64..100_000, 0u8..=7), 0..60),
    ) {
        let values: Vec<f64> = picks
            .iter()
            .map(|&(k, places)| k as f64 / 10f64.powi(i32::from(places)))
            .collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_binary_fractions_match(
        integers in proptest::collection::vec(-(1i64 << 53)..(1i64 << 53), 0..100),
        exponent in -70i32..1100,
    ) {
        let scale = 2f64.powi(-exponent);
        let values: Vec<f64> = integers.iter().map(|&k| k as f64 * scale).collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_nearby_values_match(
        start in any::<f64>(),
        steps in proptest::collection::vec(-4i64..4, 0..100),
    ) {
        let values: Vec<f64> = steps
            .iter()
            .map(|&step| f64::from_bits(start.to_bits().wrapping_add(step as u64)))
            .collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_edge_mixes_match(
        picks in proptest::collection::vec((0usize..100, 0u32..4), 0..80),
    ) {
        let edges = edge_floats();
        let values: Vec<f64> = picks
            .iter()
            .map(|&(pick, run)| (edges[pick % edges.len()], run))
            .flat_map(|(value, run)| std::iter::repeat_n(value, run as usize + 1))
            .collect();
        assert_same_floats(&values);
    }

    #[test]
    fn floats_large_integers_match(
        integers in proptest::collection::vec(
            prop_oneof![
                (1i64 << 52)..(1i64 << 54),
                -(1i64 << 54)..-(1i64 << 52),
                any::<i64>(),
                -1000i64..1000,
            ],
            0..60,
        ),
    ) {
        let values: Vec<f64> = integers.iter().map(|&k| k as f64).collect();
        assert_same_floats(&values);
    }
}
