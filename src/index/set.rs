//! A snapshot of the live index runs.

use std::sync::Arc;

use uuid::Uuid;

use super::bloom::UuidHash;
use super::run::IndexRun;
use super::{EntryKind, IndexEntry, UuidSource};
use crate::error::Result;

/// A snapshot of the live runs, newest (highest id) first; lookups ask every run whose bloom
/// filter may contain the uuid. Cloning copies one pointer per run.
#[derive(Clone, Debug, Default)]
pub struct IndexSet {
    runs: Vec<Arc<IndexRun>>,
}

impl IndexSet {
    /// Creates a snapshot of `runs`, in any order.
    pub fn new(runs: Vec<Arc<IndexRun>>) -> Self {
        let mut set = IndexSet { runs };
        set.sort();
        set
    }

    /// Returns the runs, newest first.
    pub fn runs(&self) -> &[Arc<IndexRun>] {
        &self.runs
    }

    /// Returns a new snapshot with `run` added.
    pub fn with_run(&self, run: Arc<IndexRun>) -> IndexSet {
        let mut runs = self.runs.clone();
        runs.push(run);
        IndexSet::new(runs)
    }

    /// Returns a new snapshot without the runs whose ids are in `removed` and with `added`,
    /// as after a merge. Ids that are not in the snapshot are ignored.
    pub fn replace(&self, removed: &[u64], added: Arc<IndexRun>) -> IndexSet {
        self.replace_all(removed, vec![added])
    }

    /// Returns a new snapshot without the runs whose ids are in `removed` and with every run of
    /// `added`, as after a compaction. Ids that are not in the snapshot are ignored.
    pub fn replace_all(&self, removed: &[u64], added: Vec<Arc<IndexRun>>) -> IndexSet {
        let mut runs: Vec<Arc<IndexRun>> = self
            .runs
            .iter()
            .filter(|run| !removed.contains(&run.info().id))
            .cloned()
            .collect();
        runs.extend(added);
        IndexSet::new(runs)
    }

    /// Returns every entry of `uuid` in all runs, sorted. `source` reads the UUIDs that the
    /// entries point to.
    pub fn lookup(&self, uuid: &Uuid, source: &dyn UuidSource) -> Result<Vec<IndexEntry>> {
        let mut out = Vec::new();
        for run in &self.runs {
            run.lookup(uuid, source, &mut out)?;
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Returns true when some run contains a prediction entry for `uuid`.
    pub fn contains_prediction(&self, uuid: &Uuid, source: &dyn UuidSource) -> Result<bool> {
        let mut out = Vec::new();
        for run in &self.runs {
            out.clear();
            run.lookup(uuid, source, &mut out)?;
            if out.iter().any(|entry| entry.kind == EntryKind::Prediction) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Returns, for each of `uuids`, whether some run contains a prediction entry for it.
    ///
    /// Each UUID is hashed once for all runs. The bloom filters are asked one run at a time, so
    /// the cache misses of the independent queries of one run overlap instead of coming one
    /// after another.
    pub fn contains_predictions(
        &self,
        uuids: &[Uuid],
        source: &dyn UuidSource,
    ) -> Result<Vec<bool>> {
        let hashes: Vec<UuidHash> = uuids.iter().map(UuidHash::of).collect();
        let mut found = vec![false; uuids.len()];
        let mut entries = Vec::new();
        for run in &self.runs {
            let candidates = (uuids.iter().zip(&hashes).zip(found.iter_mut()))
                .filter(|((_, hash), found)| !**found && run.may_contain_hash(**hash));
            for ((uuid, _), found) in candidates {
                entries.clear();
                run.lookup(uuid, source, &mut entries)?;
                *found = entries.iter().any(|e| e.kind == EntryKind::Prediction);
            }
        }
        Ok(found)
    }

    /// Heap bytes held by the runs (bloom filters and fences) and by this snapshot.
    pub fn memory_bytes(&self) -> usize {
        let runs: usize = self.runs.iter().map(|run| run.memory_bytes()).sum();
        runs + self.runs.capacity() * size_of::<Arc<IndexRun>>()
    }

    fn sort(&mut self) {
        self.runs
            .sort_unstable_by_key(|run| std::cmp::Reverse(run.info().id));
    }
}
