//! Rolled-up filters: which prediction UUIDs a roll-up replaced by rollups.
//!
//! A rollup keeps no UUID, so without a record of them a delayed metric that arrives for a
//! rolled-up prediction looks like one for a prediction the store never saw. Each roll-up step
//! stores a bloom filter of the UUIDs it rolled up in the rollup file it writes, and rewrites of
//! rollup files carry the filters over. A query returns "not rolled up" for sure, and "rolled
//! up" with a false-positive rate of about 1 % for a UUID that was never inserted.
//!
//! `docs/format/rollup.md` describes how a filter is stored (format version 2).

use uuid::Uuid;

use crate::codec::{DecodeError, Reader};
use crate::index::bloom::{BLOCK_BITS, Bloom, MAX_HASHES};

/// Size of one filter entry in the directory.
pub const FILTER_ENTRY_LEN: usize = 48;
/// Largest filter a reader accepts, 1 GiB of bits, a bound on allocation when loading. The
/// writer rejects larger ones.
pub(crate) const MAX_FILTER_WORDS: u64 = 1 << 27;
/// Bits per rolled-up prediction of a new filter, about 1 % false positives. Fewer than the
/// index runs' 16: a filter is read only to count late delayed metrics, never on the path of a
/// `track_metrics` call, so its false positives cost no latency.
pub(crate) const BITS_PER_ENTRY: u64 = 10;
const BLOCK_WORDS: u64 = BLOCK_BITS / 64;

/// The UUIDs of the predictions one roll-up step replaced, with their time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledUpFilter {
    bloom: Bloom,
    predictions: u64,
    oldest_ms: i64,
    newest_ms: i64,
}

impl RolledUpFilter {
    /// Builds the filter of predictions given as (UUID, timestamp) pairs; `None` when there
    /// are none. The filter is sized by the iterator's size hint, which should be exact.
    pub fn build(predictions: impl IntoIterator<Item = (Uuid, i64)>) -> Option<Self> {
        let predictions = predictions.into_iter();
        let (lower, upper) = predictions.size_hint();
        let mut bloom = Bloom::with_bits_per_entry(upper.unwrap_or(lower) as u64, BITS_PER_ENTRY);
        let (mut count, mut oldest_ms, mut newest_ms) = (0, i64::MAX, i64::MIN);
        for (uuid, timestamp_ms) in predictions {
            bloom.insert(&uuid);
            count += 1;
            oldest_ms = oldest_ms.min(timestamp_ms);
            newest_ms = newest_ms.max(timestamp_ms);
        }
        (count > 0).then_some(RolledUpFilter {
            bloom,
            predictions: count,
            oldest_ms,
            newest_ms,
        })
    }

    /// Returns false when no prediction of `uuid` was rolled up into this filter; true means
    /// one probably was.
    pub fn may_contain(&self, uuid: &Uuid) -> bool {
        self.bloom.may_contain(uuid)
    }

    /// Number of predictions inserted.
    pub fn predictions(&self) -> u64 {
        self.predictions
    }

    /// Timestamp of the oldest prediction inserted.
    pub fn oldest_ms(&self) -> i64 {
        self.oldest_ms
    }

    /// Timestamp of the newest prediction inserted.
    pub fn newest_ms(&self) -> i64 {
        self.newest_ms
    }

    /// Bytes of the filter's bits in a file.
    pub fn stored_bytes(&self) -> u64 {
        self.bloom.words().len() as u64 * 8
    }

    /// Number of 64-bit words of the filter.
    pub(crate) fn words(&self) -> u64 {
        self.bloom.words().len() as u64
    }

    /// Encodes the filter's bits as stored: its words, little-endian.
    pub(crate) fn encode_words(&self) -> Vec<u8> {
        self.bloom
            .words()
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
}

/// A filter's directory entry: where its bits lie and what they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FilterEntry {
    pub(crate) offset: u64,
    pub(crate) words: u64,
    pub(crate) hashes: u32,
    pub(crate) predictions: u64,
    pub(crate) oldest_ms: i64,
    pub(crate) newest_ms: i64,
    pub(crate) crc: u32,
}

impl FilterEntry {
    /// Builds the entry of `filter`, whose bits `stored` are written at `offset`.
    pub(crate) fn of(filter: &RolledUpFilter, offset: u64, stored: &[u8]) -> FilterEntry {
        FilterEntry {
            offset,
            words: filter.bloom.words().len() as u64,
            hashes: filter.bloom.hashes(),
            predictions: filter.predictions,
            oldest_ms: filter.oldest_ms,
            newest_ms: filter.newest_ms,
            crc: crc32fast::hash(stored),
        }
    }

    pub(crate) fn stored_len(&self) -> u64 {
        self.words * 8
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.words.to_le_bytes());
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&self.predictions.to_le_bytes());
        out.extend_from_slice(&self.oldest_ms.to_le_bytes());
        out.extend_from_slice(&self.newest_ms.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    /// Reads one entry and checks it, given the offset where its bits must start.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        expected_offset: u64,
    ) -> Result<Self, DecodeError> {
        let at = reader.position();
        let entry = FilterEntry {
            offset: reader.u64_le()?,
            words: reader.u64_le()?,
            hashes: reader.u32_le()?,
            predictions: reader.u64_le()?,
            oldest_ms: reader.i64_le()?,
            newest_ms: reader.i64_le()?,
            crc: reader.u32_le()?,
        };
        let fail = |reason: String| Err(DecodeError::new(at, reason));
        if entry.offset != expected_offset {
            return fail(format!(
                "filter at offset {}, expected {expected_offset}",
                entry.offset
            ));
        }
        if entry.words == 0
            || !entry.words.is_multiple_of(BLOCK_WORDS)
            || entry.words > MAX_FILTER_WORDS
        {
            return fail(format!(
                "filter of {} words: a positive multiple of {BLOCK_WORDS}, at most \
                 {MAX_FILTER_WORDS}",
                entry.words
            ));
        }
        if entry.hashes == 0 || entry.hashes > MAX_HASHES {
            return fail(format!(
                "filter with {} hashes, not 1 to {MAX_HASHES}",
                entry.hashes
            ));
        }
        if entry.predictions == 0 || entry.oldest_ms > entry.newest_ms {
            return fail(format!(
                "filter of {} predictions from {} to {} ms",
                entry.predictions, entry.oldest_ms, entry.newest_ms
            ));
        }
        Ok(entry)
    }

    /// Rebuilds the filter from its stored bits; the caller has checked their CRC and length.
    pub(crate) fn load(&self, stored: &[u8]) -> RolledUpFilter {
        let words = stored
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        RolledUpFilter {
            bloom: Bloom::from_words(words, self.hashes),
            predictions: self.predictions,
            oldest_ms: self.oldest_ms,
            newest_ms: self.newest_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(i: u64) -> Uuid {
        Uuid::from_u64_pair(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i)
    }

    #[test]
    fn build_records_count_and_time_range() {
        let filter = RolledUpFilter::build((0..100).map(|i| (uuid(i), 1_000 - i as i64))).unwrap();
        assert_eq!(filter.predictions(), 100);
        assert_eq!((filter.oldest_ms(), filter.newest_ms()), (901, 1_000));
        assert!((0..100).all(|i| filter.may_contain(&uuid(i))));
        assert!(RolledUpFilter::build(std::iter::empty()).is_none());
    }

    #[test]
    fn false_positives_stay_near_one_percent() {
        let filter = RolledUpFilter::build((0..20_000).map(|i| (uuid(i), 0))).unwrap();
        let hits = (20_000..120_000)
            .filter(|i| filter.may_contain(&uuid(*i)))
            .count();
        assert!(hits < 2_000, "{hits} of 100000 absent UUIDs matched");
    }

    #[test]
    fn entries_round_trip_and_reject_bad_fields() {
        let filter = RolledUpFilter::build((0..10).map(|i| (uuid(i), i as i64))).unwrap();
        let stored = filter.encode_words();
        let entry = FilterEntry::of(&filter, 24, &stored);
        let mut bytes = Vec::new();
        entry.encode(&mut bytes);
        assert_eq!(bytes.len(), FILTER_ENTRY_LEN);
        let decoded = FilterEntry::decode(&mut Reader::new(&bytes), 24).unwrap();
        assert_eq!(decoded, entry);
        assert_eq!(decoded.load(&stored), filter);
        assert!(FilterEntry::decode(&mut Reader::new(&bytes), 25).is_err());

        // Words not a multiple of a block, no hash, too many hashes, no prediction, and the
        // oldest timestamp after the newest.
        let fields: [(usize, &[u8]); 5] = [
            (8, &[3]),
            (16, &[0]),
            (16, &[8]),
            (20, &[0; 8]),
            (28, &i64::MAX.to_le_bytes()),
        ];
        for (at, value) in fields {
            let mut bad = bytes.clone();
            bad[at..at + value.len()].copy_from_slice(value);
            assert!(
                FilterEntry::decode(&mut Reader::new(&bad), 24).is_err(),
                "byte {at}"
            );
        }
    }

    /// docs/format/rollup.md states that a rolled-up filter is written with 10 bits per
    /// prediction.
    #[test]
    fn filter_has_documented_bits_per_prediction() {
        const DOCUMENTED_BITS: u64 = 10;
        let predictions = 51_200;
        let filter = RolledUpFilter::build((0..predictions).map(|i| (uuid(i), 0))).unwrap();
        let bits = filter.stored_bytes() * 8;
        assert_eq!(bits, predictions * DOCUMENTED_BITS, "{bits} bits");
    }
}
