//! A compaction that replaces some of the segments an index run points into rewrites the run
//! without their entries. Afterwards every live run points only into live segments, every
//! tracked prediction is found, and tracking one of them again fails as a duplicate.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use modelmetrics::index::IndexRun;
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

/// Predictions per flush, all of the same shape so that the segments have about one size.
const PER_FLUSH: u64 = 400;
const DAY: Duration = Duration::from_secs(86_400);

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(
        0x1dec_0000_0000_0000_0000_0000_0000_0000 | u128::from(n.wrapping_mul(0x9e37_79b9)),
    )
}

fn options(target_segment_bytes: u64) -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes,
        partition: DAY,
        ..Compaction::default()
    })
}

/// Tracks `flushes` heads of `PER_FLUSH` predictions from number `first` on, flushing after
/// each, and returns the next number.
fn fill(store: &Store, first: u64, flushes: u64) -> u64 {
    let mut n = first;
    for _ in 0..flushes {
        for _ in 0..PER_FLUSH {
            let metrics = Metrics::new()
                .with("score", (n % 1000) as f64 / 1000.0)
                .with("amount", (n % 7919) as f64);
            store
                .track_metrics("m", uuid(n), n as i64 * 1000, &metrics)
                .unwrap();
            n += 1;
        }
        store.flush().unwrap();
    }
    n
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::load(dir).unwrap().unwrap()
}

fn segment_bytes(dir: &Path, id: u64) -> u64 {
    let name = modelmetrics::segment::segment_file_name(id);
    std::fs::metadata(dir.join(name)).unwrap().len()
}

/// Checks that every live run points only into live segments and that the runs hold one
/// entry per tracked prediction; returns the run ids.
fn check_runs(dir: &Path, tracked: u64) -> Vec<u64> {
    let manifest = manifest(dir);
    let live: HashSet<u64> = manifest.segments.iter().copied().collect();
    let mut entries = 0;
    for &id in &manifest.index_runs {
        let run = IndexRun::open(dir, id).unwrap();
        for segment in run.segments() {
            assert!(
                live.contains(segment),
                "run {id} points into gone segment {segment}"
            );
        }
        entries += run.info().entries;
    }
    assert_eq!(entries, tracked);
    manifest.index_runs
}

/// Checks that every prediction below `tracked` is found and is rejected when tracked again.
fn check_predictions(store: &Store, tracked: u64) {
    let metrics = Metrics::new().with("score", 0.5);
    for n in 0..tracked {
        let found = store.lookup(uuid(n)).unwrap();
        assert_eq!(
            found.map(|p| p.timestamp_ms),
            Some(n as i64 * 1000),
            "prediction {n}"
        );
        let again = store.track_metrics("m", uuid(n), 0, &metrics);
        assert!(
            matches!(again, Err(Error::DuplicatePrediction { uuid: rejected }) if rejected == uuid(n)),
            "prediction {n} tracked twice: {again:?}"
        );
    }
}

#[test]
fn partial_compaction_filters_runs_and_keeps_duplicates_out() {
    let dir = tempfile::tempdir().unwrap();
    // Measure the size of a flushed segment of `PER_FLUSH` predictions.
    let store = Store::open_with(dir.path(), options(u64::MAX)).unwrap();
    let mut next = fill(&store, 0, 1);
    let segment_size = segment_bytes(dir.path(), manifest(dir.path()).segments[0]);
    store.close().unwrap();
    drop(store);

    // With a target of 2.25 segments, segments are small and a merge takes at most 4 of them
    // (twice the target), so it replaces 4 of the 5 segments that the first merged run points
    // into.
    let target = segment_size * 9 / 4;
    let store = Store::open_with(dir.path(), options(target)).unwrap();
    next = fill(&store, next, 4);
    let runs = check_runs(dir.path(), next);
    assert_eq!(runs.len(), 1, "the flushes' 5 runs are merged into one");
    assert_eq!(manifest(dir.path()).segments.len(), 5);

    assert!(store.compact().unwrap() >= 1);
    let after = manifest(dir.path());
    assert_eq!(
        after.segments.len(),
        2,
        "4 segments merged, 1 left: {after:?}"
    );
    let runs = check_runs(dir.path(), next);
    assert_eq!(
        runs.len(),
        2,
        "the filtered run and the run of the new segment"
    );
    check_predictions(&store, next);

    next = fill(&store, next, 7);
    store.compact().unwrap();
    check_runs(dir.path(), next);
    check_predictions(&store, next);
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(dir.path(), options(target)).unwrap();
    check_runs(dir.path(), next);
    check_predictions(&store, next);
}
