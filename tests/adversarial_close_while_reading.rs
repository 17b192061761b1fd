//! `close` on one thread while other threads read, write and flush: every call returns data or
//! `Error::Closed`, nothing panics or deadlocks, an iterator taken before `close` still returns
//! its whole snapshot, and a reopen finds every acknowledged write exactly once. Several rounds
//! close at random points.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use modelmetrics::{Error, Metrics, Options, Store, Uuid};
use rand::RngExt;
use support::{ALL_END, ALL_START, metric, read_all, uuid};

const MODEL: &str = "closing";
const T0: i64 = 1_700_000_000_000;
const ROUNDS: u64 = 12;
const PREFILLED: u128 = 300;
const READERS: usize = 3;
const WRITERS: u128 = 2;
/// Maximum wait for a thread to finish once the store is closed. A longer wait is a deadlock.
const FINISH_TIMEOUT: Duration = Duration::from_secs(20);
const CLOSE_DELAY_MS: std::ops::Range<u64> = 0..60;
const SEED_VAR: &str = "MODELMETRICS_TEST_CLOSE_SEED";

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// Fails the test unless `result` is data or `Error::Closed`; returns the data.
fn data_or_closed<T>(result: modelmetrics::Result<T>, call: &str) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(Error::Closed) => None,
        Err(other) => panic!("{call} during close returned {other:?}"),
    }
}

/// Reads until the store reports `Error::Closed` several times; returns the number of reads.
fn reader(store: &Store, id: usize) -> u64 {
    let mut reads = 0;
    let mut closed = 0;
    while closed < 5 {
        let got = match reads % 4 {
            0 => data_or_closed(
                store.read_metrics(MODEL, ALL_START, ALL_END),
                "read_metrics",
            )
            .map(|rows| {
                // The iterator keeps its snapshot whether or not the store closes meanwhile.
                let rows: Vec<_> = rows.collect::<Result<_, _>>().unwrap();
                assert!(
                    rows.len() >= PREFILLED as usize,
                    "reader {id}: {}",
                    rows.len()
                );
            }),
            1 => data_or_closed(store.lookup(uuid(reads as u128 % PREFILLED)), "lookup")
                .map(|found| assert!(found.is_some(), "reader {id}: lookup")),
            2 => data_or_closed(
                store.read_aggregate_metrics(MODEL, ALL_START, ALL_END),
                "read_aggregate_metrics",
            )
            .map(|windows| assert_eq!(windows.len(), 1, "reader {id}")),
            _ => data_or_closed(store.orphaned_delayed_metrics(), "orphaned_delayed_metrics")
                .map(|orphans| assert_eq!(orphans.len(), 1, "reader {id}")),
        };
        if got.is_none() {
            closed += 1;
        }
        reads += 1;
    }
    reads
}

/// Tracks predictions until the store is closed; returns the acknowledged ones.
fn writer(store: &Store, id: u128) -> Vec<Uuid> {
    let mut acked = Vec::new();
    for n in 0.. {
        let key = uuid(1_000_000 * (id + 1) + n);
        let call = store.track_metrics(MODEL, key, T0 + n as i64, &metric("n", n as i64));
        match call {
            Ok(()) => acked.push(key),
            Err(Error::Closed) => break,
            Err(other) => panic!("writer {id}: track during close returned {other:?}"),
        }
    }
    acked
}

fn flusher(store: &Store, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        if data_or_closed(store.flush(), "flush").is_none() {
            return;
        }
        thread::sleep(Duration::from_millis(3));
    }
}

fn prefill(store: &Store) {
    for n in 0..PREFILLED {
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64, &metric("n", n as i64))
            .unwrap();
        if n == PREFILLED / 2 {
            store.flush().unwrap();
        }
    }
    let auc = Metrics::new().with("auc", 0.75);
    store.track_aggregate_metrics(MODEL, 0, 10, &auc).unwrap();
    store
        .track_delayed_metrics(uuid(999_999), T0, &metric("label", true))
        .unwrap();
}

/// Runs `work` on a new thread and returns a receiver for its result.
fn spawn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver
}

fn wait<T>(receiver: mpsc::Receiver<T>, thread_name: &str, round: u64) -> T {
    match receiver.recv_timeout(FINISH_TIMEOUT) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "round {round}: {thread_name} did not finish within {FINISH_TIMEOUT:?}: deadlock?"
            )
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("round {round}: {thread_name} panicked")
        }
    }
}

fn run_round(root: &std::path::Path, round: u64, close_delay: Duration) {
    let dir = root.join(format!("round-{round}"));
    let store = Arc::new(Store::open_with(&dir, options()).unwrap());
    prefill(&store);
    let early = store.read_metrics(MODEL, ALL_START, ALL_END).unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|id| {
            let store = Arc::clone(&store);
            spawn(move || reader(&store, id))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let store = Arc::clone(&store);
            spawn(move || writer(&store, id))
        })
        .collect();
    let flushes = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        spawn(move || flusher(&store, &stop))
    };
    thread::sleep(close_delay);
    let closed = {
        let store = Arc::clone(&store);
        spawn(move || store.close())
    };
    wait(closed, "close", round).expect("close during reads");
    for reader in readers {
        wait(reader, "a reader", round);
    }
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(wait(writer, "a writer", round));
    }
    stop.store(true, Ordering::Release);
    wait(flushes, "the flusher", round);
    let early_rows: Vec<_> = early.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        early_rows.len(),
        PREFILLED as usize,
        "round {round}: early iterator"
    );
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for row in read_all(&store, MODEL) {
        *counts.entry(row.uuid).or_default() += 1;
    }
    let prefilled = (0..PREFILLED).map(uuid);
    for key in prefilled.chain(acked.iter().copied()) {
        assert_eq!(
            counts.get(&key),
            Some(&1),
            "round {round}: {key} after reopen"
        );
    }
    assert_eq!(
        counts.len(),
        PREFILLED as usize + acked.len(),
        "round {round}"
    );
    store.close().unwrap();
    println!(
        "round {round}: closed after {close_delay:?}, {} writes acknowledged",
        acked.len()
    );
}

#[test]
fn close_during_reads_and_writes() {
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let root = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(rng.random_range(CLOSE_DELAY_MS));
        run_round(root.path(), round, delay);
    }
}
