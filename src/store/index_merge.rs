//! Merging the index runs, by the size-tiered policy of `index::plan_merge_apart`. The index
//! merge thread (src/store/merger.rs) runs it after background flushes, and `Store::flush` runs
//! it in the calling thread.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Inner;
use super::flush::{install_manifest, remove_unlisted};
use crate::compaction::plan;
use crate::error::Result;
use crate::index::{self, IndexSet};
use crate::segment_set::SegmentSet;

/// The outcome of `merge_index_runs` when no file operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Merged {
    /// The runs meet the merge policy.
    Done,
    /// Another merge, or a compaction that rewrites index runs, had taken `index_lock`, so
    /// nothing was planned.
    Busy,
}

/// Merges index runs until the merge policy plans no more merges, so lookups read few runs.
/// Returns `Merged::Busy` at once when `index_lock` is taken.
///
/// The merge keeps `index_lock` throughout, so no compaction replaces its input runs, and
/// takes `flush_lock` only for the manifest switch: flushes that add segments and runs meanwhile
/// go on, and the switch starts from the manifest they left. A merge that fails before its
/// manifest switch removes the run it was writing, so the store stays as it was.
pub(super) fn merge_index_runs(inner: &Inner) -> Result<Merged> {
    let Some(_index) = inner.index_lock.try_lock() else {
        return Ok(Merged::Busy);
    };
    loop {
        // `close` takes `index_lock` after setting `closed`, to wait for a merge in progress.
        if inner.closed.load(Ordering::SeqCst) {
            return Ok(Merged::Done);
        }
        let (index, segments) = {
            let state = inner.state.read();
            (state.index.clone(), Arc::clone(&state.segments))
        };
        let infos: Vec<_> = index.runs().iter().map(|run| run.info()).collect();
        let pending = pending_runs(
            &index,
            &segments,
            inner.options.compaction.target_segment_bytes,
        );
        let Some(ids) = index::plan_merge_apart(&infos, &pending) else {
            return Ok(Merged::Done);
        };
        merge_planned(inner, &index, &segments, &ids)?;
    }
}

/// Merges the runs `ids` into a new run and switches the manifest to it. The caller must have
/// taken `index_lock`.
fn merge_planned(
    inner: &Inner,
    index: &IndexSet,
    segments: &SegmentSet,
    ids: &[u64],
) -> Result<()> {
    let inputs: Vec<_> = index
        .runs()
        .iter()
        .filter(|run| ids.contains(&run.info().id))
        .cloned()
        .collect();
    let new_id = inner.allocate_file_ids(1);
    let started = Instant::now();
    let io = Arc::clone(&inner.io);
    let keep_all = index::Dropped::default();
    let merged = index::merge_with(
        io,
        &inner.dir,
        new_id,
        &inputs,
        (&|_| true, &keep_all),
        segments,
        // `close` sets `closed` before it waits for a running merge, so a long merge stops
        // early instead of holding `close` up. Its inputs stay listed and merge after a reopen.
        &|| inner.closed.load(Ordering::SeqCst),
    );
    let run = match merged {
        Ok(run) => run,
        Err(e) => {
            remove_unlisted(inner, &[new_id]);
            return Err(e);
        }
    };
    let _flushing = inner.flush_lock.lock();
    let mut manifest = inner.state.read().manifest.clone();
    manifest.next_file_id = inner.next_file_id.load(Ordering::SeqCst);
    manifest.index_runs.retain(|id| !ids.contains(id));
    manifest.index_runs.push(new_id);
    manifest.index_runs.sort_unstable();
    install_manifest(inner, &manifest, &[new_id])?;
    let entries = run.info().entries;
    {
        let mut state = inner.state.write();
        state.index = state.index.replace(ids, Arc::new(run));
        state.manifest = manifest;
    }
    for id in ids {
        let path = inner.dir.join(index::index_file_name(*id));
        if let Err(e) = inner.io.remove(&path) {
            log::warn!("removing merged index run {} failed: {e}", path.display());
        }
    }
    log::info!(
        "merged {} index runs into run {new_id} ({entries} entries) in {:?}",
        ids.len(),
        started.elapsed()
    );
    Ok(())
}

/// Returns the ids of the runs that point into a segment that compaction may still merge,
/// because it is smaller than half of `target_bytes`. Merged only among themselves, they never
/// make a compaction of recent segments rewrite the entries of older ones.
pub(super) fn pending_runs(
    index: &IndexSet,
    segments: &SegmentSet,
    target_bytes: u64,
) -> HashSet<u64> {
    let small = |id: &u64| {
        segments
            .get(id)
            .is_some_and(|segment| plan::is_small(segment.file_bytes(), target_bytes))
    };
    index
        .runs()
        .iter()
        .filter(|run| run.segments().iter().any(small))
        .map(|run| run.info().id)
        .collect()
}
