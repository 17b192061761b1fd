//! Helpers shared by the integration tests: stores in temporary directories, reads that
//! collect a whole window, checks run in each place a record can live, and file listings.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use modelmetrics::{Aggregate, Metrics, Options, Prediction, Store, Uuid};

/// Bounds of the widest window, which covers every timestamp except `i64::MAX`.
pub const ALL_START: i64 = i64::MIN;
pub const ALL_END: i64 = i64::MAX;

/// Where the records of a check live when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The last writes are still in the head.
    Head,
    /// Everything was flushed to segments.
    Flushed,
    /// The store was closed and opened again.
    Reopened,
    /// Three more small segments were flushed and compaction merged the four.
    Compacted,
}

/// Runs `write` on a store in `dir`, then `check` four times: with the writes in the head,
/// after a flush, after a close and a new open, and after compaction merged their segment
/// with three others. `check` receives the stage for its assert messages.
pub fn check_in_stages(
    dir: &Path,
    options: &Options,
    write: impl FnOnce(&Store),
    check: impl Fn(&Store, Stage),
) {
    let store = Store::open_with(dir, options.clone()).unwrap();
    write(&store);
    check(&store, Stage::Head);
    store.flush().unwrap();
    check(&store, Stage::Flushed);
    store.close().unwrap();
    drop(store);
    let store = Store::open_with(dir, options.clone()).unwrap();
    check(&store, Stage::Reopened);
    let before = modelmetrics::manifest::Manifest::load(dir)
        .unwrap()
        .unwrap();
    // Compaction merges a segment only with segments that are as large together, so the
    // fillers, at least three, carry more bytes than the largest segment, in bytes zstd cannot
    // shrink.
    let largest = before
        .segments
        .iter()
        .map(|id| {
            let name = modelmetrics::segment::segment_file_name(*id);
            std::fs::metadata(dir.join(name)).unwrap().len()
        })
        .max()
        .unwrap_or(0);
    let payload_len = (largest as usize / 2 + 64).min(4 << 20);
    let fillers = (largest as usize / payload_len + 1).max(3) as u128;
    for n in 0..fillers {
        let uuid = modelmetrics::Uuid::from_u128(0xf111_0000_0000_4000_8000_0000_0000_0000 | n);
        let filler = modelmetrics::Metrics::new().with("filler", noise(payload_len, n as u64));
        store
            .track_metrics("stage-filler", uuid, 0, &filler)
            .unwrap();
        store.flush().unwrap();
    }
    store.compact().unwrap();
    let after = modelmetrics::manifest::Manifest::load(dir)
        .unwrap()
        .unwrap();
    // With a segment of the test's own, four small segments are there to merge.
    if !before.segments.is_empty() {
        assert!(
            after.segments.len() < before.segments.len() + fillers as usize,
            "compaction merged nothing: {} segments",
            after.segments.len()
        );
    }
    check(&store, Stage::Compacted);
    store.close().unwrap();
}

/// Returns `len` pseudo-random bytes from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Returns every prediction of `model` in `[start, end)`, failing the test on a read error.
pub fn read(store: &Store, model: &str, start: i64, end: i64) -> Vec<Prediction> {
    store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Returns every prediction of `model`.
pub fn read_all(store: &Store, model: &str) -> Vec<Prediction> {
    read(store, model, ALL_START, ALL_END)
}

/// Returns every aggregate of `model`.
pub fn aggregates_all(store: &Store, model: &str) -> Vec<Aggregate> {
    store
        .read_aggregate_metrics(model, ALL_START, ALL_END)
        .unwrap()
}

/// Returns the UUIDs of `rows` in order.
pub fn uuids(rows: &[Prediction]) -> Vec<Uuid> {
    rows.iter().map(|p| p.uuid).collect()
}

/// Returns a UUID that is fixed for `n`, so that failures name the same UUIDs on every run.
pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// Returns a one-metric list.
pub fn metric(name: &str, value: impl Into<modelmetrics::Value>) -> Metrics {
    Metrics::new().with(name, value)
}

/// Returns the names and sizes of the files in `dir`, sorted by name. A file that an open
/// store removes between the listing and its size is left out.
pub fn list_files(dir: &Path) -> BTreeMap<String, u64> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            match entry.metadata() {
                Ok(metadata) => Some((name, metadata.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("size of {name} in {}: {e}", dir.display()),
            }
        })
        .collect()
}

/// Returns the paths of the files in `dir` whose name starts with `prefix`, sorted.
pub fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
        })
        .collect();
    paths.sort();
    paths
}

/// Copies every file of `from` except `LOCK` into `to`, creating `to`. The copy is what a
/// crash of the process that has `from` open would leave, because the store writes its log
/// through a shared mapping whose pages are in the page cache.
pub fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "LOCK" {
            continue;
        }
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Returns options with small log files, for tests that copy a store many times.
pub fn small_log_options() -> Options {
    Options::default().wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// Returns the metrics keyed by name, for comparisons that ignore the order of the list.
pub fn by_name(metrics: &Metrics) -> BTreeMap<String, modelmetrics::Value> {
    metrics
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect()
}
