//! Byte layout of a write-ahead log file: the file header and the frames after it.
//!
//! docs/format/wal.md documents the layout. The constants below name its offsets and sizes.

/// Format version written into every file header. Version 2 added the columnar batch record
/// and version 3 the columnar delayed record. An older file is the same format without the
/// newer records, so every version from 1 is read.
pub const FORMAT_VERSION: u32 = 3;
/// Oldest format version this build reads.
pub const MIN_READ_VERSION: u32 = 1;

/// Returns true when this build reads files of format `version`.
pub fn is_readable_version(version: u32) -> bool {
    (MIN_READ_VERSION..=FORMAT_VERSION).contains(&version)
}

/// First bytes of every write-ahead log file. The CR LF and 0x1A bytes make a copy that
/// translated line endings fail the magic check.
pub(crate) const MAGIC: [u8; 8] = *b"MMWAL\r\n\x1a";

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = 8;
const NUMBER_OFFSET: usize = 12;
const HEADER_CRC_OFFSET: usize = 20;
/// Size of the file header; the first frame starts here.
pub(crate) const HEADER_LEN: usize = 24;

const FRAME_LEN_OFFSET: usize = 0;
const FRAME_CRC_OFFSET: usize = 4;
/// Size of the frame header: payload length and CRC.
pub(crate) const FRAME_HEADER_LEN: usize = 8;

/// Largest payload of one frame. A longer length in a file is damage, and `append` rejects a
/// batch that encodes to more.
pub(crate) const MAX_PAYLOAD_LEN: usize = 1 << 30;

/// Header of one write-ahead log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub version: u32,
    /// File number, the same as the number in the file name.
    pub number: u64,
}

/// Reason a file header cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Magic, length or checksum is wrong: the header was never written completely, or it was
    /// damaged since.
    Damaged(String),
    /// The header is intact but names a format version this build does not read.
    Unsupported(u32),
}

/// Encodes the header of file `number`.
pub(crate) fn encode_header(number: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    put(&mut header, MAGIC_OFFSET, &MAGIC);
    put(&mut header, VERSION_OFFSET, &FORMAT_VERSION.to_le_bytes());
    put(&mut header, NUMBER_OFFSET, &number.to_le_bytes());
    let crc = crc32fast::hash(header.get(..HEADER_CRC_OFFSET).unwrap_or_default());
    put(&mut header, HEADER_CRC_OFFSET, &crc.to_le_bytes());
    header
}

/// Parses and checks the header at the start of `bytes`.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(HeaderError::Damaged(format!(
            "the file has {} bytes, fewer than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    };
    if header.get(MAGIC_OFFSET..MAGIC_OFFSET + MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(HeaderError::Damaged(
            "the magic bytes are wrong: this is not a write-ahead log file".into(),
        ));
    }
    let stored_crc = le_u32(header, HEADER_CRC_OFFSET).unwrap_or_default();
    let computed_crc = crc32fast::hash(header.get(..HEADER_CRC_OFFSET).unwrap_or_default());
    if stored_crc != computed_crc {
        return Err(HeaderError::Damaged(format!(
            "header checksum mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
        )));
    }
    let version = le_u32(header, VERSION_OFFSET).unwrap_or_default();
    if !is_readable_version(version) {
        return Err(HeaderError::Unsupported(version));
    }
    let number = le_u64(header, NUMBER_OFFSET).unwrap_or_default();
    Ok(FileHeader { version, number })
}

/// CRC of a frame: it covers the four length bytes and the payload, so a frame whose length
/// was damaged fails the check too.
pub(crate) fn frame_crc(payload_len: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&payload_len.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Encodes the frame header for `payload`.
pub(crate) fn frame_header(payload: &[u8]) -> Option<[u8; FRAME_HEADER_LEN]> {
    if payload.is_empty() || payload.len() > MAX_PAYLOAD_LEN {
        return None;
    }
    let payload_len = u32::try_from(payload.len()).ok()?;
    let mut header = [0u8; FRAME_HEADER_LEN];
    put(&mut header, FRAME_LEN_OFFSET, &payload_len.to_le_bytes());
    let crc = frame_crc(payload_len, payload);
    put(&mut header, FRAME_CRC_OFFSET, &crc.to_le_bytes());
    Some(header)
}

/// Outcome of reading the frame at one offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameStep<'a> {
    /// A frame whose checksum matches, and the offset of the byte after it.
    Frame { payload: &'a [u8], next: usize },
    /// No frame starts here: the length is zero or the file has no room for a frame header.
    End,
    /// Bytes that are not a valid frame, with the reason.
    Damaged(String),
}

/// Reads the frame that starts at `offset` of `bytes`, a whole file.
pub(crate) fn read_frame(bytes: &[u8], offset: usize) -> FrameStep<'_> {
    let payload_start = offset.saturating_add(FRAME_HEADER_LEN);
    let (Some(payload_len), Some(stored_crc)) = (
        le_u32(bytes, offset + FRAME_LEN_OFFSET),
        le_u32(bytes, offset + FRAME_CRC_OFFSET),
    ) else {
        return FrameStep::End;
    };
    if payload_len == 0 {
        return FrameStep::End;
    }
    let len = payload_len as usize;
    if len > MAX_PAYLOAD_LEN {
        return FrameStep::Damaged(format!(
            "frame length {len} is larger than the maximum of {MAX_PAYLOAD_LEN} bytes"
        ));
    }
    let Some(payload) = bytes.get(payload_start..payload_start.saturating_add(len)) else {
        return FrameStep::Damaged(format!(
            "frame length {len} runs past the end of the file at {} bytes",
            bytes.len()
        ));
    };
    let computed_crc = frame_crc(payload_len, payload);
    if computed_crc != stored_crc {
        return FrameStep::Damaged(format!(
            "frame checksum mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
        ));
    }
    FrameStep::Frame {
        payload,
        next: payload_start + len,
    }
}

/// Returns the index of the last byte that is not zero.
pub(crate) fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    const CHUNK: usize = 4096;
    const ZEROS: [u8; CHUNK] = [0; CHUNK];
    let mut end = bytes.len();
    for chunk in bytes.rchunks(CHUNK) {
        let start = end - chunk.len();
        if ZEROS.get(..chunk.len()) != Some(chunk) {
            return chunk.iter().rposition(|&b| b != 0).map(|i| start + i);
        }
        end = start;
    }
    None
}

fn put(buffer: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(target) = buffer.get_mut(offset..offset + bytes.len()) {
        target.copy_from_slice(bytes);
    }
}

fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn le_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let field = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut bytes = frame_header(payload).unwrap().to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn header_round_trips() {
        let header = parse_header(&encode_header(42)).unwrap();
        assert_eq!(header.number, 42);
        assert_eq!(header.version, FORMAT_VERSION);
    }

    #[test]
    fn header_with_flipped_bit_is_damaged() {
        for byte in 0..HEADER_LEN {
            let mut header = encode_header(7);
            header[byte] ^= 0x10;
            let result = parse_header(&header);
            assert!(
                matches!(result, Err(HeaderError::Damaged(_))),
                "byte {byte}: {result:?}"
            );
        }
    }

    #[test]
    fn header_of_zeros_is_damaged() {
        let result = parse_header(&[0u8; HEADER_LEN]);
        assert!(matches!(result, Err(HeaderError::Damaged(_))));
    }

    #[test]
    fn short_header_is_damaged() {
        let header = encode_header(1);
        let result = parse_header(&header[..HEADER_LEN - 1]);
        assert!(matches!(result, Err(HeaderError::Damaged(_))));
    }

    fn header_of_version(version: u32) -> [u8; HEADER_LEN] {
        let mut header = encode_header(3);
        header[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&version.to_le_bytes());
        let crc = crc32fast::hash(&header[..HEADER_CRC_OFFSET]);
        header[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        header
    }

    #[test]
    fn header_of_newer_version_is_unsupported() {
        let next = FORMAT_VERSION + 1;
        assert_eq!(
            parse_header(&header_of_version(next)),
            Err(HeaderError::Unsupported(next))
        );
        assert_eq!(
            parse_header(&header_of_version(0)),
            Err(HeaderError::Unsupported(0))
        );
    }

    #[test]
    fn header_of_version_one_is_read() {
        let header = parse_header(&header_of_version(1)).unwrap();
        assert_eq!(header.version, 1);
        assert_eq!(header.number, 3);
    }

    #[test]
    fn frame_reads_back_its_payload() {
        let bytes = frame(b"payload");
        let step = read_frame(&bytes, 0);
        assert_eq!(
            step,
            FrameStep::Frame {
                payload: b"payload",
                next: bytes.len()
            }
        );
    }

    #[test]
    fn zero_filled_area_is_end() {
        assert_eq!(read_frame(&[0u8; 64], 0), FrameStep::End);
        assert_eq!(read_frame(&[0u8; 64], 60), FrameStep::End);
    }

    #[test]
    fn empty_payload_has_no_frame_header() {
        assert_eq!(frame_header(b""), None);
    }

    #[test]
    fn frame_with_any_flipped_bit_is_rejected() {
        let clean = frame(b"some payload bytes");
        for byte in 0..clean.len() {
            let mut bytes = clean.clone();
            bytes[byte] ^= 0x01;
            let step = read_frame(&bytes, 0);
            assert!(
                !matches!(step, FrameStep::Frame { .. }),
                "byte {byte} flipped still reads as a frame"
            );
        }
    }

    #[test]
    fn frame_past_end_is_damaged() {
        let bytes = frame(b"twelve bytes");
        let step = read_frame(&bytes[..bytes.len() - 1], 0);
        assert!(matches!(step, FrameStep::Damaged(_)));
    }

    #[test]
    fn frame_length_over_maximum_is_damaged() {
        let mut bytes = vec![0u8; 16];
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read_frame(&bytes, 0), FrameStep::Damaged(_)));
    }

    #[test]
    fn last_nonzero_finds_last_set_byte() {
        let mut bytes = vec![0u8; 10_000];
        assert_eq!(last_nonzero(&bytes), None);
        bytes[5] = 1;
        assert_eq!(last_nonzero(&bytes), Some(5));
        bytes[9_999] = 1;
        assert_eq!(last_nonzero(&bytes), Some(9_999));
        bytes[4_096] = 1;
        assert_eq!(last_nonzero(&bytes), Some(9_999));
    }
}
