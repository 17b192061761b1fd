//! A store whose newest write-ahead log file is in format version 2, which has no columnar
//! delayed record. Open replays that file. A columnar batch of delayed metrics tracked
//! afterwards must go into a file of the current version. A build that reads only version 2
//! then rejects that file at its header instead of zeroing the batch as a torn tail.
//!
//! Versions 2 and 3 share every byte of the layout but the columnar delayed record (tag 5), so
//! a version 2 file is made by rewriting the version field of a new file's header.

mod support;

use std::fs;
use std::path::Path;

use modelmetrics::wal::{FORMAT_VERSION, read_file};
use modelmetrics::{MetricColumn, NewDelayedColumns, NewPredictionColumns, Options, Store, Value};
use support::{copy_store, files_with_prefix, read_all, small_log_options, uuid};

const ROWS: u128 = 4;

/// Offsets of the file header, from docs/format/wal.md.
const VERSION_OFFSET: usize = 8;
const HEADER_CRC_OFFSET: usize = 20;

/// Rewrites the header of every log file in `dir` to format version 2, with a matching CRC.
fn downgrade_logs(dir: &Path) {
    let logs = files_with_prefix(dir, "wal-");
    assert!(!logs.is_empty(), "no log file in {}", dir.display());
    for path in logs {
        let mut bytes = fs::read(&path).unwrap();
        bytes[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, bytes).unwrap();
    }
}

fn options() -> Options {
    small_log_options().flush_interval(std::time::Duration::ZERO)
}

/// Tracks `ROWS` predictions as a columnar batch, the newest record of version 2, and one row
/// label. Returns the open store and a crash image of it whose log files are in version 2.
fn version_two_image(live: &Path, image: &Path) -> Store {
    let store = Store::open_with(live, options()).unwrap();
    let batch = NewPredictionColumns {
        model: "m".into(),
        uuids: (0..ROWS).map(uuid).collect(),
        timestamps_ms: (0..ROWS as i64).collect(),
        metrics: vec![("score".into(), MetricColumn::F64(vec![0.5; ROWS as usize]))],
    };
    store.track_metrics_columns(batch).unwrap();
    let label = support::metric("label", false);
    store.track_delayed_metrics(uuid(0), 10, &label).unwrap();
    store.sync().unwrap();
    copy_store(live, image);
    downgrade_logs(image);
    store
}

fn labels() -> NewDelayedColumns {
    NewDelayedColumns {
        uuids: (1..ROWS).map(uuid).collect(),
        timestamps_ms: vec![20; ROWS as usize - 1],
        metrics: vec![(
            "label".into(),
            MetricColumn::Bool(vec![true; ROWS as usize - 1]),
        )],
    }
}

#[test]
fn version_two_log_replays() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let _live = version_two_image(&live, &image);

    let store = Store::open_with(&image, options()).unwrap();
    let rows = read_all(&store, "m");
    assert_eq!(rows.len(), ROWS as usize);
    assert_eq!(rows[0].delayed.get("label"), Some(&Value::Bool(false)));
    assert!(rows[1].delayed.is_empty());
}

#[test]
fn delayed_columns_skip_version_two_file() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let second_image = root.path().join("second");
    let _live = version_two_image(&live, &image);

    let store = Store::open_with(&image, options()).unwrap();
    store.track_delayed_metrics_columns(labels()).unwrap();
    store.sync().unwrap();
    copy_store(&image, &second_image);

    // A columnar delayed frame counts one record and as many delayed records as rows.
    let mut newest = 0;
    for path in files_with_prefix(&second_image, "wal-") {
        let contents = read_file(&path).unwrap();
        let columnar = contents
            .frames
            .iter()
            .filter(|f| f.delayed > f.records)
            .count();
        if contents.header.version < FORMAT_VERSION {
            assert_eq!(columnar, 0, "{} has {columnar} frames", path.display());
        } else {
            assert_eq!(columnar, 1, "{}", path.display());
        }
        newest = newest.max(contents.header.version);
    }
    assert_eq!(newest, FORMAT_VERSION);

    let reopened = Store::open_with(&second_image, options()).unwrap();
    let rows = read_all(&reopened, "m");
    assert_eq!(rows.len(), ROWS as usize);
    assert_eq!(rows[0].delayed.get("label"), Some(&Value::Bool(false)));
    for row in &rows[1..] {
        assert_eq!(
            row.delayed.get("label"),
            Some(&Value::Bool(true)),
            "{row:?}"
        );
    }
}
