use uuid::Uuid;

use super::*;
use crate::value::Metrics;

const MINUTE: i64 = 60_000;

fn prediction(model: &str, timestamp_ms: i64, score: f64, label: Option<bool>) -> Prediction {
    let delayed = match label {
        Some(label) => Metrics::new().with("label", label),
        None => Metrics::new(),
    };
    Prediction {
        model: model.to_owned(),
        uuid: Uuid::new_v4(),
        timestamp_ms,
        metrics: Metrics::new().with("score", score).with("segment", "a"),
        delayed,
    }
}

fn sample(len: i64) -> Vec<Prediction> {
    (0..len)
        .map(|i| {
            let label = (i % 3 != 0).then_some(i % 2 == 0);
            prediction("m", i * 7_000 - 30 * MINUTE, (i % 10) as f64, label)
        })
        .collect()
}

#[test]
fn roll_up_aligns_negative_timestamps_down() {
    let predictions = vec![
        prediction("m", -1, 1.0, None),
        prediction("m", 0, 1.0, None),
    ];
    let rollups = roll_up(predictions, 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let starts: Vec<i64> = rollups.iter().map(|r| r.start_ms).collect();
    assert_eq!(starts, vec![-5 * MINUTE, 0]);
}

#[test]
fn roll_up_sorts_by_model_then_start() {
    let predictions = vec![
        prediction("b", 0, 1.0, None),
        prediction("a", 10 * MINUTE, 1.0, None),
        prediction("a", 0, 1.0, None),
    ];
    let rollups = roll_up(predictions, 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let keys: Vec<(&str, i64)> = rollups
        .iter()
        .map(|r| (r.model.as_str(), r.start_ms))
        .collect();
    assert_eq!(keys, vec![("a", 0), ("a", 10 * MINUTE), ("b", 0)]);
}

#[test]
fn roll_up_counts_labeled_predictions() {
    let rollups = roll_up(sample(30), 60 * MINUTE, DEFAULT_ALPHA).unwrap();
    let merged = merge_all(&rollups).unwrap().unwrap();
    assert_eq!(merged.predictions, 30);
    assert_eq!(merged.labeled, 20);
    let join = &merged.joined["label"];
    let labeled: u64 = join.values.values().map(|g| g.predictions).sum();
    assert_eq!(labeled, 20);
    assert_eq!(join.values["true"].metrics["score"].count, 10);
    assert!(!join.values["true"].metrics.contains_key("segment"));
}

#[test]
fn coarsen_equals_roll_up_at_coarse_interval() {
    let fine = roll_up(sample(400), 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let coarse = coarsen(&fine, 60 * MINUTE).unwrap();
    let direct = roll_up(sample(400), 60 * MINUTE, DEFAULT_ALPHA).unwrap();
    assert_eq!(coarse, direct);
}

#[test]
fn coarsen_rejects_non_multiple_interval() {
    let fine = roll_up(sample(10), 5 * MINUTE, DEFAULT_ALPHA).unwrap();
    let error = coarsen(&fine, 7 * MINUTE).unwrap_err().to_string();
    assert!(error.contains("300000 ms into 420000 ms"), "{error}");
}

#[test]
fn add_rejects_other_model() {
    let mut rollup = Rollup::new("m", 0, MINUTE).unwrap();
    let error = rollup.add(&prediction("n", 0, 1.0, None), DEFAULT_ALPHA);
    assert!(error.is_err());
    assert_eq!(rollup.predictions, 0);
}

#[test]
fn add_rejects_timestamp_outside_interval() {
    let mut rollup = Rollup::new("m", 0, MINUTE).unwrap();
    let error = rollup.add(&prediction("m", MINUTE, 1.0, None), DEFAULT_ALPHA);
    assert!(error.is_err());
}

#[test]
fn merge_rejects_wider_interval() {
    let mut narrow = Rollup::new("m", 0, MINUTE).unwrap();
    let wide = Rollup::new("m", 0, 2 * MINUTE).unwrap();
    assert!(narrow.merge(&wide).is_err());
}

#[test]
fn merge_rejects_other_model() {
    let mut first = Rollup::new("m", 0, MINUTE).unwrap();
    let second = Rollup::new("n", 0, MINUTE).unwrap();
    assert!(first.merge(&second).is_err());
}

#[test]
fn new_rejects_non_positive_interval() {
    assert!(Rollup::new("m", 0, 0).is_err());
    assert!(Rollup::new("m", i64::MAX, 1).is_err());
}

#[test]
fn roll_up_rejects_interval_past_i64_range() {
    let predictions = vec![prediction("m", i64::MIN, 1.0, None)];
    assert!(roll_up(predictions, 7, DEFAULT_ALPHA).is_err());
}

#[test]
fn label_values_past_cap_are_spilled() {
    let mut rollup = Rollup::new("m", 0, MINUTE).unwrap();
    for i in 0..MAX_CATEGORIES as i64 + 2 {
        let mut prediction = prediction("m", 0, 1.0, None);
        prediction.delayed = Metrics::new().with("class", i);
        rollup.add(&prediction, DEFAULT_ALPHA).unwrap();
    }
    let join = &rollup.joined["class"];
    assert_eq!(join.values.len(), MAX_CATEGORIES);
    assert_eq!(join.other.predictions, 2);
    assert_eq!(join.other.metrics["score"].count, 2);
}

#[test]
fn float_labels_are_not_joined() {
    let mut rollup = Rollup::new("m", 0, MINUTE).unwrap();
    let mut prediction = prediction("m", 0, 1.0, None);
    prediction.delayed = Metrics::new().with("error", 0.25);
    rollup.add(&prediction, DEFAULT_ALPHA).unwrap();
    assert!(rollup.joined.is_empty());
    assert_eq!(rollup.delayed["error"].count(), 1);
    assert_eq!(rollup.labeled, 1);
}
