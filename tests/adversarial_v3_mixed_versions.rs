//! A store whose first segment is rewritten in format version 2, which has no group index, next
//! to segments of version 3. Labels of predictions in the old segment arrive in the new ones,
//! and orphan labels in the old segment find their prediction later. Reads of windows around
//! the group boundaries are compared with the tracked records before and after compaction
//! merged the versions, and the merged segment must verify and be of version 3.

#[path = "support/segment_v2.rs"]
mod segment_v2;
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use modelmetrics::segment::{Segment, parse_segment_file_name};
use modelmetrics::{Compaction, Metrics, NewDelayed, NewPrediction, Options, Store, Uuid, Value};
use support::{by_name, files_with_prefix, uuid};

const MODEL: &str = "m";
/// Predictions of each phase: four groups of 256 rows and a part of a fifth.
const PHASE_ROWS: usize = 1_100;
/// Rows of a group of a segment block, as the segment format fixes it.
const GROUP_ROWS: usize = 256;
/// Bytes of the trailer, and the offset of the version in it.
const TRAILER_LEN: usize = 36;
const TRAILER_VERSION_AT: usize = 24;

/// One tracked prediction as the oracle keeps it.
#[derive(Clone, Debug)]
struct Tracked {
    timestamp_ms: i64,
    metrics: BTreeMap<String, Value>,
    delayed: BTreeMap<String, Value>,
}

/// The records tracked so far, by UUID, plus the tracking order for equal timestamps.
#[derive(Default)]
struct Oracle {
    predictions: BTreeMap<Uuid, Tracked>,
    order: Vec<Uuid>,
}

impl Oracle {
    fn window(&self, start: i64, end: i64) -> Vec<(Uuid, &Tracked)> {
        let mut rows: Vec<(Uuid, &Tracked)> = self
            .order
            .iter()
            .filter_map(|id| self.predictions.get(id).map(|t| (*id, t)))
            .filter(|(_, t)| (start..end).contains(&t.timestamp_ms))
            .collect();
        rows.sort_by_key(|(_, t)| t.timestamp_ms);
        rows
    }
}

/// Timestamp of prediction `n` of phase `phase`: the phases overlap in time, and each timestamp
/// repeats three times, so runs of equal timestamps cross group boundaries.
fn timestamp(phase: usize, n: usize) -> i64 {
    (n / 3) as i64 * 10 + phase as i64
}

fn prediction_id(phase: usize, n: usize) -> Uuid {
    uuid((phase * 1_000_000 + n) as u128)
}

/// Tracks the predictions of `phase`, with the labels of every fifth prediction of the phase
/// before, and an orphan label for a prediction of the phase after.
fn track_phase(store: &Store, oracle: &mut Oracle, phase: usize) {
    let mut batch = Vec::new();
    for n in 0..PHASE_ROWS {
        let id = prediction_id(phase, n);
        let mut metrics = BTreeMap::from([("score".to_owned(), Value::F64(n as f64 * 0.25))]);
        if n.is_multiple_of(2) {
            metrics.insert("bucket".to_owned(), Value::I64((n * n) as i64));
        }
        let mut list = Metrics::new();
        for (name, value) in &metrics {
            list = list.with(name, value.clone());
        }
        batch.push(NewPrediction {
            model: MODEL.to_owned(),
            uuid: id,
            timestamp_ms: timestamp(phase, n),
            metrics: list,
        });
        // An orphan label of this prediction may have arrived in an earlier phase.
        let delayed = match n.is_multiple_of(7) && phase > 0 {
            true => BTreeMap::from([("label".to_owned(), Value::I64(n as i64))]),
            false => BTreeMap::new(),
        };
        let tracked = Tracked {
            timestamp_ms: timestamp(phase, n),
            metrics,
            delayed,
        };
        oracle.predictions.insert(id, tracked);
        oracle.order.push(id);
    }
    store.track_metrics_batch(&batch).unwrap();

    let mut labels = Vec::new();
    for n in (0..PHASE_ROWS).filter(|n| n.is_multiple_of(5)) {
        if let Some(prior) = phase.checked_sub(1) {
            let id = prediction_id(prior, n);
            let value = Value::Bool(n.is_multiple_of(10));
            oracle
                .predictions
                .get_mut(&id)
                .unwrap()
                .delayed
                .insert("late".to_owned(), value.clone());
            labels.push(NewDelayed {
                uuid: id,
                timestamp_ms: 50_000 + n as i64,
                metrics: Metrics::new().with("late", value),
            });
        }
    }
    for n in (0..PHASE_ROWS).filter(|n| n.is_multiple_of(7)) {
        labels.push(NewDelayed {
            uuid: prediction_id(phase + 1, n),
            timestamp_ms: 60_000 + n as i64,
            metrics: Metrics::new().with("label", n as i64),
        });
    }
    store.track_delayed_metrics_batch(&labels).unwrap();
}

/// Returns window edges at the timestamps of the rows around each group boundary of a phase.
fn edges() -> Vec<i64> {
    let mut edges = vec![i64::MIN, i64::MAX];
    for boundary in (0..=PHASE_ROWS).step_by(GROUP_ROWS) {
        for n in boundary.saturating_sub(1)..(boundary + 2).min(PHASE_ROWS) {
            for phase in 0..3 {
                let t = timestamp(phase, n);
                edges.extend([t - 1, t, t + 1]);
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

fn check_window(store: &Store, oracle: &Oracle, start: i64, end: i64, stage: &str) {
    let want = oracle.window(start, end);
    let context = format!("{stage}: [{start}, {end})");
    let rows: Vec<_> = store
        .read_metrics(MODEL, start, end)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    assert_eq!(rows.len(), want.len(), "row count of {context}");
    for (got, (id, t)) in rows.iter().zip(&want) {
        assert_eq!(got.uuid, *id, "{context}");
        assert_eq!(
            by_name(&got.metrics),
            t.metrics,
            "metrics of {id} in {context}"
        );
        assert_eq!(
            by_name(&got.delayed),
            t.delayed,
            "labels of {id} in {context}"
        );
    }

    let columns = store
        .read_columns(MODEL, (start, end), &["bucket"], &["late", "label"])
        .unwrap();
    let ids: Vec<Uuid> = want.iter().map(|(id, _)| *id).collect();
    assert_eq!(columns.uuids, ids, "read_columns of {context}");

    let column = |map: fn(&Tracked) -> Option<Value>| want.iter().map(|(_, t)| map(t)).collect();
    let buckets: Vec<Option<Value>> = column(|t| t.metrics.get("bucket").cloned());
    let late: Vec<Option<Value>> = column(|t| t.delayed.get("late").cloned());
    let label: Vec<Option<Value>> = column(|t| t.delayed.get("label").cloned());
    assert_eq!(
        columns.metrics[0].to_values(),
        buckets,
        "bucket of {context}"
    );
    assert_eq!(columns.delayed[0].to_values(), late, "late of {context}");
    assert_eq!(columns.delayed[1].to_values(), label, "label of {context}");
}

fn check(store: &Store, oracle: &Oracle, stage: &str) {
    let edges = edges();
    for &edge in &edges {
        check_window(store, oracle, i64::MIN, edge.max(i64::MIN + 1), stage);
        if edge < i64::MAX {
            check_window(store, oracle, edge, i64::MAX, stage);
        }
    }
    for pair in edges.windows(4) {
        check_window(store, oracle, pair[0], pair[3], stage);
    }
    for id in oracle.order.iter().step_by(97) {
        let found = store.lookup(*id).unwrap();
        let t = oracle.predictions.get(id);
        assert_eq!(found.is_some(), t.is_some(), "{stage}: lookup of {id}");
        if let (Some(found), Some(t)) = (found, t) {
            assert_eq!(
                by_name(&found.delayed),
                t.delayed,
                "{stage}: lookup of {id}"
            );
        }
    }
}

fn segment_version(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes.len() - TRAILER_LEN + TRAILER_VERSION_AT;
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

#[test]
fn version_2_segment_merges_with_version_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut oracle = Oracle::default();
    let store = Store::open_with(dir.path(), options()).unwrap();
    track_phase(&store, &mut oracle, 0);
    store.flush().unwrap();
    store.close().unwrap();
    let old = files_with_prefix(dir.path(), "seg-");
    assert_eq!(old.len(), 1);
    let dropped = segment_v2::rewrite_as_version_2(&old[0]);
    assert!(
        dropped >= 1,
        "the segment should have had group indexes, dropped {dropped}"
    );
    assert_eq!(segment_version(&old[0]), 2);

    let store = Store::open_with(dir.path(), options()).unwrap();
    check(&store, &oracle, "version 2 alone");
    track_phase(&store, &mut oracle, 1);
    store.flush().unwrap();
    track_phase(&store, &mut oracle, 2);
    check(&store, &oracle, "versions 2 and 3 and a head");
    store.flush().unwrap();

    // Delete the predictions at group boundaries of the old segment.
    for n in (0..PHASE_ROWS).step_by(GROUP_ROWS) {
        let id = prediction_id(0, n);
        store.delete_prediction(id).unwrap();
        oracle.predictions.remove(&id);
    }
    check(&store, &oracle, "versions 2 and 3 with deletions");
    store.compact().unwrap();
    check(&store, &oracle, "compacted");
    store.close().unwrap();

    let segments = files_with_prefix(dir.path(), "seg-");
    assert!(
        !segments.contains(&old[0]),
        "compaction kept the version 2 segment"
    );
    for path in &segments {
        assert_eq!(
            segment_version(path),
            3,
            "{} after compaction",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy();
        let id = parse_segment_file_name(&name).unwrap();
        Segment::open(dir.path(), id).unwrap().verify().unwrap();
    }
    let store = Store::open_with(dir.path(), options()).unwrap();
    check(&store, &oracle, "reopened");
    store.close().unwrap();
}
