//! Options at the ends of their types: zstd levels far outside zstd's range, a flush interval
//! of 1 ns with a sync interval of zero, and a log file size that no file system can allocate.
//! Each store either works or rejects the option clearly, and none ends up rejecting every write.

mod support;

use std::time::Duration;

use modelmetrics::{Durability, Error, Metrics, Options, Store};
use support::{metric, read_all, uuid};

const MODEL: &str = "options";

fn payload_metrics(n: u128) -> Metrics {
    Metrics::new()
        .with("payload", vec![7u8; 10_000])
        .with("category", format!("c{}", n % 3))
        .with("n", n as i64)
}

#[test]
fn extreme_zstd_levels_still_flush() {
    for level in [i32::MIN, -200_000, -1, 0, 22, 23, i32::MAX] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().zstd_level(level);
        let store = Store::open_with(dir.path(), options.clone()).unwrap();
        for n in 0..20 {
            store
                .track_metrics(MODEL, uuid(n), n as i64, &payload_metrics(n))
                .unwrap();
        }
        store
            .flush()
            .unwrap_or_else(|e| panic!("zstd level {level}: flush failed: {e}"));
        store.close().unwrap();
        drop(store);
        let store = Store::open_with(dir.path(), options).unwrap();
        let rows = read_all(&store, MODEL);
        assert_eq!(rows.len(), 20, "zstd level {level}");
        assert_eq!(
            rows[3].metrics.get("payload"),
            payload_metrics(3).get("payload")
        );
        store.close().unwrap();
    }
}

#[test]
fn tiny_intervals_keep_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .durability(Durability::Interval(Duration::ZERO))
        .flush_interval(Duration::from_nanos(1));
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    for n in 0..200 {
        store
            .track_metrics(MODEL, uuid(n), n as i64, &metric("n", n as i64))
            .unwrap();
        if n.is_multiple_of(50) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let segments = support::files_with_prefix(dir.path(), "seg-").len();
    assert!(segments > 0, "a flush interval of 1 ns flushed nothing");
    assert_eq!(read_all(&store, MODEL).len(), 200);
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(dir.path(), options).unwrap();
    assert_eq!(read_all(&store, MODEL).len(), 200);
    store.close().unwrap();
}

/// A log file size that cannot be allocated must be rejected when the store opens, or fail
/// only the calls that need a new file: it must not make the store reject every later write.
#[test]
fn unallocatable_log_size_not_poisoning() {
    for size in [u64::MAX, 1 << 62] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().wal_file_size(size);
        let store = match Store::open_with(dir.path(), options) {
            Err(error) => {
                let text = error.to_string();
                assert!(
                    matches!(error, Error::InvalidInput { .. }),
                    "{size}: {error:?}"
                );
                assert!(text.contains("wal_file_size"), "{size}: {text}");
                continue;
            }
            Ok(store) => store,
        };
        for n in 0..3 {
            let result = store.track_metrics(MODEL, uuid(n), 0, &metric("n", 1));
            let Err(error) = result else {
                continue;
            };
            assert!(
                !matches!(error, Error::Poisoned { .. }),
                "wal_file_size {size}: call {n} returned {error}"
            );
        }
        drop(store);
    }
}
