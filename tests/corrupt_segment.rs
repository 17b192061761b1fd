//! A flipped byte anywhere in a segment: every read either returns the data as written or
//! fails with `Error::Corruption` naming that segment. No read panics or returns wrong data.

mod support;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use modelmetrics::{
    Aggregate, Columns, Error, Metrics, OrphanedDelayed, Prediction, Result, Store,
};
use support::{ALL_END, ALL_START, copy_store, files_with_prefix, metric, small_log_options, uuid};

const T0: i64 = 1_700_000_000_000;
const MODELS: [&str; 2] = ["credit", "fraud"];
const PREDICTIONS: u128 = 240;
/// A segment up to this size has every byte flipped; a larger one a sample.
const FLIP_EVERY_BYTE_UP_TO: usize = 6000;

/// Everything the test reads back, as the intact store returns it.
#[derive(Debug, PartialEq)]
struct Contents {
    predictions: Vec<Vec<Prediction>>,
    /// The predictions read again by `read_columns`, every metric asked for.
    columns: Vec<Columns>,
    aggregates: Vec<Vec<Aggregate>>,
    orphans: Vec<OrphanedDelayed>,
    lookups: Vec<Option<Prediction>>,
}

/// UUID numbers that `read_contents` looks up: a spread of predictions, an orphan and a miss.
fn looked_up() -> Vec<u128> {
    (0..PREDICTIONS)
        .step_by(17)
        .chain([PREDICTIONS - 1, 5000, 9999])
        .collect()
}

fn prediction_metrics(n: u128) -> Metrics {
    let payload: Vec<u8> =
        format!("{{\"request\": {n}, \"padding\": \"{}\"}}", "ab".repeat(20)).into_bytes();
    Metrics::new()
        .with("score", n as f64 / 7.0)
        .with("count", (n as i64) * 1000 - 7)
        .with("approved", n.is_multiple_of(3))
        .with(
            "segment",
            ["retail", "corporate", "public"][(n % 3) as usize],
        )
        .with("request", payload)
}

/// Writes predictions of two models, delayed metrics, an orphan and aggregates, flushes them
/// into one segment and closes the store.
fn build_store(dir: &Path) {
    let store = Store::open_with(dir, small_log_options()).unwrap();
    for n in 0..PREDICTIONS {
        let model = MODELS[(n % 2) as usize];
        let timestamp = T0 + (n as i64 * 7919) % 100_000;
        store
            .track_metrics(model, uuid(n), timestamp, &prediction_metrics(n))
            .unwrap();
    }
    for n in (0..PREDICTIONS).step_by(3) {
        let label = Metrics::new()
            .with("label", n % 2 == 0)
            .with("cost", n as i64);
        store
            .track_delayed_metrics(uuid(n), T0 + 200_000, &label)
            .unwrap();
    }
    store
        .track_delayed_metrics(uuid(5000), T0, &metric("label", true))
        .unwrap();
    for (i, model) in MODELS.iter().enumerate() {
        for day in 0..3 {
            let start = T0 + day * 86_400_000;
            let metrics = Metrics::new()
                .with("auc", 0.5 + i as f64 / 10.0)
                .with("day", day);
            store
                .track_aggregate_metrics(model, start, start + 86_400_000, &metrics)
                .unwrap();
        }
    }
    store.close().unwrap();
}

fn read_predictions(store: &Store, model: &str) -> Result<Vec<Prediction>> {
    store.read_metrics(model, ALL_START, ALL_END)?.collect()
}

fn read_contents(store: &Store) -> Result<Contents> {
    let mut predictions = Vec::new();
    let mut columns = Vec::new();
    let mut aggregates = Vec::new();
    let inline = ["score", "count", "approved", "segment", "request"];
    let delayed = ["label", "cost"];
    for model in MODELS {
        predictions.push(read_predictions(store, model)?);
        columns.push(store.read_columns(model, (ALL_START, ALL_END), &inline, &delayed)?);
        aggregates.push(store.read_aggregate_metrics(model, ALL_START, ALL_END)?);
    }
    let orphans = store.orphaned_delayed_metrics()?;
    let lookups = looked_up()
        .into_iter()
        .map(|n| store.lookup(uuid(n)))
        .collect::<Result<_>>()?;
    Ok(Contents {
        predictions,
        columns,
        aggregates,
        orphans,
        lookups,
    })
}

/// Opens `dir` and reads everything; an error is returned as it came.
fn open_and_read(dir: &Path) -> Result<Contents> {
    let store = Store::open_with(dir, small_log_options())?;
    let contents = read_contents(&store);
    store.close()?;
    contents
}

/// Positions to flip: every byte of a small segment, else every 7th byte from `phase` and the
/// first and last 64, so that a debug run stays within seconds.
fn positions(len: usize, phase: usize) -> Vec<usize> {
    if len <= FLIP_EVERY_BYTE_UP_TO {
        return (0..len).collect();
    }
    let mut positions: Vec<usize> = (phase..len).step_by(7).collect();
    positions.extend(0..64.min(len));
    positions.extend(len.saturating_sub(64)..len);
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// Flips the bits of `mask` in the byte at `position` of `segment` in a copy of `image`, opens
/// and reads the copy, and returns a description of what went wrong, if anything did.
fn check_flip(
    image: &Path,
    segment: &Path,
    (position, mask): (usize, u8),
    expected: &Contents,
) -> Option<String> {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    copy_store(image, &dir);
    let target = dir.join(segment.file_name().unwrap());
    let mut bytes = fs::read(&target).unwrap();
    bytes[position] ^= mask;
    fs::write(&target, bytes).unwrap();

    let outcome = catch_unwind(AssertUnwindSafe(|| open_and_read(&dir)));
    let canonical = target.canonicalize().unwrap();
    let flip = format!("byte {position} ^ {mask:#04x}");
    match outcome {
        Err(panic) => Some(format!("{flip}: panic {}", panic_text(&panic))),
        Ok(Ok(found)) if found == *expected => None,
        Ok(Ok(_)) => Some(format!("{flip}: reads returned wrong data without error")),
        Ok(Err(Error::Corruption { file, .. })) if file == canonical || file == target => None,
        Ok(Err(error)) => Some(format!("{flip}: unexpected error {error:?}")),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<String>() {
        return text.clone();
    }
    if let Some(text) = panic.downcast_ref::<&str>() {
        return (*text).to_owned();
    }
    "with a non-text payload".to_owned()
}

fn only_segment(dir: &Path) -> PathBuf {
    let segments = files_with_prefix(dir, "seg-");
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments[0].clone()
}

#[test]
fn flipped_segment_byte_is_caught() {
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("image");
    build_store(&image);
    let expected = open_and_read(&image).unwrap();
    assert_eq!(
        expected.predictions.iter().map(Vec::len).sum::<usize>(),
        PREDICTIONS as usize
    );
    assert_eq!(expected.orphans.len(), 1);
    let segment = only_segment(&image);
    let len = fs::metadata(&segment).unwrap().len() as usize;

    // Panics are caught and listed below, so silence their default report.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // Every bit of the bytes of one sample, and the lowest bit of the bytes of another.
    let flips = positions(len, 0)
        .into_iter()
        .map(|position| (position, 0xff))
        .chain(
            positions(len, 3)
                .into_iter()
                .map(|position| (position, 0x01)),
        );
    let failures: Vec<String> = flips
        .filter_map(|flip| check_flip(&image, &segment, flip, &expected))
        .collect();
    std::panic::set_hook(default_hook);

    let first_failures: Vec<&String> = failures.iter().take(20).collect();
    assert!(
        failures.is_empty(),
        "{} flipped bytes of a {len}-byte segment went wrong, the first: {first_failures:#?}",
        failures.len()
    );
}
