//! Blob column codec: opaque payloads, compressed together as one zstd frame per block.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 1 to 10 | varint | `total`: sum of the payload lengths, in bytes |
//! | then | `n` varints | varint each | length of each payload, in row order |
//! | then | to the end | zstd frame | the payloads concatenated in row order, absent when `total` is 0 |
//!
//! The frame is written by [`super::compress_zstd`] and records its content size. The decoder
//! rejects `total` above the caller's `max_total` before it decompresses anything, and it
//! requires the lengths to add up to `total`. zstd gets a buffer of exactly `total` bytes, so
//! a frame that declares or produces more fails instead of allocating.

use super::{
    DecodeError, DecodeResult, Reader, compress_zstd, decode_atomically, decompress_zstd,
    put_varint, try_reserve,
};

/// Appends the encoding of `values`, compressed at zstd `level`.
pub fn encode(values: &[&[u8]], level: i32, out: &mut Vec<u8>) {
    let total: usize = values.iter().map(|value| value.len()).sum();
    put_varint(out, total as u64);
    for value in values {
        put_varint(out, value.len() as u64);
    }
    if total > 0 {
        let joined = values.concat();
        out.extend_from_slice(&compress_zstd(&joined, level));
    }
}

/// Appends exactly `n` payloads decoded from `bytes`, which must be one whole encoding.
///
/// Fails without decompressing when the payloads add up to more than `max_total` bytes.
pub fn decode(
    bytes: &[u8],
    n: usize,
    max_total: usize,
    out: &mut Vec<Vec<u8>>,
) -> DecodeResult<()> {
    decode_atomically(out, |out| {
        let mut reader = Reader::new(bytes);
        let total = reader.varint_usize(max_total, "uncompressed size of the payloads")?;
        let lengths = read_lengths(&mut reader, n, total)?;
        let frame_offset = reader.position();
        let joined =
            read_payloads(reader.rest(), total).map_err(|error| error.shifted(frame_offset))?;
        try_reserve(out, n, frame_offset)?;
        let mut rest = joined.as_slice();
        for len in lengths {
            let (payload, tail) = rest.split_at_checked(len).unwrap_or((rest, &[]));
            out.push(payload.to_vec());
            rest = tail;
        }
        Ok(())
    })
}

/// Reads `n` payload lengths and checks that they add up to `total`.
fn read_lengths(reader: &mut Reader, n: usize, total: usize) -> DecodeResult<Vec<usize>> {
    if n > reader.remaining() {
        return Err(reader.error(format!(
            "{n} payload lengths need at least {n} bytes but only {} remain",
            reader.remaining()
        )));
    }
    let mut lengths = Vec::with_capacity(n);
    let mut sum = 0usize;
    for _ in 0..n {
        let len = reader.varint_usize(total - sum, "payload length")?;
        sum += len;
        lengths.push(len);
    }
    if sum != total {
        return Err(reader.error(format!(
            "payload lengths add up to {sum} bytes but the block declares {total}"
        )));
    }
    Ok(lengths)
}

/// Decompresses the frame into exactly `total` bytes.
fn read_payloads(frame: &[u8], total: usize) -> DecodeResult<Vec<u8>> {
    if total == 0 {
        return match frame.len() {
            0 => Ok(Vec::new()),
            extra => Err(DecodeError::new(
                0,
                format!("{extra} unexpected bytes after empty payloads"),
            )),
        };
    }
    let joined = decompress_zstd(frame, total)?;
    if joined.len() != total {
        return Err(DecodeError::new(
            0,
            format!(
                "zstd frame holds {} bytes but the block declares {total}",
                joined.len()
            ),
        ));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;

    const LIMIT: usize = 1 << 24;

    fn encoded(values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, 3, &mut out);
        out
    }

    fn round_trip(values: &[&[u8]]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = vec![b"kept".to_vec()];
        decode(&bytes, values.len(), LIMIT, &mut decoded).unwrap();
        assert_eq!(decoded[0], b"kept");
        assert_eq!(decoded.len(), values.len() + 1);
        for (row, (got, want)) in decoded[1..].iter().zip(values).enumerate() {
            assert_eq!(got.as_slice(), *want, "row {row}");
        }
        bytes
    }

    fn json_requests(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"age":{},"income":{},"city":"Paris"}}"#,
                    20 + i % 50,
                    i * 7
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn empty_block_is_one_byte() {
        assert_eq!(round_trip(&[]), vec![0]);
    }

    #[test]
    fn empty_payloads_have_no_frame() {
        assert_eq!(round_trip(&[b"", b""]), vec![0, 0, 0]);
    }

    #[test]
    fn similar_payloads_compress() {
        let owned = json_requests(500);
        let values: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let raw: usize = owned.iter().map(Vec::len).sum();
        let bytes = round_trip(&values);
        assert!(bytes.len() < raw / 3, "{} of {raw} bytes", bytes.len());
    }

    #[test]
    fn large_and_binary_payloads_round_trip() {
        let large: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        round_trip(&[&large, b"", &[0, 255, 0], &large[..17]]);
    }

    #[test]
    fn total_over_limit_is_rejected() {
        let bytes = encoded(&[&[7u8; 1000]]);
        let error = decode(&bytes, 1, 999, &mut Vec::new()).unwrap_err();
        assert_eq!(error.offset, 0);
        assert!(decode(&bytes, 1, 1000, &mut Vec::new()).is_ok());
    }

    #[test]
    fn understated_total_is_rejected() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 10);
        put_varint(&mut bytes, 10);
        bytes.extend_from_slice(&compress_zstd(&[1u8; 100_000], 3));
        assert!(decode(&bytes, 1, LIMIT, &mut Vec::new()).is_err());
    }

    #[test]
    fn lengths_not_matching_total_are_rejected() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 4);
        put_varint(&mut bytes, 1);
        put_varint(&mut bytes, 2);
        bytes.extend_from_slice(&compress_zstd(b"abcd", 3));
        assert!(decode(&bytes, 2, LIMIT, &mut Vec::new()).is_err());
    }

    #[test]
    fn trailing_bytes_after_empty_payloads_are_rejected() {
        assert!(decode(&[0, 0, 9], 1, LIMIT, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        let owned = json_requests(5);
        let values: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let bytes = encoded(&values);
        assert_prefixes_rejected(&bytes, |prefix, out| {
            decode(prefix, values.len(), LIMIT, out)
        });
    }

    proptest! {
        #[test]
        fn any_payloads_round_trip(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
        ) {
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            round_trip(&values);
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            n in 0usize..20,
        ) {
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, LIMIT, out));
        }

        #[test]
        fn corrupted_block_never_panics(
            values in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..20), 0..30),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values.iter().map(Vec::as_slice).collect::<Vec<_>>());
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), LIMIT, out));
        }
    }
}
