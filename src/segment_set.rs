//! The live segments of a store in data order, with lookup by id.
//!
//! Segment ids grow with each file written, but a compacted segment takes the place of the
//! segments it replaces, so id order is not data order. Data order matters for delayed records:
//! a segment stores no seq for the delayed records it resolved, and of two values of one
//! delayed metric the one in the later segment is the latest.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::index::{EntryKind, UuidSource};
use crate::segment::Segment;

/// An immutable list of open segments, oldest data first.
#[derive(Clone, Debug, Default)]
pub(crate) struct SegmentSet {
    by_id: BTreeMap<u64, Arc<Segment>>,
    order: Vec<u64>,
}

impl SegmentSet {
    /// Builds a set from segments in data order. A repeated id keeps its first place.
    pub fn new(ordered: impl IntoIterator<Item = Arc<Segment>>) -> SegmentSet {
        let mut set = SegmentSet::default();
        for segment in ordered {
            let id = segment.id();
            if set.by_id.insert(id, segment).is_none() {
                set.order.push(id);
            }
        }
        set
    }

    /// Returns the segments in data order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.order.iter().filter_map(|id| self.by_id.get(id))
    }

    /// Returns the ids in data order.
    pub fn ids(&self) -> &[u64] {
        &self.order
    }

    pub fn get(&self, id: &u64) -> Option<&Arc<Segment>> {
        self.by_id.get(id)
    }

    pub fn contains_key(&self, id: &u64) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Returns a set with `segment` added as the newest.
    pub fn with_newest(&self, segment: Arc<Segment>) -> SegmentSet {
        SegmentSet::new(self.values().cloned().chain([segment]))
    }

    /// Returns a set without the segments `removed`, with `added` in the place of the first of
    /// them (or last, when none of them is in the set). The removed segments must be adjacent
    /// in data order, so that no kept segment moves past another.
    pub fn replace(&self, removed: &[u64], added: &[Arc<Segment>]) -> SegmentSet {
        let at = self
            .order
            .iter()
            .position(|id| removed.contains(id))
            .unwrap_or(self.order.len());
        let before = self.order.iter().take(at);
        let after = self.order.iter().skip(at);
        let mut ordered: Vec<Arc<Segment>> = Vec::with_capacity(self.len() + added.len());
        ordered.extend(before.filter_map(|id| self.by_id.get(id)).cloned());
        ordered.extend(added.iter().cloned());
        let rest = after.filter(|id| !removed.contains(id));
        ordered.extend(rest.filter_map(|id| self.by_id.get(id)).cloned());
        SegmentSet::new(ordered)
    }
}

impl UuidSource for SegmentSet {
    fn uuid_at(&self, segment: u64, kind: EntryKind, row: u32) -> Result<Uuid> {
        let Some(found) = self.by_id.get(&segment) else {
            let name = crate::segment::segment_file_name(segment);
            let reason = "a UUID index entry points into this segment, which is not open: \
                          the manifest does not list it or it failed to open";
            return Err(Error::corruption(std::path::Path::new(&name), 0, reason));
        };
        match kind {
            EntryKind::Prediction => found.uuid_at(row),
            EntryKind::Delayed => found.orphan_uuid_at(row),
        }
    }
}
