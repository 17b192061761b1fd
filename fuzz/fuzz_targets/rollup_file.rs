//! Writes the input as rollup file 1 and reads it with `RollupFile::open`, `all` and `read`.
//! Then wraps the input, as the uncompressed body of one rollup, in a rollup file with valid
//! header, directory, trailer and checksums, so that every input reaches the body decoder.
//!
//! Every call must return `Ok` or `Err`: a panic is a crash of the target. Rollups and
//! rolled-up filters that decode must also survive a write and a second read with the same
//! counts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::rollup::Rollup;
use modelmetrics::rollup::file::{
    ENTRY_LEN, FORMAT_VERSION, HEADER_LEN, HEADER_MAGIC, MAX_BODY_LEN, TRAILER_MAGIC,
};
use modelmetrics::rollup::{RolledUpFilter, RollupFile, rollup_file_name};
use modelmetrics_fuzz::scratch;

/// Id of the file, in its file name.
const FILE_ID: u64 = 1;
/// Id of the file that the decoded rollups are written back to.
const REWRITE_ID: u64 = 2;

/// Opens the scratch file and reads it whole and by window.
fn read_file(bytes: &[u8]) {
    let dir = scratch::write_file(&rollup_file_name(FILE_ID), bytes);
    let Ok(file) = RollupFile::open(dir, FILE_ID) else {
        return;
    };
    let Ok(rollups) = file.all() else {
        return;
    };
    let filters = match file.filters() {
        Ok(filters) => filters.to_vec(),
        Err(_) => Vec::new(),
    };
    assert_eq!(rollups.len(), file.rollup_count());
    for rollup in rollups.iter().take(4) {
        let window = file.read(&rollup.model, rollup.start_ms, rollup.end_ms());
        let window = window.expect("read fails on a window whose rollup all() decoded");
        assert!(window.iter().all(|r| r.model == rollup.model));
        assert!(window.iter().all(|r| r.start_ms < rollup.end_ms()));
    }
    rewrite(dir, &rollups, &filters);
}

/// Writes decoded rollups to a second file and checks that they read back with their counts.
fn rewrite(dir: &std::path::Path, rollups: &[Rollup], filters: &[RolledUpFilter]) {
    let Ok(file) = RollupFile::write(dir, REWRITE_ID, rollups, filters) else {
        return;
    };
    let again = file.filters().expect("written filters fail to read");
    assert_eq!(again.as_slice(), filters);
    let again = file.all().expect("a written rollup file fails to read");
    assert_eq!(again.len(), rollups.len());
    for (first, second) in rollups.iter().zip(&again) {
        assert_eq!(first.predictions, second.predictions);
        assert_eq!(first.metrics.len(), second.metrics.len());
        assert_eq!(first.joined.len(), second.joined.len());
    }
}

/// Builds a rollup file with one rollup of model "m" whose uncompressed body is `body`.
fn wrap_body(body: &[u8]) -> Option<Vec<u8>> {
    if body.len() > MAX_BODY_LEN {
        return None;
    }
    let body_len = u32::try_from(body.len()).ok()?;
    let mut file = Vec::with_capacity(body.len() + 128);
    file.extend_from_slice(&HEADER_MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&FILE_ID.to_le_bytes());
    let header_end = file.len();
    file.extend_from_slice(body);

    let mut directory = vec![1, 1, b'm', 1];
    directory.extend_from_slice(&0u32.to_le_bytes());
    directory.extend_from_slice(&60_000i64.to_le_bytes());
    directory.extend_from_slice(&0i64.to_le_bytes());
    directory.extend_from_slice(&(HEADER_LEN as u64).to_le_bytes());
    directory.extend_from_slice(&body_len.to_le_bytes());
    directory.extend_from_slice(&body_len.to_le_bytes());
    directory.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    directory.push(0); // no filters
    debug_assert_eq!(directory.len(), 5 + ENTRY_LEN);
    let directory_offset = file.len() as u64;
    file.extend_from_slice(&directory);

    let trailer_start = file.len();
    file.extend_from_slice(&directory_offset.to_le_bytes());
    file.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&directory).to_le_bytes());
    file.extend_from_slice(&TRAILER_MAGIC);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(file.get(..header_end)?);
    hasher.update(file.get(trailer_start..)?);
    file.extend_from_slice(&hasher.finalize().to_le_bytes());
    Some(file)
}

fuzz_target!(|data: &[u8]| {
    read_file(data);
    if let Some(wrapped) = wrap_body(data) {
        read_file(&wrapped);
    }
});
