//! The list of models that have predictions in a store.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use super::Store;
use crate::error::Result;
use crate::query::Snapshot;

impl Store {
    /// Returns the ids of the models that have at least one prediction in the store, raw or
    /// rolled up, ascending.
    ///
    /// It reads the heads and the directories of open files, so its cost grows with the number
    /// of segments and models, not with the number of predictions. A model deleted with
    /// `delete_model` whose records compaction has not removed yet is the exception: it is
    /// listed only if a prediction tracked after the deletion remains, which takes a scan of
    /// its rows up to the first one.
    pub fn models(&self) -> Result<Vec<String>> {
        self.check_open()?;
        let snapshot = self.snapshot();
        let mut models = BTreeSet::new();
        for head in std::iter::once(&snapshot.active).chain(snapshot.frozen.as_ref()) {
            let data = head.read();
            models.extend(data.prediction_models().map(str::to_owned));
        }
        for segment in snapshot.segments.values() {
            models.extend(segment.prediction_models().map(str::to_owned));
        }
        for file in snapshot.rollups.iter() {
            models.extend(file.models().map(str::to_owned));
        }
        let mut listed = Vec::with_capacity(models.len());
        for model in models {
            if !snapshot.deletions.hides_rollups_of(&model) || has_rows(&snapshot, &model)? {
                listed.push(model);
            }
        }
        Ok(listed)
    }
}

/// Returns whether a read of `model` over all time returns at least one prediction.
fn has_rows(snapshot: &Snapshot, model: &str) -> Result<bool> {
    let mut found = false;
    crate::rows::scan_selected(snapshot, model, (i64::MIN, i64::MAX), (&[], &[]), |_| {
        found = true;
        ControlFlow::Break(())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use crate::{Metrics, Store, Uuid};

    #[test]
    fn models_come_from_head_and_segments() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let one = Metrics::new().with("x", 1.0);
        store.track_metrics("b", Uuid::new_v4(), 0, &one).unwrap();
        store.flush().unwrap();
        store.track_metrics("a", Uuid::new_v4(), 0, &one).unwrap();
        assert_eq!(store.models().unwrap(), ["a", "b"]);
    }

    #[test]
    fn deleted_model_listed_only_with_later_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let metrics = Metrics::new().with("x", 1.0);
        store
            .track_metrics("a", Uuid::new_v4(), 0, &metrics)
            .unwrap();
        store.flush().unwrap();
        store
            .track_metrics("a", Uuid::new_v4(), 5, &metrics)
            .unwrap();
        store
            .track_metrics("b", Uuid::new_v4(), 0, &metrics)
            .unwrap();
        store.delete_model("a").unwrap();
        assert_eq!(store.models().unwrap(), ["b"]);

        store
            .track_metrics("a", Uuid::new_v4(), 1, &metrics)
            .unwrap();
        assert_eq!(store.models().unwrap(), ["a", "b"]);
        store.flush().unwrap();
        assert_eq!(store.models().unwrap(), ["a", "b"]);

        store.delete_model("a").unwrap();
        assert_eq!(store.models().unwrap(), ["b"]);
        store.compact().unwrap();
        assert_eq!(store.models().unwrap(), ["b"]);
    }

    #[test]
    fn aggregates_alone_do_not_list_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rows = Metrics::new().with("rows", 0i64);
        store.track_aggregate_metrics("a", 0, 10, &rows).unwrap();
        store.flush().unwrap();
        store.track_aggregate_metrics("a", 10, 20, &rows).unwrap();
        assert!(store.models().unwrap().is_empty());
    }
}
