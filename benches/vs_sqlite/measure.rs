//! Measurements shared by both stores: latency percentiles, ROC AUC, bytes on disk, and the
//! `write()` + `fdatasync()` baseline of the durable mode.

use std::error::Error;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Bytes that the baseline writes per call: about one encoded prediction of four metrics.
pub const BASELINE_WRITE_LEN: usize = 100;

/// Percentiles of one series of call latencies, in µs.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

impl Latency {
    /// Computes nearest-rank percentiles: the smallest sample with at least q of the samples
    /// at or below it.
    pub fn from_samples(mut samples: Vec<Duration>) -> BenchResult<Latency> {
        if samples.is_empty() {
            return Err("no latency samples: the call count is zero".into());
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            let index = rank.clamp(1, samples.len()) - 1;
            samples
                .get(index)
                .map_or(0.0, |d| d.as_nanos() as f64 / 1000.0)
        };
        Ok(Latency {
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
        })
    }
}

/// Score and label of one prediction read back; `label` is `None` for unlabelled rows.
#[derive(Clone, Copy, Debug)]
pub struct Scored {
    pub score: f64,
    pub label: Option<bool>,
}

/// Computes the ROC AUC of score against label over the labelled rows: the Mann-Whitney
/// statistic with average ranks, so a tie between a positive and a negative counts one half.
pub fn roc_auc(rows: &[Scored]) -> BenchResult<f64> {
    let mut labelled: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|r| r.label.map(|label| (r.score, label)))
        .collect();
    labelled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = labelled.iter().filter(|(_, label)| *label).count() as f64;
    let negatives = labelled.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return Err(format!(
            "ROC AUC needs both classes, got {positives} positives and {negatives} negatives"
        )
        .into());
    }
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < labelled.len() {
        let score = labelled[start].0;
        let end = start
            + labelled[start..]
                .iter()
                .take_while(|r| r.0 == score)
                .count();
        // Ranks start + 1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = labelled[start..end].iter().filter(|r| r.1).count() as f64;
        positive_rank_sum += mean_rank * tied_positives;
        start = end;
    }
    Ok((positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Returns the total length of the regular files in `dir`, not recursing.
pub fn dir_bytes(dir: &Path) -> BenchResult<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let metadata = entry?.metadata()?;
        if metadata.is_file() {
            total += metadata.len();
        }
    }
    Ok(total)
}

/// File that a baseline writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselineFile {
    /// Appends to a new, empty file, so each `fdatasync` also writes the new file size.
    Append,
    /// Overwrites, from its start, a file whose bytes were written and synced beforehand, as
    /// a log with preallocated and zero-filled files does.
    Overwrite,
}

/// A baseline of the durable mode: writes of `BASELINE_WRITE_LEN` bytes, each followed by
/// `fdatasync` (`File::sync_data` on Linux).
pub struct WriteFdatasync {
    path: PathBuf,
    file: File,
}

impl WriteFdatasync {
    /// Creates the file in `dir`, zero-filled for `writes` writes in `Overwrite` mode.
    pub fn create(dir: &Path, kind: BaselineFile, writes: usize) -> BenchResult<WriteFdatasync> {
        let path = dir.join(format!("baseline-{kind:?}"));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        if kind == BaselineFile::Overwrite {
            file.write_all(&vec![0u8; writes * BASELINE_WRITE_LEN])?;
            file.sync_all()?;
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(WriteFdatasync { path, file })
    }

    /// Times `count` writes with their `fdatasync`.
    pub fn calls(&mut self, count: usize) -> BenchResult<Vec<Duration>> {
        let payload = [0x5au8; BASELINE_WRITE_LEN];
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            self.file.write_all(&payload)?;
            self.file.sync_data()?;
            samples.push(started.elapsed());
        }
        Ok(samples)
    }

    pub fn remove(self) -> BenchResult<()> {
        drop(self.file);
        Ok(fs::remove_file(&self.path)?)
    }
}

/// Runs `read` `repeats` times and returns the rows it returned and the median duration.
pub fn median_timed<T>(
    repeats: usize,
    mut read: impl FnMut() -> BenchResult<Vec<T>>,
) -> BenchResult<(Vec<T>, Duration)> {
    let mut durations = Vec::with_capacity(repeats);
    let mut rows = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        rows = read()?;
        durations.push(started.elapsed());
    }
    durations.sort_unstable();
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default();
    Ok((rows, median))
}

/// Returns `count / duration`, the rate per second.
pub fn per_second(count: usize, duration: Duration) -> f64 {
    count as f64 / duration.as_secs_f64().max(1e-9)
}

/// Checks `roc_auc` and `Latency` on cases with known results. A harness-less bench runs no
/// `#[test]`, so the bench calls this before measuring.
pub fn self_check() -> BenchResult<()> {
    let scored = |score: f64, label: Option<bool>| Scored { score, label };
    let cases = [
        (vec![scored(0.1, Some(false)), scored(0.9, Some(true))], 1.0),
        (vec![scored(0.5, Some(true)), scored(0.5, Some(false))], 0.5),
        (
            vec![
                scored(0.2, Some(false)),
                scored(0.8, Some(true)),
                scored(0.0, None),
            ],
            1.0,
        ),
        (vec![scored(0.9, Some(false)), scored(0.1, Some(true))], 0.0),
    ];
    for (rows, expected) in cases {
        let auc = roc_auc(&rows)?;
        if auc != expected {
            return Err(format!("roc_auc of {rows:?} is {auc}, expected {expected}").into());
        }
    }
    let latency = Latency::from_samples((1..=1000).map(Duration::from_micros).collect())?;
    let percentiles = (latency.p50_us, latency.p99_us, latency.p999_us);
    if percentiles != (500.0, 990.0, 999.0) {
        return Err(format!("nearest-rank percentiles of 1..=1000 µs are {percentiles:?}").into());
    }
    Ok(())
}
