//! `close` racing durable writers under `Durability::Sync` while an I/O operation fails: a sync
//! of the log, the creation of a log file, or a write of the flush that `close` runs. Whichever of the close, the failure
//! and the group's waiters comes first, no call may hang. A writer ends
//! with `Error::Closed` or `Error::Poisoned`, a call that starts after `close` returned never
//! succeeds, and every call that returned `Ok` is in a power-loss image of the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use uuid::Uuid;

use crate::error::Error;
use crate::io::fault::{Fault, FaultyIo};
use crate::options::{Compaction, Durability, Options};
use crate::store::Store;
use crate::value::Metrics;

use super::fault_tests_group_commit::uuids_after_power_loss;

const WRITERS: u64 = 6;
/// Calls after which a writer stops if no error came, far more than it makes before `close`.
const MAX_CALLS: u64 = 1_000_000;
/// Time after which a thread that has not returned counts as hung.
const HANG: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options::default()
        .durability(Durability::Sync)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

/// Acknowledged UUIDs of one writer and the error that stopped it.
struct Outcome {
    acked: Vec<Uuid>,
    error: Option<Error>,
}

fn track_until_error(store: &Store, writer: u64, closed: &AtomicBool) -> Outcome {
    let metrics = Metrics::new().with("writer", writer as i64);
    let mut acked = Vec::new();
    for call in 0..MAX_CALLS {
        let uuid = Uuid::from_u64_pair(writer + 1, call);
        let after_close = closed.load(Ordering::SeqCst);
        match store.track_metrics("m", uuid, call as i64, &metrics) {
            Ok(()) => {
                assert!(
                    !after_close,
                    "writer {writer}: a call after close succeeded"
                );
                acked.push(uuid);
            }
            // A log file that cannot be created or preallocated fails only its call, and the
            // store stays usable, so the writer goes on. The fault fires once.
            Err(Error::Io { .. }) => {}
            Err(error) => {
                return Outcome {
                    acked,
                    error: Some(error),
                };
            }
        }
    }
    Outcome { acked, error: None }
}

/// Runs the writers, closes the store after `close_after`, and returns the writers' outcomes
/// and the result of `close`, failing the test if a thread does not return.
fn race(store: &Arc<Store>, close_after: Duration) -> (Vec<Outcome>, crate::Result<()>) {
    let closed = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    for writer in 0..WRITERS {
        let (store, sender, closed) = (Arc::clone(store), sender.clone(), Arc::clone(&closed));
        thread::spawn(move || {
            let outcome = track_until_error(&store, writer, &closed);
            sender.send(outcome).unwrap();
        });
    }
    let (close_sender, close_receiver) = mpsc::channel();
    {
        let (store, closed) = (Arc::clone(store), Arc::clone(&closed));
        thread::spawn(move || {
            thread::sleep(close_after);
            let result = store.close();
            closed.store(true, Ordering::SeqCst);
            close_sender.send(result).unwrap();
        });
    }
    let outcomes = (0..WRITERS)
        .map(|_| {
            receiver
                .recv_timeout(HANG)
                .expect("a writer did not return: group commit or close hangs")
        })
        .collect();
    let closed = close_receiver
        .recv_timeout(HANG)
        .expect("close did not return");
    (outcomes, closed)
}

/// Runs the race with an I/O error at operation `at`, or with none.
fn check_close_race(at: Option<u64>, close_after: Duration) {
    let context = format!("fault at {at:?}, close after {close_after:?}");
    let dir = tempfile::tempdir().unwrap();
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir.path(), options(), Arc::new(io.clone())).unwrap();
    let store = Arc::new(store);
    if let Some(at) = at {
        io.arm(at, Fault::Io);
    }

    let (outcomes, closed) = race(&store, close_after);
    for (writer, outcome) in outcomes.iter().enumerate() {
        let error = outcome.error.as_ref();
        let expected = matches!(error, Some(Error::Closed | Error::Poisoned { .. }));
        assert!(expected, "{context}: writer {writer} ended with {error:?}");
    }
    let late = store.track_metrics("m", Uuid::from_u128(1), 0, &Metrics::new());
    let rejected = matches!(late, Err(Error::Closed | Error::Poisoned { .. }));
    assert!(rejected, "{context}: a write after close returned {late:?}");
    assert!(
        store.close().is_ok() || closed.is_err(),
        "{context}: a second close failed"
    );

    let stored = uuids_after_power_loss(&io, dir.path(), options());
    for (writer, outcome) in outcomes.iter().enumerate() {
        for uuid in &outcome.acked {
            assert!(
                stored.contains(uuid),
                "{context}: {uuid} of writer {writer} lost"
            );
        }
    }
}

#[test]
fn close_racing_failed_sync_loses_no_ack() {
    for at in [3, 12, 40, 90, 200] {
        for close_after_ms in [0, 2, 20] {
            check_close_race(Some(at), Duration::from_millis(close_after_ms));
        }
    }
}

/// With no fault at all, the writers end with `Error::Closed` and keep every acknowledged
/// call.
#[test]
fn close_racing_durable_writers_loses_no_ack() {
    for close_after_ms in [0, 1, 5, 30] {
        check_close_race(None, Duration::from_millis(close_after_ms));
    }
}

/// A deletion that waits for `flush_lock` while `close` runs must not write its manifest
/// once it gets the lock, because `close` may have unlocked the directory by then. The test
/// holds the lock and sets `closed` as `close` does first.
#[test]
fn deletion_waiting_on_close_writes_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let metrics = Metrics::new().with("x", 1.0);
    store
        .track_metrics("m", Uuid::from_u128(1), 0, &metrics)
        .unwrap();
    let flushing = store.inner.flush_lock.lock();
    let deleting = {
        let store = Arc::clone(&store);
        thread::spawn(move || store.delete_model("m"))
    };
    // Long enough for the deletion to pass its first check and wait on the lock.
    thread::sleep(Duration::from_millis(100));
    store.inner.closed.store(true, Ordering::SeqCst);
    drop(flushing);

    let deleted = deleting.join().unwrap();
    assert!(matches!(deleted, Err(Error::Closed)), "{deleted:?}");
    let manifest = crate::manifest::Manifest::load(dir.path())
        .unwrap()
        .unwrap();
    assert!(manifest.deletions.is_empty(), "{:?}", manifest.deletions);
}
