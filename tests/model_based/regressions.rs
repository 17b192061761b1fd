//! Failures that the model-based test found, each reduced to the calls that show it. Both were
//! fixed in the store; the tests keep them fixed.

use modelmetrics::{Metrics, NewDelayed, Store};

use crate::generate::T0;
use crate::support::uuid;

/// Returns the names of `metrics` in list order.
fn names(metrics: &Metrics) -> Vec<&str> {
    metrics.iter().map(|m| m.name.as_str()).collect()
}

/// Orphans read back from a segment list their metrics in name order, as every read does.
///
/// Shrunk from a failing case: a batch of two delayed records for a UUID that no prediction
/// has, `[label]` then `[label, a]`, and a flush. The second orphan then returns
/// `[label, a]`, the segment's column order, instead of `[a, label]`, because the orphans
/// read from segments are returned without the sort by name that joined reads get.
#[test]
fn orphan_metrics_sorted_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let orphan = uuid(0);
    let batch = [
        NewDelayed {
            uuid: orphan,
            timestamp_ms: T0,
            metrics: Metrics::new().with("label", 0.0),
        },
        NewDelayed {
            uuid: orphan,
            timestamp_ms: T0,
            metrics: Metrics::new().with("label", 0.0).with("a", 0.0),
        },
    ];
    store.track_delayed_metrics_batch(&batch).unwrap();

    let in_head = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(
        names(&in_head[1].metrics),
        ["a", "label"],
        "orphan in the head"
    );

    store.flush().unwrap();
    let in_segment = store.orphaned_delayed_metrics().unwrap();
    assert_eq!(in_segment.len(), 2, "orphans after the flush");
    assert_eq!(
        names(&in_segment[1].metrics),
        ["a", "label"],
        "orphan in a segment"
    );
    store.close().unwrap();
}

/// `lookup` joins the delayed metrics of a flushed prediction whose timestamp is `i64::MAX`.
///
/// Shrunk from a failing case: a prediction at `i64::MAX`, delayed metrics for it, and a
/// flush. `lookup` then returns the prediction with no delayed metrics, although the segment
/// contains the resolved delayed row. The lookup searches the segments for resolved rows in the
/// window `[timestamp, timestamp + 1)`, and at `i64::MAX` the saturated end makes that window
/// empty.
#[test]
fn lookup_joins_delayed_at_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let prediction = uuid(1);
    store
        .track_metrics("m", prediction, i64::MAX, &Metrics::new())
        .unwrap();
    let label = Metrics::new().with("score", 0.0);
    store.track_delayed_metrics(prediction, T0, &label).unwrap();

    let in_head = store.lookup(prediction).unwrap().unwrap();
    assert_eq!(in_head.delayed, label, "delayed metrics in the head");

    store.flush().unwrap();
    let flushed = store.lookup(prediction).unwrap().unwrap();
    assert_eq!(flushed.delayed, label, "delayed metrics in a segment");
    store.close().unwrap();
}
