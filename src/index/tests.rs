//! Tests of index runs and snapshots on real files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tempfile::TempDir;
use uuid::Uuid;

use super::format::{self, DATA_OFFSET, FENCE_SIZE, FOOTER_SIZE, PAGE_SIZE, SEGMENT_ID_SIZE};
use super::writer::{RunShape, RunWriter};
use super::*;
use crate::error::Error;

mod bloom_sizes;
mod contains;
mod filter;

/// SplitMix64 step, for reproducible pseudo-random UUIDs without a generator crate.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn random_uuid(i: u64) -> Uuid {
    Uuid::from_u64_pair(mix(i), mix(i ^ 0x5555_5555_5555_5555))
}

fn entry(uuid: Uuid, kind: EntryKind, segment: u64, row: u32) -> IndexEntry {
    IndexEntry {
        uuid,
        kind,
        segment,
        row,
    }
}

/// Returns one prediction entry for each of `count` pseudo-random UUIDs.
fn predictions(count: u64, seed: u64) -> Vec<IndexEntry> {
    (0..count)
        .map(|i| {
            entry(
                random_uuid(seed * 1_000_000_007 + i),
                EntryKind::Prediction,
                seed,
                i as u32,
            )
        })
        .collect()
}

fn sorted(mut entries: Vec<IndexEntry>) -> Vec<IndexEntry> {
    entries.sort();
    entries
}

/// The UUIDs of test entries by location, standing in for the segments.
#[derive(Default)]
struct MapSource(HashMap<(u64, EntryKind, u32), Uuid>);

impl MapSource {
    fn of(entries: &[IndexEntry]) -> MapSource {
        let mut source = MapSource::default();
        for e in entries {
            let previous = source.0.insert((e.segment, e.kind, e.row), e.uuid);
            assert!(previous.is_none_or(|p| p == e.uuid), "two UUIDs at {e:?}");
        }
        source
    }
}

impl UuidSource for MapSource {
    fn uuid_at(&self, segment: u64, kind: EntryKind, row: u32) -> crate::Result<Uuid> {
        self.0.get(&(segment, kind, row)).copied().ok_or_else(|| {
            let reason = format!("no UUID at {segment}/{kind:?}/{row}");
            Error::corruption(Path::new("source"), 0, reason)
        })
    }
}

fn read_all(run: &IndexRun, source: &MapSource) -> Vec<IndexEntry> {
    run.iter(source).collect::<Result<Vec<_>, _>>().unwrap()
}

fn lookup(run: &IndexRun, source: &MapSource, uuid: &Uuid) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    run.lookup(uuid, source, &mut out).unwrap();
    out
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

/// Asserts that `result` is a corruption error of `path` at an offset in `range`.
fn assert_corruption<T>(result: crate::Result<T>, path: &Path, range: std::ops::Range<u64>) {
    match result {
        Err(Error::Corruption {
            file,
            offset,
            reason,
        }) => {
            assert_eq!(file, path, "{reason}");
            assert!(
                range.contains(&offset),
                "offset {offset} not in {range:?}: {reason}"
            );
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("expected corruption, got a valid result"),
    }
}

#[test]
fn write_then_open_round_trips() {
    let dir = TempDir::new().unwrap();
    let entries = predictions(1000, 1);
    let source = MapSource::of(&entries);
    let written = IndexRun::write(dir.path(), 7, entries.clone()).unwrap();
    let opened = IndexRun::open(dir.path(), 7).unwrap();
    assert_eq!(read_all(&opened, &source), sorted(entries));
    assert_eq!(opened.info(), written.info());
    assert_eq!(opened.info().entries, 1000);
    assert_eq!(opened.info().id, 7);
    assert_eq!(opened.segments(), &[1]);
    assert_eq!(
        opened.path(),
        dir.path().join("index-00000000000000000007.idx")
    );
    opened.verify(&source).unwrap();
}

#[test]
fn entries_take_a_few_bytes() {
    let dir = TempDir::new().unwrap();
    let run = IndexRun::write(dir.path(), 1, predictions(100_000, 1)).unwrap();
    // One segment and rows below 2^17: 1 kind bit and 17 row bits per entry, plus 2 bytes of
    // bloom filter.
    assert_eq!(run.entry_bits(), 18);
    let bytes_per_entry = run.info().file_bytes as f64 / 100_000.0;
    assert!(bytes_per_entry < 4.5, "{bytes_per_entry} bytes per entry");
}

#[test]
fn lookup_finds_every_entry() {
    let dir = TempDir::new().unwrap();
    let mut entries = predictions(2000, 2);
    entries.extend(predictions(1500, 3));
    let source = MapSource::of(&entries);
    let run = IndexRun::write(dir.path(), 1, entries.clone()).unwrap();
    assert_eq!(run.segments(), &[2, 3]);
    for expected in &entries {
        assert_eq!(lookup(&run, &source, &expected.uuid), vec![*expected]);
    }
}

#[test]
fn lookup_of_absent_uuid_is_empty() {
    let dir = TempDir::new().unwrap();
    let entries = predictions(2000, 3);
    let source = MapSource::of(&entries);
    let run = IndexRun::write(dir.path(), 1, entries).unwrap();
    let mut bloom_hits = 0;
    for i in 0..2000 {
        let absent = random_uuid(u64::MAX - i);
        bloom_hits += usize::from(run.may_contain(&absent));
        assert!(lookup(&run, &source, &absent).is_empty());
    }
    assert!(
        bloom_hits < 60,
        "{bloom_hits} bloom false positives in 2000"
    );
    assert!(lookup(&run, &source, &Uuid::nil()).is_empty());
    assert!(lookup(&run, &source, &Uuid::max()).is_empty());
}

/// Sequential UUIDs `0..count`, one prediction each, plus `extra` delayed entries for UUID
/// `shared`.
fn with_shared_uuid(count: u128, shared: u128, extra: u32) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = (0..count)
        .map(|i| entry(Uuid::from_u128(i), EntryKind::Prediction, 1, i as u32))
        .collect();
    for row in 0..extra {
        entries.push(entry(
            Uuid::from_u128(shared),
            EntryKind::Delayed,
            2 + u64::from(row),
            row,
        ));
    }
    entries
}

/// Entries per page of a run of `entries`.
fn per_page_of(entries: &[IndexEntry]) -> u128 {
    let shape = RunShape::of(entries);
    let packing = format::Packing::new(shape.segments.len(), shape.max_row);
    u128::from(packing.entries_per_page())
}

#[test]
fn uuid_entries_across_page_boundary() {
    let per_page = per_page_of(&with_shared_uuid(3 * 4096, 0, 3));
    // The shared UUID's four entries start 2 entries before, exactly at, or 1 entry after the
    // first page boundary.
    for shared in [per_page - 2, per_page, per_page + 1, per_page - 1] {
        let dir = TempDir::new().unwrap();
        let entries = with_shared_uuid(3 * 4096, shared, 3);
        let source = MapSource::of(&entries);
        let run = IndexRun::write(dir.path(), 1, entries.clone()).unwrap();
        assert_eq!(u128::from(run.entries_per_page()), per_page);
        let found = lookup(&run, &source, &Uuid::from_u128(shared));
        let expected: Vec<IndexEntry> = sorted(
            entries
                .into_iter()
                .filter(|e| e.uuid.as_u128() == shared)
                .collect(),
        );
        assert_eq!(found.len(), 4, "shared UUID {shared}");
        assert_eq!(found, expected, "shared UUID {shared}");
        assert_eq!(found[0].kind, EntryKind::Prediction);
        assert_eq!(lookup(&run, &source, &Uuid::from_u128(shared + 1)).len(), 1);
        assert_eq!(lookup(&run, &source, &Uuid::from_u128(shared - 1)).len(), 1);
    }
}

#[test]
fn uuid_entries_spanning_three_pages() {
    let dir = TempDir::new().unwrap();
    let probe = with_shared_uuid(300, 100, 6000);
    let extra = 2 * per_page_of(&probe) as u32 + 10;
    let entries = with_shared_uuid(300, 100, extra);
    let source = MapSource::of(&entries);
    let run = IndexRun::write(dir.path(), 1, entries).unwrap();
    let found = lookup(&run, &source, &Uuid::from_u128(100));
    assert_eq!(found.len(), extra as usize + 1);
    assert!(found.is_sorted());
    assert_eq!(lookup(&run, &source, &Uuid::from_u128(101)).len(), 1);
}

#[test]
fn empty_run_opens_and_finds_nothing() {
    let dir = TempDir::new().unwrap();
    let source = MapSource::default();
    IndexRun::write(dir.path(), 3, Vec::new()).unwrap();
    let run = IndexRun::open(dir.path(), 3).unwrap();
    assert_eq!(run.info().entries, 0);
    assert!(run.segments().is_empty());
    assert!(read_all(&run, &source).is_empty());
    assert!(lookup(&run, &source, &Uuid::nil()).is_empty());
    run.verify(&source).unwrap();
}

#[test]
fn existing_file_is_not_overwritten() {
    let dir = TempDir::new().unwrap();
    IndexRun::write(dir.path(), 1, predictions(10, 4)).unwrap();
    let err = IndexRun::write(dir.path(), 1, predictions(5, 5))
        .err()
        .unwrap();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(IndexRun::open(dir.path(), 1).unwrap().info().entries, 10);
}

#[test]
fn entry_outside_shape_is_rejected() {
    let dir = TempDir::new().unwrap();
    let shape = RunShape {
        segments: vec![3, 5],
        max_row: 100,
    };
    let mut writer = RunWriter::create(dir.path(), 1, 2, shape).unwrap();
    let other_segment = entry(Uuid::nil(), EntryKind::Prediction, 4, 0);
    let err = writer.push(&other_segment).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let far_row = entry(Uuid::nil(), EntryKind::Prediction, 5, 101);
    let err = writer.push(&far_row).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    drop(writer);
    assert!(!dir.path().join(index_file_name(1)).exists());
}

#[test]
fn file_names_round_trip() {
    assert_eq!(index_file_name(42), "index-00000000000000000042.idx");
    assert_eq!(
        parse_index_file_name(&index_file_name(u64::MAX)),
        Some(u64::MAX)
    );
    assert_eq!(parse_index_file_name("index-42.idx"), None);
    assert_eq!(
        parse_index_file_name("segment-00000000000000000042.seg"),
        None
    );
}

#[test]
fn run_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<IndexRun>();
    check::<IndexSet>();
}

/// Writes run 9 with 5000 entries (3 pages) and returns its path.
fn corruptible_run(dir: &TempDir) -> std::path::PathBuf {
    IndexRun::write(dir.path(), 9, predictions(5000, 6)).unwrap();
    dir.path().join(index_file_name(9))
}

#[test]
fn truncated_file_fails_to_open() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let full = std::fs::read(&path).unwrap();
    for len in [
        0,
        100,
        4096,
        4160,
        8192,
        full.len() / 2,
        full.len() - 64,
        full.len() - 1,
    ] {
        std::fs::write(&path, &full[..len]).unwrap();
        assert_corruption(IndexRun::open(dir.path(), 9), &path, 0..full.len() as u64);
    }
}

#[test]
fn zero_filled_file_fails_to_open() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, vec![0u8; len as usize]).unwrap();
    assert_corruption(IndexRun::open(dir.path(), 9), &path, 0..len);
}

#[test]
fn flipped_header_byte_fails_to_open() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    for offset in [0, 9, 13, 33, 49, 53, 60] {
        flip_byte(&path, offset);
        assert_corruption(IndexRun::open(dir.path(), 9), &path, 0..64);
        flip_byte(&path, offset);
    }
    flip_byte(&path, 2000);
    assert_corruption(IndexRun::open(dir.path(), 9), &path, 64..DATA_OFFSET);
}

#[test]
fn flipped_page_byte_fails_lookup_and_verify() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let entries = predictions(5000, 6);
    let source = MapSource::of(&entries);
    let third_page = format::page_offset(2);
    flip_byte(&path, third_page + 100);
    let run = IndexRun::open(dir.path(), 9).unwrap();
    let page_range = third_page..third_page + PAGE_SIZE as u64;
    let per_page = run.entries_per_page() as usize;
    let in_page = sorted(entries)[2 * per_page + 5];
    assert_corruption(
        run.lookup(&in_page.uuid, &source, &mut Vec::new()),
        &path,
        page_range.clone(),
    );
    assert_corruption(run.verify(&source), &path, page_range.clone());
    let iterated: Result<Vec<_>, _> = run.iter(&source).collect();
    assert_corruption(iterated, &path, page_range);
}

#[test]
fn flipped_table_fence_bloom_or_footer_fails_open() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let source = MapSource::of(&predictions(5000, 6));
    let len = std::fs::metadata(&path).unwrap().len();
    let run = IndexRun::open(dir.path(), 9).unwrap();
    let pages = run.info().entries.div_ceil(run.entries_per_page());
    assert_eq!(pages, 3);
    let table = format::page_offset(pages);
    let fences = table + SEGMENT_ID_SIZE as u64;
    let bloom = fences + pages * FENCE_SIZE as u64;
    let footer = len - FOOTER_SIZE as u64;
    let cases = [
        ("segment table", table + 1, table..fences),
        ("fence", fences + 3, fences..bloom),
        ("bloom", bloom + 17, bloom..footer),
        ("footer field", footer + 20, footer..len),
        ("footer magic", footer + 57, footer..len),
        ("footer CRC", len - 1, footer..len),
    ];
    for (name, offset, range) in cases {
        flip_byte(&path, offset);
        let result = IndexRun::open(dir.path(), 9);
        assert!(result.is_err(), "{name}");
        assert_corruption(result, &path, range);
        flip_byte(&path, offset);
    }
    IndexRun::open(dir.path(), 9)
        .unwrap()
        .verify(&source)
        .unwrap();
}

#[test]
fn footer_disagreeing_with_layout_fails_open() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let footer_at = bytes.len() - FOOTER_SIZE;
    let footer_bytes: [u8; FOOTER_SIZE] = bytes[footer_at..].try_into().unwrap();
    let footer = format::Footer::decode(&footer_bytes, footer_at as u64, &path).unwrap();
    let cases = [
        format::Footer {
            bloom_hashes: 0,
            ..footer
        },
        format::Footer {
            fence_offset: footer.fence_offset + 4096,
            ..footer
        },
        format::Footer {
            bloom_bits: footer.bloom_bits + 64,
            ..footer
        },
    ];
    for bad in cases {
        bytes[footer_at..].copy_from_slice(&bad.encode());
        std::fs::write(&path, &bytes).unwrap();
        let end = bytes.len() as u64;
        assert_corruption(IndexRun::open(dir.path(), 9), &path, footer_at as u64..end);
    }
}

#[test]
fn unsorted_entries_fail_verify() {
    let dir = TempDir::new().unwrap();
    let path = corruptible_run(&dir);
    let entries = sorted(predictions(5000, 6));
    let mut source = MapSource::of(&entries);
    // The segment returns the UUIDs of the second and third entries swapped.
    let (second, third) = (entries[1], entries[2]);
    source
        .0
        .insert((6, EntryKind::Prediction, second.row), third.uuid);
    source
        .0
        .insert((6, EntryKind::Prediction, third.row), second.uuid);
    let run = IndexRun::open(dir.path(), 9).unwrap();
    // Entries are 14 bits wide, so the third entry starts in byte 3 of the first page.
    let at = DATA_OFFSET + 3;
    assert_corruption(run.verify(&source), &path, at..at + 1);
}

#[test]
fn slot_past_segment_table_is_corrupt() {
    let dir = TempDir::new().unwrap();
    let mut entries = predictions(10, 1);
    entries.extend(predictions(10, 2));
    entries.extend(predictions(10, 3));
    let source = MapSource::of(&entries);
    IndexRun::write(dir.path(), 1, entries).unwrap();
    let path = dir.path().join(index_file_name(1));
    let mut bytes = std::fs::read(&path).unwrap();
    // Entries are 2 slot bits, 1 kind bit and 4 row bits: set both slot bits of entry 0.
    let page = DATA_OFFSET as usize;
    bytes[page] |= 0b0110_0000;
    let crc = format::page_crc(0, &bytes[page..page + PAGE_SIZE]);
    bytes[page + PAGE_SIZE - 4..page + PAGE_SIZE].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let run = IndexRun::open(dir.path(), 1).unwrap();
    assert_eq!(run.entry_bits(), 7);
    let page_range = DATA_OFFSET..DATA_OFFSET + PAGE_SIZE as u64;
    assert_corruption(run.verify(&source), &path, page_range);
}

#[test]
fn merge_keeps_sorted_order() {
    let dir = TempDir::new().unwrap();
    let inputs: Vec<Vec<IndexEntry>> = (1..=3).map(|seed| predictions(700, seed)).collect();
    let source = MapSource::of(&inputs.concat());
    let mut runs = Vec::new();
    for (id, entries) in (1..).zip(&inputs) {
        runs.push(Arc::new(
            IndexRun::write(dir.path(), id, entries.clone()).unwrap(),
        ));
    }
    let merged = merge(dir.path(), 10, &runs, &|_| true, &source).unwrap();
    let expected = sorted(inputs.concat());
    assert_eq!(read_all(&merged, &source), expected);
    assert_eq!(merged.info().entries, 2100);
    assert_eq!(merged.segments(), &[1, 2, 3]);
    merged.verify(&source).unwrap();
    for e in &expected {
        assert_eq!(lookup(&merged, &source, &e.uuid), vec![*e]);
    }
}

#[test]
fn merge_drops_entries_by_keep() {
    let dir = TempDir::new().unwrap();
    let mut first = predictions(500, 1);
    let delayed: Vec<IndexEntry> = first
        .iter()
        .map(|e| entry(e.uuid, EntryKind::Delayed, 2, e.row))
        .collect();
    first.truncate(400);
    let source = MapSource::of(&[first.clone(), delayed.clone()].concat());
    let runs = vec![
        Arc::new(IndexRun::write(dir.path(), 1, first.clone()).unwrap()),
        Arc::new(IndexRun::write(dir.path(), 2, delayed.clone()).unwrap()),
    ];
    let keep = |e: &IndexEntry| e.segment != 2 || e.row.is_multiple_of(2);
    let merged = merge(dir.path(), 3, &runs, &keep, &source).unwrap();
    let kept: Vec<IndexEntry> = delayed
        .into_iter()
        .filter(|e| e.row.is_multiple_of(2))
        .collect();
    let expected = sorted([first, kept].concat());
    assert_eq!(read_all(&merged, &source), expected);
    let second = runs[1].iter(&source).nth(1).unwrap().unwrap();
    assert!(lookup(&merged, &source, &second.uuid).len() <= 2);
    merged.verify(&source).unwrap();
}

#[test]
fn merge_stops_when_cancelled() {
    let dir = TempDir::new().unwrap();
    let inputs: Vec<Vec<IndexEntry>> = (1..=2).map(|seed| predictions(40_000, seed)).collect();
    let source = MapSource::of(&inputs.concat());
    let runs: Vec<Arc<IndexRun>> = (1..)
        .zip(&inputs)
        .map(|(id, entries)| Arc::new(IndexRun::write(dir.path(), id, entries.clone()).unwrap()))
        .collect();
    let checks = std::cell::Cell::new(0);
    let cancelled = || {
        checks.set(checks.get() + 1);
        true
    };
    let io = crate::io::os_io();
    let keep = (&|_: &IndexEntry| true) as &dyn Fn(&IndexEntry) -> bool;
    let result = merge_with(
        io,
        dir.path(),
        3,
        &runs,
        (keep, &Dropped::default()),
        &source,
        &cancelled,
    );
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert_eq!(checks.get(), 1);

    let io = crate::io::os_io();
    let merged = merge_with(
        io,
        dir.path(),
        4,
        &runs,
        (keep, &Dropped::default()),
        &source,
        &|| false,
    )
    .unwrap();
    assert_eq!(merged.info().entries, 80_000);
}

#[test]
fn merge_of_nothing_is_empty_run() {
    let dir = TempDir::new().unwrap();
    let source = MapSource::default();
    let merged = merge(dir.path(), 1, &[], &|_| true, &source).unwrap();
    assert_eq!(merged.info().entries, 0);
    merged.verify(&source).unwrap();
}

#[test]
fn set_orders_runs_newest_first() {
    let dir = TempDir::new().unwrap();
    let run = |id| Arc::new(IndexRun::write(dir.path(), id, predictions(10, id)).unwrap());
    let set = IndexSet::new(vec![run(2), run(5), run(3)]);
    let ids = |set: &IndexSet| set.runs().iter().map(|r| r.info().id).collect::<Vec<_>>();
    assert_eq!(ids(&set), vec![5, 3, 2]);
    let set = set.with_run(run(4));
    assert_eq!(ids(&set), vec![5, 4, 3, 2]);
    let set = set.replace(&[3, 4, 99], run(6));
    assert_eq!(ids(&set), vec![6, 5, 2]);
}

#[test]
fn set_lookup_joins_all_runs() {
    let dir = TempDir::new().unwrap();
    let uuid = random_uuid(77);
    let prediction = entry(uuid, EntryKind::Prediction, 1, 3);
    let late = entry(uuid, EntryKind::Delayed, 4, 0);
    let orphan = entry(random_uuid(78), EntryKind::Delayed, 4, 1);
    let mut first = predictions(300, 8);
    first.push(prediction);
    let second = vec![late, orphan];
    let source = MapSource::of(&[first.clone(), second.clone()].concat());
    let set = IndexSet::default()
        .with_run(Arc::new(IndexRun::write(dir.path(), 1, first).unwrap()))
        .with_run(Arc::new(IndexRun::write(dir.path(), 2, second).unwrap()));
    assert_eq!(set.lookup(&uuid, &source).unwrap(), vec![prediction, late]);
    assert!(set.contains_prediction(&uuid, &source).unwrap());
    assert!(!set.contains_prediction(&orphan.uuid, &source).unwrap());
    assert!(!set.contains_prediction(&random_uuid(79), &source).unwrap());
    assert!(set.lookup(&random_uuid(79), &source).unwrap().is_empty());
}

#[test]
fn missing_uuid_in_source_fails_lookup() {
    let dir = TempDir::new().unwrap();
    let entries = predictions(100, 1);
    let run = IndexRun::write(dir.path(), 1, entries.clone()).unwrap();
    let mut out = Vec::new();
    let result = run.lookup(&entries[0].uuid, &MapSource::default(), &mut out);
    assert!(matches!(result, Err(Error::Corruption { .. })));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    #[test]
    fn lookup_matches_sorted_model(
        keys in proptest::collection::vec((0u128..300, proptest::bool::ANY, 0u64..4), 0..700)
    ) {
        let entries: Vec<IndexEntry> = keys
            .iter()
            .enumerate()
            .map(|(row, (uuid, delayed, segment))| {
                let kind = if *delayed { EntryKind::Delayed } else { EntryKind::Prediction };
                entry(Uuid::from_u128(*uuid << 100), kind, *segment, row as u32)
            })
            .collect();
        let source = MapSource::of(&entries);
        let dir = TempDir::new().unwrap();
        let run = IndexRun::write(dir.path(), 1, entries.clone()).unwrap();
        let model = sorted(entries);
        proptest::prop_assert_eq!(read_all(&run, &source), model.clone());
        for key in 0u128..300 {
            let uuid = Uuid::from_u128(key << 100);
            let expected: Vec<IndexEntry> =
                model.iter().filter(|e| e.uuid == uuid).copied().collect();
            proptest::prop_assert_eq!(lookup(&run, &source, &uuid), expected);
        }
    }
}

#[test]
fn memory_for_million_entries_is_small() {
    let dir = TempDir::new().unwrap();
    let count = 1_000_000u128;
    let entries: Vec<IndexEntry> = (0..count)
        .map(|i| entry(Uuid::from_u128(i << 64), EntryKind::Prediction, 1, i as u32))
        .collect();
    let run = IndexRun::write(dir.path(), 1, entries).unwrap();
    let bloom_bytes = 1_000_000 * super::bloom::BITS_PER_ENTRY as usize / 8;
    let limit = bloom_bytes + (1 << 18);
    assert!(run.memory_bytes() < limit, "{} bytes", run.memory_bytes());
    assert!(
        run.memory_bytes() > bloom_bytes,
        "{} bytes",
        run.memory_bytes()
    );
}
