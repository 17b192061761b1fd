//! Replay of the car-loan data into a store: the predictions first, then their ground truth as
//! delayed metrics, arriving in a different order.

use std::collections::HashMap;
use std::error::Error;

use modelmetrics::jobs::calendar::MS_PER_DAY;
use modelmetrics::{Metrics, NewDelayed, NewPrediction, Store, Uuid};

use crate::csv::LoanPrediction;

/// Model id of the car-loan predictions in the store.
pub const MODEL: &str = "car_loan";
/// Records per `track_*_batch` call.
const BATCH_LEN: usize = 1_000;
/// Ground truth arrives between these numbers of days after its prediction.
const MIN_LABEL_DELAY_DAYS: u64 = 7;
const MAX_LABEL_DELAY_DAYS: u64 = 90;
/// Seed of the label delays, so that every run replays the same arrival order.
const LABEL_DELAY_SEED: u64 = 0x5eed_ca71_0a4d;

/// Prediction UUIDs by the application's prediction id, as the application's own datastore
/// would keep them.
pub type UuidsById = HashMap<u64, Uuid>;

/// Tracks every prediction as model [`MODEL`] in batches, in the order given, and returns the
/// UUID given to each.
pub fn track_predictions(
    store: &Store,
    predictions: &[LoanPrediction],
) -> Result<UuidsById, Box<dyn Error>> {
    let mut uuids = UuidsById::with_capacity(predictions.len());
    for chunk in predictions.chunks(BATCH_LEN) {
        let batch: Vec<NewPrediction> = chunk
            .iter()
            .map(|prediction| NewPrediction {
                model: MODEL.to_owned(),
                uuid: Uuid::new_v4(),
                timestamp_ms: prediction.timestamp_ms,
                metrics: inline_metrics(prediction),
            })
            .collect();
        store.track_metrics_batch(&batch)?;
        for (prediction, tracked) in chunk.iter().zip(&batch) {
            uuids.insert(prediction.id, tracked.uuid);
        }
    }
    Ok(uuids)
}

fn inline_metrics(prediction: &LoanPrediction) -> Metrics {
    Metrics::new()
        .with("car_value", prediction.car_value)
        .with("salary_range", prediction.salary_range.as_str())
        .with("debt_to_income_ratio", prediction.debt_to_income_ratio)
        .with("loan_length", prediction.loan_length)
        .with(
            "repaid_loan_on_prev_car",
            prediction.repaid_loan_on_prev_car,
        )
        .with(
            "size_of_downpayment",
            prediction.size_of_downpayment.as_str(),
        )
        .with("driver_tenure", prediction.driver_tenure)
        .with("y_pred_proba", prediction.y_pred_proba)
        .with("y_pred", prediction.y_pred)
}

/// Tracks the ground truth `repaid` of every prediction that has one as a delayed metric, and
/// returns how many it tracked.
///
/// Each label arrives a pseudo-random delay of 7 to 90 days after its prediction. Labels are
/// tracked in order of arrival, so the store receives them in a different order than the
/// predictions.
pub fn track_ground_truth(
    store: &Store,
    predictions: &[LoanPrediction],
    uuids: &UuidsById,
) -> Result<usize, Box<dyn Error>> {
    let mut random = SplitMix64(LABEL_DELAY_SEED);
    let mut labels = Vec::new();
    for prediction in predictions {
        let Some(repaid) = prediction.repaid else {
            continue;
        };
        let uuid = *uuids
            .get(&prediction.id)
            .ok_or_else(|| format!("prediction id {} was never tracked", prediction.id))?;
        let arrival_ms = prediction.timestamp_ms + label_delay_ms(&mut random);
        labels.push(NewDelayed {
            uuid,
            timestamp_ms: arrival_ms,
            metrics: Metrics::new().with("repaid", repaid),
        });
    }
    labels.sort_by_key(|label| label.timestamp_ms);

    for batch in labels.chunks(BATCH_LEN) {
        store.track_delayed_metrics_batch(batch)?;
    }
    Ok(labels.len())
}

fn label_delay_ms(random: &mut SplitMix64) -> i64 {
    let min_ms = MIN_LABEL_DELAY_DAYS * MS_PER_DAY as u64;
    let range_ms = (MAX_LABEL_DELAY_DAYS - MIN_LABEL_DELAY_DAYS) * MS_PER_DAY as u64;
    // The modulo bias is below 1e-9 for a range this small against 2^64, which is fine here.
    let delay_ms = min_ms + random.next_u64() % (range_ms + 1);
    delay_ms as i64
}

/// The SplitMix64 pseudo-random generator: small, fast and good enough to spread label delays.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_output() {
        // The first two outputs of SplitMix64 for seed 0.
        let mut random = SplitMix64(0);
        assert_eq!(random.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(random.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn label_delay_stays_in_range() {
        let mut random = SplitMix64(LABEL_DELAY_SEED);
        let min_ms = MIN_LABEL_DELAY_DAYS as i64 * MS_PER_DAY;
        let max_ms = MAX_LABEL_DELAY_DAYS as i64 * MS_PER_DAY;
        for _ in 0..10_000 {
            let delay_ms = label_delay_ms(&mut random);
            assert!(delay_ms >= min_ms, "{delay_ms}");
            assert!(delay_ms <= max_ms, "{delay_ms}");
        }
    }
}
