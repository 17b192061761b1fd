//! Feeds the input to `Manifest::decode` as the bytes of a `MANIFEST` file, then again with
//! its payload length and CRC repaired. A manifest that decodes must encode back to the input.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use modelmetrics::manifest::Manifest;
use modelmetrics_fuzz::checksums;

fn decode(bytes: &[u8]) {
    let Ok(manifest) = Manifest::decode(bytes, Path::new("MANIFEST")) else {
        return;
    };
    assert_eq!(
        manifest.encode(),
        bytes,
        "a decoded manifest encodes to other bytes"
    );
}

fuzz_target!(|data: &[u8]| {
    decode(data);
    if let Some(repaired) = checksums::manifest(data) {
        decode(&repaired);
    }
});
