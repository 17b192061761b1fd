//! Feeds `codec::floats::decode` a row count from the first three bytes of the input and the
//! rest as the encoding, and checks the codec contract (see `modelmetrics_fuzz::codec_check`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::codec::floats;
use modelmetrics_fuzz::codec_check::{self, Codec};
use modelmetrics_fuzz::split_row_count;

const CODEC: Codec<f64> = Codec {
    decode: floats::decode,
    encode: floats::encode,
    sentinel: f64::NAN,
    same: same_bits,
};

/// Compares bit patterns, so that NaN payloads and the sign of zero count.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fuzz_target!(|data: &[u8]| {
    if let Some((n, encoding)) = split_row_count(data) {
        codec_check::check(&CODEC, encoding, n);
    }
});
