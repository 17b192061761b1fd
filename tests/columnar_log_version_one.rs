//! A store whose newest write-ahead log file is in format version 1, which has no columnar
//! batch record. Open replays that file. A columnar batch tracked afterwards must go into a
//! version 2 file, so that a build that reads only version 1 rejects the file at its header
//! instead of zeroing the batch as a torn tail.
//!
//! Versions 1 and 2 share every byte of the layout but the columnar record (tag 4), so a
//! version 1 file is made by rewriting the version field of a new file's header.

mod support;

use std::fs;
use std::path::Path;

use modelmetrics::wal::read_file;
use modelmetrics::{MetricColumn, NewPredictionColumns, Options, Store};
use support::{copy_store, files_with_prefix, metric, read_all, small_log_options, uuid};

const T0: i64 = 1_700_000_000_000;
const ROWS: u128 = 5;
const COLUMN_ROWS: u128 = 4;

/// Offsets of the file header, from docs/format/wal.md.
const VERSION_OFFSET: usize = 8;
const HEADER_CRC_OFFSET: usize = 20;

/// Rewrites the header of every log file in `dir` to format version 1, with a matching CRC.
fn downgrade_logs(dir: &Path) {
    let logs = files_with_prefix(dir, "wal-");
    assert!(!logs.is_empty(), "no log file in {}", dir.display());
    for path in logs {
        let mut bytes = fs::read(&path).unwrap();
        bytes[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, bytes).unwrap();
    }
}

fn options() -> Options {
    small_log_options().flush_interval(std::time::Duration::ZERO)
}

/// Tracks `ROWS` predictions one by one, then returns the open store and a crash image of it
/// whose log files are in version 1.
fn version_one_image(live: &Path, image: &Path) -> Store {
    let store = Store::open_with(live, options()).unwrap();
    for n in 0..ROWS {
        let timestamp = T0 + n as i64;
        store
            .track_metrics("m", uuid(n), timestamp, &metric("score", n as f64))
            .unwrap();
    }
    store.sync().unwrap();
    copy_store(live, image);
    downgrade_logs(image);
    store
}

fn column_batch() -> NewPredictionColumns {
    let rows = ROWS..ROWS + COLUMN_ROWS;
    NewPredictionColumns {
        model: "m".into(),
        uuids: rows.clone().map(uuid).collect(),
        timestamps_ms: rows.clone().map(|n| T0 + n as i64).collect(),
        metrics: vec![(
            "score".into(),
            MetricColumn::F64(rows.map(|n| n as f64).collect()),
        )],
    }
}

#[test]
fn version_one_log_replays() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let _live = version_one_image(&live, &image);
    let versions: Vec<u32> = files_with_prefix(&image, "wal-")
        .iter()
        .map(|path| read_file(path).unwrap().header.version)
        .collect();
    assert!(versions.iter().all(|&v| v == 1), "{versions:?}");

    let store = Store::open_with(&image, options()).unwrap();
    let rows = read_all(&store, "m");
    assert_eq!(rows.len(), ROWS as usize);
    assert_eq!(rows[2].uuid, uuid(2));
    assert_eq!(rows[2].metrics, metric("score", 2.0));
}

#[test]
fn columns_skip_version_one_file() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let second_image = root.path().join("second");
    let _live = version_one_image(&live, &image);

    let store = Store::open_with(&image, options()).unwrap();
    store.track_metrics_columns(column_batch()).unwrap();
    store.sync().unwrap();
    copy_store(&image, &second_image);

    // A columnar frame counts one record and as many predictions as rows.
    for path in files_with_prefix(&second_image, "wal-") {
        let contents = read_file(&path).unwrap();
        let columnar = contents
            .frames
            .iter()
            .filter(|f| f.predictions > f.records)
            .count();
        if contents.header.version == 1 {
            assert_eq!(
                columnar,
                0,
                "{} has format version 1 and {columnar} columnar frames",
                path.display()
            );
        }
    }

    let reopened = Store::open_with(&second_image, options()).unwrap();
    let rows = read_all(&reopened, "m");
    assert_eq!(rows.len(), (ROWS + COLUMN_ROWS) as usize);
    assert_eq!(rows[ROWS as usize].uuid, uuid(ROWS));
    drop(store);
}
