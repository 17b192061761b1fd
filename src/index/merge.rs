//! Merge policy and merging of index runs.
//!
//! Policy (size-tiered): sort the runs by entry count and find the smallest run `s` that has at
//! least `MERGE_MIN_RUNS` runs, itself included, whose sizes lie in `[s, MERGE_SIZE_RATIO * s]`.
//! Those runs are merged into one. The store applies plans until `plan_merge` returns `None`.
//!
//! Why the run count stays logarithmic: when no plan is left, walk the runs by size from the
//! smallest. Each window `[s, 4s]` contains at most 4 runs, and the next run is larger than `4s`.
//! So after every 4 runs the size grows by more than 4, and with `N` entries in total there are
//! at most `4 * (log4(N) + 1)` runs. Each merge removes at least 4 runs, so applying plans ends.
//!
//! Runs are grouped by size, not by age: with flushes of alternating sizes (1, 100, 1, 100, ...)
//! no two runs adjacent in age are within a factor of 4, and an age-adjacent policy would never
//! merge. Lookups ask every run, so the age of a run does not matter for correctness.
//!
//! `plan_merge_apart` applies the policy to two classes of runs separately: runs that point
//! into a segment that compaction will still rewrite, and the others. A compaction rewrites
//! every run that points into a segment it replaces. A run that mixed both classes would make
//! each compaction of a few recent segments rewrite the entries of old ones too, so the work
//! per compaction would grow with the store. Each class keeps the bound above on its own, so
//! the store has at most twice as many runs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::run::{IndexRun, RunIter};
use super::writer::{RunShape, RunWriter};
use super::{IndexEntry, RunInfo, UuidSource};
use crate::error::{Error, Result};
use crate::io::StoreIo;

/// Minimum number of runs in a size tier for `plan_merge` to merge them.
pub const MERGE_MIN_RUNS: usize = 5;
/// Maximum ratio between the sizes of the runs of one tier.
pub const MERGE_SIZE_RATIO: u64 = 4;

/// Returns the ids (ascending) of the runs to merge next, or `None` when the runs satisfy the
/// policy of this module. Sizes are entry counts, an empty run counting as one entry.
pub fn plan_merge(runs: &[RunInfo]) -> Option<Vec<u64>> {
    plan_tier(runs.iter())
}

/// Plans as `plan_merge` does, but never merges a run whose id is in `pending` with one whose
/// id is not: the policy applies to each of the two classes on its own.
pub fn plan_merge_apart(runs: &[RunInfo], pending: &HashSet<u64>) -> Option<Vec<u64>> {
    let is_pending = |run: &&RunInfo| pending.contains(&run.id);
    plan_tier(runs.iter().filter(is_pending))
        .or_else(|| plan_tier(runs.iter().filter(|run| !is_pending(run))))
}

fn plan_tier<'a>(runs: impl Iterator<Item = &'a RunInfo>) -> Option<Vec<u64>> {
    let mut by_size: Vec<(u64, u64)> = runs.map(|r| (r.entries.max(1), r.id)).collect();
    by_size.sort_unstable();
    for (start, (smallest, _)) in by_size.iter().enumerate() {
        let limit = smallest.saturating_mul(MERGE_SIZE_RATIO);
        let tier = by_size.get(start..).unwrap_or(&[]);
        let count = tier.iter().take_while(|(size, _)| *size <= limit).count();
        if count >= MERGE_MIN_RUNS {
            let mut ids: Vec<u64> = tier.iter().take(count).map(|(_, id)| *id).collect();
            ids.sort_unstable();
            return Some(ids);
        }
    }
    None
}

/// Merges `inputs` into run `new_id` in `dir`, keeping the entries for which `keep` returns
/// true. `source` reads the UUIDs that the entries point to. The merge streams: it reads one
/// page per input at a time and never collects the entries.
///
/// The bloom filter and the segment table are sized for the entries of all inputs, so when
/// `keep` drops many entries the new run is larger than needed; `merge_with` takes what is
/// dropped into account.
pub fn merge(
    dir: &Path,
    new_id: u64,
    inputs: &[Arc<IndexRun>],
    keep: &dyn Fn(&IndexEntry) -> bool,
    source: &dyn UuidSource,
) -> Result<IndexRun> {
    let dropped = Dropped::default();
    merge_with(
        crate::io::os_io(),
        dir,
        new_id,
        inputs,
        (keep, &dropped),
        source,
        &|| false,
    )
}

/// A merge checks whether it is cancelled once per this many entries read. Tests check more
/// often, so that the small runs of a test store can be cancelled.
const CANCEL_CHECK_ENTRIES: u64 = if cfg!(test) { 64 } else { 1 << 16 };

/// The entries a merge drops, known in advance, so that the new run's segment table and
/// bloom filter are sized for what it keeps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dropped {
    /// Segments none of whose entries are kept.
    pub segments: Vec<u64>,
    /// A lower bound on the number of entries dropped.
    pub entries: u64,
}

/// Merges `inputs` like `merge`, writing the new run through `io`.
///
/// Every `CANCEL_CHECK_ENTRIES` entries it calls `cancelled`, and when that returns true it
/// stops with `Error::Closed`, leaving the unfinished run file for the caller to remove.
pub(crate) fn merge_with(
    io: Arc<dyn StoreIo>,
    dir: &Path,
    new_id: u64,
    inputs: &[Arc<IndexRun>],
    (keep, dropped): (&dyn Fn(&IndexEntry) -> bool, &Dropped),
    source: &dyn UuidSource,
    cancelled: &dyn Fn() -> bool,
) -> Result<IndexRun> {
    let started = Instant::now();
    let input_entries: u64 = inputs.iter().map(|run| run.info().entries).sum();
    let mut shape = RunShape::default();
    for run in inputs {
        shape.segments.extend_from_slice(run.segments());
        shape.max_row = shape.max_row.max(run.max_row());
    }
    shape.segments.sort_unstable();
    shape.segments.dedup();
    shape.segments.retain(|id| !dropped.segments.contains(id));
    let expected = input_entries.saturating_sub(dropped.entries).max(1);
    let mut writer = RunWriter::create_with(io, dir, new_id, expected, shape)?;
    let mut merger = Merger::new(inputs, source)?;
    let mut kept = 0u64;
    let mut read = 0u64;
    while let Some(entry) = merger.next_entry()? {
        read += 1;
        if read.is_multiple_of(CANCEL_CHECK_ENTRIES) && cancelled() {
            log::info!("index merge into run {new_id} cancelled after {read} entries");
            return Err(Error::Closed);
        }
        if keep(&entry) {
            writer.push(&entry)?;
            kept += 1;
        }
    }
    writer.finish()?;
    let run = IndexRun::open(dir, new_id)?;
    log::info!(
        "merged {} index runs into {}: {} entries kept, {} dropped, in {:?}",
        inputs.len(),
        run.path().display(),
        kept,
        input_entries.saturating_sub(kept),
        started.elapsed()
    );
    Ok(run)
}

/// K-way merge of sorted runs through a min-heap holding the next entry of each input.
/// Equal entries come out in input order.
struct Merger<'a> {
    iters: Vec<RunIter<'a>>,
    heap: BinaryHeap<Reverse<(IndexEntry, usize)>>,
}

impl<'a> Merger<'a> {
    fn new(inputs: &'a [Arc<IndexRun>], source: &'a dyn UuidSource) -> Result<Merger<'a>> {
        let mut merger = Merger {
            iters: inputs.iter().map(|run| run.entries(source)).collect(),
            heap: BinaryHeap::with_capacity(inputs.len()),
        };
        for input in 0..inputs.len() {
            merger.refill(input)?;
        }
        Ok(merger)
    }

    fn refill(&mut self, input: usize) -> Result<()> {
        if let Some(entry) = self.iters.get_mut(input).and_then(Iterator::next) {
            self.heap.push(Reverse((entry?, input)));
        }
        Ok(())
    }

    fn next_entry(&mut self) -> Result<Option<IndexEntry>> {
        let Some(Reverse((entry, input))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(input)?;
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info(id: u64, entries: u64) -> RunInfo {
        RunInfo {
            id,
            entries,
            file_bytes: 0,
        }
    }

    #[test]
    fn plan_waits_for_five_similar_runs() {
        let runs: Vec<RunInfo> = (1..=4).map(|id| info(id, 100)).collect();
        assert_eq!(plan_merge(&runs), None);
    }

    #[test]
    fn plan_merges_five_similar_runs() {
        let runs: Vec<RunInfo> = (1..=5).map(|id| info(id, 100 + id)).collect();
        assert_eq!(plan_merge(&runs), Some(vec![1, 2, 3, 4, 5]));
    }

    #[test]
    fn plan_prefers_smallest_tier() {
        let mut runs: Vec<RunInfo> = (1..=5).map(|id| info(id, 10_000)).collect();
        runs.extend((6..=10).map(|id| info(id, 10)));
        assert_eq!(plan_merge(&runs), Some(vec![6, 7, 8, 9, 10]));
    }

    #[test]
    fn plan_skips_runs_beyond_ratio() {
        let sizes = [10, 20, 30, 40, 40, 41, 1000];
        let runs: Vec<RunInfo> = sizes.iter().zip(1..).map(|(s, id)| info(id, *s)).collect();
        assert_eq!(plan_merge(&runs), Some(vec![1, 2, 3, 4, 5]));
    }

    #[test]
    fn plan_groups_alternating_sizes() {
        let runs: Vec<RunInfo> = (1..=10)
            .map(|id| info(id, [1, 100][id as usize % 2]))
            .collect();
        assert_eq!(plan_merge(&runs), Some(vec![2, 4, 6, 8, 10]));
    }

    #[test]
    fn plan_counts_empty_runs_as_one() {
        let runs: Vec<RunInfo> = (1..=5).map(|id| info(id, id % 2)).collect();
        assert_eq!(plan_merge(&runs), Some(vec![1, 2, 3, 4, 5]));
    }

    /// Adds runs of the given sizes one by one, applying plans until none is left after each,
    /// and returns the largest ratio of run count to `log4(total entries) + 1` seen.
    fn simulate(sizes: &[u64]) -> f64 {
        let mut runs: Vec<RunInfo> = Vec::new();
        let mut next_id = 0;
        let mut total = 0u64;
        let mut worst: f64 = 0.0;
        for size in sizes {
            next_id += 1;
            total += size.max(&1);
            runs.push(info(next_id, *size));
            while let Some(ids) = plan_merge(&runs) {
                assert!(ids.len() >= MERGE_MIN_RUNS);
                let merged: u64 = runs
                    .iter()
                    .filter(|r| ids.contains(&r.id))
                    .map(|r| r.entries)
                    .sum();
                runs.retain(|r| !ids.contains(&r.id));
                next_id += 1;
                runs.push(info(next_id, merged));
            }
            let bound = (total as f64).log(4.0) + 1.0;
            worst = worst.max(runs.len() as f64 / bound);
        }
        worst
    }

    #[test]
    fn equal_flushes_keep_few_runs() {
        let worst = simulate(&vec![1000; 2000]);
        assert!(worst <= 4.0, "ratio {worst}");
    }

    #[test]
    fn plan_apart_merges_pending_runs_first() {
        let runs: Vec<RunInfo> = (1..=10).map(|id| info(id, 100)).collect();
        let pending: HashSet<u64> = (6..=10).collect();
        assert_eq!(
            plan_merge_apart(&runs, &pending),
            Some(vec![6, 7, 8, 9, 10])
        );
    }

    #[test]
    fn plan_apart_merges_settled_runs_alone() {
        let runs: Vec<RunInfo> = (1..=7).map(|id| info(id, 100)).collect();
        let pending: HashSet<u64> = [6, 7].into();
        assert_eq!(plan_merge_apart(&runs, &pending), Some(vec![1, 2, 3, 4, 5]));
    }

    #[test]
    fn plan_apart_waits_for_five_of_one_class() {
        let runs: Vec<RunInfo> = (1..=8).map(|id| info(id, 100)).collect();
        let pending: HashSet<u64> = (1..=4).collect();
        assert_eq!(plan_merge(&runs), Some((1..=8).collect()));
        assert_eq!(plan_merge_apart(&runs, &pending), None);
    }

    /// Adds runs of the given sizes and classes one by one, applying plans of
    /// `plan_merge_apart` until none is left after each. Checks that no plan mixes the classes
    /// and returns the largest ratio of run count to `log4(total entries) + 1` seen.
    fn simulate_apart(runs_in: &[(u64, bool)]) -> f64 {
        let mut runs: Vec<RunInfo> = Vec::new();
        let mut pending: HashSet<u64> = HashSet::new();
        let mut next_id = 0;
        let mut total = 0u64;
        let mut worst: f64 = 0.0;
        for &(size, is_pending) in runs_in {
            next_id += 1;
            total += size.max(1);
            runs.push(info(next_id, size));
            if is_pending {
                pending.insert(next_id);
            }
            while let Some(ids) = plan_merge_apart(&runs, &pending) {
                assert!(ids.len() >= MERGE_MIN_RUNS);
                let pending_inputs = ids.iter().filter(|id| pending.contains(id)).count();
                assert!(
                    pending_inputs == 0 || pending_inputs == ids.len(),
                    "mixed {ids:?}"
                );
                let merged: u64 = runs
                    .iter()
                    .filter(|r| ids.contains(&r.id))
                    .map(|r| r.entries)
                    .sum();
                runs.retain(|r| !ids.contains(&r.id));
                next_id += 1;
                runs.push(info(next_id, merged));
                if pending_inputs > 0 {
                    pending.insert(next_id);
                }
            }
            let bound = (total as f64).log(4.0) + 1.0;
            worst = worst.max(runs.len() as f64 / bound);
        }
        worst
    }

    proptest! {
        #[test]
        fn run_count_stays_logarithmic_apart(
            runs in prop::collection::vec((0u64..100_000, any::<bool>()), 1..300)
        ) {
            let worst = simulate_apart(&runs);
            prop_assert!(worst <= 8.0, "run count reached {worst} * (log4(total) + 1)");
        }

        #[test]
        fn run_count_stays_logarithmic(sizes in prop::collection::vec(0u64..100_000, 1..300)) {
            let worst = simulate(&sizes);
            prop_assert!(worst <= 4.0, "run count reached {worst} * (log4(total) + 1)");
        }

        #[test]
        fn run_count_logarithmic_for_skewed_sizes(
            exponents in prop::collection::vec(0u32..20, 1..300)
        ) {
            let sizes: Vec<u64> = exponents.iter().map(|e| 1u64 << e).collect();
            let worst = simulate(&sizes);
            prop_assert!(worst <= 4.0, "run count reached {worst} * (log4(total) + 1)");
        }
    }
}
