//! Helpers of the adversarial tests: seeds, incompressible payloads, and checks of the files a
//! store leaves in its directory.
//!
//! Include it with `#[path = "support/adversarial.rs"] mod adversarial;`.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::SystemTime;

use modelmetrics::manifest::Manifest;
use modelmetrics::{Error, Prediction, Uuid, index, segment, wal};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Returns the seed in the environment variable `var`, or a new one. Prints it either way, with
/// the command line that repeats the run.
pub fn seed(var: &str) -> u64 {
    let seed = match std::env::var(var) {
        Ok(text) => text.parse().unwrap(),
        Err(_) => {
            let since_epoch = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            since_epoch.as_nanos() as u64
        }
    };
    println!("seed {seed}: rerun with {var}={seed}");
    seed
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Returns `len` random bytes, which zstd cannot compress, so they take their size on disk.
pub fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes[..]);
    bytes
}

/// Counts the rows of each prediction UUID.
pub fn count_by_uuid(rows: &[Prediction]) -> HashMap<Uuid, usize> {
    let mut counts = HashMap::new();
    for row in rows {
        *counts.entry(row.uuid).or_insert(0) += 1;
    }
    counts
}

/// Returns the names of the files in `dir`.
pub fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Checks that `dir` contains only what its manifest makes live: `MANIFEST`, `LOCK`, the listed
/// segments and index runs (each present), and log files numbered `wal_start` and up. Returns
/// a description of every violation.
pub fn stray_files(dir: &Path) -> Vec<String> {
    let manifest = Manifest::load(dir).unwrap().expect("MANIFEST is missing");
    let mut problems = Vec::new();
    let names = file_names(dir);
    let listed: BTreeSet<String> = manifest
        .segments
        .iter()
        .map(|&id| segment::segment_file_name(id))
        .chain(
            manifest
                .index_runs
                .iter()
                .map(|&id| index::index_file_name(id)),
        )
        .collect();
    for name in &listed {
        if !names.contains(name) {
            problems.push(format!("{name} is listed in MANIFEST but missing"));
        }
    }
    for name in &names {
        let expected = name == "MANIFEST"
            || name == "LOCK"
            || listed.contains(name)
            || log_number(name).is_some_and(|n| n >= manifest.wal_start);
        if !expected {
            problems.push(format!("{name} is not live"));
        }
    }
    problems
}

/// Returns the number of a log file name `wal-{20 digits}.log`.
pub fn log_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

/// Returns the number of frames, and of records in them, in the log files of `dir`.
pub fn logged_frames(dir: &Path) -> (usize, usize) {
    let mut frames = 0;
    let mut records = 0;
    for name in file_names(dir) {
        if log_number(&name).is_none() {
            continue;
        }
        let contents = wal::read_file(&dir.join(&name)).unwrap();
        frames += contents.frames.len();
        records += contents.frames.iter().map(|f| f.records).sum::<usize>();
    }
    (frames, records)
}

/// Asserts that `error` comes from a full disk and names a file under `root`.
pub fn assert_disk_full_under(error: &Error, root: &Path, context: &str) {
    assert!(
        error.is_disk_full(),
        "{context}: expected a full-disk error, got {error:?}"
    );
    match error {
        Error::Io { path, .. } => assert!(
            path.starts_with(root),
            "{context}: the error names {path:?}, outside {root:?}"
        ),
        other => panic!("{context}: expected Error::Io, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(&root.display().to_string()),
        "{context}: the message {text:?} does not name a path under {root:?}"
    );
}

/// Runs `check` until it returns no problem, at most three times, 50 ms apart, and returns the
/// last problems. A background flush retried while the disk is full writes and removes a
/// partial file in a few milliseconds, so only a file that stays is a leftover.
pub fn settled_problems(check: impl Fn() -> Vec<String>) -> Vec<String> {
    let mut problems = check();
    for _ in 0..2 {
        if problems.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        problems = check();
    }
    problems
}
