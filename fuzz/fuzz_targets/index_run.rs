//! Writes the input as index run 1 and opens it with `IndexRun::open`, then runs `verify`,
//! iterates over the entries and looks up a few UUIDs. Then again with the page, segment
//! table, fence, bloom filter, footer and header CRCs repaired.
//!
//! There are no segments: the UUID of each entry comes from `LocationUuids`, which derives it
//! from the entry's segment, kind and row. The seeds were written with the same UUIDs.
//!
//! Every call must return `Ok` or `Err`: a panic is a crash of the target. For a run that
//! `verify` accepts, the iteration must succeed in sorted order with the entry count of the
//! header, and a lookup must return exactly the entries of its UUID that the iteration found.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelmetrics::Uuid;
use modelmetrics::index::{IndexEntry, IndexRun, index_file_name};
use modelmetrics_fuzz::location_uuids::LocationUuids;
use modelmetrics_fuzz::{checksums, scratch};

/// Id of the run, in its file name and in the header of the seeds.
const RUN_ID: u64 = 1;
/// UUIDs of the iterated entries that each input looks up.
const MAX_LOOKUPS: usize = 8;

/// Iterates over the entries of `run`, up to the first error.
fn iterate(run: &IndexRun, verified: bool) -> Vec<IndexEntry> {
    let mut entries = Vec::new();
    for entry in run.iter(&LocationUuids) {
        match entry {
            Ok(entry) => entries.push(entry),
            Err(error) if verified => panic!("iteration of a verified run failed: {error}"),
            Err(_) => break,
        }
    }
    if verified {
        assert_eq!(
            entries.len() as u64,
            run.info().entries,
            "entry count differs"
        );
        assert!(
            entries.is_sorted(),
            "iteration returned entries out of order"
        );
    }
    entries
}

/// Up to `MAX_LOOKUPS` UUIDs spread over the entries, then two that bound the key space.
fn probe_uuids(entries: &[IndexEntry]) -> Vec<Uuid> {
    let step = entries.len().div_ceil(MAX_LOOKUPS).max(1);
    let mut uuids: Vec<Uuid> = entries.iter().step_by(step).map(|e| e.uuid).collect();
    uuids.extend(entries.last().map(|e| e.uuid));
    uuids.extend([Uuid::nil(), Uuid::max()]);
    uuids
}

/// Looks up `uuid`, and for a verified run compares the result with the iterated entries.
fn lookup(run: &IndexRun, verified: bool, entries: &[IndexEntry], uuid: Uuid) {
    let mut found = Vec::new();
    let result = run.lookup(&uuid, &LocationUuids, &mut found);
    if !verified {
        return;
    }
    if let Err(error) = result {
        panic!("lookup in a verified run failed: {error}");
    }
    let expected: Vec<IndexEntry> = entries.iter().filter(|e| e.uuid == uuid).copied().collect();
    assert_eq!(found, expected, "lookup disagrees with the iteration");
    if !expected.is_empty() {
        assert!(
            run.may_contain(&uuid),
            "the bloom filter misses a stored UUID"
        );
    }
}

fn read(bytes: &[u8]) {
    let dir = scratch::write_file(&index_file_name(RUN_ID), bytes);
    let Ok(run) = IndexRun::open(dir, RUN_ID) else {
        return;
    };
    let verified = run.verify(&LocationUuids).is_ok();
    let entries = iterate(&run, verified);
    for uuid in probe_uuids(&entries) {
        lookup(&run, verified, &entries, uuid);
    }
}

fuzz_target!(|data: &[u8]| {
    read(data);
    if let Some(repaired) = checksums::index_run(data) {
        read(&repaired);
    }
});
