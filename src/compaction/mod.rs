//! Compaction: merging small segments, rolling up old predictions and deleting by age.
//!
//! The planner (`plan`) picks one step from the segments' footers and the retention policy;
//! `rewrite` turns the records of a group of adjacent segments into the records of the
//! segments that replace them, and `rolled_up` builds the rollups of a roll-up step group by
//! group. The store runs the steps (src/store/compact.rs): it writes the
//! new files, rewrites the index runs that point into the replaced segments, and switches the
//! manifest. docs/compaction.md describes the policy and its guarantees.

pub(crate) mod plan;
pub(crate) mod rewrite;
pub(crate) mod rolled_up;
