//! Columnar batches on a nearly full disk. A call that fails must store none of its rows, the
//! store must take the same batch once space is back, and every acknowledged row must survive
//! close and reopen. The free space left varies, so that the disk fills while a log file is
//! created or while a call flushes the head itself. Runs only as root, and otherwise prints
//! why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::path::Path;

use modelmetrics::{Durability, MetricColumn, NewPredictionColumns, Options, Store, Uuid};
use support::{ALL_END, ALL_START};
use tmpfs::{Filler, Tmpfs};

const ROWS: u64 = 40;
const MAX_BATCHES: u64 = 400;
/// Free bytes left by the filler in each run.
const LEAVE: [u64; 6] = [0, 48 << 10, 200 << 10, 700 << 10, 1200 << 10, 2 << 20];

/// Batch and log file sizes of a run. Payloads are random, so zstd cannot shrink them.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Batches of about 80 KiB in log files of 64 KiB: each batch gets a log file of its own.
    LargeBatches,
    /// Batches of about 10 KiB in log files of 1 MiB: the disk fills when a flush writes a
    /// segment.
    SmallBatches,
}

impl Shape {
    fn payload(self) -> usize {
        match self {
            Shape::LargeBatches => 2 << 10,
            Shape::SmallBatches => 200,
        }
    }

    fn options(self) -> Options {
        let log_file = match self {
            Shape::LargeBatches => Options::MIN_WAL_FILE_SIZE,
            Shape::SmallBatches => 1 << 20,
        };
        Options::default()
            .durability(Durability::Os)
            .wal_file_size(log_file)
            .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES * 4)
    }
}

fn uuid(batch: u64, row: u64) -> Uuid {
    Uuid::from_u64_pair(batch + 1, row)
}

/// Returns batch `number`, with payloads drawn from a generator seeded by the number, so that
/// a retry tracks the same bytes.
fn batch(number: u64, shape: Shape) -> NewPredictionColumns {
    let mut rng = adversarial::rng(number);
    let payloads = (0..ROWS).map(|_| adversarial::random_bytes(&mut rng, shape.payload()));
    NewPredictionColumns {
        model: "m".into(),
        uuids: (0..ROWS).map(|row| uuid(number, row)).collect(),
        timestamps_ms: (0..ROWS).map(|row| (number * ROWS + row) as i64).collect(),
        metrics: vec![
            ("payload".into(), MetricColumn::Bytes(payloads.collect())),
            ("score".into(), MetricColumn::F64(vec![0.5; ROWS as usize])),
        ],
    }
}

fn stored_rows(store: &Store, number: u64) -> usize {
    (0..ROWS)
        .filter(|&row| store.lookup(uuid(number, row)).unwrap().is_some())
        .count()
}

/// Tracks batches until one fails, checks that the failed one stored nothing, then frees the
/// space and tracks it again. Returns the number of batches stored.
fn fill_then_retry(root: &Path, dir: &Path, leave: u64, shape: Shape) -> u64 {
    let store = Store::open_with(dir, shape.options()).unwrap();
    // The first batch creates the first log file before the disk fills.
    store.track_metrics_columns(batch(0, shape)).unwrap();
    let filler = Filler::leaving(&root.join("filler"), leave);

    let mut failed = None;
    for number in 1..MAX_BATCHES {
        if let Err(error) = store.track_metrics_columns(batch(number, shape)) {
            assert!(error.is_disk_full(), "{shape:?}, leave {leave}: {error:?}");
            let found = stored_rows(&store, number);
            assert_eq!(
                found, 0,
                "{shape:?}, leave {leave}: failed batch {number} stored {found} rows"
            );
            println!("{shape:?}, leave {leave}: batch {number} failed: {error}");
            failed = Some(number);
            break;
        }
    }
    let failed =
        failed.unwrap_or_else(|| panic!("{shape:?}, leave {leave}: the disk never filled"));
    filler.remove();
    // A background flush that failed on the full disk is retried by the next call.
    store.track_metrics_columns(batch(failed, shape)).unwrap();
    assert_eq!(
        stored_rows(&store, failed),
        ROWS as usize,
        "{shape:?}, leave {leave}"
    );
    store.close().unwrap();
    failed + 1
}

#[test]
fn full_disk_loses_no_batch() {
    let Some(fs) = Tmpfs::mount(8 << 20, "full_disk_loses_no_batch") else {
        return;
    };
    let runs = LEAVE
        .iter()
        .flat_map(|&leave| [Shape::LargeBatches, Shape::SmallBatches].map(|shape| (leave, shape)));
    for (leave, shape) in runs {
        let dir = fs.path().join("store");
        let batches = fill_then_retry(fs.path(), &dir, leave, shape);

        let reopened = Store::open_with(&dir, shape.options()).unwrap();
        let rows = reopened.read_metrics("m", ALL_START, ALL_END).unwrap();
        assert_eq!(
            rows.count() as u64,
            batches * ROWS,
            "{shape:?}, leave {leave}"
        );
        reopened.close().unwrap();
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
