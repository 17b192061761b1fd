//! `flush` after an earlier flush failed on a full disk and space came back. The call writes
//! both the head left frozen by the failed flush and the records tracked since. Once it
//! returns, the log contains no record, as after any successful flush.
//!
//! Runs only as root; otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::time::Duration;

use adversarial::{assert_disk_full_under, count_by_uuid, logged_frames};
use modelmetrics::{Durability, Options, Store, Uuid};
use support::{metric, read_all, uuid};
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
const PER_PHASE: u128 = 10;

fn options() -> Options {
    Options::default()
        .durability(Durability::Os)
        .wal_file_size(1 << 20)
        .flush_interval(Duration::ZERO)
}

fn track_range(store: &Store, range: std::ops::Range<u128>, acked: &mut Vec<Uuid>) {
    for n in range {
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64, &metric("n", n as i64))
            .unwrap();
        acked.push(uuid(n));
    }
}

#[test]
fn flush_after_failed_flush_writes_everything() {
    let Some(fs) = Tmpfs::mount(8 << 20, "flush_after_failed_flush_writes_everything") else {
        return;
    };
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    let mut acked = Vec::new();
    track_range(&store, 0..PER_PHASE, &mut acked);

    let filler = Filler::taking_all(&fs.path().join("filler"));
    let error = store.flush().expect_err("a flush on a full disk succeeded");
    assert_disk_full_under(&error, fs.path(), "flush");
    filler.remove();

    track_range(&store, PER_PHASE..2 * PER_PHASE, &mut acked);
    store.flush().expect("flush once space is back");
    let (frames, records) = logged_frames(&dir);
    assert_eq!(
        records, 0,
        "after a successful flush the log still contains {records} records in {frames} frames"
    );
    let counts = count_by_uuid(&read_all(&store, MODEL));
    for uuid in &acked {
        assert_eq!(counts.get(uuid), Some(&1), "{uuid}");
    }
    store.close().unwrap();
}
