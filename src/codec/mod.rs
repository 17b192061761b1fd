//! Encoders and decoders for the columns of a segment.
//!
//! Every column codec has the same contract. `encode` appends to `out`. `decode` takes exactly
//! the bytes that `encode` wrote plus the row count `n`, which the segment stores in its block
//! header, and appends exactly `n` values to `out`. On bad input, `decode` returns a
//! [`DecodeError`] and leaves `out` as it was. It does not panic, its loops are bounded by `n`
//! and the input length, and so are its allocations (for blobs, by `max_total` too). Callers
//! bound `n` themselves (a segment block holds at most 65,536 rows). The tests of each codec
//! feed it every prefix of valid encodings, corrupted encodings and random bytes.
//!
//! Primitives shared by the codecs, all little-endian:
//!
//! | primitive | bytes | meaning |
//! |---|---|---|
//! | `u32_le`, `u64_le`, `i64_le` | 4, 8, 8 | fixed-width little-endian integer |
//! | varint | 1 to 10 | unsigned LEB128: 7 bits per byte, low group first, high bit set on every byte but the last. Decoders reject overlong forms (a last byte of zero after the first) and values above `u64::MAX` |
//! | zigzag varint | 1 to 10 | a signed value mapped to unsigned as `(v << 1) ^ (v >> 63)` so that small magnitudes stay short, then written as a varint |
//! | len-prefixed | varint + len | a varint byte count followed by that many bytes |
//! | bit stream | `ceil(bits / 8)` | values packed LSB first: bit `i` of the stream is bit `i % 8` of byte `i / 8`, and each value is written low bit first. Padding bits of the last byte are zero |
//!
//! [`compress_zstd`] and [`decompress_zstd`] wrap a whole encoded block in one zstd frame.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod bits;
#[cfg(test)]
mod oracle;

pub mod bitmap;
pub mod blobs;
pub mod bools;
pub mod floats;
pub mod ints;
pub mod strings;
pub mod timestamps;

use std::fmt;
use std::path::Path;

use crate::error::Error;

/// Maximum length of a varint, in bytes: 64 bits in groups of 7.
pub const MAX_VARINT_LEN: usize = 10;

/// A decoder's report that its input is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset within the decoder's input slice where the problem was found.
    pub offset: usize,
    /// Description of the problem.
    pub reason: String,
}

impl DecodeError {
    pub fn new(offset: usize, reason: impl Into<String>) -> Self {
        DecodeError {
            offset,
            reason: reason.into(),
        }
    }

    /// Moves the offset by `base`, for an error from a decoder that was given a sub-slice.
    pub fn shifted(self, base: usize) -> Self {
        DecodeError {
            offset: self.offset.saturating_add(base),
            reason: self.reason,
        }
    }

    /// Converts the error into a corruption error of `file`, whose decoder input started at
    /// byte `input_offset` of the file.
    pub fn into_corruption(self, file: &Path, input_offset: u64) -> Error {
        let offset = input_offset.saturating_add(self.offset as u64);
        Error::corruption(file, offset, self.reason)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid encoding at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

pub type DecodeResult<T> = std::result::Result<T, DecodeError>;

/// Bounds-checked cursor over a byte slice.
///
/// Every read either returns the value and advances, or returns an error at the current
/// position and leaves the cursor where it was.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    /// Returns the offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.position
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.position)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Builds an error at the current position.
    pub fn error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.position, reason)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    pub fn u32_le(&mut self) -> DecodeResult<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64_le(&mut self) -> DecodeResult<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub fn i64_le(&mut self) -> DecodeResult<i64> {
        self.array().map(i64::from_le_bytes)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes in its shortest form.
    pub fn varint(&mut self) -> DecodeResult<u64> {
        let start = self.position;
        let mut value = 0u64;
        for index in 0..MAX_VARINT_LEN {
            let Ok(byte) = self.u8() else {
                self.position = start;
                return Err(self.error("varint is cut short by the end of the input"));
            };
            let group = u64::from(byte & 0x7f);
            let shift = 7 * index as u32;
            if index == MAX_VARINT_LEN - 1 && byte > 1 {
                self.position = start;
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 {
                    self.position = start;
                    return Err(self.error("varint has a redundant zero byte (overlong form)"));
                }
                return Ok(value);
            }
        }
        self.position = start;
        Err(self.error("varint is longer than 10 bytes"))
    }

    /// Reads a zigzag varint.
    pub fn varint_i64(&mut self) -> DecodeResult<i64> {
        self.varint().map(unzigzag)
    }

    /// Reads a varint and converts it to `usize`, failing when it exceeds `max`.
    pub fn varint_usize(&mut self, max: usize, field: &str) -> DecodeResult<usize> {
        let start = self.position;
        let value = self.varint()?;
        match usize::try_from(value) {
            Ok(value) if value <= max => Ok(value),
            _ => {
                self.position = start;
                Err(self.error(format!("{field} {value} exceeds the maximum of {max}")))
            }
        }
    }

    /// Takes the next `len` bytes.
    pub fn bytes(&mut self, len: usize) -> DecodeResult<&'a [u8]> {
        let end = self.position.checked_add(len);
        match end.and_then(|end| self.bytes.get(self.position..end)) {
            Some(slice) => {
                self.position += len;
                Ok(slice)
            }
            None => Err(self.error(format!(
                "needs {len} bytes but only {} remain",
                self.remaining()
            ))),
        }
    }

    /// Takes every remaining byte.
    pub fn rest(&mut self) -> &'a [u8] {
        let slice = self.bytes.get(self.position..).unwrap_or_default();
        self.position = self.bytes.len();
        slice
    }

    /// Reads a varint length, then that many bytes.
    pub fn len_prefixed(&mut self) -> DecodeResult<&'a [u8]> {
        let start = self.position;
        let len = self.varint_usize(self.remaining(), "length prefix")?;
        self.bytes(len).inspect_err(|_| self.position = start)
    }

    /// Reads a varint length, then that many bytes of UTF-8.
    pub fn str_len_prefixed(&mut self) -> DecodeResult<&'a str> {
        let start = self.position;
        let bytes = self.len_prefixed()?;
        std::str::from_utf8(bytes).map_err(|error| {
            self.position = start;
            self.error(format!("string is not valid UTF-8: {error}"))
        })
    }

    /// Fails unless every byte was read, so that trailing garbage counts as corruption.
    pub fn check_end(&self) -> DecodeResult<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(self.error(format!("{extra} unexpected bytes after the encoding"))),
        }
    }

    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let slice = self.bytes(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }
}

/// Maps a signed value to unsigned so that small magnitudes get small codes.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverts [`zigzag`].
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Returns the number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a zigzag varint.
pub fn put_varint_i64(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

pub fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reserves room for `n` more values, failing instead of aborting when `n` is absurd.
pub(crate) fn try_reserve<T>(out: &mut Vec<T>, n: usize, offset: usize) -> DecodeResult<()> {
    out.try_reserve(n)
        .map_err(|error| DecodeError::new(offset, format!("cannot allocate {n} values: {error}")))
}

/// Runs `decode_values`, and on failure truncates `out` back to its length before the call.
pub(crate) fn decode_atomically<T>(
    out: &mut Vec<T>,
    decode_values: impl FnOnce(&mut Vec<T>) -> DecodeResult<()>,
) -> DecodeResult<()> {
    let start = out.len();
    let result = decode_values(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Fails when a decoder produced a number of values other than the row count.
pub(crate) fn check_count(produced: usize, n: usize, offset: usize) -> DecodeResult<()> {
    if produced == n {
        Ok(())
    } else {
        Err(DecodeError::new(
            offset,
            format!("decoded {produced} values but the block has {n} rows"),
        ))
    }
}

/// zstd's magic number, the first four bytes of every frame.
///
/// This constant and the three below come from the Zstandard compression format (RFC 8878).
const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Frame header descriptor of a single-segment frame with an 8-byte content size.
const ZSTD_SINGLE_SEGMENT_FCS8: u8 = 0b1110_0000;
/// Maximum content of one zstd block, in bytes, compressed or decompressed.
const ZSTD_MAX_BLOCK: usize = 128 * 1024;
/// Smallest zstd block that can produce output: a 3-byte header plus one RLE byte.
const ZSTD_MIN_PRODUCTIVE_BLOCK: usize = 4;

/// Compresses `bytes` into one zstd frame that records its content size.
///
/// `level` is clamped to the range the linked zstd accepts. If zstd itself fails, the result is
/// a valid frame of uncompressed blocks, so the output always decodes with [`decompress_zstd`].
pub fn compress_zstd(bytes: &[u8], level: i32) -> Vec<u8> {
    let range = zstd::compression_level_range();
    let level = level.clamp(*range.start(), *range.end());
    match zstd::bulk::compress(bytes, level) {
        Ok(frame) => frame,
        Err(error) => {
            log::warn!("zstd compression failed ({error}), storing the block uncompressed");
            raw_zstd_frame(bytes)
        }
    }
}

/// Decompresses zstd frames, failing when the output would exceed `max_len` bytes.
///
/// Decompresses as a stream and stops past `max_len` bytes, or past what the input could
/// expand to, so the memory used follows the output, never a size the frame declares.
pub fn decompress_zstd(bytes: &[u8], max_len: usize) -> DecodeResult<Vec<u8>> {
    use std::io::Read;

    if bytes.is_empty() {
        return Err(DecodeError::new(
            0,
            "zstd frame is missing: the input is empty",
        ));
    }
    let failed = |error: std::io::Error| {
        DecodeError::new(
            0,
            format!(
                "zstd frame of {} bytes does not decompress within {max_len} bytes: {error}",
                bytes.len()
            ),
        )
    };
    let limit = max_len.min(max_zstd_output(bytes.len()));
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(bytes)
        && let Ok(declared) = usize::try_from(declared)
        && declared <= limit.min(ZSTD_ONE_CALL_MAX)
    {
        return decompress_declared(bytes, declared);
    }
    // Streaming keeps memory in step with the output actually produced: a damaged frame that
    // declares a huge size, or none, cannot make this allocate more than it decodes.
    let mut decoder = zstd::stream::read::Decoder::with_buffer(bytes)
        .map_err(failed)?
        .single_frame();
    let mut out = Vec::with_capacity(limit.min(bytes.len().saturating_mul(4)));
    (&mut decoder)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(failed)?;
    if out.len() > limit {
        return Err(DecodeError::new(
            0,
            format!(
                "zstd frame of {} bytes decompresses to more than {limit} bytes",
                bytes.len()
            ),
        ));
    }
    // The one-call path rejects bytes after the frame; so does this one.
    let trailing = decoder.finish().len();
    if trailing > 0 {
        return Err(DecodeError::new(
            bytes.len() - trailing,
            format!(
                "zstd frame of {} bytes is followed by {trailing} more bytes",
                bytes.len() - trailing
            ),
        ));
    }
    Ok(out)
}

/// Frames that declare at most this many bytes decompress in one call into a buffer of the
/// declared size. Larger frames stream, so a damaged header cannot request a large buffer.
const ZSTD_ONE_CALL_MAX: usize = 1 << 20;

thread_local! {
    /// The decompression context of this thread, reused by every call so that each chunk does
    /// not set up zstd's tables and buffers anew.
    static ZSTD_DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// Decompresses `bytes` in one call into a buffer of `declared` bytes, the size its frame
/// header records. zstd checks the output against that size, so a frame that produces more or
/// fewer bytes fails, as do bytes after the frame.
fn decompress_declared(bytes: &[u8], declared: usize) -> DecodeResult<Vec<u8>> {
    let mut out = Vec::with_capacity(declared);
    let result = ZSTD_DCTX.with(|dctx| dctx.borrow_mut().decompress(&mut out, bytes));
    match result {
        Ok(_) => Ok(out),
        Err(code) => Err(DecodeError::new(
            0,
            format!(
                "zstd frame of {} bytes does not decompress to the {declared} bytes it \
                 declares: {}",
                bytes.len(),
                zstd::zstd_safe::get_error_name(code)
            ),
        )),
    }
}

/// Returns the maximum size that zstd frames of `compressed_len` bytes decompress to.
///
/// Each block produces at most 128 KiB and occupies at least 4 bytes.
fn max_zstd_output(compressed_len: usize) -> usize {
    (compressed_len / ZSTD_MIN_PRODUCTIVE_BLOCK).saturating_mul(ZSTD_MAX_BLOCK)
}

/// Builds a zstd frame of raw (uncompressed) blocks.
fn raw_zstd_frame(bytes: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(bytes.len() + 16 + 3 * (bytes.len() / ZSTD_MAX_BLOCK));
    frame.extend_from_slice(&ZSTD_MAGIC.to_le_bytes());
    frame.push(ZSTD_SINGLE_SEGMENT_FCS8);
    frame.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    let mut chunks = bytes.chunks(ZSTD_MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        frame.extend_from_slice(&raw_block_header(0, true));
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        frame.extend_from_slice(&raw_block_header(chunk.len(), last));
        frame.extend_from_slice(chunk);
    }
    frame
}

/// Returns a 3-byte block header: bit 0 last block, bits 1-2 type (0 = raw), bits 3-23 size.
fn raw_block_header(len: usize, last: bool) -> [u8; 3] {
    let header = ((len as u32) << 3) | u32::from(last);
    let [b0, b1, b2, _] = header.to_le_bytes();
    [b0, b1, b2]
}

/// Checks shared by the tests of every codec.
#[cfg(test)]
pub(crate) mod testing {
    use super::DecodeResult;

    /// Asserts that every strict prefix of a valid encoding fails and leaves `out` empty.
    pub fn assert_prefixes_rejected<T>(
        encoded: &[u8],
        mut decode: impl FnMut(&[u8], &mut Vec<T>) -> DecodeResult<()>,
    ) {
        for len in 0..encoded.len() {
            let mut out = Vec::new();
            let result = decode(&encoded[..len], &mut out);
            assert!(
                result.is_err(),
                "prefix of {len} of {} bytes decoded",
                encoded.len()
            );
            assert!(
                out.is_empty(),
                "prefix of {len} bytes left values in the output"
            );
        }
    }

    /// XORs bytes of an encoding at the given positions, taken modulo its length.
    pub fn corrupt(bytes: &mut [u8], flips: &[(usize, u8)]) {
        let len = bytes.len();
        for &(position, mask) in flips {
            if let Some(byte) = bytes.get_mut(position % len.max(1)) {
                *byte ^= mask;
            }
        }
    }

    /// Asserts that decoding arbitrary bytes returns either exactly `n` values or an error
    /// that leaves the output as it was.
    pub fn assert_garbage_handled<T>(
        bytes: &[u8],
        n: usize,
        decode: impl FnOnce(&[u8], &mut Vec<T>) -> DecodeResult<()>,
    ) {
        let mut out = Vec::new();
        match decode(bytes, &mut out) {
            Ok(()) => assert_eq!(out.len(), n, "decoded a wrong number of values"),
            Err(_) => assert!(out.is_empty(), "a failed decode left values in the output"),
        }
    }
}

#[cfg(test)]
mod zstd_frames;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint_bytes(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn varint_round_trips_boundaries() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = varint_bytes(v);
            assert_eq!(bytes.len(), varint_len(v), "length of {v}");
            let mut reader = Reader::new(&bytes);
            assert_eq!(reader.varint().unwrap(), v);
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn varint_max_takes_ten_bytes() {
        assert_eq!(varint_bytes(u64::MAX).len(), MAX_VARINT_LEN);
    }

    #[test]
    fn varint_rejects_overlong_form() {
        let mut reader = Reader::new(&[0x80, 0x00]);
        let error = reader.varint().unwrap_err();
        assert_eq!(error.offset, 0);
        assert!(error.reason.contains("overlong"), "{error}");
        assert_eq!(reader.position(), 0);
    }

    #[test]
    fn varint_rejects_overflow() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert!(Reader::new(&bytes).varint().is_err());
    }

    #[test]
    fn varint_rejects_eleven_bytes() {
        let mut bytes = vec![0x80; 10];
        bytes.push(0x01);
        assert!(Reader::new(&bytes).varint().is_err());
    }

    #[test]
    fn varint_rejects_truncation() {
        let error = Reader::new(&[0x80, 0x80]).varint().unwrap_err();
        assert_eq!(error.offset, 0);
    }

    #[test]
    fn decode_error_maps_to_file_offset() {
        let error = DecodeError::new(3, "bad tag").shifted(2);
        assert_eq!(error.offset, 5);
        let error = error.into_corruption(Path::new("segment-1"), 100);
        match error {
            Error::Corruption {
                file,
                offset,
                reason,
            } => {
                assert_eq!(file, Path::new("segment-1"));
                assert_eq!(offset, 105);
                assert_eq!(reason, "bad tag");
            }
            other => panic!("expected a corruption error, got {other}"),
        }
    }

    #[test]
    fn zigzag_maps_extremes() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(unzigzag(u64::MAX), i64::MIN);
    }

    #[test]
    fn reader_reads_fixed_widths() {
        let mut bytes = vec![7];
        bytes.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        bytes.extend_from_slice(&i64::MIN.to_le_bytes());
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8().unwrap(), 7);
        assert_eq!(reader.u32_le().unwrap(), 0xdead_beef);
        assert_eq!(reader.u64_le().unwrap(), u64::MAX);
        assert_eq!(reader.i64_le().unwrap(), i64::MIN);
        assert!(reader.check_end().is_ok());
    }

    #[test]
    fn reader_short_read_keeps_position() {
        let mut reader = Reader::new(&[1, 2, 3]);
        reader.u8().unwrap();
        let error = reader.u32_le().unwrap_err();
        assert_eq!(error.offset, 1);
        assert_eq!(reader.position(), 1);
        assert_eq!(reader.remaining(), 2);
    }

    #[test]
    fn reader_bytes_rejects_huge_length() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert!(reader.bytes(usize::MAX).is_err());
        assert_eq!(reader.bytes(3).unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn len_prefixed_round_trips() {
        let mut out = Vec::new();
        put_len_prefixed(&mut out, b"");
        put_len_prefixed(&mut out, "h\u{e9}llo".as_bytes());
        let mut reader = Reader::new(&out);
        assert_eq!(reader.len_prefixed().unwrap(), b"");
        assert_eq!(reader.str_len_prefixed().unwrap(), "h\u{e9}llo");
        assert!(reader.is_empty());
    }

    #[test]
    fn len_prefixed_rejects_length_past_end() {
        let mut reader = Reader::new(&[5, 1, 2]);
        assert!(reader.len_prefixed().is_err());
        assert_eq!(reader.position(), 0);
    }

    #[test]
    fn str_len_prefixed_rejects_invalid_utf8() {
        let mut reader = Reader::new(&[2, 0xc3, 0x28]);
        let error = reader.str_len_prefixed().unwrap_err();
        assert!(error.reason.contains("UTF-8"), "{error}");
    }

    #[test]
    fn check_end_reports_trailing_bytes() {
        let mut reader = Reader::new(&[1, 2]);
        reader.u8().unwrap();
        let error = reader.check_end().unwrap_err();
        assert_eq!(error.offset, 1);
    }

    #[test]
    fn zstd_round_trips_block() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let frame = compress_zstd(&data, 3);
        assert!(frame.len() < data.len());
        assert_eq!(decompress_zstd(&frame, data.len()).unwrap(), data);
    }

    #[test]
    fn zstd_rejects_output_over_limit() {
        let data = vec![0u8; 100_000];
        let frame = compress_zstd(&data, 3);
        assert!(decompress_zstd(&frame, data.len() - 1).is_err());
    }

    #[test]
    fn zstd_clamps_out_of_range_level() {
        let frame = compress_zstd(b"abcabcabc", 1_000);
        assert_eq!(decompress_zstd(&frame, 9).unwrap(), b"abcabcabc");
    }

    #[test]
    fn zstd_rejects_garbage_and_truncation() {
        let frame = compress_zstd(&[42u8; 5_000], 3);
        for len in 0..frame.len() {
            let prefix = frame.get(..len).unwrap();
            assert!(
                decompress_zstd(prefix, 5_000).is_err(),
                "prefix of {len} bytes"
            );
        }
        assert!(decompress_zstd(&[1, 2, 3, 4, 5, 6, 7, 8], 1 << 20).is_err());
    }

    #[test]
    fn raw_frame_decodes_with_zstd() {
        for len in [0, 1, ZSTD_MAX_BLOCK, ZSTD_MAX_BLOCK + 1, 3 * ZSTD_MAX_BLOCK] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let frame = raw_zstd_frame(&data);
            assert_eq!(decompress_zstd(&frame, len).unwrap(), data, "length {len}");
        }
    }

    #[test]
    fn max_zstd_output_bounds_rle_frame() {
        let data = vec![9u8; 4 * ZSTD_MAX_BLOCK];
        let frame = compress_zstd(&data, 19);
        assert!(max_zstd_output(frame.len()) >= data.len());
    }

    proptest! {
        #[test]
        fn varint_round_trips_any_u64(v in any::<u64>()) {
            let bytes = varint_bytes(v);
            prop_assert_eq!(bytes.len(), varint_len(v));
            prop_assert_eq!(Reader::new(&bytes).varint().unwrap(), v);
        }

        #[test]
        fn zigzag_varint_round_trips_any_i64(v in any::<i64>()) {
            let mut bytes = Vec::new();
            put_varint_i64(&mut bytes, v);
            prop_assert_eq!(Reader::new(&bytes).varint_i64().unwrap(), v);
        }

        #[test]
        fn reader_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut reader = Reader::new(&bytes);
            let _ = reader.varint();
            let _ = reader.str_len_prefixed();
            let _ = reader.i64_le();
            prop_assert!(reader.position() <= bytes.len());
        }

        #[test]
        fn zstd_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decompress_zstd(&bytes, 1 << 16);
        }
    }
}
