//! Strategies that generate a store configuration and a sequence of operations on it.
//!
//! Operations name models and prediction UUIDs through small references (`ModelRef`,
//! `UuidRef`) that the harness resolves when it applies them, so that shrinking keeps a
//! sequence meaningful and failures print short.

use std::time::Duration;

use modelmetrics::{Compaction, Durability, Metrics, Options, Uuid, Value};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

pub const T0: i64 = 1_700_000_000_000;

/// Model ids; a case uses the first `StoreConfig::model_count`. The second looks like a path
/// and the third is not ASCII.
pub const MODEL_IDS: [&str; 3] = ["credit-v3", "../fraud/v1", "modèle-ü"];
/// A model id that every call rejects, because it contains a control character.
pub const INVALID_MODEL_ID: &str = "bad\u{7}model";

/// Metric names, listed out of name order so that reads must sort them.
pub const METRIC_NAMES: [&str; 8] = ["score", "label", "a", "Z", "z_last", "é", "0", "latency_ms"];

/// Number of UUIDs in the pool that a whole case shares.
const UUID_POOL: u8 = 12;

/// Timestamps at the ends of the range of i64 and around zero.
const EDGE_TIMESTAMPS: [i64; 9] = [
    i64::MIN,
    i64::MIN + 1,
    -1_000_000_000_000,
    -1,
    0,
    1,
    T0,
    i64::MAX - 1,
    i64::MAX,
];

/// Aggregate windows that cases track more than once.
const AGGREGATE_WINDOWS: [(i64, i64); 8] = [
    (T0, T0 + 1_000),
    (T0, T0 + 2_000),
    (T0 + 500, T0 + 1_500),
    (T0 + 1_000, T0 + 2_000),
    (i64::MIN, i64::MAX),
    (i64::MIN, 0),
    (-1, 0),
    (i64::MAX - 1, i64::MAX),
];

/// Bit patterns of floats that must come back bit for bit: NaNs with payloads and either sign,
/// a signalling NaN, infinities, `-0.0`, the smallest subnormal and the extremes.
const SPECIAL_FLOAT_BITS: [u64; 9] = [
    0x7ff8_0000_0000_0001,
    0xfff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x0000_0000_0000_0001,
    0x7fef_ffff_ffff_ffff,
    0xffef_ffff_ffff_ffff,
];

/// A model id as an operation names it.
#[derive(Clone, Copy, Debug)]
pub enum ModelRef {
    /// The model id `MODEL_IDS[index % model_count]`.
    Valid(usize),
    /// `INVALID_MODEL_ID`.
    Invalid,
}

/// A prediction UUID as an operation names it.
#[derive(Clone, Copy, Debug)]
pub enum UuidRef {
    /// One of a few UUIDs that the whole case shares, so that predictions collide and delayed
    /// metrics arrive before their prediction.
    Pool(u8),
    /// A UUID that is unlikely to appear anywhere else in the case.
    Fresh(u32),
    /// The UUID of the prediction tracked `n`-th (modulo their count) so far. The harness
    /// resolves it against the model, and falls back to `fixed` when none is tracked yet.
    Tracked(u16),
}

impl UuidRef {
    /// Returns the UUID of a `Pool` or `Fresh` reference, and for `Tracked(n)` the pool UUID
    /// `n % UUID_POOL`.
    pub fn fixed(self) -> Uuid {
        match self {
            UuidRef::Pool(n) => crate::support::uuid(u128::from(n)),
            UuidRef::Fresh(n) => crate::support::uuid((1 << 32) | u128::from(n)),
            UuidRef::Tracked(n) => UuidRef::Pool((n % u16::from(UUID_POOL)) as u8).fixed(),
        }
    }

    /// Returns every UUID of the pool.
    pub fn pool() -> impl Iterator<Item = Uuid> {
        (0..UUID_POOL).map(|n| UuidRef::Pool(n).fixed())
    }
}

/// A metric value, with large payloads kept as a length and a seed so that failures print
/// short.
#[derive(Clone, Debug)]
pub enum MetricValue {
    Plain(Value),
    /// `len` pseudo-random bytes derived from `seed`.
    Blob {
        len: usize,
        seed: u8,
    },
}

impl MetricValue {
    pub fn to_value(&self) -> Value {
        match self {
            MetricValue::Plain(value) => value.clone(),
            MetricValue::Blob { len, seed } => Value::Bytes(blob(*len, *seed)),
        }
    }
}

/// Returns `len` bytes of a xorshift sequence seeded by `seed`.
fn blob(len: usize, seed: u8) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The metrics of one record, in the order the call passes them.
#[derive(Clone, Debug)]
pub struct MetricList(pub Vec<(&'static str, MetricValue)>);

impl MetricList {
    pub fn to_metrics(&self) -> Metrics {
        Metrics(
            self.0
                .iter()
                .map(|(name, value)| modelmetrics::Metric::new(*name, value.to_value()))
                .collect(),
        )
    }
}

#[derive(Clone, Debug)]
pub struct PredictionInput {
    pub model: ModelRef,
    pub uuid: UuidRef,
    pub timestamp_ms: i64,
    pub metrics: MetricList,
}

#[derive(Clone, Debug)]
pub struct DelayedInput {
    pub uuid: UuidRef,
    pub timestamp_ms: i64,
    pub metrics: MetricList,
}

#[derive(Clone, Debug)]
pub struct AggregateInput {
    pub model: ModelRef,
    pub start_ms: i64,
    pub end_ms: i64,
    pub metrics: MetricList,
}

/// One step of a case.
#[derive(Clone, Debug)]
pub enum Op {
    Track(PredictionInput),
    TrackBatch(Vec<PredictionInput>),
    TrackDelayed(DelayedInput),
    TrackDelayedBatch(Vec<DelayedInput>),
    TrackAggregate(AggregateInput),
    TrackAggregateBatch(Vec<AggregateInput>),
    Read {
        model: ModelRef,
        start_ms: i64,
        end_ms: i64,
    },
    ReadAggregates {
        model: ModelRef,
        start_ms: i64,
        end_ms: i64,
    },
    Lookup(UuidRef),
    Orphans,
    Flush,
    Sync,
    /// Closes the store and opens it again.
    Reopen,
    /// Copies the files of the open store and continues with a store opened on the copy.
    Crash,
    /// Runs compaction in the calling thread.
    Compact,
}

/// The options of a case, and how many models it uses.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub durability: Durability,
    pub head_size_bytes: usize,
    pub flush_interval: Duration,
    pub wal_file_size: u64,
    pub reject_unknown_predictions: bool,
    pub zstd_level: i32,
    pub model_count: usize,
    /// Length of the compaction's time partitions.
    pub partition: Duration,
    /// Interval of the background compaction thread; `None` disables the thread.
    pub compaction_interval: Option<Duration>,
}

impl StoreConfig {
    pub fn options(&self) -> Options {
        Options::default()
            .durability(self.durability)
            .head_size_bytes(self.head_size_bytes)
            .flush_interval(self.flush_interval)
            .wal_file_size(self.wal_file_size)
            .reject_unknown_predictions(self.reject_unknown_predictions)
            .zstd_level(self.zstd_level)
            .compaction(Compaction {
                enabled: self.compaction_interval.is_some(),
                check_interval: self.compaction_interval.unwrap_or(Duration::from_secs(10)),
                // Every segment of a case is small, so four adjacent ones always merge.
                target_segment_bytes: 1 << 30,
                partition: self.partition,
                ..Compaction::default()
            })
    }

    pub fn model_ids(&self) -> &'static [&'static str] {
        &MODEL_IDS[..self.model_count]
    }

    pub fn model_id(&self, model: ModelRef) -> &'static str {
        match model {
            ModelRef::Valid(index) => MODEL_IDS[index % self.model_count],
            ModelRef::Invalid => INVALID_MODEL_ID,
        }
    }
}

/// A configuration and the operations to run on it.
#[derive(Clone, Debug)]
pub struct Case {
    pub config: StoreConfig,
    pub ops: Vec<Op>,
}

pub fn case(max_steps: usize) -> impl Strategy<Value = Case> {
    (store_config(), vec(op(), 1..=max_steps)).prop_map(|(config, ops)| Case { config, ops })
}

fn store_config() -> impl Strategy<Value = StoreConfig> {
    let durability = prop_oneof![
        Just(Durability::Sync),
        Just(Durability::Os),
        Just(Durability::Interval(Duration::from_millis(5))),
        Just(Durability::Interval(Duration::from_millis(100))),
    ];
    // Zero is raised to the minimum head of 64 KiB, which the blobs fill in a few steps, so
    // background and back-pressure flushes happen. The default head is never flushed by size.
    let head_size_bytes = prop_oneof![Just(0), Just(Options::default().head_size_bytes)];
    let flush_interval = prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_millis(20)),
        Just(Duration::from_secs(600)),
    ];
    let wal_file_size = select(vec![Options::MIN_WAL_FILE_SIZE, 1 << 20]);
    (
        durability,
        head_size_bytes,
        flush_interval,
        wal_file_size,
        any::<bool>(),
        1..=3i32,
        1..=MODEL_IDS.len(),
        compaction_config(),
    )
        .prop_map(
            |(durability, head, interval, wal, reject, zstd, models, compaction)| StoreConfig {
                durability,
                head_size_bytes: head,
                flush_interval: interval,
                wal_file_size: wal,
                reject_unknown_predictions: reject,
                zstd_level: zstd,
                model_count: models,
                partition: compaction.0,
                compaction_interval: compaction.1,
            },
        )
}

/// Partitions from a minute (a merge splits its output) to a year, and a background thread
/// that compacts every few milliseconds, or none.
fn compaction_config() -> impl Strategy<Value = (Duration, Option<Duration>)> {
    let partition = select(vec![
        Duration::from_secs(60),
        Duration::from_secs(86_400),
        Duration::from_secs(365 * 86_400),
    ]);
    let interval = prop_oneof![Just(None), Just(Some(Duration::from_millis(5)))];
    (partition, interval)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prediction_input().prop_map(Op::Track),
        3 => vec(prediction_input(), 0..6).prop_map(Op::TrackBatch),
        4 => delayed_input().prop_map(Op::TrackDelayed),
        2 => vec(delayed_input(), 0..6).prop_map(Op::TrackDelayedBatch),
        2 => aggregate_input().prop_map(Op::TrackAggregate),
        1 => vec(aggregate_input(), 0..4).prop_map(Op::TrackAggregateBatch),
        2 => (model_ref(), read_window()).prop_map(|(model, (start_ms, end_ms))| Op::Read {
            model,
            start_ms,
            end_ms,
        }),
        1 => (model_ref(), read_window()).prop_map(|(model, (start_ms, end_ms))| {
            Op::ReadAggregates {
                model,
                start_ms,
                end_ms,
            }
        }),
        1 => delayed_uuid().prop_map(Op::Lookup),
        1 => Just(Op::Orphans),
        1 => Just(Op::Flush),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => Just(Op::Compact),
    ]
}

fn model_ref() -> impl Strategy<Value = ModelRef> {
    prop_oneof![
        30 => (0..MODEL_IDS.len()).prop_map(ModelRef::Valid),
        1 => Just(ModelRef::Invalid),
    ]
}

/// UUIDs of new predictions: mostly new, sometimes from the pool, sometimes a duplicate.
fn prediction_uuid() -> impl Strategy<Value = UuidRef> {
    prop_oneof![
        6 => any::<u32>().prop_map(UuidRef::Fresh),
        3 => (0..UUID_POOL).prop_map(UuidRef::Pool),
        1 => any::<u16>().prop_map(UuidRef::Tracked),
    ]
}

/// UUIDs of delayed metrics and lookups: mostly known predictions, sometimes unknown ones.
fn delayed_uuid() -> impl Strategy<Value = UuidRef> {
    prop_oneof![
        4 => any::<u16>().prop_map(UuidRef::Tracked),
        2 => (0..UUID_POOL).prop_map(UuidRef::Pool),
        1 => any::<u32>().prop_map(UuidRef::Fresh),
    ]
}

fn prediction_input() -> impl Strategy<Value = PredictionInput> {
    (model_ref(), prediction_uuid(), timestamp(), metric_list()).prop_map(
        |(model, uuid, timestamp_ms, metrics)| PredictionInput {
            model,
            uuid,
            timestamp_ms,
            metrics,
        },
    )
}

fn delayed_input() -> impl Strategy<Value = DelayedInput> {
    (delayed_uuid(), timestamp(), metric_list()).prop_map(|(uuid, timestamp_ms, metrics)| {
        DelayedInput {
            uuid,
            timestamp_ms,
            metrics,
        }
    })
}

fn aggregate_input() -> impl Strategy<Value = AggregateInput> {
    (model_ref(), aggregate_window(), metric_list()).prop_map(
        |(model, (start_ms, end_ms), metrics)| AggregateInput {
            model,
            start_ms,
            end_ms,
            metrics,
        },
    )
}

/// Timestamps that tie, sit at the edges of i64, or are anywhere.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => T0 - 4..T0 + 4,
        2 => select(EDGE_TIMESTAMPS.to_vec()),
        1 => any::<i64>(),
    ]
}

/// Read windows: any pair, which is reversed half the time, short or empty windows, and the
/// widest window.
fn read_window() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        3 => (timestamp(), timestamp()),
        2 => (timestamp(), 0..10i64).prop_map(|(start, len)| (start, start.saturating_add(len))),
        1 => Just((i64::MIN, i64::MAX)),
    ]
}

/// Aggregate windows: mostly from a fixed list, so that windows are tracked again, and
/// sometimes any pair, which may be empty or reversed.
fn aggregate_window() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        4 => select(AGGREGATE_WINDOWS.to_vec()),
        1 => (timestamp(), timestamp()),
    ]
}

fn metric_list() -> impl Strategy<Value = MetricList> {
    prop_oneof![
        30 => valid_metric_list(),
        1 => invalid_metric_list(),
    ]
}

/// Up to five metrics with distinct names, in random order.
fn valid_metric_list() -> impl Strategy<Value = MetricList> {
    vec((select(METRIC_NAMES.to_vec()), metric_value()), 0..5).prop_map(|entries| {
        let mut list: Vec<(&'static str, MetricValue)> = Vec::new();
        for (name, value) in entries {
            if list.iter().all(|(seen, _)| *seen != name) {
                list.push((name, value));
            }
        }
        MetricList(list)
    })
}

/// Generates a metric list that every call rejects: a name twice, an empty name, or a name
/// with a control character.
fn invalid_metric_list() -> impl Strategy<Value = MetricList> {
    (valid_metric_list(), 0..3u8).prop_map(|(MetricList(mut list), fault)| {
        let value = MetricValue::Plain(Value::I64(1));
        match fault {
            0 => {
                let name = list.first().map_or("a", |(name, _)| *name);
                if list.is_empty() {
                    list.push((name, value.clone()));
                }
                list.push((name, value));
            }
            1 => list.push(("", value)),
            _ => list.push(("new\nline", value)),
        }
        MetricList(list)
    })
}

fn metric_value() -> impl Strategy<Value = MetricValue> {
    let plain = prop_oneof![
        3 => float().prop_map(Value::F64),
        3 => integer().prop_map(Value::I64),
        2 => any::<bool>().prop_map(Value::Bool),
        2 => "[a-zé ]{0,8}".prop_map(Value::Str),
        1 => vec(any::<u8>(), 0..32).prop_map(Value::Bytes),
    ];
    prop_oneof![
        4 => plain.prop_map(MetricValue::Plain),
        1 => (8usize..=48, any::<u8>()).prop_map(|(kib, seed)| MetricValue::Blob {
            len: kib * 1024,
            seed,
        }),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        1 => select(SPECIAL_FLOAT_BITS.to_vec()).prop_map(f64::from_bits),
    ]
}

fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => any::<i64>(),
        1 => select(vec![i64::MIN, i64::MAX, -1, 0, 1]),
    ]
}
