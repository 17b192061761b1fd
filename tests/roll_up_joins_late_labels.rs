//! A roll-up joins each prediction with the delayed metrics stored for it, wherever they lie:
//! in the prediction's segment or in one flushed later, after segments of newer predictions.
//! A joined label counts in the rollup's `labeled`, and is not listed as an orphan.

use std::time::Duration;

use modelmetrics::{Compaction, Metrics, Options, Retention, RollupTier, Store, Uuid};

const DAY: i64 = 86_400_000;

fn options() -> Options {
    let retention = Retention::keep_raw_for(Duration::from_secs(86_400))
        .then(RollupTier::every(Duration::from_secs(300)));
    Options::default().compaction(Compaction {
        enabled: false,
        target_segment_bytes: 1 << 30,
        partition: Duration::from_secs(86_400),
        retention,
        ..Compaction::default()
    })
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x1abe_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// Tracks prediction 1 at time 0 and flushes, then runs `between`. Then tracks a label for
/// prediction 1 and a prediction of day 3, flushes, and rolls up day 0. Returns the
/// (predictions, labeled) counts of the rollups of day 0 and the number of orphans.
fn roll_up_with_label_after(between: impl FnOnce(&Store)) -> ((u64, u64), usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    let score = Metrics::new().with("score", 0.5);
    store.track_metrics("m", uuid(1), 0, &score).unwrap();
    store.flush().unwrap();
    between(&store);
    let label = Metrics::new().with("label", true);
    store
        .track_delayed_metrics(uuid(1), 3 * DAY, &label)
        .unwrap();
    store.track_metrics("m", uuid(3), 3 * DAY, &score).unwrap();
    store.flush().unwrap();
    let joined = store.lookup(uuid(1)).unwrap().unwrap().delayed;
    assert_eq!(joined, label, "label joined before the roll-up");

    store.compact().unwrap();
    assert_eq!(
        store.raw_tier_start().unwrap(),
        2 * DAY,
        "raw tier after the roll-up"
    );
    let rollups = store.read_rollups("m", 0, DAY).unwrap();
    let predictions = rollups.iter().map(|r| r.predictions).sum();
    let labeled = rollups.iter().map(|r| r.labeled).sum();
    let orphans = store.orphaned_delayed_metrics().unwrap().len();
    store.close().unwrap();
    ((predictions, labeled), orphans)
}

#[test]
fn label_in_next_segment_is_joined() {
    let (counts, orphans) = roll_up_with_label_after(|_| {});
    assert_eq!(counts, (1, 1), "(predictions, labeled) of day 0");
    assert_eq!(orphans, 0);
}

/// The segment of a newer prediction lies between the prediction's segment and the label's,
/// so the roll-up rewrites the two in separate groups.
#[test]
fn label_after_newer_segment_is_joined() {
    let (counts, orphans) = roll_up_with_label_after(|store| {
        let score = Metrics::new().with("score", 0.5);
        store.track_metrics("m", uuid(2), 3 * DAY, &score).unwrap();
        store.flush().unwrap();
    });
    assert_eq!(counts, (1, 1), "(predictions, labeled) of day 0");
    assert_eq!(orphans, 0);
}
