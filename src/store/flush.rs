//! Flushing the head: freeze it, write a segment and an index run, switch the manifest, trim
//! the log.
//!
//! The durable steps run in order, each complete before the next:
//!
//! 1. the segment file and the index run file are written and synced;
//! 2. a new manifest lists them, with `wal_start` past the frozen head's log files, and
//!    replaces the old one;
//! 3. those log files are deleted.
//!
//! A crash before step 2 leaves stray files that the next open deletes, and the log still
//! contains every record. A crash after it leaves log files that the next open skips.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use uuid::Uuid;

use super::Inner;
use super::index_merge::{self, Merged};
use crate::error::Result;
use crate::head::{Head, HeadData};
use crate::index::{self, EntryKind, IndexEntry, IndexRun, IndexSet};
use crate::manifest::{Manifest, ManifestError};
use crate::record::{PredictionKey, ResolvedDelayed};
use crate::segment::{self, HeadSegmentData, Segment};

/// Flushes the head. A head left frozen by a failed flush is written first, then the active
/// head, so that on return every record tracked before the call is in a segment.
///
/// The index merge thread merges the new run with the others later, so a writer that flushes
/// because of back-pressure waits for a merge only while the merge switches the manifest.
pub(crate) fn flush(inner: &Inner) -> Result<()> {
    {
        let _flushing = inner.flush_lock.lock();
        flush_locked(inner)?;
    }
    inner.merge_requests.nudge();
    Ok(())
}

/// Flushes as `flush` does, then merges the index runs in the calling thread: `Store::flush`.
/// On return the runs meet the merge policy, unless another merge or a compaction held them.
/// Then the call returns without merging, and the merge thread merges once they are free. A
/// failed merge returns its error, and the merge thread retries it.
pub(crate) fn flush_and_merge(inner: &Inner) -> Result<()> {
    {
        let _flushing = inner.flush_lock.lock();
        flush_locked(inner)?;
    }
    match index_merge::merge_index_runs(inner) {
        Ok(Merged::Done) => Ok(()),
        Ok(Merged::Busy) => {
            inner.merge_requests.nudge();
            Ok(())
        }
        Err(e) => {
            inner.merge_requests.nudge();
            Err(e)
        }
    }
}

/// Flushes as `flush` does if `needed` is still true once no other flush runs. The background
/// flush thread flushes this way: a flush in progress keeps a frozen head, which must not make
/// the thread run a second flush right after it.
pub(crate) fn flush_if(inner: &Inner, needed: impl Fn(&Inner) -> bool) -> Result<()> {
    {
        let _flushing = inner.flush_lock.lock();
        if !needed(inner) {
            return Ok(());
        }
        flush_locked(inner)?;
    }
    inner.merge_requests.nudge();
    Ok(())
}

fn flush_locked(inner: &Inner) -> Result<()> {
    let pending = inner.state.read().frozen.clone();
    if let Some((head, wal_start)) = pending {
        write_frozen(inner, &head, wal_start)?;
    }
    if let Some((head, wal_start)) = freeze(inner)? {
        write_frozen(inner, &head, wal_start)?;
    }
    Ok(())
}

/// Swaps in an empty head and starts a new log file; returns the old head, or `None` when it
/// is empty.
fn freeze(inner: &Inner) -> Result<Option<(Arc<Head>, u64)>> {
    let _writer = inner.writer.lock();
    let mut state = inner.state.write();
    if state.active.read().is_empty() {
        return Ok(None);
    }
    let wal_start = inner.wal.rotate().inspect_err(|e| inner.set_poison(e))?;
    let head = std::mem::take(&mut state.active);
    state.frozen = Some((Arc::clone(&head), wal_start));
    Ok(Some((head, wal_start)))
}

/// Writes a frozen head to a segment and an index run and makes them live.
fn write_frozen(inner: &Inner, head: &Arc<Head>, wal_start: u64) -> Result<()> {
    let started = Instant::now();
    let (segments, index, orphans, mut manifest) = {
        let state = inner.state.read();
        let orphans = Arc::clone(&state.orphans);
        (
            Arc::clone(&state.segments),
            state.index.clone(),
            orphans,
            state.manifest.clone(),
        )
    };
    let deletions = Arc::clone(&inner.state.read().deletions);
    let data = head.read();
    let lookup = Resolver {
        segments: &segments,
        index: &index,
    };
    let mut delayed = resolve_delayed(&data, &lookup)?;
    let adopted = adopt_orphans(&data, &orphans, &lookup, &mut delayed)?;
    // A deleted prediction's delayed records, orphans adopted by a new prediction of the same
    // UUID included, are not written: once resolved, a record keeps neither UUID nor seq.
    if !deletions.is_empty() {
        delayed.retain(|d| !deletions.hides_delayed(&d.record.uuid, d.record.seq));
        // A record tracked after the deletion of its prediction outlives the prediction: it
        // is written as an orphan, which keeps its UUID and seq, so the purge keeps it.
        for d in &mut delayed {
            let hidden = d
                .prediction
                .as_ref()
                .is_some_and(|key| deletions.hides_prediction(&key.model, &d.record.uuid, key.seq));
            if hidden {
                d.prediction = None;
            }
        }
    }

    let segment_id = inner.allocate_file_ids(2);
    let run_id = segment_id + 1;
    let predictions = data.predictions();
    let written = segment::write_head_segment_with(
        &*inner.io,
        &inner.dir,
        segment_id,
        &HeadSegmentData {
            predictions,
            delayed: &delayed,
            aggregates: &data.aggregates,
        },
        inner.options.zstd_level,
    )?;
    let entries = index_entries(segment_id, &written);
    let io = Arc::clone(&inner.io);
    let prepared = IndexRun::write_with(io, &inner.dir, run_id, entries)
        .and_then(|run| Ok((run, Segment::open(&inner.dir, segment_id)?)));
    let (run, segment) = match prepared {
        Ok(pair) => pair,
        Err(e) => {
            remove_unlisted(inner, &[segment_id, run_id]);
            return Err(e);
        }
    };
    manifest.next_file_id = inner.next_file_id.load(Ordering::SeqCst);
    manifest.wal_start = wal_start;
    manifest.last_seq = manifest.last_seq.max(data.max_seq());
    manifest.segments.push(segment_id);
    manifest.index_runs.push(run_id);
    install_manifest(inner, &manifest, &[segment_id, run_id])?;

    let new_orphans: Vec<Uuid> = delayed
        .iter()
        .filter(|d| d.prediction.is_none())
        .map(|d| d.record.uuid)
        .collect();
    {
        let mut state = inner.state.write();
        state.segments = Arc::new(state.segments.with_newest(Arc::new(segment)));
        state.index = state.index.with_run(Arc::new(run));
        state.manifest = manifest;
        state.frozen = None;
        let orphans = Arc::make_mut(&mut state.orphans);
        // A UUID can be both: its prediction adopted stored orphans, then was deleted, and a
        // record tracked after the deletion is a new orphan.
        for uuid in &adopted {
            orphans.remove(uuid);
        }
        orphans.extend(new_orphans);
    }
    inner.wal.remove_files_before(wal_start)?;
    log::info!(
        "flushed {} predictions, {} delayed and {} aggregate records into segment {} in {:?}",
        predictions.len(),
        delayed.len(),
        data.aggregates.len(),
        segment_id,
        started.elapsed()
    );
    Ok(())
}

/// Finds the prediction of a UUID in the segments through the index.
struct Resolver<'a> {
    segments: &'a crate::segment_set::SegmentSet,
    index: &'a IndexSet,
}

impl Resolver<'_> {
    /// Finds the keys of the predictions of `uuids` stored in segments, reading each
    /// segment's blocks once for all of them.
    fn prediction_keys(&self, uuids: &[Uuid]) -> Result<HashMap<Uuid, PredictionKey>> {
        let mut rows_by_segment: HashMap<u64, Vec<u32>> = HashMap::new();
        for uuid in uuids {
            for entry in self.index.lookup(uuid, self.segments)? {
                if entry.kind == EntryKind::Prediction {
                    rows_by_segment
                        .entry(entry.segment)
                        .or_default()
                        .push(entry.row);
                }
            }
        }
        let wanted: HashSet<&Uuid> = uuids.iter().collect();
        let mut keys = HashMap::with_capacity(uuids.len());
        for (id, rows) in rows_by_segment {
            let Some(segment) = self.segments.get(&id) else {
                continue;
            };
            for (uuid, key) in segment.prediction_keys(&rows)? {
                if wanted.contains(&uuid) {
                    keys.insert(uuid, key);
                }
            }
        }
        Ok(keys)
    }

    /// Returns the stored delayed records of `uuid` that have no prediction key.
    fn orphan_records(&self, uuid: &Uuid) -> Result<Vec<ResolvedDelayed>> {
        let mut found = Vec::new();
        for entry in self.index.lookup(uuid, self.segments)? {
            if entry.kind != EntryKind::Delayed {
                continue;
            }
            if let Some(segment) = self.segments.get(&entry.segment) {
                let delayed = segment.delayed_at(entry.row)?;
                if delayed.prediction.is_none() && delayed.record.uuid == *uuid {
                    found.push(delayed);
                }
            }
        }
        Ok(found)
    }
}

/// Pairs each delayed record of the head with its prediction's key, found in the head itself or
/// in the segments. Records whose prediction is unknown become orphans.
fn resolve_delayed(data: &HeadData, resolver: &Resolver<'_>) -> Result<Vec<ResolvedDelayed>> {
    let in_segments: Vec<Uuid> = data
        .delayed
        .keys()
        .filter(|uuid| !data.contains_prediction(uuid))
        .copied()
        .collect();
    let stored_keys = resolver.prediction_keys(&in_segments)?;
    let mut resolved = Vec::with_capacity(data.delayed.len());
    for (uuid, records) in &data.delayed {
        let key = match data.prediction_key(uuid) {
            Some(key) => Some(key),
            None => stored_keys.get(uuid).cloned(),
        };
        for record in data.delayed_records(records) {
            resolved.push(ResolvedDelayed {
                record,
                prediction: key.clone(),
            });
        }
    }
    Ok(resolved)
}

/// Copies the orphaned delayed records of predictions in this head, now resolved, into the
/// new segment; returns the UUIDs that are no longer orphans.
fn adopt_orphans(
    data: &HeadData,
    orphans: &HashSet<Uuid>,
    resolver: &Resolver<'_>,
    delayed: &mut Vec<ResolvedDelayed>,
) -> Result<Vec<Uuid>> {
    // The segment writer sorts the rows, so the order of the UUIDs does not matter.
    let adopted = orphans_in_head(data, orphans);
    for uuid in &adopted {
        let Some(key) = data.prediction_key(uuid) else {
            continue;
        };
        for mut orphan in resolver.orphan_records(uuid)? {
            orphan.prediction = Some(key.clone());
            delayed.push(orphan);
        }
    }
    Ok(adopted)
}

/// Returns the orphan UUIDs that have a prediction in the head, looking up each member of the
/// smaller of the two sets in the other.
fn orphans_in_head(data: &HeadData, orphans: &HashSet<Uuid>) -> Vec<Uuid> {
    let head = data.predictions();
    if orphans.len() <= head.len() {
        let found = orphans.iter().filter(|uuid| data.contains_prediction(uuid));
        return found.copied().collect();
    }
    let records = head.records.iter().map(|r| r.uuid);
    let batches = head.batches.iter().flat_map(|b| b.uuids.iter().copied());
    let found = records.chain(batches).filter(|uuid| orphans.contains(uuid));
    found.collect()
}

/// Returns the index entries of a new segment: one per prediction row and one per orphan row.
/// Resolved delayed rows get none, because they name their prediction by its seq.
pub(super) fn index_entries(segment_id: u64, written: &segment::Written) -> Vec<IndexEntry> {
    let predictions = written.predictions.iter().map(|&(uuid, row)| IndexEntry {
        uuid,
        kind: EntryKind::Prediction,
        segment: segment_id,
        row,
    });
    let orphans = written
        .delayed
        .iter()
        .skip(written.first_orphan_row as usize);
    let delayed = orphans.map(|&(uuid, row)| IndexEntry {
        uuid,
        kind: EntryKind::Delayed,
        segment: segment_id,
        row,
    });
    predictions.chain(delayed).collect()
}

/// Makes `manifest` the store's manifest.
///
/// When that fails before the rename, the files in `new_ids` are removed again. When it fails
/// after the rename, the manifest on disk may list them, so they are kept. The store then
/// rejects writes until it is reopened and reads the manifest that is really there.
pub(super) fn install_manifest(inner: &Inner, manifest: &Manifest, new_ids: &[u64]) -> Result<()> {
    match manifest.store_with(&*inner.io, &inner.dir) {
        Ok(()) => Ok(()),
        Err(ManifestError::BeforeRename(e)) => {
            remove_unlisted(inner, new_ids);
            Err(e)
        }
        Err(ManifestError::AfterRename(e)) => {
            inner.set_poison(&e);
            Err(e)
        }
    }
}

/// Deletes files that a failed flush wrote and no manifest lists.
pub(super) fn remove_unlisted(inner: &Inner, ids: &[u64]) {
    for &id in ids {
        let names = [
            segment::segment_file_name(id),
            index::index_file_name(id),
            crate::rollup::rollup_file_name(id),
        ];
        for name in names {
            let path = inner.dir.join(name);
            match inner.io.remove(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("removing unlisted file {} failed: {e}", path.display()),
            }
        }
    }
}
