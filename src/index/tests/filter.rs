//! Filtering a run: the entries of removed segments go, the others keep their order, and the
//! result is a valid run that finds each kept entry.

use std::collections::HashSet;

use super::*;

/// Writes one run holding `per_segment` prediction entries of each of `segments`, plus an
/// orphan entry sharing the UUID of each prediction of the first segment, and returns it with
/// its entries sorted.
fn mixed_run(
    dir: &Path,
    id: u64,
    segments: &[u64],
    per_segment: u64,
) -> (IndexRun, Vec<IndexEntry>) {
    let mut entries: Vec<IndexEntry> = segments
        .iter()
        .flat_map(|&segment| predictions(per_segment, segment))
        .collect();
    let first = segments[0];
    let orphans: Vec<IndexEntry> = entries
        .iter()
        .filter(|e| e.segment == first)
        .map(|e| entry(e.uuid, EntryKind::Delayed, 100 + first, e.row))
        .collect();
    entries.extend(orphans);
    let run = IndexRun::write(dir, id, entries.clone()).unwrap();
    (run, sorted(entries))
}

fn removing(ids: &[u64]) -> HashSet<u64> {
    ids.iter().copied().collect()
}

#[test]
fn filter_keeps_other_segments_in_order() {
    let dir = TempDir::new().unwrap();
    let (run, entries) = mixed_run(dir.path(), 1, &[3, 5, 7], 3000);
    let source = MapSource::of(&entries);
    let removed = removing(&[5]);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removed, &source)
        .unwrap()
        .expect("entries of segments 3 and 7 remain");

    let expected: Vec<IndexEntry> = entries.iter().filter(|e| e.segment != 5).copied().collect();
    assert!(expected.len() as u64 > 2 * filtered.entries_per_page());
    assert_eq!(read_all(&filtered, &source), expected);
    assert_eq!(filtered.info().entries, expected.len() as u64);
    assert_eq!(filtered.segments(), &[3, 7, 103]);
    filtered.verify(&source).unwrap();
}

#[test]
fn filtered_run_finds_kept_and_not_removed() {
    let dir = TempDir::new().unwrap();
    let (run, entries) = mixed_run(dir.path(), 1, &[3, 5], 2000);
    let source = MapSource::of(&entries);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removing(&[5]), &source)
        .unwrap()
        .unwrap();

    for e in entries.iter().filter(|e| e.kind == EntryKind::Prediction) {
        let found = lookup(&filtered, &source, &e.uuid);
        if e.segment == 5 {
            assert_eq!(found, vec![], "entry of removed segment 5 found: {e:?}");
        } else {
            let orphan = entry(e.uuid, EntryKind::Delayed, 103, e.row);
            assert_eq!(found, vec![*e, orphan]);
        }
    }
}

#[test]
fn filter_keeps_bloom_filter() {
    let dir = TempDir::new().unwrap();
    let (run, entries) = mixed_run(dir.path(), 1, &[3, 5], 500);
    let source = MapSource::of(&entries);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removing(&[3]), &source)
        .unwrap()
        .unwrap();
    assert_eq!(filtered.bloom(), run.bloom());
}

#[test]
fn filter_removing_every_segment_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let (run, entries) = mixed_run(dir.path(), 1, &[3, 5], 100);
    let source = MapSource::of(&entries);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removing(&[3, 5, 103]), &source);
    assert!(filtered.unwrap().is_none());
    assert!(!dir.path().join(index_file_name(2)).exists());
}

#[test]
fn filter_of_segment_without_entries_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let entries = sorted(predictions(100, 3));
    let shape = RunShape {
        segments: vec![3, 4],
        max_row: 99,
    };
    let mut writer = RunWriter::create(dir.path(), 1, 100, shape).unwrap();
    for e in &entries {
        writer.push(e).unwrap();
    }
    writer.finish().unwrap();
    let run = IndexRun::open(dir.path(), 1).unwrap();
    let source = MapSource::of(&entries);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removing(&[3]), &source);
    assert!(filtered.unwrap().is_none());
    assert!(!dir.path().join(index_file_name(2)).exists());
}

#[test]
fn filter_of_damaged_page_fails() {
    let dir = TempDir::new().unwrap();
    let (run, entries) = mixed_run(dir.path(), 1, &[3, 5], 2000);
    let path = run.path().to_path_buf();
    drop(run);
    flip_byte(&path, DATA_OFFSET + PAGE_SIZE as u64 + 10);
    let run = IndexRun::open(dir.path(), 1).unwrap();
    let source = MapSource::of(&entries);
    let io = crate::io::os_io();
    let filtered = filter_with(io, dir.path(), 2, &run, &removing(&[5]), &source);
    assert_corruption(
        filtered,
        &path,
        DATA_OFFSET..DATA_OFFSET + 2 * PAGE_SIZE as u64,
    );
    assert!(!dir.path().join(index_file_name(2)).exists());
}
