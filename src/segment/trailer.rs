//! The fixed-size trailer at the end of a segment file, which locates the footer.

use std::path::Path;

use crate::error::{Error, Result};
use crate::segment::layout::{
    FORMAT_VERSION, TRAILER_FOOTER_CRC, TRAILER_FOOTER_LEN, TRAILER_FOOTER_OFFSET, TRAILER_LEN,
    TRAILER_MAGIC, TRAILER_MAGIC_AT, TRAILER_VERSION,
};

/// The decoded trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trailer {
    pub footer_offset: u64,
    pub footer_len: u32,
    pub footer_crc: u32,
    pub version: u32,
}

impl Trailer {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.footer_offset.to_le_bytes());
        out.extend_from_slice(&self.footer_len.to_le_bytes());
        out.extend_from_slice(&self.footer_crc.to_le_bytes());
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
        self.version == FORMAT_VERSION
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

    fn sample_file() -> Vec<u8> {
        let mut file = vec![0xAB; 10];
        let trailer = Trailer {
            footer_offset: 4,
            footer_len: 6,
            footer_crc: 0x1234_5678,
            version: FORMAT_VERSION,
        };
        trailer.encode(&mut file);
        file
    }

    #[test]
    fn trailer_round_trips() {
        let file = sample_file();
        let trailer = Trailer::decode(Path::new("x.seg"), &file).unwrap();
        assert_eq!(trailer.footer_offset, 4);
        assert_eq!(trailer.footer_len, 6);
        assert_eq!(trailer.footer_crc, 0x1234_5678);
        assert_eq!(trailer.version, FORMAT_VERSION);
    }

    #[test]
    fn encoded_trailer_has_documented_size() {
        let mut out = Vec::new();
        Trailer {
            footer_offset: 0,
            footer_len: 0,
            footer_crc: 0,
            version: 1,
        }
        .encode(&mut out);
        assert_eq!(out.len(), TRAILER_LEN);
    }

    #[test]
    fn short_file_is_corruption() {
        let error = Trailer::decode(Path::new("x.seg"), &[0u8; 5]).unwrap_err();
        assert!(matches!(error, Error::Corruption { offset: 0, .. }));
    }

    #[test]
    fn footer_not_ending_at_trailer_is_corruption() {
        let mut file = sample_file();
        file[10] = 3; // footer_offset 3, so the footer ends one byte early
        let error = Trailer::decode(Path::new("x.seg"), &file).unwrap_err();
        assert!(matches!(error, Error::Corruption { offset: 10, .. }));
    }

    #[test]
    fn wrong_magic_is_corruption() {
        let mut file = sample_file();
        let last = file.len() - 1;
        file[last] ^= 1;
        let error = Trailer::decode(Path::new("x.seg"), &file).unwrap_err();
        assert!(matches!(error, Error::Corruption { offset: 30, .. }));
    }
}
