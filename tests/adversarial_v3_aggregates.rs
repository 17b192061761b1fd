//! Aggregate blocks of more than one 256-row group, whose windows overlap and whose metric
//! chunks are read only for the rows that overlap a read. Some windows are tracked again in a
//! later segment with new values. Every read is compared with the tracked windows after the
//! flushes, after a reopen and after compaction.

mod support;

use std::collections::BTreeMap;

use modelmetrics::{Compaction, Metrics, Options, Store, Value};
use support::by_name;

const MODEL: &str = "m";
/// Aggregate windows of the first segment: three groups and a part of a fourth.
const WINDOWS: usize = 1_000;

type Oracle = BTreeMap<(i64, i64), BTreeMap<String, Value>>;

/// Window `k`: starts repeat three times, and the lengths vary from 1 to 500 ms.
fn window(k: usize) -> (i64, i64) {
    let start = (k / 3 * 5) as i64;
    (start, start + 1 + (k * 37 % 500) as i64)
}

fn track(store: &Store, oracle: &mut Oracle, k: usize, version: i64) {
    let (start, end) = window(k);
    let mut metrics = Metrics::new().with("auc", k as f64 / 1_000.0 + version as f64);
    if k.is_multiple_of(2) {
        metrics = metrics.with("n", k as i64 * 1_000 + version);
    }
    if k.is_multiple_of(5) {
        metrics = metrics.with("tag", format!("v{version}"));
    }
    store
        .track_aggregate_metrics(MODEL, start, end, &metrics)
        .unwrap();
    let entry = oracle.entry((start, end)).or_default();
    entry.extend(by_name(&metrics));
}

fn check(store: &Store, oracle: &Oracle, stage: &str) {
    let mut reads = vec![(i64::MIN, i64::MAX), (0, 1), (1_279, 1_281)];
    for row in [255usize, 256, 257, 511, 512, 513, 767, 768] {
        let (start, end) = window(row);
        reads.extend([(start, start + 1), (start - 1, end), (end - 1, end + 200)]);
    }
    for (start, end) in reads {
        let found = store.read_aggregate_metrics(MODEL, start, end).unwrap();
        let expected: Vec<_> = oracle
            .iter()
            .filter(|((s, e), _)| *s < end && *e > start)
            .collect();
        let context = format!("{stage}: aggregates overlapping [{start}, {end})");
        assert_eq!(found.len(), expected.len(), "{context}");
        for (aggregate, ((s, e), metrics)) in found.iter().zip(expected) {
            assert_eq!(
                (aggregate.start_ms, aggregate.end_ms),
                (*s, *e),
                "{context}"
            );
            assert_eq!(
                &by_name(&aggregate.metrics),
                metrics,
                "{context}: [{s}, {e})"
            );
        }
    }
}

#[test]
fn aggregate_groups_match_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    });
    let mut oracle = Oracle::new();
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    // Tracked out of order, so the sort puts rows of different calls next to each other.
    for k in (0..WINDOWS).rev() {
        track(&store, &mut oracle, k, 0);
    }
    store.flush().unwrap();
    check(&store, &oracle, "one segment");
    for k in (0..WINDOWS).step_by(7) {
        track(&store, &mut oracle, k, 1);
    }
    check(&store, &oracle, "a segment and a head");
    store.flush().unwrap();
    check(&store, &oracle, "two segments");
    store.close().unwrap();

    let store = Store::open_with(dir.path(), options).unwrap();
    check(&store, &oracle, "reopened");
    store.compact().unwrap();
    check(&store, &oracle, "compacted");
    store.close().unwrap();
}
