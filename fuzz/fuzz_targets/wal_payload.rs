//! Feeds the input to `wal::decode_records` as the payload of one write-ahead log frame. A
//! payload that decodes must encode back to one that decodes to the same records.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::wal::{decode_records, encode_records};

fuzz_target!(|data: &[u8]| {
    let Ok(records) = decode_records(data) else {
        return;
    };
    let mut encoded = Vec::new();
    encode_records(&records, &mut encoded);
    match decode_records(&encoded) {
        Ok(again) => assert_eq!(again, records, "re-encoded records decode to other records"),
        Err(reason) => panic!("re-encoded records fail to decode: {reason}"),
    }
});
