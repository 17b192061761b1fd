//! Readers on several threads iterate `read_metrics` and `read_tiered` while compaction
//! replaces the segments they read. A reader whose iterator was created before a compaction
//! returns exactly what the store held then. A reader that starts during it returns the state
//! before or after it, never a mix. The replaced segment files stay while a reader uses
//! them and disappear once the last one finishes.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Metrics, Options, Prediction, Retention, RollupTier, Store, Uuid};

const MODEL: &str = "m";
const DAY: i64 = 86_400_000;
/// Rounds of one day of data followed by a compaction.
const ROUNDS: i64 = 4;
const FLUSHES_PER_DAY: i64 = 8;
const PER_FLUSH: i64 = 40;
/// Readers whose iterators are created before each compaction and finished after it.
const PINNED_READERS: usize = 4;
/// Readers that read the whole window again and again during each compaction.
const FREE_READERS: usize = 2;
/// Rows a pinned reader reads before the compaction starts.
const ROWS_BEFORE: usize = 25;

fn options() -> Options {
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400))
        .then(RollupTier::every(Duration::from_secs(300)));
    Options::default()
        .flush_interval(Duration::from_secs(3600))
        .compaction(Compaction {
            enabled: false,
            partition: Duration::from_secs(86_400),
            retention,
            ..Compaction::default()
        })
}

fn uuid(n: i64) -> Uuid {
    Uuid::from_u128(0x7ead_0000_0000_0000_0000_0000_0000_0000 | n as u128)
}

/// Tracks one day of predictions in `FLUSHES_PER_DAY` segments, each prediction labeled in
/// the same flush.
fn fill_day(store: &Store, day: i64) {
    let per_day = FLUSHES_PER_DAY * PER_FLUSH;
    for flush in 0..FLUSHES_PER_DAY {
        for i in 0..PER_FLUSH {
            let n = day * per_day + flush * PER_FLUSH + i;
            let ts = day * DAY + (flush * PER_FLUSH + i) * (DAY / per_day);
            let score = Metrics::new().with("score", (n % 89) as f64 / 89.0);
            store.track_metrics(MODEL, uuid(n), ts, &score).unwrap();
            let label = Metrics::new().with("label", n % 3 == 0);
            store
                .track_delayed_metrics(uuid(n), ts + 1, &label)
                .unwrap();
        }
        store.flush().unwrap();
    }
}

/// What one read across tiers returns: the raw tier's start, each rollup's (start,
/// interval, predictions, labeled), and the raw predictions.
#[derive(Debug, PartialEq)]
struct Tiered {
    raw_from_ms: i64,
    rollups: Vec<(i64, i64, u64, u64)>,
    raw: Vec<Prediction>,
}

/// The reads of one state of the store.
#[derive(Debug, PartialEq)]
struct State {
    raw: Vec<Prediction>,
    tiered: Tiered,
}

fn read_state(store: &Store) -> State {
    let raw = store.read_metrics(MODEL, i64::MIN, i64::MAX).unwrap();
    State {
        raw: raw.map(Result::unwrap).collect(),
        tiered: read_tiered(store),
    }
}

fn read_tiered(store: &Store) -> Tiered {
    let window = store.read_tiered(MODEL, 0, ROUNDS * DAY).unwrap();
    let rollups = window.rollups.iter();
    Tiered {
        raw_from_ms: window.raw_from_ms,
        rollups: rollups
            .map(|r| (r.start_ms, r.interval_ms, r.predictions, r.labeled))
            .collect(),
        raw: window.raw.map(Result::unwrap).collect(),
    }
}

fn data_files(dir: &Path) -> BTreeSet<String> {
    let names = std::fs::read_dir(dir).unwrap();
    let names = names.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned());
    names
        .filter(|n| {
            ["seg-", "index-", "rollup-"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect()
}

fn listed_files(dir: &Path) -> BTreeSet<String> {
    Manifest::load(dir)
        .unwrap()
        .unwrap()
        .live_files()
        .into_iter()
        .collect()
}

/// Creates iterators, reads `ROWS_BEFORE` rows, waits at `started`
/// while the compaction runs, waits at `compacted`, then reads the rest.
fn pinned_reader(store: &Store, tiered: bool, started: &Barrier, compacted: &Barrier) -> State {
    let raw_first = !tiered;
    let mut raw = store.read_metrics(MODEL, i64::MIN, i64::MAX).unwrap();
    let window = store.read_tiered(MODEL, 0, ROUNDS * DAY).unwrap();
    let mut tiered_raw = window.raw;
    let mut raw_rows: Vec<Prediction> = Vec::new();
    let mut tiered_rows: Vec<Prediction> = Vec::new();
    let first = if raw_first { &mut raw } else { &mut tiered_raw };
    let first_rows = if raw_first {
        &mut raw_rows
    } else {
        &mut tiered_rows
    };
    first_rows.extend(first.take(ROWS_BEFORE).map(Result::unwrap));
    started.wait();
    compacted.wait();
    raw_rows.extend(raw.map(Result::unwrap));
    tiered_rows.extend(tiered_raw.map(Result::unwrap));
    let rollups = window.rollups.iter();
    State {
        raw: raw_rows,
        tiered: Tiered {
            raw_from_ms: window.raw_from_ms,
            rollups: rollups
                .map(|r| (r.start_ms, r.interval_ms, r.predictions, r.labeled))
                .collect(),
            raw: tiered_rows,
        },
    }
}

/// Reads the whole state again and again until `stop` is set.
fn free_reader(store: &Store, stop: &AtomicBool) -> Vec<State> {
    let mut states = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        states.push(read_state(store));
    }
    states
}

/// Runs one compaction with pinned and free readers, checks their reads, and returns the
/// number of whole reads that the free readers made and how many of them saw the compacted
/// raw tier.
fn compact_under_readers(store: &Store, dir: &Path, round: i64) -> (usize, usize) {
    let before = read_state(store);
    let readers = PINNED_READERS + 1;
    let (started, compacted) = (Barrier::new(readers), Barrier::new(readers));
    let stop = AtomicBool::new(false);
    let (started, compacted, stop) = (&started, &compacted, &stop);

    let (pinned, free) = thread::scope(|scope| {
        let pinned: Vec<_> = (0..PINNED_READERS)
            .map(|i| scope.spawn(move || pinned_reader(store, i % 2 == 1, started, compacted)))
            .collect();
        let free: Vec<_> = (0..FREE_READERS)
            .map(|_| scope.spawn(move || free_reader(store, stop)))
            .collect();

        started.wait();
        let steps = store.compact().unwrap();
        assert!(steps >= 1, "round {round}: no compaction step ran");
        stop.store(true, Ordering::SeqCst);
        let replaced = data_files(dir)
            .difference(&listed_files(dir))
            .any(|n| n.starts_with("seg-"));
        assert!(
            replaced,
            "round {round}: segments removed under their readers"
        );
        compacted.wait();

        let pinned: Vec<State> = pinned.into_iter().map(|h| h.join().unwrap()).collect();
        let free: Vec<State> = free.into_iter().flat_map(|h| h.join().unwrap()).collect();
        (pinned, free)
    });

    let after = read_state(store);
    check_reads(round, &before, &after, &pinned, &free);
    assert_eq!(
        data_files(dir),
        listed_files(dir),
        "round {round}: replaced files left"
    );
    let compacted_reads = free.iter().filter(|s| s.raw == after.raw).count();
    (free.len(), compacted_reads)
}

/// Checks that each pinned reader read the state `before` the compaction, and each free
/// reader the state before or `after` it.
fn check_reads(round: i64, before: &State, after: &State, pinned: &[State], free: &[State]) {
    for (i, state) in pinned.iter().enumerate() {
        assert!(
            state.raw == before.raw,
            "round {round}: pinned reader {i}, raw reads"
        );
        assert!(
            state.tiered == before.tiered,
            "round {round}: pinned reader {i}, tiered"
        );
    }
    // A free reader takes one snapshot for its raw read and another for its tiered read, so
    // each of the two matches one side on its own.
    for (i, state) in free.iter().enumerate() {
        let raw = state.raw == before.raw || state.raw == after.raw;
        assert!(
            raw,
            "round {round}: free read {i}, raw reads match neither side"
        );
        let tiered = state.tiered == before.tiered || state.tiered == after.tiered;
        assert!(
            tiered,
            "round {round}: free read {i}, tiered read matches neither side"
        );
    }
}

#[test]
fn readers_keep_their_snapshot_across_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    for round in 0..ROUNDS {
        fill_day(&store, round);
        let (reads, compacted) = compact_under_readers(&store, dir.path(), round);
        println!("round {round}: {reads} free reads checked, {compacted} of the compacted store");
    }
    let manifest = Manifest::load(dir.path()).unwrap().unwrap();
    assert!(manifest.raw_cutoff_ms > 0, "no prediction was rolled up");
    store.close().unwrap();
}
