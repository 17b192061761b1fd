//! Pending deletions as reads apply them: records that a deletion covers are hidden at once,
//! before compaction removes their bytes.

use std::collections::HashMap;

use uuid::Uuid;

use crate::manifest::Deletion;
use crate::record::Seq;

/// The deletions of a manifest, keyed for the checks that reads make per record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deletions {
    /// Largest seq covered, by prediction UUID.
    uuids: HashMap<Uuid, Seq>,
    /// Largest seq covered, by model.
    models: HashMap<String, Seq>,
}

impl Deletions {
    pub fn new(deletions: &[Deletion]) -> Deletions {
        let mut out = Deletions::default();
        for deletion in deletions {
            match deletion {
                Deletion::Prediction { uuid, seq_limit } => {
                    let limit = out.uuids.entry(*uuid).or_default();
                    *limit = (*limit).max(*seq_limit);
                }
                Deletion::Model { model, seq_limit } => {
                    let limit = out.models.entry(model.clone()).or_default();
                    *limit = (*limit).max(*seq_limit);
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty() && self.models.is_empty()
    }

    /// True when a deletion covers the prediction `uuid` of `model` tracked at `seq`.
    pub fn hides_prediction(&self, model: &str, uuid: &Uuid, seq: Seq) -> bool {
        self.hides_model(model, seq) || self.uuids.get(uuid).is_some_and(|&limit| seq <= limit)
    }

    /// True when a model deletion covers a record of `model` tracked at `seq`.
    pub fn hides_model(&self, model: &str, seq: Seq) -> bool {
        self.models.get(model).is_some_and(|&limit| seq <= limit)
    }

    /// True when a deletion of prediction `uuid` covers a delayed record tracked at `seq`.
    pub fn hides_delayed(&self, uuid: &Uuid, seq: Seq) -> bool {
        self.uuids.get(uuid).is_some_and(|&limit| seq <= limit)
    }

    /// True when a deletion of `model` hides its rollups.
    pub fn hides_rollups_of(&self, model: &str) -> bool {
        self.models.contains_key(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_deletion_covers_only_earlier_seqs() {
        let uuid = Uuid::from_u128(3);
        let deletions = Deletions::new(&[Deletion::Prediction {
            uuid,
            seq_limit: 10,
        }]);
        assert!(deletions.hides_prediction("m", &uuid, 10));
        assert!(!deletions.hides_prediction("m", &uuid, 11));
        assert!(!deletions.hides_prediction("m", &Uuid::from_u128(4), 1));
    }

    #[test]
    fn a_model_deletion_covers_every_record_of_the_model() {
        let model = "churn".to_owned();
        let deletions = Deletions::new(&[Deletion::Model {
            model,
            seq_limit: 5,
        }]);
        assert!(deletions.hides_prediction("churn", &Uuid::from_u128(1), 5));
        assert!(deletions.hides_model("churn", 1));
        assert!(!deletions.hides_model("churn", 6));
        assert!(!deletions.hides_model("fraud", 1));
    }
}
