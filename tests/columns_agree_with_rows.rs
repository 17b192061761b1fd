//! `read_columns` returns what `read_metrics` returns on stores that exercise the column
//! reads' shortcuts. Batches of one model fill more than one block, so that windows start and
//! end inside blocks and span several. Metrics are present in some rows only, and one metric
//! name is tracked with several value types: bytes, strings, bools, floats and integers.
//! Delayed metrics lie in the head, in segments and in stored orphans adopted later. Deleted
//! predictions and models are checked before and after compaction removed them.

#[path = "support/store_ops.rs"]
mod store_ops;
mod support;

use modelmetrics::{Store, Uuid};
use proptest::prelude::*;
use store_ops::{Case, MODELS, op, options};

/// The metrics that reads ask for: each name once, one twice, and one that no record has.
const REQUESTED_INLINE: [&str; 6] = ["x", "score", "label", "blob", "score", "absent"];
const REQUESTED_DELAYED: [&str; 6] = ["y", "label", "score", "blob", "label", "absent"];

/// Checks that `read_columns` over the window agrees with `read_metrics`, row by row.
fn check_window(store: &Store, model: &str, start: i64, end: i64) -> Result<(), TestCaseError> {
    let rows: Vec<modelmetrics::Prediction> = store
        .read_metrics(model, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let columns = store
        .read_columns(model, (start, end), &REQUESTED_INLINE, &REQUESTED_DELAYED)
        .unwrap();
    let window = format!("{model} [{start}, {end})");
    prop_assert_eq!(columns.len(), rows.len(), "rows of {}", window);
    let uuids: Vec<Uuid> = rows.iter().map(|p| p.uuid).collect();
    prop_assert_eq!(&columns.uuids, &uuids, "UUIDs of {}", window);
    let timestamps: Vec<i64> = rows.iter().map(|p| p.timestamp_ms).collect();
    prop_assert_eq!(&columns.timestamps, &timestamps, "timestamps of {}", window);
    for (column, name) in columns.metrics.iter().zip(REQUESTED_INLINE) {
        for (i, row) in rows.iter().enumerate() {
            let context = format!("{name} of row {i} ({}) in {window}", row.uuid);
            prop_assert_eq!(column.get(i), row.metrics.get(name).cloned(), "{}", context);
        }
    }
    for (column, name) in columns.delayed.iter().zip(REQUESTED_DELAYED) {
        for (i, row) in rows.iter().enumerate() {
            let context = format!("delayed {name} of row {i} ({}) in {window}", row.uuid);
            prop_assert_eq!(column.get(i), row.delayed.get(name).cloned(), "{}", context);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn columns_match_rows_across_blocks_and_deletions(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options()).unwrap();
        let mut case = Case { store, batch_uuids: Vec::new() };
        for op in &ops {
            case.apply(dir.path(), op, check_window)?;
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
