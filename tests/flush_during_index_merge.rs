//! An index merge takes `flush_lock` only while it switches the manifest, so flushes from
//! other threads run while it merges. Whatever the interleaving, the manifest that the last
//! switch writes must list every segment and index run that any flush added. So after the
//! threads stop and the store reopens, every prediction is found once and every listed run
//! opens. The entries of the runs add up to the tracked predictions.

use std::collections::HashSet;
use std::path::Path;

use modelmetrics::index::IndexRun;
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

const THREADS: u64 = 2;
const FLUSHES: u64 = 40;
const PER_FLUSH: u64 = 250;

fn uuid(thread: u64, n: u64) -> Uuid {
    Uuid::from_u128((u128::from(thread + 1) << 64) | u128::from(n.wrapping_mul(0x9e37_79b9)))
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Tracks `FLUSHES` heads of `PER_FLUSH` predictions, flushing after each, so that the flushes
/// of the two threads meet the index merges that the other's flushes start.
fn fill(store: &Store, thread: u64) {
    for flush in 0..FLUSHES {
        for i in 0..PER_FLUSH {
            let n = flush * PER_FLUSH + i;
            let metrics = Metrics::new().with("score", (n % 1000) as f64 / 1000.0);
            let timestamp = (n * THREADS + thread) as i64 * 1000;
            store
                .track_metrics("m", uuid(thread, n), timestamp, &metrics)
                .unwrap();
        }
        store.flush().unwrap();
    }
}

fn listed_entries(dir: &Path) -> u64 {
    let manifest = Manifest::load(dir).unwrap().unwrap();
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
    entries
}

#[test]
fn flushes_during_merges_lose_no_run() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), options()).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let store = &store;
                scope.spawn(move || fill(store, thread));
            }
        });
        store.close().unwrap();
    }
    let tracked = THREADS * FLUSHES * PER_FLUSH;
    assert_eq!(listed_entries(dir.path()), tracked);

    let store = Store::open_with(dir.path(), options()).unwrap();
    for thread in 0..THREADS {
        for n in 0..FLUSHES * PER_FLUSH {
            let found = store.lookup(uuid(thread, n)).unwrap();
            assert!(
                found.is_some(),
                "prediction {n} of thread {thread} not found"
            );
        }
    }
    let again = store.track_metrics("m", uuid(1, 7), 0, &Metrics::new().with("score", 0.5));
    assert!(
        matches!(again, Err(Error::DuplicatePrediction { .. })),
        "{again:?}"
    );
}
