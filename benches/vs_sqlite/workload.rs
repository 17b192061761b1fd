//! The generated workload: predictions, their labels and hourly aggregate windows, all drawn
//! from one seeded ChaCha8 generator so that every run and both stores see the same data.

use modelmetrics::Uuid;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Model id of every generated prediction.
pub const MODEL: &str = "m";
/// Records per batch call, and rows per SQLite transaction.
pub const BATCH_LEN: usize = 10_000;
/// Seed of the workload generator.
pub const SEED: u64 = 0x6d6d_6265_6e63_6801;

pub const MS_PER_HOUR: i64 = 3_600_000;
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
/// Simulated days that the ingested predictions span.
pub const DAYS: i64 = 7;
/// 2024-01-01T00:00:00Z, the timestamp of the first simulated day.
pub const START_MS: i64 = 1_704_067_200_000;
/// Share of the predictions that get a label.
const LABELLED_FRACTION: f64 = 0.2;
/// A label arrives between these numbers of ms after its prediction.
const LABEL_DELAY_MS: std::ops::RangeInclusive<i64> = MS_PER_HOUR..=3 * MS_PER_DAY;
/// Largest `tenure`, in days.
const MAX_TENURE_DAYS: u32 = 365;

/// One generated prediction: its UUID, timestamp and four inline metrics.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    /// Model score in [0, 1], rounded to 3 decimals, so many rows share a score.
    pub score: f64,
    /// Log-normal amount, rounded to cents.
    pub amount: f64,
    /// Uniform in [0, 1), full precision.
    pub ratio: f64,
    /// Whole days in 0..=365, as f64.
    pub tenure: f64,
    /// Ground truth drawn with probability `score` of being true; only labelled rows send it.
    pub truth: bool,
}

/// A label tracked later for one prediction, as delayed metric `label`.
#[derive(Clone, Copy, Debug)]
pub struct Label {
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub label: bool,
}

/// Aggregate window `[start_ms, end_ms)` with its two aggregate metrics.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
    pub roc_auc: f64,
    pub predictions: i64,
}

/// The rows of W1, the labels of W2 (a random 20 %, in random order) and the 168 hourly
/// windows of W4.
pub struct Workload {
    pub rows: Vec<Row>,
    pub labels: Vec<Label>,
    pub windows: Vec<Window>,
}

/// Draws rows: UUID v4 from the generator's bytes, metrics as `Row` documents.
pub struct RowGenerator {
    rng: ChaCha8Rng,
}

impl RowGenerator {
    pub fn new(seed: u64) -> Self {
        RowGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn row(&mut self, timestamp_ms: i64) -> Row {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let score = (self.rng.random::<f64>() * 1000.0).round() / 1000.0;
        Row {
            uuid: uuid::Builder::from_random_bytes(bytes).into_uuid(),
            timestamp_ms,
            score,
            amount: (self.lognormal_amount() * 100.0).round() / 100.0,
            ratio: self.rng.random::<f64>(),
            tenure: f64::from(self.rng.random_range(0..=MAX_TENURE_DAYS)),
            truth: self.rng.random::<f64>() < score,
        }
    }

    /// Returns `count` rows starting at `start_ms`, one per `spacing_ms` on average, each at a
    /// uniformly jittered point of its slot, so timestamps never decrease.
    pub fn rows(&mut self, count: usize, start_ms: i64, spacing_ms: f64) -> Vec<Row> {
        (0..count)
            .map(|i| {
                let slot = i as f64 + self.rng.random::<f64>();
                self.row(start_ms + (slot * spacing_ms) as i64)
            })
            .collect()
    }

    /// Returns a log-normal amount with median e^3.5 (about 33): the exponential of an
    /// approximately normal variable, the sum of 12 uniforms minus 6.
    fn lognormal_amount(&mut self) -> f64 {
        let normal: f64 = (0..12).map(|_| self.rng.random::<f64>()).sum::<f64>() - 6.0;
        (3.5 + normal).exp()
    }
}

impl Workload {
    /// Generates `count` predictions spread over `DAYS` days, so the spacing is 604.8 ms on
    /// average for 1,000,000 predictions.
    pub fn generate(count: usize) -> Workload {
        let mut generator = RowGenerator::new(SEED);
        let spacing_ms = (DAYS * MS_PER_DAY) as f64 / count.max(1) as f64;
        let rows = generator.rows(count, START_MS, spacing_ms);
        let labels = labels(&rows, &mut generator.rng);
        let windows = windows(&mut generator.rng);
        Workload {
            rows,
            labels,
            windows,
        }
    }
}

fn labels(rows: &[Row], rng: &mut ChaCha8Rng) -> Vec<Label> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(rng);
    order.truncate((rows.len() as f64 * LABELLED_FRACTION) as usize);
    order
        .into_iter()
        .filter_map(|i| rows.get(i))
        .map(|row| Label {
            uuid: row.uuid,
            timestamp_ms: row.timestamp_ms + rng.random_range(LABEL_DELAY_MS),
            label: row.truth,
        })
        .collect()
}

fn windows(rng: &mut ChaCha8Rng) -> Vec<Window> {
    (0..DAYS * 24)
        .map(|hour| Window {
            start_ms: START_MS + hour * MS_PER_HOUR,
            end_ms: START_MS + (hour + 1) * MS_PER_HOUR,
            roc_auc: rng.random::<f64>(),
            predictions: rng.random_range(5_000..7_000),
        })
        .collect()
}
