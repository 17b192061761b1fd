//! A synthetic `UuidSource` for index runs read without segments: the UUID of a row is derived
//! from its location, so any entry that a fuzzed run decodes has a UUID.
//!
//! The UUID of row `row` of kind `kind` in segment `segment` is
//! `Uuid::from_u64_pair(segment, kind_bit << 32 | row)`, where `kind_bit` is 0 for a
//! prediction row and 1 for an orphaned delayed row. Its 16 bytes are the segment id, then
//! the kind bit and the row, all big-endian, so UUIDs sort like (segment, kind, row). Every
//! location has its own UUID, so two entries share a UUID only when they are equal.
//!
//! The fuzz target `index_run` reads its input through this source, and
//! tests/fuzz_regressions.rs includes this file to write the `index_run` seeds with
//! `located_entry`, so that the seeds verify.

use modelmetrics::index::{EntryKind, IndexEntry, UuidSource};
use modelmetrics::{Result, Uuid};

/// The source that returns `location_uuid` for every location.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocationUuids;

impl UuidSource for LocationUuids {
    fn uuid_at(&self, segment: u64, kind: EntryKind, row: u32) -> Result<Uuid> {
        Ok(location_uuid(segment, kind, row))
    }
}

/// Returns the UUID that `LocationUuids` reads at row `row` of kind `kind` in `segment`.
pub fn location_uuid(segment: u64, kind: EntryKind, row: u32) -> Uuid {
    let kind_bit = u64::from(kind == EntryKind::Delayed);
    Uuid::from_u64_pair(segment, kind_bit << 32 | u64::from(row))
}

/// Returns the index entry of row `row` of kind `kind` in `segment`, with the UUID that
/// `LocationUuids` reads there.
pub fn located_entry(segment: u64, kind: EntryKind, row: u32) -> IndexEntry {
    IndexEntry {
        uuid: location_uuid(segment, kind, row),
        kind,
        segment,
        row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_uuids_sort_like_locations() {
        let mut locations = Vec::new();
        for segment in [0, 1, 2, u64::MAX] {
            for kind in [EntryKind::Prediction, EntryKind::Delayed] {
                for row in [0, 1, 7, u32::MAX] {
                    locations.push((segment, kind, row));
                }
            }
        }
        let uuids: Vec<Uuid> = locations
            .iter()
            .map(|&(segment, kind, row)| location_uuid(segment, kind, row))
            .collect();
        assert!(locations.is_sorted());
        assert!(uuids.is_sorted());
        assert!(uuids.windows(2).all(|pair| pair[0] != pair[1]));
    }

    #[test]
    fn located_entry_matches_source() {
        let entry = located_entry(3, EntryKind::Delayed, 9);
        let read = LocationUuids.uuid_at(3, EntryKind::Delayed, 9).unwrap();
        assert_eq!(entry.uuid, read);
        assert_eq!(entry.uuid.as_u64_pair(), (3, 1 << 32 | 9));
    }
}
