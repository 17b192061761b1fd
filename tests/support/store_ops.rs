//! Random operations on a store for the tests that compare two reads of the same windows.
//! They cover single predictions and batches of two models that fill more than one block, delayed
//! metrics in the head, in segments and in stored orphans adopted later, deletions of
//! predictions and models, flushes, reopens and compactions. Metrics are present in some rows
//! only, and one metric name is tracked with several value types.

#![allow(dead_code)]

use std::path::Path;

use modelmetrics::{Compaction, Metrics, NewDelayed, NewPrediction, Options, Store, Uuid, Value};
use proptest::prelude::*;

use crate::support::uuid;

/// A check of the reads of one model's window `[start, end)`.
pub type WindowCheck = fn(&Store, &str, i64, i64) -> Result<(), TestCaseError>;

pub const MODELS: [&str; 2] = ["a", "b"];
pub const INLINE: [&str; 4] = ["score", "x", "label", "blob"];
pub const DELAYED: [&str; 4] = ["label", "score", "y", "blob"];
/// UUIDs of single predictions and delayed metrics come from `uuid(0..POOL)`, those of batches
/// from `uuid(BATCH_BASE..)`.
pub const POOL: u8 = 24;
pub const BATCH_BASE: u128 = 1 << 20;

#[derive(Clone, Debug)]
pub enum Op {
    Predict {
        model: usize,
        id: u8,
        ts: i64,
        metrics: Vec<(usize, Value)>,
    },
    /// `count` predictions of one model from `first_ms` on, `step_ms` apart.
    Batch {
        model: usize,
        count: usize,
        first_ms: i64,
        step_ms: i64,
        seed: u64,
    },
    Delay {
        id: u8,
        ts: i64,
        metrics: Vec<(usize, Value)>,
    },
    /// Delayed metrics for every `every`-th prediction of the batches so far.
    DelayBatches {
        every: usize,
        value: Value,
    },
    DeletePrediction {
        id: u8,
    },
    /// Deletes one prediction of the batches so far, chosen by `pick`.
    DeleteBatchPrediction {
        pick: usize,
    },
    DeleteModel {
        model: usize,
    },
    Flush,
    Reopen,
    Compact,
    Check {
        start: i64,
        end: i64,
    },
}

pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-4i32..4).prop_map(|v| Value::F64(f64::from(v) / 4.0)),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), -3i64..3].prop_map(Value::I64),
        any::<bool>().prop_map(Value::Bool),
        "[ab]{0,2}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Value::Bytes),
    ]
}

pub fn named(count: usize) -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((0..count, value()), 0..4).prop_map(|mut list| {
        list.sort_by_key(|(name, _)| *name);
        list.dedup_by_key(|(name, _)| *name);
        list
    })
}

pub fn batch() -> impl Strategy<Value = Op> {
    let count = prop_oneof![3 => 1..40usize, 1 => 4_090..4_200usize];
    (0..2usize, count, -10i64..300, 0i64..3, any::<u64>()).prop_map(
        |(model, count, first_ms, step_ms, seed)| Op::Batch {
            model,
            count,
            first_ms,
            step_ms,
            seed,
        },
    )
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..POOL, 0i64..300, named(INLINE.len()))
            .prop_map(|(model, id, ts, metrics)| Op::Predict { model, id, ts, metrics }),
        1 => batch(),
        5 => (0..POOL + 4, 0i64..400, named(DELAYED.len()))
            .prop_map(|(id, ts, metrics)| Op::Delay { id, ts, metrics }),
        1 => (1..5usize, value()).prop_map(|(every, value)| Op::DelayBatches { every, value }),
        1 => (0..POOL).prop_map(|id| Op::DeletePrediction { id }),
        1 => any::<usize>().prop_map(|pick| Op::DeleteBatchPrediction { pick }),
        1 => (0..2usize).prop_map(|model| Op::DeleteModel { model }),
        2 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
        2 => (-20i64..9_000, -20i64..9_000).prop_map(|(a, b)| Op::Check {
            start: a.min(b),
            end: a.max(b) + 1,
        }),
    ]
}

pub fn options() -> Options {
    // No compaction thread, so that only `Op::Compact` compacts. Every segment is small, so four
    // adjacent ones merge.
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: 1 << 30,
        ..Compaction::default()
    })
}

pub fn metrics(names: &[&str], list: &[(usize, Value)]) -> Metrics {
    let mut metrics = Metrics::new();
    for (name, value) in list {
        metrics.push(names[*name], value.clone());
    }
    metrics
}

/// Returns the metrics of row `row` of a batch: `score` in every row, `x` in some, `label` as a
/// bool in some rows and a string in others, and `blob` in every row when `seed` is even.
pub fn batch_metrics(seed: u64, row: usize) -> Metrics {
    let mixed = seed
        .wrapping_add(row as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        >> 40;
    let mut metrics = Metrics::new().with("score", (mixed % 1_000) as f64 / 1_000.0);
    if mixed.is_multiple_of(3) {
        metrics.push("x", mixed as i64 - 1_000);
    }
    match mixed % 5 {
        0 => metrics.push("label", mixed.is_multiple_of(2)),
        1 | 2 => metrics.push("label", format!("class-{}", mixed % 4)),
        _ => {}
    }
    if seed.is_multiple_of(2) {
        metrics.push("blob", vec![row as u8; row % 3]);
    }
    metrics
}

/// A store and the UUIDs its batches tracked.
pub struct Case {
    pub store: Store,
    pub batch_uuids: Vec<Uuid>,
}

impl Case {
    /// Applies `op` to the store, and runs `check` on each model's window for `Op::Check`.
    pub fn apply(&mut self, dir: &Path, op: &Op, check: WindowCheck) -> Result<(), TestCaseError> {
        let store = &self.store;
        match op {
            Op::Predict {
                model,
                id,
                ts,
                metrics: list,
            } => {
                let uuid = uuid(u128::from(*id));
                let result =
                    store.track_metrics(MODELS[*model], uuid, *ts, &metrics(&INLINE, list));
                assert!(
                    result.is_ok()
                        || matches!(result, Err(modelmetrics::Error::DuplicatePrediction { .. })),
                    "{result:?}"
                );
            }
            Op::Batch {
                model,
                count,
                first_ms,
                step_ms,
                seed,
            } => {
                let first = BATCH_BASE + self.batch_uuids.len() as u128;
                let batch: Vec<NewPrediction> = (0..*count)
                    .map(|row| NewPrediction {
                        model: MODELS[*model].to_owned(),
                        uuid: uuid(first + row as u128),
                        timestamp_ms: first_ms + row as i64 * step_ms,
                        metrics: batch_metrics(*seed, row),
                    })
                    .collect();
                store.track_metrics_batch(&batch).unwrap();
                self.batch_uuids.extend(batch.iter().map(|p| p.uuid));
            }
            Op::Delay {
                id,
                ts,
                metrics: list,
            } => {
                let metrics = metrics(&DELAYED, list);
                store
                    .track_delayed_metrics(uuid(u128::from(*id)), *ts, &metrics)
                    .unwrap();
            }
            Op::DelayBatches { every, value } => {
                let items: Vec<NewDelayed> = self
                    .batch_uuids
                    .iter()
                    .step_by(*every)
                    .map(|&uuid| NewDelayed {
                        uuid,
                        timestamp_ms: 500,
                        metrics: Metrics::new().with("label", value.clone()),
                    })
                    .collect();
                store.track_delayed_metrics_batch(&items).unwrap();
            }
            Op::DeletePrediction { id } => {
                store.delete_prediction(uuid(u128::from(*id))).unwrap();
            }
            Op::DeleteBatchPrediction { pick } => {
                if !self.batch_uuids.is_empty() {
                    let uuid = self.batch_uuids[pick % self.batch_uuids.len()];
                    store.delete_prediction(uuid).unwrap();
                }
            }
            Op::DeleteModel { model } => store.delete_model(MODELS[*model]).unwrap(),
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                store.close().unwrap();
                self.store = Store::open_with(dir, options()).unwrap();
            }
            Op::Compact => {
                store.compact().unwrap();
            }
            Op::Check { start, end } => {
                for model in MODELS {
                    check(store, model, *start, *end)?;
                }
            }
        }
        Ok(())
    }
}
