//! Late delayed metrics for rolled-up predictions stay marked `prediction_rolled_up` through
//! the compaction steps that rewrite rollup files: coarsening, model deletion and expiry. The
//! marks also survive merges, reopens, read-only views and checkpoints. Expiry drops a filter
//! only once its newest prediction is past the cutoff, even when every rollup it came with is
//! gone. Damaged filter bytes are reported as corruption.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use modelmetrics::manifest::Manifest;
use modelmetrics::rollup::{RollupFile, rollup_file_name};
use modelmetrics::{
    Compaction, Error, Metrics, NewDelayed, Options, Retention, RollupTier, Store, Uuid,
};
use support::uuid;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const MODELS: [&str; 2] = ["a", "b"];
/// First of the UUIDs that no prediction has.
const UNKNOWN: u128 = 1 << 40;

fn days(count: u64) -> Duration {
    Duration::from_secs(count * 86_400)
}

fn options(retention: Retention, partition: Duration) -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: 1 << 30,
        partition,
        retention,
        ..Compaction::default()
    })
}

/// Raw for a day, then 5-minute rollups for two days, then hourly rollups.
fn coarsening_options() -> Options {
    let retention = Retention::keep_raw_for(days(1))
        .then(RollupTier::every(Duration::from_secs(300)).until(days(2)))
        .then(RollupTier::every(Duration::from_secs(3_600)));
    options(retention, days(1))
}

/// Tracks 24 predictions of each model on day `day`, one an hour, and flushes. Prediction `n`
/// of the store has `uuid(n)`.
fn track_day(store: &Store, day: i64) {
    for hour in 0..24 {
        for (m, model) in MODELS.iter().enumerate() {
            let n = ((day * 24 + hour) * 2) as u128 + m as u128;
            let metrics = Metrics::new().with("score", hour as f64 / 24.0);
            store
                .track_metrics(model, uuid(n), day * DAY + hour * HOUR, &metrics)
                .unwrap();
        }
    }
    store.flush().unwrap();
}

/// Returns the UUIDs of the predictions tracked by `track_day` before `before_ms`.
fn tracked_before(before_ms: i64) -> Vec<Uuid> {
    let count = before_ms.div_euclid(HOUR) * 2;
    (0..count.max(0) as u128).map(uuid).collect()
}

/// Tracks one label for each of `uuids`, `per_flush` at a time, flushing after each group
/// when `flush` is set.
fn track_labels(store: &Store, uuids: &[Uuid], per_flush: usize, flush: bool) {
    for group in uuids.chunks(per_flush.max(1)) {
        let labels: Vec<NewDelayed> = group
            .iter()
            .map(|&uuid| NewDelayed {
                uuid,
                timestamp_ms: 30 * DAY,
                metrics: Metrics::new().with("label", true),
            })
            .collect();
        store.track_delayed_metrics_batch(&labels).unwrap();
        if flush {
            store.flush().unwrap();
        }
    }
}

/// Returns each orphan's UUID with its `prediction_rolled_up` mark.
fn marks(orphans: &[modelmetrics::OrphanedDelayed]) -> BTreeMap<Uuid, bool> {
    orphans
        .iter()
        .map(|o| (o.uuid, o.prediction_rolled_up))
        .collect()
}

/// Asserts that every UUID of `rolled_up` is listed and marked.
fn assert_marked(marks: &BTreeMap<Uuid, bool>, rolled_up: &[Uuid], context: &str) {
    for uuid in rolled_up {
        assert_eq!(marks.get(uuid), Some(&true), "{context}: label of {uuid}");
    }
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::load(dir).unwrap().unwrap()
}

/// Returns, per rollup file of the manifest, its rollup count and the predictions its filters
/// hold.
fn rollup_files(dir: &Path) -> Vec<(usize, u64)> {
    manifest(dir)
        .rollups
        .iter()
        .map(|&id| {
            let file = RollupFile::open(dir, id).unwrap();
            (file.rollup_count(), file.filter_counts().1)
        })
        .collect()
}

/// Returns the rollups of every model, as (model, interval, start, predictions).
fn rollups(store: &Store) -> Vec<(String, i64, i64, u64)> {
    let mut all = Vec::new();
    for model in MODELS {
        for r in store.read_rollups(model, i64::MIN, i64::MAX).unwrap() {
            all.push((r.model.clone(), r.interval_ms, r.start_ms, r.predictions));
        }
    }
    all
}

#[test]
fn coarsening_and_merges_keep_every_mark() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = Store::open_with(&dir, coarsening_options()).unwrap();
    for day in 0..5 {
        track_day(&store, day);
        store.compact().unwrap();
    }
    // A view opened before the last compaction, which replaces every rollup file.
    let early_view = Store::open_read_only(&dir).unwrap();
    track_day(&store, 5);
    store.compact().unwrap();
    // Days 0 to 3 are rolled up, one day per roll-up, and the oldest of their 5-minute rollups
    // were coarsened to hourly ones, which rewrote every rollup file into one.
    let raw_cutoff = store.raw_tier_start().unwrap();
    assert_eq!(raw_cutoff, 4 * DAY);
    let hourly = rollups(&store).iter().filter(|r| r.1 == HOUR).count();
    assert!(hourly > 0, "no hourly rollup");
    let rolled_up = tracked_before(raw_cutoff);
    let files = rollup_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, rolled_up.len() as u64, "predictions in filters");

    // Labels in eight flushes, so that compaction merges their segments.
    let unknown: Vec<Uuid> = (UNKNOWN..UNKNOWN + 200).map(uuid).collect();
    track_labels(&store, &rolled_up, rolled_up.len() / 4 + 1, false);
    let in_head = marks(&store.orphaned_delayed_metrics().unwrap());
    assert_marked(&in_head, &rolled_up, "in the head");
    let view = Store::open_read_only(&dir).unwrap();
    let in_log = marks(&view.orphaned_delayed_metrics().unwrap());
    assert_eq!(in_log, in_head, "read-only view of the log");
    track_labels(&store, &rolled_up, rolled_up.len() / 4 + 1, true);
    track_labels(&store, &unknown, 50, true);
    let segments = manifest(&dir).segments.len();
    store.compact().unwrap();
    assert!(manifest(&dir).segments.len() < segments, "no merge ran");

    let expected = marks(&store.orphaned_delayed_metrics().unwrap());
    assert_marked(&expected, &rolled_up, "after merges");
    let false_positives = unknown.iter().filter(|u| expected[*u]).count();
    assert!(
        false_positives < 40,
        "{false_positives} of 200 unknown marked"
    );

    let view = Store::open_read_only(&dir).unwrap();
    let read_only = marks(&view.orphaned_delayed_metrics().unwrap());
    assert_eq!(read_only, expected, "read-only view");
    early_view.refresh().unwrap();
    let refreshed = marks(&early_view.orphaned_delayed_metrics().unwrap());
    assert_eq!(refreshed, expected, "refreshed read-only view");
    let checkpoint = root.path().join("checkpoint");
    store.checkpoint(&checkpoint).unwrap();
    store.close().unwrap();
    let reopened = Store::open_with(&dir, coarsening_options()).unwrap();
    let after_reopen = marks(&reopened.orphaned_delayed_metrics().unwrap());
    assert_eq!(after_reopen, expected, "after a reopen");
    let copy = Store::open_with(&checkpoint, coarsening_options()).unwrap();
    let in_checkpoint = marks(&copy.orphaned_delayed_metrics().unwrap());
    assert_eq!(in_checkpoint, expected, "in the checkpoint");
}

#[test]
fn model_deletion_keeps_the_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
    for day in 0..3 {
        track_day(&store, day);
    }
    store.compact().unwrap();
    let rolled_up = tracked_before(store.raw_tier_start().unwrap());
    assert!(!rolled_up.is_empty());

    store.delete_model("a").unwrap();
    store.compact().unwrap();
    assert!(
        store
            .read_rollups("a", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .read_rollups("b", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    let in_filters: u64 = rollup_files(dir.path()).iter().map(|f| f.1).sum();
    assert_eq!(in_filters, rolled_up.len() as u64, "predictions in filters");

    // Labels for the rolled-up predictions of both models, the deleted one included.
    track_labels(&store, &rolled_up, rolled_up.len(), true);
    let found = marks(&store.orphaned_delayed_metrics().unwrap());
    assert_marked(&found, &rolled_up, "after the deletion");
}

/// A prediction tracked after the roll-up with a timestamp below the raw tier is rolled up
/// by a later step of its own, which adds a filter of its own.
#[test]
fn late_roll_up_adds_a_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
    for day in 0..3 {
        track_day(&store, day);
    }
    store.compact().unwrap();
    let raw_cutoff = store.raw_tier_start().unwrap();
    let late = uuid(UNKNOWN + 1);
    store
        .track_metrics(
            "b",
            late,
            raw_cutoff - HOUR,
            &Metrics::new().with("score", 1.0),
        )
        .unwrap();
    store.flush().unwrap();
    store.compact().unwrap();
    assert!(
        store.lookup(late).unwrap().is_none(),
        "the late prediction stayed raw"
    );
    let in_filters: u64 = rollup_files(dir.path()).iter().map(|f| f.1).sum();
    assert_eq!(in_filters, tracked_before(raw_cutoff).len() as u64 + 1);

    track_labels(&store, &[late], 1, false);
    let found = marks(&store.orphaned_delayed_metrics().unwrap());
    assert_eq!(
        found.get(&late),
        Some(&true),
        "label of the late prediction"
    );
}

/// Expiry by hourly partitions with daily rollups: a rollup that starts before the expiry
/// cutoff goes, but the filter of its roll-up contains predictions after the cutoff and stays,
/// alone in its file, until its newest prediction expires too.
#[test]
fn expiry_keeps_filter_of_expired_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::keep_raw_for(days(1))
        .then(RollupTier::every(days(1)))
        .delete_after(days(3));
    let options = options(retention, Duration::from_secs(3_600));
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    let day_2: Vec<Uuid> = (0..24).map(uuid).collect();
    for (hour, uuid) in day_2.iter().enumerate() {
        let ts = 2 * DAY + hour as i64 * HOUR;
        store
            .track_metrics("a", *uuid, ts, &Metrics::new().with("score", 0.5))
            .unwrap();
    }
    // Each prediction of `clock` moves data time on without being rolled up by the next step.
    let clock = |n: u128, ts: i64| {
        store
            .track_metrics("a", uuid(1_000 + n), ts, &Metrics::new().with("score", 0.5))
            .unwrap();
        store.flush().unwrap();
        store.compact().unwrap();
    };

    // Day 2 is rolled up into one daily rollup and one filter.
    clock(0, 4 * DAY + 12 * HOUR);
    assert_eq!(rollup_files(dir.path()), [(1, 24)]);

    // The expiry cutoff moves to 2d 12h: the rollup of day 2 starts before it, but half of the
    // filter's predictions are after it.
    clock(1, 5 * DAY + 12 * HOUR);
    assert!(rollups(&store).is_empty(), "{:?}", rollups(&store));
    assert_eq!(rollup_files(dir.path()), [(0, 24)]);
    let late = &day_2[13..];
    track_labels(&store, late, late.len(), true);
    assert_marked(
        &marks(&store.orphaned_delayed_metrics().unwrap()),
        late,
        "before a reopen",
    );
    store.close().unwrap();
    let store = Store::open_with(dir.path(), options).unwrap();
    let found = marks(&store.orphaned_delayed_metrics().unwrap());
    assert_marked(&found, late, "after a reopen");

    // Once the cutoff passes the newest prediction of day 2, the filter goes as well.
    store
        .track_metrics("a", uuid(1_002), 6 * DAY + 12 * HOUR, &Metrics::new())
        .unwrap();
    store.flush().unwrap();
    store.compact().unwrap();
    let files = rollup_files(dir.path());
    assert!(files.iter().all(|f| f.1 < 24), "{files:?}");
}

/// Finds the stored bits of the filters of rollup file `id`: they lie right before the
/// directory, whose offset is the first field of the trailer.
fn filter_bytes(dir: &Path, id: u64) -> std::ops::Range<usize> {
    let file = RollupFile::open(dir, id).unwrap();
    let stored: u64 = file
        .filters()
        .unwrap()
        .iter()
        .map(|f| f.stored_bytes())
        .sum();
    let bytes = fs::read(dir.join(rollup_file_name(id))).unwrap();
    let trailer = bytes.len() - 28;
    let directory = u64::from_le_bytes(bytes[trailer..trailer + 8].try_into().unwrap());
    (directory - stored) as usize..directory as usize
}

#[test]
fn damaged_filter_bits_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
    for day in 0..3 {
        track_day(&store, day);
    }
    store.compact().unwrap();
    track_labels(&store, &[uuid(0)], 1, true);
    store.close().unwrap();
    let [id] = manifest(dir.path()).rollups[..] else {
        panic!("expected one rollup file");
    };
    let range = filter_bytes(dir.path(), id);
    let path = dir.path().join(rollup_file_name(id));
    let original = fs::read(&path).unwrap();

    let step = (range.len() / 40).max(1);
    for position in range.step_by(step) {
        let mut damaged = original.clone();
        damaged[position] ^= 0x10;
        fs::write(&path, &damaged).unwrap();
        let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
        let listed = store.orphaned_delayed_metrics();
        assert!(
            matches!(listed, Err(Error::Corruption { .. })),
            "byte {position}: {listed:?}"
        );
        let view = Store::open_read_only(dir.path()).unwrap();
        let listed = view.orphaned_delayed_metrics();
        assert!(
            matches!(listed, Err(Error::Corruption { .. })),
            "byte {position}, read-only: {listed:?}"
        );
        // A rewrite of the rollup files reads every filter.
        store.delete_model("b").unwrap();
        let compacted = store.compact();
        assert!(
            matches!(compacted, Err(Error::Corruption { .. })),
            "byte {position}, compaction: {compacted:?}"
        );
        store.close().unwrap();
        fs::write(&path, &original).unwrap();
    }
}

/// A label that was adopted and then rolled up with its prediction is counted in the rollup.
/// The orphan row it was first stored as lies in a segment that the roll-up does not rewrite.
#[test]
fn adopted_label_stays_joined_after_roll_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
    let adopted = uuid(UNKNOWN);
    let label = Metrics::new().with("label", true);
    store.track_delayed_metrics(adopted, 5, &label).unwrap();
    store.flush().unwrap();
    store
        .track_metrics("a", adopted, 0, &Metrics::new().with("score", 0.5))
        .unwrap();
    store.flush().unwrap();
    track_day(&store, 2);
    store.compact().unwrap();
    let rolled: Vec<(i64, u64, u64)> = store
        .read_rollups("a", 0, DAY)
        .unwrap()
        .iter()
        .map(|r| (r.start_ms, r.predictions, r.labeled))
        .collect();
    assert_eq!(rolled, [(0, 1, 1)], "the label is joined in the rollup");
    let listed = store.orphaned_delayed_metrics().unwrap();
    assert!(listed.is_empty(), "after the roll-up: {listed:?}");

    store.close().unwrap();
    let store = Store::open_with(dir.path(), coarsening_options()).unwrap();
    let listed = store.orphaned_delayed_metrics().unwrap();
    assert!(listed.is_empty(), "after a reopen: {listed:?}");

    let late = Metrics::new().with("label", false);
    store
        .track_delayed_metrics(adopted, 30 * DAY, &late)
        .unwrap();
    store.flush().unwrap();
    let listed = store.orphaned_delayed_metrics().unwrap();
    let timestamps: Vec<i64> = listed.iter().map(|o| o.timestamp_ms).collect();
    assert_eq!(timestamps, [30 * DAY], "after a late label");
}
