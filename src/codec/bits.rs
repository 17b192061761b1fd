//! Bit streams packed LSB first, shared by the bit-packed codecs.
//!
//! Bit `i` of a stream is bit `i % 8` of byte `i / 8`. A value of width `w` occupies the next
//! `w` bits, its low bit first. The writer pads the last byte with zero bits, and the reader
//! rejects a stream whose padding is not zero.

mod groups;

use super::{DecodeError, DecodeResult};

/// Returns the mask of the low `width` bits, for `width` in 0..=64.
pub fn low_bits(width: u32) -> u64 {
    match width {
        0 => 0,
        64.. => u64::MAX,
        _ => (1u64 << width) - 1,
    }
}

/// Returns the number of bits needed to write `v`: 0 for 0, 64 for `u64::MAX`.
pub fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Returns the bytes of a stream of `count` values of `width` bits, or `None` on overflow.
pub fn packed_len(count: usize, width: u32) -> Option<usize> {
    count
        .checked_mul(width as usize)
        .map(|bits| bits.div_ceil(8))
}

/// Appends `values` as a bit stream of `width`-bit fields, `width` in 0..=64, padded with zero
/// bits to a whole byte. Bits of a value above `width` are dropped.
///
/// Writes the same bytes as a [`BitWriter`] given each value with `write(value, width)`, but
/// keeps its pending bits in one `u64`, which suits a loop over many values of one width.
pub fn write_fixed_width(out: &mut Vec<u8>, width: u32, values: impl Iterator<Item = u64>) {
    let width = width.min(64);
    if width == 0 {
        return;
    }
    let mask = low_bits(width);
    let mut pending = 0u64;
    // Always below 64, so the shifts below stay in range.
    let mut pending_bits = 0u32;
    for value in values {
        let value = value & mask;
        pending |= value << pending_bits;
        let total = pending_bits + width;
        if total < 64 {
            pending_bits = total;
            continue;
        }
        out.extend_from_slice(&pending.to_le_bytes());
        // The bits of `value` that did not fit; none when it filled the word exactly.
        pending = value.checked_shr(64 - pending_bits).unwrap_or(0);
        pending_bits = total - 64;
    }
    let tail = pending.to_le_bytes();
    out.extend_from_slice(
        tail.get(..pending_bits.div_ceil(8) as usize)
            .unwrap_or_default(),
    );
}

/// Returns how many values of `step` bits come before the first one that starts on a byte
/// boundary, from bit `position` on, or `None` when none ever does.
fn values_to_byte_boundary(position: usize, step: usize) -> Option<usize> {
    // The bit offset within a byte repeats after 8 values.
    (0..8).find(|&k| (position + k * step).is_multiple_of(8))
}

/// Appends values bit by bit to a byte vector.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    pending: u128,
    pending_bits: u32,
}

impl<'a> BitWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            pending: 0,
            pending_bits: 0,
        }
    }

    /// Writes the low `width` bits of `value`, for `width` in 0..=64.
    pub fn write(&mut self, value: u64, width: u32) {
        let width = width.min(64);
        self.pending |= u128::from(value & low_bits(width)) << self.pending_bits;
        self.pending_bits += width;
        if self.pending_bits >= 64 {
            self.out
                .extend_from_slice(&(self.pending as u64).to_le_bytes());
            self.pending >>= 64;
            self.pending_bits -= 64;
        }
    }

    pub fn write_bit(&mut self, bit: bool) {
        self.write(u64::from(bit), 1);
    }

    /// Flushes the last partial byte, padded with zero bits.
    pub fn finish(self) {
        let bytes = self.pending.to_le_bytes();
        let len = self.pending_bits.div_ceil(8) as usize;
        self.out.extend(bytes.iter().take(len));
    }
}

/// Reads values bit by bit from a byte slice.
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes` within the decoder's input, for error offsets.
    base: usize,
    bit_position: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from `bytes`, which start at offset `base` of the decoder's input.
    pub fn new(bytes: &'a [u8], base: usize) -> Self {
        BitReader {
            bytes,
            base,
            bit_position: 0,
        }
    }

    pub fn remaining_bits(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.bit_position)
    }

    /// Builds an error at the byte holding the next unread bit.
    pub fn error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.base + self.bit_position / 8, reason)
    }

    /// Reads `width` bits, for `width` in 0..=64.
    pub fn read(&mut self, width: u32) -> DecodeResult<u64> {
        let width = width.min(64);
        if width as usize > self.remaining_bits() {
            return Err(self.error(format!(
                "bit stream ends {} bits before the end of a {width}-bit value",
                width as usize - self.remaining_bits()
            )));
        }
        let byte = self.bit_position / 8;
        let shift = (self.bit_position % 8) as u32;
        let mut value = self.load_u64(byte) >> shift;
        if shift + width > 64 {
            let next = self.bytes.get(byte + 8).copied().unwrap_or(0);
            value |= u64::from(next) << (64 - shift);
        }
        self.bit_position += width as usize;
        Ok(value & low_bits(width))
    }

    /// Reads `out.len()` values of `width` bits into `out`, each passed through `map`, with one
    /// bound check for all of them: the loop does no per-value error handling, which makes it
    /// several times faster than `out.len()` calls of `read`.
    pub fn read_many<T>(
        &mut self,
        width: u32,
        out: &mut [T],
        map: impl Fn(u64) -> T,
    ) -> DecodeResult<()> {
        let width = width.min(64);
        let count = out.len();
        let needed = count.saturating_mul(width as usize);
        if needed > self.remaining_bits() {
            return Err(self.error(format!(
                "bit stream ends {} bits before the end of {count} values of {width} bits",
                needed - self.remaining_bits()
            )));
        }
        if width == 0 {
            // Values of no bits are all zero, as a block of equal frame-packed residuals has.
            out.fill_with(|| map(0));
            return Ok(());
        }
        let mask = low_bits(width);
        let step = width as usize;
        let mut position = self.bit_position;
        // Values up to 56 bits wide fit in one 8-byte load at any bit offset. While a full load
        // stays inside the input, the loop needs neither the zero-padded load nor a second one.
        let fast = match self.bytes.len().checked_sub(8) {
            Some(last_load) if width <= 56 && step > 0 => {
                // The last bit position whose byte starts a full load.
                let last_full = last_load * 8 + 7;
                let fitting = last_full
                    .checked_sub(position)
                    .map_or(0, |room| room / step + 1);
                fitting.min(count)
            }
            _ => 0,
        };
        let (head, tail) = out.split_at_mut(fast);
        // Values before the first one that starts on a byte boundary, then groups of eight,
        // then the rest of the values whose load fits.
        let lead = values_to_byte_boundary(position, step).unwrap_or(head.len());
        let (lead, rest) = head.split_at_mut(lead.min(head.len()));
        position = self.read_loaded(position, width, lead, &map);
        let grouped = groups::read_groups(self.bytes, position / 8, width, rest, &map);
        position += grouped * step;
        let rest = rest.get_mut(grouped..).unwrap_or_default();
        position = self.read_loaded(position, width, rest, &map);
        for slot in tail {
            let byte = position / 8;
            let shift = (position % 8) as u32;
            let mut value = self.load_u64(byte) >> shift;
            if shift + width > 64 {
                let next = self.bytes.get(byte + 8).copied().unwrap_or(0);
                value |= u64::from(next) << (64 - shift);
            }
            *slot = map(value & mask);
            position += step;
        }
        self.bit_position = position;
        Ok(())
    }

    /// Reads one value of `width` bits, up to 56, into each slot from bit `position` on, and
    /// returns the position after them. Each value's 8-byte load must lie inside the input;
    /// one that does not reads as 0.
    fn read_loaded<T>(
        &self,
        mut position: usize,
        width: u32,
        slots: &mut [T],
        map: &impl Fn(u64) -> T,
    ) -> usize {
        let mask = low_bits(width);
        for slot in slots {
            let byte = position / 8;
            let word = self
                .bytes
                .get(byte..byte + 8)
                .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
                .map_or(0, u64::from_le_bytes);
            *slot = map((word >> (position % 8)) & mask);
            position += width as usize;
        }
        position
    }

    /// Moves past `bits` bits without reading them.
    pub fn skip(&mut self, bits: usize) -> DecodeResult<()> {
        if bits > self.remaining_bits() {
            let missing = bits - self.remaining_bits();
            return Err(self.error(format!("bit stream ends {missing} bits before a skip ends")));
        }
        self.bit_position += bits;
        Ok(())
    }

    pub fn read_bit(&mut self) -> DecodeResult<bool> {
        self.read(1).map(|bit| bit == 1)
    }

    /// Fails unless the stream ends within the current byte and its padding bits are zero.
    pub fn check_end(&self) -> DecodeResult<()> {
        let used = self.bit_position.div_ceil(8);
        if used != self.bytes.len() {
            return Err(DecodeError::new(
                self.base + used,
                format!(
                    "{} unexpected bytes after the bit stream",
                    self.bytes.len() - used
                ),
            ));
        }
        let padding = self.remaining_bits() as u32;
        let last = self.bytes.last().copied().unwrap_or(0);
        if padding > 0 && u64::from(last) >> (8 - padding) != 0 {
            return Err(self.error("padding bits after the bit stream are not zero"));
        }
        Ok(())
    }

    /// Loads 8 bytes from `byte` on, with zeros past the end of the slice.
    fn load_u64(&self, byte: usize) -> u64 {
        let chunk = self.bytes.get(byte..byte + 8);
        if let Some(word) = chunk.and_then(|chunk| <[u8; 8]>::try_from(chunk).ok()) {
            return u64::from_le_bytes(word);
        }
        let mut word = [0u8; 8];
        let available = self.bytes.get(byte..).unwrap_or_default();
        for (slot, value) in word.iter_mut().zip(available) {
            *slot = *value;
        }
        u64::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writer_packs_lsb_first() {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        writer.write_bit(true);
        writer.write_bit(false);
        writer.write(0b11, 2);
        writer.finish();
        assert_eq!(out, vec![0b1101]);
    }

    #[test]
    fn zero_width_values_read_no_bits() {
        let bytes = [0b101];
        let mut reader = BitReader::new(&bytes, 0);
        let mut out = [7u64; 5];
        reader.read_many(0, &mut out, |value| value + 1).unwrap();
        assert_eq!(out, [1; 5]);
        assert_eq!(reader.read(3).unwrap(), 0b101);
    }

    #[test]
    fn reader_rejects_read_past_end() {
        let bytes = [0xff];
        let mut reader = BitReader::new(&bytes, 10);
        assert_eq!(reader.read(5).unwrap(), 0b11111);
        let error = reader.read(4).unwrap_err();
        assert_eq!(error.offset, 10);
    }

    #[test]
    fn reader_rejects_nonzero_padding() {
        let bytes = [0b1000_0001];
        let mut reader = BitReader::new(&bytes, 0);
        reader.read(1).unwrap();
        assert!(reader.check_end().is_err());
    }

    #[test]
    fn reader_rejects_unused_bytes() {
        let bytes = [1, 0];
        let mut reader = BitReader::new(&bytes, 0);
        reader.read(1).unwrap();
        assert!(reader.check_end().is_err());
    }

    #[test]
    fn widths_of_extremes() {
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(u64::MAX), 64);
        assert_eq!(low_bits(64), u64::MAX);
        assert_eq!(low_bits(0), 0);
    }

    /// Returns `len` bytes of an irregular bit pattern, so that a value read at a wrong offset
    /// or with a wrong mask differs from the expected one.
    fn patterned_bytes(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(0x9d).rotate_left(i as u32 % 8) ^ 0xa5)
            .collect()
    }

    /// Reads `count` values of `width` bits one `read` at a time.
    fn read_one_by_one(reader: &mut BitReader, width: u32, count: usize) -> Vec<u64> {
        (0..count).map(|_| reader.read(width).unwrap()).collect()
    }

    /// Checks `read_many` against single reads from bit `start` on: every value that fits,
    /// the position after them, and that one more value past the end fails without moving.
    fn check_read_many(bytes: &[u8], start: usize, width: u32) {
        let context = format!("{} bytes, from bit {start}, {width} bits", bytes.len());

        let mut expected_reader = BitReader::new(bytes, 0);
        let mut reader = BitReader::new(bytes, 0);
        for _ in 0..start {
            expected_reader.read(1).unwrap();
            reader.read(1).unwrap();
        }

        let available = reader.remaining_bits();
        let count = match width {
            0 => 3,
            _ => available / width as usize,
        };
        let expected = read_one_by_one(&mut expected_reader, width, count);
        let mut read = vec![u64::MAX; count];
        reader.read_many(width, &mut read, |v| v).unwrap();
        assert_eq!(read, expected, "{context}");
        assert_eq!(
            reader.remaining_bits(),
            expected_reader.remaining_bits(),
            "position after the values, {context}"
        );

        if width > 0 {
            let left = reader.remaining_bits();
            assert!(
                reader.read_many(width, &mut [0], |v| v).is_err(),
                "{context}"
            );
            assert_eq!(
                reader.remaining_bits(),
                left,
                "position after an error, {context}"
            );
        }
    }

    #[test]
    fn read_many_every_width_and_offset() {
        // Lengths below, at and past one 8-byte load, starting at every bit of the first
        // two bytes and at the last bits of the input.
        for len in 0..=20 {
            let bytes = patterned_bytes(len);
            let bits = len * 8;
            let starts = (0..16.min(bits + 1)).chain(bits.saturating_sub(9)..=bits);
            for start in starts {
                for width in 0..=64 {
                    check_read_many(&bytes, start, width);
                }
            }
        }
    }

    #[test]
    fn read_many_in_groups_every_width_and_offset() {
        // Inputs long enough for the 64-byte loads of groups of eight, with starts on and off
        // byte boundaries, so that some reads take groups and some never reach a boundary.
        for len in [64, 65, 71, 72, 100, 137] {
            let bytes = patterned_bytes(len);
            for start in (0..=17).chain([61, 8 * len - 70]) {
                for width in 0..=64 {
                    check_read_many(&bytes, start, width);
                }
            }
        }
    }

    #[test]
    fn values_reach_a_byte_boundary() {
        assert_eq!(values_to_byte_boundary(0, 7), Some(0));
        assert_eq!(values_to_byte_boundary(3, 7), Some(3));
        assert_eq!(values_to_byte_boundary(1, 2), None);
        assert_eq!(values_to_byte_boundary(4, 4), Some(1));
    }

    #[test]
    fn read_many_short_input_tail() {
        // Seven bytes are too few for the 8-byte load of the fast path.
        let bytes = [0xff; 7];
        let mut reader = BitReader::new(&bytes, 0);
        reader.read(3).unwrap();
        let mut read = [0u64; 2];
        reader.read_many(26, &mut read, |v| v).unwrap();
        assert_eq!(read, [low_bits(26); 2]);
        assert_eq!(reader.remaining_bits(), 1);
    }

    #[test]
    fn read_many_maps_every_value() {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        for value in 0..20u64 {
            writer.write(value, 5);
        }
        writer.finish();
        let mut reader = BitReader::new(&out, 0);
        let mut read = vec![0i64; 20];
        reader.read_many(5, &mut read, |v| -(v as i64)).unwrap();
        let expected: Vec<i64> = (0..20).map(|v| -v).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn read_many_error_names_the_missing_bits() {
        let bytes = [0u8; 9];
        let mut reader = BitReader::new(&bytes, 100);
        reader.read(5).unwrap();
        let error = reader.read_many(7, &mut [0u64; 10], |v| v).unwrap_err();
        assert_eq!(error.offset, 100);
        assert!(error.reason.contains("3 bits before"), "{}", error.reason);
    }

    #[test]
    fn fixed_width_writer_every_width_and_count() {
        let pattern = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 << 63;
        for width in 0..=64 {
            for count in 0..=70 {
                let values: Vec<u64> = (0..count).map(pattern).collect();
                let mut expected = Vec::new();
                let mut writer = BitWriter::new(&mut expected);
                for &value in &values {
                    writer.write(value, width);
                }
                writer.finish();
                let mut written = Vec::new();
                write_fixed_width(&mut written, width, values.into_iter());
                assert_eq!(written, expected, "{count} values of {width} bits");
            }
        }
    }

    proptest! {
        #[test]
        fn fixed_width_writer_matches_bit_writer(
            values in proptest::collection::vec(any::<u64>(), 0..100),
            width in 0u32..=64,
        ) {
            let mut expected = vec![0xa5];
            let mut writer = BitWriter::new(&mut expected);
            for &value in &values {
                writer.write(value, width);
            }
            writer.finish();
            let mut written = vec![0xa5];
            write_fixed_width(&mut written, width, values.iter().copied());
            prop_assert_eq!(written, expected);
        }

        #[test]
        fn read_many_matches_read_from_any_position(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            start in 0usize..=320,
            width in 0u32..=64,
        ) {
            let start = start.min(bytes.len() * 8);
            check_read_many(&bytes, start, width);
        }

        #[test]
        fn bit_stream_round_trips(values in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..64)) {
            let mut out = Vec::new();
            let mut writer = BitWriter::new(&mut out);
            for &(value, width) in &values {
                writer.write(value, width);
            }
            writer.finish();
            let total: usize = values.iter().map(|&(_, width)| width as usize).sum();
            prop_assert_eq!(out.len(), total.div_ceil(8));
            let mut reader = BitReader::new(&out, 0);
            for &(value, width) in &values {
                prop_assert_eq!(reader.read(width).unwrap(), value & low_bits(width));
            }
            prop_assert!(reader.check_end().is_ok());
        }

        #[test]
        fn read_many_matches_single_reads(
            values in proptest::collection::vec(any::<u64>(), 0..100),
            width in 0u32..=64,
        ) {
            let mut out = Vec::new();
            let mut writer = BitWriter::new(&mut out);
            for &value in &values {
                writer.write(value, width);
            }
            writer.finish();
            let mut reader = BitReader::new(&out, 0);
            let mut read = vec![0; values.len()];
            reader.read_many(width, &mut read, |v| v).unwrap();
            let expected: Vec<u64> = values.iter().map(|v| v & low_bits(width)).collect();
            prop_assert_eq!(read, expected);
            prop_assert!(reader.check_end().is_ok());
            // Only padding, fewer than 8 bits, is left: a wider value does not fit.
            if width as usize > reader.remaining_bits() {
                prop_assert!(reader.read_many(width, &mut [0], |v| v).is_err());
            }
        }
    }
}
