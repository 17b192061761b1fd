//! `scan_metrics` visits the rows that `read_metrics` returns, in the same order and with the
//! same inline and delayed metrics, and `scan_selected` the same rows with the metrics named. The stores mix single predictions with batches that fill
//! more than one block. Metrics are present in some rows only and tracked with several value
//! types. Delayed metrics lie in the head, in segments and in stored orphans, and a repeated
//! label's latest value wins. Deletions are checked before and after compaction removed them.

#[path = "support/store_ops.rs"]
mod store_ops;
mod support;

use std::ops::ControlFlow;

use modelmetrics::{Metrics, Prediction, PredictionRef, Store, Value};
use proptest::prelude::*;
use store_ops::{Case, DELAYED, INLINE, MODELS, op, options};

/// Checks that `scan_metrics` over the window agrees with `read_metrics`, row by row, through
/// the owned copy and through the borrowed accessors.
fn check_window(store: &Store, model: &str, start: i64, end: i64) -> Result<(), TestCaseError> {
    let rows: Vec<Prediction> = store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut visited = Vec::new();
    let mut mismatches = Vec::new();
    store
        .scan_metrics(model, start, end, |row| {
            let owned = row.to_prediction();
            mismatches.extend(accessor_mismatch(&row, &owned));
            visited.push(owned);
        })
        .unwrap();
    let window = format!("{model} [{start}, {end})");
    prop_assert_eq!(visited.len(), rows.len(), "rows of {}", window);
    for (i, (scanned, read)) in visited.iter().zip(&rows).enumerate() {
        prop_assert_eq!(scanned, read, "row {} of {}", i, window);
    }
    prop_assert_eq!(mismatches, Vec::<String>::new(), "accessors in {}", window);
    check_selected(store, model, (start, end), &rows)
}

/// Inline and delayed names that `scan_selected` is asked for: out of order, repeated, and
/// with a name no row has.
const SELECTED: [&str; 4] = ["x", "score", "absent", "x"];
const SELECTED_DELAYED: [&str; 2] = ["label", "absent"];

/// Checks that `scan_selected` visits the rows of `read_metrics`, `rows`, each with only the
/// metrics named in `SELECTED` and `SELECTED_DELAYED`.
fn check_selected(
    store: &Store,
    model: &str,
    (start, end): (i64, i64),
    rows: &[Prediction],
) -> Result<(), TestCaseError> {
    let mut visited = Vec::new();
    store
        .scan_selected(model, (start, end), &SELECTED, &SELECTED_DELAYED, |row| {
            visited.push(row.to_prediction());
        })
        .unwrap();
    let keep = |metrics: &Metrics, names: &[&str]| {
        let named = metrics.iter().filter(|m| names.contains(&m.name.as_str()));
        Metrics(named.cloned().collect())
    };
    let expected: Vec<Prediction> = rows
        .iter()
        .map(|row| Prediction {
            metrics: keep(&row.metrics, &SELECTED),
            delayed: keep(&row.delayed, &SELECTED_DELAYED),
            ..row.clone()
        })
        .collect();
    let window = format!("{model} [{start}, {end})");
    prop_assert_eq!(visited.len(), expected.len(), "selected rows of {}", window);
    for (i, (scanned, read)) in visited.iter().zip(&expected).enumerate() {
        prop_assert_eq!(scanned, read, "selected row {} of {}", i, window);
    }
    Ok(())
}

/// Describes where the borrowed accessors of `row` disagree with its owned copy `owned`, or
/// returns `None` when they agree.
fn accessor_mismatch(row: &PredictionRef<'_>, owned: &Prediction) -> Option<String> {
    let uuid = row.uuid();
    if row.model() != owned.model || uuid != owned.uuid || row.timestamp_ms() != owned.timestamp_ms
    {
        return Some(format!("fields of {uuid}"));
    }
    let names = INLINE.iter().chain(["absent"].iter());
    for name in names {
        let borrowed = row.metric(name).map(|value| value.to_value());
        if borrowed.as_ref() != owned.metrics.get(name) {
            return Some(format!("metric {name} of {uuid}: {borrowed:?}"));
        }
    }
    for name in DELAYED.iter().chain(["absent"].iter()) {
        let borrowed = row.delayed_metric(name).map(|value| value.to_value());
        if borrowed.as_ref() != owned.delayed.get(name) {
            return Some(format!("delayed metric {name} of {uuid}: {borrowed:?}"));
        }
    }
    let listed: Vec<(&str, Value)> = row.metrics().map(|(n, v)| (n, v.to_value())).collect();
    let expected: Vec<(&str, Value)> = owned
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.value.clone()))
        .collect();
    (listed != expected).then(|| format!("metric list of {uuid}: {listed:?}"))
}

/// Windows of several days are decoded in several slices, the first one hour long. Rows on
/// both sides of each slice boundary, in segments and in the head, keep their order and labels,
/// and some rows have more metrics than a lookup by name searches in order.
#[test]
fn scan_matches_rows_across_slices() {
    const HOUR_MS: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    let model = MODELS[0];
    let mut uuids = Vec::new();
    for step in 0..300i64 {
        // Every fifth step lands exactly on an hour boundary, where a slice may end.
        let timestamp_ms = step * HOUR_MS / 5;
        let uuid = support::uuid(u128::from(step as u64) + 1);
        let metrics = Metrics::new().with("score", step as f64 / 300.0);
        let mut metrics = match step % 3 {
            0 => metrics.with("x", step),
            _ => metrics,
        };
        // Rows with many metrics make lookups by name search a long column list.
        if step % 7 == 0 {
            for feature in 0..10 {
                metrics.push(format!("feature-{feature}"), step * feature);
            }
        }
        store
            .track_metrics(model, uuid, timestamp_ms, &metrics)
            .unwrap();
        uuids.push(uuid);
        if step == 150 {
            store.flush().unwrap();
        }
    }

    for (i, uuid) in uuids.iter().enumerate().step_by(4) {
        let label = Metrics::new().with("label", i % 8 == 0);
        store.track_delayed_metrics(*uuid, 0, &label).unwrap();
    }
    store.flush().unwrap();
    for uuid in uuids.iter().step_by(8) {
        let label = Metrics::new().with("label", "relabelled");
        store.track_delayed_metrics(*uuid, 0, &label).unwrap();
    }
    store.delete_prediction(uuids[42]).unwrap();

    let windows = [
        (i64::MIN, i64::MAX),
        (HOUR_MS / 2, 50 * HOUR_MS + 1),
        (0, HOUR_MS),
    ];
    for (start, end) in windows {
        check_window(&store, model, start, end).unwrap();
    }

    let mut count = 0;
    store
        .scan_metrics(model, i64::MIN, i64::MAX, |_| count += 1)
        .unwrap();
    assert_eq!(count, 299);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn scan_matches_rows_across_blocks_and_deletions(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options()).unwrap();
        let mut case = Case { store, batch_uuids: Vec::new() };
        // Checking the whole store after each operation catches records that a later flush or
        // compaction would move out of the head before the final checks.
        for op in &ops {
            case.apply(dir.path(), op, check_window)?;
            for model in MODELS {
                check_window(&case.store, model, i64::MIN, i64::MAX)?;
            }
        }
        for model in MODELS {
            check_window(&case.store, model, i64::MIN, i64::MAX)?;
            check_window(&case.store, model, 0, 150)?;
            check_window(&case.store, model, 4_000, 4_200)?;
        }
        case.store.flush().unwrap();
        case.store.compact().unwrap();
        for model in MODELS {
            check_window(&case.store, model, i64::MIN, i64::MAX)?;
        }
    }
}

/// A visitor that returns `Break` ends the scan after that row, in the first slice or a later
/// one, and one that returns `Continue` visits every row.
#[test]
fn break_ends_scan_after_its_row() {
    const HOUR_MS: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // One prediction every 10 minutes for 3 days: the scan reads several slices.
    let total = 3 * 24 * 6;
    for step in 0..total {
        let metrics = Metrics::new().with("score", step as f64);
        let uuid = support::uuid(u128::from(step as u64) + 1);
        store
            .track_metrics("m", uuid, step * HOUR_MS / 6, &metrics)
            .unwrap();
    }
    store.flush().unwrap();

    for stop_after in [1, 5, 200, total] {
        let mut seen = Vec::new();
        store
            .scan_metrics("m", i64::MIN, i64::MAX, |row| {
                seen.push(row.timestamp_ms());
                if seen.len() as i64 == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        let expected: Vec<i64> = (0..stop_after).map(|step| step * HOUR_MS / 6).collect();
        assert_eq!(seen, expected, "stop after {stop_after}");

        let mut selected = 0;
        store
            .scan_selected("m", (i64::MIN, i64::MAX), &["score"], &[], |_| {
                selected += 1;
                if selected == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(selected, stop_after, "selected, stop after {stop_after}");
    }
}

/// A row's debug form shows that row's fields and metrics, not the slice it borrows from.
#[test]
fn debug_form_shows_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let uuids: Vec<_> = (1..=3).map(support::uuid).collect();
    for (i, uuid) in uuids.iter().enumerate() {
        let metrics = Metrics::new().with("score", i as f64 / 4.0);
        store.track_metrics("m", *uuid, i as i64, &metrics).unwrap();
    }
    store
        .track_delayed_metrics(uuids[1], 10, &Metrics::new().with("label", true))
        .unwrap();
    let mut debug_forms = Vec::new();
    store
        .scan_metrics("m", 0, 10, |row| debug_forms.push(format!("{row:?}")))
        .unwrap();
    assert_eq!(debug_forms.len(), 3);
    for (i, text) in debug_forms.iter().enumerate() {
        for (j, uuid) in uuids.iter().enumerate() {
            assert_eq!(text.contains(&uuid.to_string()), i == j, "row {i}: {text}");
        }
        assert!(
            text.contains(&format!("\"score\": F64({:?})", i as f64 / 4.0)),
            "{text}"
        );
    }
    assert!(
        debug_forms[1].contains("\"label\": Bool(true)"),
        "{}",
        debug_forms[1]
    );
}
