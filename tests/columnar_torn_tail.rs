//! A write-ahead log whose last frame, a columnar batch, is cut at every byte. Open must keep
//! the acknowledged records before the frame, show none of the batch's rows, and take new
//! batches that survive the next open. Each cut is made in the two forms a crash can leave: a
//! file truncated at the cut, and a preallocated file zeroed from the cut on.

mod support;

use std::fs::{self, OpenOptions};
use std::path::Path;

use modelmetrics::wal::read_file;
use modelmetrics::{MetricColumn, NewPredictionColumns, Store};
use support::{copy_store, files_with_prefix, metric, read_all, small_log_options, uuid};

const T0: i64 = 1_700_000_000_000;
const COLUMN_ROWS: u128 = 3;
/// First UUID number of the batch tracked after recovery.
const NEW_BATCH: u128 = 100;

/// How the crash left the bytes from the cut on.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Truncated,
    Zeroed,
}

fn column_batch(first: u128) -> NewPredictionColumns {
    let rows = first..first + COLUMN_ROWS;
    NewPredictionColumns {
        model: "m".into(),
        uuids: rows.clone().map(uuid).collect(),
        timestamps_ms: rows.clone().map(|n| T0 + n as i64).collect(),
        metrics: vec![
            (
                "score".into(),
                MetricColumn::F64(vec![f64::NAN, -0.0, f64::INFINITY]),
            ),
            (
                "segment".into(),
                MetricColumn::Str(rows.map(|n| format!("segment {n}")).collect()),
            ),
        ],
    }
}

/// Tracks one prediction and then a columnar batch, and copies the open store into `image`.
/// Returns the open store, which must outlive every use of the image's log.
fn build_image(live: &Path, image: &Path) -> Store {
    let store = Store::open_with(live, small_log_options()).unwrap();
    store
        .track_metrics("m", uuid(0), T0, &metric("score", 0.5))
        .unwrap();
    store.track_metrics_columns(column_batch(1)).unwrap();
    store.sync().unwrap();
    copy_store(live, image);
    store
}

/// Returns the newest log file of `dir` with the start and end offsets of its last frame.
fn last_frame(dir: &Path) -> (std::path::PathBuf, u64, u64) {
    let log = files_with_prefix(dir, "wal-").pop().unwrap();
    let contents = read_file(&log).unwrap();
    let frame = contents.frames.last().unwrap();
    assert_eq!(frame.predictions, COLUMN_ROWS as usize);
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
    let uuids: Vec<_> = rows.iter().map(|p| p.uuid).collect();
    assert_eq!(uuids, vec![uuid(0)], "{cut:?} cut at byte {at}");
    for n in 1..=COLUMN_ROWS {
        let found = store.lookup(uuid(n)).unwrap();
        assert!(found.is_none(), "{cut:?} cut at {at}: row {n} is visible");
    }

    store
        .track_metrics_columns(column_batch(NEW_BATCH))
        .unwrap();
    drop(store);
    let reopened = Store::open_with(work, small_log_options()).unwrap();
    let after = read_all(&reopened, "m");
    assert_eq!(after.len(), 1 + COLUMN_ROWS as usize, "{cut:?} cut at {at}");
    assert_eq!(after[1].uuid, uuid(NEW_BATCH), "{cut:?} cut at {at}");
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
    assert_eq!(rows.len(), 1 + COLUMN_ROWS as usize);
    let second = store.lookup(uuid(2)).unwrap().unwrap();
    let score = second.metrics.get("score").unwrap();
    assert_eq!(score, &modelmetrics::Value::F64(-0.0));
    let first = store.lookup(uuid(1)).unwrap().unwrap();
    assert!(matches!(first.metrics.get("score"), Some(modelmetrics::Value::F64(v)) if v.is_nan()));
    assert_eq!(
        first.metrics.get("segment"),
        Some(&modelmetrics::Value::Str("segment 1".into()))
    );
}
