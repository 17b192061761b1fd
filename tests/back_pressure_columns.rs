//! Back-pressure with columnar batches: writers that track far more predictions as columns
//! than fit in the head keep the store's memory bounded, and no prediction is lost. The head
//! counts a batch's arrays and what the flush allocates per row.

use std::sync::atomic::Ordering;

use modelmetrics::{Compaction, MetricColumn, NewPredictionColumns, Options, Store, Uuid};

#[path = "support/peak_heap.rs"]
mod peak_heap;

use peak_heap::{LIVE, PEAK};

const THREADS: u64 = 4;
const BATCHES_PER_THREAD: u64 = 200;
const BATCH_LEN: u64 = 1_000;
const NAMES: [&str; 4] = ["amount", "ratio", "score", "tenure"];
const HEAD_BYTES: usize = 256 << 10;

/// Builds batch `n`: `BATCH_LEN` predictions with 4 f64 metrics and UUIDs of their own.
fn batch(n: u64) -> NewPredictionColumns {
    let ids = n * BATCH_LEN..(n + 1) * BATCH_LEN;
    let metrics = NAMES.iter().enumerate().map(|(m, name)| {
        let values = ids.clone().map(|i| (i % 1_000) as f64 / (m + 1) as f64);
        ((*name).to_owned(), MetricColumn::F64(values.collect()))
    });
    NewPredictionColumns {
        model: "m".to_owned(),
        metrics: metrics.collect(),
        uuids: ids.clone().map(|i| Uuid::from_u64_pair(i + 1, 9)).collect(),
        timestamps_ms: ids.map(|i| i as i64).collect(),
    }
}

#[test]
fn columnar_writers_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // The compaction thread would merge the hundreds of small segments that this test
    // flushes, with every row of them in memory, whenever the run lasts past its first check.
    let compaction = Compaction {
        enabled: false,
        ..Compaction::default()
    };
    let options = Options::default()
        .head_size_bytes(HEAD_BYTES)
        .compaction(compaction);
    let store = Store::open_with(dir.path(), options).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                for i in 0..BATCHES_PER_THREAD {
                    let n = thread * BATCHES_PER_THREAD + i;
                    store.track_metrics_columns(batch(n)).unwrap();
                }
            });
        }
    });
    let predictions = THREADS * BATCHES_PER_THREAD * BATCH_LEN;
    // The arrays alone: 16 bytes of UUID, 8 of timestamp and 32 of metrics per prediction.
    let tracked = predictions as usize * 56;
    let growth = PEAK.load(Ordering::Relaxed) - baseline;
    // The head stops at about twice its size, and a flush keeps the frozen head beside the
    // active one, with its permutation, index entries and encoded chunks. Each thread builds
    // one batch of about 60 KB, and the index runs' bloom filters grow with the predictions
    // stored. The growth was 4.2 to 4.3 MB in 4 runs on a loaded 2-core machine. 32 head
    // sizes (8 MiB) leaves room for a slower machine and is still a fifth of the arrays
    // tracked.
    let bound = 32 * HEAD_BYTES as isize;
    eprintln!("peak heap growth {growth} bytes, bound {bound}");
    assert!(
        growth < bound,
        "peak heap grew by {growth} bytes for {tracked} bytes of arrays tracked, bound {bound}"
    );
    assert!(
        tracked as isize > 4 * bound,
        "the test must track far more than the bound"
    );

    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rows = store.read_metrics("m", i64::MIN, i64::MAX).unwrap().count();
    assert_eq!(
        rows as u64, predictions,
        "every tracked prediction is stored"
    );
}
