//! The fixed-size trailer at the end of a segment file, which locates the footer.

use std::path::Path;

use crate::error::{Error, Result};
use crate::segment::layout::{
    FORMAT_VERSION, MIN_READ_VERSION, TRAILER_FOOTER_CRC, TRAILER_FOOTER_LEN,
    TRAILER_FOOTER_OFFSET, TRAILER_LEN, TRAILER_MAGIC, TRAILER_MAGIC_AT, TRAILER_SEGMENT_ID,
    TRAILER_VERSION,
};

/// The decoded trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trailer {
    pub footer_offset: u64,
    pub footer_len: u32,
    pub footer_crc: u32,
    /// Id of the segment, as in its file name.
    pub segment_id: u64,
    pub version: u32,
}

impl Trailer {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.footer_offset.to_le_bytes());
        out.extend_from_slice(&self.footer_len.to_le_bytes());
        out.extend_from_slice(&self.footer_crc.to_le_bytes());
        out.extend_from_slice(&self.segment_id.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&TRAILER_MAGIC);
    }

    /// Decodes the trailer at the end of `file_bytes` and checks that it locates a footer that
    /// ends where the trailer starts. The footer's checksum is checked by the caller.
    pub fn decode(file: &Path, file_bytes: &[u8]) -> Result<Trailer> {
        let file_len = file_bytes.len() as u64;
        let start = file_bytes.len().checked_sub(TRAILER_LEN).ok_or_else(|| {
            Error::corruption(
                file,
                0,
                format!(
                    "the file has {file_len} bytes, fewer than the {TRAILER_LEN}-byte segment \
                     trailer: the segment was truncated"
                ),
            )
        })?;
        let trailer = file_bytes.get(start..).unwrap_or_default();
        let at = |field: usize| (start + field) as u64;

        let magic = field_bytes::<8>(trailer, TRAILER_MAGIC_AT);
        if magic != TRAILER_MAGIC {
            return Err(Error::corruption(
                file,
                at(TRAILER_MAGIC_AT),
                format!(
                    "the trailer magic is {magic:02x?}, expected {TRAILER_MAGIC:02x?}: \
                     the file is not a segment or its end was cut off"
                ),
            ));
        }
        let decoded = Trailer {
            footer_offset: u64::from_le_bytes(field_bytes(trailer, TRAILER_FOOTER_OFFSET)),
            footer_len: u32::from_le_bytes(field_bytes(trailer, TRAILER_FOOTER_LEN)),
            footer_crc: u32::from_le_bytes(field_bytes(trailer, TRAILER_FOOTER_CRC)),
            segment_id: u64::from_le_bytes(field_bytes(trailer, TRAILER_SEGMENT_ID)),
            version: u32::from_le_bytes(field_bytes(trailer, TRAILER_VERSION)),
        };
        let footer_end = decoded
            .footer_offset
            .checked_add(u64::from(decoded.footer_len));
        if footer_end != Some(start as u64) {
            return Err(Error::corruption(
                file,
                at(TRAILER_FOOTER_OFFSET),
                format!(
                    "the trailer places the footer at offset {} with {} bytes, which does not \
                     end at the trailer (offset {start})",
                    decoded.footer_offset, decoded.footer_len
                ),
            ));
        }
        Ok(decoded)
    }

    pub fn is_supported(&self) -> bool {
        (MIN_READ_VERSION..=FORMAT_VERSION).contains(&self.version)
    }

    /// Checks that the trailer records segment `expected_id`, the id in the file's name. A
    /// mismatch means that the file contains the bytes of another segment, for example after a
    /// wrong copy or restore, or that the id field is damaged.
    pub fn check_segment_id(&self, file: &Path, expected_id: u64) -> Result<()> {
        if self.segment_id == expected_id {
            return Ok(());
        }
        let trailer_start = self
            .footer_offset
            .saturating_add(u64::from(self.footer_len));
        let reason = format!(
            "the trailer at offset {trailer_start} records segment id {}, but the file name is \
             for segment id {expected_id}: the file contains another segment's bytes or its \
             trailer is damaged. Restore the file of segment {expected_id} from a backup",
            self.segment_id
        );
        let offset = trailer_start.saturating_add(TRAILER_SEGMENT_ID as u64);
        Err(Error::corruption(file, offset, reason))
    }
}

/// Returns `N` bytes of `bytes` at `at`, or zeros where `bytes` is shorter. Callers pass a
/// slice of `TRAILER_LEN` bytes and offsets that fit in it.
fn field_bytes<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut field = [0u8; N];
    if let Some(source) = bytes.get(at..at + N) {
        field.copy_from_slice(source);
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes before the trailer in `sample_file`, so the trailer starts at this offset.
    const SAMPLE_TRAILER_START: usize = 10;

    fn sample_trailer() -> Trailer {
        Trailer {
            footer_offset: 4,
            footer_len: 6,
            footer_crc: 0x1234_5678,
            segment_id: 42,
            version: FORMAT_VERSION,
        }
    }

    fn sample_file() -> Vec<u8> {
        let mut file = vec![0xAB; SAMPLE_TRAILER_START];
        sample_trailer().encode(&mut file);
        file
    }

    #[test]
    fn trailer_round_trips() {
        let file = sample_file();
        let trailer = Trailer::decode(Path::new("x.seg"), &file).unwrap();
        assert_eq!(trailer.footer_offset, 4);
        assert_eq!(trailer.footer_len, 6);
        assert_eq!(trailer.footer_crc, 0x1234_5678);
        assert_eq!(trailer.segment_id, 42);
        assert_eq!(trailer.version, FORMAT_VERSION);
    }

    #[test]
    fn encoded_trailer_has_documented_size() {
        let mut out = Vec::new();
        sample_trailer().encode(&mut out);
        assert_eq!(out.len(), TRAILER_LEN);
    }

    #[test]
    fn segment_id_sits_at_its_offset() {
        let mut out = Vec::new();
        sample_trailer().encode(&mut out);
        let field = &out[TRAILER_SEGMENT_ID..TRAILER_SEGMENT_ID + 8];
        assert_eq!(field, 42u64.to_le_bytes());
    }

    #[test]
    fn short_file_is_corruption() {
        let error = Trailer::decode(Path::new("x.seg"), &[0u8; 5]).unwrap_err();
        assert!(matches!(error, Error::Corruption { offset: 0, .. }));
    }

    #[test]
    fn footer_not_ending_at_trailer_is_corruption() {
        let mut file = sample_file();
        // Footer offset 3, so the footer ends one byte before the trailer.
        file[SAMPLE_TRAILER_START + TRAILER_FOOTER_OFFSET] = 3;
        let error = Trailer::decode(Path::new("x.seg"), &file).unwrap_err();
        let expected = (SAMPLE_TRAILER_START + TRAILER_FOOTER_OFFSET) as u64;
        assert!(matches!(error, Error::Corruption { offset, .. } if offset == expected));
    }

    #[test]
    fn wrong_magic_is_corruption() {
        let mut file = sample_file();
        let last = file.len() - 1;
        file[last] ^= 1;
        let error = Trailer::decode(Path::new("x.seg"), &file).unwrap_err();
        let expected = (SAMPLE_TRAILER_START + TRAILER_MAGIC_AT) as u64;
        assert!(matches!(error, Error::Corruption { offset, .. } if offset == expected));
    }

    #[test]
    fn matching_segment_id_passes() {
        let trailer = sample_trailer();
        assert!(trailer.check_segment_id(Path::new("x.seg"), 42).is_ok());
    }

    #[test]
    fn other_segment_id_is_corruption() {
        let error = sample_trailer()
            .check_segment_id(Path::new("x.seg"), 7)
            .unwrap_err();
        let Error::Corruption {
            file,
            offset,
            reason,
        } = error
        else {
            panic!("expected corruption, got {error:?}");
        };
        assert_eq!(file, Path::new("x.seg"));
        assert_eq!(offset, (SAMPLE_TRAILER_START + TRAILER_SEGMENT_ID) as u64);
        assert!(reason.contains("segment id 42"), "{reason}");
        assert!(reason.contains("segment id 7"), "{reason}");
        assert!(
            reason.contains(&format!("offset {SAMPLE_TRAILER_START}")),
            "{reason}"
        );
    }
}
