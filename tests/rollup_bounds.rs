//! Every figure estimated from rollups lies within its bound of the exact figure that
//! `modelmetrics::eval` computes on the raw predictions: on random samples, and on the car-loan
//! data of `examples/data` rolled up per 5 minutes and coarsened per hour.

#[allow(dead_code)]
#[path = "../examples/car_loan/calendar.rs"]
mod calendar;
#[allow(dead_code)]
#[path = "../examples/car_loan/csv.rs"]
mod csv;

use std::path::Path;

use modelmetrics::eval::{self, CategoricalDrift, ConfusionMatrix};
use modelmetrics::jobs::calendar::Date;
use modelmetrics::rollup::estimate::{self, Estimate};
use modelmetrics::rollup::{DEFAULT_ALPHA, Rollup, RollupFile, coarsen, roll_up};
use modelmetrics::{Metrics, Prediction, Uuid};
use proptest::prelude::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// One generated prediction: model "ref" or "cur", a score, a label, a numeric and a
/// categorical feature.
#[derive(Clone, Debug)]
struct Row {
    current: bool,
    timestamp_ms: i64,
    score: f64,
    label: bool,
    feature: f64,
    category: String,
}

fn to_prediction(row: &Row) -> Prediction {
    Prediction {
        model: if row.current { "cur" } else { "ref" }.into(),
        uuid: Uuid::new_v4(),
        timestamp_ms: row.timestamp_ms,
        metrics: Metrics::new()
            .with("score", row.score)
            .with("feature", row.feature)
            .with("category", row.category.as_str()),
        delayed: Metrics::new().with("label", row.label),
    }
}

fn row_strategy(positive_rate: f64, categories: u32) -> impl Strategy<Value = Row> {
    let score = prop_oneof![(0u32..=20).prop_map(|i| f64::from(i) / 20.0), 0.0..=1.0f64,];
    let feature = prop_oneof![
        Just(0.0),
        -1e4..-1e-3f64,
        1e-3..1e4f64,
        (-5i32..5).prop_map(f64::from),
    ];
    (
        any::<bool>(),
        -10 * HOUR..10 * HOUR,
        score,
        0.0..1.0f64,
        feature,
        0..categories,
    )
        .prop_map(
            move |(current, timestamp_ms, score, draw, feature, category)| {
                // Skewed labels that also depend on the score, so that ROC AUC is not 0.5.
                let label = draw < positive_rate * (0.5 + score);
                Row {
                    current,
                    timestamp_ms,
                    score,
                    label,
                    feature: if current {
                        feature * 1.5 + 2.0
                    } else {
                        feature
                    },
                    category: format!("c{}", if current { category / 2 } else { category }),
                }
            },
        )
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    (
        0.02..0.98f64,
        prop_oneof![Just(5u32), Just(400u32)],
        0usize..600,
    )
        .prop_flat_map(|(rate, categories, len)| {
            prop::collection::vec(row_strategy(rate, categories), len)
        })
}

/// Rolls `rows` up per `fine_ms`, then coarsens them by `factor`.
fn rollups(rows: &[Row], fine_ms: i64, factor: i64) -> Vec<Rollup> {
    let fine = roll_up(rows.iter().map(to_prediction), fine_ms, DEFAULT_ALPHA).unwrap();
    coarsen(&fine, fine_ms * factor).unwrap()
}

fn of_model(rollups: &[Rollup], model: &str) -> Vec<Rollup> {
    rollups
        .iter()
        .filter(|r| r.model == model)
        .cloned()
        .collect()
}

/// Asserts that an estimate and an exact figure agree: both undefined for the same reason,
/// or the exact figure within the bound.
fn check<U: PartialEq + std::fmt::Debug>(
    what: &str,
    estimate: Result<Estimate, U>,
    exact: Result<f64, U>,
) {
    match (estimate, exact) {
        (Ok(estimate), Ok(exact)) => {
            assert!(
                estimate.contains(exact),
                "{what}: {estimate:?} vs exact {exact}"
            )
        }
        (estimate, exact) => assert_eq!(estimate.err(), exact.err(), "{what}"),
    }
}

fn check_classification(rows: &[Row], rollups: &[Rollup], threshold: f64) {
    for (model, current) in [("ref", false), ("cur", true)] {
        let model_rollups = of_model(rollups, model);
        let model_pairs: Vec<(f64, bool)> = rows
            .iter()
            .filter(|r| r.current == current)
            .map(|r| (r.score, r.label))
            .collect();
        let auc = estimate::roc_auc(&model_rollups, "score", "label", "true").unwrap();
        check("ROC AUC", auc, eval::roc_auc(&model_pairs));
        let accuracy =
            estimate::accuracy(&model_rollups, "score", "label", "true", threshold).unwrap();
        let exact = ConfusionMatrix::new(&model_pairs, threshold)
            .unwrap()
            .accuracy();
        check("accuracy", accuracy, exact);
    }
}

fn check_drift(rows: &[Row], rollups: &[Rollup], q: f64) {
    let values = |current: bool| -> Vec<f64> {
        let selected = rows.iter().filter(|r| r.current == current);
        selected.map(|r| r.feature).collect()
    };
    let (reference, current) = (values(false), values(true));
    let summary = |model: &str| {
        let model_rollups = of_model(rollups, model);
        estimate::numeric_summary(&model_rollups, "feature").unwrap()
    };
    let (Some(first), Some(second)) = (summary("ref"), summary("cur")) else {
        return;
    };
    let ks = estimate::ks_statistic(&first, &second).unwrap();
    let exact_ks = eval::ks_two_sample(&reference, &current).map(|t| t.statistic);
    check("KS", ks, exact_ks);
    let distance = estimate::wasserstein(&first, &second).unwrap();
    check(
        "Wasserstein",
        distance,
        eval::wasserstein_distance(&reference, &current),
    );

    let mut sorted = reference.clone();
    sorted.sort_by(f64::total_cmp);
    let exact_quantile = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
    let quantile = estimate::quantile(&first, q).unwrap().unwrap();
    assert!(
        quantile.contains(exact_quantile),
        "quantile {q}: {quantile:?}"
    );
}

fn check_categories(rows: &[Row], rollups: &[Rollup]) {
    let categories = |current: bool| -> Vec<&str> {
        let selected = rows.iter().filter(|r| r.current == current);
        selected.map(|r| r.category.as_str()).collect()
    };
    let exact = CategoricalDrift::new(categories(false)).compare(categories(true));
    let counts = |model: &str| {
        let model_rollups = of_model(rollups, model);
        estimate::category_counts(&model_rollups, "category").unwrap()
    };
    let (Some(first), Some(second)) = (counts("ref"), counts("cur")) else {
        return;
    };
    let chi = estimate::chi_square(&first, &second);
    check("chi-square", chi, exact.chi_square.map(|t| t.statistic));
    let js = estimate::jensen_shannon(&first, &second);
    check("Jensen-Shannon", js, exact.jensen_shannon);
    let linf = estimate::l_infinity(&first, &second);
    check("L-infinity", linf, exact.l_infinity);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn estimates_hold_exact_figures(
        rows in rows_strategy(),
        fine_seconds in 1i64..600,
        factor in 1i64..8,
        threshold in prop_oneof![Just(0.5), Just(0.0), 0.0..1.0f64],
        q in 0.0..=1.0f64,
    ) {
        let rollups = rollups(&rows, fine_seconds * 1_000, factor);
        check_classification(&rows, &rollups, threshold);
        check_drift(&rows, &rollups, q);
        check_categories(&rows, &rollups);
    }
}

/// Deterministic rows from a linear congruential generator, for the bound sizes.
fn fixed_rows(len: usize, seed: u64) -> Vec<Row> {
    let mut state = seed;
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..len)
        .map(|i| {
            let score = unit();
            Row {
                current: false,
                timestamp_ms: i as i64 * 1_000,
                score,
                label: unit() < 0.3 * (0.5 + score),
                feature: unit() * 100.0 - 20.0,
                category: "c".into(),
            }
        })
        .collect()
}

#[test]
fn roc_auc_bound_on_two_thousand_predictions() {
    let rows = fixed_rows(2_000, 17);
    let rollups = rollups(&rows, MINUTE, 12);
    let pairs: Vec<(f64, bool)> = rows.iter().map(|r| (r.score, r.label)).collect();
    let exact = eval::roc_auc(&pairs).unwrap();
    let auc = estimate::roc_auc(&rollups, "score", "label", "true")
        .unwrap()
        .unwrap();
    eprintln!("ROC AUC on 2,000 uniform scores, alpha 0.01: {auc:?}, exact {exact}");
    assert!(auc.contains(exact));
    assert!(auc.bound < 0.05, "{auc:?}");
    let accuracy = estimate::accuracy(&rollups, "score", "label", "true", 0.5)
        .unwrap()
        .unwrap();
    eprintln!("accuracy at 0.5: {accuracy:?}");
    assert!(accuracy.bound < 0.05, "{accuracy:?}");
}

// ---------------------------------------------------------------------------------------------
// The car-loan data.

fn car_loan_predictions() -> (Vec<Prediction>, i64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/car_loan");
    let loans = csv::load_car_loan(&dir).unwrap();
    // The reference file's rows come first, then the analysis file's.
    let analysis_start = loans
        .iter()
        .filter(|loan| loan.id >= 50_000)
        .map(|loan| loan.timestamp_ms)
        .min()
        .unwrap();
    let predictions = loans
        .iter()
        .map(|loan| Prediction {
            model: "car_loan".into(),
            uuid: Uuid::new_v4(),
            timestamp_ms: loan.timestamp_ms,
            metrics: Metrics::new()
                .with("car_value", loan.car_value)
                .with("salary_range", loan.salary_range.as_str())
                .with("y_pred_proba", loan.y_pred_proba),
            delayed: match loan.repaid {
                Some(repaid) => Metrics::new().with("repaid", repaid),
                None => Metrics::new(),
            },
        })
        .collect();
    (predictions, analysis_start)
}

fn months(predictions: &[Prediction]) -> Vec<(i64, i64)> {
    let first = predictions.iter().map(|p| p.timestamp_ms).min().unwrap();
    let last = predictions.iter().map(|p| p.timestamp_ms).max().unwrap();
    let mut month = Date::containing(first).first_of_month();
    let mut windows = Vec::new();
    while month.start_ms().unwrap() <= last {
        let next = month.first_of_next_month().unwrap();
        windows.push((month.start_ms().unwrap(), next.start_ms().unwrap()));
        month = next;
    }
    windows
}

fn in_window(rollups: &[Rollup], start_ms: i64, end_ms: i64) -> Vec<Rollup> {
    let selected = rollups
        .iter()
        .filter(|r| r.start_ms >= start_ms && r.end_ms() <= end_ms);
    selected.cloned().collect()
}

#[test]
fn car_loan_monthly_figures_within_bounds() {
    let (predictions, analysis_start) = car_loan_predictions();
    let fine = roll_up(predictions.clone(), 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let hourly = coarsen(&fine, HOUR).unwrap();
    assert_eq!(
        analysis_start % HOUR,
        0,
        "the reference ends at an hour boundary"
    );

    let reference_values: Vec<f64> = predictions
        .iter()
        .filter(|p| p.timestamp_ms < analysis_start)
        .map(|p| p.metrics.get("car_value").unwrap().as_f64().unwrap())
        .collect();
    let reference_rollups = in_window(&hourly, i64::MIN / 2, analysis_start);
    let reference = estimate::numeric_summary(&reference_rollups, "car_value")
        .unwrap()
        .unwrap();

    for (start_ms, end_ms) in months(&predictions) {
        let month: Vec<&Prediction> = predictions
            .iter()
            .filter(|p| p.timestamp_ms >= start_ms && p.timestamp_ms < end_ms)
            .collect();
        let month_rollups = in_window(&hourly, start_ms, end_ms);
        let pairs: Vec<(f64, bool)> = month
            .iter()
            .filter_map(|p| {
                let label = p.delayed.get("repaid")?.as_i64()? == 1;
                Some((p.metrics.get("y_pred_proba")?.as_f64()?, label))
            })
            .collect();
        let auc = estimate::roc_auc(&month_rollups, "y_pred_proba", "repaid", "1").unwrap();
        let exact_auc = eval::roc_auc(&pairs);
        eprintln!("month from {start_ms}: ROC AUC {auc:?}, exact {exact_auc:?}");
        check("monthly ROC AUC", auc, exact_auc);

        let values: Vec<f64> = month
            .iter()
            .map(|p| p.metrics.get("car_value").unwrap().as_f64().unwrap())
            .collect();
        let current = estimate::numeric_summary(&month_rollups, "car_value")
            .unwrap()
            .unwrap();
        let ks = estimate::ks_statistic(&reference, &current).unwrap();
        let exact_ks = eval::ks_two_sample(&reference_values, &values).map(|t| t.statistic);
        eprintln!("month from {start_ms}: KS {ks:?}, exact {exact_ks:?}");
        check("monthly KS of car_value", ks, exact_ks);

        let distance = estimate::wasserstein(&reference, &current).unwrap();
        let exact_distance = eval::wasserstein_distance(&reference_values, &values);
        eprintln!("month from {start_ms}: Wasserstein {distance:?}, exact {exact_distance:?}");
        check("monthly Wasserstein of car_value", distance, exact_distance);
    }
}

#[test]
fn car_loan_rollup_file_sizes() {
    let (predictions, _) = car_loan_predictions();
    let fine = roll_up(predictions, 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let hourly = coarsen(&fine, HOUR).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (id, rollups) in [(1, &fine), (2, &hourly)] {
        let file = RollupFile::write(dir.path(), id, rollups, &[]).unwrap();
        let per_rollup = file.file_bytes() as f64 / file.rollup_count() as f64;
        eprintln!(
            "interval {} ms: {} rollups, {} bytes, {per_rollup:.0} bytes per rollup",
            rollups[0].interval_ms,
            file.rollup_count(),
            file.file_bytes()
        );
        assert_eq!(file.all().unwrap().len(), rollups.len());
    }
}
