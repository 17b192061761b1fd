//! Extreme windows and keys through the API: the widest window `[i64::MIN, i64::MAX)`, windows
//! of 1 ms at the ends of the range, aggregate windows that end at `i64::MAX` and overlap, and
//! the nil and max UUIDs. Each check runs with the records in the head, in segments and after a
//! reopen.

mod support;

use std::time::{Duration, Instant};

use modelmetrics::{Metrics, Options, Store, Uuid, Value};
use support::{ALL_END, ALL_START, Stage, check_in_stages, metric, read, read_all, uuid};

const MODEL: &str = "edges";
/// Timestamps of the predictions, each once, spread over the whole range of i64.
const TIMESTAMPS: [i64; 11] = [
    i64::MIN,
    i64::MIN + 1,
    -1_000_000_000_000_000,
    -1,
    0,
    1,
    1_700_000_000_000,
    1_000_000_000_000_000,
    i64::MAX - 2,
    i64::MAX - 1,
    i64::MAX,
];
/// The widest read must not take long, whatever the range of timestamps.
const WIDEST_READ_LIMIT: Duration = Duration::from_secs(5);

fn track_timestamps(store: &Store) {
    for (i, ts) in TIMESTAMPS.iter().enumerate() {
        store
            .track_metrics(MODEL, uuid(i as u128), *ts, &metric("i", i as i64))
            .unwrap();
    }
}

#[test]
fn widest_and_narrowest_windows() {
    let dir = tempfile::tempdir().unwrap();
    let write = |store: &Store| {
        track_timestamps(store);
        // Half the timestamps again in a second head, so reads merge segments and the head.
        store.flush().unwrap();
        for (i, ts) in TIMESTAMPS.iter().enumerate().step_by(2) {
            let n = 100 + i as u128;
            store
                .track_metrics(MODEL, uuid(n), *ts, &metric("i", n as i64))
                .unwrap();
        }
    };
    let check = |store: &Store, stage: Stage| {
        let started = Instant::now();
        let rows = read_all(store, MODEL);
        let elapsed = started.elapsed();
        assert!(
            elapsed < WIDEST_READ_LIMIT,
            "{stage:?}: widest read took {elapsed:?}"
        );
        let found: Vec<i64> = rows.iter().map(|p| p.timestamp_ms).collect();
        let mut expected: Vec<i64> = TIMESTAMPS
            .iter()
            .chain(TIMESTAMPS.iter().step_by(2))
            .copied()
            .filter(|ts| *ts != i64::MAX)
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{stage:?}: widest window");

        for ts in TIMESTAMPS.iter().copied().filter(|ts| *ts != i64::MAX) {
            let rows = read(store, MODEL, ts, ts + 1);
            let copies = TIMESTAMPS.iter().filter(|t| **t == ts).count();
            let again = TIMESTAMPS.iter().step_by(2).filter(|t| **t == ts).count();
            assert_eq!(
                rows.len(),
                copies + again,
                "{stage:?}: window [{ts}, {ts} + 1)"
            );
            assert!(rows.iter().all(|p| p.timestamp_ms == ts), "{stage:?}: {ts}");
        }
        let between = read(store, MODEL, -1_000_000_000_000_000 + 1, -1);
        assert!(
            between.is_empty(),
            "{stage:?}: empty window returned {between:?}"
        );
        let top = store
            .lookup(uuid(TIMESTAMPS.len() as u128 - 1))
            .unwrap()
            .unwrap();
        assert_eq!(top.timestamp_ms, i64::MAX, "{stage:?}: lookup at i64::MAX");
    };
    check_in_stages(dir.path(), &Options::default(), write, check);
}

/// Aggregate windows, several ending at `i64::MAX`, with the value each ends with.
fn aggregate_windows() -> Vec<(i64, i64)> {
    vec![
        (i64::MIN, i64::MAX),
        (i64::MIN, i64::MIN + 1),
        (-5, 5),
        (0, i64::MAX),
        (i64::MAX - 1, i64::MAX),
        (i64::MAX - 10, i64::MAX - 1),
    ]
}

/// Returns the windows of `aggregate_windows` that overlap `[start, end)`, sorted.
fn overlapping(start: i64, end: i64) -> Vec<(i64, i64)> {
    let mut windows: Vec<_> = aggregate_windows()
        .into_iter()
        .filter(|(s, e)| *s < end && *e > start)
        .collect();
    windows.sort();
    windows
}

#[test]
fn aggregates_ending_at_max_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let write = |store: &Store| {
        for (i, (start, end)) in aggregate_windows().into_iter().enumerate() {
            let metrics = Metrics::new().with("auc", i as f64).with("version", 1);
            store
                .track_aggregate_metrics(MODEL, start, end, &metrics)
                .unwrap();
        }
        store.flush().unwrap();
        // Re-track two windows in the head: their new value must win in every stage.
        for (start, end) in [(i64::MIN, i64::MAX), (i64::MAX - 1, i64::MAX)] {
            store
                .track_aggregate_metrics(MODEL, start, end, &metric("version", 2))
                .unwrap();
        }
    };
    let check = |store: &Store, stage: Stage| {
        let queries = [
            (ALL_START, ALL_END),
            (i64::MAX - 1, i64::MAX),
            (i64::MIN, i64::MIN + 1),
            (-1, 0),
            (i64::MAX - 10, i64::MAX - 9),
            (5, 6),
        ];
        for (start, end) in queries {
            let found = store.read_aggregate_metrics(MODEL, start, end).unwrap();
            let windows: Vec<_> = found.iter().map(|a| (a.start_ms, a.end_ms)).collect();
            assert_eq!(
                windows,
                overlapping(start, end),
                "{stage:?}: query [{start}, {end})"
            );
            for aggregate in &found {
                let window = (aggregate.start_ms, aggregate.end_ms);
                let retracked =
                    window == (i64::MIN, i64::MAX) || window == (i64::MAX - 1, i64::MAX);
                let version = if retracked { 2 } else { 1 };
                assert_eq!(
                    aggregate.metrics.get("version"),
                    Some(&Value::I64(version)),
                    "{stage:?}: {window:?}"
                );
                assert!(
                    aggregate.metrics.get("auc").is_some(),
                    "{stage:?}: {window:?}"
                );
            }
        }
    };
    check_in_stages(dir.path(), &Options::default(), write, check);
}

#[test]
fn nil_and_max_uuids_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let keys = [Uuid::nil(), Uuid::max(), uuid(7)];
    let write = |store: &Store| {
        for (i, key) in keys.iter().enumerate() {
            store
                .track_metrics(MODEL, *key, i as i64, &metric("i", i as i64))
                .unwrap();
        }
        store.flush().unwrap();
        for (i, key) in keys.iter().enumerate() {
            store
                .track_delayed_metrics(*key, 0, &metric("label", i as i64))
                .unwrap();
        }
    };
    let check = |store: &Store, stage: Stage| {
        for (i, key) in keys.iter().enumerate() {
            let found = store.lookup(*key).unwrap();
            let found = found.unwrap_or_else(|| panic!("{stage:?}: lookup {key}"));
            assert_eq!(found.metrics, metric("i", i as i64), "{stage:?}: {key}");
            assert_eq!(found.delayed, metric("label", i as i64), "{stage:?}: {key}");
        }
        let unknown = Uuid::from_u128(u128::MAX - 1);
        assert!(store.lookup(unknown).unwrap().is_none(), "{stage:?}");
        assert!(
            store.orphaned_delayed_metrics().unwrap().is_empty(),
            "{stage:?}"
        );
    };
    check_in_stages(dir.path(), &Options::default(), write, check);
}
