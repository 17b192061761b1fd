//! A real full disk met by the store's own writes: log files preallocated as they roll over,
//! segments and index runs written at flush, on a tmpfs of 8 MiB whose rest a filler file
//! takes.
//!
//! The failing call must return an error for which `Error::is_disk_full` is true and that names
//! a path, and the store must not reject later writes for good. Once the filler is deleted,
//! writes must resume without a reopen, and a reopen must find every acknowledged record
//! exactly once. Runs only as root; otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::collections::HashSet;

use adversarial::{assert_disk_full_under, count_by_uuid, random_bytes, stray_files};
use modelmetrics::{Error, Metrics, Options, Store, Uuid, Value};
use support::{read_all, uuid};
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
/// Bytes of the random payload of each prediction: a few per log file and per head.
const PAYLOAD_BYTES: usize = 3 << 10;
/// Free space left by the filler for the store to fill.
const ROOM_BYTES: u64 = 1 << 20;
/// Calls after which the test gives up waiting for the disk to fill.
const MAX_CALLS: u128 = 5_000;
const SEED_VAR: &str = "MODELMETRICS_TEST_FULL_LOG_SEED";
/// Failed calls in a row after which the disk counts as full for the store's flushes.
const MAX_FAILURES_IN_A_ROW: usize = 20;

fn options() -> Options {
    Options::default()
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .flush_interval(std::time::Duration::ZERO)
}

fn prediction_metrics(n: u128, payload: Vec<u8>) -> Metrics {
    Metrics::new().with("n", n as i64).with("payload", payload)
}

fn track(store: &Store, n: u128, payload: Vec<u8>) -> modelmetrics::Result<()> {
    let metrics = prediction_metrics(n, payload);
    store.track_metrics(MODEL, uuid(n), T0 + n as i64, &metrics)
}

/// Outcome of the calls made so far: acknowledged UUIDs, and UUIDs whose call failed.
#[derive(Default)]
struct Calls {
    acked: Vec<Uuid>,
    failed: HashSet<Uuid>,
}

/// Checks that every acknowledged prediction is read exactly once with its number, and that a
/// prediction whose call failed is read at most once.
fn check_reads(store: &Store, calls: &Calls, context: &str) {
    let rows = read_all(store, MODEL);
    let counts = count_by_uuid(&rows);
    for uuid in &calls.acked {
        assert_eq!(
            counts.get(uuid),
            Some(&1),
            "{context}: acknowledged {uuid} read {:?} times",
            counts.get(uuid)
        );
    }
    for (uuid, count) in &counts {
        assert_eq!(*count, 1, "{context}: {uuid} read {count} times");
        let known = calls.acked.contains(uuid) || calls.failed.contains(uuid);
        assert!(known, "{context}: {uuid} was never tracked");
    }
    for row in &rows {
        let n = row.uuid.as_u128() & 0xffff_ffff;
        assert_eq!(
            row.metrics.get("n"),
            Some(&Value::I64(n as i64)),
            "{context}: {}",
            row.uuid
        );
    }
}

/// Returns the name of the file that a full-disk error names.
fn failed_file(error: &Error) -> String {
    match error {
        Error::Io { path, .. } => path.file_name().unwrap().to_string_lossy().into_owned(),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn store_filling_disk_fails_then_resumes() {
    let Some(fs) = Tmpfs::mount(8 << 20, "store_filling_disk_fails_then_resumes") else {
        return;
    };
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    let filler = Filler::leaving(&fs.path().join("filler"), ROOM_BYTES);

    // Track until a call fails at the allocation of a log file, or until calls keep failing at
    // the flush that back-pressure runs before writing. That happens when the head is at twice
    // its size and the disk has no room for a segment. A flush that fails removes its partial
    // files, so calls after it may succeed again for a while.
    let mut calls = Calls::default();
    let mut failed_files = Vec::new();
    let mut failures_in_a_row = 0;
    let mut n = 0;
    let log_full = |names: &[String]| names.iter().any(|name| name.starts_with("wal-"));
    while n < MAX_CALLS && !log_full(&failed_files) && failures_in_a_row < MAX_FAILURES_IN_A_ROW {
        let result = track(&store, n, random_bytes(&mut rng, PAYLOAD_BYTES));
        match result {
            Ok(()) => {
                calls.acked.push(uuid(n));
                failures_in_a_row = 0;
            }
            Err(error) => {
                calls.failed.insert(uuid(n));
                failures_in_a_row += 1;
                assert!(
                    !matches!(error, Error::Poisoned { .. }),
                    "a full disk poisoned the store: {error}"
                );
                assert_disk_full_under(&error, fs.path(), "call on the full disk");
                failed_files.push(failed_file(&error));
            }
        }
        n += 1;
    }
    println!(
        "{} calls acknowledged, {} failed, the last failed call named {:?}",
        calls.acked.len(),
        calls.failed.len(),
        failed_files.last()
    );
    assert!(
        log_full(&failed_files) || failures_in_a_row == MAX_FAILURES_IN_A_ROW,
        "the disk never filled: {} calls failed",
        failed_files.len()
    );
    let flush_files = ["seg-", "index-", "MANIFEST.tmp"];
    for name in &failed_files {
        let known = name.starts_with("wal-") || flush_files.iter().any(|f| name.starts_with(f));
        assert!(known, "a call failed on an unexpected file {name}");
    }

    // The store is not poisoned: later calls fail for lack of space or, when a failed flush
    // gave its partial files back, succeed.
    for _ in 0..5 {
        match track(&store, n, random_bytes(&mut rng, PAYLOAD_BYTES)) {
            Ok(()) => calls.acked.push(uuid(n)),
            Err(error) => {
                calls.failed.insert(uuid(n));
                assert!(
                    !matches!(error, Error::Poisoned { .. }),
                    "a full disk poisoned the store: {error}"
                );
                assert_disk_full_under(&error, fs.path(), "call on the full disk");
            }
        }
        n += 1;
    }
    check_reads(&store, &calls, "disk full");
    if let Err(error) = store.flush() {
        assert_disk_full_under(&error, fs.path(), "flush on the full disk");
    }

    // Space comes back: writes resume without a reopen.
    filler.remove();
    track(&store, n, random_bytes(&mut rng, PAYLOAD_BYTES))
        .expect("the first call after space came back failed");
    calls.acked.push(uuid(n));
    n += 1;
    for _ in 0..20 {
        track(&store, n, random_bytes(&mut rng, PAYLOAD_BYTES)).unwrap();
        calls.acked.push(uuid(n));
        n += 1;
    }
    store.flush().expect("flush after space came back");
    check_reads(&store, &calls, "space back");
    store.close().expect("close after space came back");
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    check_reads(&store, &calls, "reopened");
    for uuid in calls.acked.iter().step_by(17) {
        assert!(store.lookup(*uuid).unwrap().is_some(), "lookup {uuid}");
    }
    store.close().unwrap();
    drop(store);
    let problems = stray_files(&dir);
    assert!(problems.is_empty(), "{problems:?}");
}
