//! The model: what the store documents that it returns, stated over plain BTreeMaps.
//!
//! - A prediction UUID is tracked once; a second prediction with it is rejected with
//!   `DuplicatePrediction`, and nothing of its call is written.
//! - A call with an invalid model id, window or metric list is rejected with `InvalidInput`,
//!   and nothing of it is written. A batch is written whole or not at all.
//! - Reads return metrics sorted by name. Predictions come in (timestamp, tracking order)
//!   order, from windows `start_ms <= timestamp < end_ms`.
//! - Each delayed metric of a prediction reads back with its latest value, whether it was
//!   tracked before or after the prediction. Delayed metrics of a UUID that no prediction has
//!   are orphans, listed oldest first, one entry per record. With
//!   `reject_unknown_predictions`, a call with such metrics is rejected with
//!   `UnknownPrediction` instead, and nothing of it is written.
//! - Aggregates are keyed by (model, start, end), and each metric keeps its latest value. A
//!   read returns the windows that overlap the read window, ordered by (start, end).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use modelmetrics::{
    Aggregate, Error, Metric, Metrics, NewAggregate, NewDelayed, NewPrediction, OrphanedDelayed,
    Prediction, Uuid, Value,
};

/// The result of a call as the model predicts it, and as the store's result is classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    InvalidInput,
    DuplicatePrediction(Uuid),
    UnknownPrediction(Uuid),
}

impl Outcome {
    /// Classifies a store result. Any other error fails the test, since the model never
    /// expects one.
    pub fn of<T>(result: &modelmetrics::Result<T>, context: &str) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(Error::InvalidInput { .. }) => Outcome::InvalidInput,
            Err(Error::DuplicatePrediction { uuid }) => Outcome::DuplicatePrediction(*uuid),
            Err(Error::UnknownPrediction { uuid }) => Outcome::UnknownPrediction(*uuid),
            Err(other) => panic!("{context}: unexpected error {other:?}"),
        }
    }
}

struct StoredPrediction {
    model: String,
    timestamp_ms: i64,
    /// Position in tracking order, which breaks ties between equal timestamps.
    order: u64,
    metrics: BTreeMap<String, Value>,
}

struct StoredDelayed {
    uuid: Uuid,
    timestamp_ms: i64,
    metrics: BTreeMap<String, Value>,
}

/// Everything a sequence of accepted calls stored.
#[derive(Default)]
pub struct Model {
    reject_unknown_predictions: bool,
    predictions: BTreeMap<Uuid, StoredPrediction>,
    /// Prediction UUIDs in tracking order.
    tracked: Vec<Uuid>,
    /// Delayed records in tracking order.
    delayed: Vec<StoredDelayed>,
    aggregates: BTreeMap<(String, i64, i64), BTreeMap<String, Value>>,
}

impl Model {
    pub fn new(reject_unknown_predictions: bool) -> Model {
        Model {
            reject_unknown_predictions,
            ..Model::default()
        }
    }

    /// Returns the UUID of the prediction tracked `n`-th, modulo their count.
    pub fn tracked_uuid(&self, n: usize) -> Option<Uuid> {
        if self.tracked.is_empty() {
            return None;
        }
        self.tracked.get(n % self.tracked.len()).copied()
    }

    /// Returns every UUID that a prediction or a delayed record of the model has.
    pub fn uuids(&self) -> BTreeSet<Uuid> {
        let delayed = self.delayed.iter().map(|d| d.uuid);
        self.tracked.iter().copied().chain(delayed).collect()
    }

    pub fn track(&mut self, batch: &[NewPrediction]) -> Outcome {
        let mut in_batch = HashSet::new();
        for p in batch {
            let valid = valid_model(&p.model) && valid_metrics(&p.metrics);
            if !valid || !in_batch.insert(p.uuid) {
                return Outcome::InvalidInput;
            }
        }
        if let Some(p) = batch
            .iter()
            .find(|p| self.predictions.contains_key(&p.uuid))
        {
            return Outcome::DuplicatePrediction(p.uuid);
        }
        for p in batch {
            let stored = StoredPrediction {
                model: p.model.clone(),
                timestamp_ms: p.timestamp_ms,
                order: self.tracked.len() as u64,
                metrics: by_name(&p.metrics),
            };
            self.predictions.insert(p.uuid, stored);
            self.tracked.push(p.uuid);
        }
        Outcome::Ok
    }

    pub fn track_delayed(&mut self, batch: &[NewDelayed]) -> Outcome {
        if batch.iter().any(|d| !valid_metrics(&d.metrics)) {
            return Outcome::InvalidInput;
        }
        if self.reject_unknown_predictions
            && let Some(d) = batch
                .iter()
                .find(|d| !self.predictions.contains_key(&d.uuid))
        {
            return Outcome::UnknownPrediction(d.uuid);
        }
        for d in batch {
            self.delayed.push(StoredDelayed {
                uuid: d.uuid,
                timestamp_ms: d.timestamp_ms,
                metrics: by_name(&d.metrics),
            });
        }
        Outcome::Ok
    }

    pub fn track_aggregates(&mut self, batch: &[NewAggregate]) -> Outcome {
        let valid = |a: &NewAggregate| {
            valid_model(&a.model) && a.end_ms > a.start_ms && valid_metrics(&a.metrics)
        };
        if !batch.iter().all(valid) {
            return Outcome::InvalidInput;
        }
        for a in batch {
            let key = (a.model.clone(), a.start_ms, a.end_ms);
            let window = self.aggregates.entry(key).or_default();
            window.extend(by_name(&a.metrics));
        }
        Outcome::Ok
    }

    /// Returns what `read_metrics` returns, or the outcome of a rejected call.
    pub fn read(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Prediction>, Outcome> {
        if !valid_model(model) || end_ms <= start_ms {
            return Err(Outcome::InvalidInput);
        }
        let mut rows: Vec<(&Uuid, &StoredPrediction)> = self
            .predictions
            .iter()
            .filter(|(_, p)| p.model == model)
            .filter(|(_, p)| start_ms <= p.timestamp_ms && p.timestamp_ms < end_ms)
            .collect();
        rows.sort_by_key(|(_, p)| (p.timestamp_ms, p.order));
        Ok(rows
            .into_iter()
            .map(|(uuid, p)| self.join(*uuid, p))
            .collect())
    }

    /// Returns what `read_aggregate_metrics` returns, or the outcome of a rejected call.
    pub fn read_aggregates(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Aggregate>, Outcome> {
        if !valid_model(model) || end_ms <= start_ms {
            return Err(Outcome::InvalidInput);
        }
        Ok(self
            .aggregates
            .iter()
            .filter(|((m, start, end), _)| m == model && *start < end_ms && *end > start_ms)
            .map(|((m, start, end), metrics)| Aggregate {
                model: m.clone(),
                start_ms: *start,
                end_ms: *end,
                metrics: to_metrics(metrics),
            })
            .collect())
    }

    pub fn lookup(&self, uuid: Uuid) -> Option<Prediction> {
        self.predictions.get(&uuid).map(|p| self.join(uuid, p))
    }

    pub fn orphans(&self) -> Vec<OrphanedDelayed> {
        self.delayed
            .iter()
            .filter(|d| !self.predictions.contains_key(&d.uuid))
            .map(|d| OrphanedDelayed {
                uuid: d.uuid,
                timestamp_ms: d.timestamp_ms,
                metrics: to_metrics(&d.metrics),
                prediction_rolled_up: false,
            })
            .collect()
    }

    /// Builds a prediction as reads return it: the latest value of each delayed metric of its
    /// UUID joined in.
    fn join(&self, uuid: Uuid, prediction: &StoredPrediction) -> Prediction {
        let mut delayed = BTreeMap::new();
        for record in self.delayed.iter().filter(|d| d.uuid == uuid) {
            delayed.extend(record.metrics.clone());
        }
        Prediction {
            model: prediction.model.clone(),
            uuid,
            timestamp_ms: prediction.timestamp_ms,
            metrics: to_metrics(&prediction.metrics),
            delayed: to_metrics(&delayed),
        }
    }
}

/// Returns whether the store accepts `model` as a model id: 1 to 256 bytes, no control
/// characters.
fn valid_model(model: &str) -> bool {
    !model.is_empty() && model.len() <= 256 && !model.chars().any(char::is_control)
}

/// Returns whether the store accepts `metrics` as the metrics of one record. The generated
/// values stay far below the size limits, so only the names can make a list invalid.
fn valid_metrics(metrics: &Metrics) -> bool {
    let mut names = HashSet::new();
    metrics.iter().all(|m| {
        let valid_name =
            !m.name.is_empty() && m.name.len() <= 256 && !m.name.chars().any(char::is_control);
        valid_name && names.insert(m.name.as_str())
    })
}

fn by_name(metrics: &Metrics) -> BTreeMap<String, Value> {
    metrics
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect()
}

/// Returns the metrics in name order, the order in which the store returns them.
fn to_metrics(metrics: &BTreeMap<String, Value>) -> Metrics {
    Metrics(
        metrics
            .iter()
            .map(|(name, value)| Metric::new(name.clone(), value.clone()))
            .collect(),
    )
}
