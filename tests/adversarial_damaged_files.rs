//! Damaged, missing and foreign files in a store directory on open: each case must end in a
//! clear error that names the file, or in the recovery that docs/format.md documents, never in
//! a panic and never in silently wrong data.
//!
//! Every case starts from the same crash image: a store with two segments, two index runs and
//! several write-ahead log files that hold records not yet flushed, copied while it was open.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use modelmetrics::manifest::Manifest;
use modelmetrics::{Aggregate, Error, Metrics, OrphanedDelayed, Prediction, Store, Uuid};
use support::{ALL_END, ALL_START, copy_store, metric, small_log_options, uuid};

const MODEL: &str = "credit";
const T0: i64 = 1_700_000_000_000;
/// Predictions of each flushed phase, then of the phase left in the log.
const FLUSHED_PHASE: u128 = 200;
const LOGGED_PHASE: u128 = 300;
/// Payload of each logged prediction, so that the log spans several files.
const LOGGED_PAYLOAD: usize = 600;

/// Everything a store returns, for comparisons with the image as it was written.
#[derive(Debug, PartialEq)]
struct Contents {
    predictions: Vec<Prediction>,
    aggregates: Vec<Aggregate>,
    orphans: Vec<OrphanedDelayed>,
}

fn track_phase(store: &Store, range: std::ops::Range<u128>, payload: usize) {
    let first = range.start;
    for n in range {
        let metrics = Metrics::new()
            .with("n", n as i64)
            .with("payload", vec![n as u8; payload]);
        store
            .track_metrics(MODEL, uuid(n), T0 + n as i64 * 1_000, &metrics)
            .unwrap();
        if n.is_multiple_of(4) {
            store
                .track_delayed_metrics(uuid(n), T0, &metric("label", n.is_multiple_of(8)))
                .unwrap();
        }
    }
    let window = first as i64;
    store
        .track_aggregate_metrics(MODEL, window, window + 1, &metric("auc", 0.5))
        .unwrap();
    store
        .track_delayed_metrics(uuid(1_000_000 + first), T0, &metric("x", 1))
        .unwrap();
}

/// Builds the crash image in `image` and returns its contents.
fn build_image(root: &Path) -> (PathBuf, Contents) {
    let live = root.join("live");
    let image = root.join("image");
    let store = Store::open_with(&live, small_log_options()).unwrap();
    track_phase(&store, 0..FLUSHED_PHASE, 0);
    store.flush().unwrap();
    track_phase(&store, FLUSHED_PHASE..2 * FLUSHED_PHASE, 0);
    store.flush().unwrap();
    let logged = 2 * FLUSHED_PHASE..2 * FLUSHED_PHASE + LOGGED_PHASE;
    track_phase(&store, logged, LOGGED_PAYLOAD);
    copy_store(&live, &image);
    let expected = contents(&store).unwrap();
    store.close().unwrap();
    assert!(
        log_numbers(&image).len() >= 3,
        "the image needs several log files"
    );
    (image, expected)
}

fn contents(store: &Store) -> modelmetrics::Result<Contents> {
    Ok(Contents {
        predictions: store
            .read_metrics(MODEL, ALL_START, ALL_END)?
            .collect::<modelmetrics::Result<_>>()?,
        aggregates: store.read_aggregate_metrics(MODEL, ALL_START, ALL_END)?,
        orphans: store.orphaned_delayed_metrics()?,
    })
}

/// Opens `dir` and reads everything, so that damage found only by a read shows up too.
fn open_and_read(dir: &Path) -> modelmetrics::Result<Contents> {
    let store = Store::open_with(dir, small_log_options())?;
    let found = contents(&store);
    store.close()?;
    found
}

/// Asserts that opening `dir` fails with an error whose message names `file`.
fn assert_error_names(dir: &Path, file: &str, case: &str) -> Error {
    let error = match open_and_read(dir) {
        Ok(found) => panic!(
            "{case}: the store opened and returned {} predictions instead of failing",
            found.predictions.len()
        ),
        Err(error) => error,
    };
    let text = error.to_string();
    assert!(text.contains(file), "{case}: {text:?} does not name {file}");
    error
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::load(dir).unwrap().unwrap()
}

fn segment_name(id: u64) -> String {
    modelmetrics::segment::segment_file_name(id)
}

fn run_name(id: u64) -> String {
    modelmetrics::index::index_file_name(id)
}

fn log_numbers(dir: &Path) -> Vec<u64> {
    modelmetrics::wal::Wal::file_numbers(dir).unwrap()
}

fn log_name(number: u64) -> String {
    modelmetrics::wal::wal_file_name(number)
}

fn names(dir: &Path) -> Vec<String> {
    support::list_files(dir).into_keys().collect()
}

#[test]
fn listed_segment_missing_is_named() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let name = segment_name(manifest(&image).segments[0]);
    fs::remove_file(image.join(&name)).unwrap();
    assert_error_names(&image, &name, "missing segment");
}

#[test]
fn empty_segment_file_is_corruption() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let name = segment_name(manifest(&image).segments[1]);
    fs::write(image.join(&name), b"").unwrap();
    let error = assert_error_names(&image, &name, "empty segment");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}

#[test]
fn listed_index_run_missing_is_named() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let name = run_name(manifest(&image).index_runs[0]);
    fs::remove_file(image.join(&name)).unwrap();
    assert_error_names(&image, &name, "missing index run");
}

#[test]
fn empty_index_run_is_corruption() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let name = run_name(manifest(&image).index_runs[1]);
    fs::write(image.join(&name), b"").unwrap();
    let error = assert_error_names(&image, &name, "empty index run");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}

#[test]
fn truncated_manifest_is_corruption() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let bytes = fs::read(image.join("MANIFEST")).unwrap();
    for len in [0, 1, 16, bytes.len() / 2, bytes.len() - 1] {
        fs::write(image.join("MANIFEST"), &bytes[..len]).unwrap();
        let case = format!("MANIFEST cut to {len} bytes");
        let error = assert_error_names(&image, "MANIFEST", &case);
        assert!(
            matches!(error, Error::Corruption { .. }),
            "{case}: {error:?}"
        );
    }
}

#[test]
fn flipped_manifest_byte_is_caught() {
    let root = tempfile::tempdir().unwrap();
    let (image, expected) = build_image(root.path());
    let bytes = fs::read(image.join("MANIFEST")).unwrap();
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        fs::write(image.join("MANIFEST"), &damaged).unwrap();
        let case = format!("MANIFEST byte {at} flipped");
        assert_error_names(&image, "MANIFEST", &case);
    }
    fs::write(image.join("MANIFEST"), &bytes).unwrap();
    assert_eq!(
        open_and_read(&image).unwrap(),
        expected,
        "MANIFEST restored"
    );
}

#[test]
fn missing_manifest_beside_segments_is_corruption() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    fs::remove_file(image.join("MANIFEST")).unwrap();
    let before = names(&image);
    let error = assert_error_names(&image, "MANIFEST", "missing MANIFEST");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
    let mut after = names(&image);
    // The failed open may leave its lock file.
    after.retain(|name| name != "LOCK" || before.contains(name));
    assert_eq!(after, before, "the failed open changed the directory");
}

#[test]
fn unlisted_segment_and_run_are_removed() {
    let root = tempfile::tempdir().unwrap();
    let (image, expected) = build_image(root.path());
    let listed = manifest(&image);
    // Ids far past `next_file_id`, so that the flush at close does not reuse them.
    let stray_segment = segment_name(listed.next_file_id + 100);
    let stray_run = run_name(listed.next_file_id + 101);
    fs::copy(
        image.join(segment_name(listed.segments[0])),
        image.join(&stray_segment),
    )
    .unwrap();
    fs::copy(
        image.join(run_name(listed.index_runs[0])),
        image.join(&stray_run),
    )
    .unwrap();
    fs::write(image.join("MANIFEST.tmp"), b"half a manifest").unwrap();
    let found = open_and_read(&image).unwrap();
    assert_eq!(found, expected, "contents with stray files");
    let left = names(&image);
    assert!(!left.contains(&stray_segment), "{left:?}");
    assert!(!left.contains(&stray_run), "{left:?}");
    assert!(!left.contains(&"MANIFEST.tmp".to_owned()), "{left:?}");
}

#[test]
fn missing_middle_log_file_is_named() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let numbers = log_numbers(&image);
    let middle = log_name(numbers[1]);
    fs::remove_file(image.join(&middle)).unwrap();
    let error = assert_error_names(&image, &middle, "missing middle log file");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}

#[test]
fn missing_first_log_file_is_named() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let numbers = log_numbers(&image);
    assert_eq!(numbers[0], manifest(&image).wal_start);
    let first = log_name(numbers[0]);
    fs::remove_file(image.join(&first)).unwrap();
    let error = assert_error_names(&image, &first, "missing first log file");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}

/// Names that are not the store's: files and a directory whose names resemble the store's.
const FOREIGN_FILES: [&str; 10] = [
    "notes.txt",
    "seg-notes.txt",
    "index-2024.csv",
    "seg-00000000000000000001.seg.bak",
    "index-00000000000000000002.idx~",
    "wal-1.log",
    "wal-00000000000000000001.log.old",
    "MANIFEST.bak",
    ".hidden",
    "naïve name with spaces",
];
const FOREIGN_DIR: &str = "index-backup";

fn add_foreign_files(dir: &Path) {
    for name in FOREIGN_FILES {
        fs::write(dir.join(name), name.as_bytes()).unwrap();
    }
    fs::create_dir(dir.join(FOREIGN_DIR)).unwrap();
}

fn assert_foreign_files_kept(dir: &Path, case: &str) {
    let left = names(dir);
    let missing: Vec<_> = FOREIGN_FILES
        .iter()
        .filter(|name| !left.contains(&name.to_string()))
        .collect();
    assert!(missing.is_empty(), "{case}: open deleted {missing:?}");
    for name in FOREIGN_FILES {
        assert_eq!(
            fs::read(dir.join(name)).unwrap(),
            name.as_bytes(),
            "{case}: {name}"
        );
    }
    assert!(dir.join(FOREIGN_DIR).is_dir(), "{case}: {FOREIGN_DIR}/");
}

#[test]
fn foreign_files_are_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let (image, expected) = build_image(root.path());
    add_foreign_files(&image);
    let opened = open_and_read(&image);
    assert_foreign_files_kept(&image, "existing store");
    assert_eq!(opened.unwrap(), expected, "existing store");
}

#[test]
fn new_store_beside_foreign_files_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fresh");
    fs::create_dir(&dir).unwrap();
    add_foreign_files(&dir);
    let error = Store::open(&dir)
        .err()
        .expect("open of a directory with foreign files");
    assert_foreign_files_kept(&dir, "rejected open");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&dir.display().to_string()),
        "{text:?} does not name the directory"
    );
    assert!(
        text.contains("\".hidden\""),
        "{text:?} does not name a foreign file"
    );
    assert!(
        text.contains("empty or new directory"),
        "{text:?} does not say what to do"
    );
    let left = names(&dir);
    assert!(
        !left.contains(&"LOCK".to_owned()),
        "open created LOCK: {left:?}"
    );
    assert!(
        !left.contains(&"MANIFEST".to_owned()),
        "open created MANIFEST: {left:?}"
    );
}

#[test]
fn new_store_opens_after_crashed_first_open() {
    let root = tempfile::tempdir().unwrap();
    for leftovers in [&["LOCK"][..], &["LOCK", "MANIFEST.tmp"][..]] {
        let dir = root.path().join(leftovers.join("-"));
        fs::create_dir(&dir).unwrap();
        for name in leftovers {
            fs::write(dir.join(name), b"").unwrap();
        }
        let opened = Store::open(&dir).and_then(|store| {
            store.track_metrics(MODEL, uuid(1), T0, &metric("n", 1))?;
            store.close()
        });
        opened.unwrap_or_else(|e| panic!("open beside {leftovers:?}: {e}"));
        let found = open_and_read(&dir).unwrap();
        assert_eq!(
            found.predictions.len(),
            1,
            "after open beside {leftovers:?}"
        );
    }
}

#[test]
fn segment_swapped_for_another_is_caught() {
    let root = tempfile::tempdir().unwrap();
    let (image, expected) = build_image(root.path());
    let listed = manifest(&image);
    let (first, second) = (
        segment_name(listed.segments[0]),
        segment_name(listed.segments[1]),
    );
    fs::copy(image.join(&second), image.join(&first)).unwrap();
    match open_and_read(&image) {
        Err(error) => {
            let text = error.to_string();
            assert!(text.contains(&first), "{text:?} does not name {first}");
        }
        Ok(found) => {
            let mut seen = std::collections::HashMap::<Uuid, usize>::new();
            for row in &found.predictions {
                *seen.entry(row.uuid).or_default() += 1;
            }
            let twice = seen.values().filter(|c| **c > 1).count();
            assert!(
                found == expected,
                "{first} contains the bytes of {second}, and the store returned wrong data \
                 without an error: {} predictions instead of {}, {twice} of them twice",
                found.predictions.len(),
                expected.predictions.len()
            );
        }
    }
}

#[test]
fn run_swapped_for_another_is_caught() {
    let root = tempfile::tempdir().unwrap();
    let (image, _) = build_image(root.path());
    let listed = manifest(&image);
    let (first, second) = (
        run_name(listed.index_runs[0]),
        run_name(listed.index_runs[1]),
    );
    fs::copy(image.join(&second), image.join(&first)).unwrap();
    let error = assert_error_names(&image, &first, "swapped index run");
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}
