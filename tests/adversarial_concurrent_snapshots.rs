//! Eight writer threads, four reader threads and a thread that calls `flush`, on a store with a
//! small head, so that background flushes, explicit flushes and index merges run under the
//! readers.
//!
//! Each reader checks that every read is a consistent snapshot. A record acknowledged before
//! the read started is in it, and no prediction appears twice. The count of a fixed past window
//! never decreases, a delayed metric never goes back to an older value, and an orphan joined to
//! its prediction stays joined. At the end, a reopened store contains every acknowledged record
//! exactly once.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Metrics, NewAggregate, Options, Prediction, Store, Uuid, Value};
use support::{ALL_END, ALL_START};

const WRITERS: u64 = 8;
const READERS: u64 = 4;
const MODELS: [&str; 2] = ["m0", "m1"];
const T0: i64 = 1_700_000_000_000;
/// Timestamp step between two steps of one writer; writer `w` adds `w`.
const STEP_MS: i64 = 16;
/// How long the writers run.
const RUN_TIME: Duration = Duration::from_millis(2_500);
/// Steps after a prediction at which delayed metric `v` is tracked for it, with values 1, 2.
const FIRST_LABEL_LAG: u64 = 4;
const SECOND_LABEL_LAG: u64 = 8;
/// Every `ORPHAN_EVERY` steps a writer tracks delayed metric `pre` for the prediction it will
/// track `ORPHAN_LEAD` steps later.
const ORPHAN_EVERY: u64 = 10;
const ORPHAN_LEAD: u64 = 3;
/// Every `AGGREGATE_EVERY` steps a writer tracks a new window and re-tracks its running window.
const AGGREGATE_EVERY: u64 = 25;
/// Steps of the fixed past window, `[T0, T0 + FIXED_STEPS * STEP_MS)`.
const FIXED_STEPS: u64 = 50;
/// Steps of the moving window that readers read.
const MOVING_STEPS: u64 = 40;

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::ZERO)
}

fn prediction_uuid(writer: u64, step: u64) -> Uuid {
    Uuid::from_u128(0xabcd_u128 << 112 | u128::from(writer) << 64 | u128::from(step))
}

fn key_of(uuid: Uuid) -> (u64, u64) {
    let bits = uuid.as_u128();
    ((bits >> 64) as u64 & 0xffff, bits as u64)
}

fn model_of(writer: u64) -> &'static str {
    MODELS[(writer % 2) as usize]
}

fn timestamp(writer: u64, step: u64) -> i64 {
    T0 + step as i64 * STEP_MS + writer as i64
}

fn aggregate_model(writer: u64) -> String {
    format!("agg-{writer}")
}

/// Returns the step whose timestamps start the window that `ts` falls in.
fn step_of(ts: i64) -> u64 {
    ((ts - T0) / STEP_MS) as u64
}

/// Value of delayed metric `v` once steps `0..acked` of the writer are acknowledged.
fn label_value(step: u64, acked: u64) -> i64 {
    if step + SECOND_LABEL_LAG < acked {
        2
    } else if step + FIRST_LABEL_LAG < acked {
        1
    } else {
        0
    }
}

/// Returns the step that tracked the orphaned `pre` metric of the prediction of `step`.
fn orphan_step(step: u64) -> Option<u64> {
    let from = step.checked_sub(ORPHAN_LEAD)?;
    from.is_multiple_of(ORPHAN_EVERY).then_some(from)
}

/// Performs step `step` of writer `w`; every call must succeed.
fn write_step(store: &Store, w: u64, step: u64) {
    let metrics = Metrics::new()
        .with("writer", w as i64)
        .with("step", step as i64)
        .with("score", step as f64 / 10.0);
    store
        .track_metrics(
            model_of(w),
            prediction_uuid(w, step),
            timestamp(w, step),
            &metrics,
        )
        .unwrap();
    for (lag, value) in [(FIRST_LABEL_LAG, 1), (SECOND_LABEL_LAG, 2)] {
        if let Some(target) = step.checked_sub(lag) {
            let label = Metrics::new().with("v", value);
            store
                .track_delayed_metrics(prediction_uuid(w, target), T0, &label)
                .unwrap();
        }
    }
    if step.is_multiple_of(ORPHAN_EVERY) {
        let pre = Metrics::new().with("pre", step as i64);
        store
            .track_delayed_metrics(prediction_uuid(w, step + ORPHAN_LEAD), T0, &pre)
            .unwrap();
    }
    if step.is_multiple_of(AGGREGATE_EVERY) {
        let k = (step / AGGREGATE_EVERY) as i64;
        let window = |start: i64, end: i64, value: i64| NewAggregate {
            model: aggregate_model(w),
            start_ms: start,
            end_ms: end,
            metrics: Metrics::new().with("value", value),
        };
        let batch = vec![window(1_000 + k, 1_001 + k, k), window(0, 10, k)];
        store.track_aggregate_metrics_batch(&batch).unwrap();
    }
}

/// What one reader saw so far, to check that later reads never go back.
#[derive(Default)]
struct Seen {
    labels: HashMap<Uuid, i64>,
    fixed_counts: [usize; 2],
    windows: HashMap<u64, usize>,
    running_value: HashMap<u64, i64>,
    reads: u64,
}

impl Seen {
    /// Checks one row against the acknowledged progress and against earlier reads.
    fn check_row(&mut self, row: &Prediction, progress: &[u64]) {
        let (w, step) = key_of(row.uuid);
        assert_eq!(row.timestamp_ms, timestamp(w, step), "{w}/{step}");
        assert_eq!(row.metrics.get("step"), Some(&Value::I64(step as i64)));
        let label = match row.delayed.get("v") {
            Some(Value::I64(v)) => *v,
            None => 0,
            Some(other) => panic!("{w}/{step}: v is {other:?}"),
        };
        let floor = label_value(step, progress[w as usize]);
        assert!(
            label >= floor,
            "{w}/{step}: v {label} but {floor} was acknowledged before the read"
        );
        let before = self.labels.insert(row.uuid, label).unwrap_or(0);
        assert!(
            label >= before,
            "{w}/{step}: v went back from {before} to {label}"
        );
        if let Some(from) = orphan_step(step) {
            assert_eq!(
                row.delayed.get("pre"),
                Some(&Value::I64(from as i64)),
                "{w}/{step}: orphaned metric not joined"
            );
        }
    }
}

fn load_progress(progress: &[AtomicU64]) -> Vec<u64> {
    progress.iter().map(|p| p.load(Ordering::Acquire)).collect()
}

fn read_window(store: &Store, model: &str, start: i64, end: i64) -> Vec<Prediction> {
    let rows: Vec<Prediction> = store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for row in &rows {
        *counts.entry(row.uuid).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "{model}: rows read twice: {twice:?}");
    let sorted = rows
        .windows(2)
        .all(|p| p[0].timestamp_ms <= p[1].timestamp_ms);
    assert!(sorted, "{model}: rows out of timestamp order");
    rows
}

/// Checks that the rows of `[first, last)` steps contain every acknowledged prediction.
fn check_complete(rows: &[Prediction], model: usize, steps: (u64, u64), progress: &[u64]) {
    let found: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.uuid).collect();
    for w in (0..WRITERS).filter(|w| w % 2 == model as u64) {
        let end = steps.1.min(progress[w as usize]);
        for step in steps.0..end {
            assert!(
                found.contains(&prediction_uuid(w, step)),
                "{w}/{step} was acknowledged before the read but is missing"
            );
        }
    }
}

fn read_fixed_window(store: &Store, seen: &mut Seen, progress: &[AtomicU64]) {
    for (index, model) in MODELS.iter().enumerate() {
        let before = load_progress(progress);
        let end = T0 + FIXED_STEPS as i64 * STEP_MS;
        let rows = read_window(store, model, T0, end);
        check_complete(&rows, index, (0, FIXED_STEPS), &before);
        for row in &rows {
            seen.check_row(row, &before);
        }
        let last = seen.fixed_counts[index];
        assert!(
            rows.len() >= last,
            "{model}: fixed window count fell from {last} to {}",
            rows.len()
        );
        seen.fixed_counts[index] = rows.len();
    }
}

fn read_moving_window(store: &Store, seen: &mut Seen, progress: &[AtomicU64], model: usize) {
    let before = load_progress(progress);
    let latest = before.iter().copied().max().unwrap_or(0);
    let first = latest.saturating_sub(MOVING_STEPS);
    let start = T0 + first as i64 * STEP_MS;
    let end = T0 + (latest + 1) as i64 * STEP_MS;
    let rows = read_window(store, MODELS[model], start, end);
    check_complete(&rows, model, (first, latest + 1), &before);
    for row in &rows {
        assert!(step_of(row.timestamp_ms) >= first);
        seen.check_row(row, &before);
    }
}

fn lookup_known(store: &Store, seen: &mut Seen, progress: &[AtomicU64], pick: u64) {
    let before = load_progress(progress);
    let w = pick % WRITERS;
    let acked = before[w as usize];
    if acked == 0 {
        return;
    }
    let step = (pick / WRITERS) % acked;
    let found = store.lookup(prediction_uuid(w, step)).unwrap();
    let row = found.unwrap_or_else(|| panic!("lookup of acknowledged {w}/{step} found nothing"));
    seen.check_row(&row, &before);
}

fn read_aggregates(store: &Store, seen: &mut Seen, w: u64) {
    let aggregates = store
        .read_aggregate_metrics(&aggregate_model(w), ALL_START, ALL_END)
        .unwrap();
    let last = seen.windows.insert(w, aggregates.len()).unwrap_or(0);
    assert!(
        aggregates.len() >= last,
        "agg-{w}: window count fell from {last} to {}",
        aggregates.len()
    );
    if let Some(running) = aggregates
        .iter()
        .find(|a| (a.start_ms, a.end_ms) == (0, 10))
    {
        let Some(Value::I64(value)) = running.metrics.get("value") else {
            panic!("agg-{w}: running window without value");
        };
        let before = seen.running_value.insert(w, *value).unwrap_or(0);
        assert!(
            *value >= before,
            "agg-{w}: value went back from {before} to {value}"
        );
    }
}

fn reader(store: &Store, progress: &[AtomicU64], stop: &AtomicBool, id: u64) -> u64 {
    let mut seen = Seen::default();
    let mut pick = id * 7919;
    while !stop.load(Ordering::Acquire) {
        pick = pick
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 1;
        match seen.reads % 4 {
            0 => read_fixed_window(store, &mut seen, progress),
            1 => read_moving_window(store, &mut seen, progress, (pick % 2) as usize),
            2 => lookup_known(store, &mut seen, progress, pick),
            _ => read_aggregates(store, &mut seen, pick % WRITERS),
        }
        seen.reads += 1;
    }
    seen.reads
}

fn writer(store: &Store, progress: &[AtomicU64], w: u64, deadline: Instant) {
    let mut step = 0;
    while Instant::now() < deadline {
        write_step(store, w, step);
        step += 1;
        progress[w as usize].store(step, Ordering::Release);
    }
}

fn flusher(store: &Store, stop: &AtomicBool) -> u64 {
    let mut flushes = 0;
    while !stop.load(Ordering::Acquire) {
        store.flush().unwrap();
        flushes += 1;
        thread::sleep(Duration::from_millis(15));
    }
    flushes
}

/// Checks the reopened store against the acknowledged steps of every writer.
fn check_final(store: &Store, acked: &[u64]) {
    let mut found: HashMap<Uuid, Prediction> = HashMap::new();
    for model in MODELS {
        for row in read_window(store, model, ALL_START, ALL_END) {
            assert!(found.insert(row.uuid, row).is_none(), "read twice");
        }
    }
    let expected: u64 = acked.iter().sum();
    assert_eq!(found.len() as u64, expected, "predictions after reopen");
    let mut orphans = 0;
    for w in 0..WRITERS {
        let count = acked[w as usize];
        for step in 0..count {
            let row = found
                .get(&prediction_uuid(w, step))
                .unwrap_or_else(|| panic!("{w}/{step} is missing after reopen"));
            let label = row.delayed.get("v").cloned();
            let expected = match label_value(step, count) {
                0 => None,
                v => Some(Value::I64(v)),
            };
            assert_eq!(label, expected, "{w}/{step}: v after reopen");
        }
        orphans += (0..count)
            .filter(|s| s.is_multiple_of(ORPHAN_EVERY) && s + ORPHAN_LEAD >= count)
            .count();
        let aggregates = store
            .read_aggregate_metrics(&aggregate_model(w), ALL_START, ALL_END)
            .unwrap();
        let windows = count.div_ceil(AGGREGATE_EVERY) as usize;
        let expected_windows = if windows == 0 { 0 } else { windows + 1 };
        assert_eq!(aggregates.len(), expected_windows, "agg-{w} windows");
    }
    let listed = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(listed.len(), orphans, "orphans after reopen");
}

#[test]
fn readers_see_consistent_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + RUN_TIME;
    let (reads, flushes) = thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, progress) = (&store, &progress);
                scope.spawn(move || writer(store, progress, w, deadline))
            })
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|id| {
                let (store, progress, stop) = (&store, &progress, &stop);
                scope.spawn(move || reader(store, progress, stop, id))
            })
            .collect();
        let flushes = scope.spawn(|| flusher(&store, &stop));
        for handle in writers {
            handle.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        let reads: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
        (reads, flushes.join().unwrap())
    });
    let acked = load_progress(&progress);
    let segments = support::files_with_prefix(dir.path(), "seg-").len();
    println!("acknowledged steps {acked:?}, {reads} reads, {flushes} flushes, {segments} segments");
    assert!(reads > 0);
    store.close().unwrap();
    drop(store);

    let store = Store::open_with(dir.path(), options()).unwrap();
    check_final(&store, &acked);
    store.close().unwrap();
}
