//! Every limit and every input error: the call fails with the right error, its message names
//! the bad value, and nothing of the call is written.

mod support;

use std::path::Path;

use modelmetrics::value::{
    MAX_BATCH_LEN, MAX_BYTES_LEN, MAX_METRIC_NAME_LEN, MAX_METRICS_PER_RECORD, MAX_MODEL_LEN,
    MAX_STRING_LEN,
};
use modelmetrics::{
    Error, Metrics, NewAggregate, NewDelayed, NewPrediction, Result, Store, Uuid, Value,
};
use support::{files_with_prefix, list_files, metric, read_all, uuid};

const T0: i64 = 1_700_000_000_000;

/// Checks that `result` is `Error::InvalidInput` about `what`, and that its message contains
/// each of `names`.
fn assert_invalid(result: Result<()>, what: &str, names: &[&str]) {
    let error = result.expect_err("the call was accepted");
    let text = error.to_string();
    assert!(
        matches!(&error, Error::InvalidInput { what: found, .. } if *found == what),
        "expected invalid {what}, got {error:?}"
    );
    for name in names {
        assert!(
            text.contains(name),
            "message {text:?} does not name {name:?}"
        );
    }
}

/// Checks that the store contains nothing: no prediction with UUID `id`, no orphan, and a flush
/// writes no segment because the head is empty.
fn assert_nothing_written(store: &Store, id: Uuid) {
    assert_eq!(
        store.lookup(id).unwrap(),
        None,
        "prediction {id} was written"
    );
    let orphans = store.orphaned_delayed_metrics().unwrap();
    assert!(orphans.is_empty(), "orphans were written: {orphans:?}");
    store.flush().unwrap();
    let segments = files_with_prefix(store.dir(), "seg-");
    assert!(segments.is_empty(), "a flush wrote {segments:?}");
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn track(store: &Store, model: &str, metrics: &Metrics) -> Result<()> {
    store.track_metrics(model, uuid(1), T0, metrics)
}

fn track_aggregate(store: &Store, model: &str, metrics: &Metrics) -> Result<()> {
    store.track_aggregate_metrics(model, 0, 10, metrics)
}

#[test]
fn empty_model_is_rejected() {
    let (_dir, store) = open();
    assert_invalid(track(&store, "", &Metrics::new()), "model", &["\"\""]);
    assert_invalid(
        track_aggregate(&store, "", &Metrics::new()),
        "model",
        &["\"\""],
    );
    let read = store.read_metrics("", 0, 10).map(|_| ());
    assert_invalid(read, "model", &["\"\""]);
    let read = store.read_aggregate_metrics("", 0, 10).map(|_| ());
    assert_invalid(read, "model", &["\"\""]);
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn model_over_limit_is_rejected() {
    let (_dir, store) = open();
    let long = "m".repeat(MAX_MODEL_LEN + 1);
    let length = (MAX_MODEL_LEN + 1).to_string();
    let prefix = &long[..40];
    assert_invalid(
        track(&store, &long, &Metrics::new()),
        "model",
        &[prefix, &length],
    );
    assert_invalid(
        track_aggregate(&store, &long, &Metrics::new()),
        "model",
        &[&length],
    );
    assert_invalid(
        store.read_metrics(&long, 0, 10).map(|_| ()),
        "model",
        &[&length],
    );
    // Two-byte characters: 129 of them are 258 bytes.
    let wide = "é".repeat(MAX_MODEL_LEN / 2 + 1);
    assert_invalid(track(&store, &wide, &Metrics::new()), "model", &["258"]);
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn model_at_limit_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ascii = "m".repeat(MAX_MODEL_LEN);
    let wide = "é".repeat(MAX_MODEL_LEN / 2);
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics(&ascii, uuid(1), T0, &Metrics::new())
        .unwrap();
    store
        .track_metrics(&wide, uuid(2), T0, &Metrics::new())
        .unwrap();
    track_aggregate(&store, &ascii, &metric("auc", 0.5)).unwrap();
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(read_all(&store, &ascii).len(), 1);
    assert_eq!(read_all(&store, &wide).len(), 1);
    assert_eq!(support::aggregates_all(&store, &ascii).len(), 1);
}

#[test]
fn control_characters_in_model_rejected() {
    let (_dir, store) = open();
    for model in ["a\nb", "a\0b", "\t", "end\u{7f}", "c1\u{85}", "\u{1b}[31m"] {
        let quoted = format!("{model:?}");
        assert_invalid(track(&store, model, &Metrics::new()), "model", &[&quoted]);
        let result = track_aggregate(&store, model, &Metrics::new());
        assert_invalid(result, "model", &[&quoted]);
    }
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn invalid_metric_names_rejected() {
    let (_dir, store) = open();
    let long = "n".repeat(MAX_METRIC_NAME_LEN + 1);
    let long_length = (MAX_METRIC_NAME_LEN + 1).to_string();
    let cases: [(&str, &[&str]); 4] = [
        ("", &["\"\""]),
        (&long, &[&long[..40], &long_length]),
        ("a\nb", &["\"a\\nb\""]),
        ("tab\t", &["\"tab\\t\""]),
    ];
    for (name, names) in cases {
        let metrics = metric(name, 1.0);
        assert_invalid(track(&store, "m", &metrics), "metric name", names);
        let delayed = store.track_delayed_metrics(uuid(1), T0, &metrics);
        assert_invalid(delayed, "metric name", names);
        assert_invalid(track_aggregate(&store, "m", &metrics), "metric name", names);
    }
    assert_nothing_written(&store, uuid(1));
    assert!(support::aggregates_all(&store, "m").is_empty());
}

#[test]
fn metric_name_at_limit_accepted() {
    let (_dir, store) = open();
    let name = "n".repeat(MAX_METRIC_NAME_LEN);
    track(&store, "m", &metric(&name, 1.0)).unwrap();
    store.flush().unwrap();
    let found = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(found.metrics.get(&name), Some(&Value::F64(1.0)));
}

fn many_metrics(count: usize) -> Metrics {
    (0..count)
        .map(|i| (format!("metric{i}"), i as i64))
        .collect()
}

#[test]
fn too_many_metrics_rejected() {
    let (_dir, store) = open();
    let metrics = many_metrics(MAX_METRICS_PER_RECORD + 1);
    let count = (MAX_METRICS_PER_RECORD + 1).to_string();
    assert_invalid(track(&store, "m", &metrics), "metrics", &[&count]);
    let delayed = store.track_delayed_metrics(uuid(1), T0, &metrics);
    assert_invalid(delayed, "metrics", &[&count]);
    assert_invalid(track_aggregate(&store, "m", &metrics), "metrics", &[&count]);
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn metrics_at_limit_accepted() {
    let (_dir, store) = open();
    let metrics = many_metrics(MAX_METRICS_PER_RECORD);
    track(&store, "m", &metrics).unwrap();
    store.flush().unwrap();
    let found = store.lookup(uuid(1)).unwrap().unwrap();
    assert_eq!(found.metrics.len(), MAX_METRICS_PER_RECORD);
    let last = format!("metric{}", MAX_METRICS_PER_RECORD - 1);
    let expected = Value::I64(MAX_METRICS_PER_RECORD as i64 - 1);
    assert_eq!(found.metrics.get(&last), Some(&expected));
}

#[test]
fn duplicate_metric_name_rejected() {
    let (_dir, store) = open();
    let metrics = Metrics::new()
        .with("score", 1.0)
        .with("other", 2)
        .with("score", 3.0);
    assert_invalid(track(&store, "m", &metrics), "metric name", &["\"score\""]);
    let delayed = store.track_delayed_metrics(uuid(1), T0, &metrics);
    assert_invalid(delayed, "metric name", &["\"score\""]);
    let aggregate = track_aggregate(&store, "m", &metrics);
    assert_invalid(aggregate, "metric name", &["\"score\""]);
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn duplicate_in_long_metric_list_rejected() {
    let (_dir, store) = open();
    let mut metrics: Metrics = (0..100).map(|i| (format!("feature_{i}"), i)).collect();
    metrics.push("feature_7", 1.0);
    assert_invalid(
        track(&store, "m", &metrics),
        "metric name",
        &["\"feature_7\""],
    );
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn string_over_limit_rejected() {
    let (_dir, store) = open();
    let metrics = metric("text", "s".repeat(MAX_STRING_LEN + 1));
    let names = [&(MAX_STRING_LEN + 1).to_string(), "\"text\""];
    assert_invalid(track(&store, "m", &metrics), "string value", &names);
    let delayed = store.track_delayed_metrics(uuid(1), T0, &metrics);
    assert_invalid(delayed, "string value", &names);
    assert_invalid(
        track_aggregate(&store, "m", &metrics),
        "string value",
        &names,
    );
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn bytes_over_limit_rejected() {
    let (_dir, store) = open();
    let metrics = metric("blob", vec![7u8; MAX_BYTES_LEN + 1]);
    let names = [&(MAX_BYTES_LEN + 1).to_string(), "\"blob\""];
    assert_invalid(track(&store, "m", &metrics), "bytes value", &names);
    let delayed = store.track_delayed_metrics(uuid(1), T0, &metrics);
    assert_invalid(delayed, "bytes value", &names);
    assert_invalid(
        track_aggregate(&store, "m", &metrics),
        "bytes value",
        &names,
    );
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn record_over_size_limit_rejected() {
    let (_dir, store) = open();
    let blob = vec![1u8; MAX_BYTES_LEN];
    let metrics = Metrics::new()
        .with("a", blob.clone())
        .with("b", blob.clone())
        .with("c", blob);
    assert_invalid(track(&store, "m", &metrics), "metrics", &["bytes"]);
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn window_end_not_after_start_rejected() {
    let (_dir, store) = open();
    for (start, end) in [(10, 10), (10, 5), (i64::MAX, i64::MIN)] {
        let (end_text, start_text) = (end.to_string(), start.to_string());
        let names = [end_text.as_str(), start_text.as_str()];
        let aggregate = store.track_aggregate_metrics("m", start, end, &metric("auc", 0.5));
        assert_invalid(aggregate, "end_ms", &names);
        assert_invalid(
            store.read_metrics("m", start, end).map(|_| ()),
            "end_ms",
            &names,
        );
        let read = store.read_aggregate_metrics("m", start, end).map(|_| ());
        assert_invalid(read, "end_ms", &names);
    }
    assert!(support::aggregates_all(&store, "m").is_empty());
    assert_nothing_written(&store, uuid(1));
}

/// Checks that tracking prediction 1 again fails with `DuplicatePrediction` naming it, and that
/// the stored prediction keeps its first metrics.
fn assert_duplicate_rejected(store: &Store) {
    let result = store.track_metrics("m", uuid(1), T0 + 5, &metric("n", 2));
    let error = result.expect_err("a duplicate prediction UUID was accepted");
    assert!(
        matches!(error, Error::DuplicatePrediction { uuid: found } if found == uuid(1)),
        "{error:?}"
    );
    assert!(error.to_string().contains(&uuid(1).to_string()), "{error}");
    let rows = read_all(store, "m");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].metrics, metric("n", 1));
    assert_eq!(rows[0].timestamp_ms, T0);
}

#[test]
fn duplicate_prediction_rejected_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("m", uuid(1), T0, &metric("n", 1))
        .unwrap();
    assert_duplicate_rejected(&store);
    store.flush().unwrap();
    assert_duplicate_rejected(&store);
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_duplicate_rejected(&store);
    store.flush().unwrap();
    assert_duplicate_rejected(&store);
}

#[test]
fn duplicate_rejected_after_log_replay() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let store = Store::open(&live).unwrap();
    store
        .track_metrics("m", uuid(1), T0, &metric("n", 1))
        .unwrap();
    store.sync().unwrap();

    // A copy of the open store's files is what a crash would leave: the record is only in the
    // log, and open replays it into the head.
    let image = root.path().join("image");
    support::copy_store(&live, &image);
    let replayed = Store::open(&image).unwrap();
    assert_duplicate_rejected(&replayed);
    replayed.flush().unwrap();
    assert_duplicate_rejected(&replayed);
    drop(store);
}

#[test]
fn duplicate_in_other_model_rejected() {
    let (_dir, store) = open();
    store
        .track_metrics("m", uuid(1), T0, &metric("n", 1))
        .unwrap();
    let result = store.track_metrics("other", uuid(1), T0, &metric("n", 2));
    assert!(
        matches!(result, Err(Error::DuplicatePrediction { .. })),
        "{result:?}"
    );
    assert!(read_all(&store, "other").is_empty());
}

fn new_prediction(n: u128) -> NewPrediction {
    NewPrediction {
        model: "m".to_owned(),
        uuid: uuid(n),
        timestamp_ms: T0 + n as i64,
        metrics: metric("n", n as i64),
    }
}

#[test]
fn duplicate_within_batch_rejected() {
    let (_dir, store) = open();
    let batch: Vec<_> = [10, 11, 12, 11, 13]
        .into_iter()
        .map(new_prediction)
        .collect();
    let result = store.track_metrics_batch(&batch);
    assert_invalid(result, "batch", &[&uuid(11).to_string()]);
    assert!(read_all(&store, "m").is_empty());
    assert_nothing_written(&store, uuid(10));
}

#[test]
fn batch_with_stored_duplicate_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .track_metrics("m", uuid(1), T0, &metric("n", 1))
        .unwrap();
    let batch: Vec<_> = (2..50)
        .chain([1])
        .chain(50..60)
        .map(new_prediction)
        .collect();
    let check = |store: &Store| {
        let result = store.track_metrics_batch(&batch);
        assert!(
            matches!(result, Err(Error::DuplicatePrediction { uuid: found }) if found == uuid(1)),
            "{result:?}"
        );
        assert_eq!(support::uuids(&read_all(store, "m")), [uuid(1)]);
        assert_eq!(store.lookup(uuid(2)).unwrap(), None);
    };
    check(&store);
    store.flush().unwrap();
    check(&store);
    store.close().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check(&store);
}

#[test]
fn invalid_item_fails_whole_batch() {
    let (_dir, store) = open();
    let mut predictions: Vec<_> = (1..10).map(new_prediction).collect();
    predictions[5].model = String::new();
    assert_invalid(store.track_metrics_batch(&predictions), "model", &["\"\""]);

    let mut delayed: Vec<_> = (1..10)
        .map(|n| NewDelayed {
            uuid: uuid(n),
            timestamp_ms: T0,
            metrics: metric("label", 1),
        })
        .collect();
    delayed[7].metrics = metric("", 1);
    assert_invalid(
        store.track_delayed_metrics_batch(&delayed),
        "metric name",
        &["\"\""],
    );

    let mut aggregates: Vec<_> = (0..10)
        .map(|i| NewAggregate {
            model: "m".to_owned(),
            start_ms: i,
            end_ms: i + 1,
            metrics: metric("auc", 0.5),
        })
        .collect();
    aggregates[9].end_ms = aggregates[9].start_ms;
    assert_invalid(
        store.track_aggregate_metrics_batch(&aggregates),
        "end_ms",
        &["9"],
    );

    assert!(read_all(&store, "m").is_empty());
    assert!(support::aggregates_all(&store, "m").is_empty());
    assert_nothing_written(&store, uuid(1));
}

#[test]
fn batch_over_limit_rejected() {
    let (_dir, store) = open();
    let count = MAX_BATCH_LEN + 1;
    let count_text = count.to_string();
    let names = [count_text.as_str()];
    let predictions: Vec<_> = (0..count as u128).map(new_prediction).collect();
    assert_invalid(store.track_metrics_batch(&predictions), "batch", &names);
    let delayed: Vec<_> = (0..count as u128)
        .map(|n| NewDelayed {
            uuid: uuid(n),
            timestamp_ms: T0,
            metrics: Metrics::new(),
        })
        .collect();
    assert_invalid(store.track_delayed_metrics_batch(&delayed), "batch", &names);
    let aggregates: Vec<_> = (0..count as i64)
        .map(|i| NewAggregate {
            model: "m".to_owned(),
            start_ms: i,
            end_ms: i + 1,
            metrics: Metrics::new(),
        })
        .collect();
    assert_invalid(
        store.track_aggregate_metrics_batch(&aggregates),
        "batch",
        &names,
    );
    assert!(support::aggregates_all(&store, "m").is_empty());
    assert_nothing_written(&store, uuid(0));
}

#[test]
fn batch_at_limit_accepted() {
    let (_dir, store) = open();
    let predictions: Vec<_> = (0..MAX_BATCH_LEN as u128).map(new_prediction).collect();
    store.track_metrics_batch(&predictions).unwrap();
    assert_eq!(
        store.read_metrics("m", T0, i64::MAX).unwrap().count(),
        MAX_BATCH_LEN
    );
    let last = uuid(MAX_BATCH_LEN as u128 - 1);
    assert_eq!(store.lookup(last).unwrap().unwrap().uuid, last);
}

/// Returns the paths under `root`, recursively, except those inside `skip`.
fn tree(root: &Path, skip: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.starts_with(skip) {
                continue;
            }
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn path_like_model_ids_stay_inside() {
    let root = tempfile::tempdir().unwrap();
    // "../../etc/passwd" seen from the store directory would land in root/x/etc.
    let dir = root.path().join("x").join("y").join("store");
    let store = Store::open(&dir).unwrap();
    let before = tree(root.path(), &dir);

    let models = [
        "../../etc/passwd",
        "a/b",
        "/abs",
        "..",
        ".",
        "seg-00000000000000000001.seg",
    ];
    for (i, model) in models.iter().enumerate() {
        store
            .track_metrics(model, uuid(i as u128), T0, &Metrics::new())
            .unwrap();
        track_aggregate(&store, model, &metric("auc", 0.5)).unwrap();
    }
    store.flush().unwrap();
    store.close().unwrap();
    drop(store);

    let store = Store::open(&dir).unwrap();
    for (i, model) in models.iter().enumerate() {
        assert_eq!(
            support::uuids(&read_all(&store, model)),
            [uuid(i as u128)],
            "{model}"
        );
        assert_eq!(support::aggregates_all(&store, model).len(), 1, "{model}");
    }
    store.close().unwrap();

    assert_eq!(
        tree(root.path(), &dir),
        before,
        "files outside the store directory"
    );
    assert_store_files_only(&dir);
}

/// Checks that `dir` contains only the kinds of files a store writes.
fn assert_store_files_only(dir: &Path) {
    for name in list_files(dir).keys() {
        let known = name == "LOCK"
            || name == "MANIFEST"
            || (name.starts_with("wal-") && name.ends_with(".log"))
            || (name.starts_with("seg-") && name.ends_with(".seg"))
            || (name.starts_with("index-") && name.ends_with(".idx"));
        assert!(known, "unexpected file {name} in the store directory");
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let kind = entry.unwrap().file_type().unwrap();
        assert!(kind.is_file(), "the store directory holds a non-file");
    }
}
