//! The catch-up run: a paced writer thread while compaction works through a store, its call
//! latencies, and the bytes on disk before and after.

use super::*;

/// Writer calls of one window: their latencies in nanoseconds, sorted, and the slowest calls
/// with their start.
pub(crate) struct Latencies {
    pub(crate) sorted: Vec<u64>,
    pub(crate) slowest: Vec<(Instant, u64)>,
}

impl Latencies {
    pub(crate) fn new(mut calls: Vec<(Instant, u64)>) -> Latencies {
        calls.sort_unstable_by_key(|&(_, ns)| std::cmp::Reverse(ns));
        let slowest = calls.iter().take(SLOWEST_LISTED).copied().collect();
        let mut sorted: Vec<u64> = calls.into_iter().map(|(_, ns)| ns).collect();
        sorted.reverse();
        Latencies { sorted, slowest }
    }

    /// Returns the smallest latency, in µs, that at least `q` (0 to 1) of the calls did not
    /// exceed.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        let n = self.sorted.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.sorted
            .get(rank - 1)
            .map_or(f64::NAN, |&ns| ns as f64 / 1_000.0)
    }

    pub(crate) fn slow_calls(&self) -> usize {
        let limit = SLOW_CALL.as_nanos() as u64;
        self.sorted.iter().filter(|&&ns| ns > limit).count()
    }
}

/// One writer thread tracking predictions at a paced rate, newer than every stored one.
pub(crate) struct Writer {
    pub(crate) rows: RowGenerator,
    pub(crate) next_ms: i64,
    pub(crate) interval: Duration,
}

impl Writer {
    pub(crate) fn new(rate: f64) -> Writer {
        Writer {
            rows: RowGenerator::new(WRITER_SEED),
            next_ms: START_MS + DAYS * MS_PER_DAY,
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }

    pub(crate) fn write_for(&mut self, store: &Store, duration: Duration) -> Latencies {
        let deadline = Instant::now() + duration;
        self.write_while(store, || Instant::now() < deadline)
    }

    /// Tracks one prediction per `interval`, 1 ms of data time apart, while `keep_going`
    /// returns true. A call that starts late is not delayed further, so the rate holds on
    /// average. Times each call alone, not the wait before it.
    ///
    /// NOTE: a slow call also delays the start of the calls due during it, and that delay is
    /// in no latency here (coordinated omission): the tail is that of one call, not of a
    /// client with a fixed schedule.
    pub(crate) fn write_while(
        &mut self,
        store: &Store,
        keep_going: impl Fn() -> bool,
    ) -> Latencies {
        let started = Instant::now();
        let mut calls_timed = Vec::with_capacity(1 << 16);
        let mut calls: u32 = 0;
        while keep_going() {
            let due = started + self.interval * calls;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let row = self.rows.row(self.next_ms);
            let metrics = metrics(&row);
            self.next_ms += 1;
            let call = Instant::now();
            store
                .track_metrics(MODEL, row.uuid, row.timestamp_ms, &metrics)
                .expect("track a prediction");
            calls_timed.push((call, call.elapsed().as_nanos() as u64));
            calls += 1;
        }
        Latencies::new(calls_timed)
    }
}

/// Bytes of the store's files by kind.
#[derive(Clone, Copy, Default)]
pub(crate) struct DiskBytes {
    pub(crate) segments: u64,
    pub(crate) index: u64,
    pub(crate) rollups: u64,
}

impl DiskBytes {
    pub(crate) fn of(dir: &Path) -> DiskBytes {
        let mut bytes = DiskBytes::default();
        for entry in std::fs::read_dir(dir).expect("list the store") {
            let entry = entry.expect("read a directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let len = entry.metadata().expect("read file metadata").len();
            if name.starts_with("seg-") {
                bytes.segments += len;
            } else if name.starts_with("index-") {
                bytes.index += len;
            } else if name.starts_with("rollup-") {
                bytes.rollups += len;
            }
        }
        bytes
    }
}

/// The writer's latencies with and without a concurrent compaction, on one store.
pub(crate) struct CatchUp {
    pub(crate) alone: Latencies,
    pub(crate) compaction: Concurrent,
    /// The writer alone again, once the compaction finished.
    pub(crate) alone_after: Latencies,
    /// Index runs in the manifest before and after the compaction.
    pub(crate) index_runs: (usize, usize),
    pub(crate) before: DiskBytes,
    pub(crate) after: DiskBytes,
}

pub(crate) fn catch_up(dir: &Path, config: &Config) -> CatchUp {
    let before = DiskBytes::of(dir);
    let store = Store::open_with(dir, options(full_policy(), 64 << 20)).expect("open the store");
    let index_runs_before = index_runs(dir);
    let mut writer = Writer::new(config.rate);
    writer.write_for(&store, WARM_UP);
    let alone = writer.write_for(&store, config.baseline);
    let compaction = compact_while_writing(&store, &mut writer, dir);
    let index_runs_after = index_runs(dir);
    let alone_after = writer.write_for(&store, config.baseline);
    store.close().expect("close the store");
    CatchUp {
        alone,
        compaction,
        alone_after,
        index_runs: (index_runs_before, index_runs_after),
        before,
        after: DiskBytes::of(dir),
    }
}

pub(crate) fn index_runs(dir: &Path) -> usize {
    let manifest = Manifest::load(dir).expect("read the manifest");
    manifest.map_or(0, |m| m.index_runs.len())
}

/// One `Store::compact` call on another thread while `writer` tracks predictions.
pub(crate) struct Concurrent {
    pub(crate) latencies: Latencies,
    pub(crate) seconds: f64,
    pub(crate) steps: u32,
    /// Lines of `describe_slowest`.
    pub(crate) slowest: Vec<String>,
}

pub(crate) fn compact_while_writing(store: &Store, writer: &mut Writer, dir: &Path) -> Concurrent {
    EVENTS.take();
    let compaction_start = Instant::now();
    let done = AtomicBool::new(false);
    let (latencies, (seconds, steps)) = thread::scope(|scope| {
        let compaction = scope.spawn(|| {
            let started = Instant::now();
            let steps = store.compact().expect("compact");
            done.store(true, Ordering::Release);
            (started.elapsed().as_secs_f64(), steps)
        });
        let latencies = writer.write_while(store, || !done.load(Ordering::Acquire));
        let compaction = compaction.join().expect("join the compaction thread");
        (latencies, compaction)
    });
    let prefix = format!("{}/", dir.display());
    let events: Vec<(Instant, String)> = EVENTS
        .take()
        .into_iter()
        .map(|(at, message)| (at, message.replace(&prefix, "")))
        .collect();
    let slowest = describe_slowest(&latencies, compaction_start, &events);
    Concurrent {
        latencies,
        seconds,
        steps,
        slowest,
    }
}

/// Describes each of the slowest calls: its start after `compaction_start` and its latency in
/// ms, and the last `EVENTS_LISTED` info log records of the store from 100 ms before the call
/// until its end, cut to 90 characters each.
pub(crate) fn describe_slowest(
    calls: &Latencies,
    compaction_start: Instant,
    events: &[(Instant, String)],
) -> Vec<String> {
    let since_start = |at: Instant| at.saturating_duration_since(compaction_start).as_secs_f64();
    let mut lines = Vec::new();
    for &(start, ns) in &calls.slowest {
        let end = start + Duration::from_nanos(ns);
        let from = start
            .checked_sub(Duration::from_millis(100))
            .unwrap_or(start);
        let near: Vec<&(Instant, String)> = events
            .iter()
            .filter(|(at, _)| (from..=end).contains(at))
            .collect();
        let listed = near.iter().skip(near.len().saturating_sub(EVENTS_LISTED));
        let described: Vec<String> = listed
            .map(|(at, message)| {
                let message: String = message.chars().take(90).collect();
                format!("{:.0} ms: {message}", since_start(*at) * 1e3)
            })
            .collect();
        let described = if described.is_empty() {
            "none".to_owned()
        } else {
            described.join("; ")
        };
        let offset = since_start(start) * 1e3;
        lines.push(format!(
            "{offset:.0} | {:.1} | {described}",
            ns as f64 / 1e6
        ));
    }
    lines
}
