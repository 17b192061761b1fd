//! The rollups and rolled-up filters of a roll-up step, built one group of segments at a
//! time, so that the step keeps the rolled-up predictions of one group only in memory.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::record::Prediction;
use crate::rollup::{self, RolledUpFilter, Rollup};

/// Rollups at one interval and one rolled-up filter per group added.
#[derive(Debug)]
pub(crate) struct RollupBuilder {
    interval_ms: i64,
    rollups: BTreeMap<(String, i64), Rollup>,
    filters: Vec<RolledUpFilter>,
    predictions: u64,
}

impl RollupBuilder {
    pub fn new(interval_ms: i64) -> RollupBuilder {
        RollupBuilder {
            interval_ms,
            rollups: BTreeMap::new(),
            filters: Vec::new(),
            predictions: 0,
        }
    }

    /// Adds the joined predictions of one group to the rollups of their model and interval,
    /// in the given order, and their UUIDs to a new filter.
    ///
    /// Returns `Error::InvalidInput` when a timestamp's interval does not fit in the i64 range.
    pub fn add(&mut self, predictions: Vec<Prediction>) -> Result<()> {
        let uuids = predictions.iter().map(|p| (p.uuid, p.timestamp_ms));
        self.filters.extend(RolledUpFilter::build(uuids));
        for prediction in predictions {
            let start_ms = rollup::interval_start(prediction.timestamp_ms, self.interval_ms)?;
            let key = (prediction.model.clone(), start_ms);
            let target = match self.rollups.get_mut(&key) {
                Some(target) => target,
                None => {
                    let created = Rollup::new(key.0.clone(), start_ms, self.interval_ms)?;
                    self.rollups.entry(key).or_insert(created)
                }
            };
            target.add(&prediction, rollup::DEFAULT_ALPHA)?;
            self.predictions += 1;
        }
        Ok(())
    }

    /// Returns the number of predictions added.
    pub fn predictions(&self) -> u64 {
        self.predictions
    }

    /// Returns the rollups sorted by (model, start) and the filters in the order added.
    pub fn finish(self) -> (Vec<Rollup>, Vec<RolledUpFilter>) {
        (self.rollups.into_values().collect(), self.filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Metrics;
    use uuid::Uuid;

    fn prediction(n: u128, timestamp_ms: i64, score: f64) -> Prediction {
        Prediction {
            model: "m".to_owned(),
            uuid: Uuid::from_u128(n),
            timestamp_ms,
            metrics: Metrics::new().with("score", score),
            delayed: Metrics::new(),
        }
    }

    #[test]
    fn groups_added_apart_equal_one_roll_up() {
        let all: Vec<Prediction> = (0..40)
            .map(|n| prediction(n, n as i64 * 37_000, n as f64 / 8.0))
            .collect();
        let mut builder = RollupBuilder::new(300_000);
        builder.add(all[..15].to_vec()).unwrap();
        builder.add(all[15..].to_vec()).unwrap();
        assert_eq!(builder.predictions(), 40);
        let (rollups, filters) = builder.finish();
        let expected = rollup::roll_up(all.clone(), 300_000, rollup::DEFAULT_ALPHA).unwrap();
        assert_eq!(rollups, expected);
        assert_eq!(filters.len(), 2);
        let counts: Vec<u64> = filters.iter().map(RolledUpFilter::predictions).collect();
        assert_eq!(counts, vec![15, 25]);
        assert!(
            all.iter()
                .all(|p| filters.iter().any(|f| f.may_contain(&p.uuid)))
        );
    }

    #[test]
    fn empty_group_adds_no_filter() {
        let mut builder = RollupBuilder::new(300_000);
        builder.add(Vec::new()).unwrap();
        let (rollups, filters) = builder.finish();
        assert!(rollups.is_empty());
        assert!(filters.is_empty());
    }

    #[test]
    fn overflowing_interval_is_rejected() {
        let mut builder = RollupBuilder::new(300_000);
        let result = builder.add(vec![prediction(1, i64::MAX - 5, 0.5)]);
        assert!(result.is_err());
    }
}
