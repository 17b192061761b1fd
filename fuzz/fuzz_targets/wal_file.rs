//! Writes the input as write-ahead log file 1, lists it with `wal::read_file`, then replays it
//! with `Wal::open`, as a store does when it opens. Then again with the header and frame CRCs
//! repaired.
//!
//! The two readers must agree: when `read_file` accepts the header, replay succeeds and
//! replays exactly the frames and records that `read_file` lists. When `read_file` reports a
//! damaged header, replay treats the file as torn and replays nothing.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use modelmetrics::record::LogRecord;
use modelmetrics::wal::{self, FileContents, ReplayStats, Wal, WalOptions};
use modelmetrics::{Durability, Error, Result};
use modelmetrics_fuzz::{checksums, scratch};

/// Number of the log file, in its name and in the header of the seeds.
const FILE_NUMBER: u64 = 1;

/// Log options of the replay: no sync on append, and no preallocation beyond what open finds.
const OPTIONS: WalOptions = WalOptions {
    durability: Durability::Os,
    file_size: 0,
};

/// Replays the log in `dir` and returns its statistics, counting records on the way.
fn replay(dir: &Path) -> Result<(ReplayStats, u64)> {
    let mut records = 0;
    let mut count = |batch: Vec<LogRecord>| {
        records += batch.iter().map(LogRecord::seq_count).sum::<u64>();
        Ok(())
    };
    let (wal, stats) = Wal::open(dir, FILE_NUMBER, OPTIONS, &mut count)?;
    wal.close()?;
    drop(wal);
    Ok((stats, records))
}

/// Asserts that replay found what `read_file` listed.
fn check_agreement(listed: &Result<FileContents>, replayed: &Result<(ReplayStats, u64)>) {
    match listed {
        Ok(contents) if contents.header.number == FILE_NUMBER => {
            let Ok((stats, records)) = replayed else {
                panic!("read_file lists the file but replay fails: {replayed:?}");
            };
            // Replay counts each row of a columnar record, as `read_file` counts its kinds.
            let listed_records: usize = contents
                .frames
                .iter()
                .map(|f| f.predictions + f.delayed + f.aggregates)
                .sum();
            assert_eq!(
                stats.frames,
                contents.frames.len() as u64,
                "frame counts differ"
            );
            assert_eq!(stats.records, listed_records as u64, "record counts differ");
            assert_eq!(
                *records, stats.records,
                "replay counted other records than it passed"
            );
        }
        // Replay rejects a header that names another file, and treats it as torn.
        Ok(_) | Err(Error::Corruption { .. }) => {
            let Ok((stats, _)) = replayed else {
                panic!("replay of a log with a damaged header fails: {replayed:?}");
            };
            assert_eq!(
                stats.records, 0,
                "replay found records behind a damaged header"
            );
        }
        Err(Error::UnsupportedVersion { .. }) => {
            let rejected = matches!(replayed, Err(Error::UnsupportedVersion { .. }));
            assert!(rejected, "replay accepted a version that read_file rejects");
        }
        Err(error) => panic!("read_file failed on a readable file: {error}"),
    }
}

fn read(bytes: &[u8]) {
    let name = wal::wal_file_name(FILE_NUMBER);
    let dir = scratch::write_file(&name, bytes);
    let listed = wal::read_file(&dir.join(&name));
    let replayed = replay(dir);
    check_agreement(&listed, &replayed);
}

fuzz_target!(|data: &[u8]| {
    read(data);
    if let Some(repaired) = checksums::wal_file(data) {
        read(&repaired);
    }
});
