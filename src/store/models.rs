//! The list of models that have predictions in a store.

use std::collections::BTreeSet;

use super::Store;
use crate::error::Result;

impl Store {
    /// Returns the ids of the models that have at least one prediction in the store, raw or
    /// rolled up, ascending.
    ///
    /// It reads only the heads and the directories of open files, so its cost grows with the
    /// number of segments and models, not with the number of predictions.
    ///
    /// NOTE: a model deleted with `delete_model` stays in the list until compaction removes
    /// its predictions from the segments.
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
        Ok(models.into_iter().collect())
    }
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
