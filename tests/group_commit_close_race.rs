//! Group commit under `Durability::Sync` while other calls race with its waiters. One test
//! runs `sync` and `flush` in a loop and then calls `close` while writers still write. The
//! other runs a lone writer after sixteen. No call may hang, a write after close must fail with
//! `Error::Closed`, and every write that returned `Ok` must be there after a new open.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use modelmetrics::{
    Durability, Error, MetricColumn, Metrics, NewPredictionColumns, Options, Store, Uuid,
};
use support::{ALL_END, ALL_START};

const WRITERS: u64 = 6;
const COLUMN_ROWS: u64 = 4;
/// Time after which a thread that has not returned counts as hung.
const HANG: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options::default()
        .durability(Durability::Sync)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

fn uuid(thread: u64, call: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(thread + 1, call << 8 | row)
}

/// Tracks one prediction or, on odd calls, a columnar batch. Returns the UUIDs it tracked.
fn track(store: &Store, thread: u64, call: u64) -> Result<Vec<Uuid>, Error> {
    if call.is_multiple_of(2) {
        let uuid = uuid(thread, call, 0);
        let metrics = Metrics::new().with("score", call as f64);
        store.track_metrics("m", uuid, call as i64, &metrics)?;
        return Ok(vec![uuid]);
    }
    let uuids: Vec<Uuid> = (0..COLUMN_ROWS)
        .map(|row| uuid(thread, call, row))
        .collect();
    let batch = NewPredictionColumns {
        model: "m".into(),
        uuids: uuids.clone(),
        timestamps_ms: vec![call as i64; COLUMN_ROWS as usize],
        metrics: vec![(
            "score".into(),
            MetricColumn::F64(vec![call as f64; COLUMN_ROWS as usize]),
        )],
    };
    store.track_metrics_columns(batch)?;
    Ok(uuids)
}

/// Writes until a call fails or `calls` calls are done. Returns the acknowledged UUIDs and
/// the error that stopped the thread.
fn write(store: &Store, thread: u64, calls: u64) -> (Vec<Uuid>, Option<Error>) {
    let mut acked = Vec::new();
    for call in 0..calls {
        match track(store, thread, call) {
            Ok(uuids) => acked.extend(uuids),
            Err(error) => return (acked, Some(error)),
        }
    }
    (acked, None)
}

/// Runs `write` in `threads` threads and returns their outcomes, failing on a hang.
fn write_from_threads(
    store: &Arc<Store>,
    threads: std::ops::Range<u64>,
    calls: u64,
) -> mpsc::Receiver<(Vec<Uuid>, Option<Error>)> {
    let (sender, receiver) = mpsc::channel();
    for thread in threads {
        let (store, sender) = (Arc::clone(store), sender.clone());
        thread::spawn(move || sender.send(write(&store, thread, calls)).unwrap());
    }
    receiver
}

fn stored_uuids(store: &Store) -> HashSet<Uuid> {
    store
        .read_metrics("m", ALL_START, ALL_END)
        .unwrap()
        .map(|p| p.unwrap().uuid)
        .collect()
}

#[test]
fn close_while_writers_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        thread::spawn(move || {
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                let synced = store.sync().and_then(|()| store.flush());
                if let Err(error) = synced {
                    assert!(matches!(error, Error::Closed), "{error}");
                    break;
                }
                calls += 1;
            }
            calls
        })
    };
    let outcomes = write_from_threads(&store, 0..WRITERS, u64::MAX);
    thread::sleep(Duration::from_millis(300));
    store.close().unwrap();
    stop.store(true, Ordering::Relaxed);

    let mut acked = Vec::new();
    for _ in 0..WRITERS {
        let (uuids, error) = outcomes.recv_timeout(HANG).expect("a writer hangs");
        assert!(matches!(error, Some(Error::Closed)), "{error:?}");
        acked.extend(uuids);
    }
    assert!(syncer.join().unwrap() > 0, "sync and flush never ran");
    assert!(!acked.is_empty());

    drop(store);
    let reopened = Store::open_with(dir.path(), options()).unwrap();
    let stored = stored_uuids(&reopened);
    let lost = acked.iter().filter(|u| !stored.contains(u)).count();
    assert_eq!(lost, 0, "{lost} of {} acknowledged UUIDs lost", acked.len());
    assert_eq!(stored.len(), acked.len());
}

#[test]
fn lone_writer_after_sixteen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let mut acked = Vec::new();
    let many = write_from_threads(&store, 0..16, 40);
    for _ in 0..16 {
        let (uuids, error) = many.recv_timeout(HANG).expect("a writer hangs");
        assert!(error.is_none(), "{error:?}");
        acked.extend(uuids);
    }
    let lone = write_from_threads(&store, 100..101, 300);
    let (uuids, error) = lone.recv_timeout(HANG).expect("the lone writer hangs");
    assert!(error.is_none(), "{error:?}");
    acked.extend(uuids);

    store.close().unwrap();
    drop(store);
    let reopened = Store::open_with(dir.path(), options()).unwrap();
    let stored = stored_uuids(&reopened);
    assert_eq!(stored.len(), acked.len());
    assert!(acked.iter().all(|u| stored.contains(u)));
}
