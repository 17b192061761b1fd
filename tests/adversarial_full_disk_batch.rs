//! A batch call on a full disk is all or nothing: when it returns an error, none of its records
//! is stored, so the caller can retry it once space is back.
//!
//! The batch fits in the preallocated log file, but it takes the head past twice its size, so
//! the call flushes the head itself (back-pressure), and that flush meets the full disk. Runs
//! only as root; otherwise it prints why it is skipped.

#[path = "support/adversarial.rs"]
mod adversarial;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use adversarial::{assert_disk_full_under, random_bytes};
use modelmetrics::{Durability, Metrics, NewPrediction, Options, Store};
use support::uuid;
use tmpfs::{Filler, Tmpfs};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
/// Log file size: large enough that the batch needs no new file.
const LOG_FILE_BYTES: u64 = 4 << 20;
/// Predictions in the batch, each with a random payload of `PAYLOAD_BYTES`: together more than
/// twice the minimum head size.
const BATCH: u128 = 64;
const PAYLOAD_BYTES: usize = 3 << 10;
const SEED_VAR: &str = "MODELMETRICS_TEST_FULL_BATCH_SEED";

fn options() -> Options {
    Options::default()
        .durability(Durability::Os)
        .wal_file_size(LOG_FILE_BYTES)
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .flush_interval(std::time::Duration::ZERO)
}

fn batch(rng: &mut rand_chacha::ChaCha8Rng) -> Vec<NewPrediction> {
    (1..=BATCH)
        .map(|n| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(n),
            timestamp_ms: T0 + n as i64,
            metrics: Metrics::new().with("payload", random_bytes(rng, PAYLOAD_BYTES)),
        })
        .collect()
}

/// Returns how many predictions of `batch` the store contains.
fn stored(store: &Store, batch: &[NewPrediction]) -> usize {
    batch
        .iter()
        .filter(|p| store.lookup(p.uuid).unwrap().is_some())
        .count()
}

#[test]
fn failed_batch_on_full_disk_writes_nothing() {
    let Some(fs) = Tmpfs::mount(8 << 20, "failed_batch_on_full_disk_writes_nothing") else {
        return;
    };
    let seed = adversarial::seed(SEED_VAR);
    let mut rng = adversarial::rng(seed);
    let dir = fs.path().join("store");
    let store = Store::open_with(&dir, options()).unwrap();
    // The first call creates and preallocates the log file.
    store
        .track_metrics(MODEL, uuid(0), T0, &Metrics::new().with("n", 0))
        .unwrap();
    let filler = Filler::taking_all(&fs.path().join("filler"));
    println!("filler takes {} bytes", filler.len());

    let batch = batch(&mut rng);
    let result = store.track_metrics_batch(&batch);
    let found = stored(&store, &batch);
    match &result {
        Ok(()) => assert_eq!(found, batch.len(), "the batch succeeded"),
        Err(error) => {
            assert_disk_full_under(error, fs.path(), "batch on the full disk");
            assert_eq!(
                found, 0,
                "the batch call failed with {error}, but the store contains {found} of its {} \
                 predictions",
                BATCH
            );
        }
    }

    filler.remove();
    if result.is_err() {
        store
            .track_metrics_batch(&batch)
            .expect("retrying the failed batch once space is back");
    }
    assert_eq!(stored(&store, &batch), batch.len());
    store.close().unwrap();
}
