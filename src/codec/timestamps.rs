//! Timestamp column codec: the integer codec of [`super::ints`], applied to timestamps.
//!
//! The byte layout is exactly that of `ints` (see its module documentation): a mode tag, then
//! seeds, then packed residuals. The modes that suit timestamps are these:
//!
//! - tag `0x11`, deltas with frame of reference: jittered arrival times, where the gaps
//!   vary within a range. Gaps spread over 600 ms take 10 bits per row.
//! - tag `0x21`, delta of deltas with frame of reference: a fixed cadence. When every gap is
//!   equal the block is a few bytes, whatever the row count.
//! - tag `0x22`, delta of deltas in buckets: a cadence that changes now and then. Each row
//!   with an unchanged gap costs 1 bit, and a change costs 9 to 68 bits.
//! - tag `0x20`, delta of deltas as zigzag varints: at least 1 byte per row, the fallback
//!   for irregular gaps that the bit-packed modes handle worse.
//!
//! Timestamps need not be sorted. Differences use wrapping arithmetic, so any `i64`,
//! including `i64::MIN` and `i64::MAX` side by side, round-trips exactly.

use super::{DecodeResult, ints};

/// Appends the encoding of `values`.
pub fn encode(values: &[i64], out: &mut Vec<u8>) {
    ints::encode(values, out);
}

/// Appends exactly `n` timestamps decoded from `bytes`, which must be one whole encoding.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<i64>) -> DecodeResult<()> {
    ints::decode(bytes, n, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn encoded(values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    fn round_trip(values: &[i64]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = Vec::new();
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(decoded, values);
        bytes
    }

    /// Returns increasing millisecond timestamps with gaps of 600 ms plus or minus 300 ms.
    fn jittered(n: usize, seed: u64) -> Vec<i64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut t = 1_700_000_000_000i64;
        (0..n)
            .map(|_| {
                t += rng.random_range(300..=900);
                t
            })
            .collect()
    }

    #[test]
    fn empty_and_single_round_trip() {
        round_trip(&[]);
        round_trip(&[1_700_000_000_000]);
        round_trip(&[i64::MIN]);
        round_trip(&[i64::MAX]);
    }

    #[test]
    fn extreme_gaps_round_trip() {
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN, i64::MAX, 0, i64::MIN]);
        round_trip(&[0, i64::MAX, i64::MAX, i64::MIN, i64::MIN + 1]);
    }

    #[test]
    fn fixed_cadence_is_a_few_bytes() {
        let values: Vec<i64> = (0..4096).map(|i| 1_700_000_000_000 + 1000 * i).collect();
        let bytes = round_trip(&values);
        assert!(bytes.len() <= 16, "{} bytes", bytes.len());
    }

    #[test]
    fn repeating_gaps_that_change_cost_bits() {
        let mut values = vec![1_700_000_000_000i64];
        for i in 1..4096 {
            let gap = match i / 1000 {
                0 => 1_000,
                1 => 60_000,
                2 => 5,
                _ => 3_600_000,
            };
            values.push(values[i - 1] + gap);
        }
        let bytes = round_trip(&values);
        assert!(bytes.len() < 4096 / 8 + 32, "{} bytes", bytes.len());
    }

    #[test]
    fn jittered_ms_take_ten_bits() {
        let values = jittered(4096, 1);
        let bytes = round_trip(&values);
        assert!(bytes.len() <= 4096 * 10 / 8 + 16, "{} bytes", bytes.len());
    }

    #[test]
    fn unsorted_timestamps_round_trip() {
        round_trip(&[5, 3, 9, -2, 1_700_000_000_000, 0, 0, 7]);
    }

    #[test]
    fn prefixes_are_rejected() {
        for values in [
            jittered(50, 2),
            vec![1, 2, 3, 4, 5],
            vec![i64::MIN, i64::MAX],
            vec![],
        ] {
            let bytes = encoded(&values);
            assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, values.len(), out));
        }
    }

    proptest! {
        #[test]
        fn increasing_timestamps_round_trip(
            start in any::<i64>(),
            gaps in proptest::collection::vec(0i64..100_000, 0..200),
        ) {
            let values: Vec<i64> = gaps
                .iter()
                .scan(start, |t, gap| {
                    *t = t.wrapping_add(*gap);
                    Some(*t)
                })
                .collect();
            prop_assert_eq!(round_trip(&values).is_empty(), false);
        }

        #[test]
        fn any_timestamps_round_trip(values in proptest::collection::vec(any::<i64>(), 0..100)) {
            round_trip(&values);
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            n in 0usize..100,
        ) {
            assert_garbage_handled(&bytes, n, |bytes, out| decode(bytes, n, out));
        }

        #[test]
        fn corrupted_block_never_panics(
            values in proptest::collection::vec(0i64..1_000_000, 0..100),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values);
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), out));
        }
    }
}
