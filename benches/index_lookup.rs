//! Lookup latency of the UUID index: hits and misses on one run of 1,000,000 entries and on
//! 8 runs of 125,000 entries each. The UUIDs that the entries point to come from an array of
//! 16 MB in memory, standing in for the segments' UUID columns. Each probe of a binary search
//! is a random read, as in a segment, but without the segment's block lookup.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use modelmetrics::index::{EntryKind, IndexEntry, IndexRun, IndexSet, UuidSource};
use tempfile::TempDir;
use uuid::Uuid;

const ENTRIES: u64 = 1_000_000;
const PROBES: u64 = 4096;

/// SplitMix64, for reproducible random UUIDs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn uuid(i: u64) -> Uuid {
    Uuid::from_u64_pair(mix(i), mix(!i))
}

/// The UUID of every row, by row number: rows are numbered across all runs.
struct Rows(Vec<Uuid>);

impl UuidSource for Rows {
    fn uuid_at(&self, _segment: u64, _kind: EntryKind, row: u32) -> modelmetrics::Result<Uuid> {
        Ok(self.0[row as usize])
    }
}

fn entries(range: std::ops::Range<u64>, segment: u64) -> Vec<IndexEntry> {
    range
        .map(|i| IndexEntry {
            uuid: uuid(i),
            kind: EntryKind::Prediction,
            segment,
            row: i as u32,
        })
        .collect()
}

/// Writes `runs` runs that share `ENTRIES` entries and opens them as a set.
fn build_set(dir: &TempDir, runs: u64) -> IndexSet {
    let per_run = ENTRIES / runs;
    let started = Instant::now();
    let mut set = IndexSet::default();
    for id in 0..runs {
        let range = id * per_run..(id + 1) * per_run;
        let run = IndexRun::write(dir.path(), id + 1, entries(range, id)).expect("write run");
        set = set.with_run(Arc::new(run));
    }
    eprintln!(
        "{runs} run(s) of {per_run} entries: written in {:?}, {} bytes of memory",
        started.elapsed(),
        set.memory_bytes()
    );
    set
}

fn bench_set(c: &mut Criterion, name: &str, set: &IndexSet) {
    let rows = Rows((0..ENTRIES).map(uuid).collect());
    let hits: Vec<Uuid> = (0..PROBES).map(|i| uuid(mix(i) % ENTRIES)).collect();
    let misses: Vec<Uuid> = (0..PROBES).map(|i| uuid(ENTRIES + i)).collect();
    let mut group = c.benchmark_group(name);
    group.bench_function("hit", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % hits.len();
            black_box(set.lookup(&hits[i], &rows).expect("lookup"))
        })
    });
    group.bench_function("miss", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % misses.len();
            black_box(set.lookup(&misses[i], &rows).expect("lookup"))
        })
    });
    group.finish();
}

fn lookups(c: &mut Criterion) {
    let dir = TempDir::new().expect("temporary directory");
    let single = build_set(&dir, 1);
    bench_set(c, "index_1_run_1m", &single);
    let eight_dir = TempDir::new().expect("temporary directory");
    let eight = build_set(&eight_dir, 8);
    bench_set(c, "index_8_runs_1m", &eight);
}

criterion_group!(benches, lookups);
criterion_main!(benches);
