//! Compaction merges small segments without changing what reads return, and deletes records
//! by data age.

use std::path::Path;
use std::time::Duration;

use modelmetrics::manifest::Manifest;
use modelmetrics::{Compaction, Metrics, Options, Prediction, Retention, Store, Uuid};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn options(partition: Duration) -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: 1 << 30,
        partition,
        ..Compaction::default()
    })
}

fn uuid(n: u64) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 | u128::from(n))
}

/// Tracks `per_flush` predictions at hourly steps and flushes, `flushes` times. Every other
/// prediction gets a label in the next flush, and a second label, which must win, two flushes
/// later.
fn fill(store: &Store, flushes: u64, per_flush: u64) {
    for flush in 0..flushes {
        for i in 0..per_flush {
            let n = flush * per_flush + i;
            let metrics = Metrics::new().with("score", n as f64 / 100.0);
            store
                .track_metrics("m", uuid(n), n as i64 * HOUR / 4, &metrics)
                .unwrap();
        }
        if flush >= 1 {
            for i in (0..per_flush).step_by(2) {
                let n = (flush - 1) * per_flush + i;
                let label = Metrics::new().with("label", false);
                store
                    .track_delayed_metrics(uuid(n), n as i64, &label)
                    .unwrap();
            }
        }
        if flush >= 3 {
            for i in (0..per_flush).step_by(2) {
                let n = (flush - 3) * per_flush + i;
                let label = Metrics::new().with("label", true);
                store
                    .track_delayed_metrics(uuid(n), n as i64, &label)
                    .unwrap();
            }
        }
        // An orphan whose prediction never comes, and one whose prediction comes next flush.
        store
            .track_delayed_metrics(uuid(1_000_000 + flush), 1, &Metrics::new().with("x", 1i64))
            .unwrap();
        store.flush().unwrap();
    }
}

fn read_all(store: &Store) -> Vec<Prediction> {
    let rows = store.read_metrics("m", i64::MIN, i64::MAX).unwrap();
    rows.collect::<Result<Vec<_>, _>>().unwrap()
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::load(dir).unwrap().unwrap()
}

#[test]
fn merge_keeps_every_read_and_lowers_the_segment_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
    fill(&store, 8, 20);
    let before = read_all(&store);
    let orphans_before = store.orphaned_delayed_metrics().unwrap();
    let segments_before = manifest(dir.path()).segments.len();

    let steps = store.compact().unwrap();
    assert!(steps >= 1, "no compaction step ran");
    let after = manifest(dir.path());
    assert!(
        after.segments.len() < segments_before,
        "{} segments remain",
        after.segments.len()
    );
    assert!(after.last_compaction.is_some());
    assert_eq!(read_all(&store), before);
    assert_eq!(store.orphaned_delayed_metrics().unwrap(), orphans_before);
    for n in [0, 2, 57, 158] {
        assert_eq!(
            store.lookup(uuid(n)).unwrap().as_ref(),
            before.iter().find(|p| p.uuid == uuid(n))
        );
    }
    store.close().unwrap();

    let reopened = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
    assert_eq!(read_all(&reopened), before);
    assert_eq!(reopened.orphaned_delayed_metrics().unwrap(), orphans_before);
}

#[test]
fn the_latest_label_wins_after_a_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
    fill(&store, 8, 10);
    store.compact().unwrap();
    let first = store.lookup(uuid(0)).unwrap().unwrap();
    assert_eq!(first.delayed.get("label"), Some(&true.into()));
    let unlabeled_twice = store.lookup(uuid(1)).unwrap().unwrap();
    assert!(unlabeled_twice.delayed.is_empty());
}

/// Four flushes that each hold 50 rows of hour 0 and 50 of hour 5, reopened with a target
/// size of about two of their segments, so that each partition fills an output of its own.
#[test]
fn merged_output_is_split_by_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(Duration::from_secs(3_600))).unwrap();
    for flush in 0..4u64 {
        for hour in [0, 5] {
            for i in 0..50u64 {
                let n = flush * 1_000 + hour * 100 + i;
                let ts = hour as i64 * HOUR + n as i64;
                let metrics = Metrics::new().with("s", n as f64);
                store.track_metrics("m", uuid(n), ts, &metrics).unwrap();
            }
        }
        store.flush().unwrap();
    }
    let before = read_all(&store);
    store.close().unwrap();
    drop(store);
    let largest = manifest(dir.path())
        .live_files()
        .iter()
        .filter(|name| name.starts_with("seg-"))
        .map(|name| std::fs::metadata(dir.path().join(name)).unwrap().len())
        .max()
        .unwrap();
    let mut options = options(Duration::from_secs(3_600));
    options.compaction.target_segment_bytes = largest * 11 / 5;
    let store = Store::open_with(dir.path(), options).unwrap();
    assert_eq!(manifest(dir.path()).segments.len(), 4);
    store.compact().unwrap();
    assert_eq!(
        manifest(dir.path()).segments.len(),
        2,
        "one segment per partition"
    );
    assert_eq!(read_all(&store), before);
}

#[test]
fn sparse_partitions_are_joined_into_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(Duration::from_secs(3_600))).unwrap();
    for flush in 0..4u64 {
        // Every flush spans 24 hourly partitions with one row each.
        for hour in 0..24u64 {
            let n = flush * 100 + hour;
            let ts = hour as i64 * HOUR + flush as i64;
            store
                .track_metrics("m", uuid(n), ts, &Metrics::new().with("s", 1.0))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let before = read_all(&store);
    store.compact().unwrap();
    assert_eq!(manifest(dir.path()).segments.len(), 1);
    assert_eq!(read_all(&store), before);
}

#[test]
fn replaced_files_are_removed_once_unused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
    fill(&store, 6, 10);
    let reader = store.read_metrics("m", i64::MIN, i64::MAX).unwrap();
    store.compact().unwrap();
    let listed = manifest(dir.path()).live_files();
    let files = || {
        let names = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name());
        names
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.starts_with("seg-") || n.starts_with("index-"))
            .collect::<Vec<_>>()
    };
    assert!(
        files().len() > listed.len(),
        "a reader's segments were removed under it"
    );
    let read: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), 60);
    let mut remaining = files();
    remaining.sort();
    let mut expected = listed;
    expected.sort();
    assert_eq!(
        remaining, expected,
        "replaced files outlived their last reader"
    );
}

#[test]
fn records_past_the_maximum_age_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::default().delete_after(Duration::from_secs(2 * 86_400));
    let options = options(Duration::from_secs(86_400)).retention(retention);
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    for day in 0..5i64 {
        for i in 0..10u64 {
            let n = day as u64 * 10 + i;
            store
                .track_metrics(
                    "m",
                    uuid(n),
                    day * DAY + i as i64,
                    &Metrics::new().with("s", 1.0),
                )
                .unwrap();
        }
        store
            .track_aggregate_metrics(
                "m",
                day * DAY,
                (day + 1) * DAY,
                &Metrics::new().with("auc", 0.9),
            )
            .unwrap();
        store.flush().unwrap();
    }
    store.compact().unwrap();
    // The newest prediction is on day 4, so days 0 and 1 are past two days of age.
    let kept = read_all(&store);
    assert_eq!(kept.len(), 30);
    assert!(kept.iter().all(|p| p.timestamp_ms >= 2 * DAY));
    assert!(store.lookup(uuid(0)).unwrap().is_none());
    assert!(store.lookup(uuid(20)).unwrap().is_some());
    let aggregates = store
        .read_aggregate_metrics("m", i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(aggregates.len(), 3);
    assert_eq!(manifest(dir.path()).expired_before_ms, 2 * DAY);
    store.close().unwrap();
    let reopened = Store::open_with(dir.path(), options).unwrap();
    assert_eq!(read_all(&reopened).len(), 30);
}

#[test]
fn the_background_thread_merges_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(Duration::from_secs(86_400));
    options.compaction.enabled = true;
    options.compaction.check_interval = Duration::from_millis(10);
    let store = Store::open_with(dir.path(), options).unwrap();
    fill(&store, 8, 10);
    let before = read_all(&store);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while manifest(dir.path()).segments.len() >= 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        manifest(dir.path()).segments.len() < 8,
        "the thread merged nothing in 20 s"
    );
    assert_eq!(read_all(&store), before);
    store.close().unwrap();
}

mod rollups {
    use super::*;
    use modelmetrics::eval;
    use modelmetrics::rollup::estimate;
    use modelmetrics::{Retention, RollupTier};

    const MINUTES_5: Duration = Duration::from_secs(300);
    const ONE_HOUR: Duration = Duration::from_secs(3_600);

    fn policy() -> Retention {
        Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
            .then(RollupTier::every(MINUTES_5).until(Duration::from_secs(4 * 86_400)))
            .then(RollupTier::every(ONE_HOUR))
    }

    /// A score that ranks labels well but not perfectly, from a cheap hash of `n`.
    fn score_and_label(n: u64) -> (f64, bool) {
        let noise = (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f64 / (1u64 << 24) as f64;
        let label = noise < 0.4;
        let score = if label {
            0.3 + 0.7 * noise
        } else {
            0.7 * noise
        };
        (score, label)
    }

    /// Six days of predictions, one every 3 minutes, each labeled in the same flush.
    fn fill_days(store: &Store) -> Vec<(i64, f64, bool)> {
        let mut truth = Vec::new();
        for day in 0..6i64 {
            for i in 0..480u64 {
                let n = day as u64 * 480 + i;
                let ts = day * DAY + i as i64 * 180_000;
                let (score, label) = score_and_label(n);
                store
                    .track_metrics("m", uuid(n), ts, &Metrics::new().with("score", score))
                    .unwrap();
                store
                    .track_delayed_metrics(uuid(n), ts + 1, &Metrics::new().with("label", label))
                    .unwrap();
                truth.push((ts, score, label));
            }
            store.flush().unwrap();
        }
        truth
    }

    fn open(dir: &Path) -> Store {
        Store::open_with(
            dir,
            options(Duration::from_secs(86_400)).retention(policy()),
        )
        .unwrap()
    }

    #[test]
    fn old_predictions_become_rollups_with_bounded_roc_auc() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let truth = fill_days(&store);
        store.compact().unwrap();

        let manifest = manifest(dir.path());
        // The newest prediction is at day 5 plus 23.95 hours. Raw data ages out by whole
        // partitions (days 0 to 2), five-minute rollups by whole hours of the next tier.
        assert_eq!(manifest.raw_cutoff_ms, 3 * DAY);
        assert_eq!(manifest.tier_cutoffs, vec![DAY + 23 * HOUR]);
        assert!(!manifest.rollups.is_empty());
        assert!(manifest.last_compaction.is_some());

        let window = store.read_tiered("m", 0, 6 * DAY).unwrap();
        assert_eq!(window.raw_from_ms, 3 * DAY);
        let raw: Vec<_> = window.raw.collect::<Result<_, _>>().unwrap();
        assert_eq!(raw.len(), 3 * 480);
        let rolled: u64 = window.rollups.iter().map(|r| r.predictions).sum();
        assert_eq!(rolled, 3 * 480);
        let hourly = window
            .rollups
            .iter()
            .filter(|r| r.interval_ms == HOUR)
            .count();
        assert_eq!(
            hourly, 47,
            "day 0 and 23 hours of day 1 hold hourly rollups"
        );
        assert!(window.rollups.iter().all(|r| r.start_ms < 3 * DAY));

        let old: Vec<(f64, bool)> = truth
            .iter()
            .filter(|t| t.0 < 3 * DAY)
            .map(|t| (t.1, t.2))
            .collect();
        let exact = eval::roc_auc(&old).unwrap();
        let estimate = estimate::roc_auc(&window.rollups, "score", "label", "true")
            .unwrap()
            .unwrap();
        assert!(estimate.contains(exact), "{estimate:?} misses {exact}");
        assert!(
            estimate.bound < 0.05,
            "bound {} is too loose",
            estimate.bound
        );

        store.close().unwrap();
        let reopened = open(dir.path());
        let again = reopened.read_rollups("m", 0, 3 * DAY).unwrap();
        assert_eq!(again.iter().map(|r| r.predictions).sum::<u64>(), 3 * 480);
    }

    #[test]
    fn a_label_for_a_rolled_up_prediction_is_kept_as_an_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill_days(&store);
        store.compact().unwrap();
        assert!(store.lookup(uuid(0)).unwrap().is_none());
        let late = Metrics::new().with("label", true);
        store
            .track_delayed_metrics(uuid(0), 7 * DAY, &late)
            .unwrap();
        store.flush().unwrap();
        let orphans = store.orphaned_delayed_metrics().unwrap();
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].uuid, uuid(0));
        assert!(orphans[0].prediction_rolled_up);
    }

    /// Labels for each rolled-up prediction and for as many UUIDs the store never saw: the
    /// first are all marked, the second only at the filters' false-positive rate.
    #[test]
    fn late_labels_are_marked_rolled_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill_days(&store);
        store.compact().unwrap();

        let rolled = 3 * 480;
        for n in 0..rolled {
            let label = Metrics::new().with("label", true);
            store
                .track_delayed_metrics(uuid(n), 7 * DAY, &label)
                .unwrap();
            store
                .track_delayed_metrics(uuid(50_000 + n), 7 * DAY, &label)
                .unwrap();
        }

        let marked = |store: &Store| {
            let orphans = store.orphaned_delayed_metrics().unwrap();
            assert_eq!(orphans.len(), 2 * rolled as usize);
            let (of_rolled, of_unknown): (Vec<_>, Vec<_>) =
                orphans.iter().partition(|o| o.uuid < uuid(50_000));
            assert!(of_rolled.iter().all(|o| o.prediction_rolled_up));
            of_unknown.iter().filter(|o| o.prediction_rolled_up).count()
        };

        // Marked while in the head, after the flush, and after a reopen.
        let false_positives = marked(&store);
        store.flush().unwrap();
        assert_eq!(marked(&store), false_positives);
        store.close().unwrap();
        let store = open(dir.path());
        assert_eq!(marked(&store), false_positives);
        assert!(
            false_positives < 40,
            "{false_positives} of {rolled} unknown UUIDs marked"
        );
    }

    #[test]
    fn expiry_drops_expired_filters() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Retention::keep_raw_for(Duration::from_secs(86_400))
            .then(RollupTier::every(MINUTES_5))
            .delete_after(Duration::from_secs(3 * 86_400));
        let options = options(Duration::from_secs(86_400)).retention(policy);
        let store = Store::open_with(dir.path(), options).unwrap();

        let filters = |dir: &Path| -> Vec<(usize, u64)> {
            let manifest = manifest(dir);
            let files = manifest.rollups.iter();
            let files = files.map(|&id| modelmetrics::rollup::RollupFile::open(dir, id).unwrap());
            files.map(|f| f.filter_counts()).collect()
        };

        for day in 0..5i64 {
            for i in 0..48u64 {
                let n = day as u64 * 48 + i;
                let metrics = Metrics::new().with("score", 0.5);
                let ts = day * DAY + i as i64 * 30 * 60_000;
                store.track_metrics("m", uuid(n), ts, &metrics).unwrap();
            }
            store.flush().unwrap();
            store.compact().unwrap();
            let stored: u64 = filters(dir.path()).iter().map(|f| f.1).sum();
            // Once day d is filled, days before d - 1 are rolled up, and days before d - 3
            // are deleted, with the filter of each one's roll-up.
            let expected = ((day - 1) - (day - 3).max(0)).max(0) as u64 * 48;
            assert_eq!(stored, expected, "after day {day}");
        }

        let label = Metrics::new().with("label", true);
        store
            .track_delayed_metrics(uuid(0), 9 * DAY, &label)
            .unwrap();
        store
            .track_delayed_metrics(uuid(2 * 48), 9 * DAY, &label)
            .unwrap();
        let orphans = store.orphaned_delayed_metrics().unwrap();
        let marks: Vec<(Uuid, bool)> = orphans
            .iter()
            .map(|o| (o.uuid, o.prediction_rolled_up))
            .collect();
        assert_eq!(marks, [(uuid(0), false), (uuid(2 * 48), true)]);
    }

    #[test]
    fn a_late_prediction_below_the_cutoff_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill_days(&store);
        store.compact().unwrap();
        let metrics = Metrics::new().with("score", 0.5);
        store
            .track_metrics("m", uuid(99_999), 2 * DAY + 7, &metrics)
            .unwrap();
        store.flush().unwrap();
        let count = |store: &Store| {
            let window = store.read_tiered("m", 0, 6 * DAY).unwrap();
            let rolled: u64 = window.rollups.iter().map(|r| r.predictions).sum();
            rolled + window.raw.count() as u64
        };
        // Until the next compaction the read rolls it up itself, into the stored rollup of its
        // interval.
        assert_eq!(count(&store), 6 * 480 + 1);
        // The five minutes from day 2 hold the predictions at 0 and 3 minutes, and the late one.
        let interval_start = 2 * DAY;
        let stored = store
            .read_tiered("m", interval_start, interval_start + 8)
            .unwrap();
        assert_eq!(stored.rollups.len(), 1, "one rollup per interval");
        assert_eq!(stored.rollups[0].predictions, 3);
        store.compact().unwrap();
        assert_eq!(store.read_metrics("m", 0, 3 * DAY).unwrap().count(), 0);
        assert_eq!(count(&store), 6 * 480 + 1);
    }
}

#[test]
fn raw_retention_without_a_tier_is_rejected_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400));
    let result = Store::open_with(dir.path(), Options::default().retention(retention));
    let message = result
        .err()
        .expect("open accepted raw_for without tiers")
        .to_string();
    assert!(message.contains("Retention::raw_for"), "{message}");
    assert!(message.contains("delete_after"), "{message}");
}

#[test]
fn a_tier_that_is_not_a_multiple_is_rejected_on_open() {
    use modelmetrics::RollupTier;
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400))
        .then(RollupTier::every(Duration::from_secs(300)).until(Duration::from_secs(9 * 86_400)))
        .then(RollupTier::every(Duration::from_secs(420)));
    let result = Store::open_with(dir.path(), Options::default().retention(retention));
    let message = result
        .err()
        .expect("open accepted a 7-minute tier after 5")
        .to_string();
    assert!(message.contains("multiple"), "{message}");
}

mod deletion {
    use super::*;

    #[test]
    fn a_deleted_prediction_disappears_at_once_and_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
        fill(&store, 6, 10);
        let before = read_all(&store);
        store.delete_prediction(uuid(4)).unwrap();
        assert!(store.lookup(uuid(4)).unwrap().is_none());
        let after = read_all(&store);
        assert_eq!(after.len(), before.len() - 1);
        assert!(after.iter().all(|p| p.uuid != uuid(4)));
        assert_eq!(
            manifest(dir.path()).deletions.len(),
            1,
            "the deletion is pending"
        );

        store.compact().unwrap();
        assert!(
            manifest(dir.path()).deletions.is_empty(),
            "the purge finished the deletion"
        );
        assert_eq!(read_all(&store), after);
        // No segment holds the UUID any more: read every record of every live segment.
        for id in manifest(dir.path()).segments {
            let segment = modelmetrics::segment::Segment::open(dir.path(), id).unwrap();
            let records = segment.records().unwrap();
            assert!(records.predictions.iter().all(|p| p.uuid != uuid(4)));
        }
        store.close().unwrap();
        let reopened = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
        assert_eq!(read_all(&reopened), after);
    }

    #[test]
    fn a_deletion_survives_a_reopen_before_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
        fill(&store, 2, 10);
        store.delete_prediction(uuid(3)).unwrap();
        drop(store);
        let reopened = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
        assert!(reopened.lookup(uuid(3)).unwrap().is_none());
        assert_eq!(read_all(&reopened).len(), 19);
    }

    #[test]
    fn a_deleted_model_loses_everything_tracked_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options(Duration::from_secs(86_400))).unwrap();
        fill(&store, 4, 10);
        let other = Metrics::new().with("s", 1.0);
        store.track_metrics("other", uuid(500), 1, &other).unwrap();
        store
            .track_aggregate_metrics("m", 0, 10, &Metrics::new().with("auc", 0.5))
            .unwrap();
        store.delete_model("m").unwrap();
        assert!(read_all(&store).is_empty());
        assert!(
            store
                .read_aggregate_metrics("m", i64::MIN, i64::MAX)
                .unwrap()
                .is_empty()
        );
        store.track_metrics("m", uuid(600), 2, &other).unwrap();
        assert_eq!(
            read_all(&store).len(),
            1,
            "a prediction tracked after the deletion stays"
        );
        store.compact().unwrap();
        assert!(manifest(dir.path()).deletions.is_empty());
        assert_eq!(read_all(&store).len(), 1);
        assert!(store.lookup(uuid(500)).unwrap().is_some());
        assert!(store.lookup(uuid(0)).unwrap().is_none());
    }
}

/// Random predictions, labels and orphans; deletions of random predictions and of one model,
/// with flushes, compactions and reopens in between. The store must agree with a plain map at
/// every check. Deleted UUIDs get no further records, whose fate the store leaves open.
#[test]
fn random_deletions_agree_with_a_model() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let open = || Store::open_with(dir.path(), options(Duration::from_secs(3_600))).unwrap();
    let mut store = open();
    // uuid -> (model, timestamp, score, latest label)
    let mut model: BTreeMap<Uuid, (String, i64, f64, Option<bool>)> = BTreeMap::new();
    let mut next = 0u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    for round in 0..40 {
        for _ in 0..random(30) {
            let name = if random(4) == 0 { "other" } else { "m" };
            let ts = random(48) as i64 * HOUR + random(1000) as i64;
            let score = random(100) as f64 / 100.0;
            store
                .track_metrics(name, uuid(next), ts, &Metrics::new().with("s", score))
                .unwrap();
            model.insert(uuid(next), (name.to_owned(), ts, score, None));
            next += 1;
        }
        let live: Vec<Uuid> = model.keys().copied().collect();
        for _ in 0..random(20) {
            if live.is_empty() {
                break;
            }
            let target = live[random(live.len() as u64) as usize];
            let label = random(2) == 0;
            store
                .track_delayed_metrics(target, 0, &Metrics::new().with("l", label))
                .unwrap();
            if let Some(entry) = model.get_mut(&target) {
                entry.3 = Some(label);
            }
        }
        for _ in 0..random(3) {
            if live.is_empty() {
                break;
            }
            let target = live[random(live.len() as u64) as usize];
            store.delete_prediction(target).unwrap();
            model.remove(&target);
        }
        if round == 25 {
            store.delete_model("other").unwrap();
            model.retain(|_, entry| entry.0 != "other");
        }
        match random(4) {
            0 => store.flush().unwrap(),
            1 => {
                store.flush().unwrap();
                store.compact().unwrap();
            }
            2 if round % 5 == 0 => {
                store.close().unwrap();
                drop(store);
                store = open();
            }
            _ => {}
        }
        let rows = read_all(&store);
        let mut other: Vec<_> = store
            .read_metrics("other", i64::MIN, i64::MAX)
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        let mut all = rows;
        all.append(&mut other);
        let found: BTreeMap<Uuid, (String, i64, f64, Option<bool>)> = all
            .into_iter()
            .map(|p| {
                let score = p.metrics.get("s").and_then(|v| v.as_f64()).unwrap();
                let label = p.delayed.get("l").and_then(|v| v.as_bool());
                (p.uuid, (p.model, p.timestamp_ms, score, label))
            })
            .collect();
        assert_eq!(found, model, "round {round}");
        for (uuid, entry) in model.iter().take(5) {
            let looked_up = store.lookup(*uuid).unwrap().unwrap();
            assert_eq!(looked_up.timestamp_ms, entry.1, "round {round}");
        }
    }
    store.flush().unwrap();
    store.compact().unwrap();
    assert!(
        manifest(dir.path()).deletions.is_empty(),
        "every deletion was purged"
    );
}

#[test]
fn a_job_leaves_rolled_up_windows_alone() {
    use modelmetrics::RollupTier;
    use modelmetrics::jobs::{Job, JobConfig, WindowScheme};
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
        .then(RollupTier::every(Duration::from_secs(3_600)));
    let store = Store::open_with(
        dir.path(),
        options(Duration::from_secs(86_400)).retention(retention),
    )
    .unwrap();
    for day in 0..5i64 {
        for i in 0..20u64 {
            let n = day as u64 * 100 + i;
            let ts = day * DAY + i as i64 * HOUR;
            store
                .track_metrics("m", uuid(n), ts, &Metrics::new().with("score", 0.5))
                .unwrap();
            store
                .track_delayed_metrics(uuid(n), ts, &Metrics::new().with("label", i % 2 == 0))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let config = JobConfig::builder("m")
        .score("score")
        .label("label")
        .windows(WindowScheme::Days)
        .range(0, 5 * DAY)
        .build()
        .unwrap();
    let job = Job::prepare(&store, config.clone()).unwrap();
    assert_eq!(job.run(&store).unwrap().len(), 5);
    store.compact().unwrap();
    // The newest prediction is at day 4 plus 19 hours: days 0 and 1 are rolled up.
    assert_eq!(store.raw_tier_start().unwrap(), 2 * DAY);
    let reports = Job::prepare(&store, config).unwrap().run(&store).unwrap();
    assert_eq!(reports.len(), 3, "days 2 to 4 only");
    let day_0 = store.read_aggregate_metrics("m", 0, DAY).unwrap();
    assert_eq!(
        day_0[0].metrics.get("rows").and_then(|v| v.as_i64()),
        Some(20)
    );
    let first = job.windows().next().unwrap();
    assert!(job.run_window(&store, first).is_err());
}

#[test]
fn contradictory_policies_are_rejected_on_open() {
    use modelmetrics::RollupTier;
    const DAY_SECONDS: u64 = 86_400;
    let days = |n: u64| Duration::from_secs(n * DAY_SECONDS);
    let minutes_5 = Duration::from_secs(300);
    let cases = [
        (
            Retention::keep_raw_for(days(5))
                .then(RollupTier::every(minutes_5).until(days(1)))
                .then(RollupTier::every(Duration::from_secs(3_600))),
            "keep_until",
        ),
        (
            Retention::keep_raw_for(days(5))
                .then(RollupTier::every(minutes_5))
                .delete_after(days(2)),
            "max_age",
        ),
        (
            Retention::default().then(RollupTier::every(minutes_5)),
            "keep_raw_for",
        ),
        (
            Retention::keep_raw_for(days(5)).then(RollupTier::every(Duration::from_micros(1_500))),
            "whole number of milliseconds",
        ),
    ];
    for (retention, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let result = Store::open_with(dir.path(), Options::default().retention(retention.clone()));
        let message = result
            .err()
            .unwrap_or_else(|| panic!("{retention:?} was accepted"))
            .to_string();
        assert!(message.contains(expected), "{retention:?}: {message}");
    }
}

/// A prediction whose rollup interval would not fit in i64 stays raw, and the rest of the
/// policy, merges included, still runs.
#[test]
fn timestamps_at_the_limits_do_not_stop_compaction() {
    use modelmetrics::RollupTier;
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
        .then(RollupTier::every(Duration::from_secs(300)));
    let store = Store::open_with(
        dir.path(),
        options(Duration::from_secs(86_400)).retention(retention),
    )
    .unwrap();
    let metrics = Metrics::new().with("score", 0.5);
    for flush in 0..5u64 {
        store
            .track_metrics("m", uuid(flush), i64::MIN + flush as i64, &metrics)
            .unwrap();
        store
            .track_metrics("m", uuid(100 + flush), flush as i64 * DAY, &metrics)
            .unwrap();
        store.flush().unwrap();
    }
    store.compact().unwrap();
    store.compact().unwrap();
    let manifest = manifest(dir.path());
    assert!(
        manifest.segments.len() < 5,
        "{} segments: nothing merged",
        manifest.segments.len()
    );
    let window = store.read_tiered("m", i64::MIN, i64::MAX).unwrap();
    let raw: Vec<_> = window.raw.collect::<Result<_, _>>().unwrap();
    let rolled: u64 = window.rollups.iter().map(|r| r.predictions).sum();
    // The five at i64::MIN fit in no rollup: they stay raw, outside `read_tiered`.
    assert_eq!(raw.len() as u64 + rolled, 5);
    assert_eq!(
        store
            .read_metrics("m", i64::MIN, i64::MIN + 10)
            .unwrap()
            .count(),
        5
    );
}
