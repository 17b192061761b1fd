//! Monitoring jobs on a real store: stored figures against the evaluators, runs again after
//! late labels, empty and one-class windows, and a reference read once.

use modelmetrics::eval::{
    BinaryClassification, CategoricalDrift, NumericDrift, Undefined, bool_category,
};
use modelmetrics::jobs::calendar::Date;
use modelmetrics::jobs::{
    CategoricalMeasure, ClassificationMetric, Job, JobConfig, NumericMeasure, Window, WindowReport,
    WindowScheme, parse_undefined,
};
use modelmetrics::{Metrics, Prediction, Store, Uuid, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;

const MODEL: &str = "credit";
const CATEGORIES: [&str; 3] = ["a", "b", "c"];

fn month_start(year: i64, month: u32) -> i64 {
    Date::new(year, month, 1).unwrap().start_ms().unwrap()
}

fn open() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// One generated prediction and its label.
struct Generated {
    uuid: Uuid,
    label: bool,
}

/// Tracks `count` predictions spread over `[start_ms, end_ms)`: a score, a float feature `x`
/// moved by `shift`, an integer feature `n`, a string feature `c` and a bool feature `flag`.
fn track_predictions(
    store: &Store,
    rng: &mut ChaCha8Rng,
    window: Window,
    count: i64,
    shift: f64,
) -> Vec<Generated> {
    let step = (window.end_ms - window.start_ms) / count;
    let mut generated = Vec::new();
    for i in 0..count {
        let score: f64 = rng.random();
        let category = CATEGORIES[rng.random_range(0..3usize)];
        let category = if shift > 0.0 && rng.random::<f64>() < shift {
            "c"
        } else {
            category
        };
        let inline = Metrics::new()
            .with("score", score)
            .with("x", rng.random::<f64>() + shift)
            .with("n", rng.random_range(0..10i64))
            .with("c", category)
            .with("flag", rng.random::<f64>() < 0.3 + shift);
        let uuid = Uuid::new_v4();
        store
            .track_metrics(MODEL, uuid, window.start_ms + i * step, &inline)
            .unwrap();
        generated.push(Generated {
            uuid,
            label: rng.random::<f64>() < score,
        });
    }
    generated
}

fn track_labels(store: &Store, predictions: &[Generated]) {
    for prediction in predictions {
        let label = Metrics::new().with("label", prediction.label);
        store
            .track_delayed_metrics(prediction.uuid, 0, &label)
            .unwrap();
    }
}

fn months(first: (i64, u32), count: usize) -> Vec<Window> {
    let start = month_start(first.0, first.1);
    let range = Window::new(start, start + 1).unwrap();
    let first = WindowScheme::Months.windows(range).unwrap().next().unwrap();
    let mut windows = vec![first];
    while windows.len() < count {
        let last = windows.last().unwrap();
        windows.push(WindowScheme::Months.window_containing(last.end_ms).unwrap());
    }
    windows
}

fn full_config(reference: Window, range: Window) -> JobConfig {
    JobConfig::builder(MODEL)
        .score("score")
        .label("label")
        .classification_metrics([
            ClassificationMetric::RocAuc,
            ClassificationMetric::Accuracy,
            ClassificationMetric::Precision,
            ClassificationMetric::Recall,
            ClassificationMetric::F1,
            ClassificationMetric::AveragePrecision,
            ClassificationMetric::LogLoss,
            ClassificationMetric::BrierScore,
        ])
        .numeric_features(["x", "n"])
        .numeric_measures([
            NumericMeasure::Ks,
            NumericMeasure::KsPValue,
            NumericMeasure::Wasserstein,
            NumericMeasure::Psi,
        ])
        .categorical_features(["c", "flag"])
        .categorical_measures([
            CategoricalMeasure::ChiSquare,
            CategoricalMeasure::ChiSquarePValue,
            CategoricalMeasure::JensenShannon,
            CategoricalMeasure::Psi,
            CategoricalMeasure::LInfinity,
        ])
        .reference(reference.start_ms, reference.end_ms)
        .windows(WindowScheme::Months)
        .range(range.start_ms, range.end_ms)
        .build()
        .unwrap()
}

fn classification_config(range: Window) -> JobConfig {
    JobConfig::builder(MODEL)
        .score("score")
        .label("label")
        .windows(WindowScheme::Months)
        .range(range.start_ms, range.end_ms)
        .build()
        .unwrap()
}

/// Returns the aggregate metrics stored for exactly `window`.
fn stored(store: &Store, window: Window) -> Metrics {
    let aggregates = store
        .read_aggregate_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap();
    let found: Vec<_> = aggregates
        .into_iter()
        .filter(|a| a.start_ms == window.start_ms && a.end_ms == window.end_ms)
        .collect();
    assert_eq!(found.len(), 1, "one aggregate entry per window");
    found.into_iter().next().unwrap().metrics
}

fn read_rows(store: &Store, window: Window) -> Vec<Prediction> {
    store
        .read_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn numbers(rows: &[Prediction], name: &str) -> Vec<f64> {
    rows.iter()
        .filter_map(|row| row.metrics.get(name).and_then(Value::as_f64))
        .collect()
}

fn categories(rows: &[Prediction], name: &str) -> Vec<String> {
    rows.iter()
        .filter_map(|row| match row.metrics.get(name)? {
            Value::Str(text) => Some(text.clone()),
            Value::Bool(flag) => Some(bool_category(*flag).to_owned()),
            _ => None,
        })
        .collect()
}

fn pairs(rows: &[Prediction]) -> Vec<(f64, bool)> {
    rows.iter()
        .filter_map(|row| {
            let label = row.delayed.get("label")?.as_bool()?;
            Some((row.metrics.get("score")?.as_f64()?, label))
        })
        .collect()
}

/// Computes the figures of one window directly with the evaluators, by metric name.
fn direct_figures(reference: &[Prediction], rows: &[Prediction]) -> Vec<(String, f64)> {
    let summary = BinaryClassification::from_pairs(&pairs(rows), 0.5).unwrap();
    let confusion = summary.confusion;
    let mut figures = vec![
        ("roc_auc", summary.roc_auc),
        ("accuracy", confusion.accuracy()),
        ("precision", confusion.precision()),
        ("recall", confusion.recall()),
        ("f1", confusion.f1()),
        ("average_precision", summary.average_precision),
        ("log_loss", summary.log_loss),
        ("brier_score", summary.brier_score),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.unwrap()))
    .collect::<Vec<_>>();
    for feature in ["x", "n"] {
        let result =
            NumericDrift::new(&numbers(reference, feature)).compare(&numbers(rows, feature));
        let ks = result.ks.unwrap();
        figures.push((format!("ks:{feature}"), ks.statistic));
        figures.push((format!("ks_p_value:{feature}"), ks.p_value));
        figures.push((
            format!("wasserstein:{feature}"),
            result.wasserstein.unwrap(),
        ));
        figures.push((format!("psi:{feature}"), result.psi.unwrap()));
    }
    for feature in ["c", "flag"] {
        let drift = CategoricalDrift::new(categories(reference, feature));
        let result = drift.compare(categories(rows, feature));
        let chi_square = result.chi_square.unwrap();
        figures.push((format!("chi2:{feature}"), chi_square.statistic));
        figures.push((format!("chi2_p_value:{feature}"), chi_square.p_value));
        figures.push((
            format!("jensen_shannon:{feature}"),
            result.jensen_shannon.unwrap(),
        ));
        figures.push((format!("psi:{feature}"), result.psi.unwrap()));
        figures.push((format!("l_infinity:{feature}"), result.l_infinity.unwrap()));
    }
    figures
}

fn stored_f64(metrics: &Metrics, name: &str) -> Option<f64> {
    match metrics.get(name) {
        Some(Value::F64(value)) => Some(*value),
        _ => None,
    }
}

fn stored_i64(metrics: &Metrics, name: &str) -> Option<i64> {
    metrics.get(name).and_then(Value::as_i64)
}

fn stored_undefined(metrics: &Metrics) -> Vec<(String, String)> {
    let text = metrics.get("undefined").and_then(Value::as_str).unwrap();
    parse_undefined(text)
        .into_iter()
        .map(|(name, reason)| (name.to_owned(), reason.to_owned()))
        .collect()
}

#[test]
fn stored_figures_equal_direct_evaluators() {
    let (_dir, store) = open();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let windows = months((2019, 1), 3);
    for (index, window) in windows.iter().enumerate() {
        let predictions = track_predictions(&store, &mut rng, *window, 400, index as f64 * 0.2);
        // A fifth of the predictions never get a label.
        track_labels(&store, &predictions[..320]);
    }
    let range = Window::new(windows[0].start_ms, windows[2].end_ms).unwrap();
    let job = Job::prepare(&store, full_config(windows[0], range)).unwrap();
    assert_eq!(job.reference_rows(), 400);
    let reports = job.run(&store).unwrap();
    assert_eq!(reports.len(), 3);

    let reference = read_rows(&store, windows[0]);
    for (report, window) in reports.iter().zip(&windows) {
        let metrics = stored(&store, *window);
        assert_eq!(stored_i64(&metrics, "rows"), Some(400));
        assert_eq!(stored_i64(&metrics, "labeled"), Some(320));
        assert_eq!(report.unlabeled(), Some(80));
        assert!(stored_undefined(&metrics).is_empty(), "{}", report.name);
        let expected = direct_figures(&reference, &read_rows(&store, *window));
        assert_eq!(report.figures.len(), expected.len());
        for (name, value) in expected {
            assert_eq!(
                stored_f64(&metrics, &name),
                Some(value),
                "{name} of {}",
                report.name
            );
            assert_eq!(
                report.figure(&name),
                Some(value),
                "{name} of {}",
                report.name
            );
        }
    }
    let first = &reports[0];
    assert_eq!(
        first.figure("ks:x"),
        Some(0.0),
        "the reference against itself"
    );
    assert!(
        reports[2].figure("ks:x").unwrap() > 0.3,
        "the shifted month drifts"
    );
}

#[test]
fn rerun_replaces_window_results() {
    let (_dir, store) = open();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let window = months((2020, 2), 1)[0];
    let predictions = track_predictions(&store, &mut rng, window, 200, 0.0);
    track_labels(&store, &predictions);
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    let first = job.run(&store).unwrap().remove(0);

    // Relabel a quarter of the predictions with the opposite class.
    for prediction in &predictions[..50] {
        let flipped = Metrics::new().with("label", !prediction.label);
        store
            .track_delayed_metrics(prediction.uuid, 1, &flipped)
            .unwrap();
    }
    let second = job.run_window(&store, window).unwrap();
    assert_ne!(first.figure("roc_auc"), second.figure("roc_auc"));

    let aggregates = store
        .read_aggregate_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap();
    assert_eq!(aggregates.len(), 1);
    let metrics = stored(&store, window);
    assert_eq!(stored_f64(&metrics, "roc_auc"), second.figure("roc_auc"));
    assert_eq!(stored_f64(&metrics, "accuracy"), second.figure("accuracy"));
    let expected = BinaryClassification::from_pairs(&pairs(&read_rows(&store, window)), 0.5)
        .unwrap()
        .roc_auc
        .unwrap();
    assert_eq!(second.figure("roc_auc"), Some(expected));
}

#[test]
fn late_labels_change_figures_on_rerun() {
    let (_dir, store) = open();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let windows = months((2018, 12), 2);
    let early = track_predictions(&store, &mut rng, windows[0], 300, 0.0);
    let late = track_predictions(&store, &mut rng, windows[1], 300, 0.0);
    track_labels(&store, &early);
    track_labels(&store, &late[..100]);
    let range = Window::new(windows[0].start_ms, windows[1].end_ms).unwrap();
    let job = Job::prepare(&store, classification_config(range)).unwrap();
    assert_eq!(job.incomplete_windows(&store).unwrap(), windows);

    let before = job.run(&store).unwrap();
    assert_eq!(before[0].unlabeled(), Some(0));
    assert_eq!(before[1].unlabeled(), Some(200));
    assert_eq!(job.incomplete_windows(&store).unwrap(), [windows[1]]);

    track_labels(&store, &late[100..]);
    let after = job.run_window(&store, windows[1]).unwrap();
    assert_eq!(after.unlabeled(), Some(0));
    assert_eq!(after.labeled, Some(300));
    assert_ne!(after.figure("roc_auc"), before[1].figure("roc_auc"));
    assert!(job.incomplete_windows(&store).unwrap().is_empty());
    let metrics = stored(&store, windows[1]);
    assert_eq!(stored_i64(&metrics, "labeled"), Some(300));
    assert_eq!(stored_f64(&metrics, "roc_auc"), after.figure("roc_auc"));
}

#[test]
fn empty_windows_store_zero_rows() {
    let (_dir, store) = open();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let windows = months((2019, 5), 3);
    for window in [windows[0], windows[2]] {
        let predictions = track_predictions(&store, &mut rng, window, 100, 0.0);
        track_labels(&store, &predictions);
    }
    let range = Window::new(windows[0].start_ms, windows[2].end_ms).unwrap();
    let job = Job::prepare(&store, full_config(windows[0], range)).unwrap();
    let reports = job.run(&store).unwrap();
    let empty = &reports[1];
    assert_eq!(empty.name, "2019-06");
    assert_eq!(empty.rows, 0);
    assert_eq!(empty.labeled, Some(0));
    assert!(empty.figures.is_empty());
    assert_eq!(empty.undefined.len(), job.config().figure_names().len());
    assert_eq!(empty.undefined_reason("roc_auc"), Some(Undefined::NoData));
    assert_eq!(empty.undefined_reason("ks:x"), Some(Undefined::EmptyWindow));
    assert_eq!(
        empty.undefined_reason("psi:c"),
        Some(Undefined::EmptyWindow)
    );

    let metrics = stored(&store, windows[1]);
    assert_eq!(stored_i64(&metrics, "rows"), Some(0));
    assert_eq!(stored_i64(&metrics, "labeled"), Some(0));
    assert_eq!(stored_f64(&metrics, "roc_auc"), None);
    assert_eq!(stored_f64(&metrics, "ks:x"), None);
    let undefined = stored_undefined(&metrics);
    assert_eq!(undefined.len(), empty.undefined.len());
    assert!(undefined.contains(&(
        "ks:x".to_owned(),
        "the window has no finite values".to_owned()
    )));
    assert!(!reports[2].figures.is_empty());
}

#[test]
fn one_class_window_reports_undefined_auc() {
    let (_dir, store) = open();
    let window = months((2019, 7), 1)[0];
    for (i, score) in [0.2, 0.7, 0.9].into_iter().enumerate() {
        let uuid = Uuid::new_v4();
        let inline = Metrics::new().with("score", score);
        store
            .track_metrics(MODEL, uuid, window.start_ms + i as i64, &inline)
            .unwrap();
        store
            .track_delayed_metrics(uuid, 0, &Metrics::new().with("label", 1i64))
            .unwrap();
    }
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    let report = job.run(&store).unwrap().remove(0);
    assert_eq!(
        report.undefined_reason("roc_auc"),
        Some(Undefined::OneClass)
    );
    assert_eq!(report.figure("roc_auc"), None);
    assert_eq!(report.figure("accuracy"), Some(2.0 / 3.0));

    let metrics = stored(&store, window);
    assert_eq!(metrics.get("roc_auc"), None);
    assert_eq!(stored_f64(&metrics, "accuracy"), Some(2.0 / 3.0));
    let undefined = stored_undefined(&metrics);
    let expected = (
        "roc_auc".to_owned(),
        "all labels belong to one class".to_owned(),
    );
    assert_eq!(undefined, [expected]);
}

#[test]
fn figure_undefined_on_rerun_is_listed() {
    let (_dir, store) = open();
    let window = months((2019, 8), 1)[0];
    let mut uuids = Vec::new();
    for (i, (score, label)) in [(0.2, false), (0.8, true)].into_iter().enumerate() {
        let uuid = Uuid::new_v4();
        store
            .track_metrics(
                MODEL,
                uuid,
                window.start_ms + i as i64,
                &Metrics::new().with("score", score),
            )
            .unwrap();
        store
            .track_delayed_metrics(uuid, 0, &Metrics::new().with("label", label))
            .unwrap();
        uuids.push(uuid);
    }
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    job.run(&store).unwrap();
    assert_eq!(stored_f64(&stored(&store, window), "roc_auc"), Some(1.0));

    // A corrected label leaves one class, so the next run cannot define ROC AUC.
    store
        .track_delayed_metrics(uuids[0], 1, &Metrics::new().with("label", true))
        .unwrap();
    let report = job.run(&store).unwrap().remove(0);
    assert_eq!(
        report.undefined_reason("roc_auc"),
        Some(Undefined::OneClass)
    );
    let metrics = stored(&store, window);
    // The store keeps the earlier value, and the undefined list marks it as stale.
    assert_eq!(stored_f64(&metrics, "roc_auc"), Some(1.0));
    let undefined = stored_undefined(&metrics);
    assert_eq!(undefined.len(), 1);
    assert_eq!(undefined[0].0, "roc_auc");
}

#[test]
fn reference_is_read_once() {
    let (_dir, store) = open();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let windows = months((2019, 1), 2);
    track_predictions(&store, &mut rng, windows[0], 200, 0.0);
    track_predictions(&store, &mut rng, windows[1], 200, 0.0);
    let range = Window::new(windows[0].start_ms, windows[1].end_ms).unwrap();
    let config = full_config(windows[0], range);
    let job = Job::prepare(&store, config.clone()).unwrap();
    let before = job.run_window(&store, windows[1]).unwrap();

    // Predictions tracked into the reference window after `prepare` do not reach this job.
    track_predictions(&store, &mut rng, windows[0], 200, 5.0);
    let after = job.run_window(&store, windows[1]).unwrap();
    assert_eq!(after.figure("ks:x"), before.figure("ks:x"));
    assert_eq!(
        after.figure("wasserstein:x"),
        before.figure("wasserstein:x")
    );
    assert_eq!(job.reference_rows(), 200);

    let prepared_again = Job::prepare(&store, config).unwrap();
    assert_eq!(prepared_again.reference_rows(), 400);
    let changed = prepared_again.run_window(&store, windows[1]).unwrap();
    assert_ne!(changed.figure("ks:x"), before.figure("ks:x"));
}

#[test]
fn unaligned_window_is_rejected() {
    let (_dir, store) = open();
    let window = months((2019, 1), 1)[0];
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    track_predictions(&store, &mut rng, window, 1, 0.0);
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    let shifted = Window::new(window.start_ms + 1, window.end_ms).unwrap();
    let error = job.run_window(&store, shifted).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a window of the job's scheme"),
        "{error}"
    );
    let stored = store
        .read_aggregate_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn wrong_label_type_stores_nothing() {
    let (_dir, store) = open();
    let window = months((2019, 1), 1)[0];
    let uuid = Uuid::new_v4();
    store
        .track_metrics(
            MODEL,
            uuid,
            window.start_ms,
            &Metrics::new().with("score", 0.5),
        )
        .unwrap();
    store
        .track_delayed_metrics(uuid, 0, &Metrics::new().with("label", "yes"))
        .unwrap();
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    let error = job.run(&store).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&uuid.to_string()), "{message}");
    assert!(message.contains("\"label\""), "{message}");
    let stored = store
        .read_aggregate_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn iso_weeks_before_epoch() {
    let (_dir, store) = open();
    let day_ms = 86_400_000;
    // 1969-12-28 (Sunday, week 1969-W52) to 1970-01-04 (Sunday, week 1970-W01).
    for day in -4..4 {
        let inline = Metrics::new().with("c", "a");
        store
            .track_metrics(MODEL, Uuid::new_v4(), day * day_ms + 1, &inline)
            .unwrap();
    }
    let config = JobConfig::builder(MODEL)
        .categorical_features(["c"])
        .reference(-4 * day_ms, 4 * day_ms)
        .windows(WindowScheme::IsoWeeks)
        .range(-4 * day_ms, 4 * day_ms)
        .build()
        .unwrap();
    let job = Job::prepare(&store, config).unwrap();
    let reports = job.run(&store).unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["1969-W52", "1970-W01"]);
    let rows: Vec<u64> = reports.iter().map(|r| r.rows).collect();
    assert_eq!(rows, [1, 7]);
    assert_eq!(reports[1].window.start_ms, -3 * day_ms);
    assert_eq!(reports[1].labeled, None);
    assert_eq!(reports[1].figure("jensen_shannon:c"), Some(0.0));
    let metrics = stored(&store, reports[0].window);
    assert_eq!(metrics.get("labeled"), None);
}

#[test]
fn missing_features_are_counted() {
    let (_dir, store) = open();
    let window = months((2019, 1), 1)[0];
    let with_feature = Metrics::new().with("x", 1.0);
    store
        .track_metrics(MODEL, Uuid::new_v4(), window.start_ms, &with_feature)
        .unwrap();
    store
        .track_metrics(MODEL, Uuid::new_v4(), window.start_ms + 1, &Metrics::new())
        .unwrap();
    let config = JobConfig::builder(MODEL)
        .numeric_features(["x"])
        .reference(window.start_ms, window.end_ms)
        .windows(WindowScheme::Months)
        .range(window.start_ms, window.end_ms)
        .build()
        .unwrap();
    let report: WindowReport = Job::prepare(&store, config)
        .unwrap()
        .run(&store)
        .unwrap()
        .remove(0);
    assert_eq!(report.rows, 2);
    assert_eq!(report.missing.get("x"), Some(&1));
    assert_eq!(report.figure("ks:x"), Some(0.0));
}

#[test]
fn misspelled_model_is_rejected() {
    let (_dir, store) = open();
    let window = months((2019, 1), 1)[0];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    track_predictions(&store, &mut rng, window, 10, 0.0);
    let config = JobConfig::builder("credt")
        .score("score")
        .label("label")
        .windows(WindowScheme::Months)
        .range(window.start_ms, window.end_ms)
        .build()
        .unwrap();
    let error = Job::prepare(&store, config).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("\"credt\""), "{text}");
    assert!(text.contains("predictions of \"credit\""), "{text}");
    let stored = store
        .read_aggregate_metrics("credt", window.start_ms, window.end_ms)
        .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn run_on_store_without_model_stores_nothing() {
    let (_dir, store) = open();
    let (_empty_dir, empty) = open();
    let window = months((2019, 1), 1)[0];
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    track_predictions(&store, &mut rng, window, 10, 0.0);
    let job = Job::prepare(&store, classification_config(window)).unwrap();
    let error = job.run(&empty).unwrap_err();
    assert!(
        error.to_string().contains("no prediction of any model"),
        "{error}"
    );
    let stored = empty
        .read_aggregate_metrics(MODEL, window.start_ms, window.end_ms)
        .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn empty_window_of_known_model_runs() {
    let (_dir, store) = open();
    let windows = months((2019, 1), 2);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    track_predictions(&store, &mut rng, windows[0], 10, 0.0);
    store.flush().unwrap();
    let job = Job::prepare(&store, classification_config(windows[1])).unwrap();
    let reports = job.run(&store).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].rows, 0);
}
