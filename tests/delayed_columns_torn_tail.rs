//! A write-ahead log whose last frame, a columnar batch of delayed metrics, is cut at every
//! byte. Open must keep the acknowledged records before the frame, join none of the batch's
//! labels, and take new labels that survive the next open. Each cut is made in the two forms a
//! crash can leave: a file truncated at the cut, and a preallocated file zeroed from the cut on.

mod support;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use modelmetrics::wal::read_file;
use modelmetrics::{MetricColumn, NewDelayedColumns, Store, Value};
use support::{copy_store, files_with_prefix, metric, read_all, small_log_options, uuid};

const T0: i64 = 1_700_000_000_000;
const PREDICTIONS: u128 = 3;
/// Rows of the label batch: the three predictions, one of them twice, and an unknown UUID.
const LABEL_UUIDS: [u128; 5] = [0, 1, 2, 1, 50];

/// How the crash left the bytes from the cut on.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Truncated,
    Zeroed,
}

fn labels(value: bool) -> NewDelayedColumns {
    let rows = LABEL_UUIDS.len();
    NewDelayedColumns {
        uuids: LABEL_UUIDS.iter().map(|&n| uuid(n)).collect(),
        timestamps_ms: (0..rows as i64).map(|i| T0 + 1_000 + i).collect(),
        metrics: vec![
            ("label".into(), MetricColumn::Bool(vec![value; rows])),
            (
                "reason".into(),
                MetricColumn::Str((0..rows).map(|i| format!("row {i}")).collect()),
            ),
        ],
    }
}

/// Tracks the predictions and one row label, then the columnar labels, and copies the open
/// store into `image`. Returns the open store, which must outlive every use of the image's log.
fn build_image(live: &Path, image: &Path) -> Store {
    let store = Store::open_with(live, small_log_options()).unwrap();
    for n in 0..PREDICTIONS {
        let timestamp = T0 + n as i64;
        store
            .track_metrics("m", uuid(n), timestamp, &metric("score", 0.5))
            .unwrap();
    }
    store
        .track_delayed_metrics(uuid(0), T0 + 500, &metric("checked", true))
        .unwrap();
    store.track_delayed_metrics_columns(labels(true)).unwrap();
    store.sync().unwrap();
    copy_store(live, image);
    store
}

/// Returns the newest log file of `dir` with the start and end offsets of its last frame.
fn last_frame(dir: &Path) -> (PathBuf, u64, u64) {
    let log = files_with_prefix(dir, "wal-").pop().unwrap();
    let contents = read_file(&log).unwrap();
    let frame = contents.frames.last().unwrap();
    assert_eq!(frame.delayed, LABEL_UUIDS.len());
    assert_eq!(frame.records, 1);
    let end = frame.offset + 8 + frame.payload_len as u64;
    (log, frame.offset, end)
}

fn cut_log(log: &Path, at: u64, cut: Cut) {
    match cut {
        Cut::Truncated => {
            let file = OpenOptions::new().write(true).open(log).unwrap();
            file.set_len(at).unwrap();
        }
        Cut::Zeroed => {
            let mut bytes = fs::read(log).unwrap();
            bytes[at as usize..].fill(0);
            fs::write(log, bytes).unwrap();
        }
    }
}

fn check_cut(image: &Path, work: &Path, at: u64, cut: Cut) {
    let _ = fs::remove_dir_all(work);
    copy_store(image, work);
    let (log, _, _) = last_frame(work);
    cut_log(&log, at, cut);

    let store = Store::open_with(work, small_log_options())
        .unwrap_or_else(|e| panic!("open after a {cut:?} cut at {at}: {e}"));
    let rows = read_all(&store, "m");
    assert_eq!(rows.len(), PREDICTIONS as usize, "{cut:?} cut at {at}");
    assert_eq!(
        rows[0].delayed,
        metric("checked", true),
        "{cut:?} cut at {at}"
    );
    for row in &rows[1..] {
        assert!(row.delayed.is_empty(), "{cut:?} cut at {at}: {row:?}");
    }
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "{cut:?} cut at {at}: {orphans:?}");

    store.track_delayed_metrics_columns(labels(false)).unwrap();
    drop(store);
    let reopened = Store::open_with(work, small_log_options()).unwrap();
    let after = read_all(&reopened, "m");
    for row in &after {
        let label = row.delayed.get("label");
        assert_eq!(label, Some(&Value::Bool(false)), "{cut:?} cut at {at}");
    }
    let orphans = reopened.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1, "{cut:?} cut at {at}");
}

#[test]
fn frame_cut_at_every_byte() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let work = root.path().join("work");
    let _live = build_image(&live, &image);
    let (_, start, end) = last_frame(&image);
    assert!(end - start > 100, "frame of {} bytes", end - start);

    for at in start..end {
        check_cut(&image, &work, at, Cut::Truncated);
        check_cut(&image, &work, at, Cut::Zeroed);
    }
}

#[test]
fn uncut_frame_replays_whole() {
    let root = tempfile::tempdir().unwrap();
    let (live, image) = (root.path().join("live"), root.path().join("image"));
    let _live = build_image(&live, &image);

    let store = Store::open_with(&image, small_log_options()).unwrap();
    let rows = read_all(&store, "m");
    assert_eq!(rows.len(), PREDICTIONS as usize);
    assert_eq!(rows[0].delayed.get("checked"), Some(&Value::Bool(true)));
    assert_eq!(rows[0].delayed.get("label"), Some(&Value::Bool(true)));
    // UUID 1 has two rows, and the later one, row 3, wins.
    let reason = rows[1].delayed.get("reason");
    assert_eq!(reason, Some(&Value::Str("row 3".into())));
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].uuid, uuid(50));
    assert_eq!(orphans[0].timestamp_ms, T0 + 1_004);
}
