//! Many threads call `track_metrics` at once under `Durability::Sync` and
//! `Durability::Interval`, while a small head and small log files make the store flush and
//! start log files under them. Every call returns `Ok`, and every prediction is stored exactly
//! once: in a copy of the directory taken before close, as a killed process would leave it, and
//! after close and a new open.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Durability, Metrics, Options, Store, Uuid};
use support::{ALL_END, ALL_START, list_files};

const THREADS: u64 = 16;
const CALLS_PER_THREAD: u64 = 500;
const MODEL: &str = "stress";
const T0: i64 = 1_700_000_000_000;

fn uuid(thread: u64, call: u64) -> Uuid {
    Uuid::from_u128(0x57e5_u128 << 112 | u128::from(thread) << 32 | u128::from(call))
}

fn metrics(thread: u64, call: u64) -> Metrics {
    Metrics::new()
        .with("call", call as i64)
        .with("payload", vec![call as u8; 100])
        .with("thread", thread as i64)
}

fn options(durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// Tracks `CALLS_PER_THREAD` predictions from each of `THREADS` threads and returns the UUIDs
/// of the calls that returned `Ok`, which must be all of them.
fn track_from_threads(store: &Arc<Store>) -> Vec<Uuid> {
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(store);
            thread::spawn(move || {
                let mut acked = Vec::with_capacity(CALLS_PER_THREAD as usize);
                for call in 0..CALLS_PER_THREAD {
                    let timestamp = T0 + (call * THREADS + thread) as i64;
                    let result = store.track_metrics(
                        MODEL,
                        uuid(thread, call),
                        timestamp,
                        &metrics(thread, call),
                    );
                    result.unwrap_or_else(|e| panic!("thread {thread} call {call}: {e}"));
                    acked.push(uuid(thread, call));
                }
                acked
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect()
}

/// Opens the store in `dir` and checks that it contains each of `acked` exactly once, with its
/// metrics, and nothing else.
fn check_exactly_once(dir: &Path, durability: Durability, acked: &[Uuid], context: &str) {
    let store = Store::open_with(dir, options(durability)).unwrap();
    let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(acked.len());
    for row in store.read_metrics(MODEL, ALL_START, ALL_END).unwrap() {
        let row = row.unwrap();
        *seen.entry(row.uuid).or_default() += 1;
        let thread = row.metrics.get("thread").cloned();
        let call = row.metrics.get("call").cloned();
        let (Some(modelmetrics::Value::I64(thread)), Some(modelmetrics::Value::I64(call))) =
            (thread, call)
        else {
            panic!("{context}: {} lacks its thread or call", row.uuid);
        };
        assert_eq!(row.uuid, uuid(thread as u64, call as u64), "{context}");
        assert_eq!(
            row.metrics,
            metrics(thread as u64, call as u64),
            "{context}"
        );
    }
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "{context}: stored more than once: {twice:?}"
    );
    let missing: Vec<_> = acked.iter().filter(|u| !seen.contains_key(u)).collect();
    assert!(
        missing.is_empty(),
        "{context}: {} acknowledged predictions missing",
        missing.len()
    );
    assert_eq!(
        seen.len(),
        acked.len(),
        "{context}: predictions never tracked"
    );
    store.close().unwrap();
}

/// Copies every file of `dir` except `LOCK` into `image`, as a killed process would leave the
/// store. It copies again until the names and sizes of the files are the same before and
/// after a copy, so that no background flush ran during it.
fn copy_between_flushes(dir: &Path, image: &Path) {
    for _ in 0..100 {
        let before = list_files(dir);
        if try_copy(dir, image).is_ok() && list_files(dir) == before {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{} kept changing during 100 copies", dir.display());
}

/// Copies the files of `dir` except `LOCK` into a new `image`; fails when a file vanishes.
fn try_copy(dir: &Path, image: &Path) -> std::io::Result<()> {
    if image.exists() {
        fs::remove_dir_all(image)?;
    }
    fs::create_dir(image)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), image.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn stress(durability: Durability) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = Arc::new(Store::open_with(&dir, options(durability)).unwrap());
    let started = Instant::now();
    let acked = track_from_threads(&store);
    println!(
        "{durability:?}: {} calls from {THREADS} threads in {:?}",
        acked.len(),
        started.elapsed()
    );
    assert_eq!(acked.len() as u64, THREADS * CALLS_PER_THREAD);

    let image = root.path().join("image");
    copy_between_flushes(&dir, &image);
    check_exactly_once(
        &image,
        durability,
        &acked,
        &format!("{durability:?}, killed copy"),
    );
    store.close().unwrap();
    drop(store);
    check_exactly_once(
        &dir,
        durability,
        &acked,
        &format!("{durability:?}, after close"),
    );
}

#[test]
fn sync_group_commit_keeps_every_call() {
    stress(Durability::Sync);
}

#[test]
fn interval_durability_keeps_every_call() {
    stress(Durability::Interval(Duration::from_millis(5)));
}
