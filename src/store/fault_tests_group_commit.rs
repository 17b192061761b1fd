//! Group commit under `Durability::Sync` with a sync that fails while threads wait. No caller
//! may hang, every caller that keeps writing must get `Error::Poisoned`, and every call that
//! returned `Ok` must be in a power-loss image of the store.
//!
//! Threads start and stop at different times, so leaders gather groups of changing sizes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use uuid::Uuid;

use crate::error::Error;
use crate::io::fault::{Fault, FaultyIo, Op};
use crate::options::{Compaction, Durability, Options};
use crate::store::Store;
use crate::value::Metrics;

const THREADS: u64 = 8;
/// Calls after which a thread stops if no error came.
const MAX_CALLS: u64 = 3_000;
/// Time after which a thread that has not returned counts as hung.
const HANG: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options::default()
        .durability(Durability::Sync)
        .flush_interval(Duration::from_secs(3600))
        .head_size_bytes(64 << 20)
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        })
}

fn uuid(thread: u64, call: u64) -> Uuid {
    Uuid::from_u64_pair(thread + 1, call)
}

/// What one thread's calls returned: the acknowledged UUIDs and the error that stopped it.
struct Outcome {
    acked: Vec<Uuid>,
    error: Option<Error>,
}

/// Tracks predictions until a call fails. Thread `t` first sleeps `t` ms and pauses after
/// every `t + 2` calls, so groups grow and shrink.
fn track_until_error(store: &Store, thread: u64) -> Outcome {
    thread::sleep(Duration::from_millis(thread));
    let metrics = Metrics::new().with("score", thread as f64);
    let mut acked = Vec::new();
    for call in 0..MAX_CALLS {
        let uuid = uuid(thread, call);
        if let Err(error) = store.track_metrics("m", uuid, call as i64, &metrics) {
            return Outcome {
                acked,
                error: Some(error),
            };
        }
        acked.push(uuid);
        if call % (thread + 2) == 0 {
            thread::sleep(Duration::from_micros(200 * thread));
        }
    }
    Outcome { acked, error: None }
}

/// Runs the threads and returns their outcomes, failing the test if one does not return.
fn run_threads(store: &Arc<Store>) -> Vec<Outcome> {
    let (sender, receiver) = mpsc::channel();
    for thread in 0..THREADS {
        let (store, sender) = (Arc::clone(store), sender.clone());
        thread::spawn(move || {
            let outcome = track_until_error(&store, thread);
            sender.send(outcome).unwrap();
        });
    }
    (0..THREADS)
        .map(|_| {
            receiver
                .recv_timeout(HANG)
                .expect("a writer did not return: group commit hangs")
        })
        .collect()
}

fn check_failed_sync(at: u64) {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultyIo::new();
    let store = Store::open_with_io(dir.path(), options(), Arc::new(io.clone())).unwrap();
    let store = Arc::new(store);
    // The log file exists before the fault, so the operations that follow are syncs.
    let first = Uuid::from_u128(u128::MAX);
    store.track_metrics("m", first, 0, &Metrics::new()).unwrap();
    io.arm(at, Fault::Io);

    let outcomes = run_threads(&store);
    let failed = io.failed().map(|(_, op)| op);
    assert_eq!(failed, Some(Op::SyncData), "operation {at}");
    for (thread, outcome) in outcomes.iter().enumerate() {
        let error = outcome.error.as_ref();
        assert!(
            matches!(error, Some(Error::Poisoned { .. })),
            "fault at {at}: thread {thread} ended with {error:?}"
        );
    }
    let late = store.track_metrics("m", Uuid::from_u128(1), 0, &Metrics::new());
    assert!(matches!(late, Err(Error::Poisoned { .. })), "{late:?}");

    let stored = uuids_after_power_loss(&io, dir.path(), options());
    for (thread, outcome) in outcomes.iter().enumerate() {
        for uuid in &outcome.acked {
            assert!(
                stored.contains(uuid),
                "fault at {at}: {uuid} of {thread} lost"
            );
        }
    }
}

#[test]
fn failed_sync_reaches_every_waiter() {
    for at in [1, 2, 7, 60] {
        check_failed_sync(at);
    }
}

/// Returns the UUIDs of model `m` that a store opened on the crash image of `dir` reads: what
/// survives a power loss at this moment. Disarms the faults first.
pub(super) fn uuids_after_power_loss(
    io: &FaultyIo,
    dir: &std::path::Path,
    options: Options,
) -> HashSet<Uuid> {
    let image = tempfile::tempdir().unwrap();
    let image = image.path().join("image");
    io.crash_image(dir, &image).unwrap();
    io.disarm();
    let reopened = Store::open_with(&image, options).unwrap();
    reopened
        .read_metrics("m", i64::MIN, i64::MAX)
        .unwrap()
        .map(|p| p.unwrap().uuid)
        .collect()
}
