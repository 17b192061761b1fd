//! Scenarios of the whole log: replay, rotation, torn writes, damage, group commit, full disk.

mod columns;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use uuid::Uuid;

use super::format::{FRAME_HEADER_LEN, HEADER_LEN};
use super::*;
use crate::io::{CreateMode, OsIo, StoreFile, StoreIo};
use crate::record::{AggregateRecord, DelayedRecord, PredictionRecord};
use crate::value::Metrics;

const FILE_SIZE: u64 = 4096;

fn options(file_size: u64) -> WalOptions {
    WalOptions {
        durability: Durability::Sync,
        file_size,
    }
}

fn prediction(seq: u64) -> LogRecord {
    LogRecord::Prediction(PredictionRecord {
        seq,
        model: "model-a".into(),
        uuid: Uuid::from_u128(u128::from(seq)),
        timestamp_ms: 1_700_000_000_000 + seq as i64,
        metrics: Metrics::new().with("score", 0.5).with("label", "approved"),
    })
}

fn delayed(seq: u64) -> LogRecord {
    LogRecord::Delayed(DelayedRecord {
        seq,
        uuid: Uuid::from_u128(u128::from(seq)),
        timestamp_ms: -5,
        metrics: Metrics::new().with("ground_truth", true),
    })
}

fn aggregate(seq: u64) -> LogRecord {
    LogRecord::Aggregate(AggregateRecord {
        seq,
        model: "model-b".into(),
        start_ms: 0,
        end_ms: 60_000,
        metrics: Metrics::new().with("auc", 0.91).with("count", 1_000_i64),
    })
}

/// Builds a prediction with a string metric of `len` bytes, to make records of a chosen size.
fn large_prediction(seq: u64, len: usize) -> LogRecord {
    LogRecord::Prediction(PredictionRecord {
        seq,
        model: "model-a".into(),
        uuid: Uuid::from_u128(u128::from(seq)),
        timestamp_ms: 0,
        metrics: Metrics::new().with("request", "x".repeat(len)),
    })
}

struct Opened {
    wal: Wal,
    batches: Vec<Vec<LogRecord>>,
    stats: ReplayStats,
}

fn try_open_with(
    dir: &Path,
    first_live: u64,
    file_size: u64,
    ops: Arc<dyn StoreIo>,
) -> Result<Opened> {
    let mut batches = Vec::new();
    let mut collect = |batch| {
        batches.push(batch);
        Ok(())
    };
    let (wal, stats) = Wal::open_with_io(dir, first_live, options(file_size), ops, &mut collect)?;
    Ok(Opened {
        wal,
        batches,
        stats,
    })
}

fn open(dir: &Path, file_size: u64) -> Opened {
    try_open_with(dir, 1, file_size, Arc::new(OsIo)).unwrap()
}

fn seqs(batches: &[Vec<LogRecord>]) -> Vec<u64> {
    batches.iter().flatten().map(LogRecord::seq).collect()
}

fn wal_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(wal_file_name(number))
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
    }
    to
}

fn flip_byte(path: &Path, offset: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], offset).unwrap();
}

fn zero_range(path: &Path, start: u64, end: u64) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let zeros = vec![0u8; (end - start) as usize];
    file.write_all_at(&zeros, start).unwrap();
}

/// File operations that fail on request and count syncs.
#[derive(Default)]
struct FaultyOps {
    failing_allocations: AtomicU32,
    failing_syncs: AtomicU32,
    syncs: AtomicU64,
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Implements the `StoreIo` calls that the test seams below pass on to `OsIo` unchanged.
macro_rules! pass_other_calls_to_os {
    () => {
        fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn StoreFile>> {
            OsIo.create(path, mode)
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            OsIo.rename(from, to)
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            OsIo.remove(path)
        }

        fn open_mapped(&self, path: &Path, create: Option<CreateMode>) -> io::Result<File> {
            OsIo.open_mapped(path, create)
        }

        fn note_write(&self, _path: &Path, _offset: u64, _bytes: &[u8]) {}
    };
}

impl StoreIo for FaultyOps {
    pass_other_calls_to_os!();

    fn allocate(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        if take_one(&self.failing_allocations) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        OsIo.allocate(file, path, len)
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        if take_one(&self.failing_syncs) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        OsIo.sync_data(file, path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        OsIo.sync_dir(dir)
    }
}

/// File operations without syncs, for tests of replay logic that open a log hundreds of times.
struct NoSyncOps;

impl StoreIo for NoSyncOps {
    pass_other_calls_to_os!();

    fn allocate(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        OsIo.allocate(file, path, len)
    }

    fn sync_data(&self, _file: &File, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// Writes frames A, B and C (seqs 1, 2, 3) into file 1 and returns the start and end offsets
/// of C.
fn write_three_frames(dir: &Path) -> (u64, u64) {
    let opened = open(dir, FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    let b_end = opened.wal.append(&[delayed(2)]).unwrap();
    let c_end = opened.wal.append(&[prediction(3)]).unwrap();
    opened.wal.close().unwrap();
    assert_eq!(c_end.file, 1);
    (b_end.offset, c_end.offset)
}

#[test]
fn replay_after_reopen_returns_batches_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(opened.stats, ReplayStats::default());
    let batches = vec![
        vec![prediction(1), delayed(2)],
        vec![aggregate(3)],
        vec![prediction(4), prediction(5), delayed(6)],
    ];
    for batch in &batches {
        opened.wal.append(batch).unwrap();
    }
    opened.wal.close().unwrap();

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(reopened.batches, batches);
    assert_eq!(reopened.stats.files, 1);
    assert_eq!(reopened.stats.frames, 3);
    assert_eq!(reopened.stats.records, 6);
    assert_eq!(reopened.stats.last_seq, Some(6));
    assert_eq!(reopened.stats.torn_tail, None);
}

#[test]
fn reopen_appends_after_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), FILE_SIZE);
    first.wal.append(&[prediction(1)]).unwrap();
    drop(first);

    let second = open(dir.path(), FILE_SIZE);
    let pos = second.wal.append(&[prediction(2)]).unwrap();
    assert_eq!(pos.file, 1);
    drop(second);

    let third = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&third.batches), vec![1, 2]);
    assert_eq!(Wal::file_numbers(dir.path()).unwrap(), vec![1]);
}

#[test]
fn appends_survive_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    // Simulates a killed process: no close, no sync, no unmap by Drop.
    std::mem::forget(opened);

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![1]);
}

#[test]
fn empty_append_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let before = opened.wal.append(&[prediction(1)]).unwrap();
    let after = opened.wal.append(&[]).unwrap();
    assert_eq!(after, before);
    opened.wal.close().unwrap();
    assert_eq!(open(dir.path(), FILE_SIZE).stats.frames, 1);
}

#[test]
fn rotation_with_small_file_size_spans_files() {
    let dir = tempfile::tempdir().unwrap();
    let file_size = 256;
    let opened = open(dir.path(), file_size);
    let mut last = LogPosition::default();
    for seq in 1..=40 {
        let pos = opened.wal.append(&[prediction(seq)]).unwrap();
        assert!(pos > last, "position {pos:?} after {last:?}");
        last = pos;
    }
    opened.wal.close().unwrap();

    let numbers = Wal::file_numbers(dir.path()).unwrap();
    assert!(numbers.len() > 5, "files: {numbers:?}");
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    for number in &numbers {
        let len = fs::metadata(wal_path(dir.path(), *number)).unwrap().len();
        assert_eq!(len, file_size);
    }
    let reopened = open(dir.path(), file_size);
    assert_eq!(seqs(&reopened.batches), (1..=40).collect::<Vec<_>>());
    assert_eq!(reopened.stats.files, numbers.len());
}

#[test]
fn record_larger_than_file_size_gets_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let file_size = 128;
    let opened = open(dir.path(), file_size);
    opened.wal.append(&[prediction(1)]).unwrap();
    let big = opened.wal.append(&[large_prediction(2, 1000)]).unwrap();
    let after = opened.wal.append(&[prediction(3)]).unwrap();
    opened.wal.close().unwrap();

    let big_len = fs::metadata(wal_path(dir.path(), big.file)).unwrap().len();
    assert_eq!(big_len, big.offset, "the large file ends with its frame");
    assert!(big_len > file_size);
    assert_eq!(after.file, big.file + 1);
    let reopened = open(dir.path(), file_size);
    assert_eq!(seqs(&reopened.batches), vec![1, 2, 3]);
    assert_eq!(reopened.batches[1], vec![large_prediction(2, 1000)]);
}

#[test]
fn every_cut_of_last_frame_recovers() {
    let template = tempfile::tempdir().unwrap();
    let (c_start, c_end) = write_three_frames(template.path());
    for cut in c_start..c_end {
        for truncate in [false, true] {
            let dir = copy_dir(template.path());
            let path = wal_path(dir.path(), 1);
            if truncate {
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(cut)
                    .unwrap();
            } else {
                zero_range(&path, cut, c_end);
            }
            let case = format!("cut at {cut}, truncated {truncate}");

            let opened = try_open_with(dir.path(), 1, FILE_SIZE, Arc::new(NoSyncOps)).unwrap();
            assert_eq!(seqs(&opened.batches), vec![1, 2], "{case}");
            let torn_expected = cut > c_start;
            assert_eq!(opened.stats.torn_tail.is_some(), torn_expected, "{case}");
            opened.wal.append(&[aggregate(4)]).unwrap();
            opened.wal.append(&[prediction(5)]).unwrap();
            drop(opened);

            let reopened = try_open_with(dir.path(), 1, FILE_SIZE, Arc::new(NoSyncOps)).unwrap();
            assert_eq!(seqs(&reopened.batches), vec![1, 2, 4, 5], "{case}");
            assert_eq!(reopened.stats.torn_tail, None, "{case}");
        }
    }
}

#[test]
fn flipped_byte_in_last_frame_drops_only_it() {
    let template = tempfile::tempdir().unwrap();
    let (c_start, c_end) = write_three_frames(template.path());
    for offset in c_start..c_end {
        let dir = copy_dir(template.path());
        let path = wal_path(dir.path(), 1);
        flip_byte(&path, offset);

        let opened = try_open_with(dir.path(), 1, FILE_SIZE, Arc::new(NoSyncOps)).unwrap();
        assert_eq!(seqs(&opened.batches), vec![1, 2], "flipped byte {offset}");
        assert_eq!(
            opened.stats.torn_tail,
            Some((path, c_start)),
            "flipped byte {offset}"
        );
    }
}

#[test]
fn stale_frame_after_torn_frame_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let a_end = opened.wal.append(&[prediction(1)]).unwrap();
    let b_end = opened.wal.append(&[prediction(2)]).unwrap();
    opened.wal.append(&[prediction(3)]).unwrap();
    opened.wal.close().unwrap();
    // B is torn, C behind it is intact: a crash wrote C's page but not B's.
    let path = wal_path(dir.path(), 1);
    flip_byte(&path, a_end.offset + FRAME_HEADER_LEN as u64 + 2);

    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&opened.batches), vec![1]);
    // D has the length of B, so it ends exactly where the old C starts.
    let d_end = opened.wal.append(&[prediction(4)]).unwrap();
    assert_eq!(d_end, b_end);
    drop(opened);

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![1, 4]);
}

#[test]
fn nonzero_bytes_after_last_frame_are_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let end = opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 1);
    flip_byte(&path, end.offset + 100);

    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(opened.stats.torn_tail, Some((path.clone(), end.offset)));
    drop(opened);
    let bytes = fs::read(&path).unwrap();
    assert!(bytes[end.offset as usize..].iter().all(|&b| b == 0));
}

#[test]
fn damaged_frame_in_earlier_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), 256);
    for seq in 1..=20 {
        opened.wal.append(&[prediction(seq)]).unwrap();
    }
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 1);
    flip_byte(&path, (HEADER_LEN + FRAME_HEADER_LEN + 3) as u64);

    let result = try_open_with(dir.path(), 1, 256, Arc::new(OsIo));
    let Err(Error::Corruption { file, offset, .. }) = result else {
        panic!("expected a corruption error");
    };
    assert_eq!(file, path);
    assert_eq!(offset, HEADER_LEN as u64);
}

#[test]
fn damaged_header_of_earlier_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), 256);
    for seq in 1..=20 {
        opened.wal.append(&[prediction(seq)]).unwrap();
    }
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 2);
    flip_byte(&path, 3);

    let result = try_open_with(dir.path(), 1, 256, Arc::new(OsIo));
    assert!(
        matches!(&result, Err(Error::Corruption { file, offset: 0, .. }) if *file == path),
        "expected a corruption of file 2"
    );
}

#[test]
fn torn_frames_in_last_two_files_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let a_end = opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.append(&[prediction(2)]).unwrap();
    assert_eq!(opened.wal.rotate().unwrap(), 2);
    opened.wal.append(&[prediction(3)]).unwrap();
    opened.wal.close().unwrap();
    flip_byte(&wal_path(dir.path(), 1), a_end.offset + 12);
    flip_byte(&wal_path(dir.path(), 2), HEADER_LEN as u64 + 12);

    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&opened.batches), vec![1]);
    assert_eq!(Wal::file_numbers(dir.path()).unwrap(), vec![1]);
    let pos = opened.wal.append(&[prediction(4)]).unwrap();
    assert_eq!(pos.file, 1);
    drop(opened);

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![1, 4]);
}

#[test]
fn damaged_header_of_last_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.rotate().unwrap();
    opened.wal.append(&[prediction(2)]).unwrap();
    opened.wal.close().unwrap();
    zero_range(&wal_path(dir.path(), 2), 0, HEADER_LEN as u64);

    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&opened.batches), vec![1]);
    assert_eq!(opened.stats.torn_tail, Some((wal_path(dir.path(), 2), 0)));
    assert_eq!(Wal::file_numbers(dir.path()).unwrap(), vec![1]);
}

#[test]
fn short_last_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.close().unwrap();
    fs::write(wal_path(dir.path(), 2), b"MMWAL").unwrap();

    let opened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&opened.batches), vec![1]);
    let pos = opened.wal.append(&[prediction(2)]).unwrap();
    assert_eq!(pos.file, 1);
}

#[test]
fn gap_in_file_numbers_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), 256);
    for seq in 1..=20 {
        opened.wal.append(&[prediction(seq)]).unwrap();
    }
    opened.wal.close().unwrap();
    fs::remove_file(wal_path(dir.path(), 2)).unwrap();

    let result = try_open_with(dir.path(), 1, 256, Arc::new(OsIo));
    assert!(matches!(result, Err(Error::Corruption { .. })));
}

#[test]
fn other_format_version_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 1);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    let mut header = format::encode_header(1);
    header[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let crc = crc32fast::hash(&header[..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    file.write_all_at(&header, 0).unwrap();

    let result = try_open_with(dir.path(), 1, FILE_SIZE, Arc::new(OsIo));
    let newer = FORMAT_VERSION + 1;
    assert!(matches!(
        result,
        Err(Error::UnsupportedVersion { found, .. }) if found == newer
    ));
    assert!(path.exists());
}

#[test]
fn first_live_file_skips_older_files() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    let next = opened.wal.rotate().unwrap();
    opened.wal.append(&[prediction(2)]).unwrap();
    drop(opened);

    let reopened = try_open_with(dir.path(), next, FILE_SIZE, Arc::new(OsIo)).unwrap();
    assert_eq!(seqs(&reopened.batches), vec![2]);
    assert_eq!(reopened.stats.files, 1);
}

#[test]
fn rotate_then_remove_drops_older_files() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    assert_eq!(opened.wal.current_file(), 1);
    let next = opened.wal.rotate().unwrap();
    assert_eq!(next, 2);
    assert_eq!(opened.wal.current_file(), 2);
    assert_eq!(
        opened.wal.rotate().unwrap(),
        2,
        "rotating an unused file is a no-op"
    );
    let pos = opened.wal.append(&[prediction(2)]).unwrap();
    assert_eq!(pos.file, 2);
    opened.wal.remove_files_before(next).unwrap();
    assert_eq!(Wal::file_numbers(dir.path()).unwrap(), vec![2]);
    drop(opened);

    let reopened = try_open_with(dir.path(), next, FILE_SIZE, Arc::new(OsIo)).unwrap();
    assert_eq!(seqs(&reopened.batches), vec![2]);
}

#[test]
fn remove_rejects_file_still_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    let result = opened.wal.remove_files_before(2);
    assert!(matches!(result, Err(Error::InvalidInput { .. })));
    assert_eq!(Wal::file_numbers(dir.path()).unwrap(), vec![1]);
}

#[test]
fn remove_after_close_takes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    opened.wal.close().unwrap();
    opened.wal.remove_files_before(u64::MAX).unwrap();
    assert!(Wal::file_numbers(dir.path()).unwrap().is_empty());
}

#[test]
fn close_is_idempotent_and_rejects_appends() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened.wal.append(&[prediction(1)]).unwrap();
    assert!(opened.wal.close().is_ok());
    assert!(opened.wal.close().is_ok());
    assert!(matches!(
        opened.wal.append(&[prediction(2)]),
        Err(Error::Closed)
    ));
    assert!(matches!(opened.wal.rotate(), Err(Error::Closed)));
}

#[test]
fn wait_durable_rejects_position_past_end() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let pos = opened.wal.append(&[prediction(1)]).unwrap();
    assert!(opened.wal.wait_durable(pos).is_ok());
    let past = LogPosition {
        file: pos.file,
        offset: pos.offset + 1,
    };
    assert!(matches!(
        opened.wal.wait_durable(past),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn wait_durable_syncs_once_for_synced_position() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, FILE_SIZE, ops.clone()).unwrap();
    let pos = opened.wal.append(&[prediction(1)]).unwrap();
    let before = ops.syncs.load(Ordering::SeqCst);
    opened.wal.wait_durable(pos).unwrap();
    opened.wal.wait_durable(pos).unwrap();
    assert_eq!(ops.syncs.load(Ordering::SeqCst), before + 1);
}

#[test]
fn group_commit_makes_every_record_durable_once() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, 64 << 10, ops.clone()).unwrap();
    let wal = Arc::new(opened.wal);
    let syncs_before = ops.syncs.load(Ordering::SeqCst);

    let workers: Vec<_> = (0..THREADS)
        .map(|thread_index| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let seq = thread_index * 1_000 + i;
                    let pos = wal.append(&[prediction(seq)]).unwrap();
                    wal.wait_durable(pos).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let syncs = ops.syncs.load(Ordering::SeqCst) - syncs_before;
    drop(wal);

    let reopened = open(dir.path(), 64 << 10);
    let mut replayed = seqs(&reopened.batches);
    assert_eq!(replayed.len() as u64, THREADS * PER_THREAD);
    for thread_index in 0..THREADS {
        let own: Vec<u64> = replayed
            .iter()
            .copied()
            .filter(|seq| seq / 1_000 == thread_index)
            .collect();
        let expected: Vec<u64> = (0..PER_THREAD).map(|i| thread_index * 1_000 + i).collect();
        assert_eq!(own, expected, "records of thread {thread_index} in order");
    }
    replayed.sort_unstable();
    replayed.dedup();
    assert_eq!(replayed.len() as u64, THREADS * PER_THREAD);
    assert!(
        syncs < THREADS * PER_THREAD,
        "{syncs} syncs for {} waits: no sync was shared",
        THREADS * PER_THREAD
    );
}

#[test]
fn failed_sync_poisons_log() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, FILE_SIZE, ops.clone()).unwrap();
    let pos = opened.wal.append(&[prediction(1)]).unwrap();
    ops.failing_syncs.store(1, Ordering::SeqCst);

    let Err(Error::Poisoned { reason }) = opened.wal.wait_durable(pos) else {
        panic!("expected the failed sync to poison the log");
    };
    assert!(reason.contains("fdatasync"), "{reason}");
    assert!(matches!(
        opened.wal.append(&[prediction(2)]),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(opened.wal.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(
        opened.wal.wait_durable(pos),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(opened.wal.rotate(), Err(Error::Poisoned { .. })));
    assert!(matches!(opened.wal.close(), Err(Error::Poisoned { .. })));
}

#[test]
fn full_file_is_synced_before_next() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, 256, ops.clone()).unwrap();
    let first = opened.wal.append(&[large_prediction(1, 150)]).unwrap();
    let before = ops.syncs.load(Ordering::SeqCst);
    let second = opened.wal.append(&[large_prediction(2, 150)]).unwrap();
    assert_eq!((first.file, second.file), (1, 2));
    // File 1 was synced when file 2 took its first frame, with no sync asked for.
    assert_eq!(ops.syncs.load(Ordering::SeqCst), before + 1);
}

#[test]
fn failed_sync_of_full_file_poisons_log() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, 256, ops.clone()).unwrap();
    opened.wal.append(&[large_prediction(1, 150)]).unwrap();
    ops.failing_syncs.store(1, Ordering::SeqCst);

    let Err(Error::Poisoned { reason }) = opened.wal.append(&[large_prediction(2, 150)]) else {
        panic!("expected the failed sync of file 1 to poison the log");
    };
    assert!(reason.contains("fdatasync"), "{reason}");
    assert!(!wal_path(dir.path(), 2).exists(), "no frame reached file 2");
    assert!(matches!(
        opened.wal.append(&[prediction(3)]),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(opened.wal.sync(), Err(Error::Poisoned { .. })));
}

#[test]
fn disk_full_rejects_batch_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let opened = try_open_with(dir.path(), 1, 256, ops.clone()).unwrap();
    let first = opened.wal.append(&[prediction(1)]).unwrap();
    ops.failing_allocations.store(1, Ordering::SeqCst);

    let error = opened.wal.append(&[large_prediction(2, 300)]).unwrap_err();
    assert!(error.is_disk_full(), "{error}");
    let Error::Io { path, .. } = &error else {
        panic!("expected an I/O error, got {error}");
    };
    assert_eq!(*path, wal_path(dir.path(), 2));
    assert!(!path.exists(), "the half-created file is removed");
    assert_eq!(opened.wal.current_file(), 2);

    let retried = opened.wal.append(&[large_prediction(3, 300)]).unwrap();
    assert_eq!(retried.file, 2);
    assert!(retried > first);
    drop(opened);

    let reopened = open(dir.path(), 256);
    assert_eq!(seqs(&reopened.batches), vec![1, 3]);
}

#[test]
fn disk_full_on_first_file_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    ops.failing_allocations.store(2, Ordering::SeqCst);
    let opened = try_open_with(dir.path(), 1, FILE_SIZE, ops.clone()).unwrap();

    for seq in 1..=2 {
        let error = opened.wal.append(&[prediction(seq)]).unwrap_err();
        assert!(error.is_disk_full(), "{error}");
        assert!(Wal::file_numbers(dir.path()).unwrap().is_empty());
    }
    opened.wal.append(&[prediction(3)]).unwrap();
    drop(opened);

    let reopened = open(dir.path(), FILE_SIZE);
    assert_eq!(seqs(&reopened.batches), vec![3]);
}

#[test]
fn append_rejects_record_over_limits() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    let record = LogRecord::Prediction(PredictionRecord {
        seq: 1,
        model: "m".repeat(crate::value::MAX_MODEL_LEN + 1),
        uuid: Uuid::nil(),
        timestamp_ms: 0,
        metrics: Metrics::new(),
    });
    assert!(matches!(
        opened.wal.append(&[record]),
        Err(Error::InvalidInput { .. })
    ));
    assert!(Wal::file_numbers(dir.path()).unwrap().is_empty());
}

#[test]
fn read_file_lists_frames_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), FILE_SIZE);
    opened
        .wal
        .append(&[prediction(1), delayed(2), aggregate(3)])
        .unwrap();
    let second = opened.wal.append(&[prediction(7)]).unwrap();
    opened.wal.close().unwrap();
    let path = wal_path(dir.path(), 1);

    let contents = read_file(&path).unwrap();
    assert_eq!(contents.header.number, 1);
    assert_eq!(contents.header.version, FORMAT_VERSION);
    assert_eq!(contents.frames.len(), 2);
    let first = &contents.frames[0];
    assert_eq!(first.offset, HEADER_LEN as u64);
    assert_eq!(first.records, 3);
    assert_eq!((first.min_seq, first.max_seq), (Some(1), Some(3)));
    assert_eq!(
        (first.predictions, first.delayed, first.aggregates),
        (1, 1, 1)
    );
    assert_eq!(
        contents.end,
        FileEnd::Clean {
            offset: second.offset
        }
    );

    let second_start = contents.frames[1].offset;
    flip_byte(&path, second_start + 9);
    let before = fs::read(&path).unwrap();
    let damaged = read_file(&path).unwrap();
    assert_eq!(damaged.frames.len(), 1);
    assert!(matches!(damaged.end, FileEnd::Damaged { offset, .. } if offset == second_start));
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "read_file changed the file"
    );
}

#[test]
fn read_file_rejects_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = wal_path(dir.path(), 1);
    fs::write(&path, [0u8; 100]).unwrap();
    assert!(matches!(
        read_file(&path),
        Err(Error::Corruption { offset: 0, .. })
    ));
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
}

#[test]
fn file_name_round_trips() {
    let name = wal_file_name(42);
    assert_eq!(name, "wal-00000000000000000042.log");
    assert_eq!(parse_file_name(&name), Some(42));
    assert_eq!(parse_file_name(&wal_file_name(u64::MAX)), Some(u64::MAX));
    assert_eq!(parse_file_name("wal-42.log"), None);
    assert_eq!(parse_file_name("wal-0000000000000000004x.log"), None);
    assert_eq!(parse_file_name("wal-00000000000000000042.log.tmp"), None);
}

#[test]
fn format_page_states_code_sizes() {
    let page = include_str!("../../docs/format/wal.md");
    assert!(page.contains(&format!("The file header is {HEADER_LEN} bytes")));
    assert!(page.contains(&format!("The frame header is {FRAME_HEADER_LEN} bytes")));
    assert!(page.contains(&format!("Format version: {FORMAT_VERSION}")));
}

#[test]
fn smallest_records_decode_in_batches() {
    let small_aggregate = |seq| {
        LogRecord::Aggregate(AggregateRecord {
            seq,
            model: "m".to_owned(),
            start_ms: 0,
            end_ms: 1,
            metrics: Metrics::new(),
        })
    };
    for count in 1..=4 {
        let records: Vec<_> = (1..=count).map(small_aggregate).collect();
        let mut payload = Vec::new();
        encode_records(&records, &mut payload);
        assert_eq!(decode_records(&payload), Ok(records), "batch of {count}");
    }
}

#[test]
fn failed_large_write_is_zeroed_and_retried() {
    use crate::io::fault::{Fault, FaultyIo, Op};

    let file_size = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let io = FaultyIo::new();
    let opened = try_open_with(dir.path(), 1, file_size, Arc::new(io.clone())).unwrap();
    let first = opened.wal.append(&[prediction(1)]).unwrap();
    io.arm(1, Fault::Io);
    let failed = opened.wal.append(&[large_prediction(2, 10_000)]);
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(io.failed(), Some((1, Op::Write)));

    let bytes = fs::read(wal_path(dir.path(), 1)).unwrap();
    assert!(bytes[first.offset as usize..].iter().all(|&b| b == 0));
    let second = opened.wal.append(&[large_prediction(3, 10_000)]).unwrap();
    assert!(second.offset > first.offset + 10_000);
    opened.wal.close().unwrap();

    let reopened = open(dir.path(), file_size);
    assert_eq!(seqs(&reopened.batches), vec![1, 3]);
    assert_eq!(reopened.stats.torn_tail, None);
}

#[test]
fn new_file_syncs_retired_file_of_pending_plan() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(FaultyOps::default());
    let io: Arc<dyn StoreIo> = ops.clone();
    let mut writer = super::writer::Writer::new(
        dir.path().to_path_buf(),
        4096,
        io,
        None,
        1,
        LogPosition::default(),
    );
    writer.append_frame(&[1; 100]).unwrap();
    writer.retire_active();
    // A sync leader made its plan, which covers file 1, but has not synced yet.
    let plan = writer.plan_sync();
    let syncs_before = ops.syncs.load(Ordering::SeqCst);

    // The next frame creates file 2. File 1 must be synced first, or file 2 could reach the
    // disk while file 1 is torn.
    writer.append_frame(&[2; 100]).unwrap();
    assert_eq!(writer.current_file(), 2);
    assert_eq!(ops.syncs.load(Ordering::SeqCst), syncs_before + 1);

    writer.forget_synced(&plan);
    let next = writer.plan_sync();
    assert!(
        next.retired.is_empty(),
        "file 1 is still planned after its sync"
    );
}
