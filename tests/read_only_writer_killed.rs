//! One read-only view follows writer processes that are killed with SIGKILL in the middle of
//! tracking and flushing, and the writers that recover after them. Every refresh succeeds and
//! contains a prefix of each writer thread's predictions with their labels. After a kill, the
//! view contains every prediction whose call returned, and at most one more per thread.
//!
//! The test runs this test binary again as the writer: `writer_child_tracks_until_killed` does
//! nothing unless `CHILD_DIR_VAR` is set. It prints `ack <thread> <i>` after each
//! `track_metrics` call returns.

#[path = "support/child.rs"]
mod child;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use modelmetrics::{Metrics, Options, Prediction, ReadOnlyStore, Store, Uuid};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_KILLED_WRITER_DIR";
const CHILD_ROUND_VAR: &str = "MODELMETRICS_TEST_KILLED_WRITER_ROUND";
/// Seed of the kill delays. When it is unset, the test picks a seed and prints it.
const SEED_VAR: &str = "MODELMETRICS_TEST_READER_KILL_SEED";
const CHILD_TEST: &str = "writer_child_tracks_until_killed";
const PREFIX: &str = "writer: ";

const MODEL: &str = "served";
const ROUNDS: u64 = 3;
const THREADS: u64 = 2;
/// Thread of the parent's own writer after the last kill.
const PARENT_THREAD: u64 = THREADS;
const PARENT_PREDICTIONS: u64 = 500;
/// A thread labels prediction `i` right after it tracks prediction `i + LABEL_LAG`.
const LABEL_LAG: u64 = 2;
const KILL_DELAY_MS: std::ops::RangeInclusive<u64> = 100..=400;
const T0: i64 = 1_700_000_000_000;

/// Identifies a prediction: the writer's round, its thread and its number in the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    round: u64,
    thread: u64,
    i: u64,
}

impl Key {
    fn uuid(self) -> Uuid {
        let bits = u128::from(self.round) << 80 | u128::from(self.thread) << 64;
        Uuid::from_u128(0x4b1_u128 << 100 | bits | u128::from(self.i))
    }

    fn from_uuid(uuid: Uuid) -> Key {
        let bits = uuid.as_u128();
        Key {
            round: (bits >> 80) as u64 & 0xffff,
            thread: (bits >> 64) as u64 & 0xffff,
            i: bits as u64,
        }
    }

    fn metrics(self) -> Metrics {
        Metrics::new()
            .with("i", self.i as i64)
            .with("payload", vec![self.i as u8; 300])
    }

    fn label(self) -> Metrics {
        Metrics::new().with("label", self.i as i64 * 7)
    }
}

fn writer_options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// Tracks the predictions `range` of `thread`, labelling each `LABEL_LAG` predictions later,
/// and calls `acked` after each prediction's call returned.
fn track(store: &Store, round: u64, thread: u64, range: std::ops::Range<u64>, acked: &dyn Fn(Key)) {
    for i in range {
        let key = Key { round, thread, i };
        store
            .track_metrics(MODEL, key.uuid(), T0 + i as i64, &key.metrics())
            .unwrap();
        acked(key);
        if let Some(labelled) = i.checked_sub(LABEL_LAG) {
            let target = Key { i: labelled, ..key };
            store
                .track_delayed_metrics(target.uuid(), T0, &target.label())
                .unwrap();
        }
        if i.is_multiple_of(16) {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The writer process: tracks from `THREADS` threads until it is killed.
#[test]
fn writer_child_tracks_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let store = Arc::new(Store::open_with(&dir, writer_options()).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let ack = |key: Key| println!("{PREFIX}ack {} {}", key.thread, key.i);
                track(&store, round, thread, 0..u64::MAX, &ack);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

/// Predictions per (round, thread) in the last view.
type Counts = BTreeMap<(u64, u64), u64>;

/// Checks a view: each prediction once, a prefix of each thread's predictions, labels of every
/// prediction labelled before the thread's last one in the view, no fewer predictions than in
/// `before`. Returns the counts of this view.
fn check_view(reader: &ReadOnlyStore, before: &Counts, context: &str) -> Counts {
    let rows: Vec<Prediction> = reader
        .read_metrics(MODEL, i64::MIN, i64::MAX)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut keys = HashSet::with_capacity(rows.len());
    let mut counts = Counts::new();
    for row in &rows {
        let key = Key::from_uuid(row.uuid);
        assert!(keys.insert(key), "{context}: {key:?} twice");
        assert_eq!(row.metrics, key.metrics(), "{context}: {key:?}");
        *counts.entry((key.round, key.thread)).or_default() += 1;
    }
    for row in &rows {
        let key = Key::from_uuid(row.uuid);
        let count = counts[&(key.round, key.thread)];
        assert!(
            key.i < count,
            "{context}: {key:?} beyond a prefix of {count}"
        );
        if key.i + LABEL_LAG + 1 < count {
            assert_eq!(row.delayed, key.label(), "{context}: {key:?}");
        }
    }
    for (thread, &previous) in before {
        let now = counts.get(thread).copied().unwrap_or(0);
        assert!(
            now >= previous,
            "{context}: {thread:?} went from {previous} to {now}"
        );
    }
    let orphans = reader.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "{context}: {} orphans", orphans.len());
    counts
}

/// Returns the delay before each kill, from the seed in `SEED_VAR` or a new one.
fn kill_delays() -> Vec<Duration> {
    let seed = match std::env::var(SEED_VAR) {
        Ok(text) => text.parse().unwrap(),
        Err(_) => {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
            now.unwrap().as_nanos() as u64
        }
    };
    println!("kill delays from seed {seed}: rerun with {SEED_VAR}={seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..ROUNDS)
        .map(|_| Duration::from_millis(rng.random_range(KILL_DELAY_MS)))
        .collect()
}

/// Runs writer `round` until `delay` after its first acknowledgement while the view refreshes,
/// kills it, and returns the predictions it acknowledged per thread.
fn run_and_kill(
    dir: &Path,
    reader: &mut Option<ReadOnlyStore>,
    counts: &mut Counts,
    round: u64,
    delay: Duration,
) -> Vec<u64> {
    let vars = [
        (CHILD_DIR_VAR, dir.display().to_string()),
        (CHILD_ROUND_VAR, round.to_string()),
    ];
    let mut writer = child::spawn(CHILD_TEST, &vars, PREFIX);
    let mut acked = vec![0u64; THREADS as usize];
    let mut record_ack = |line: String| {
        let mut words = line.split(' ').skip(1).map(|w| w.parse::<u64>().unwrap());
        let (thread, i) = (words.next().unwrap(), words.next().unwrap());
        assert_eq!(
            i, acked[thread as usize],
            "round {round}: acknowledgements out of order"
        );
        acked[thread as usize] = i + 1;
    };

    record_ack(writer.lines.recv_timeout(Duration::from_secs(30)).unwrap());
    let reader = reader.get_or_insert_with(|| Store::open_read_only(dir).unwrap());
    let kill_at = Instant::now() + delay;
    let mut refreshes = 0;
    while Instant::now() < kill_at {
        reader.refresh().unwrap();
        *counts = check_view(
            reader,
            counts,
            &format!("round {round}, refresh {refreshes}"),
        );
        refreshes += 1;
        thread::sleep(Duration::from_millis(2));
    }

    writer.child.kill().unwrap();
    // The channel ends when the killed writer's stdout reaches its end.
    for line in writer.lines.iter() {
        record_ack(line);
    }
    let (status, stderr) = writer.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: {status}: {stderr}"
    );
    println!("round {round}: killed after {delay:?} and {refreshes} refreshes, acked {acked:?}");
    acked
}

#[test]
fn view_survives_killed_writers() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let mut reader = None;
    let mut counts = Counts::new();
    for (round, delay) in (0..ROUNDS).zip(kill_delays()) {
        let acked = run_and_kill(&dir, &mut reader, &mut counts, round, delay);
        let reader = reader.as_ref().unwrap();
        reader.refresh().unwrap();
        counts = check_view(reader, &counts, &format!("after kill {round}"));
        for (thread, &count) in acked.iter().enumerate() {
            let seen = counts.get(&(round, thread as u64)).copied().unwrap_or(0);
            assert!(
                seen >= count,
                "round {round} thread {thread}: {seen} of {count} acked"
            );
            assert!(
                seen <= count + 1,
                "round {round} thread {thread}: {seen}, acked {count}"
            );
        }
    }

    let reader = reader.unwrap();
    let store = Store::open_with(&dir, writer_options()).unwrap();
    track(
        &store,
        ROUNDS,
        PARENT_THREAD,
        0..PARENT_PREDICTIONS,
        &|_| {},
    );
    reader.refresh().unwrap();
    counts = check_view(&reader, &counts, "after the recovering writer tracked");
    store.close().unwrap();
    reader.refresh().unwrap();
    counts = check_view(&reader, &counts, "after the recovering writer closed");
    assert_eq!(counts[&(ROUNDS, PARENT_THREAD)], PARENT_PREDICTIONS);
}
