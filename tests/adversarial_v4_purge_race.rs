//! Deletions of single predictions while a writer flushes small segments and another thread
//! compacts, so that purges and merges rewrite groups of segments and filter the index runs
//! that flushes keep merging. A deleted prediction is never read again, before or after the
//! purge and a new open, and every other acknowledged prediction is read once. Once the last
//! compaction has purged them, the manifest lists no deletion.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

const MODEL: &str = "purged";
const PREDICTIONS: u64 = 6_000;
/// The deleting thread deletes one prediction in each `DELETE_EVERY` acknowledged ones.
const DELETE_EVERY: u64 = 5;
const T0: i64 = 1_700_000_000_000;

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .compaction(Compaction {
            enabled: false,
            target_segment_bytes: 32 << 10,
            partition: Duration::from_secs(86_400),
            ..Compaction::default()
        })
}

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0x9e29_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn metrics(n: u64) -> Metrics {
    Metrics::new()
        .with("n", n as i64)
        .with("text", format!("prediction {n} of the purge race"))
}

/// Checks that the deleted predictions are gone and every other one is read once.
fn check(store: &Store, acked: u64, deleted: &HashSet<u64>, context: &str) {
    let rows = store
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.uuid), "{context}: {} read twice", row.uuid);
    }
    for n in 0..acked {
        let present = seen.contains(&uuid(n));
        assert_eq!(present, !deleted.contains(&n), "{context}: prediction {n}");
    }
    assert_eq!(
        rows.len() as u64,
        acked - deleted.len() as u64,
        "{context}: rows"
    );
    for &n in deleted.iter().take(50) {
        let found = store.lookup(uuid(n)).unwrap();
        assert!(found.is_none(), "{context}: deleted {n} found by lookup");
    }
}

#[test]
fn deletions_hold_during_purge_race() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let acked = Arc::new(Mutex::new(0u64));
    let writing = Arc::new(AtomicBool::new(true));

    let compactor = {
        let (store, writing) = (Arc::clone(&store), Arc::clone(&writing));
        thread::spawn(move || {
            let mut steps = 0;
            while writing.load(Ordering::SeqCst) {
                steps += store.compact().unwrap();
            }
            steps
        })
    };
    let deleter = {
        let (store, acked, writing) =
            (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&writing));
        thread::spawn(move || {
            let mut deleted = HashSet::new();
            let mut next = 0;
            while writing.load(Ordering::SeqCst) || next < *acked.lock().unwrap() {
                if next >= *acked.lock().unwrap() {
                    thread::yield_now();
                    continue;
                }
                if next % DELETE_EVERY == 2 {
                    store.delete_prediction(uuid(next)).unwrap();
                    deleted.insert(next);
                }
                next += 1;
            }
            deleted
        })
    };
    for n in 0..PREDICTIONS {
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64 * 1000, &metrics(n))
            .unwrap();
        *acked.lock().unwrap() = n + 1;
        if n % 500 == 499 {
            store.flush().unwrap();
        }
    }
    writing.store(false, Ordering::SeqCst);
    let deleted = deleter.join().unwrap();
    let steps = compactor.join().unwrap();
    assert!(
        steps >= 2,
        "only {steps} compaction steps ran during the race"
    );
    assert_eq!(deleted.len() as u64, PREDICTIONS / DELETE_EVERY);
    check(&store, PREDICTIONS, &deleted, "after the race");

    store.flush().unwrap();
    // Bounded, so a policy that keeps planning steps fails the test instead of hanging it.
    let rounds = (0..20).take_while(|_| store.compact().unwrap() > 0).count();
    assert!(
        rounds < 20,
        "compaction still finds work after {rounds} calls"
    );
    check(&store, PREDICTIONS, &deleted, "purged");
    let again = store.track_metrics(MODEL, uuid(1), T0, &metrics(1));
    assert!(
        matches!(again, Err(Error::DuplicatePrediction { .. })),
        "{again:?}"
    );
    store.close().unwrap();
    drop(store);

    let manifest = Manifest::load(dir.path()).unwrap().unwrap();
    assert_eq!(
        manifest.deletions,
        Vec::new(),
        "deletions left after the purge"
    );
    let store = Store::open_with(dir.path(), options()).unwrap();
    check(&store, PREDICTIONS, &deleted, "reopened");
    store.close().unwrap();
}
