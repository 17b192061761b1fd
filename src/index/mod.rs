//! The persistent UUID index: where the prediction row of a prediction UUID lies in the
//! segment files, and where its orphaned delayed rows lie while the prediction is unknown.
//!
//! The index is a set of immutable runs, one file each (`index-{id:020}.idx`). A flush of the
//! head writes one run with the entries of the new segment. `plan_merge` and `merge` combine
//! runs of similar size, so the number of runs grows like the logarithm of the entry count.
//!
//! An entry stores no UUID: it stores the segment and row that hold it, packed into a few
//! bytes, and a lookup reads the UUIDs it compares through a [`UuidSource`], the segments.
//! docs/format/index.md describes the file layout, the bloom filter and the merge policy.

pub(crate) mod bloom;
mod filter;
mod format;
mod merge;
mod run;
mod set;
mod writer;

#[cfg(test)]
mod tests;

pub(crate) use filter::filter_with;
pub(crate) use merge::{Dropped, merge_with};
pub use merge::{MERGE_MIN_RUNS, MERGE_SIZE_RATIO, merge, plan_merge, plan_merge_apart};
pub use run::IndexRun;
pub use set::IndexSet;

use crate::error::Result;

/// Kind of the row that an index entry locates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// The prediction with its inline metrics: a row of a segment's predictions table.
    Prediction,
    /// Delayed metrics stored before their prediction was known: an orphan row of a segment's
    /// delayed table, which keeps the prediction UUID.
    Delayed,
}

/// Reads the UUID that an index entry points to; the store implements it over its segments.
pub trait UuidSource {
    /// Returns the UUID of `row` of segment `segment`, in the predictions table for
    /// `EntryKind::Prediction` and in the delayed table for `EntryKind::Delayed`.
    fn uuid_at(&self, segment: u64, kind: EntryKind, row: u32) -> Result<uuid::Uuid>;
}

/// The location of one row of a prediction UUID. Entries sort by UUID bytes, then kind
/// (prediction first), segment and row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    pub uuid: uuid::Uuid,
    pub kind: EntryKind,
    pub segment: u64,
    /// Row number inside the segment.
    pub row: u32,
}

/// Id and size of a run, the input of `plan_merge`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    pub id: u64,
    pub entries: u64,
    pub file_bytes: u64,
}

/// File name of index run `id`.
pub fn index_file_name(id: u64) -> String {
    format!("index-{id:020}.idx")
}

/// Returns the run id named by `name` when it has the form of `index_file_name`.
pub fn parse_index_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("index-")?.strip_suffix(".idx")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
