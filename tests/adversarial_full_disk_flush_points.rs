//! A flush retried with one more free page each time, so that the disk fills at every point of
//! the flush path in turn: the segment, the index run, the temporary manifest. Each failure is a
//! full-disk error naming the file, leaves no partial file behind and loses no record. Once
//! there is room the flush succeeds, and a reopen finds every record exactly once.
//!
//! Runs only as root; otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::collections::BTreeSet;
use std::time::Duration;

use adversarial::{assert_disk_full_under, count_by_uuid, settled_problems, stray_files};
use modelmetrics::{Durability, Error, Metrics, Options, Store, Uuid};
use support::{metric, read_all, uuid};
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
const PREDICTIONS: u128 = 300;
/// Free pages of the last attempt: more than a flush of this head needs.
const MAX_FREE_PAGES: u64 = 128;
const PAGE: u64 = 4096;

fn options() -> Options {
    Options::default()
        .durability(Durability::Os)
        .wal_file_size(1 << 20)
        .flush_interval(Duration::ZERO)
}

/// Returns the file-name kind an error names: `seg`, `index`, `MANIFEST` or the whole name.
fn named_kind(error: &Error) -> String {
    let Error::Io { path, .. } = error else {
        panic!("expected Error::Io, got {error:?}");
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    for kind in ["seg", "index", "MANIFEST"] {
        if name.starts_with(kind) {
            return kind.to_owned();
        }
    }
    name
}

fn check_rows(store: &Store, acked: &[Uuid], context: &str) {
    let counts = count_by_uuid(&read_all(store, MODEL));
    for uuid in acked {
        assert_eq!(counts.get(uuid), Some(&1), "{context}: {uuid}");
    }
    assert_eq!(counts.len(), acked.len(), "{context}");
}

#[test]
fn flush_fails_cleanly_at_every_point() {
    let Some(fs) = Tmpfs::mount(8 << 20, "flush_fails_cleanly_at_every_point") else {
        return;
    };
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    let mut acked = Vec::new();
    for n in 0..PREDICTIONS {
        let metrics = Metrics::new()
            .with("score", n as f64 / 7.0)
            .with("segment", format!("s{}", n % 13));
        store
            .track_metrics(MODEL, uuid(n), T0 + 37 * n as i64, &metrics)
            .unwrap();
        acked.push(uuid(n));
    }
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", true))
        .unwrap();
    // An orphan, so that the flush writes an orphan block too.
    store
        .track_delayed_metrics(uuid(10_000), T0, &metric("label", false))
        .unwrap();

    let mut failed_at = BTreeSet::new();
    let mut temporary_manifest_left = Vec::new();
    let mut flushed = false;
    for free_pages in 0..=MAX_FREE_PAGES {
        let filler = Filler::leaving(&fs.path().join("filler"), free_pages * PAGE);
        let result = store.flush();
        drop(filler);
        let context = format!("{free_pages} free pages");
        match result {
            Ok(()) => {
                println!("flush succeeded with {free_pages} free pages");
                flushed = true;
                break;
            }
            Err(error) => {
                assert_disk_full_under(&error, fs.path(), &context);
                failed_at.insert(named_kind(&error));
                let problems = settled_problems(|| {
                    let mut problems = stray_files(&dir);
                    problems.retain(|p| !p.starts_with("MANIFEST.tmp"));
                    problems
                });
                assert!(problems.is_empty(), "{context}: {problems:?}");
                // Checked at the end of the test, so that the other checks run first.
                let temporary = settled_problems(|| {
                    let path = dir.join("MANIFEST.tmp");
                    let left = path.exists().then(|| path.display().to_string());
                    left.into_iter().collect()
                });
                if !temporary.is_empty() {
                    temporary_manifest_left.push(format!("{context}: {error}"));
                }
                check_rows(&store, &acked, &context);
            }
        }
    }
    println!("flush failed while writing: {failed_at:?}");
    assert!(
        flushed,
        "no flush succeeded with up to {MAX_FREE_PAGES} free pages"
    );
    assert!(failed_at.contains("seg"), "{failed_at:?}");
    assert!(failed_at.contains("index"), "{failed_at:?}");
    check_rows(&store, &acked, "flushed");
    assert_eq!(store.orphaned_delayed_metrics().unwrap().len(), 1);
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(&dir, options()).unwrap();
    check_rows(&store, &acked, "reopened");
    let labelled = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(labelled.delayed, metric("label", true));
    assert_eq!(store.orphaned_delayed_metrics().unwrap().len(), 1);
    store.close().unwrap();
    assert!(
        temporary_manifest_left.is_empty(),
        "a failed flush left MANIFEST.tmp behind: {temporary_manifest_left:?}"
    );
}
