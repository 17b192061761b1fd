//! Damaged and unusual zstd input: both decoding paths of `decompress_zstd` (one call for
//! frames that declare at most `ZSTD_ONE_CALL_MAX` bytes, a stream otherwise) must agree.

use super::{ZSTD_ONE_CALL_MAX, decompress_zstd};

const MAX_LEN: usize = 8 << 20;

fn sample(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect()
}

/// Compresses `data` into a frame whose header records its content size.
fn declared_frame(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

/// Compresses `data` into a frame whose header records no content size, so it always streams.
fn undeclared_frame(data: &[u8]) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.include_contentsize(false).unwrap();
    std::io::Write::write_all(&mut encoder, data).unwrap();
    encoder.finish().unwrap()
}

fn declared_size(frame: &[u8]) -> Option<u64> {
    zstd::zstd_safe::get_frame_content_size(frame).unwrap()
}

#[test]
fn both_paths_decode_a_valid_frame() {
    for len in [0, 1, 4096, ZSTD_ONE_CALL_MAX, ZSTD_ONE_CALL_MAX + 1] {
        let data = sample(len);
        let declared = declared_frame(&data);
        assert_eq!(declared_size(&declared), Some(len as u64));
        assert_eq!(decompress_zstd(&declared, MAX_LEN).unwrap(), data);
        assert_eq!(
            decompress_zstd(&undeclared_frame(&data), MAX_LEN).unwrap(),
            data
        );
    }
}

/// Rewrites the 8-byte content size of a frame written by `super::raw_zstd_frame`.
fn with_declared_size(mut frame: Vec<u8>, declared: u64) -> Vec<u8> {
    frame[5..13].copy_from_slice(&declared.to_le_bytes());
    frame
}

#[test]
fn frame_with_misstated_size_fails() {
    for len in [100, ZSTD_ONE_CALL_MAX - 10, ZSTD_ONE_CALL_MAX + 10] {
        let frame = super::raw_zstd_frame(&sample(len));
        for declared in [len as u64 - 1, len as u64 + 1, 0] {
            let lying = with_declared_size(frame.clone(), declared);
            assert!(
                decompress_zstd(&lying, MAX_LEN).is_err(),
                "{len} bytes declared as {declared}"
            );
        }
    }
}

#[test]
fn trailing_bytes_fail_on_both_paths() {
    let data = sample(5000);
    for frame in [declared_frame(&data), undeclared_frame(&data)] {
        let mut junk = frame.clone();
        junk.extend_from_slice(&[0xAB; 7]);
        let mut twice = frame.clone();
        twice.extend_from_slice(&frame);
        for input in [junk, twice] {
            let result = decompress_zstd(&input, MAX_LEN);
            assert!(
                result.is_err(),
                "declared {:?}: {} trailing bytes decoded to {} bytes",
                declared_size(&frame),
                input.len() - frame.len(),
                result.map(|out| out.len()).unwrap_or(0)
            );
        }
    }
}

#[test]
fn thread_context_survives_failed_call() {
    let data = sample(3000);
    let good = declared_frame(&data);
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xFF;
    bad.truncate(bad.len() - 1);
    for _ in 0..3 {
        assert!(decompress_zstd(&bad, MAX_LEN).is_err());
        assert_eq!(decompress_zstd(&good, MAX_LEN).unwrap(), data);
    }
}

#[test]
fn threads_decode_their_own_frames() {
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            std::thread::spawn(move || {
                for round in 0..50 {
                    let data = sample(1000 + thread * 997 + round * 31);
                    assert_eq!(
                        decompress_zstd(&declared_frame(&data), MAX_LEN).unwrap(),
                        data
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
