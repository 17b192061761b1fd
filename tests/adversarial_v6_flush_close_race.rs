//! Checks `close` racing a thread that tracks predictions and flushes. The flush may return
//! `Error::Closed`, but every prediction whose `track_metrics` returned `Ok` must be found
//! after a reopen, and the index runs that the manifest lists must contain exactly those.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use modelmetrics::index::IndexRun;
use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Error, Metrics, Options, Store, Uuid};

const ROUNDS: u64 = 6;
const PER_FLUSH: u64 = 50;

fn uuid(round: u64, n: u64) -> Uuid {
    Uuid::from_u128((u128::from(round + 1) << 64) | u128::from(n))
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Tracks and flushes until the store closes, then returns how many predictions it accepted.
fn track_until_closed(store: &Store, round: u64) -> u64 {
    let mut accepted = 0;
    loop {
        let metrics = Metrics::new().with("score", 0.5);
        let timestamp = (round * 1_000_000 + accepted) as i64;
        match store.track_metrics("m", uuid(round, accepted), timestamp, &metrics) {
            Ok(()) => accepted += 1,
            Err(Error::Closed) => return accepted,
            Err(e) => panic!("track failed: {e}"),
        }
        if accepted % PER_FLUSH == 0 {
            match store.flush() {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => panic!("flush failed: {e}"),
            }
        }
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
fn close_during_flushes_keeps_accepted_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    let mut accepted_per_round = Vec::new();
    for round in 0..ROUNDS {
        let store = Store::open_with(dir.path(), options()).unwrap();
        let accepted = std::thread::scope(|scope| {
            let writer = scope.spawn(|| track_until_closed(&store, round));
            std::thread::sleep(Duration::from_millis(2 + 3 * round));
            store.close().unwrap();
            writer.join().unwrap()
        });
        assert!(accepted > 0, "round {round} accepted nothing");
        total += accepted;
        accepted_per_round.push(accepted);
        drop(store);
        assert_eq!(listed_entries(dir.path()), total, "after round {round}");
    }

    let store = Store::open_with(dir.path(), options()).unwrap();
    for (round, &accepted) in (0..).zip(&accepted_per_round) {
        for n in 0..accepted {
            let found = store.lookup(uuid(round, n)).unwrap();
            assert!(found.is_some(), "prediction {n} of round {round} not found");
        }
        let next = store.lookup(uuid(round, accepted)).unwrap();
        assert!(
            next.is_none(),
            "round {round}: a rejected prediction was stored"
        );
    }
}
