//! Reading the resolved delayed rows of a segment that a roll-up joins with predictions stored
//! in other segments.

use crate::error::Result;
use crate::record::{PredictionKey, ResolvedDelayed};
use crate::segment::Segment;
use crate::segment::layout::Table;
use crate::segment::query::DelayedTargets;

impl Segment {
    /// Decodes the resolved delayed rows whose prediction timestamp lies in `[min_ms, max_ms]`
    /// and that `keep` accepts, in stored order. Decodes one block at a time and skips blocks
    /// outside the range by their footer entry.
    pub fn resolved_delayed(
        &self,
        (min_ms, max_ms): (i64, i64),
        keep: impl Fn(&PredictionKey) -> bool,
    ) -> Result<Vec<ResolvedDelayed>> {
        let mut out = Vec::new();
        for (index, block) in self.blocks(Table::Delayed).iter().enumerate() {
            let overlaps = block.min_ts <= max_ms && block.max_ts >= min_ms;
            if block.model.is_none() || !overlaps {
                continue;
            }
            let reader = self.block_reader(Table::Delayed, index)?;
            let targets = DelayedTargets::decode(&reader)?;
            let rows = self.delayed_rows(&reader, &targets, 0..reader.rows())?;
            out.extend(rows.into_iter().filter(|row| {
                row.prediction
                    .as_ref()
                    .is_some_and(|key| (min_ms..=max_ms).contains(&key.timestamp_ms) && keep(key))
            }));
        }
        Ok(out)
    }
}
