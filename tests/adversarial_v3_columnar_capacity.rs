//! The head's memory bound with columnar batches whose arrays have more capacity than length,
//! as a writer leaves them when it fills a buffer reserved for a full batch with the few rows
//! that arrived in a time slot. The head keeps the caller's arrays as they are, so it must
//! count their capacity, or shrink them, to stay near `head_size_bytes`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use modelmetrics::{Compaction, MetricColumn, NewPredictionColumns, Options, Store, Uuid};

#[path = "support/peak_heap.rs"]
mod peak_heap;

use peak_heap::{LIVE, PEAK};

const HEAD_BYTES: usize = 256 << 10;
const BATCHES: u64 = 100;
/// Rows of each batch, in arrays reserved for `CAPACITY` rows: 320 KiB per batch in all.
const BATCH_LEN: u64 = 10;
const CAPACITY: usize = 8_192;

/// Returns a vector of `values` with room for `CAPACITY` of them.
fn reserved<T>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::with_capacity(CAPACITY);
    out.extend(values);
    out
}

fn batch(n: u64) -> NewPredictionColumns {
    let ids = n * BATCH_LEN..(n + 1) * BATCH_LEN;
    let metrics = ["score", "ratio"].map(|name| {
        let values = reserved(ids.clone().map(|i| i as f64 / 7.0));
        (name.to_owned(), MetricColumn::F64(values))
    });
    NewPredictionColumns {
        model: "m".to_owned(),
        uuids: reserved(ids.clone().map(|i| Uuid::from_u64_pair(i + 1, 3))),
        timestamps_ms: reserved(ids.map(|i| i as i64)),
        metrics: metrics.into(),
    }
}

#[test]
fn spare_capacity_counts_against_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .head_size_bytes(HEAD_BYTES)
        .flush_interval(Duration::from_secs(3_600))
        .compaction(Compaction {
            enabled: false,
            ..Compaction::default()
        });
    let store = Store::open_with(dir.path(), options).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    for n in 0..BATCHES {
        store.track_metrics_columns(batch(n)).unwrap();
    }
    let retained = LIVE.load(Ordering::Relaxed) - baseline;
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    // The same bound as for batches without spare capacity: 32 head sizes, 8 MiB. The arrays
    // reserved in all take 32 MiB.
    let bound = 32 * HEAD_BYTES as isize;
    eprintln!("heap retained after the writes {retained} bytes, peak growth {peak}, bound {bound}");
    assert!(
        retained < bound,
        "the store holds {retained} bytes, bound {bound}"
    );
    assert!(peak < bound, "the heap grew by {peak} bytes, bound {bound}");

    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rows = store.read_metrics("m", i64::MIN, i64::MAX).unwrap().count();
    assert_eq!(
        rows as u64,
        BATCHES * BATCH_LEN,
        "every tracked prediction is stored"
    );
}
