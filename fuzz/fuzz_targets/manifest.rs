//! Feeds the input to `Manifest::decode` as the bytes of a `MANIFEST` file, then again with
//! its payload length and CRC repaired. A version 2 manifest that decodes must encode back to
//! the input.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use modelmetrics::manifest::Manifest;
use modelmetrics_fuzz::checksums;

fn decode(bytes: &[u8]) {
    let Ok(manifest) = Manifest::decode(bytes, Path::new("MANIFEST")) else {
        return;
    };
    // A version 1 manifest decodes and is written back as version 2.
    if bytes.get(8..12) != Some(&2u32.to_le_bytes()[..]) {
        return;
    }
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
