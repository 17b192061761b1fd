//! Feeds `codec::blobs::decode` a row count from the first three bytes of the input and the
//! rest as the encoding, with the `max_total` bound that segment reads use, and checks the
//! codec contract (see `modelmetrics_fuzz::codec_check`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::codec::blobs;
use modelmetrics::value::MAX_BYTES_LEN;
use modelmetrics_fuzz::codec_check::{self, Codec};
use modelmetrics_fuzz::split_row_count;

/// zstd level of the re-encoding: the level only changes the size.
const LEVEL: i32 = 1;

const CODEC: Codec<Vec<u8>> = Codec {
    decode: decode_blobs,
    encode: encode_blobs,
    sentinel: Vec::new(),
    same: codec_check::same_values,
};

/// Decodes with the bound of a segment's blob column: `MAX_BYTES_LEN` per row.
fn decode_blobs(
    bytes: &[u8],
    n: usize,
    out: &mut Vec<Vec<u8>>,
) -> modelmetrics::codec::DecodeResult<()> {
    blobs::decode(bytes, n, n.saturating_mul(MAX_BYTES_LEN), out)
}

fn encode_blobs(values: &[Vec<u8>], out: &mut Vec<u8>) {
    let borrowed: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    blobs::encode(&borrowed, LEVEL, out);
}

fuzz_target!(|data: &[u8]| {
    if let Some((n, encoding)) = split_row_count(data) {
        codec_check::check(&CODEC, encoding, n);
    }
});
