//! A flush that meets a full disk while it writes the segment or the index run. The call fails
//! with a full-disk error naming the file, and reads still see every record. Once space is
//! back, the store accepts writes again and the background thread retries the flush by itself.
//! A reopen finds every acknowledged record exactly once.
//!
//! The log file is preallocated large, so records keep going into it while the disk is full,
//! and the head is small. Runs only as root; otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::time::{Duration, Instant};

use adversarial::{
    assert_disk_full_under, count_by_uuid, random_bytes, settled_problems, stray_files,
};
use modelmetrics::{Durability, Error, Metrics, Options, Store, Uuid};
use support::{files_with_prefix, metric, read_all, uuid};
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
const LOG_FILE_BYTES: u64 = 2 << 20;
const PAYLOAD_BYTES: usize = 2 << 10;
/// Predictions tracked before the disk fills: less than the head size, so no flush runs.
const BEFORE: u128 = 20;
/// How long the background thread gets to retry the flush once space is back.
const RETRY_TIMEOUT: Duration = Duration::from_secs(8);
const SEED_VAR: &str = "MODELMETRICS_TEST_FULL_FLUSH_SEED";

fn options() -> Options {
    Options::default()
        .durability(Durability::Os)
        .wal_file_size(LOG_FILE_BYTES)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .flush_interval(Duration::ZERO)
}

fn track(store: &Store, rng: &mut rand_chacha::ChaCha8Rng, n: u128) -> modelmetrics::Result<()> {
    let metrics = Metrics::new()
        .with("n", n as i64)
        .with("payload", random_bytes(rng, PAYLOAD_BYTES));
    store.track_metrics(MODEL, uuid(n), T0 + n as i64, &metrics)
}

fn assert_exactly_once(store: &Store, acked: &[Uuid], context: &str) {
    let rows = read_all(store, MODEL);
    let counts = count_by_uuid(&rows);
    for uuid in acked {
        assert_eq!(counts.get(uuid), Some(&1), "{context}: {uuid}");
    }
    assert_eq!(rows.len(), acked.len(), "{context}: rows read");
}

#[test]
fn flush_on_full_disk_is_retried() {
    let Some(fs) = Tmpfs::mount(8 << 20, "flush_on_full_disk_is_retried") else {
        return;
    };
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    let mut acked = Vec::new();
    for n in 0..BEFORE {
        track(&store, &mut rng, n).unwrap();
        acked.push(uuid(n));
    }
    store
        .track_delayed_metrics(uuid(0), T0, &metric("label", true))
        .unwrap();
    let filler = Filler::taking_all(&fs.path().join("filler"));

    let error = store.flush().expect_err("a flush on a full disk succeeded");
    println!("flush on the full disk: {error}");
    assert_disk_full_under(&error, fs.path(), "flush");
    let name = match &error {
        Error::Io { path, .. } => path.file_name().unwrap().to_string_lossy().into_owned(),
        _ => unreachable!(),
    };
    let names_data_file = name.starts_with("seg-") || name.starts_with("index-");
    assert!(
        names_data_file || name.starts_with("MANIFEST"),
        "the flush error names {name}"
    );
    let partial = settled_problems(|| {
        let mut names = files_with_prefix(&dir, "seg-");
        names.extend(files_with_prefix(&dir, "index-"));
        names
            .iter()
            .map(|path| path.display().to_string())
            .collect()
    });
    assert!(partial.is_empty(), "partial files left: {partial:?}");
    assert_exactly_once(&store, &acked, "after the failed flush");
    let labelled = store.lookup(uuid(0)).unwrap().unwrap();
    assert_eq!(labelled.delayed, metric("label", true));

    // The flush froze the head and started a new log file, which cannot be allocated now.
    let error = track(&store, &mut rng, BEFORE).unwrap_err();
    assert_disk_full_under(&error, fs.path(), "track on the full disk");

    filler.remove();
    for n in BEFORE + 1..BEFORE + 11 {
        track(&store, &mut rng, n).expect("track once space is back");
        acked.push(uuid(n));
    }
    let deadline = Instant::now() + RETRY_TIMEOUT;
    while files_with_prefix(&dir, "seg-").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !files_with_prefix(&dir, "seg-").is_empty(),
        "the background thread did not retry the failed flush within {RETRY_TIMEOUT:?}"
    );
    assert_exactly_once(&store, &acked, "after the retried flush");
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    assert_exactly_once(&store, &acked, "reopened");
    let labelled = store.lookup(uuid(0)).unwrap().unwrap();
    assert_eq!(labelled.delayed, metric("label", true), "reopened");
    store.close().unwrap();
    drop(store);
    let problems = stray_files(&dir);
    assert!(problems.is_empty(), "{problems:?}");
}
