//! Settings of a store, with safe defaults.

use std::time::Duration;

/// When a `track_*` call's bytes reach stable storage.
///
/// Every mode writes the record into a memory-mapped write-ahead log file before the call
/// returns, so a process that is killed (SIGKILL, a panic that aborts) loses nothing that a call
/// returned for: the kernel owns the mapped pages. The modes differ in what a power loss or an
/// operating-system crash can lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Each call returns after its bytes are synced to disk. Calls from many threads share one
    /// sync (group commit). A power loss loses nothing that a call returned for.
    Sync,
    /// A background thread syncs the log at this interval. A power loss loses the records of
    /// about the last two intervals: the same thread flushes the head, which can delay a sync.
    Interval(Duration),
    /// The store syncs only on `sync`, flush and close; the operating system writes the rest
    /// back when it chooses. A power loss can lose everything since the last sync.
    Os,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Interval(Duration::from_millis(100))
    }
}

/// Settings of a store, passed to `Store::open_with`.
///
/// ```
/// use std::time::Duration;
/// use modelmetrics::{Durability, Options};
/// let options = Options::default()
///     .durability(Durability::Sync)
///     .head_size_bytes(16 << 20)
///     .flush_interval(Duration::from_secs(60));
/// assert_eq!(options.durability, Durability::Sync);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// When writes reach stable storage. Default: `Durability::Interval` of 100 ms.
    pub durability: Durability,
    /// Estimated bytes of records the in-memory head keeps before it is flushed to a segment.
    /// Default: 64 MiB. Zero is raised to the minimum of 64 KiB.
    pub head_size_bytes: usize,
    /// Age of the oldest record in the head after which the head is flushed, whatever its size.
    /// Default: 10 minutes. Zero means that only the size triggers a flush.
    pub flush_interval: Duration,
    /// Size of each write-ahead log file, preallocated on creation. Default: 64 MiB, at most
    /// 1 GiB. A record larger than this gets a file of its own.
    pub wal_file_size: u64,
    /// When true, `track_delayed_metrics` for a prediction UUID the store does not hold fails
    /// with `Error::UnknownPrediction`. When false (the default), such metrics are stored as
    /// orphans, listed by `Store::orphaned_delayed_metrics`, and joined to the prediction if it
    /// is tracked later.
    pub reject_unknown_predictions: bool,
    /// zstd level for columns that zstd compresses. Default: 3.
    pub zstd_level: i32,
    /// Settings of the background compaction: merges, roll-ups and deletion.
    pub compaction: Compaction,
}

/// Settings of the background compaction thread.
///
/// Ages are measured in data time: against the newest prediction timestamp in the store, not
/// the wall clock. A backfill of last year's data is therefore not downsampled on arrival; it
/// ages only as newer predictions arrive.
#[derive(Clone, Debug, PartialEq)]
pub struct Compaction {
    /// Whether the store runs a compaction thread. Default: true. `Store::compact` works either
    /// way.
    pub enabled: bool,
    /// Wall-clock pause between two compaction checks. Default: 10 s.
    pub check_interval: Duration,
    /// Size that merges aim for: segments under half of it are merged with their neighbours,
    /// and a merge writes segments of about half of it. Default: 64 MiB.
    pub target_segment_bytes: u64,
    /// Length of the time partitions a merge splits its output into, by prediction timestamp.
    /// Default: one day.
    pub partition: Duration,
    /// The retention policy by data age. Default: keep every raw record.
    pub retention: Retention,
}

/// A retention policy by data age: raw records, then rollups at coarser intervals.
///
/// ```
/// use std::time::Duration;
/// use modelmetrics::{Retention, RollupTier};
/// const DAY: Duration = Duration::from_secs(86_400);
/// // Raw for 30 days, then 5-minute rollups up to 90 days, then hourly rollups for a year.
/// let retention = Retention::keep_raw_for(30 * DAY)
///     .then(RollupTier::every(Duration::from_secs(300)).until(90 * DAY))
///     .then(RollupTier::every(Duration::from_secs(3600)))
///     .delete_after(365 * DAY);
/// assert_eq!(retention.tiers.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Retention {
    /// Raw predictions younger than this keep every record. `None`: raw data is kept for ever,
    /// and the tiers are unused.
    pub raw_for: Option<Duration>,
    /// Rollup tiers from the finest interval to the coarsest. Each interval must be a multiple
    /// of the previous one.
    pub tiers: Vec<RollupTier>,
    /// Everything older than this is deleted: raw records, rollups and aggregates.
    pub max_age: Option<Duration>,
    /// When the segment files exceed this many bytes, the oldest partitions are deleted.
    /// Index runs, rollup files and log files are not counted.
    pub max_bytes: Option<u64>,
}

/// One rollup resolution: predictions summarised per `interval`, kept until `keep_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupTier {
    /// Length of one rollup interval. Intervals are aligned to multiples of it since the epoch.
    pub interval: Duration,
    /// Data age after which this tier's rollups are merged into the next tier, or kept until
    /// `Retention::max_age` when this is the last tier. `None`: kept until `max_age`.
    pub keep_until: Option<Duration>,
}

impl Retention {
    /// Keeps raw records younger than `age` and nothing else yet.
    pub fn keep_raw_for(age: Duration) -> Retention {
        Retention {
            raw_for: Some(age),
            ..Retention::default()
        }
    }

    /// Adds a coarser rollup tier after the ones already set.
    pub fn then(mut self, tier: RollupTier) -> Retention {
        self.tiers.push(tier);
        self
    }

    /// Deletes everything older than `age`.
    pub fn delete_after(mut self, age: Duration) -> Retention {
        self.max_age = Some(age);
        self
    }

    /// Deletes the oldest partitions while the store's files exceed `bytes`.
    pub fn max_bytes(mut self, bytes: u64) -> Retention {
        self.max_bytes = Some(bytes);
        self
    }
}

impl RollupTier {
    /// Creates a tier of rollups per `interval`, kept until `Retention::max_age`.
    pub fn every(interval: Duration) -> RollupTier {
        RollupTier {
            interval,
            keep_until: None,
        }
    }

    /// Moves this tier's rollups to the next tier once their data age reaches `age`.
    pub fn until(mut self, age: Duration) -> RollupTier {
        self.keep_until = Some(age);
        self
    }
}

impl Compaction {
    /// Shortest partition a store accepts.
    pub const MIN_PARTITION: Duration = Duration::from_secs(1);

    /// Checks the settings that `Store::open_with` would otherwise misuse.
    pub(crate) fn check(&self) -> crate::error::Result<()> {
        if self.partition < Compaction::MIN_PARTITION {
            return Err(crate::error::Error::invalid(
                "Compaction::partition",
                format!("{:?}", self.partition),
                "a time partition is at least one second; one day suits most stores",
            ));
        }
        self.retention.check()
    }
}

impl Retention {
    fn check(&self) -> crate::error::Result<()> {
        let invalid = |field: &'static str, value: String, fix: &str| {
            Err(crate::error::Error::invalid(field, value, fix))
        };
        match (self.raw_for, self.tiers.is_empty()) {
            (Some(age), true) => {
                return invalid(
                    "Retention::raw_for",
                    format!("{age:?} with no rollup tier"),
                    "add a tier with .then(RollupTier::every(..)) to keep rollups of older data, \
                     or use delete_after to delete it",
                );
            }
            (None, false) => {
                return invalid(
                    "Retention::tiers",
                    format!("{} tiers without raw_for", self.tiers.len()),
                    "set how long raw data stays with Retention::keep_raw_for(age)",
                );
            }
            _ => {}
        }
        let mut previous: Option<&RollupTier> = None;
        let mut younger = self.raw_for.unwrap_or_default();
        for tier in &self.tiers {
            check_tier(tier, previous)?;
            if let Some(until) = tier.keep_until {
                if until <= younger {
                    return invalid(
                        "RollupTier::keep_until",
                        format!(
                            "{until:?} on the {:?} tier, after {younger:?}",
                            tier.interval
                        ),
                        "each tier's age must be longer than raw_for and the earlier tiers' ages",
                    );
                }
                younger = until;
            }
            previous = Some(tier);
        }
        if let Some(age) = self.max_age
            && !self.tiers.is_empty()
            && age <= younger
        {
            return invalid(
                "Retention::max_age",
                format!("{age:?}, not longer than {younger:?}"),
                "delete_after must be longer than raw_for and every tier's age, or the rollups \
                 are deleted as soon as they are written",
            );
        }
        Ok(())
    }
}

/// Checks one tier's interval against the finer tier before it.
fn check_tier(tier: &RollupTier, finer: Option<&RollupTier>) -> crate::error::Result<()> {
    let invalid = |field: &'static str, value: String, fix: &str| {
        Err(crate::error::Error::invalid(field, value, fix))
    };
    let interval = tier.interval.as_millis();
    if interval == 0 || !tier.interval.subsec_nanos().is_multiple_of(1_000_000) {
        return invalid(
            "RollupTier::interval",
            format!("{:?}", tier.interval),
            "a rollup interval is a whole number of milliseconds, at least one",
        );
    }
    let Some(finer) = finer else {
        return Ok(());
    };
    let finer_ms = finer.interval.as_millis().max(1);
    if interval <= finer_ms || !interval.is_multiple_of(finer_ms) {
        return invalid(
            "RollupTier::interval",
            format!("{:?} after {:?}", tier.interval, finer.interval),
            "each tier's interval must be a larger multiple of the previous one",
        );
    }
    if finer.keep_until.is_none() {
        return invalid(
            "RollupTier::keep_until",
            format!("None on the {:?} tier", finer.interval),
            "every tier but the last needs .until(age), or it never moves on",
        );
    }
    Ok(())
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            enabled: true,
            check_interval: Duration::from_secs(10),
            target_segment_bytes: 64 << 20,
            partition: Duration::from_secs(86_400),
            retention: Retention::default(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::default(),
            head_size_bytes: 64 << 20,
            flush_interval: Duration::from_secs(600),
            wal_file_size: 64 << 20,
            reject_unknown_predictions: false,
            zstd_level: 3,
            compaction: Compaction::default(),
        }
    }
}

impl Options {
    /// Sets [`Options::durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`Options::head_size_bytes`].
    pub fn head_size_bytes(mut self, bytes: usize) -> Self {
        self.head_size_bytes = bytes;
        self
    }

    /// Sets [`Options::flush_interval`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Sets [`Options::wal_file_size`].
    pub fn wal_file_size(mut self, bytes: u64) -> Self {
        self.wal_file_size = bytes;
        self
    }

    /// Sets [`Options::reject_unknown_predictions`].
    pub fn reject_unknown_predictions(mut self, reject: bool) -> Self {
        self.reject_unknown_predictions = reject;
        self
    }

    /// Sets [`Options::zstd_level`].
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }

    /// Sets [`Options::compaction`].
    pub fn compaction(mut self, compaction: Compaction) -> Self {
        self.compaction = compaction;
        self
    }

    /// Sets the retention policy of [`Options::compaction`].
    pub fn retention(mut self, retention: Retention) -> Self {
        self.compaction.retention = retention;
        self
    }

    /// Minimum head size a store uses, whatever `head_size_bytes` is set to.
    pub const MIN_HEAD_SIZE_BYTES: usize = 64 << 10;
    /// Smallest write-ahead log file a store creates.
    pub const MIN_WAL_FILE_SIZE: u64 = 64 << 10;
    /// Largest `wal_file_size` a store accepts; `open` rejects a larger one.
    pub const MAX_WAL_FILE_SIZE: u64 = 1 << 30;
}
