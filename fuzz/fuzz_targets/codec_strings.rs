//! Feeds `codec::strings::decode` a row count from the first three bytes of the input and the
//! rest as the encoding, and checks the codec contract (see `modelmetrics_fuzz::codec_check`).
//! `decode_dictionary` must accept exactly the inputs that `decode` accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::codec::strings;
use modelmetrics_fuzz::codec_check::{self, Codec};
use modelmetrics_fuzz::split_row_count;

const CODEC: Codec<String> = Codec {
    decode: strings::decode,
    encode: encode_strings,
    sentinel: String::new(),
    same: codec_check::same_values,
};

fn encode_strings(values: &[String], out: &mut Vec<u8>) {
    let borrowed: Vec<&str> = values.iter().map(String::as_str).collect();
    strings::encode(&borrowed, out);
}

fuzz_target!(|data: &[u8]| {
    let Some((n, encoding)) = split_row_count(data) else {
        return;
    };
    codec_check::check(&CODEC, encoding, n);
    let dictionary = strings::decode_dictionary(encoding, n);
    let mut owned = Vec::new();
    let decoded = strings::decode(encoding, n, &mut owned);
    assert_eq!(dictionary.is_ok(), decoded.is_ok());
    if let Ok(dictionary) = dictionary {
        let rows = (0..n).map(|row| dictionary.get(row));
        assert!(rows.zip(&owned).all(|(a, b)| a == Some(b.as_str())));
    }
});
