//! The group index of a block, new in format version 3: restart points of the block's fixed
//! integer columns every [`GROUP_ROWS`] rows. A read of a time window decodes those columns
//! only from the group where the window starts to the group where it ends.
//!
//! docs/format/segment.md ("Group index") describes the bytes.

use std::ops::Range;

use crate::codec::ints::{self, Restart};
use crate::codec::{DecodeResult, Reader, put_varint, put_varint_i64};

/// Rows of one group: a block has a restart at every multiple of this row count below its
/// row count, so a block of at most this many rows has an empty group index.
pub const GROUP_ROWS: usize = 256;

/// Appends the group index of one block. `columns` contains each indexed column's mode tag and
/// its restarts (from `ints::restarts` with `GROUP_ROWS`), in fixed column order. Every
/// column of a block has restarts at the same rows.
pub fn encode(columns: &[(u8, &[Restart])], out: &mut Vec<u8>) {
    let groups = columns.first().map_or(0, |(_, restarts)| restarts.len());
    let mut previous = vec![Restart::default(); columns.len()];
    for group in 0..groups {
        for ((tag, restarts), previous) in columns.iter().zip(previous.iter_mut()) {
            let Some(restart) = restarts.get(group) else {
                continue;
            };
            put_varint_i64(out, restart.value.wrapping_sub(previous.value));
            if ints::stores_delta(*tag) {
                put_varint_i64(out, restart.delta);
            }
            if ints::stores_position(*tag) {
                put_varint(out, restart.position.wrapping_sub(previous.position));
            }
            *previous = *restart;
        }
    }
}

/// The parsed group index of one block: the restarts of each indexed column.
#[derive(Debug, Default)]
pub(crate) struct GroupIndex {
    columns: Vec<Vec<Restart>>,
}

impl GroupIndex {
    /// Parses the group index of a block of `rows` rows whose indexed columns have the mode
    /// tags `tags`, in fixed column order. An empty index has no restarts.
    pub fn decode(bytes: &[u8], tags: &[u8], rows: usize) -> DecodeResult<GroupIndex> {
        let mut columns = vec![Vec::new(); tags.len()];
        if bytes.is_empty() {
            return Ok(GroupIndex { columns });
        }
        let groups = rows.saturating_sub(1) / GROUP_ROWS;
        // Each restart takes at least one byte, so the bytes bound what is reserved.
        for restarts in &mut columns {
            restarts.reserve(groups.min(bytes.len()));
        }
        let mut reader = Reader::new(bytes);
        let mut previous = vec![Restart::default(); tags.len()];
        for group in 1..=groups {
            for ((tag, restarts), previous) in tags.iter().zip(&mut columns).zip(&mut previous) {
                let value = previous.value.wrapping_add(reader.varint_i64()?);
                let delta = match ints::stores_delta(*tag) {
                    true => reader.varint_i64()?,
                    false => 0,
                };
                let position = match ints::stores_position(*tag) {
                    true => previous.position.wrapping_add(reader.varint()?),
                    false => 0,
                };
                let restart = Restart {
                    row: group * GROUP_ROWS,
                    value,
                    delta,
                    position,
                };
                restarts.push(restart);
                *previous = restart;
            }
        }
        reader.check_end()?;
        Ok(GroupIndex { columns })
    }

    /// Returns the last restart of indexed column `column` at or before `row`, or `None` when
    /// decoding starts at the first row.
    pub fn restart(&self, column: usize, row: usize) -> Option<&Restart> {
        let restarts = self.columns.get(column)?;
        let after = restarts.partition_point(|restart| restart.row <= row);
        after.checked_sub(1).and_then(|last| restarts.get(last))
    }

    /// Returns the rows of a block of `rows` rows to decode to find the rows of a sorted
    /// indexed column `column` whose values `v` have `below_start(v)` false and `below_end(v)`
    /// true, with the restart to decode from.
    ///
    /// Each restart's value is the first value of its group, so the groups before the last one
    /// that starts below the window, and the groups that start at or past its end, are left out.
    pub fn rows_around(
        &self,
        column: usize,
        rows: usize,
        below_start: impl Fn(i64) -> bool,
        below_end: impl Fn(i64) -> bool,
    ) -> (Option<&Restart>, Range<usize>) {
        let restarts = self.columns.get(column).map_or(&[][..], Vec::as_slice);
        let before = restarts.partition_point(|restart| below_start(restart.value));
        let restart = before.checked_sub(1).and_then(|last| restarts.get(last));
        let first = restart.map_or(0, |restart| restart.row);
        let after = restarts.partition_point(|restart| below_end(restart.value));
        let end = restarts.get(after).map_or(rows, |restart| restart.row);
        (restart, first..end.max(first))
    }

    /// Returns the restarts of indexed column `column`.
    pub fn restarts(&self, column: usize) -> &[Restart] {
        self.columns.get(column).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restarts_of(values: &[i64]) -> (u8, Vec<Restart>) {
        let mut bytes = Vec::new();
        ints::encode(values, &mut bytes);
        (bytes[0], ints::restarts(bytes[0], values, GROUP_ROWS))
    }

    #[test]
    fn index_round_trips() {
        let timestamps: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + 600 * i).collect();
        let mut seqs: Vec<i64> = (0..1000).map(|i| 5 * i + i % 3).collect();
        seqs[700] = -4;
        let columns = [restarts_of(&timestamps), restarts_of(&seqs)];
        let borrowed: Vec<(u8, &[Restart])> = columns.iter().map(|(t, r)| (*t, &r[..])).collect();
        let mut bytes = Vec::new();
        encode(&borrowed, &mut bytes);
        let tags = [columns[0].0, columns[1].0];
        let index = GroupIndex::decode(&bytes, &tags, 1000).unwrap();
        for (position, (_, restarts)) in columns.iter().enumerate() {
            assert_eq!(index.restarts(position), &restarts[..]);
        }
        assert_eq!(index.restarts(0).len(), 3);
    }

    #[test]
    fn index_of_wrong_row_count_is_rejected() {
        let values: Vec<i64> = (0..1000).collect();
        let (tag, restarts) = restarts_of(&values);
        let mut bytes = Vec::new();
        encode(&[(tag, &restarts)], &mut bytes);
        assert!(GroupIndex::decode(&bytes, &[tag], 700).is_err());
        assert!(GroupIndex::decode(&bytes, &[tag], 1100).is_err());
        assert!(GroupIndex::decode(&bytes, &[tag], 1000).is_ok());
    }

    #[test]
    fn rows_around_skip_groups_outside_the_window() {
        let values: Vec<i64> = (0..1000).map(|i| i / 2).collect();
        let (tag, restarts) = restarts_of(&values);
        let mut bytes = Vec::new();
        encode(&[(tag, &restarts)], &mut bytes);
        let index = GroupIndex::decode(&bytes, &[tag], 1000).unwrap();
        // Group starts: rows 256, 512, 768 hold 128, 256, 384.
        let around = |start: i64, end: i64| {
            let (restart, rows) = index.rows_around(0, 1000, |v| v < start, |v| v < end);
            (restart.map(|r| r.row), rows)
        };
        assert_eq!(around(0, 10), (None, 0..256));
        assert_eq!(around(128, 129), (None, 0..512));
        assert_eq!(around(129, 200), (Some(256), 256..512));
        assert_eq!(around(300, 1000), (Some(512), 512..1000));
        assert_eq!(around(500, 600), (Some(768), 768..1000));
        assert_eq!(around(200, 100), (Some(256), 256..256));
    }
}
