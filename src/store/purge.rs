//! Planning the removal of deleted records: the segments that contain records of the pending
//! deletions. Reads hide those records from the moment of the deletion. A purge removes them
//! from the files, and then the deletion leaves the manifest.

use std::collections::HashSet;

use super::{Inner, flush};
use crate::compaction::plan;
use crate::error::Result;
use crate::index::EntryKind;
use crate::manifest::Deletion;
use crate::record::Seq;

/// The segments to rewrite for a set of deletions whose records are all in segments.
pub(crate) struct Purge {
    pub groups: Vec<Vec<u64>>,
    /// The deletions this purge completes.
    pub deletions: Vec<Deletion>,
    /// Seqs of the deleted predictions, to find their delayed records in other segments.
    pub prediction_seqs: HashSet<Seq>,
    /// Models whose rollups go too.
    pub models: Vec<String>,
}

/// Plans a purge of the pending deletions. Flushes first when a deletion covers records that
/// are still in the head, so that every record it covers is in a segment.
pub(crate) fn plan(inner: &Inner) -> Result<Option<Purge>> {
    let pending = inner.state.read().manifest.deletions.clone();
    if pending.is_empty() {
        return Ok(None);
    }
    let newest = pending.iter().map(Deletion::seq_limit).max().unwrap_or(0);
    if inner.state.read().manifest.last_seq < newest {
        flush::flush(inner)?;
    }
    let (segments, index, last_seq) = {
        let state = inner.state.read();
        (
            std::sync::Arc::clone(&state.segments),
            state.index.clone(),
            state.manifest.last_seq,
        )
    };
    let mut purge = Purge {
        groups: Vec::new(),
        deletions: Vec::new(),
        prediction_seqs: HashSet::new(),
        models: Vec::new(),
    };
    let mut ids: HashSet<u64> = HashSet::new();
    for deletion in pending {
        if deletion.seq_limit() > last_seq {
            continue;
        }
        match &deletion {
            Deletion::Model { model, .. } => {
                let holding = segments.values().filter(|s| s.models().any(|m| m == model));
                ids.extend(holding.map(|s| s.id()));
                purge.models.push(model.clone());
            }
            Deletion::Prediction { uuid, seq_limit } => {
                for entry in index.lookup(uuid, &*segments)? {
                    ids.insert(entry.segment);
                    if entry.kind != EntryKind::Prediction {
                        continue;
                    }
                    let Some(segment) = segments.get(&entry.segment) else {
                        continue;
                    };
                    for (_, key) in segment.prediction_keys(&[entry.row])? {
                        // A prediction tracked again after the deletion is not covered.
                        if key.seq > *seq_limit {
                            continue;
                        }
                        purge.prediction_seqs.insert(key.seq);
                        for other in segments.values() {
                            if !other
                                .delayed_of(&key.model, key.timestamp_ms, key.seq)?
                                .is_empty()
                            {
                                ids.insert(other.id());
                            }
                        }
                    }
                }
            }
        }
        purge.deletions.push(deletion);
    }
    if purge.deletions.is_empty() {
        return Ok(None);
    }
    purge.groups = plan::adjacent_groups(segments.ids(), &ids);
    Ok(Some(purge))
}
