//! Append to the write-ahead log: one prediction of about 100 encoded bytes per frame, and a
//! batch of 1,000 such predictions per frame, under each durability mode.
//!
//! `Sync` waits for the sync after every append, as the store does. `Interval` runs a thread
//! that syncs every 100 ms, as the store's background thread does. `Os` only appends. Old files
//! are removed as the log moves on, so the bench stays within a few files of disk space.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelmetrics::record::{LogRecord, PredictionRecord};
use modelmetrics::wal::{Wal, WalOptions, encode_records};
use modelmetrics::{Durability, Metrics, Uuid};

const INTERVAL: Duration = Duration::from_millis(100);
const BATCH_LEN: usize = 1_000;

fn prediction(seq: u64) -> LogRecord {
    LogRecord::Prediction(PredictionRecord {
        seq,
        model: "risk-model-v7".into(),
        uuid: Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0 ^ u128::from(seq)),
        timestamp_ms: 1_700_000_000_000 + seq as i64,
        metrics: Metrics::new()
            .with("score", 0.8125)
            .with("approved", true)
            .with("segment", "retail")
            .with("latency", 12_i64),
    })
}

/// Returns the encoded size of one record, without the batch's record count.
fn encoded_len(record: &LogRecord) -> usize {
    let mut out = Vec::new();
    encode_records(std::slice::from_ref(record), &mut out);
    out.len() - 1
}

/// A log in a temporary directory, with the interval thread of `Durability::Interval`.
struct BenchLog {
    wal: Arc<Wal>,
    durability: Durability,
    stop: Arc<AtomicBool>,
    syncer: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl BenchLog {
    fn open(durability: Durability) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let options = WalOptions {
            durability,
            file_size: 64 << 20,
        };
        let (wal, _) = Wal::open(dir.path(), 1, options, &mut |_| Ok(())).expect("open the log");
        let wal = Arc::new(wal);
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = matches!(durability, Durability::Interval(_)).then(|| {
            let wal = Arc::clone(&wal);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(INTERVAL);
                    wal.sync().expect("sync the log");
                }
            })
        });
        BenchLog {
            wal,
            durability,
            stop,
            syncer,
            _dir: dir,
        }
    }

    fn append(&self, records: &[LogRecord], current_file: &mut u64) {
        let pos = self.wal.append(records).expect("append");
        if self.durability == Durability::Sync {
            self.wal.wait_durable(pos).expect("wait for the sync");
        }
        if pos.file != *current_file {
            *current_file = pos.file;
            self.wal
                .remove_files_before(pos.file)
                .expect("remove old files");
        }
    }
}

impl Drop for BenchLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(syncer) = self.syncer.take() {
            syncer.join().expect("join the sync thread");
        }
    }
}

fn modes() -> [(&'static str, Durability); 3] {
    [
        ("sync", Durability::Sync),
        ("interval_100ms", Durability::Interval(INTERVAL)),
        ("os", Durability::Os),
    ]
}

fn bench_append(c: &mut Criterion) {
    let record = prediction(1);
    let batch: Vec<LogRecord> = (0..BATCH_LEN as u64).map(prediction).collect();
    assert!(
        (95..=105).contains(&encoded_len(&record)),
        "the record encodes to {} bytes",
        encoded_len(&record)
    );

    let mut group = c.benchmark_group("wal_append");
    for (name, durability) in modes() {
        let log = BenchLog::open(durability);
        let mut current_file = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("one_record/{name}"), |b| {
            b.iter(|| log.append(black_box(std::slice::from_ref(&record)), &mut current_file))
        });
        group.throughput(Throughput::Elements(BATCH_LEN as u64));
        group.bench_function(format!("batch_of_1000/{name}"), |b| {
            b.iter(|| log.append(black_box(&batch), &mut current_file))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
