//! The `dump` example run as a program against a store built here. The tests check what it
//! prints for a store that a writer has open and its exit status with `--verify` on intact and
//! damaged copies, and what it prints of a compacted store: its rollup files and compaction
//! state. They also check its handling of bad arguments and of directories without a store.
//!
//! The tests run the example binary that cargo builds into `target/<profile>/examples`. A plain
//! `cargo test` (or `cargo test --release`) builds the examples before it runs any test; a run
//! limited with `--test dump_example` needs `cargo build --example dump` with the same profile
//! first.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use modelmetrics::rollup::{RollupFile, rollup_file_name};
use modelmetrics::segment::Segment;
use modelmetrics::{
    Compaction, Metrics, NewAggregate, NewDelayed, NewPrediction, Options, Retention, RollupTier,
    Store,
};
use support::{copy_store, files_with_prefix, uuid};

const T0: i64 = 1_700_000_000_000;
const MODELS: [&str; 2] = ["credit", "fraud"];
const DAY_MS: i64 = 86_400_000;
/// Predictions flushed into the segment.
const FLUSHED: u128 = 300;
/// Predictions left in the log, tracked one per call so that each is a frame of its own.
const LOGGED: u128 = 40;
/// Delayed records left in the log, one per call.
const LOGGED_DELAYED: u128 = 10;
/// Aggregate records left in the log, one per call.
const LOGGED_AGGREGATES: i64 = 2;

/// Returns the path of the compiled example, checking that it exists and is newer than the
/// sources it is built from.
fn dump_binary() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    // Integration tests run from target/<profile>/deps; examples are in target/<profile>/examples.
    let profile_dir = test_binary.parent().and_then(Path::parent).unwrap();
    let name = format!("dump{}", std::env::consts::EXE_SUFFIX);
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "{} not found: run `cargo test` without target filters, or `cargo build --example \
         dump` with the profile of this test run, first",
        binary.display()
    );
    let built = fs::metadata(&binary).unwrap().modified().unwrap();
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sources in [crate_dir.join("src"), crate_dir.join("examples/dump")] {
        let newest = newest_modification(&sources);
        assert!(
            newest <= built,
            "{} is older than the sources in {}: rebuild it with `cargo build --example dump`",
            binary.display(),
            sources.display()
        );
    }
    binary
}

/// Returns the latest modification time of the files under `dir`.
fn newest_modification(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let metadata = entry.metadata().unwrap();
        let modified = if metadata.is_dir() {
            newest_modification(&entry.path())
        } else {
            metadata.modified().unwrap()
        };
        newest = newest.max(modified);
    }
    newest
}

fn run_dump(arguments: &[&str], dir: Option<&Path>) -> Output {
    let mut command = Command::new(dump_binary());
    command.args(arguments);
    if let Some(dir) = dir {
        command.arg(dir);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Returns the lines of `text` trimmed, with every run of spaces made one space, so that
/// checks do not depend on column widths.
fn normalized_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn has_line_starting(text: &str, prefix: &str) -> bool {
    normalized_lines(text)
        .iter()
        .any(|line| line.starts_with(prefix))
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn prediction(n: u128) -> NewPrediction {
    NewPrediction {
        model: MODELS[(n % 2) as usize].to_owned(),
        uuid: uuid(n),
        timestamp_ms: T0 + n as i64 * 1000,
        metrics: Metrics::new()
            .with("score", n as f64 / 400.0)
            .with("amount", n as i64 * 10)
            .with("approved", n.is_multiple_of(3)),
    }
}

fn delayed(n: u128) -> NewDelayed {
    NewDelayed {
        uuid: uuid(n),
        timestamp_ms: T0 + DAY_MS,
        metrics: Metrics::new().with("label", n.is_multiple_of(2)),
    }
}

fn aggregate(model: &str, day: i64) -> NewAggregate {
    NewAggregate {
        model: model.to_owned(),
        start_ms: T0 + day * DAY_MS,
        end_ms: T0 + (day + 1) * DAY_MS,
        metrics: Metrics::new().with("auc", 0.75).with("day", day),
    }
}

/// Opens a store in `dir` and writes one segment (300 predictions, 100 delayed records, an
/// orphan and 6 aggregates), then leaves 40 predictions, 10 delayed records and 2 aggregates
/// in the log. Returns the store, still open.
fn build_store(dir: &Path) -> Store {
    let options = Options::default()
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
        .flush_interval(Duration::ZERO);
    let store = Store::open_with(dir, options).unwrap();
    let predictions: Vec<NewPrediction> = (0..FLUSHED).map(prediction).collect();
    store.track_metrics_batch(&predictions).unwrap();
    let labels: Vec<NewDelayed> = (0..FLUSHED).step_by(3).map(delayed).collect();
    store.track_delayed_metrics_batch(&labels).unwrap();
    store.track_delayed_metrics_batch(&[delayed(9000)]).unwrap();
    let aggregates: Vec<NewAggregate> = MODELS
        .iter()
        .flat_map(|model| (0..3).map(|day| aggregate(model, day)))
        .collect();
    store.track_aggregate_metrics_batch(&aggregates).unwrap();
    store.flush().unwrap();

    for n in FLUSHED..FLUSHED + LOGGED {
        store.track_metrics_batch(&[prediction(n)]).unwrap();
    }
    for n in FLUSHED..FLUSHED + LOGGED_DELAYED {
        store.track_delayed_metrics_batch(&[delayed(n)]).unwrap();
    }
    for day in 3..3 + LOGGED_AGGREGATES {
        store
            .track_aggregate_metrics_batch(&[aggregate(MODELS[0], day)])
            .unwrap();
    }
    store
}

/// Builds a store, copies its files while it is open (as a crash would leave them), then closes
/// it. Returns the temporary directory, which owns both, and the copy.
fn copied_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("store");
    let copy = dir.path().join("copy");
    let store = build_store(&original);
    copy_store(&original, &copy);
    store.close().unwrap();
    (dir, copy)
}

/// Returns the contents of every file in `dir` by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// Flips one bit of the byte at `offset` of `path`.
fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x10;
    fs::write(path, bytes).unwrap();
}

/// Returns the id and path of the only segment of `dir`.
fn only_segment(dir: &Path) -> (u64, PathBuf) {
    let segments = files_with_prefix(dir, "seg-");
    assert_eq!(segments.len(), 1, "segments: {segments:?}");
    let name = file_name(&segments[0]);
    let id = name
        .trim_start_matches("seg-")
        .trim_end_matches(".seg")
        .parse()
        .unwrap();
    (id, segments[0].clone())
}

#[test]
fn dump_of_open_store_lists_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let segments = files_with_prefix(dir.path(), "seg-");
    let runs = files_with_prefix(dir.path(), "index-");
    let output = run_dump(&["--verify"], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    assert!(!segments.is_empty());
    assert!(!runs.is_empty());
    for path in segments.iter().chain(&runs) {
        assert!(text.contains(&file_name(path)), "{path:?} missing:\n{text}");
    }
    let held = format!("lock: held by process {}", std::process::id());
    assert!(has_line_starting(&text, &held), "{text}");
    assert!(has_line_starting(&text, "verify: OK"), "{text}");
}

#[test]
fn dump_of_closed_store_shows_lock_free() {
    let dir = tempfile::tempdir().unwrap();
    build_store(dir.path()).close().unwrap();
    let output = run_dump(&[], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    let free = format!("lock: free (last holder process {})", std::process::id());
    assert!(has_line_starting(&text, &free), "{text}");
    Store::open(dir.path()).expect("the dump left the store locked");
}

#[test]
fn dump_of_open_store_names_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let logs = files_with_prefix(dir.path(), "wal-");
    let output = run_dump(&[], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    assert_eq!(logs.len(), 1, "log files: {logs:?}");
    let name = file_name(&logs[0]);
    assert!(
        has_line_starting(&text, &format!("log file 2: {name}")),
        "{text}"
    );
    let frames = LOGGED + LOGGED_DELAYED + LOGGED_AGGREGATES as u128;
    let summary = format!(
        "frames: {frames}, records: {frames} (predictions {LOGGED}, delayed \
         {LOGGED_DELAYED}, aggregates {LOGGED_AGGREGATES})"
    );
    assert!(has_line_starting(&text, &summary), "{text}");
    let skipped = frames - 25;
    let note = format!("... {skipped} frames not listed");
    assert!(has_line_starting(&text, &note), "{text}");
    assert!(has_line_starting(&text, "end: clean at offset"), "{text}");
}

#[test]
fn all_frames_lists_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let output = run_dump(&["--all-frames"], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);

    assert!(!text.contains("frames not listed"), "{text}");
    let last = LOGGED + LOGGED_DELAYED + LOGGED_AGGREGATES as u128 - 1;
    for frame in [0, 20, 30, last] {
        let listed = normalized_lines(&text)
            .iter()
            .any(|line| line.split(' ').next() == Some(frame.to_string().as_str()));
        assert!(listed, "frame {frame} not listed:\n{text}");
    }
}

#[test]
fn dump_prints_rows_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let output = run_dump(&[], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);

    // table, rows, blocks: 300 predictions and 100 delayed records of two models, an orphan,
    // and 3 aggregates of each model.
    for row in [
        "predictions 300 2 ",
        "delayed 100 2 ",
        "orphans 1 1 ",
        "aggregates 6 2 ",
    ] {
        assert!(has_line_starting(&text, row), "no row {row:?}:\n{text}");
    }
    assert!(
        has_line_starting(&text, "credit predictions 150 1 "),
        "{text}"
    );
    assert!(has_line_starting(&text, "fraud delayed 50 1 "), "{text}");
    assert!(
        has_line_starting(&text, "predictions score f64 floats"),
        "{text}"
    );
    let totals = format!(
        "predictions: {} ({FLUSHED} in segments, {LOGGED} in log files, 0 in rollups)",
        FLUSHED + LOGGED
    );
    assert!(has_line_starting(&text, &totals), "{text}");
}

#[test]
fn dump_prints_utc_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let output = run_dump(&[], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);

    // T0 is 2023-11-14T22:13:20Z; the last aggregate window ends 3 days later.
    let range = "time range: 1700000000000 .. 1700259200000 ms \
                 (2023-11-14T22:13:20.000Z .. 2023-11-17T22:13:20.000Z)";
    assert!(has_line_starting(&text, range), "{text}");
}

#[test]
fn dump_writes_no_byte() {
    let (_dir, copy) = copied_store();
    let before = snapshot(&copy);
    let output = run_dump(&["--verify"], Some(&copy));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(before == snapshot(&copy), "the dump changed a file");
}

#[test]
fn verify_names_damaged_segment() {
    let (_dir, copy) = copied_store();
    let (id, path) = only_segment(&copy);
    let block_data = Segment::open(&copy, id).unwrap().footer_offset();
    flip_byte(&path, block_data / 2);

    let output = run_dump(&["--verify"], Some(&copy));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let name = file_name(&path);
    assert!(
        has_line_starting(&text, &format!("{name}: damaged at offset")),
        "{text}"
    );
    // The index run reads its UUIDs from the segment, so when the flipped byte lies in the
    // UUID column the run fails its check too.
    let problems = if text.contains("index-00000000000000000002.idx: damaged") {
        2
    } else {
        1
    };
    assert!(
        has_line_starting(&text, &format!("verify: FAILED, problems: {problems}")),
        "{text}"
    );
    // The damage stops neither the index runs nor the log from being dumped.
    assert!(has_line_starting(&text, "index runs: 1"), "{text}");
    assert!(has_line_starting(&text, "end: clean at offset"), "{text}");
}

#[test]
fn verify_names_damaged_log_frame() {
    let (_dir, copy) = copied_store();
    let logs = files_with_prefix(&copy, "wal-");
    // The first frame header is at 24; its payload starts 8 bytes later.
    flip_byte(&logs[0], 24 + 8 + 3);

    let output = run_dump(&["--verify"], Some(&copy));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let damaged = format!("{}: damaged at offset 24", file_name(&logs[0]));
    assert!(has_line_starting(&text, &damaged), "{text}");
}

#[test]
fn damaged_manifest_still_dumps_files() {
    let (_dir, copy) = copied_store();
    flip_byte(&copy.join("MANIFEST"), 20);

    let output = run_dump(&[], Some(&copy));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(has_line_starting(&text, "manifest: unreadable"), "{text}");
    assert!(
        has_line_starting(&text, "MANIFEST: damaged at offset"),
        "{text}"
    );
    let (_, segment) = only_segment(&copy);
    assert!(text.contains(&file_name(&segment)), "{text}");
    assert!(has_line_starting(&text, "predictions 300 2 "), "{text}");
}

#[test]
fn missing_directory_exits_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_dump(&[], Some(&dir.path().join("absent")));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
}

#[test]
fn directory_without_manifest_exits_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_dump(&[], Some(dir.path()));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no MANIFEST"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_arguments_exit_with_two() {
    for arguments in [&["--bogus", "dir"][..], &[], &["a", "b"]] {
        let output = run_dump(arguments, None);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        assert!(!output.stderr.is_empty(), "{arguments:?}");
    }
}

#[test]
fn help_prints_usage() {
    let output = run_dump(&["--help"], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("Usage: dump"));
}

#[test]
fn dump_of_uncompacted_store_shows_no_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let output = run_dump(&[], Some(dir.path()));
    store.close().unwrap();
    let text = stdout(&output);

    assert!(
        has_line_starting(&text, "live rollup files: none"),
        "{text}"
    );
    assert!(
        has_line_starting(&text, "raw_cutoff_ms: none: nothing rolled up"),
        "{text}"
    );
    assert!(
        has_line_starting(&text, "expired_before_ms: none: nothing deleted by age"),
        "{text}"
    );
    assert!(has_line_starting(&text, "last compaction: none"), "{text}");
    assert!(has_line_starting(&text, "rollup files: 0"), "{text}");
}

/// Milliseconds between two predictions of the compacted store.
const COMPACTED_STEP_MS: i64 = 600_000;
/// Predictions of the compacted store: three days, one every 10 minutes.
const COMPACTED_PREDICTIONS: i64 = 3 * DAY_MS / COMPACTED_STEP_MS;
const HOUR_MS: i64 = 3_600_000;

/// Returns the raw cutoff of the compacted store: one day before its newest prediction, rounded
/// down to the one-day partition.
fn compacted_cutoff_ms() -> i64 {
    let newest = T0 + (COMPACTED_PREDICTIONS - 1) * COMPACTED_STEP_MS;
    (newest - DAY_MS).div_euclid(DAY_MS) * DAY_MS
}

/// Writes three days of predictions of two models, every other one labeled, into a store
/// that keeps one day raw and rolls older predictions up per hour. Compacts it, closes it
/// and returns the id of its rollup file.
fn build_compacted_store(dir: &Path) -> u64 {
    let retention = Retention::keep_raw_for(Duration::from_millis(DAY_MS as u64))
        .then(RollupTier::every(Duration::from_millis(HOUR_MS as u64)));
    let compaction = Compaction {
        enabled: false,
        retention,
        ..Compaction::default()
    };
    let store = Store::open_with(dir, Options::default().compaction(compaction)).unwrap();
    let predictions: Vec<NewPrediction> = (0..COMPACTED_PREDICTIONS)
        .map(|i| NewPrediction {
            timestamp_ms: T0 + i * COMPACTED_STEP_MS,
            ..prediction(i as u128)
        })
        .collect();
    store.track_metrics_batch(&predictions).unwrap();
    let labels: Vec<NewDelayed> = (0..COMPACTED_PREDICTIONS as u128)
        .step_by(2)
        .map(delayed)
        .collect();
    store.track_delayed_metrics_batch(&labels).unwrap();
    store.flush().unwrap();
    assert!(store.compact().unwrap() > 0);
    store.close().unwrap();

    let rollups = files_with_prefix(dir, "rollup-");
    assert_eq!(rollups.len(), 1, "rollup files: {rollups:?}");
    file_name(&rollups[0])
        .trim_start_matches("rollup-")
        .trim_end_matches(".mmr")
        .parse()
        .unwrap()
}

/// Returns the predictions before the compacted store's raw cutoff: those of model `credit`
/// (even numbers) and of model `fraud` (odd numbers).
fn rolled_up_per_model() -> (i64, i64) {
    let rolled_up = (compacted_cutoff_ms() - T0 + COMPACTED_STEP_MS - 1) / COMPACTED_STEP_MS;
    ((rolled_up + 1) / 2, rolled_up / 2)
}

#[test]
fn dump_shows_compaction_state() {
    let dir = tempfile::tempdir().unwrap();
    let rollup_id = build_compacted_store(dir.path());
    let output = run_dump(&["--verify"], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    assert!(
        has_line_starting(&text, &format!("live rollup files: {rollup_id}")),
        "{text}"
    );
    // T0 + 3 days - 10 minutes, less one day, rounded down: 2023-11-16T00:00Z.
    let cutoff = compacted_cutoff_ms();
    assert_eq!(cutoff, 1_700_092_800_000);
    let line = format!(
        "raw_cutoff_ms: {cutoff} (2023-11-16T00:00:00.000Z): older predictions are rolled up"
    );
    assert!(has_line_starting(&text, &line), "{text}");
    assert!(
        has_line_starting(&text, "tier_cutoffs: none: no rollup was merged"),
        "{text}"
    );
    assert!(
        has_line_starting(&text, "last compaction: finished "),
        "{text}"
    );
    let (credit, fraud) = rolled_up_per_model();
    // 92,800,000 ms from T0 to the cutoff hold 155 predictions, one every 10 minutes.
    assert_eq!(credit + fraud, 155);
    let rolled_up = format!(
        "predictions rolled up: {}, records deleted by age: 0",
        credit + fraud
    );
    assert!(has_line_starting(&text, &rolled_up), "{text}");
}

#[test]
fn dump_lists_rollups_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let rollup_id = build_compacted_store(dir.path());
    let output = run_dump(&["--verify"], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    let rollups = RollupFile::open(dir.path(), rollup_id).unwrap();
    let name = rollup_file_name(rollup_id);
    assert!(has_line_starting(&text, "rollup files: 1"), "{text}");
    assert!(
        has_line_starting(&text, &format!("rollup file {rollup_id}: {name}")),
        "{text}"
    );
    let overview = format!(
        "{} bytes, {} rollups",
        rollups.file_bytes(),
        rollups.rollup_count()
    );
    assert!(has_line_starting(&text, &overview), "{text}");
    // An hourly rollup per model from T0's hour to the cutoff, 26 hours. The even
    // predictions are labeled, and they are those of model credit.
    let (credit, fraud) = rolled_up_per_model();
    let first_hour = T0.div_euclid(HOUR_MS) * HOUR_MS;
    let hours = (compacted_cutoff_ms() - first_hour) / HOUR_MS;
    assert_eq!(hours, 26);
    let range = format!(
        "{first_hour} .. {} ms (2023-11-14T22:00:00.000Z .. 2023-11-16T00:00:00.000Z)",
        compacted_cutoff_ms()
    );
    let credit_row = format!("credit 1h {hours} {credit} {credit} {range}");
    assert!(has_line_starting(&text, &credit_row), "{text}");
    let fraud_row = format!("fraud 1h {hours} {fraud} 0 {range}");
    assert!(has_line_starting(&text, &fraud_row), "{text}");
    assert!(
        has_line_starting(&text, "verify: OK, every rollup decoded"),
        "{text}"
    );
    let predictions = format!(
        "predictions: {COMPACTED_PREDICTIONS} ({} in segments, 0 in log files, {} in rollups)",
        COMPACTED_PREDICTIONS - credit - fraud,
        credit + fraud
    );
    assert!(has_line_starting(&text, &predictions), "{text}");
    let totals = format!("rollup files 1 {}", rollups.file_bytes());
    assert!(has_line_starting(&text, &totals), "{text}");
    assert!(has_line_starting(&text, "verify: OK"), "{text}");
    assert!(text.contains("rollup files: 1, log files:"), "{text}");
}

#[test]
fn dump_flags_stray_rollup_file() {
    let dir = tempfile::tempdir().unwrap();
    let rollup_id = build_compacted_store(dir.path());
    let stray = rollup_file_name(rollup_id + 1000);
    fs::copy(
        dir.path().join(rollup_file_name(rollup_id)),
        dir.path().join(&stray),
    )
    .unwrap();
    let output = run_dump(&[], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    let note = format!(
        "{stray} {} rollup file {} stray: the manifest does not list it",
        fs::metadata(dir.path().join(&stray)).unwrap().len(),
        rollup_id + 1000
    );
    assert!(has_line_starting(&text, &note), "{text}");
    assert!(has_line_starting(&text, "rollup files: 1"), "{text}");
    assert!(has_line_starting(&text, "stray files 1 "), "{text}");
}

#[test]
fn dump_names_damaged_rollup_file() {
    let dir = tempfile::tempdir().unwrap();
    let rollup_id = build_compacted_store(dir.path());
    let path = dir.path().join(rollup_file_name(rollup_id));
    // Past the 24-byte header, inside the first rollup body.
    flip_byte(&path, 30);

    let output = run_dump(&[], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let damaged = format!("{}: damaged at offset", file_name(&path));
    assert!(has_line_starting(&text, &damaged), "{text}");
    assert!(has_line_starting(&text, "problems: 1"), "{text}");
}

#[test]
fn dump_lists_pending_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = modelmetrics::Uuid::from_u128(77);
    {
        let options = modelmetrics::Options::default().compaction(modelmetrics::Compaction {
            enabled: false,
            ..modelmetrics::Compaction::default()
        });
        let store = modelmetrics::Store::open_with(dir.path(), options).unwrap();
        let metrics = modelmetrics::Metrics::new().with("score", 0.5);
        store.track_metrics("credit", uuid, 0, &metrics).unwrap();
        store.delete_prediction(uuid).unwrap();
        store.delete_model("fraud").unwrap();
        // The store stays open, so compaction never purges the deletions.
        let output = run_dump(&[], Some(dir.path()));
        let text = stdout(&output);
        assert!(has_line_starting(&text, "pending deletions: 2 "), "{text}");
        let prediction = format!("prediction {uuid}, tracked up to seq 1");
        assert!(has_line_starting(&text, &prediction), "{text}");
        assert!(
            has_line_starting(&text, "model \"fraud\", tracked up to seq 1"),
            "{text}"
        );
    }
}

#[test]
fn dump_counts_late_labels_for_rolled_up_predictions() {
    let dir = tempfile::tempdir().unwrap();
    build_compacted_store(dir.path());
    let store = Store::open_with(dir.path(), Options::default()).unwrap();
    // Prediction 1 was rolled up; 100,000 was never tracked.
    store
        .track_delayed_metrics_batch(&[delayed(1), delayed(100_000)])
        .unwrap();
    store.close().unwrap();
    let output = run_dump(&["--verify"], Some(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    let (credit, fraud) = rolled_up_per_model();
    let filters = format!(
        "rolled-up filters: 1, of {} prediction UUIDs in",
        credit + fraud
    );
    assert!(has_line_starting(&text, &filters), "{text}");
    let orphans = "orphaned delayed rows in segments: 2, 1 of them for rolled-up predictions";
    assert!(has_line_starting(&text, orphans), "{text}");
}
