//! Rewriting the records of a group of segments: what is kept, split by time partition, and
//! what is rolled up.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use crate::deletions::Deletions;
use crate::record::{
    AggregateRecord, Prediction, PredictionKey, PredictionRecord, ResolvedDelayed, Seq,
};
use crate::segment::SegmentRecords;
use crate::value::{Metric, Metrics};

/// The records a rewrite drops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Drop {
    /// Keep every record (a merge).
    Nothing,
    /// Drop every record whose time is below the bound (see `Step::Expire`).
    Expired { before_ms: i64 },
    /// Drop predictions below the bound and their resolved delayed records, and return them
    /// joined for the rollups.
    /// `interval_ms` is the first tier's: a prediction whose interval does not fit in the
    /// i64 range, near `i64::MIN` or `i64::MAX`, stays raw.
    RolledUp { before_ms: i64, interval_ms: i64 },
}

/// Records that deletions cover, dropped by every rewrite.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deleted<'a> {
    pub deletions: &'a Deletions,
    /// Seqs of deleted predictions, found through the index, whose delayed records may lie in
    /// other segments than the predictions.
    pub prediction_seqs: &'a HashSet<Seq>,
}

impl Deleted<'_> {
    fn hides_resolved(&self, key: &PredictionKey, dropped: &HashSet<Seq>) -> bool {
        self.deletions.hides_model(&key.model, key.seq)
            || self.prediction_seqs.contains(&key.seq)
            || dropped.contains(&key.seq)
    }
}

/// The rule by which a rewrite splits its output into segments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Split {
    /// Rows are first grouped by time partitions of this length.
    pub partition_ms: i64,
    /// Adjacent partitions are then joined until an output has at least this many rows, so
    /// that sparse data does not become one tiny segment per partition.
    pub min_rows: usize,
}

/// Joins adjacent partitions, oldest first, into outputs of at least `min_rows` rows each
/// (the last one may have fewer).
fn coalesce(partitions: impl Iterator<Item = Output>, min_rows: usize) -> Vec<Output> {
    let mut outputs: Vec<Output> = Vec::new();
    let mut current = Output::default();
    for partition in partitions.filter(|p| !p.is_empty()) {
        current.predictions.extend(partition.predictions);
        current.delayed.extend(partition.delayed);
        current.aggregates.extend(partition.aggregates);
        let rows = current.predictions.len() + current.delayed.len() + current.aggregates.len();
        if rows >= min_rows {
            outputs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        outputs.push(current);
    }
    outputs
}

/// The records of one output segment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Output {
    pub predictions: Vec<PredictionRecord>,
    pub delayed: Vec<ResolvedDelayed>,
    pub aggregates: Vec<AggregateRecord>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.predictions.is_empty() && self.delayed.is_empty() && self.aggregates.is_empty()
    }

    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.predictions.len() + self.delayed.len() + self.aggregates.len()
    }
}

/// The result of rewriting one group.
#[derive(Debug, Default)]
pub(crate) struct Rewritten {
    /// One output per time partition, oldest first; empty partitions are left out.
    pub outputs: Vec<Output>,
    /// Predictions dropped for rollups, with their latest delayed metrics joined.
    pub rolled_up: Vec<Prediction>,
    /// Records dropped by age.
    pub expired: u64,
    /// Orphan rows dropped because their prediction was tracked since (adopted copies exist).
    pub adopted: u64,
    /// Records dropped because a deletion covers them.
    pub deleted: u64,
}

/// Rewrites the records of a group of segments, given in data order.
///
/// `orphans` are the UUIDs still without a prediction: an orphan row whose UUID is not among
/// them was copied into a later segment when its prediction arrived, so it is dropped.
pub(crate) fn rewrite(
    groups: Vec<SegmentRecords>,
    drop: Drop,
    orphans: &HashSet<Uuid>,
    deleted: Deleted<'_>,
    split: Split,
) -> Rewritten {
    let partition_ms = split.partition_ms;
    let mut out = Rewritten::default();
    let mut dropped: HashSet<Seq> = HashSet::new();
    let mut partitions: BTreeMap<i64, Output> = BTreeMap::new();
    let mut rolled: RolledUp = RolledUp::default();
    let partition_of = |ms: i64| ms.div_euclid(partition_ms.max(1));
    for records in groups {
        for prediction in records.predictions {
            let p = &prediction;
            if deleted.deletions.hides_prediction(&p.model, &p.uuid, p.seq) {
                dropped.insert(p.seq);
                out.deleted += 1;
                continue;
            }
            match drop.classify(prediction.timestamp_ms) {
                Fate::Keep => partition(&mut partitions, partition_of(prediction.timestamp_ms))
                    .predictions
                    .push(prediction),
                Fate::Expire => out.expired += 1,
                Fate::RollUp => rolled.add_prediction(prediction),
            }
        }
        for delayed in records.delayed {
            let hidden = match &delayed.prediction {
                Some(key) => deleted.hides_resolved(key, &dropped),
                None => deleted
                    .deletions
                    .hides_delayed(&delayed.record.uuid, delayed.record.seq),
            };
            if hidden {
                out.deleted += 1;
                continue;
            }
            let time = match &delayed.prediction {
                Some(key) => key.timestamp_ms,
                None if !orphans.contains(&delayed.record.uuid) => {
                    out.adopted += 1;
                    continue;
                }
                None => delayed.record.timestamp_ms,
            };
            let fate = match (&delayed.prediction, drop.classify(time)) {
                // An orphan is older than nothing that is rolled up: its time is its arrival.
                (None, Fate::RollUp) => Fate::Keep,
                (_, fate) => fate,
            };
            match fate {
                Fate::Keep => partition(&mut partitions, partition_of(time))
                    .delayed
                    .push(delayed),
                Fate::Expire => out.expired += 1,
                Fate::RollUp => rolled.add_delayed(delayed),
            }
        }
        for aggregate in records.aggregates {
            if deleted
                .deletions
                .hides_model(&aggregate.model, aggregate.seq)
            {
                out.deleted += 1;
                continue;
            }
            match drop.classify(aggregate.start_ms) {
                Fate::Expire => out.expired += 1,
                Fate::Keep | Fate::RollUp => {
                    partition(&mut partitions, partition_of(aggregate.start_ms))
                        .aggregates
                        .push(aggregate)
                }
            }
        }
    }
    out.outputs = coalesce(partitions.into_values(), split.min_rows);
    out.rolled_up = rolled.joined();
    out
}

enum Fate {
    Keep,
    Expire,
    RollUp,
}

impl Drop {
    /// Returns whether this drop rolls up a prediction with timestamp `time_ms`: one below the
    /// cutoff whose interval fits in the i64 range.
    pub fn rolls_up(self, time_ms: i64) -> bool {
        matches!(self.classify(time_ms), Fate::RollUp)
    }

    fn classify(self, time_ms: i64) -> Fate {
        match self {
            Drop::Nothing => Fate::Keep,
            Drop::Expired { before_ms } if time_ms < before_ms => Fate::Expire,
            Drop::RolledUp {
                before_ms,
                interval_ms,
            } if time_ms < before_ms && crate::rollup::interval_fits(time_ms, interval_ms) => {
                Fate::RollUp
            }
            Drop::Expired { .. } | Drop::RolledUp { .. } => Fate::Keep,
        }
    }
}

fn partition(partitions: &mut BTreeMap<i64, Output>, key: i64) -> &mut Output {
    partitions.entry(key).or_default()
}

/// Predictions taken out for rollups and the delayed metrics that name them.
#[derive(Default)]
struct RolledUp {
    predictions: Vec<PredictionRecord>,
    /// Latest value of each delayed metric by prediction seq, one entry per name: later rows
    /// replace earlier ones, because rows arrive in data order. A list, because a prediction
    /// has few delayed metrics and a map per prediction would take several times the memory.
    delayed: HashMap<Seq, Vec<Metric>>,
}

impl RolledUp {
    fn add_prediction(&mut self, prediction: PredictionRecord) {
        self.predictions.push(prediction);
    }

    fn add_delayed(&mut self, delayed: ResolvedDelayed) {
        let Some(key) = delayed.prediction else {
            return;
        };
        let latest = self.delayed.entry(key.seq).or_default();
        for metric in delayed.record.metrics.0 {
            match latest.iter_mut().find(|kept| kept.name == metric.name) {
                Some(kept) => kept.value = metric.value,
                None => latest.push(metric),
            }
        }
    }

    /// Joins each prediction with its delayed metrics, as `read_metrics` would return it.
    fn joined(mut self) -> Vec<Prediction> {
        let mut out = Vec::with_capacity(self.predictions.len());
        for record in self.predictions {
            let mut joined = Metrics(self.delayed.remove(&record.seq).unwrap_or_default());
            joined.0.sort_by(|a, b| a.name.cmp(&b.name));
            let mut metrics = record.metrics;
            metrics.0.sort_by(|a, b| a.name.cmp(&b.name));
            out.push(Prediction {
                model: record.model,
                uuid: record.uuid,
                timestamp_ms: record.timestamp_ms,
                metrics,
                delayed: joined,
            });
        }
        out.sort_by(|a, b| (&a.model, a.timestamp_ms).cmp(&(&b.model, b.timestamp_ms)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DelayedRecord, PredictionKey, STORED_SEQ};

    const DAY: i64 = 86_400_000;

    fn rewrite(
        groups: Vec<SegmentRecords>,
        drop: Drop,
        orphans: &HashSet<Uuid>,
        partition_ms: i64,
    ) -> Rewritten {
        let split = Split {
            partition_ms,
            min_rows: 1,
        };
        let none = Deletions::default();
        let seqs = HashSet::new();
        let deleted = Deleted {
            deletions: &none,
            prediction_seqs: &seqs,
        };
        super::rewrite(groups, drop, orphans, deleted, split)
    }

    fn prediction(seq: Seq, ts: i64) -> PredictionRecord {
        PredictionRecord {
            seq,
            model: "m".to_owned(),
            uuid: Uuid::from_u128(u128::from(seq)),
            timestamp_ms: ts,
            metrics: Metrics::new().with("score", 0.5),
        }
    }

    fn label(prediction: &PredictionRecord, value: bool) -> ResolvedDelayed {
        ResolvedDelayed {
            record: DelayedRecord {
                seq: STORED_SEQ,
                uuid: Uuid::nil(),
                timestamp_ms: prediction.timestamp_ms + 10,
                metrics: Metrics::new().with("label", value),
            },
            prediction: Some(PredictionKey {
                model: prediction.model.clone(),
                timestamp_ms: prediction.timestamp_ms,
                seq: prediction.seq,
            }),
        }
    }

    fn orphan(uuid: u128, ts: i64) -> ResolvedDelayed {
        ResolvedDelayed {
            record: DelayedRecord {
                seq: 99,
                uuid: Uuid::from_u128(uuid),
                timestamp_ms: ts,
                metrics: Metrics::new().with("label", true),
            },
            prediction: None,
        }
    }

    #[test]
    fn merge_splits_outputs_by_partition() {
        let first = SegmentRecords {
            predictions: vec![prediction(1, 5), prediction(2, DAY + 5)],
            ..SegmentRecords::default()
        };
        let second = SegmentRecords {
            predictions: vec![prediction(3, 7)],
            ..SegmentRecords::default()
        };
        let out = rewrite(vec![first, second], Drop::Nothing, &HashSet::new(), DAY);
        assert_eq!(out.outputs.len(), 2);
        assert_eq!(out.outputs[0].predictions.len(), 2);
        assert_eq!(out.outputs[1].predictions.len(), 1);
    }

    #[test]
    fn sparse_partitions_are_joined_up_to_the_minimum_rows() {
        let records = SegmentRecords {
            predictions: (0..6)
                .map(|day| prediction(day + 1, day as i64 * DAY))
                .collect(),
            ..SegmentRecords::default()
        };
        let split = Split {
            partition_ms: DAY,
            min_rows: 4,
        };
        let none = Deletions::default();
        let seqs = HashSet::new();
        let deleted = Deleted {
            deletions: &none,
            prediction_seqs: &seqs,
        };
        let out = super::rewrite(
            vec![records],
            Drop::Nothing,
            &HashSet::new(),
            deleted,
            split,
        );
        let sizes: Vec<usize> = out.outputs.iter().map(Output::rows).collect();
        assert_eq!(sizes, vec![4, 2]);
        assert!(
            out.outputs[0]
                .predictions
                .iter()
                .all(|p| p.timestamp_ms < 4 * DAY)
        );
    }

    #[test]
    fn adopted_orphans_are_dropped_and_counted() {
        let records = SegmentRecords {
            delayed: vec![orphan(7, 1), orphan(8, 2)],
            ..SegmentRecords::default()
        };
        let still_orphan: HashSet<Uuid> = [Uuid::from_u128(8)].into();
        let out = rewrite(vec![records], Drop::Nothing, &still_orphan, DAY);
        assert_eq!(out.adopted, 1);
        assert_eq!(out.outputs[0].delayed.len(), 1);
        assert_eq!(out.outputs[0].delayed[0].record.uuid, Uuid::from_u128(8));
    }

    #[test]
    fn rolled_up_predictions_join_the_latest_label() {
        let old = prediction(1, 5);
        let young = prediction(2, 3 * DAY);
        let earlier = SegmentRecords {
            predictions: vec![old.clone(), young.clone()],
            delayed: vec![label(&old, false)],
            ..SegmentRecords::default()
        };
        let later = SegmentRecords {
            delayed: vec![label(&old, true), label(&young, true)],
            ..SegmentRecords::default()
        };
        let drop = Drop::RolledUp {
            before_ms: DAY,
            interval_ms: 300_000,
        };
        let out = rewrite(vec![earlier, later], drop, &HashSet::new(), DAY);
        assert_eq!(out.rolled_up.len(), 1);
        assert_eq!(out.rolled_up[0].delayed.get("label"), Some(&true.into()));
        let kept: usize = out.outputs.iter().map(Output::rows).sum();
        assert_eq!(kept, 2, "the young prediction and its label stay raw");
    }

    #[test]
    fn expiry_drops_old_rows_of_every_table() {
        let old = prediction(1, 5);
        let records = SegmentRecords {
            predictions: vec![old.clone(), prediction(2, 2 * DAY)],
            delayed: vec![label(&old, true), orphan(9, 6)],
            aggregates: vec![AggregateRecord {
                seq: 4,
                model: "m".to_owned(),
                start_ms: 0,
                end_ms: DAY,
                metrics: Metrics::new().with("auc", 0.9),
            }],
        };
        let orphans: HashSet<Uuid> = [Uuid::from_u128(9)].into();
        let out = rewrite(
            vec![records],
            Drop::Expired { before_ms: DAY },
            &orphans,
            DAY,
        );
        assert_eq!(out.expired, 4);
        assert_eq!(out.outputs.len(), 1);
        assert_eq!(out.outputs[0].rows(), 1);
    }

    #[test]
    fn deleted_predictions_lose_their_labels_in_other_segments() {
        let gone = prediction(1, 5);
        let kept = prediction(2, 6);
        let earlier = SegmentRecords {
            predictions: vec![gone.clone(), kept.clone()],
            ..SegmentRecords::default()
        };
        let later = SegmentRecords {
            delayed: vec![label(&gone, true), label(&kept, true)],
            ..SegmentRecords::default()
        };
        let deletions = Deletions::new(&[crate::manifest::Deletion::Prediction {
            uuid: gone.uuid,
            seq_limit: 10,
        }]);
        let seqs = HashSet::new();
        let deleted = Deleted {
            deletions: &deletions,
            prediction_seqs: &seqs,
        };
        let split = Split {
            partition_ms: DAY,
            min_rows: 1,
        };
        let out = super::rewrite(
            vec![earlier, later],
            Drop::Nothing,
            &HashSet::new(),
            deleted,
            split,
        );
        assert_eq!(out.deleted, 2);
        assert_eq!(out.outputs[0].predictions, vec![kept]);
        assert_eq!(out.outputs[0].delayed.len(), 1);
    }

    #[test]
    fn rolls_up_only_fitting_old_timestamps() {
        let roll_up = Drop::RolledUp {
            before_ms: DAY,
            interval_ms: 300_000,
        };
        assert!(roll_up.rolls_up(5));
        assert!(!roll_up.rolls_up(DAY));
        assert!(!roll_up.rolls_up(i64::MIN + 5));
        assert!(!Drop::Nothing.rolls_up(5));
        assert!(!Drop::Expired { before_ms: DAY }.rolls_up(5));
    }

    #[test]
    fn predictions_at_the_time_limits_stay_raw() {
        let first = prediction(1, i64::MIN + 5);
        let last = prediction(2, i64::MAX - 5);
        let records = SegmentRecords {
            predictions: vec![first.clone(), last],
            delayed: vec![label(&first, true)],
            ..SegmentRecords::default()
        };
        let drop = Drop::RolledUp {
            before_ms: i64::MAX,
            interval_ms: 300_000,
        };
        let out = rewrite(vec![records], drop, &HashSet::new(), DAY);
        assert!(out.rolled_up.is_empty());
        let kept: usize = out.outputs.iter().map(Output::rows).sum();
        assert_eq!(kept, 3, "both predictions and the label stay raw");
    }

    #[test]
    fn orphans_are_never_rolled_up() {
        let records = SegmentRecords {
            delayed: vec![orphan(9, 6)],
            ..SegmentRecords::default()
        };
        let orphans: HashSet<Uuid> = [Uuid::from_u128(9)].into();
        let out = rewrite(
            vec![records],
            Drop::RolledUp {
                before_ms: DAY,
                interval_ms: 300_000,
            },
            &orphans,
            DAY,
        );
        assert_eq!(out.outputs[0].delayed.len(), 1);
        assert!(out.rolled_up.is_empty());
    }
}
