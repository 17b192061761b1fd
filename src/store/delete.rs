//! Deleting one prediction or a whole model: a durable deletion in the manifest that reads
//! apply at once, and that compaction completes by rewriting the files.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::deletions::Deletions;
use crate::error::Result;
use crate::manifest::{Deletion, ManifestError};

/// Records a deletion of everything tracked so far that `target` names, and makes it durable.
pub(crate) fn delete(inner: &Inner, target: impl FnOnce(u64) -> Deletion) -> Result<()> {
    inner.check_poison()?;
    let _flushing = inner.flush_lock.lock();
    // A `close` that started before this call may have flushed and unlocked the directory.
    if inner.closed.load(Ordering::SeqCst) {
        return Err(crate::error::Error::Closed);
    }
    // Under the writer lock no call is between taking its seq and inserting its record, so
    // every record up to `last_seq` is acknowledged or about to be.
    let seq_limit = {
        let _writer = inner.writer.lock();
        inner.last_seq.load(Ordering::Acquire)
    };
    let deletion = target(seq_limit);
    let mut manifest = inner.state.read().manifest.clone();
    if manifest.deletions.contains(&deletion) {
        return Ok(());
    }
    // A later deletion of the same target covers everything an earlier one does.
    manifest
        .deletions
        .retain(|pending| !same_target(pending, &deletion));
    manifest.deletions.push(deletion);
    match manifest.store_with(&*inner.io, &inner.dir) {
        Ok(()) => {}
        Err(ManifestError::BeforeRename(e)) => return Err(e),
        Err(ManifestError::AfterRename(e)) => {
            inner.set_poison(&e);
            return Err(e);
        }
    }
    let mut state = inner.state.write();
    state.deletions = Arc::new(Deletions::new(&manifest.deletions));
    state.manifest = manifest;
    Ok(())
}

fn same_target(a: &Deletion, b: &Deletion) -> bool {
    match (a, b) {
        (Deletion::Prediction { uuid: x, .. }, Deletion::Prediction { uuid: y, .. }) => x == y,
        (Deletion::Model { model: x, .. }, Deletion::Model { model: y, .. }) => x == y,
        _ => false,
    }
}
