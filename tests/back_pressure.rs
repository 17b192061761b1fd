//! Back-pressure: writers that track far more than the head holds, from several threads and
//! faster than one background thread can flush, keep the store's memory bounded. The head
//! stops near twice its size because calls flush it themselves, and no record is lost.

use std::sync::atomic::Ordering;

use modelmetrics::{Metrics, Options, Store, Uuid};

#[path = "support/peak_heap.rs"]
mod peak_heap;

use peak_heap::{LIVE, PEAK};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 2_000;
/// Each prediction carries this many bytes, so the threads track 62.5 MiB in all.
const VALUE_BYTES: usize = 8 << 10;
const HEAD_BYTES: usize = 512 << 10;

#[test]
fn fast_writers_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().head_size_bytes(HEAD_BYTES);
    let store = Store::open_with(dir.path(), options).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                let payload = vec![thread as u8; VALUE_BYTES];
                for i in 0..PER_THREAD {
                    let n = thread * PER_THREAD + i;
                    let metrics = Metrics::new()
                        .with("blob", payload.clone())
                        .with("score", 0.5);
                    let uuid = Uuid::from_u64_pair(n + 1, 7);
                    store.track_metrics("m", uuid, n as i64, &metrics).unwrap();
                }
            });
        }
    });
    let tracked = (THREADS * PER_THREAD) as usize * VALUE_BYTES;
    let growth = PEAK.load(Ordering::Relaxed) - baseline;
    // The head stops at about twice its size. A flush keeps the frozen head and its encoded
    // chunks beside the active one, and each thread keeps one record: about 5.4 MB in all on
    // a 2-core machine. 24 head sizes (12 MiB) leaves room for a slower machine and is still a
    // fifth of the 62.5 MiB tracked. Without back-pressure the peak grows with all of it.
    let bound = 24 * HEAD_BYTES as isize;
    eprintln!("peak heap growth {growth} bytes, bound {bound}");
    assert!(
        growth < bound,
        "peak heap grew by {growth} bytes for {tracked} bytes tracked, bound {bound}"
    );
    assert!(
        tracked as isize > 4 * bound,
        "the test must track far more than the bound"
    );

    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rows = store.read_metrics("m", i64::MIN, i64::MAX).unwrap().count();
    assert_eq!(
        rows as u64,
        THREADS * PER_THREAD,
        "every tracked prediction is stored"
    );
}
