//! Damaged and truncated segment files of format version 3, whose blocks carry a group index.
//!
//! Every damaged copy is opened and read through windows that start inside a block, so reads
//! go through the group index. A flipped byte that a CRC covers must end in an error that names
//! the file. A flipped footer byte whose footer CRC was recomputed, as a writer bug would leave
//! it, must never panic, and `Segment::verify` must report any change that alters a read.

mod support;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use modelmetrics::segment::{Segment, parse_segment_file_name};
use modelmetrics::{Compaction, Metrics, NewDelayed, NewPrediction, Options, Store};
use support::{copy_store, files_with_prefix, uuid};

const MODEL: &str = "m";
/// Predictions of the segment, in one block of three groups and a part of a fourth.
const ROWS: usize = 900;
/// Orphan labels, whose UUIDs start at `ORPHAN_UUIDS`, and aggregate windows.
const ORPHANS: usize = 300;
const ORPHAN_UUIDS: u128 = 1 << 40;
const AGGREGATES: usize = 600;
/// Bytes of the trailer at the end of a segment file.
const TRAILER_LEN: usize = 36;

/// Gaps between the timestamps of neighbouring predictions, in ms, picked by row. The zeros
/// make runs of equal timestamps, and the spread makes the timestamp chunk use a bit-packed
/// mode, whose restarts store a position.
const GAPS: [i64; 8] = [0, 0, 0, 1, 7, 0, 300, 70_001];

/// Returns the timestamp of prediction `i`.
fn timestamp(i: usize) -> i64 {
    (0..i)
        .map(|row| GAPS[(row * row * 31 + row * 7 + row / 5) % GAPS.len()])
        .sum()
}

/// Returns the row tracked at position `n`. The tracking order is shuffled, so the seq column
/// of the sorted block is not monotonic.
fn tracked_row(n: usize) -> usize {
    n * 7_919 % ROWS
}

/// Windows that start and end inside the block, on and next to group boundaries: their edges
/// are the timestamps of the rows in `WINDOW_ROWS`, minus 1, as is and plus 1.
const WINDOW_ROWS: [(usize, usize); 5] = [(250, 262), (256, 512), (300, 700), (511, 513), (1, 899)];

fn windows() -> Vec<(i64, i64)> {
    let mut windows = Vec::new();
    for (first, last) in WINDOW_ROWS {
        for shift in [-1, 0, 1] {
            windows.push((timestamp(first) + shift, timestamp(last) + shift));
        }
    }
    windows.retain(|(start, end)| start < end);
    windows
}

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

/// Writes a store with one segment and returns its path. Each table has one block of more
/// than one group: predictions, labels of every prediction, orphan labels and aggregates.
fn build(dir: &Path) -> PathBuf {
    let store = Store::open_with(dir, options()).unwrap();
    let batch: Vec<NewPrediction> = (0..ROWS)
        .map(tracked_row)
        .map(|i| NewPrediction {
            model: MODEL.to_owned(),
            uuid: uuid(i as u128),
            timestamp_ms: timestamp(i),
            metrics: Metrics::new()
                .with("score", i as f64 / 8.0)
                .with("count", i as i64 * 37),
        })
        .collect();
    store.track_metrics_batch(&batch).unwrap();
    track_delayed_and_aggregates(&store);
    store.flush().unwrap();
    store.close().unwrap();

    let segments = files_with_prefix(dir, "seg-");
    assert_eq!(segments.len(), 1, "the store should hold one segment");
    segments.into_iter().next().unwrap()
}

/// Tracks a label of every prediction, the orphan labels and the aggregates.
fn track_delayed_and_aggregates(store: &Store) {
    let labels = (0..ROWS).map(|i| NewDelayed {
        uuid: uuid(i as u128),
        timestamp_ms: 5_000 + i as i64,
        metrics: Metrics::new().with("label", i.is_multiple_of(2)),
    });
    let orphans = (0..ORPHANS).map(|i| NewDelayed {
        uuid: uuid(ORPHAN_UUIDS + i as u128),
        timestamp_ms: timestamp(i),
        metrics: Metrics::new().with("label", i as i64),
    });
    let delayed: Vec<NewDelayed> = labels.chain(orphans).collect();
    store.track_delayed_metrics_batch(&delayed).unwrap();
    for i in 0..AGGREGATES {
        let metrics = Metrics::new().with("auc", i as f64 / 1_000.0);
        let start = timestamp(i);
        store
            .track_aggregate_metrics(MODEL, start, start + 1 + i as i64 % 3, &metrics)
            .unwrap();
    }
}

/// Everything the reads return, as text, so that two stores can be compared.
fn read_everything(dir: &Path) -> modelmetrics::Result<String> {
    let store = Store::open_with(dir, options())?;
    let mut out = String::new();
    for (start, end) in windows() {
        let rows: Vec<_> = store
            .read_metrics(MODEL, start, end)?
            .collect::<modelmetrics::Result<_>>()?;
        out.push_str(&format!("{rows:?}\n"));
        let columns = store.read_columns(MODEL, (start, end), &["score", "count"], &["label"])?;
        out.push_str(&format!("{columns:?}\n"));
    }
    for (start, end) in windows() {
        let aggregates = store.read_aggregate_metrics(MODEL, start, end)?;
        out.push_str(&format!("{aggregates:?}\n"));
    }
    for i in [0, 255, 256, 257, 511, 512, 899] {
        out.push_str(&format!("{:?}\n", store.lookup(uuid(i))?));
    }
    out.push_str(&format!("{:?}\n", store.orphaned_delayed_metrics()?));
    store.close()?;
    Ok(out)
}

/// How a damaged copy read.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The reads returned what the undamaged store returns.
    Same,
    /// The reads returned something else.
    Different,
    /// A read or the open failed with an error that names the segment file.
    Error,
}

/// Reads the copy in `dir` whose segment `name` was damaged as `case` describes. Panics when
/// the store panicked or returned an error that does not name the file.
fn outcome(dir: &Path, name: &str, expected: &str, case: &str) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| read_everything(dir)));
    match result {
        Err(_) => panic!("{case}: reading the damaged store panicked"),
        Ok(Ok(found)) if found == expected => Outcome::Same,
        Ok(Ok(_)) => Outcome::Different,
        Ok(Err(error)) => {
            let text = error.to_string();
            assert!(text.contains(name), "{case}: {text:?} does not name {name}");
            Outcome::Error
        }
    }
}

/// Returns the footer's offset and length from the trailer of `bytes`.
fn footer_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let trailer = &bytes[bytes.len() - TRAILER_LEN..];
    let offset = u64::from_le_bytes(trailer[0..8].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(trailer[8..12].try_into().unwrap()) as usize;
    offset..offset + len
}

/// Stores the CRC of the footer of `bytes` in its trailer.
fn fix_footer_crc(bytes: &mut [u8]) {
    let footer = footer_range(bytes);
    let crc = crc32fast::hash(&bytes[footer]);
    let at = bytes.len() - TRAILER_LEN + 12;
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A store image, its segment and what an undamaged read returns.
struct Image {
    root: tempfile::TempDir,
    store: PathBuf,
    segment: PathBuf,
    name: String,
    expected: String,
}

impl Image {
    fn new() -> Image {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("image");
        let segment = build(&store);
        let name = segment.file_name().unwrap().to_string_lossy().into_owned();
        let expected = read_everything(&store).unwrap();
        Image {
            root,
            store,
            segment,
            name,
            expected,
        }
    }

    /// Copies the store, replaces its segment with `bytes` and reads it.
    fn read_with(&self, bytes: &[u8], case: &str) -> Outcome {
        let copy = self.root.path().join("copy");
        let _ = fs::remove_dir_all(&copy);
        copy_store(&self.store, &copy);
        fs::write(copy.join(&self.name), bytes).unwrap();
        outcome(&copy, &self.name, &self.expected, case)
    }

    /// Returns whether `Segment::verify` rejects the segment `bytes`, or open does.
    fn verify_rejects(&self, bytes: &[u8]) -> bool {
        let dir = self.root.path().join("verify");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(&self.name), bytes).unwrap();
        let id = parse_segment_file_name(&self.name).unwrap();
        Segment::open(&dir, id)
            .and_then(|segment| segment.verify())
            .is_err()
    }
}

#[test]
fn flipped_footer_bytes_fail_the_crc() {
    let image = Image::new();
    let bytes = fs::read(&image.segment).unwrap();
    for at in footer_range(&bytes) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let case = format!("footer byte {at} flipped");
        assert_eq!(image.read_with(&damaged, &case), Outcome::Error, "{case}");
    }
}

#[test]
fn flipped_chunk_bytes_are_caught() {
    let image = Image::new();
    let bytes = fs::read(&image.segment).unwrap();
    let chunks = footer_range(&bytes).start;
    let step = (chunks / 300).max(1);
    for at in (0..chunks).step_by(step) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let case = format!("chunk byte {at} flipped");
        let found = image.read_with(&damaged, &case);
        assert_ne!(
            found,
            Outcome::Different,
            "{case}: the reads changed silently"
        );
    }
}

#[test]
fn truncated_segment_names_the_file() {
    let image = Image::new();
    let bytes = fs::read(&image.segment).unwrap();
    let footer = footer_range(&bytes);
    let mut lengths = vec![0, 1, TRAILER_LEN - 1, TRAILER_LEN, footer.start, footer.end];
    lengths.extend([footer.start / 2, bytes.len() - 1, footer.end + 1]);
    for len in lengths {
        let case = format!("segment cut to {len} of {} bytes", bytes.len());
        assert_eq!(
            image.read_with(&bytes[..len], &case),
            Outcome::Error,
            "{case}"
        );
    }
}

/// Returns the file positions of the model and metric names in the footer. Names are data: a
/// changed name reads as another name and no check can tell.
fn name_bytes(bytes: &[u8]) -> Vec<usize> {
    let footer = footer_range(bytes);
    let mut positions = Vec::new();
    for name in [MODEL, "score", "count", "label", "auc"] {
        let mut prefixed = vec![name.len() as u8];
        prefixed.extend_from_slice(name.as_bytes());
        // A name with two value types, such as `label`, has two column entries.
        let windows = bytes[footer.clone()].windows(prefixed.len()).enumerate();
        let found: Vec<usize> = windows
            .filter(|(_, window)| *window == prefixed)
            .map(|(at, _)| footer.start + at + 1)
            .collect();
        assert!(!found.is_empty(), "name {name} not found in the footer");
        for start in found {
            positions.extend(start..start + name.len());
        }
    }
    positions
}

/// A footer byte changed under a valid footer CRC is what a writer bug leaves. No CRC can catch
/// it, so reads may differ, but they must not panic, and `verify` must reject every change that
/// alters what a read returns, except a change of a name.
#[test]
fn footer_changed_under_valid_crc_never_panics() {
    let image = Image::new();
    let bytes = fs::read(&image.segment).unwrap();
    let names = name_bytes(&bytes);
    let mut unverified = Vec::new();
    for at in footer_range(&bytes).filter(|at| !names.contains(at)) {
        for mask in [0x01, 0x40, 0x80] {
            let mut damaged = bytes.clone();
            damaged[at] ^= mask;
            fix_footer_crc(&mut damaged);
            let case = format!("footer byte {at} ^ {mask:#04x} under a valid CRC");
            let found = image.read_with(&damaged, &case);
            if found == Outcome::Different && !image.verify_rejects(&damaged) {
                unverified.push(case);
            }
        }
    }
    assert!(
        unverified.is_empty(),
        "verify accepted footers that change reads: {unverified:#?}"
    );
}
