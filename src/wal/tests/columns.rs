//! Replay of columnar batch frames: written and read back whole, dropped whole when torn.

use super::*;
use crate::batch::{ColumnBatch, MetricColumn};

/// Returns a columnar batch of `rows` predictions numbered from `first_seq`.
fn columns(first_seq: u64, rows: usize) -> LogRecord {
    let first = u128::from(first_seq);
    LogRecord::PredictionColumns(ColumnBatch {
        first_seq,
        model: "model-a".into(),
        uuids: (first..first + rows as u128).map(Uuid::from_u128).collect(),
        timestamps_ms: (0..rows as i64).collect(),
        metrics: vec![
            (
                "label".into(),
                MetricColumn::Str(vec!["approved".into(); rows]),
            ),
            ("score".into(), MetricColumn::F64(vec![0.5; rows])),
        ],
    })
}

#[test]
fn columnar_frames_replay_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[columns(1, 10), delayed(11)]).unwrap();
    opened.wal.append(&[prediction(12)]).unwrap();
    opened.wal.append(&[columns(13, 1)]).unwrap();
    opened.wal.close().unwrap();

    let reopened = open(dir.path(), FILE_SIZE);
    let expected = vec![
        vec![columns(1, 10), delayed(11)],
        vec![prediction(12)],
        vec![columns(13, 1)],
    ];
    assert_eq!(reopened.batches, expected);
    assert_eq!(reopened.stats.records, 13);
    assert_eq!(reopened.stats.last_seq, Some(13));
    assert_eq!(reopened.stats.torn_tail, None);
}

#[test]
fn torn_columnar_frame_is_dropped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file_size = 1 << 20;
    let opened = open(dir.path(), file_size);
    let first_end = opened.wal.append(&[columns(1, 5)]).unwrap();
    let torn_end = opened.wal.append(&[columns(6, 2_000)]).unwrap();
    opened.wal.close().unwrap();
    // The last page of the large frame never reached the disk.
    let path = wal_path(dir.path(), 1);
    zero_range(&path, torn_end.offset - 100, torn_end.offset);

    let reopened = open(dir.path(), file_size);
    assert_eq!(reopened.batches, vec![vec![columns(1, 5)]]);
    assert_eq!(reopened.stats.last_seq, Some(5));
    assert_eq!(reopened.stats.torn_tail, Some((path, first_end.offset)));
    let next = reopened.wal.append(&[prediction(6)]).unwrap();
    assert!(next.offset < torn_end.offset);
}

#[test]
fn columnar_frame_with_flipped_byte_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let first_end = opened.wal.append(&[columns(1, 3)]).unwrap();
    opened.wal.append(&[columns(4, 3)]).unwrap();
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 1);
    flip_byte(&path, first_end.offset + FRAME_HEADER_LEN as u64 + 20);

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![3]);
    assert_eq!(reopened.stats.torn_tail, Some((path, first_end.offset)));
}

#[test]
fn read_file_counts_columnar_rows() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[columns(1, 7), prediction(8)]).unwrap();
    opened.wal.close().unwrap();

    let contents = read_file(&wal_path(dir.path(), 1)).unwrap();
    let frame = &contents.frames[0];
    assert_eq!(frame.records, 2);
    assert_eq!(frame.predictions, 8);
    assert_eq!((frame.min_seq, frame.max_seq), (Some(1), Some(8)));
}

#[test]
fn version_one_file_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.close().unwrap();
    // Rewrite the header as a version 1 build wrote it: only the version differs.
    let path = wal_path(dir.path(), 1);
    let mut header = format::encode_header(1);
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32fast::hash(&header[..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&header, 0).unwrap();

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![1]);
    assert_eq!(read_file(&path).unwrap().header.version, 1);
    reopened.wal.append(&[columns(2, 3)]).unwrap();
    reopened.wal.close().unwrap();
    let again = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&again.batches), vec![1, 4]);
}
