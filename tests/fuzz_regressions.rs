//! The seed corpus of the fuzz targets in fuzz/, and inputs that fuzzing found to break a
//! decoder, each fed to that decoder again.
//!
//! The seeds are small valid files written by the library itself. After a format change,
//! rewrite them with
//! `MODELMETRICS_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_regressions -- --ignored write_seed`.
//!
//! An index run is read without its segments, through the synthetic `LocationUuids` source of
//! the fuzz package, which derives the UUID of a row from its location. The `index_run` seeds
//! contain entries built with `located_entry`, so that their UUIDs match that source.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};

use modelmetrics::batch::{ColumnBatch, DelayedColumnBatch, MetricColumn};
use modelmetrics::codec::{bitmap, blobs, bools, floats, ints, strings, timestamps};
use modelmetrics::index::{EntryKind, IndexEntry, IndexRun, index_file_name};
use modelmetrics::manifest::Manifest;
use modelmetrics::record::{
    AggregateRecord, DelayedRecord, LogRecord, PredictionKey, PredictionRecord, ResolvedDelayed,
};
use modelmetrics::rollup::{
    DEFAULT_ALPHA, RolledUpFilter, RollupFile, coarsen, roll_up, rollup_file_name,
};
use modelmetrics::segment::{Segment, SegmentData, segment_file_name, write_segment};
use modelmetrics::value::MAX_BYTES_LEN;
use modelmetrics::wal::{self, FileEnd, Wal, WalOptions, decode_records, encode_records};
use modelmetrics::{Durability, Metrics, Prediction, Uuid};

// This is the module file of the fuzz package, so that the seeds and the fuzz target agree on
// the UUID of every location.
#[path = "../fuzz/src/location_uuids.rs"]
mod location_uuids;

use location_uuids::{LocationUuids, located_entry};

/// Id of the segment and the index run, and number of the log file, that the fuzz targets
/// write their input to.
const FILE_ID: u64 = 1;
const T0: i64 = 1_700_000_000_000;
const ZSTD_LEVEL: i32 = 3;
/// Environment variable that lets `write_seed_corpus` replace the committed seeds.
const WRITE_SEEDS_VAR: &str = "MODELMETRICS_WRITE_FUZZ_SEEDS";
/// Bytes that the fuzz targets read the row count of a codec input from.
const ROW_COUNT_BYTES: usize = 3;

/// One seed file: the fuzz target whose corpus it belongs to, its file name, its bytes.
struct Seed {
    target: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

// Records of the seeds.

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n)
}

fn inline_metrics(n: i64) -> Metrics {
    let mut metrics = Metrics::new()
        .with("score", n as f64 / 8.0)
        .with("latency_ms", 40 + n % 7)
        .with("segment", ["retail", "corporate"][(n % 2) as usize]);
    if n % 3 == 0 {
        metrics.push("approved", n % 2 == 0);
        metrics.push("request", format!("{{\"id\": {n}}}").into_bytes());
    }
    metrics
}

fn prediction(model: &str, n: i64) -> PredictionRecord {
    PredictionRecord {
        seq: n as u64 + 1,
        model: model.to_owned(),
        uuid: uuid(n as u128),
        timestamp_ms: T0 + n * 1000,
        metrics: inline_metrics(n),
    }
}

fn delayed(n: i64) -> DelayedRecord {
    DelayedRecord {
        seq: 100 + n as u64,
        uuid: uuid(n as u128),
        timestamp_ms: T0 + 60_000 + n,
        metrics: Metrics::new()
            .with("label", n % 2 == 1)
            .with("error", n as f64 * 0.5),
    }
}

fn aggregate(model: &str, n: i64) -> AggregateRecord {
    AggregateRecord {
        seq: 200 + n as u64,
        model: model.to_owned(),
        start_ms: T0 + n * 3_600_000,
        end_ms: T0 + (n + 1) * 3_600_000,
        metrics: Metrics::new()
            .with("auc", 0.9 - n as f64 / 100.0)
            .with("count", 1000 + n),
    }
}

// Seeds of each target.

/// Returns predictions `0..rows` of `model` as one columnar batch, with a column of each type.
fn column_batch(model: &str, rows: i64) -> LogRecord {
    let numbers = 0..rows;
    LogRecord::PredictionColumns(ColumnBatch {
        first_seq: 300,
        model: model.to_owned(),
        uuids: numbers.clone().map(|n| uuid(1_000 + n as u128)).collect(),
        timestamps_ms: numbers.clone().map(|n| T0 + n * 1000).collect(),
        metrics: vec![
            (
                "approved".into(),
                MetricColumn::Bool(numbers.clone().map(|n| n % 2 == 0).collect()),
            ),
            (
                "latency_ms".into(),
                MetricColumn::I64(numbers.clone().map(|n| 40 + n % 7).collect()),
            ),
            (
                "request".into(),
                MetricColumn::Bytes(numbers.clone().map(|n| vec![n as u8; 3]).collect()),
            ),
            (
                "score".into(),
                MetricColumn::F64(numbers.clone().map(|n| n as f64 / 8.0).collect()),
            ),
            (
                "segment".into(),
                MetricColumn::Str(numbers.map(|n| format!("s{n}")).collect()),
            ),
        ],
    })
}

/// Returns labels of `rows` predictions as one columnar batch of delayed metrics, with the
/// first UUID twice.
fn delayed_columns(rows: i64) -> LogRecord {
    let numbers = 0..rows;
    let mut uuids: Vec<Uuid> = numbers.clone().map(|n| uuid(1_000 + n as u128)).collect();
    uuids.push(uuid(1_000));
    let rows = uuids.len() as i64;
    LogRecord::DelayedColumns(DelayedColumnBatch {
        first_seq: 400,
        uuids,
        timestamps_ms: (0..rows).map(|n| T0 + 5_000 + n).collect(),
        metrics: vec![
            (
                "label".into(),
                MetricColumn::Bool((0..rows).map(|n| n % 3 == 0).collect()),
            ),
            (
                "loss".into(),
                MetricColumn::F64((0..rows).map(|n| n as f64 / 4.0).collect()),
            ),
        ],
    })
}

fn wal_payload_seeds() -> Vec<Seed> {
    let batches: [(&str, Vec<LogRecord>); 6] = [
        ("empty_batch", Vec::new()),
        (
            "prediction",
            vec![LogRecord::Prediction(prediction("credit", 3))],
        ),
        (
            "delayed_and_aggregate",
            vec![
                LogRecord::Delayed(delayed(1)),
                LogRecord::Aggregate(aggregate("credit", 0)),
            ],
        ),
        (
            "mixed_batch",
            (0..4)
                .map(|n| LogRecord::Prediction(prediction("fraud", n)))
                .chain([LogRecord::Delayed(delayed(2))])
                .collect(),
        ),
        (
            "columnar_batch",
            vec![column_batch("fraud", 4), LogRecord::Delayed(delayed(1))],
        ),
        (
            "delayed_columns",
            vec![delayed_columns(3), LogRecord::Delayed(delayed(1))],
        ),
    ];
    batches
        .into_iter()
        .map(|(name, records)| {
            let mut bytes = Vec::new();
            encode_records(&records, &mut bytes);
            Seed {
                target: "wal_payload",
                name,
                bytes,
            }
        })
        .collect()
}

/// Writes `batches` as a log with files of `file_size` bytes and returns the bytes of file 1.
fn write_log(file_size: u64, batches: &[Vec<LogRecord>]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        durability: Durability::Os,
        file_size,
    };
    let (log, _) = Wal::open(dir.path(), FILE_ID, options, &mut |_| Ok(())).unwrap();
    for batch in batches {
        log.append(batch).unwrap();
    }
    log.close().unwrap();
    fs::read(dir.path().join(wal::wal_file_name(FILE_ID))).unwrap()
}

fn wal_file_seeds() -> Vec<Seed> {
    let one_frame = write_log(0, &[vec![LogRecord::Prediction(prediction("credit", 3))]]);
    let batches: Vec<Vec<LogRecord>> = vec![
        (0..3)
            .map(|n| LogRecord::Prediction(prediction("credit", n)))
            .collect(),
        vec![LogRecord::Delayed(delayed(1))],
        vec![LogRecord::Aggregate(aggregate("credit", 0))],
    ];
    let three_frames = write_log(2048, &batches);
    // A crash in the middle of the third frame: its last bytes never reached the file.
    let frames_end = three_frames.iter().rposition(|&b| b != 0).unwrap() + 1;
    let mut torn = three_frames.clone();
    torn[frames_end - 10..frames_end].fill(0);
    let columnar_batches = vec![
        vec![column_batch("credit", 5)],
        vec![LogRecord::Prediction(prediction("credit", 3))],
    ];
    let columnar_frames = write_log(2048, &columnar_batches);
    let delayed_batches = vec![vec![column_batch("credit", 5)], vec![delayed_columns(5)]];
    let delayed_columnar_frames = write_log(2048, &delayed_batches);
    vec![
        Seed {
            target: "wal_file",
            name: "one_frame",
            bytes: one_frame,
        },
        Seed {
            target: "wal_file",
            name: "three_frames",
            bytes: three_frames,
        },
        Seed {
            target: "wal_file",
            name: "torn_last_frame",
            bytes: torn,
        },
        Seed {
            target: "wal_file",
            name: "columnar_frames",
            bytes: columnar_frames,
        },
        Seed {
            target: "wal_file",
            name: "delayed_columnar_frames",
            bytes: delayed_columnar_frames,
        },
    ]
}

fn manifest_seeds() -> Vec<Seed> {
    let flushed = Manifest {
        next_file_id: 9,
        wal_start: 4,
        last_seq: 1234,
        segments: vec![2, 5, 7],
        index_runs: vec![3, 8],
        ..Manifest::default()
    };
    vec![
        Seed {
            target: "manifest",
            name: "new_store",
            bytes: Manifest::new_store().encode(),
        },
        Seed {
            target: "manifest",
            name: "flushed_store",
            bytes: flushed.encode(),
        },
    ]
}

/// Writes `data` as segment `FILE_ID` and returns its bytes.
fn segment_bytes(data: &SegmentData<'_>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let written = write_segment(dir.path(), FILE_ID, data, ZSTD_LEVEL).unwrap();
    fs::read(written.path).unwrap()
}

fn segment_seeds() -> Vec<Seed> {
    let predictions: Vec<PredictionRecord> = (0..6)
        .map(|n| prediction(["credit", "fraud"][(n % 2) as usize], n))
        .collect();
    let resolved = (0..3).map(|n| ResolvedDelayed {
        record: delayed(n),
        prediction: Some(PredictionKey {
            model: predictions[n as usize].model.clone(),
            timestamp_ms: predictions[n as usize].timestamp_ms,
            seq: predictions[n as usize].seq,
        }),
    });
    let orphan = ResolvedDelayed {
        record: delayed(50),
        prediction: None,
    };
    let delayed: Vec<ResolvedDelayed> = resolved.chain([orphan]).collect();
    let aggregates = [
        aggregate("credit", 0),
        aggregate("credit", 1),
        aggregate("fraud", 0),
    ];
    // Long repeated strings, so that zstd shrinks their chunk and the seed has a zstd chunk.
    let repeated: Vec<PredictionRecord> = (0..40)
        .map(|n| PredictionRecord {
            metrics: Metrics::new().with("note", "the same long note on every row ".repeat(4)),
            ..prediction("credit", n)
        })
        .collect();
    let seeds = [
        ("empty", SegmentData::default()),
        (
            "predictions",
            SegmentData {
                predictions: &predictions[..3],
                ..Default::default()
            },
        ),
        (
            "all_tables",
            SegmentData {
                predictions: &predictions,
                delayed: &delayed,
                aggregates: &aggregates,
            },
        ),
        (
            "zstd_chunk",
            SegmentData {
                predictions: &repeated,
                ..Default::default()
            },
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, data)| Seed {
            target: "segment",
            name,
            bytes: segment_bytes(&data),
        })
        .collect()
}

/// Writes `entries` as index run `FILE_ID` and returns its bytes.
fn index_run_bytes(entries: Vec<IndexEntry>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    IndexRun::write(dir.path(), FILE_ID, entries).unwrap();
    fs::read(dir.path().join(index_file_name(FILE_ID))).unwrap()
}

/// Entries per page of the `two_pages` seed: one segment and rows below 4096 make entries of
/// 13 bits (no slot bit, the kind bit, 12 row bits), 4092 × 8 / 13 of them per page.
const TWO_PAGES_PER_PAGE: u32 = 2518;

fn index_run_seeds() -> Vec<Seed> {
    use EntryKind::{Delayed, Prediction};
    // Two segments, both kinds, and one entry written twice, which a lookup returns twice.
    let six_entries = vec![
        located_entry(2, Prediction, 0),
        located_entry(2, Prediction, 1),
        located_entry(2, Delayed, 4),
        located_entry(3, Prediction, 2),
        located_entry(3, Delayed, 3),
        located_entry(3, Delayed, 3),
    ];
    // A full first page whose last entry repeats as the first entry of the second page, so a
    // lookup of that UUID continues past the page boundary.
    let mut two_pages: Vec<IndexEntry> = (0..TWO_PAGES_PER_PAGE)
        .map(|row| located_entry(5, Prediction, row))
        .collect();
    two_pages.push(located_entry(5, Prediction, TWO_PAGES_PER_PAGE - 1));
    vec![
        Seed {
            target: "index_run",
            name: "empty",
            bytes: index_run_bytes(Vec::new()),
        },
        Seed {
            target: "index_run",
            name: "six_entries",
            bytes: index_run_bytes(six_entries),
        },
        Seed {
            target: "index_run",
            name: "two_pages",
            bytes: index_run_bytes(two_pages),
        },
    ]
}

/// Builds a codec seed: the row count in the target's three leading bytes, then the encoding.
fn codec_seed(target: &'static str, name: &'static str, n: usize, encoding: Vec<u8>) -> Seed {
    let mut bytes = (n as u32).to_le_bytes()[..ROW_COUNT_BYTES].to_vec();
    bytes.extend_from_slice(&encoding);
    Seed {
        target,
        name,
        bytes,
    }
}

fn encoded<T: ?Sized>(values: &T, encode: impl FnOnce(&T, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    encode(values, &mut out);
    out
}

fn integer_codec_seeds() -> Vec<Seed> {
    let cadence: Vec<i64> = (0..64).map(|n| T0 + n * 1000).collect();
    let jittered: Vec<i64> = (0..64).map(|n| T0 + n * 1000 + (n * 37 % 600)).collect();
    let irregular: Vec<i64> = (0..32).map(|n| T0 + n * n * n * 7919).collect();
    let extremes = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN, 42];
    let small: Vec<i64> = (0..50).map(|n| n % 9 - 4).collect();
    vec![
        codec_seed(
            "codec_timestamps",
            "cadence",
            64,
            encoded(&cadence[..], timestamps::encode),
        ),
        codec_seed(
            "codec_timestamps",
            "jittered",
            64,
            encoded(&jittered[..], timestamps::encode),
        ),
        codec_seed(
            "codec_timestamps",
            "irregular",
            32,
            encoded(&irregular[..], timestamps::encode),
        ),
        codec_seed(
            "codec_ints",
            "extremes",
            7,
            encoded(&extremes[..], ints::encode),
        ),
        codec_seed("codec_ints", "small", 50, encoded(&small[..], ints::encode)),
        codec_seed(
            "codec_ints",
            "constant",
            100,
            encoded(&[5_i64; 100][..], ints::encode),
        ),
        codec_seed("codec_ints", "no_rows", 0, encoded(&[][..], ints::encode)),
    ]
}

fn float_codec_seeds() -> Vec<Seed> {
    let smooth: Vec<f64> = (0..64)
        .map(|n| 0.5 + (n as f64 / 10.0).sin() / 4.0)
        .collect();
    let special = [
        f64::NAN,
        f64::INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        1.5,
    ];
    vec![
        codec_seed(
            "codec_floats",
            "smooth",
            64,
            encoded(&smooth[..], floats::encode),
        ),
        codec_seed(
            "codec_floats",
            "special",
            7,
            encoded(&special[..], floats::encode),
        ),
        codec_seed(
            "codec_floats",
            "constant",
            40,
            encoded(&[0.25; 40][..], floats::encode),
        ),
    ]
}

fn flag_codec_seeds() -> Vec<Seed> {
    let mixed: Vec<bool> = (0..29).map(|n| n % 3 == 0).collect();
    vec![
        codec_seed(
            "codec_bools",
            "mixed",
            29,
            encoded(&mixed[..], bools::encode),
        ),
        codec_seed(
            "codec_bools",
            "all_true",
            16,
            encoded(&[true; 16][..], bools::encode),
        ),
        codec_seed(
            "codec_bitmap",
            "mixed",
            29,
            encoded(&mixed[..], bitmap::encode),
        ),
        codec_seed(
            "codec_bitmap",
            "all_present",
            16,
            encoded(&[true; 16][..], bitmap::encode),
        ),
        codec_seed(
            "codec_bitmap",
            "none_present",
            16,
            encoded(&[false; 16][..], bitmap::encode),
        ),
    ]
}

fn string_codec_seeds() -> Vec<Seed> {
    let repeated: Vec<&str> = (0..40)
        .map(|n| ["retail", "corporate", "public"][n % 3])
        .collect();
    let unique = ["", "a", "naïve", "風", "a longer value with spaces"];
    let payloads: [&[u8]; 4] = [
        b"",
        b"{\"id\": 1}",
        &[0, 255, 7, 7, 7, 7, 7, 7],
        b"{\"id\": 1}",
    ];
    vec![
        codec_seed(
            "codec_strings",
            "repeated",
            40,
            encoded(&repeated[..], strings::encode),
        ),
        codec_seed(
            "codec_strings",
            "unique",
            5,
            encoded(&unique[..], strings::encode),
        ),
        codec_seed(
            "codec_blobs",
            "payloads",
            4,
            encoded(&payloads[..], |v, out| blobs::encode(v, ZSTD_LEVEL, out)),
        ),
        codec_seed(
            "codec_blobs",
            "all_empty",
            3,
            encoded(&[&b""[..]; 3][..], |v, out| {
                blobs::encode(v, ZSTD_LEVEL, out)
            }),
        ),
    ]
}

/// Rollup files: one without rollups, one with rollups of two models and intervals, and the
/// same with the rolled-up filter of their predictions.
fn rollup_seeds() -> Vec<Seed> {
    // The files have id 1, the id the fuzz target names its input file with.
    let file_bytes = |rollups: &[modelmetrics::rollup::Rollup], filters: &[RolledUpFilter]| {
        let dir = tempfile::tempdir().unwrap();
        RollupFile::write(dir.path(), 1, rollups, filters).unwrap();
        fs::read(dir.path().join(rollup_file_name(1))).unwrap()
    };
    let predictions = (0..40i64).map(|i| Prediction {
        model: if i % 3 == 0 { "fraud" } else { "churn" }.to_owned(),
        uuid: Uuid::from_u128(i as u128),
        timestamp_ms: i * 90_000 - 600_000,
        metrics: Metrics::new()
            .with("score", i as f64 / 40.0)
            .with("country", if i % 2 == 0 { "de" } else { "fr" }),
        delayed: Metrics::new().with("label", i % 4 == 0),
    });
    let uuids = predictions.clone().map(|p| (p.uuid, p.timestamp_ms));
    let filters: Vec<RolledUpFilter> = RolledUpFilter::build(uuids).into_iter().collect();
    let mut rollups = roll_up(predictions, 300_000, DEFAULT_ALPHA).unwrap();
    rollups.extend(coarsen(&rollups, 3_600_000).unwrap());
    vec![
        Seed {
            target: "rollup_file",
            name: "empty",
            bytes: file_bytes(&[], &[]),
        },
        Seed {
            target: "rollup_file",
            name: "three_rollups",
            bytes: file_bytes(&rollups, &[]),
        },
        Seed {
            target: "rollup_file",
            name: "rollups_and_filter",
            bytes: file_bytes(&rollups, &filters),
        },
    ]
}

fn all_seeds() -> Vec<Seed> {
    let mut seeds = wal_payload_seeds();
    seeds.extend(rollup_seeds());
    seeds.extend(wal_file_seeds());
    seeds.extend(manifest_seeds());
    seeds.extend(segment_seeds());
    seeds.extend(index_run_seeds());
    seeds.extend(integer_codec_seeds());
    seeds.extend(float_codec_seeds());
    seeds.extend(flag_codec_seeds());
    seeds.extend(string_codec_seeds());
    seeds
}

// Decoding of the seeds, as their fuzz targets do.

/// Splits a codec seed into its row count and its encoding.
fn split_codec_input(bytes: &[u8]) -> (usize, &[u8]) {
    let (head, encoding) = bytes.split_at(ROW_COUNT_BYTES);
    let n = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    (n, encoding)
}

/// Decodes a codec seed with the codec of `target` and returns the error, if any.
fn decode_codec(target: &str, bytes: &[u8]) -> Result<(), String> {
    let (n, encoding) = split_codec_input(bytes);
    let result = match target {
        "codec_timestamps" => timestamps::decode(encoding, n, &mut Vec::new()),
        "codec_ints" => ints::decode(encoding, n, &mut Vec::new()),
        "codec_floats" => floats::decode(encoding, n, &mut Vec::new()),
        "codec_bools" => bools::decode(encoding, n, &mut Vec::new()),
        "codec_bitmap" => bitmap::decode(encoding, n, &mut Vec::new()),
        "codec_strings" => strings::decode(encoding, n, &mut Vec::new()),
        "codec_blobs" => blobs::decode(encoding, n, n * MAX_BYTES_LEN, &mut Vec::new()),
        other => return Err(format!("no decoder for target {other}")),
    };
    result.map_err(|error| error.to_string())
}

/// Decodes the file `name` of `dir` as the fuzz target `target` does, and returns the error.
fn decode_file(target: &str, dir: &Path, name: &str) -> Result<(), String> {
    let path = dir.join(name);
    match target {
        "wal_file" => {
            let contents = wal::read_file(&path).map_err(|e| e.to_string())?;
            match contents.end {
                FileEnd::Clean { .. } => Ok(()),
                FileEnd::Damaged { .. } if name == "torn_last_frame" => Ok(()),
                FileEnd::Damaged { reason, .. } => Err(reason),
            }
        }
        "manifest" => Manifest::decode(&fs::read(&path).unwrap(), &path)
            .map(drop)
            .map_err(|e| e.to_string()),
        "segment" => {
            fs::copy(&path, dir.join(segment_file_name(FILE_ID))).unwrap();
            let segment = Segment::open(dir, FILE_ID).map_err(|e| e.to_string())?;
            segment.verify().map_err(|e| e.to_string())
        }
        "index_run" => {
            fs::copy(&path, dir.join(index_file_name(FILE_ID))).unwrap();
            let run = IndexRun::open(dir, FILE_ID).map_err(|e| e.to_string())?;
            run.verify(&LocationUuids).map_err(|e| e.to_string())
        }
        "wal_payload" => decode_records(&fs::read(&path).unwrap()).map(drop),
        "rollup_file" => {
            fs::copy(&path, dir.join(rollup_file_name(FILE_ID))).unwrap();
            let file = RollupFile::open(dir, FILE_ID).map_err(|e| e.to_string())?;
            file.filters().map_err(|e| e.to_string())?;
            file.all().map(drop).map_err(|e| e.to_string())
        }
        codec => decode_codec(codec, &fs::read(&path).unwrap()),
    }
}

#[test]
fn committed_seeds_still_decode() {
    for seed in all_seeds() {
        let dir = corpus_dir().join(seed.target);
        let scratch = tempfile::tempdir().unwrap();
        fs::copy(dir.join(seed.name), scratch.path().join(seed.name)).unwrap_or_else(|error| {
            panic!(
                "seed {}/{} is missing ({error}): write the corpus",
                seed.target, seed.name
            )
        });
        let result = decode_file(seed.target, scratch.path(), seed.name);
        assert_eq!(
            result,
            Ok(()),
            "seed {}/{} fails to decode",
            seed.target,
            seed.name
        );
    }
}

#[test]
fn zstd_chunk_seed_has_zstd_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let seed = corpus_dir().join("segment/zstd_chunk");
    fs::copy(seed, dir.path().join(segment_file_name(FILE_ID))).unwrap();
    let summary = Segment::open(dir.path(), FILE_ID).unwrap().summary();
    let zstd_chunks: u64 = summary.columns.iter().map(|c| c.zstd_chunks).sum();
    assert!(zstd_chunks > 0);
}

#[test]
fn two_pages_seed_splits_repeated_uuid() {
    let dir = tempfile::tempdir().unwrap();
    let seed = corpus_dir().join("index_run/two_pages");
    fs::copy(seed, dir.path().join(index_file_name(FILE_ID))).unwrap();
    let run = IndexRun::open(dir.path(), FILE_ID).unwrap();
    let repeated = located_entry(5, EntryKind::Prediction, TWO_PAGES_PER_PAGE - 1);
    let mut found = Vec::new();
    run.lookup(&repeated.uuid, &LocationUuids, &mut found)
        .unwrap();
    assert_eq!(run.entry_bits(), 13);
    assert_eq!(run.info().entries, u64::from(TWO_PAGES_PER_PAGE) + 1);
    assert!(run.info().file_bytes > 3 * 4096);
    assert_eq!(found, vec![repeated, repeated]);
}

#[test]
#[ignore = "writes the seed corpus, into fuzz/corpus when MODELMETRICS_WRITE_FUZZ_SEEDS=1"]
fn write_seed_corpus() {
    // Without the variable the seeds go to a temporary directory, so that a run of every
    // ignored test leaves the committed seeds alone.
    let scratch = tempfile::tempdir().unwrap();
    let root = match std::env::var_os(WRITE_SEEDS_VAR) {
        Some(_) => corpus_dir(),
        None => scratch.path().to_path_buf(),
    };
    let seeds = all_seeds();
    for seed in &seeds {
        let dir = root.join(seed.target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(seed.name), &seed.bytes).unwrap();
    }
    eprintln!("wrote {} seeds into {}", seeds.len(), root.display());
}

// Inputs that fuzzing found.

fn short_aggregate(seq: u64) -> LogRecord {
    LogRecord::Aggregate(AggregateRecord {
        seq,
        model: "m".to_owned(),
        start_ms: 0,
        end_ms: 60_000,
        metrics: Metrics::new().with("a", true),
    })
}

/// The `wal_payload` target's first crash: a delayed record, then an aggregate record of 24
/// bytes whose seq is an overlong varint. Re-encoded, the seq is one byte shorter and the
/// payload is rejected.
const REENCODED_PAYLOAD_REJECTED: &[u8] = &[
    0x02, 0x02, 0xff, 0xff, 0xff, 0x62, 0x9a, 0x6c, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x90, 0x72, 0x6f, 0x72, 0x01, 0x5b, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
    0xa6, 0xc8, 0xcd, 0x00, 0x01, 0x63, 0x01, 0xcc, 0x06, 0x01, 0xcc, 0xcc, 0xcc, 0xcc, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn wal_payload_reencoded_crash_decodes() {
    let records = decode_records(REENCODED_PAYLOAD_REJECTED).unwrap();
    let mut encoded = Vec::new();
    encode_records(&records, &mut encoded);
    assert_eq!(decode_records(&encoded), Ok(records));
}

#[test]
fn wal_payload_short_aggregates_decode() {
    // Each record is 25 bytes, fewer than the 27 that the decoder assumes for any record.
    let records = vec![short_aggregate(1), short_aggregate(2)];
    let mut encoded = Vec::new();
    encode_records(&records, &mut encoded);
    assert_eq!(decode_records(&encoded), Ok(records));
}

#[test]
fn wal_payload_empty_metric_names_decode() {
    // `Wal::append` accepts empty metric names (the store rejects them earlier). Each such
    // metric is 3 bytes, fewer than the 4 that the decoder assumes for any metric.
    let record = LogRecord::Delayed(DelayedRecord {
        metrics: Metrics::new().with("", true).with("", false),
        ..delayed(1)
    });
    let mut encoded = Vec::new();
    encode_records(std::slice::from_ref(&record), &mut encoded);
    assert_eq!(decode_records(&encoded), Ok(vec![record]));
}

#[test]
fn wal_replays_short_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        durability: Durability::Sync,
        file_size: 1 << 16,
    };
    let (log, _) = Wal::open(dir.path(), FILE_ID, options, &mut |_| Ok(())).unwrap();
    let position = log
        .append(&[short_aggregate(1), short_aggregate(2)])
        .unwrap();
    log.wait_durable(position).unwrap();
    drop(log);
    let mut replayed = Vec::new();
    let (_log, stats) = Wal::open(dir.path(), FILE_ID, options, &mut |batch| {
        replayed.extend(batch);
        Ok(())
    })
    .unwrap();
    assert_eq!(stats.torn_tail, None);
    assert_eq!(replayed, vec![short_aggregate(1), short_aggregate(2)]);
}

/// The system allocator, recording the largest request of each thread, so that a test can
/// bound what one decode requests even where the system would grant it.
struct PeakAllocator;

thread_local! {
    static MAX_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn record_request(size: usize) {
    // `try_with` fails only while the thread is being torn down, when nothing is measured.
    let _ = MAX_ALLOCATION.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// contract of `GlobalAlloc` is met as it is by `System`. Recording touches only a
// thread-local `Cell` with a const initializer, which does not allocate.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_request(layout.size());
        // SAFETY: forwarded unchanged, see the impl.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_request(layout.size());
        // SAFETY: forwarded unchanged, see the impl.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_request(new_size);
        // SAFETY: forwarded unchanged, see the impl.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged, see the impl.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// Returns the largest allocation that `run` requested on this thread.
fn largest_allocation(run: impl FnOnce()) -> usize {
    MAX_ALLOCATION.with(|largest| largest.set(0));
    run();
    MAX_ALLOCATION.with(Cell::get)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Builds a blob column of `rows` payloads of `MAX_BYTES_LEN` bytes each, whose zstd frame is a
/// magic number followed by `frame_len - 4` zero bytes: no valid frame at all.
fn blobs_with_bogus_frame(rows: usize, frame_len: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    put_varint(&mut bytes, (rows * MAX_BYTES_LEN) as u64);
    for _ in 0..rows {
        put_varint(&mut bytes, MAX_BYTES_LEN as u64);
    }
    bytes.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
    bytes.resize(bytes.len() + frame_len - 4, 0);
    bytes
}

#[test]
fn blobs_bogus_frame_allocates_little() {
    // 64 rows declare 256 MiB of payloads, and the 8 KiB frame could expand that far, since
    // a zstd block of 4 bytes can produce 128 KiB. The frame is invalid and produces nothing.
    let rows = 64;
    let input = blobs_with_bogus_frame(rows, 8 << 10);
    let mut result = Ok(());
    let largest = largest_allocation(|| {
        result = blobs::decode(&input, rows, rows * MAX_BYTES_LEN, &mut Vec::new());
    });
    assert!(result.is_err());
    assert!(
        largest <= 16 << 20,
        "decoding {} bytes requested an allocation of {largest} bytes",
        input.len()
    );
}
