//! Index runs written with 10 bloom bits per entry, as stores did before filters grew to 16.
//! Such runs must open, return their entries on lookup and merge with runs of the current size.

use super::*;
use crate::index::bloom::{BITS_PER_ENTRY, BLOCK_BITS};

/// Bits per entry of the filters of older runs.
const OLD_BITS_PER_ENTRY: u64 = 10;
const ENTRIES: u64 = 2000;

/// Writes run `id` with a filter of `OLD_BITS_PER_ENTRY` bits per entry: the writer sizes its
/// filter at `BITS_PER_ENTRY` bits for the expected count, so a smaller count gives fewer bits.
fn write_old_run(dir: &Path, id: u64, entries: &[IndexEntry]) -> IndexRun {
    let entries = sorted(entries.to_vec());
    let expected = entries.len() as u64 * OLD_BITS_PER_ENTRY / BITS_PER_ENTRY;
    let mut writer = RunWriter::create(dir, id, expected, RunShape::of(&entries)).unwrap();
    for entry in &entries {
        writer.push(entry).unwrap();
    }
    writer.finish().unwrap();
    IndexRun::open(dir, id).unwrap()
}

/// Returns the filter bytes of a run of `entries` entries at `bits_per_entry`.
fn filter_bytes(entries: u64, bits_per_entry: u64) -> u64 {
    (entries * bits_per_entry).div_ceil(BLOCK_BITS) * BLOCK_BITS / 8
}

#[test]
fn old_run_has_smaller_filter() {
    let dir = TempDir::new().unwrap();
    let old = write_old_run(dir.path(), 1, &predictions(ENTRIES, 1));
    let new = IndexRun::write(dir.path(), 2, predictions(ENTRIES, 2)).unwrap();

    let difference = new.info().file_bytes - old.info().file_bytes;
    let expected =
        filter_bytes(ENTRIES, BITS_PER_ENTRY) - filter_bytes(ENTRIES, OLD_BITS_PER_ENTRY);
    assert_eq!(difference, expected);
}

#[test]
fn old_run_opens_and_finds_entries() {
    let dir = TempDir::new().unwrap();
    let entries = predictions(ENTRIES, 1);
    let source = MapSource::of(&entries);
    write_old_run(dir.path(), 1, &entries);

    let old = IndexRun::open(dir.path(), 1).unwrap();
    old.verify(&source).unwrap();
    assert_eq!(read_all(&old, &source), sorted(entries.clone()));
    for e in &entries {
        assert_eq!(lookup(&old, &source, &e.uuid), vec![*e]);
    }
    let absent = (0..1000).map(|i| random_uuid(50_000_000 + i));
    for uuid in absent {
        assert!(lookup(&old, &source, &uuid).is_empty(), "{uuid}");
    }
}

#[test]
fn set_of_old_and_new_runs_finds_both() {
    let dir = TempDir::new().unwrap();
    let (first, second) = (predictions(ENTRIES, 1), predictions(ENTRIES, 2));
    let source = MapSource::of(&[first.clone(), second.clone()].concat());
    let old = Arc::new(write_old_run(dir.path(), 1, &first));
    let new = Arc::new(IndexRun::write(dir.path(), 2, second.clone()).unwrap());
    let set = IndexSet::new(vec![old, new]);

    for e in first.iter().chain(&second) {
        assert!(set.contains_prediction(&e.uuid, &source).unwrap(), "{e:?}");
        assert_eq!(set.lookup(&e.uuid, &source).unwrap(), vec![*e]);
    }
}

#[test]
fn merge_old_and_new_runs() {
    let dir = TempDir::new().unwrap();
    let (first, second) = (predictions(ENTRIES, 1), predictions(ENTRIES, 2));
    let all = [first.clone(), second.clone()].concat();
    let source = MapSource::of(&all);
    let runs = vec![
        Arc::new(write_old_run(dir.path(), 1, &first)),
        Arc::new(IndexRun::write(dir.path(), 2, second).unwrap()),
    ];

    let merged = merge(dir.path(), 3, &runs, &|_| true, &source).unwrap();
    merged.verify(&source).unwrap();
    assert_eq!(read_all(&merged, &source), sorted(all.clone()));
    for e in &all {
        assert_eq!(lookup(&merged, &source, &e.uuid), vec![*e]);
    }
    // A run written at once from the same entries has the filter of the current size.
    let direct = IndexRun::write(dir.path(), 4, all).unwrap();
    assert_eq!(merged.info().file_bytes, direct.info().file_bytes);
}

#[test]
fn merge_of_two_old_runs_reads_back() {
    let dir = TempDir::new().unwrap();
    let (first, second) = (predictions(ENTRIES, 1), predictions(ENTRIES, 2));
    let all = [first.clone(), second.clone()].concat();
    let source = MapSource::of(&all);
    let runs = vec![
        Arc::new(write_old_run(dir.path(), 1, &first)),
        Arc::new(write_old_run(dir.path(), 2, &second)),
    ];

    let merged = merge(dir.path(), 3, &runs, &|_| true, &source).unwrap();
    merged.verify(&source).unwrap();
    let reopened = IndexRun::open(dir.path(), 3).unwrap();
    for e in &all {
        assert_eq!(lookup(&reopened, &source, &e.uuid), vec![*e]);
    }
}
