//! A tiny `target_segment_bytes` makes a compaction step rewrite its segments in many small
//! groups. The reads it leaves equal those of a step that rewrites them in one group. Both
//! agree with the reads before compaction: raw predictions, orphans, and the counts of the
//! rollups at every tier. Stores mix deletions, orphans, labels flushed segments after their
//! predictions, expiry and two rollup tiers.

use std::time::Duration;

use modelmetrics::rollup::Rollup;
use modelmetrics::{Compaction, Metrics, Options, Prediction, Retention, RollupTier, Store, Uuid};
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const MODELS: [&str; 2] = ["a", "b"];
/// Day of the prediction tracked last, which sets the data time of the policy.
const NEWEST_DAY: i64 = 12;
/// Small enough that most groups of a step are split into runs of one or two segments.
const TINY_TARGET: u64 = 512;

/// One flushed segment's worth of tracking.
#[derive(Clone, Debug)]
struct Batch {
    /// (model, day, offset in the day) of each new prediction; UUIDs are numbered in order.
    predictions: Vec<(usize, i64, i64)>,
    /// (prediction number, day of arrival, value): a number not yet tracked is an orphan.
    labels: Vec<(u64, i64, bool)>,
    deleted: Option<u64>,
}

#[derive(Clone, Debug)]
struct Case {
    batches: Vec<Batch>,
    expire: bool,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop::collection::vec((0..MODELS.len(), 0..NEWEST_DAY, 0..DAY), 0..12),
        prop::collection::vec((0..90u64, 0..NEWEST_DAY, any::<bool>()), 0..10),
        prop::option::weighted(0.2, 0..90u64),
    )
        .prop_map(|(predictions, labels, deleted)| Batch {
            predictions,
            labels,
            deleted,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(batch(), 2..10), any::<bool>())
        .prop_map(|(batches, expire)| Case { batches, expire })
}

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0x9a0f_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn options(target_segment_bytes: u64, expire: bool) -> Options {
    let days = |n: u64| Duration::from_secs(n * 86_400);
    let mut retention = Retention::keep_raw_for(days(3))
        .then(RollupTier::every(Duration::from_secs(300)).until(days(6)))
        .then(RollupTier::every(Duration::from_secs(3_600)));
    if expire {
        retention = retention.delete_after(days(11));
    }
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes,
        partition: Duration::from_secs(86_400),
        retention,
        ..Compaction::default()
    })
}

/// Tracks the case into `store`, one flush per batch, then a prediction of `NEWEST_DAY`.
/// Errors of deletions of unknown UUIDs are the same in every store, so they are ignored.
fn fill(store: &Store, case: &Case) {
    let mut next = 0u64;
    for batch in &case.batches {
        for &(model, day, offset) in &batch.predictions {
            let metrics = Metrics::new()
                .with("score", (next % 10) as f64 / 10.0)
                .with("amount", next as i64);
            let name = MODELS[model];
            store
                .track_metrics(name, uuid(next), day * DAY + offset, &metrics)
                .unwrap();
            next += 1;
        }
        for &(n, day, value) in &batch.labels {
            let label = Metrics::new().with("label", value);
            store
                .track_delayed_metrics(uuid(n), day * DAY + 7, &label)
                .unwrap();
        }
        if let Some(n) = batch.deleted {
            let _ = store.delete_prediction(uuid(n));
        }
        store.flush().unwrap();
    }
    let score = Metrics::new().with("score", 0.5);
    store
        .track_metrics("a", uuid(1 << 40), NEWEST_DAY * DAY, &score)
        .unwrap();
    store.flush().unwrap();
}

/// The reads that compaction must keep, with rollups reduced to their exact counts.
#[derive(Debug, PartialEq)]
struct Reads {
    raw: Vec<Vec<Prediction>>,
    /// (UUID, timestamp, metrics) of each orphan, sorted.
    orphans: Vec<(Uuid, i64, Metrics)>,
    rollups: Vec<Vec<RollupCounts>>,
    raw_tier_start: i64,
}

/// The fields of a rollup that do not depend on the order predictions were added in.
#[derive(Debug, PartialEq)]
struct RollupCounts {
    start_ms: i64,
    interval_ms: i64,
    predictions: u64,
    labeled: u64,
    /// Values counted per inline and delayed metric.
    counts: Vec<(String, u64)>,
    /// Predictions per label value of `label`.
    label_values: Vec<(String, u64)>,
}

fn counts(rollup: &Rollup) -> RollupCounts {
    let metrics = rollup.metrics.iter().chain(&rollup.delayed);
    let label_values = rollup.joined.get("label").map_or(Vec::new(), |join| {
        let values = join.values.iter();
        values.map(|(v, g)| (v.clone(), g.predictions)).collect()
    });
    RollupCounts {
        start_ms: rollup.start_ms,
        interval_ms: rollup.interval_ms,
        predictions: rollup.predictions,
        labeled: rollup.labeled,
        counts: metrics.map(|(n, s)| (n.clone(), s.count())).collect(),
        label_values,
    }
}

fn read(store: &Store) -> Reads {
    let raw = MODELS.iter().map(|model| {
        let rows = store.read_metrics(model, i64::MIN, i64::MAX).unwrap();
        rows.collect::<modelmetrics::Result<Vec<_>>>().unwrap()
    });
    let mut orphans: Vec<(Uuid, i64, Metrics)> = store
        .orphaned_delayed_metrics()
        .unwrap()
        .into_iter()
        .map(|o| (o.uuid, o.timestamp_ms, o.metrics))
        .collect();
    orphans.sort_by_key(|o| (o.0, o.1));
    let rollups = MODELS.iter().map(|model| {
        let stored = store.read_rollups(model, i64::MIN, i64::MAX).unwrap();
        stored.iter().map(counts).collect()
    });
    Reads {
        raw: raw.collect(),
        orphans,
        rollups: rollups.collect(),
        raw_tier_start: store.raw_tier_start().unwrap(),
    }
}

fn compacted(case: &Case, target: u64) -> (Reads, Reads) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(target, case.expire)).unwrap();
    fill(&store, case);
    let before = read(&store);
    store.compact().unwrap();
    let after = read(&store);
    store.close().unwrap();
    (before, after)
}

/// Checks `after` against the raw reads of `before`: the raw tier keeps every prediction at
/// or after its start, and the rollups count every other one that did not expire.
fn check_against_before(before: &Reads, after: &Reads, expire: bool) {
    let cutoff = after.raw_tier_start;
    let expired_before = if expire { DAY } else { i64::MIN };
    for (model, (raw_before, raw_after)) in before.raw.iter().zip(&after.raw).enumerate() {
        let raw_tier: Vec<&Prediction> = raw_before
            .iter()
            .filter(|p| p.timestamp_ms >= cutoff)
            .collect();
        let raw_tier_after: Vec<&Prediction> = raw_after.iter().collect();
        assert_eq!(raw_tier_after, raw_tier, "raw predictions of model {model}");
        let rolled = raw_before
            .iter()
            .filter(|p| (expired_before..cutoff).contains(&p.timestamp_ms));
        let labeled = rolled.clone().filter(|p| !p.delayed.is_empty()).count() as u64;
        let rollups = &after.rollups[model];
        let predictions: u64 = rollups.iter().map(|r| r.predictions).sum();
        assert_eq!(
            predictions,
            rolled.count() as u64,
            "rolled up, model {model}"
        );
        let labeled_after: u64 = rollups.iter().map(|r| r.labeled).sum();
        assert_eq!(labeled_after, labeled, "labeled in rollups, model {model}");
    }
    let orphans: Vec<_> = before
        .orphans
        .iter()
        .filter(|o| o.1 >= expired_before)
        .cloned()
        .collect();
    assert_eq!(after.orphans, orphans, "orphans");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn capped_groups_agree_with_one_group(case in case()) {
        let (before, tiny) = compacted(&case, TINY_TARGET);
        let (_, large) = compacted(&case, 1 << 30);
        check_against_before(&before, &tiny, case.expire);
        prop_assert_eq!(tiny, large);
    }
}

/// A label flushed five segments after its prediction lies in another run than the
/// prediction once the roll-up caps its groups, and is still joined.
#[test]
fn label_several_runs_later_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(TINY_TARGET, false)).unwrap();
    let score = |n: u64| Metrics::new().with("score", n as f64);
    store.track_metrics("a", uuid(0), 0, &score(0)).unwrap();
    store.flush().unwrap();
    for n in 1..=5 {
        let rows = (n * 100..n * 100 + 40).map(|i| (uuid(i), i as i64 * 1_000));
        for (id, ts) in rows {
            store.track_metrics("a", id, ts, &score(n)).unwrap();
        }
        store.flush().unwrap();
    }
    let label = Metrics::new().with("label", true);
    store.track_delayed_metrics(uuid(0), DAY, &label).unwrap();
    store
        .track_metrics("a", uuid(1 << 40), NEWEST_DAY * DAY, &score(9))
        .unwrap();
    store.flush().unwrap();
    store.compact().unwrap();

    let rollups = store.read_rollups("a", i64::MIN, DAY).unwrap();
    let predictions: u64 = rollups.iter().map(|r| r.predictions).sum();
    let labeled: u64 = rollups.iter().map(|r| r.labeled).sum();
    assert_eq!(predictions, 201);
    assert_eq!(labeled, 1);
    assert!(store.orphaned_delayed_metrics().unwrap().is_empty());
    store.close().unwrap();
}

/// Returns the number of delayed rows in the segment files of `dir`.
fn stored_delayed_rows(dir: &std::path::Path) -> usize {
    let names = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name());
    let ids =
        names.filter_map(|name| modelmetrics::segment::parse_segment_file_name(name.to_str()?));
    ids.map(|id| {
        let segment = modelmetrics::segment::Segment::open(dir, id).unwrap();
        segment.records().unwrap().delayed.len()
    })
    .sum()
}

/// A prediction whose rollup interval would not fit in the i64 range stays raw. Its label,
/// flushed runs later, is kept once, where it was, and still joins it.
#[test]
fn label_of_raw_limit_prediction_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(TINY_TARGET, false)).unwrap();
    let score = |n: u64| Metrics::new().with("score", n as f64);
    let limit = i64::MIN + 5;
    store.track_metrics("a", uuid(0), limit, &score(0)).unwrap();
    store.flush().unwrap();
    for n in 1..=5 {
        let rows = (n * 1_000..n * 1_000 + 400).map(|i| (uuid(i), i as i64 * 1_000));
        for (id, ts) in rows {
            store.track_metrics("a", id, ts, &score(n)).unwrap();
        }
        store.flush().unwrap();
    }
    let label = Metrics::new().with("label", true);
    store.track_delayed_metrics(uuid(0), DAY, &label).unwrap();
    store
        .track_metrics("a", uuid(1 << 40), NEWEST_DAY * DAY, &score(9))
        .unwrap();
    store.flush().unwrap();
    store.compact().unwrap();

    let raw: Vec<Prediction> = store
        .read_metrics("a", i64::MIN, i64::MIN + 10)
        .unwrap()
        .collect::<modelmetrics::Result<_>>()
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].delayed, label);
    store.close().unwrap();
    assert_eq!(stored_delayed_rows(dir.path()), 1);
}
