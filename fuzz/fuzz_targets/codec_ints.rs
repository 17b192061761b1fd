//! Feeds `codec::ints::decode` a row count from the first three bytes of the input and the
//! rest as the encoding, and checks the codec contract (see `modelmetrics_fuzz::codec_check`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::codec::ints;
use modelmetrics_fuzz::codec_check::{self, Codec};
use modelmetrics_fuzz::split_row_count;

const CODEC: Codec<i64> = Codec {
    decode: ints::decode,
    encode: ints::encode,
    sentinel: i64::MIN,
    same: codec_check::same_values,
};

fuzz_target!(|data: &[u8]| {
    if let Some((n, encoding)) = split_row_count(data) {
        codec_check::check(&CODEC, encoding, n);
    }
});
