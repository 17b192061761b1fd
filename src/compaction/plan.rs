//! Choosing the next compaction step from the segments' footers and the retention policy.

use std::collections::HashSet;

use crate::options::Compaction;

/// The footer figures of one live segment that the planner reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    pub id: u64,
    pub bytes: u64,
    /// Time range of the rows of every table, or `None` for an empty segment.
    pub time_range: Option<(i64, i64)>,
    /// Time range of the rows tied to a prediction timestamp: predictions and resolved
    /// delayed records.
    pub prediction_range: Option<(i64, i64)>,
}

/// The compaction state that the manifest keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Watermarks {
    pub raw_cutoff_ms: i64,
    pub expired_before_ms: i64,
    /// Newest prediction timestamp in the segments: the store's data time.
    pub newest_ms: Option<i64>,
    pub total_bytes: u64,
    /// `Manifest::tier_cutoffs`.
    pub tier_cutoffs: Vec<i64>,
}

/// One compaction step. Each group is a run of segments adjacent in data order, replaced by
/// the segments written from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Delete every record older than `before_ms`: predictions and resolved delayed records by
    /// prediction timestamp, orphans by their own timestamp, aggregates by window start.
    Expire {
        before_ms: i64,
        groups: Vec<Vec<u64>>,
    },
    /// Replace predictions older than `before_ms` and their delayed records by rollups.
    RollUp {
        before_ms: i64,
        groups: Vec<Vec<u64>>,
    },
    /// Merge the rollups of tier `tier` whose interval ends by `before_ms` into the next tier.
    Coarsen { tier: usize, before_ms: i64 },
    /// Merge small segments into larger ones split by time partition.
    Merge { group: Vec<u64> },
    /// Rewrite the segments that hold records of pending deletions without them. The store
    /// plans it from its index, not from footers.
    Purge { groups: Vec<Vec<u64>> },
}

/// Smallest number of small adjacent segments worth merging.
pub(crate) const MIN_MERGE_INPUTS: usize = 4;

/// Returns the next step, or `None` when the segments already meet the policy.
pub(crate) fn plan(
    segments: &[SegmentInfo],
    marks: &Watermarks,
    policy: &Compaction,
    unproductive: &HashSet<Vec<u64>>,
) -> Option<Step> {
    let partition = partition_ms(policy);
    let retention = &policy.retention;
    if let Some(newest) = marks.newest_ms {
        if let Some(age) = retention.max_age {
            let before = align_down(older_than(newest, age), partition);
            if before > marks.expired_before_ms {
                let groups = groups_below(segments, before, |s| s.time_range);
                return Some(Step::Expire {
                    before_ms: before,
                    groups,
                });
            }
        }
        if let (Some(age), false) = (retention.raw_for, retention.tiers.is_empty()) {
            let before = align_down(older_than(newest, age), partition);
            if before > marks.raw_cutoff_ms {
                let groups = groups_below(segments, before, |s| s.prediction_range);
                return Some(Step::RollUp {
                    before_ms: before,
                    groups,
                });
            }
            // Predictions tracked after the roll-up with older timestamps.
            // A late roll-up that took nothing (timestamps whose interval does not fit in i64)
            // is in `unproductive` under the ids of all its groups.
            let late = groups_below(segments, marks.raw_cutoff_ms, |s| s.prediction_range);
            if !late.is_empty() && !unproductive.contains(&late.concat()) {
                let before_ms = marks.raw_cutoff_ms;
                return Some(Step::RollUp {
                    before_ms,
                    groups: late,
                });
            }
        }
        if let Some(step) = plan_coarsen(newest, marks, policy) {
            return Some(step);
        }
    }
    if let Some(limit) = retention.max_bytes
        && marks.total_bytes > limit
        && let Some(before) = oldest_partition_end(segments, partition)
    {
        let groups = groups_below(segments, before, |s| s.time_range);
        return Some(Step::Expire {
            before_ms: before,
            groups,
        });
    }
    plan_merge(segments, policy.target_segment_bytes, unproductive)
        .map(|group| Step::Merge { group })
}

/// Moves rollups of a tier that outlived its `keep_until` into the next tier, at boundaries of
/// the next tier's interval.
fn plan_coarsen(newest: i64, marks: &Watermarks, policy: &Compaction) -> Option<Step> {
    let tiers = &policy.retention.tiers;
    for (tier, pair) in tiers.windows(2).enumerate() {
        let (Some(current), Some(next)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let Some(keep) = current.keep_until else {
            continue;
        };
        let before = align_down(older_than(newest, keep), millis(next.interval).max(1));
        let done = marks.tier_cutoffs.get(tier).copied().unwrap_or(i64::MIN);
        if before > done {
            return Some(Step::Coarsen {
                tier,
                before_ms: before,
            });
        }
    }
    None
}

/// True when a segment of `bytes` is small enough for `plan_merge` to merge it with its
/// neighbours: under half of `target_bytes`.
pub(crate) fn is_small(bytes: u64, target_bytes: u64) -> bool {
    bytes < target_bytes / 2
}

/// Finds the first run of at least `MIN_MERGE_INPUTS` adjacent small segments, of at most
/// twice the target size in all, in which no segment is larger than the others together, and
/// that is not in `unproductive`. A run is unproductive when an earlier merge of it gave as
/// many segments as it read, because its rows fall into that many partitions.
///
/// The size rule keeps merges tiered. A segment is rewritten only once the segments merged
/// with it bring at least as many bytes, so each byte is rewritten about once per doubling of
/// its segment, not once per few new flushes.
fn plan_merge(
    segments: &[SegmentInfo],
    target_bytes: u64,
    unproductive: &HashSet<Vec<u64>>,
) -> Option<Vec<u64>> {
    let limit = target_bytes.saturating_mul(2);
    for run in segments.split(|segment| !is_small(segment.bytes, target_bytes)) {
        for start in 0..run.len() {
            let rest = run.get(start..).unwrap_or_default();
            if let Some(group) = tiered_group(rest, limit, unproductive) {
                return Some(group);
            }
        }
    }
    None
}

/// Returns the ids of the longest prefix of `run` that `plan_merge` may merge: at least
/// `MIN_MERGE_INPUTS` segments, at most `limit` bytes, no segment larger than the others
/// together, and not in `unproductive`.
fn tiered_group(
    run: &[SegmentInfo],
    limit: u64,
    unproductive: &HashSet<Vec<u64>>,
) -> Option<Vec<u64>> {
    let (mut total, mut largest) = (0u64, 0u64);
    let mut best = None;
    for (len, segment) in (1..).zip(run) {
        total = total.saturating_add(segment.bytes);
        largest = largest.max(segment.bytes);
        if total > limit {
            break;
        }
        if len >= MIN_MERGE_INPUTS && largest <= total - largest {
            let ids: Vec<u64> = run.iter().take(len).map(|segment| segment.id).collect();
            if !unproductive.contains(&ids) {
                best = Some(ids);
            }
        }
    }
    best
}

/// Groups the segments whose ids are in `ids` into runs adjacent in data order.
pub(crate) fn adjacent_groups(segments: &[u64], ids: &HashSet<u64>) -> Vec<Vec<u64>> {
    let mut groups: Vec<Vec<u64>> = Vec::new();
    let mut current: Vec<u64> = Vec::new();
    for id in segments {
        if ids.contains(id) {
            current.push(*id);
        } else if !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Splits each group into runs of adjacent segments of at most `max_bytes` in all, so that a
/// step reads at most that much at once. A segment larger than `max_bytes` is a run of its own.
/// Runs stay in data order.
pub(crate) fn cap_groups(
    groups: Vec<Vec<u64>>,
    bytes_of: impl Fn(u64) -> u64,
    max_bytes: u64,
) -> Vec<Vec<u64>> {
    let mut capped: Vec<Vec<u64>> = Vec::with_capacity(groups.len());
    for group in groups {
        let mut run: Vec<u64> = Vec::new();
        let mut run_bytes = 0u64;
        for id in group {
            let bytes = bytes_of(id);
            if !run.is_empty() && run_bytes.saturating_add(bytes) > max_bytes {
                capped.push(std::mem::take(&mut run));
                run_bytes = 0;
            }
            run.push(id);
            run_bytes = run_bytes.saturating_add(bytes);
        }
        if !run.is_empty() {
            capped.push(run);
        }
    }
    capped
}

/// Groups the segments holding rows older than `before_ms` into runs adjacent in data order.
fn groups_below(
    segments: &[SegmentInfo],
    before_ms: i64,
    range: impl Fn(&SegmentInfo) -> Option<(i64, i64)>,
) -> Vec<Vec<u64>> {
    let mut groups: Vec<Vec<u64>> = Vec::new();
    let mut current: Vec<u64> = Vec::new();
    for segment in segments {
        if range(segment).is_some_and(|(min, _)| min < before_ms) {
            current.push(segment.id);
        } else if !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Returns the end of the partition that contains the oldest row, or `None` without rows.
fn oldest_partition_end(segments: &[SegmentInfo], partition: i64) -> Option<i64> {
    let oldest = segments
        .iter()
        .filter_map(|s| s.time_range)
        .map(|r| r.0)
        .min()?;
    Some(align_down(oldest, partition).saturating_add(partition))
}

pub(crate) fn partition_ms(policy: &Compaction) -> i64 {
    millis(policy.partition).max(1)
}

/// Returns `newest` minus `age` in ms, or `i64::MIN` when that is below the i64 range, so
/// that an age longer than all of time covers nothing.
fn older_than(newest: i64, age: std::time::Duration) -> i64 {
    let cutoff = i128::from(newest) - i128::try_from(age.as_millis()).unwrap_or(i128::MAX);
    i64::try_from(cutoff).unwrap_or(i64::MIN)
}

pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Rounds `ms` down to a multiple of `step`.
pub(crate) fn align_down(ms: i64, step: i64) -> i64 {
    ms.saturating_sub(ms.rem_euclid(step))
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Retention, RollupTier};
    use std::time::Duration;

    const DAY: i64 = 86_400_000;

    fn info(id: u64, bytes: u64, min: i64, max: i64) -> SegmentInfo {
        SegmentInfo {
            id,
            bytes,
            time_range: Some((min, max)),
            prediction_range: Some((min, max)),
        }
    }

    fn marks(newest: i64) -> Watermarks {
        Watermarks {
            raw_cutoff_ms: i64::MIN,
            expired_before_ms: i64::MIN,
            newest_ms: Some(newest),
            total_bytes: 0,
            tier_cutoffs: Vec::new(),
        }
    }

    #[test]
    fn four_small_segments_of_one_day_merge() {
        let segments: Vec<_> = (1..=4)
            .map(|i| info(i, 100, i as i64, i as i64 + 1))
            .collect();
        let step = plan(
            &segments,
            &marks(10),
            &Compaction::default(),
            &HashSet::new(),
        );
        assert_eq!(
            step,
            Some(Step::Merge {
                group: vec![1, 2, 3, 4]
            })
        );
    }

    #[test]
    fn three_small_segments_do_not_merge() {
        let segments: Vec<_> = (1..=3)
            .map(|i| info(i, 100, i as i64, i as i64 + 1))
            .collect();
        assert_eq!(
            plan(
                &segments,
                &marks(10),
                &Compaction::default(),
                &HashSet::new()
            ),
            None
        );
    }

    #[test]
    fn a_large_segment_splits_the_runs() {
        let mut segments: Vec<_> = (1..=3).map(|i| info(i, 100, 0, 1)).collect();
        segments.push(info(4, 1 << 40, 0, 1));
        segments.extend((5..=8).map(|i| info(i, 100, 0, 1)));
        let step = plan(
            &segments,
            &marks(10),
            &Compaction::default(),
            &HashSet::new(),
        );
        assert_eq!(
            step,
            Some(Step::Merge {
                group: vec![5, 6, 7, 8]
            })
        );
    }

    /// Plans a merge of segments of the given sizes, in percent of the target size.
    fn merge_of(percents: &[u64]) -> Option<Step> {
        let target = Compaction::default().target_segment_bytes;
        let segments: Vec<_> = (1..)
            .zip(percents)
            .map(|(id, percent)| info(id, target / 100 * percent, 0, 1))
            .collect();
        plan(
            &segments,
            &marks(10),
            &Compaction::default(),
            &HashSet::new(),
        )
    }

    #[test]
    fn large_segment_waits_for_as_many_bytes() {
        // A segment of 45 % merges with no three segments of 1 %.
        assert_eq!(merge_of(&[45, 1, 1, 1]), None);
        // Four new segments merge among themselves, and leave the large one alone.
        let group = vec![2, 3, 4, 5];
        assert_eq!(merge_of(&[45, 1, 1, 1, 1]), Some(Step::Merge { group }));
        // Once the others bring as many bytes, the large one merges with them.
        let group = vec![1, 2, 3, 4];
        assert_eq!(merge_of(&[20, 10, 5, 5]), Some(Step::Merge { group }));
    }

    #[test]
    fn merge_takes_longest_group_under_twice_target() {
        let group = vec![1, 2, 3, 4, 5, 6];
        let step = merge_of(&[30, 30, 30, 30, 30, 30, 30]);
        assert_eq!(step, Some(Step::Merge { group }));
    }

    /// Flushes `flushes` segments of `bytes` each into one time range, runs the merges that
    /// `plan` returns after each flush, and returns the bytes the merges wrote per byte
    /// flushed. A merge writes one segment of its inputs' total size.
    fn merge_amplification(flushes: u64, bytes: u64) -> f64 {
        let policy = Compaction::default();
        let mut segments: Vec<SegmentInfo> = Vec::new();
        let mut written = 0u64;
        let mut next_id = 0;
        for _ in 0..flushes {
            next_id += 1;
            segments.push(info(next_id, bytes, 0, 1));
            while let Some(Step::Merge { group }) =
                plan(&segments, &marks(10), &policy, &HashSet::new())
            {
                let merged: u64 = segments
                    .iter()
                    .filter(|s| group.contains(&s.id))
                    .map(|s| s.bytes)
                    .sum();
                written += merged;
                let at = segments.iter().position(|s| s.id == group[0]).unwrap();
                segments.retain(|s| !group.contains(&s.id));
                next_id += 1;
                segments.insert(at, info(next_id, merged, 0, 1));
            }
        }
        written as f64 / (flushes * bytes) as f64
    }

    #[test]
    fn small_flushes_are_rewritten_few_times() {
        let target = Compaction::default().target_segment_bytes;
        for (flushes, bytes) in [
            (2_000, target / 100),
            (500, target / 7),
            (3_000, target / 333),
        ] {
            let amplification = merge_amplification(flushes, bytes);
            assert!(
                amplification <= 6.0,
                "{flushes} flushes of {bytes} bytes: {amplification:.1} bytes written per byte"
            );
        }
    }

    #[test]
    fn an_unproductive_run_is_not_planned_again() {
        let segments: Vec<_> = (0..4)
            .map(|i| info(i, 100, i as i64 * DAY, i as i64 * DAY))
            .collect();
        let unproductive: HashSet<Vec<u64>> = [vec![0, 1, 2, 3]].into();
        assert_eq!(
            plan(
                &segments,
                &marks(10 * DAY),
                &Compaction::default(),
                &unproductive
            ),
            None
        );
    }

    #[test]
    fn aged_rows_roll_up_at_partition_boundaries() {
        let policy = Compaction {
            retention: Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
                .then(RollupTier::every(Duration::from_secs(300))),
            ..Compaction::default()
        };
        let segments = vec![
            info(1, 1 << 40, 0, DAY),
            info(2, 1 << 40, 5 * DAY, 5 * DAY + 7),
        ];
        let step = plan(&segments, &marks(5 * DAY + 7), &policy, &HashSet::new());
        let expected = Step::RollUp {
            before_ms: 3 * DAY,
            groups: vec![vec![1]],
        };
        assert_eq!(step, Some(expected));
    }

    #[test]
    fn rolled_up_cutoff_is_not_planned_again() {
        let policy = Compaction {
            retention: Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
                .then(RollupTier::every(Duration::from_secs(300))),
            ..Compaction::default()
        };
        let segments = vec![info(2, 1 << 40, 5 * DAY, 5 * DAY + 7)];
        let mut marks = marks(5 * DAY + 7);
        marks.raw_cutoff_ms = 3 * DAY;
        assert_eq!(plan(&segments, &marks, &policy, &HashSet::new()), None);
    }

    #[test]
    fn late_predictions_below_the_cutoff_roll_up() {
        let policy = Compaction {
            retention: Retention::keep_raw_for(Duration::from_secs(2 * 86_400))
                .then(RollupTier::every(Duration::from_secs(300))),
            ..Compaction::default()
        };
        let segments = vec![info(2, 1 << 40, 5 * DAY, 5 * DAY + 7), info(3, 1, DAY, DAY)];
        let mut marks = marks(5 * DAY + 7);
        marks.raw_cutoff_ms = 3 * DAY;
        let step = plan(&segments, &marks, &policy, &HashSet::new());
        let expected = Step::RollUp {
            before_ms: 3 * DAY,
            groups: vec![vec![3]],
        };
        assert_eq!(step, Some(expected));
    }

    #[test]
    fn expiry_comes_before_rollups() {
        let policy = Compaction {
            retention: Retention::keep_raw_for(Duration::from_secs(86_400))
                .then(RollupTier::every(Duration::from_secs(300)))
                .delete_after(Duration::from_secs(3 * 86_400)),
            ..Compaction::default()
        };
        let segments = vec![info(1, 1 << 40, 0, DAY), info(2, 1 << 40, 9 * DAY, 9 * DAY)];
        let step = plan(&segments, &marks(9 * DAY), &policy, &HashSet::new());
        let expected = Step::Expire {
            before_ms: 6 * DAY,
            groups: vec![vec![1]],
        };
        assert_eq!(step, Some(expected));
    }

    #[test]
    fn an_expired_tier_moves_into_the_next() {
        let policy = Compaction {
            retention: Retention::keep_raw_for(Duration::from_secs(86_400))
                .then(
                    RollupTier::every(Duration::from_secs(300))
                        .until(Duration::from_secs(3 * 86_400)),
                )
                .then(RollupTier::every(Duration::from_secs(3_600))),
            ..Compaction::default()
        };
        let mut marks = marks(10 * DAY + 5);
        marks.raw_cutoff_ms = 9 * DAY;
        let step = plan(&[], &marks, &policy, &HashSet::new());
        assert_eq!(
            step,
            Some(Step::Coarsen {
                tier: 0,
                before_ms: 7 * DAY
            })
        );
        marks.tier_cutoffs = vec![7 * DAY];
        assert_eq!(plan(&[], &marks, &policy, &HashSet::new()), None);
    }

    #[test]
    fn groups_are_adjacent_runs() {
        let segments = vec![
            info(1, 1, 0, 0),
            info(2, 1, 9, 9),
            info(3, 1, 0, 0),
            info(4, 1, 0, 0),
        ];
        assert_eq!(
            groups_below(&segments, 5, |s| s.time_range),
            vec![vec![1], vec![3, 4]]
        );
    }

    #[test]
    fn capped_groups_split_at_the_byte_limit() {
        let bytes = |id: u64| id * 10;
        let groups = vec![vec![1, 2, 3, 4], vec![9], vec![5, 1]];
        let capped = cap_groups(groups, bytes, 60);
        assert_eq!(capped, vec![vec![1, 2, 3], vec![4], vec![9], vec![5, 1]]);
    }

    #[test]
    fn capped_groups_keep_order_and_ids() {
        let groups = vec![vec![3, 1, 2], vec![7, 8]];
        let capped = cap_groups(groups.clone(), |_| 100, 150);
        assert_eq!(capped.concat(), groups.concat());
        assert!(capped.iter().all(|run| run.len() == 1));
        assert_eq!(cap_groups(groups.clone(), |_| 1, u64::MAX), groups);
    }

    #[test]
    fn too_many_bytes_expire_the_oldest_partition() {
        let policy = Compaction {
            retention: Retention::default().max_bytes(10),
            ..Compaction::default()
        };
        let segments = vec![
            info(1, 1 << 40, DAY + 5, 2 * DAY),
            info(2, 1 << 40, 3 * DAY, 3 * DAY),
        ];
        let mut marks = marks(3 * DAY);
        marks.total_bytes = 11;
        let step = plan(&segments, &marks, &policy, &HashSet::new());
        let expected = Step::Expire {
            before_ms: 2 * DAY,
            groups: vec![vec![1]],
        };
        assert_eq!(step, Some(expected));
    }

    #[test]
    fn an_age_beyond_the_i64_range_covers_nothing() {
        assert_eq!(older_than(i64::MAX, Duration::MAX), i64::MIN);
        assert_eq!(older_than(10, Duration::from_millis(3)), 7);
        assert_eq!(older_than(i64::MIN + 1, Duration::from_millis(5)), i64::MIN);
    }

    #[test]
    fn align_down_handles_negative_times() {
        assert_eq!(align_down(-1, 10), -10);
        assert_eq!(align_down(10, 10), 10);
        assert_eq!(align_down(i64::MIN + 3, 10), i64::MIN);
    }
}
