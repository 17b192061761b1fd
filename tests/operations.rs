//! Each store operation returns the same results with its records in the head, after a flush
//! and after a reopen.

mod support;

use modelmetrics::{
    Error, Metrics, NewAggregate, NewDelayed, NewPrediction, Options, OrphanedDelayed, Store, Value,
};
use support::{
    Stage, aggregates_all, by_name, check_in_stages, metric, read, read_all, uuid, uuids,
};

/// A timestamp in November 2023, in ms since the Unix epoch.
const T0: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

fn stages(write: impl FnOnce(&Store), check: impl Fn(&Store, Stage)) {
    let dir = tempfile::tempdir().unwrap();
    check_in_stages(dir.path(), &Options::default(), write, check);
}

fn track(store: &Store, model: &str, n: u128, timestamp_ms: i64) {
    store
        .track_metrics(model, uuid(n), timestamp_ms, &metric("n", n as i64))
        .unwrap();
}

#[test]
fn read_returns_timestamp_order() {
    // Pairs of (UUID number, timestamp) in tracking order. A flush separates the two halves.
    // Ties are tracked with falling UUIDs, so that UUID order is not tracking order.
    let first = [(1, T0 + 50), (4, T0 + 10), (3, T0 + 30), (2, T0 + 10)];
    let second = [
        (8, T0 - YEAR_MS),
        (6, T0 + 10),
        (7, T0 + 30),
        (5, T0 - YEAR_MS),
    ];
    stages(
        |store| {
            for (n, ts) in first {
                track(store, "m", n, ts);
            }
            store.flush().unwrap();
            for (n, ts) in second {
                track(store, "m", n, ts);
            }
        },
        |store, stage| {
            let rows = read_all(store, "m");
            let expected = [8, 5, 4, 2, 6, 3, 7, 1].map(uuid).to_vec();
            assert_eq!(uuids(&rows), expected, "{stage:?}");
            let timestamps: Vec<i64> = rows.iter().map(|p| p.timestamp_ms).collect();
            assert!(timestamps.is_sorted(), "{stage:?}: {timestamps:?}");
        },
    );
}

#[test]
fn ties_keep_tracking_order() {
    // 300 predictions at one timestamp, tracked with falling UUIDs across two flushes.
    let numbers: Vec<u128> = (0..300).rev().collect();
    stages(
        |store| {
            for (i, n) in numbers.iter().enumerate() {
                track(store, "m", *n, T0);
                if i == 100 || i == 200 {
                    store.flush().unwrap();
                }
            }
        },
        |store, stage| {
            let rows = read_all(store, "m");
            let expected: Vec<_> = numbers.iter().map(|&n| uuid(n)).collect();
            assert_eq!(uuids(&rows), expected, "{stage:?}");
        },
    );
}

#[test]
fn window_includes_start_excludes_end() {
    let timestamps = [-1, 0, 99, 100, 101, 199, 200, 201];
    stages(
        |store| {
            for (n, ts) in timestamps.iter().enumerate() {
                track(store, "m", n as u128, *ts);
            }
        },
        |store, stage| {
            let window = |start, end| -> Vec<i64> {
                let rows = read(store, "m", start, end);
                rows.iter().map(|p| p.timestamp_ms).collect()
            };
            assert_eq!(window(100, 200), [100, 101, 199], "{stage:?}");
            assert_eq!(window(100, 101), [100], "{stage:?}");
            assert_eq!(window(200, 201), [200], "{stage:?}");
            assert_eq!(window(201, 1000), [201], "{stage:?}");
            assert_eq!(window(1, 99), [] as [i64; 0], "{stage:?}");
            assert_eq!(window(-1, 0), [-1], "{stage:?}");
            assert_eq!(window(i64::MIN, 0), [-1], "{stage:?}");
            assert_eq!(window(202, i64::MAX), [] as [i64; 0], "{stage:?}");
        },
    );
}

#[test]
fn models_are_kept_apart() {
    let models = ["a", "b", "a-b", "A", "é", "a b"];
    stages(
        |store| {
            for (i, model) in models.iter().enumerate() {
                for j in 0..3 {
                    let n = (i * 10 + j) as u128;
                    track(store, model, n, T0 + j as i64);
                }
                let auc = metric("auc", i as f64);
                store.track_aggregate_metrics(model, 0, 10, &auc).unwrap();
            }
        },
        |store, stage| {
            for (i, model) in models.iter().enumerate() {
                let rows = read_all(store, model);
                let expected: Vec<_> = (0..3).map(|j| uuid((i * 10 + j) as u128)).collect();
                assert_eq!(uuids(&rows), expected, "{stage:?} model {model}");
                assert!(rows.iter().all(|p| p.model == *model), "{stage:?} {model}");
                let aggregates = aggregates_all(store, model);
                assert_eq!(aggregates.len(), 1, "{stage:?} model {model}");
                assert_eq!(aggregates[0].model, *model, "{stage:?}");
                assert_eq!(aggregates[0].metrics, metric("auc", i as f64), "{stage:?}");
                let found = store.lookup(uuid((i * 10) as u128)).unwrap().unwrap();
                assert_eq!(found.model, *model, "{stage:?}");
            }
            assert!(read_all(store, "c").is_empty(), "{stage:?}");
            assert!(aggregates_all(store, "c").is_empty(), "{stage:?}");
        },
    );
}

/// Metric lists that differ in names, types and count from one record to the next.
fn varied_metrics() -> Vec<Metrics> {
    vec![
        Metrics::new().with("score", 0.25),
        Metrics::new().with("score", 0.5).with("segment", "retail"),
        Metrics::new(),
        Metrics::new()
            .with("count", 7i64)
            .with("flag", true)
            .with("payload", vec![1u8, 2, 3]),
        Metrics::new().with("segment", "corporate"),
        Metrics::new().with("zeta", 1i64).with("alpha", 2i64),
        Metrics::new()
            .with("score", -1.0)
            .with("flag", false)
            .with("count", -3i64),
    ]
}

#[test]
fn metrics_differ_between_records() {
    let lists = varied_metrics();
    stages(
        |store| {
            for (n, metrics) in lists.iter().enumerate() {
                let ts = T0 + n as i64;
                store
                    .track_metrics("m", uuid(n as u128), ts, metrics)
                    .unwrap();
            }
        },
        |store, stage| {
            let rows = read_all(store, "m");
            assert_eq!(rows.len(), lists.len(), "{stage:?}");
            for (n, (row, expected)) in rows.iter().zip(&lists).enumerate() {
                assert_eq!(row.uuid, uuid(n as u128), "{stage:?}");
                assert_eq!(
                    by_name(&row.metrics),
                    by_name(expected),
                    "{stage:?} record {n}"
                );
                assert!(row.delayed.is_empty(), "{stage:?} record {n}");
            }
        },
    );
}

#[test]
fn delayed_latest_value_wins() {
    stages(
        |store| {
            track(store, "m", 1, T0);
            track(store, "m", 2, T0 + 1);
            let first = Metrics::new().with("label", 0i64).with("cost", 1.5);
            store
                .track_delayed_metrics(uuid(1), T0 + DAY_MS, &first)
                .unwrap();
            store
                .track_delayed_metrics(uuid(2), T0 + DAY_MS, &metric("label", 0i64))
                .unwrap();
            store
                .track_delayed_metrics(uuid(2), T0 + DAY_MS, &metric("label", 1i64))
                .unwrap();
            store.flush().unwrap();
            store
                .track_delayed_metrics(uuid(1), T0 + DAY_MS, &metric("label", 1i64))
                .unwrap();
        },
        |store, stage| {
            let expected_1 = Metrics::new().with("label", 1i64).with("cost", 1.5);
            let expected_2 = metric("label", 1i64);
            let rows = read_all(store, "m");
            assert_eq!(uuids(&rows), [uuid(1), uuid(2)], "{stage:?}");
            assert_eq!(
                by_name(&rows[0].delayed),
                by_name(&expected_1),
                "{stage:?} read of 1"
            );
            assert_eq!(rows[1].delayed, expected_2, "{stage:?} read of 2");
            let found_1 = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(
                by_name(&found_1.delayed),
                by_name(&expected_1),
                "{stage:?} lookup of 1"
            );
            let found_2 = store.lookup(uuid(2)).unwrap().unwrap();
            assert_eq!(found_2.delayed, expected_2, "{stage:?} lookup of 2");
            assert!(
                store.orphaned_delayed_metrics().unwrap().is_empty(),
                "{stage:?}"
            );
        },
    );
}

#[test]
fn delayed_joined_only_to_its_prediction() {
    stages(
        |store| {
            track(store, "a", 1, T0);
            track(store, "b", 2, T0);
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", true))
                .unwrap();
        },
        |store, stage| {
            let a = read_all(store, "a");
            let b = read_all(store, "b");
            assert_eq!(a[0].delayed, metric("label", true), "{stage:?}");
            assert!(b[0].delayed.is_empty(), "{stage:?}");
            let found = store.lookup(uuid(2)).unwrap().unwrap();
            assert!(found.delayed.is_empty(), "{stage:?}");
        },
    );
}

#[test]
fn delayed_batch_latest_item_wins() {
    stages(
        |store| {
            track(store, "m", 1, T0);
            let item = |label: i64| NewDelayed {
                uuid: uuid(1),
                timestamp_ms: T0,
                metrics: metric("label", label),
            };
            store
                .track_delayed_metrics_batch(&[item(1), item(2), item(3)])
                .unwrap();
        },
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.delayed, metric("label", 3), "{stage:?}");
        },
    );
}

#[test]
fn empty_batches_write_nothing() {
    stages(
        |store| {
            store.track_metrics_batch(&[]).unwrap();
            store.track_delayed_metrics_batch(&[]).unwrap();
            store.track_aggregate_metrics_batch(&[]).unwrap();
        },
        |store, stage| {
            assert!(read_all(store, "m").is_empty(), "{stage:?}");
            assert!(aggregates_all(store, "m").is_empty(), "{stage:?}");
            let orphans = store.orphaned_delayed_metrics().unwrap();
            assert!(orphans.is_empty(), "{stage:?}");
        },
    );
}

#[test]
fn aggregate_retrack_replaces_same_window() {
    stages(
        |store| {
            let first = Metrics::new().with("auc", 0.5).with("rows", 100i64);
            store.track_aggregate_metrics("m", 0, 10, &first).unwrap();
            store
                .track_aggregate_metrics("m", 0, 10, &metric("auc", 0.6))
                .unwrap();
            store.flush().unwrap();
            store
                .track_aggregate_metrics("m", 0, 10, &metric("auc", 0.7))
                .unwrap();
        },
        |store, stage| {
            let aggregates = aggregates_all(store, "m");
            assert_eq!(aggregates.len(), 1, "{stage:?}");
            assert_eq!(
                (aggregates[0].start_ms, aggregates[0].end_ms),
                (0, 10),
                "{stage:?}"
            );
            let expected = Metrics::new().with("auc", 0.7).with("rows", 100i64);
            assert_eq!(
                by_name(&aggregates[0].metrics),
                by_name(&expected),
                "{stage:?}"
            );
        },
    );
}

#[test]
fn aggregates_kept_apart_by_window() {
    stages(
        |store| {
            store
                .track_aggregate_metrics("m", 5, 10, &metric("auc", 3.0))
                .unwrap();
            store
                .track_aggregate_metrics("m", 0, 20, &metric("auc", 2.0))
                .unwrap();
            store.flush().unwrap();
            store
                .track_aggregate_metrics("m", 0, 10, &metric("auc", 1.0))
                .unwrap();
        },
        |store, stage| {
            let aggregates = aggregates_all(store, "m");
            let windows: Vec<_> = aggregates.iter().map(|a| (a.start_ms, a.end_ms)).collect();
            assert_eq!(windows, [(0, 10), (0, 20), (5, 10)], "{stage:?}");
            let auc: Vec<_> = aggregates
                .iter()
                .map(|a| a.metrics.get("auc").cloned())
                .collect();
            let expected = [1.0, 2.0, 3.0].map(|v| Some(Value::F64(v)));
            assert_eq!(auc, expected, "{stage:?}");
        },
    );
}

#[test]
fn aggregate_read_returns_overlapping_windows() {
    stages(
        |store| {
            for (start, end) in [(0, 10), (10, 20), (20, 30)] {
                let rows = metric("start", start);
                store
                    .track_aggregate_metrics("m", start, end, &rows)
                    .unwrap();
            }
            store
                .track_aggregate_metrics("other", 0, 30, &metric("start", 0))
                .unwrap();
        },
        |store, stage| {
            let starts = |start, end| -> Vec<i64> {
                let found = store.read_aggregate_metrics("m", start, end).unwrap();
                found.iter().map(|a| a.start_ms).collect()
            };
            assert_eq!(starts(10, 20), [10], "{stage:?}");
            assert_eq!(starts(9, 11), [0, 10], "{stage:?}");
            assert_eq!(starts(19, 21), [10, 20], "{stage:?}");
            assert_eq!(starts(5, 25), [0, 10, 20], "{stage:?}");
            assert_eq!(starts(-100, 1), [0], "{stage:?}");
            assert_eq!(starts(29, 1000), [20], "{stage:?}");
            assert_eq!(starts(30, 1000), [] as [i64; 0], "{stage:?}");
            assert_eq!(starts(-100, 0), [] as [i64; 0], "{stage:?}");
        },
    );
}

#[test]
fn lookup_finds_prediction_with_delayed() {
    let inline = Metrics::new().with("score", 0.9).with("segment", "retail");
    stages(
        |store| {
            store.track_metrics("m", uuid(1), T0, &inline).unwrap();
            track(store, "m", 2, T0);
            store
                .track_delayed_metrics(uuid(1), T0 + DAY_MS, &metric("label", true))
                .unwrap();
        },
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.uuid, uuid(1), "{stage:?}");
            assert_eq!(found.model, "m", "{stage:?}");
            assert_eq!(found.timestamp_ms, T0, "{stage:?}");
            assert_eq!(by_name(&found.metrics), by_name(&inline), "{stage:?}");
            assert_eq!(found.delayed, metric("label", true), "{stage:?}");
            let other = store.lookup(uuid(2)).unwrap().unwrap();
            assert!(other.delayed.is_empty(), "{stage:?}");
        },
    );
}

#[test]
fn lookup_misses_unknown_uuid() {
    stages(
        |store| {
            track(store, "m", 1, T0);
            store
                .track_delayed_metrics(uuid(3), T0, &metric("label", true))
                .unwrap();
        },
        |store, stage| {
            assert_eq!(store.lookup(uuid(2)).unwrap(), None, "{stage:?} unknown");
            assert_eq!(
                store.lookup(uuid(3)).unwrap(),
                None,
                "{stage:?} orphan only"
            );
        },
    );
}

#[test]
fn batches_match_single_calls() {
    let predictions: Vec<NewPrediction> = (0..50)
        .map(|n| NewPrediction {
            model: if n % 2 == 0 { "even" } else { "odd" }.to_owned(),
            uuid: uuid(n),
            timestamp_ms: T0 + 1000 - n as i64,
            metrics: metric("n", n as i64),
        })
        .collect();
    let delayed: Vec<NewDelayed> = (0..10)
        .map(|n| NewDelayed {
            uuid: uuid(n),
            timestamp_ms: T0 + DAY_MS,
            metrics: metric("label", n as i64),
        })
        .collect();
    let aggregate = |start: i64, auc: f64| NewAggregate {
        model: "even".to_owned(),
        start_ms: start,
        end_ms: start + DAY_MS,
        metrics: metric("auc", auc),
    };
    let aggregates = vec![
        aggregate(T0, 0.1),
        aggregate(T0 + DAY_MS, 0.2),
        aggregate(T0, 0.3),
    ];
    stages(
        |store| {
            store.track_metrics_batch(&predictions).unwrap();
            store.track_delayed_metrics_batch(&delayed).unwrap();
            store.track_aggregate_metrics_batch(&aggregates).unwrap();
        },
        |store, stage| {
            let even = read_all(store, "even");
            let odd = read_all(store, "odd");
            assert_eq!(even.len(), 25, "{stage:?}");
            assert_eq!(odd.len(), 25, "{stage:?}");
            // Later UUID numbers have earlier timestamps.
            let expected_even: Vec<_> = (0..50).rev().filter(|n| n % 2 == 0).map(uuid).collect();
            let expected_odd: Vec<_> = (0..50).rev().filter(|n| n % 2 == 1).map(uuid).collect();
            assert_eq!(uuids(&even), expected_even, "{stage:?}");
            assert_eq!(uuids(&odd), expected_odd, "{stage:?}");
            for row in even.iter().chain(&odd) {
                let n = row.uuid.as_u128() & 0xff;
                assert_eq!(row.metrics, metric("n", n as i64), "{stage:?}");
                let expected_delayed = if n < 10 {
                    metric("label", n as i64)
                } else {
                    Metrics::new()
                };
                assert_eq!(row.delayed, expected_delayed, "{stage:?} prediction {n}");
            }
            let found = aggregates_all(store, "even");
            assert_eq!(found.len(), 2, "{stage:?}");
            assert_eq!(
                found[0].metrics,
                metric("auc", 0.3),
                "{stage:?}: later item wins"
            );
            assert_eq!(found[1].metrics, metric("auc", 0.2), "{stage:?}");
        },
    );
}

#[test]
fn orphan_listed_in_every_stage() {
    stages(
        |store| {
            track(store, "m", 1, T0);
            store
                .track_delayed_metrics(uuid(9), T0 + 5, &metric("label", true))
                .unwrap();
        },
        |store, stage| {
            let orphans = store.orphaned_delayed_metrics().unwrap();
            let expected = OrphanedDelayed {
                uuid: uuid(9),
                timestamp_ms: T0 + 5,
                metrics: metric("label", true),
                prediction_rolled_up: false,
            };
            assert_eq!(orphans, [expected], "{stage:?}");
            assert_eq!(store.lookup(uuid(9)).unwrap(), None, "{stage:?}");
            assert!(read_all(store, "m")[0].delayed.is_empty(), "{stage:?}");
        },
    );
}

#[test]
fn orphans_listed_oldest_first() {
    stages(
        |store| {
            store
                .track_delayed_metrics(uuid(3), 30, &metric("v", 3))
                .unwrap();
            store.flush().unwrap();
            store
                .track_delayed_metrics(uuid(1), 10, &metric("v", 1))
                .unwrap();
            store
                .track_delayed_metrics(uuid(2), 20, &metric("v", 2))
                .unwrap();
            store
                .track_delayed_metrics(uuid(1), 40, &metric("v", 4))
                .unwrap();
        },
        |store, stage| {
            let orphans = store.orphaned_delayed_metrics().unwrap();
            let found: Vec<_> = orphans.iter().map(|o| (o.uuid, o.timestamp_ms)).collect();
            let expected = [(uuid(3), 30), (uuid(1), 10), (uuid(2), 20), (uuid(1), 40)];
            assert_eq!(found, expected, "{stage:?}");
        },
    );
}

/// Checks that the delayed metrics of prediction 1 are `expected` and that no orphan is left.
fn assert_orphan_joined(store: &Store, stage: Stage, expected: &Metrics) {
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "{stage:?}: {orphans:?}");
    let found = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(
        by_name(&found.delayed),
        by_name(expected),
        "{stage:?} lookup"
    );
    let rows = read_all(store, "m");
    assert_eq!(uuids(&rows), [uuid(1)], "{stage:?}");
    assert_eq!(
        by_name(&rows[0].delayed),
        by_name(expected),
        "{stage:?} read"
    );
}

#[test]
fn orphan_joins_prediction_in_head() {
    stages(
        |store| {
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", true))
                .unwrap();
            track(store, "m", 1, T0);
        },
        |store, stage| assert_orphan_joined(store, stage, &metric("label", true)),
    );
}

#[test]
fn flushed_orphan_joins_later_prediction() {
    stages(
        |store| {
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", true))
                .unwrap();
            store.flush().unwrap();
            track(store, "m", 1, T0);
        },
        |store, stage| assert_orphan_joined(store, stage, &metric("label", true)),
    );
}

#[test]
fn reopened_orphan_joins_later_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", true))
        .unwrap();
    store.close().unwrap();
    drop(store);
    check_in_stages(
        dir.path(),
        &Options::default(),
        |store| track(store, "m", 1, T0),
        |store, stage| assert_orphan_joined(store, stage, &metric("label", true)),
    );
}

#[test]
fn orphan_values_latest_wins_after_join() {
    stages(
        |store| {
            let first = Metrics::new().with("label", 0i64).with("cost", 2.0);
            store.track_delayed_metrics(uuid(1), T0, &first).unwrap();
            store.flush().unwrap();
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", 1i64))
                .unwrap();
            store.flush().unwrap();
            track(store, "m", 1, T0);
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", 2i64))
                .unwrap();
        },
        |store, stage| {
            let expected = Metrics::new().with("label", 2i64).with("cost", 2.0);
            assert_orphan_joined(store, stage, &expected);
        },
    );
}

#[test]
fn orphan_joined_after_prediction_flush() {
    stages(
        |store| {
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", true))
                .unwrap();
            store.flush().unwrap();
            track(store, "m", 1, T0);
            store.flush().unwrap();
            track(store, "m", 2, T0 + 1);
            store.flush().unwrap();
            store
                .track_delayed_metrics(uuid(2), T0, &metric("label", false))
                .unwrap();
        },
        |store, stage| {
            let orphans = store.orphaned_delayed_metrics().unwrap();
            assert!(orphans.is_empty(), "{stage:?}: {orphans:?}");
            let rows = read_all(store, "m");
            assert_eq!(uuids(&rows), [uuid(1), uuid(2)], "{stage:?}");
            assert_eq!(rows[0].delayed, metric("label", true), "{stage:?}");
            assert_eq!(rows[1].delayed, metric("label", false), "{stage:?}");
        },
    );
}

#[test]
fn reject_unknown_prediction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().reject_unknown_predictions(true);
    check_in_stages(
        dir.path(),
        &options,
        |store| {
            track(store, "m", 1, T0);
            store.flush().unwrap();
            track(store, "m", 2, T0);
        },
        |store, stage| {
            let result = store.track_delayed_metrics(uuid(9), T0, &metric("label", true));
            let Err(error) = result else {
                panic!("{stage:?}: delayed metrics of an unknown prediction were accepted");
            };
            let text = error.to_string();
            assert!(
                matches!(error, Error::UnknownPrediction { uuid: found } if found == uuid(9)),
                "{stage:?}: {error:?}"
            );
            assert!(text.contains(&uuid(9).to_string()), "{stage:?}: {text}");

            let batch = [
                NewDelayed {
                    uuid: uuid(1),
                    timestamp_ms: T0,
                    metrics: metric("batch", 1),
                },
                NewDelayed {
                    uuid: uuid(9),
                    timestamp_ms: T0,
                    metrics: metric("batch", 1),
                },
            ];
            let result = store.track_delayed_metrics_batch(&batch);
            assert!(
                matches!(result, Err(Error::UnknownPrediction { uuid: found }) if found == uuid(9)),
                "{stage:?}: {result:?}"
            );
            assert!(
                store.orphaned_delayed_metrics().unwrap().is_empty(),
                "{stage:?}"
            );
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(
                found.delayed.get("batch"),
                None,
                "{stage:?}: batch partly written"
            );
        },
    );
}

#[test]
fn reject_unknown_accepts_known_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().reject_unknown_predictions(true);
    check_in_stages(
        dir.path(),
        &options,
        |store| {
            track(store, "m", 1, T0);
            store.flush().unwrap();
            track(store, "m", 2, T0 + 1);
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", 1))
                .unwrap();
            store
                .track_delayed_metrics(uuid(2), T0, &metric("label", 2))
                .unwrap();
        },
        |store, stage| {
            let rows = read_all(store, "m");
            assert_eq!(
                rows[0].delayed.get("label"),
                Some(&Value::I64(1)),
                "{stage:?}"
            );
            assert_eq!(
                rows[1].delayed.get("label"),
                Some(&Value::I64(2)),
                "{stage:?}"
            );
            let item = NewDelayed {
                uuid: uuid(1),
                timestamp_ms: T0,
                metrics: metric("x", 1),
            };
            let accepted = store.track_delayed_metrics_batch(&[item]);
            assert!(accepted.is_ok(), "{stage:?}: {accepted:?}");
        },
    );
}

#[test]
fn metrics_read_back_in_name_order() {
    let inline = Metrics::new()
        .with("zeta", 1)
        .with("alpha", 2)
        .with("mid", 3);
    let delayed = Metrics::new().with("label", true).with("cost", 0.5);
    let sorted_inline = Metrics::new()
        .with("alpha", 2)
        .with("mid", 3)
        .with("zeta", 1);
    let sorted_delayed = Metrics::new().with("cost", 0.5).with("label", true);
    stages(
        |store| {
            store.track_metrics("m", uuid(1), T0, &inline).unwrap();
            store.track_delayed_metrics(uuid(1), T0, &delayed).unwrap();
            store.track_aggregate_metrics("m", 0, 10, &inline).unwrap();
        },
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.metrics, sorted_inline, "{stage:?} lookup inline");
            assert_eq!(found.delayed, sorted_delayed, "{stage:?} lookup delayed");
            let rows = read_all(store, "m");
            assert_eq!(rows[0].metrics, sorted_inline, "{stage:?} read inline");
            assert_eq!(rows[0].delayed, sorted_delayed, "{stage:?} read delayed");
            let aggregates = aggregates_all(store, "m");
            assert_eq!(aggregates[0].metrics, sorted_inline, "{stage:?} aggregate");
        },
    );
}

#[test]
fn latest_value_wins_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    track(&store, "m", 1, T0);
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", 1))
        .unwrap();
    store
        .track_aggregate_metrics("m", 0, 10, &metric("auc", 0.1))
        .unwrap();
    store.close().unwrap();
    drop(store);
    check_in_stages(
        dir.path(),
        &Options::default(),
        |store| {
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", 2))
                .unwrap();
            store
                .track_aggregate_metrics("m", 0, 10, &metric("auc", 0.2))
                .unwrap();
        },
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.delayed, metric("label", 2), "{stage:?}");
            let aggregates = aggregates_all(store, "m");
            assert_eq!(aggregates.len(), 1, "{stage:?}");
            assert_eq!(aggregates[0].metrics, metric("auc", 0.2), "{stage:?}");
        },
    );
}

#[test]
fn latest_value_wins_after_log_replay() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let store = Store::open(&live).unwrap();
    track(&store, "m", 1, T0);
    store.flush().unwrap();
    store
        .track_delayed_metrics(uuid(1), T0, &metric("label", 1))
        .unwrap();
    store.sync().unwrap();
    // The copy of an open store is what a crash would leave: the delayed record is only in
    // the log.
    let image = root.path().join("image");
    support::copy_store(&live, &image);
    drop(store);
    check_in_stages(
        &image,
        &Options::default(),
        |store| {
            store
                .track_delayed_metrics(uuid(1), T0, &metric("label", 2))
                .unwrap();
        },
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.delayed, metric("label", 2), "{stage:?}");
        },
    );
}

#[test]
fn read_snapshot_ignores_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    track(&store, "m", 1, T0);
    store.flush().unwrap();
    track(&store, "m", 2, T0 + 1);
    let reader = store.read_metrics("m", T0, T0 + 100).unwrap();
    track(&store, "m", 3, T0 + 2);
    store.flush().unwrap();
    track(&store, "m", 4, T0 + 3);
    let rows: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(uuids(&rows), [uuid(1), uuid(2)]);
    assert_eq!(read(&store, "m", T0, T0 + 100).len(), 4);
}
