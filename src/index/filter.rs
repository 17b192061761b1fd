//! Dropping the entries of replaced segments from a run, without reading its UUIDs.
//!
//! A compaction that replaces segments must remove their entries from every run that points
//! into them. A merge would read the UUID of every entry from its segment, a random read per
//! entry. Dropping entries keeps the order of the others, so a filter copies the packed
//! locations page by page and reads one UUID per written page, for its fence. The new run keeps
//! the bloom filter of the old one, which contains every kept UUID.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::format::PackedEntry;
use super::run::IndexRun;
use super::writer::{RunShape, RunWriter};
use super::{UuidSource, index_file_name};
use crate::error::Result;
use crate::io::StoreIo;

/// Writes run `new_id` in `dir` with the entries of `run` that do not point into a segment of
/// `removed`, in the same order, and opens it. Returns `None`, writing nothing, when no entry
/// is left. `source` reads the first UUID of each page of the new run.
///
/// The bloom filter is copied whole, so the new run keeps the filter's size and its
/// false-positive rate, which the dropped UUIDs do not raise.
pub(crate) fn filter_with(
    io: Arc<dyn StoreIo>,
    dir: &Path,
    new_id: u64,
    run: &IndexRun,
    removed: &HashSet<u64>,
    source: &dyn UuidSource,
) -> Result<Option<IndexRun>> {
    let started = Instant::now();
    // The new slot of each slot of `run`, or `None` for a removed segment.
    let mut new_slots: Vec<Option<u32>> = Vec::with_capacity(run.segments().len());
    let mut segments: Vec<u64> = Vec::new();
    for &id in run.segments() {
        if removed.contains(&id) {
            new_slots.push(None);
        } else {
            new_slots.push(Some(segments.len() as u32));
            segments.push(id);
        }
    }
    if segments.is_empty() {
        return Ok(None);
    }

    let shape = RunShape {
        segments,
        max_row: run.max_row(),
    };
    let bloom = run.bloom().clone();
    let mut writer = RunWriter::create_with_bloom(io, dir, new_id, bloom, shape)?;
    let mut kept_entries = 0u64;
    run.for_each_packed(|packed| {
        let Some(&Some(slot)) = new_slots.get(packed.slot as usize) else {
            return Ok(());
        };
        kept_entries += 1;
        let fence = || {
            let segment = run.segments().get(packed.slot as usize).copied();
            source.uuid_at(segment.unwrap_or_default(), packed.kind, packed.row)
        };
        writer.push_packed(PackedEntry { slot, ..packed }, fence)
    })?;

    if kept_entries == 0 {
        // Dropping the writer removes its partial file.
        return Ok(None);
    }
    writer.finish()?;
    let filtered = IndexRun::open(dir, new_id)?;
    log::info!(
        "filtered index run {} into {}: {kept_entries} entries kept, {} dropped, in {:?}",
        index_file_name(run.info().id),
        index_file_name(new_id),
        run.info().entries.saturating_sub(kept_entries),
        started.elapsed()
    );
    Ok(Some(filtered))
}
