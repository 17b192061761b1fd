//! A thousand models in one segment, each with its own metric name, and model ids and metric
//! names with Unicode, spaces and look-alike spellings. Every model reads back only its own
//! records, and every name comes back byte for byte. Each check runs with the records in the
//! head, after a flush and after a reopen.

mod support;

use modelmetrics::{Metrics, Options, Store, Value};
use support::{ALL_END, ALL_START, Stage, by_name, check_in_stages, read_all, uuid};

const MODELS: usize = 1_000;
const PER_MODEL: usize = 3;
const T0: i64 = 1_700_000_000_000;

fn model(i: usize) -> String {
    // Ids that differ only in case or in a suffix sort next to each other.
    match i % 4 {
        0 => format!("model-{i}"),
        1 => format!("MODEL-{i}"),
        2 => format!("model-{i} v2"),
        _ => format!("modèle-{i}"),
    }
}

fn write_models(store: &Store) {
    for i in 0..MODELS {
        for j in 0..PER_MODEL {
            let n = (i * PER_MODEL + j) as u128;
            let metrics = Metrics::new()
                .with(format!("metric-{i}"), j as i64)
                .with("model", i as i64);
            store
                .track_metrics(&model(i), uuid(n), T0 + j as i64, &metrics)
                .unwrap();
        }
        store
            .track_aggregate_metrics(&model(i), 0, 1, &Metrics::new().with("auc", i as f64))
            .unwrap();
    }
}

fn check_models(store: &Store, stage: Stage) {
    for i in 0..MODELS {
        let rows = read_all(store, &model(i));
        assert_eq!(rows.len(), PER_MODEL, "{stage:?}: {}", model(i));
        for (j, row) in rows.iter().enumerate() {
            assert_eq!(row.model, model(i), "{stage:?}");
            assert_eq!(row.uuid, uuid((i * PER_MODEL + j) as u128), "{stage:?}");
            let expected = Metrics::new()
                .with(format!("metric-{i}"), j as i64)
                .with("model", i as i64);
            assert_eq!(
                by_name(&row.metrics),
                by_name(&expected),
                "{stage:?}: {}",
                model(i)
            );
        }
        let aggregates = store
            .read_aggregate_metrics(&model(i), ALL_START, ALL_END)
            .unwrap();
        assert_eq!(aggregates.len(), 1, "{stage:?}: {}", model(i));
        assert_eq!(
            aggregates[0].metrics.get("auc"),
            Some(&Value::F64(i as f64))
        );
    }
    assert!(
        read_all(store, "model-1000").is_empty(),
        "{stage:?}: unknown model"
    );
    assert!(
        read_all(store, "model").is_empty(),
        "{stage:?}: prefix of a model"
    );
}

#[test]
fn thousand_models_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    check_in_stages(dir.path(), &Options::default(), write_models, check_models);
}

/// Metric names that a naive encoder or a normalising comparison would confuse.
const NAMES: [&str; 12] = [
    "précision @ 10",
    "pre\u{301}cision @ 10",
    "ラベル",
    "a b",
    " leading space",
    "trailing space ",
    "tab-free\u{a0}nbsp",
    "zero\u{200b}width",
    "emoji 🚀 score",
    "עברית",
    "UPPER",
    "upper",
];
const UNICODE_MODEL: &str = "modèle de crédit ✓";

fn unicode_metrics(base: i64) -> Metrics {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, Value::I64(base + i as i64)))
        .collect()
}

#[test]
fn unicode_names_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let write = |store: &Store| {
        store
            .track_metrics(UNICODE_MODEL, uuid(1), T0, &unicode_metrics(0))
            .unwrap();
        store
            .track_delayed_metrics(uuid(1), T0, &unicode_metrics(100))
            .unwrap();
        store
            .track_aggregate_metrics(UNICODE_MODEL, 0, 10, &unicode_metrics(200))
            .unwrap();
    };
    let check = |store: &Store, stage: Stage| {
        let rows = read_all(store, UNICODE_MODEL);
        assert_eq!(rows.len(), 1, "{stage:?}");
        assert_eq!(
            by_name(&rows[0].metrics),
            by_name(&unicode_metrics(0)),
            "{stage:?}"
        );
        assert_eq!(
            by_name(&rows[0].delayed),
            by_name(&unicode_metrics(100)),
            "{stage:?}"
        );
        let names: Vec<&str> = rows[0].metrics.iter().map(|m| m.name.as_str()).collect();
        let mut sorted = NAMES.to_vec();
        sorted.sort();
        assert_eq!(names, sorted, "{stage:?}: names in byte order");
        let aggregates = store
            .read_aggregate_metrics(UNICODE_MODEL, ALL_START, ALL_END)
            .unwrap();
        assert_eq!(
            by_name(&aggregates[0].metrics),
            by_name(&unicode_metrics(200))
        );
        assert!(
            read_all(store, "modele de credit ✓").is_empty(),
            "{stage:?}"
        );
    };
    check_in_stages(dir.path(), &Options::default(), write, check);
}
