//! A write-ahead log cut at any byte of its last frame: open replays every earlier record,
//! drops the torn one, and the log takes new writes that survive another crash.
//!
//! The crash image is a copy of a store's files taken while the store is open, after `sync`:
//! the store writes its log through a shared mapping, so the copy contains what a killed process
//! would leave behind.

mod support;

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use modelmetrics::{Metrics, Store};
use support::{by_name, copy_store, files_with_prefix, read_all, small_log_options, uuid};

const T0: i64 = 1_700_000_000_000;
/// Records in the log of the crash image. Each `track_metrics` call writes one frame.
const RECORDS: u128 = 12;
/// UUID number of the record written after recovery.
const NEW_RECORD: u128 = 1000;

/// File header and frame header sizes, from docs/format/wal.md.
const FILE_HEADER_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 8;

fn record_metrics(n: u128) -> Metrics {
    Metrics::new()
        .with("score", n as f64 / 3.0)
        .with("segment", "retail")
        .with("count", n as i64)
}

/// Where the last record goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LastRecord {
    /// After the others, in the same log file.
    SameLog,
    /// Alone in a new log file, after a flush moved the others to a segment.
    AfterFlush,
}

/// Writes `RECORDS` predictions into a store in `live` and copies its files into `image`.
/// Returns the open store, which must outlive every use of the image's log.
fn build_crash_image(live: &Path, image: &Path, last: LastRecord) -> Store {
    let store = Store::open_with(live, small_log_options()).unwrap();
    for n in 0..RECORDS {
        if n == RECORDS - 1 && last == LastRecord::AfterFlush {
            store.flush().unwrap();
        }
        let timestamp = T0 + n as i64;
        store
            .track_metrics("m", uuid(n), timestamp, &record_metrics(n))
            .unwrap();
    }
    store.sync().unwrap();
    copy_store(live, image);
    store
}

/// Returns the start offset of each frame of a log file, and the end of the last frame.
///
/// The layout is that of docs/format/wal.md. Frames follow the header, each a u32 LE payload
/// length, a CRC and the payload, and a length of 0 ends them.
fn frame_starts(log: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = FILE_HEADER_LEN;
    while let Some(length) = log.get(offset..offset + 4) {
        let length = u32::from_le_bytes(length.try_into().unwrap()) as usize;
        if length == 0 {
            break;
        }
        starts.push(offset);
        offset += FRAME_HEADER_LEN + length;
    }
    starts.push(offset);
    starts
}

/// How a test damages the log from a position on.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The file ends at the position.
    Truncate,
    /// The file keeps its preallocated size, with zeros from the position on.
    Zero,
    /// Every byte from the position to `end` is replaced by a different value, as when a page
    /// of the frame reached the disk and a later one did not but held other bytes.
    Garbage { end: usize },
}

fn cut_log(path: &Path, position: usize, cut: Cut) {
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    match cut {
        Cut::Truncate => file.set_len(position as u64).unwrap(),
        Cut::Zero => {
            let len = file.metadata().unwrap().len() as usize;
            file.seek(SeekFrom::Start(position as u64)).unwrap();
            file.write_all(&vec![0; len - position]).unwrap();
        }
        Cut::Garbage { end } => {
            let mut bytes = fs::read(path).unwrap();
            for byte in &mut bytes[position..end] {
                *byte ^= 0xa5;
            }
            fs::write(path, bytes).unwrap();
        }
    }
}

/// Checks that `store` contains the predictions numbered `expected`, in that order, with their
/// metrics, and no other.
fn assert_holds(store: &Store, expected: &[u128], case: &str) {
    let rows = read_all(store, "m");
    let uuids: Vec<_> = expected.iter().map(|&n| uuid(n)).collect();
    assert_eq!(support::uuids(&rows), uuids, "{case}");
    for (row, &n) in rows.iter().zip(expected) {
        assert_eq!(
            by_name(&row.metrics),
            by_name(&record_metrics(n)),
            "{case}: metrics of {n}"
        );
    }
    if !expected.contains(&(RECORDS - 1)) {
        let torn = store.lookup(uuid(RECORDS - 1)).unwrap();
        assert_eq!(torn, None, "{case}: the torn record came back");
    }
}

/// Opens a copy of `image` whose newest log file is cut at `position`, checks that it contains
/// `expected`, writes one record, and checks that record in a crash image of the recovered
/// store.
fn check_cut(image: &Path, log_name: &str, position: usize, cut: Cut, expected: &[u128]) {
    let case = format!("{cut:?} at byte {position}");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("recovered");
    copy_store(image, &dir);
    cut_log(&dir.join(log_name), position, cut);

    let store = Store::open_with(&dir, small_log_options()).unwrap();
    assert_holds(&store, expected, &case);
    let timestamp = T0 + NEW_RECORD as i64;
    let metrics = record_metrics(NEW_RECORD);
    store
        .track_metrics("m", uuid(NEW_RECORD), timestamp, &metrics)
        .unwrap();
    store.sync().unwrap();
    let second_image = work.path().join("second crash");
    copy_store(&dir, &second_image);
    drop(store);

    let store = Store::open_with(&second_image, small_log_options()).unwrap();
    let mut after: Vec<u128> = expected.to_vec();
    after.push(NEW_RECORD);
    assert_holds(&store, &after, &format!("{case}, after a second crash"));
}

fn newest_log(dir: &Path) -> PathBuf {
    files_with_prefix(dir, "wal-").pop().unwrap()
}

/// Cuts the last frame of the newest log file of a crash image at each of its bytes, and
/// checks each cut.
fn check_every_cut(last: LastRecord) {
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("image");
    let live = build_crash_image(&root.path().join("live"), &image, last);

    let log_path = newest_log(&image);
    let log_name = log_path.file_name().unwrap().to_str().unwrap().to_owned();
    let log = fs::read(&log_path).unwrap();
    let starts = frame_starts(&log);
    let frames = match last {
        LastRecord::SameLog => RECORDS as usize,
        LastRecord::AfterFlush => 1,
    };
    assert_eq!(starts.len(), frames + 1, "frames in {log_name}: {starts:?}");
    let last_start = starts[starts.len() - 2];
    let last_end = starts[starts.len() - 1];

    let all: Vec<u128> = (0..RECORDS).collect();
    let without_last = &all[..all.len() - 1];
    for position in last_start..last_end {
        check_cut(&image, &log_name, position, Cut::Truncate, without_last);
        // Zeroing bytes that are zero already leaves the frame whole.
        let unchanged = log[position..last_end].iter().all(|&b| b == 0);
        let expected = if unchanged { &all[..] } else { without_last };
        check_cut(&image, &log_name, position, Cut::Zero, expected);
        let garbage = Cut::Garbage { end: last_end };
        check_cut(&image, &log_name, position, garbage, without_last);
    }
    drop(live);
}

#[test]
fn torn_last_frame_drops_only_it() {
    check_every_cut(LastRecord::SameLog);
}

#[test]
fn torn_only_frame_after_flush() {
    check_every_cut(LastRecord::AfterFlush);
}

#[test]
fn intact_image_replays_every_record() {
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("image");
    let live = build_crash_image(&root.path().join("live"), &image, LastRecord::SameLog);
    let store = Store::open_with(&image, small_log_options()).unwrap();
    let rows = read_all(&store, "m");
    let expected: Vec<_> = (0..RECORDS).map(uuid).collect();
    assert_eq!(support::uuids(&rows), expected);
    drop(live);
}
