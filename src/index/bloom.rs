//! Blocked bloom filter over prediction UUIDs, stored after the fences of an index run.
//!
//! The filter is cut into blocks of 512 bits, one cache line. The first hash picks a block by
//! a multiply-shift, and the second hash gives the `hashes` bit positions inside it, 9 bits
//! each. A query therefore touches one cache line per run, where a plain bloom filter touches
//! up to `hashes` of them. That matters because every new prediction's duplicate check
//! queries every run. Both hashes
//! mix all 16 UUID bytes through the SplitMix64 finalizer, so UUIDs that are not random
//! (sequential ones, say) still spread over the blocks.

use uuid::Uuid;

/// Bits per entry of a new filter; with 7 hashes in 512-bit blocks the false-positive rate is
/// about 0.1 %. A false positive sends a new prediction's duplicate check into the run's pages
/// and the segments' UUID columns, which took 5 to 30 µs on the machine of docs/benchmarks.md.
/// At 10 bits per entry (about 1 %), these checks set the p99 latency of a single
/// `track_metrics` call. The extra 6 bits cost 0.75 bytes per prediction on disk and in memory.
pub(crate) const BITS_PER_ENTRY: u64 = 16;
/// Hash count of a new filter, the optimum `ln 2 * bits per entry` rounded.
pub(crate) const HASHES: u32 = 7;
/// Largest hash count accepted when reading a file: 7 positions of 9 bits use 63 bits of the
/// second hash.
pub(crate) const MAX_HASHES: u32 = 7;
/// Bits of one block; the filter's size is a multiple of it.
pub(crate) const BLOCK_BITS: u64 = 512;
/// Bits of the second hash that give one position inside a block.
const POSITION_BITS: u32 = 9;
const WORD_BITS: u64 = 64;
const BLOCK_WORDS: u64 = BLOCK_BITS / WORD_BITS;
const SEED_1: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_2: u64 = 0xd1b5_4a32_d192_ed03;

/// SplitMix64 finalizer: a bijection on u64 whose output bits each depend on every input bit.
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The two hashes of a UUID, computed once for the filters of all runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UuidHash(u64, u64);

impl UuidHash {
    pub(crate) fn of(uuid: &Uuid) -> UuidHash {
        let (h1, h2) = hash_pair(uuid);
        UuidHash(h1, h2)
    }
}

/// Computes the two hashes of a UUID. The second is odd, so its multiples cycle through all
/// residues.
fn hash_pair(uuid: &Uuid) -> (u64, u64) {
    let value = uuid.as_u128();
    let high = (value >> 64) as u64;
    let low = value as u64;
    let h1 = mix64(high ^ mix64(low ^ SEED_1));
    let h2 = mix64(low ^ mix64(high ^ SEED_2)) | 1;
    (h1, h2)
}

/// Maps a hash to a bit index below `bits` without a division.
fn reduce(hash: u64, bits: u64) -> u64 {
    ((u128::from(hash) * u128::from(bits)) >> 64) as u64
}

/// A bloom filter of `words.len() * 64` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
    hashes: u32,
}

impl Bloom {
    /// Creates an empty filter sized for `entries` entries at `BITS_PER_ENTRY`, at least one
    /// block.
    pub(crate) fn with_capacity(entries: u64) -> Bloom {
        Bloom::with_bits_per_entry(entries, BITS_PER_ENTRY)
    }

    /// Creates an empty filter of `bits_per_entry` bits for each of `entries` entries, at least
    /// one block.
    pub(crate) fn with_bits_per_entry(entries: u64, bits_per_entry: u64) -> Bloom {
        let bits = entries.saturating_mul(bits_per_entry).max(BLOCK_BITS);
        let words = (bits.div_ceil(BLOCK_BITS) * BLOCK_WORDS) as usize;
        Bloom {
            words: vec![0; words],
            hashes: HASHES,
        }
    }

    /// Rebuilds a filter from its stored words; the caller checks the word count and hashes.
    pub(crate) fn from_words(words: Vec<u64>, hashes: u32) -> Bloom {
        Bloom { words, hashes }
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn hashes(&self) -> u32 {
        self.hashes
    }

    pub(crate) fn bits(&self) -> u64 {
        self.words.len() as u64 * WORD_BITS
    }

    /// Returns the first word of the block of `h1` and the bit positions inside the block.
    fn positions(&self, uuid: &Uuid) -> (usize, impl Iterator<Item = u64> + use<>) {
        self.positions_of(UuidHash::of(uuid))
    }

    fn positions_of(&self, hash: UuidHash) -> (usize, impl Iterator<Item = u64> + use<>) {
        let UuidHash(h1, h2) = hash;
        let blocks = self.bits() / BLOCK_BITS;
        let first_word = (reduce(h1, blocks) * BLOCK_WORDS) as usize;
        let mask = (1u64 << POSITION_BITS) - 1;
        let positions = (0..self.hashes).map(move |i| (h2 >> (i * POSITION_BITS)) & mask);
        (first_word, positions)
    }

    pub(crate) fn insert(&mut self, uuid: &Uuid) {
        let (first_word, positions) = self.positions(uuid);
        for bit in positions {
            let at = first_word + (bit / WORD_BITS) as usize;
            if let Some(word) = self.words.get_mut(at) {
                *word |= 1 << (bit % WORD_BITS);
            }
        }
    }

    /// Returns false when `uuid` was never inserted; true means it probably was.
    pub(crate) fn may_contain(&self, uuid: &Uuid) -> bool {
        self.may_contain_hash(UuidHash::of(uuid))
    }

    /// Returns false when the UUID of `hash` was never inserted, as `may_contain` does.
    pub(crate) fn may_contain_hash(&self, hash: UuidHash) -> bool {
        let (first_word, mut positions) = self.positions_of(hash);
        let Some(block) = self
            .words
            .get(first_word..first_word + BLOCK_WORDS as usize)
        else {
            return false;
        };
        positions.all(|bit| {
            block
                .get((bit / WORD_BITS) as usize)
                .is_some_and(|word| word & (1 << (bit % WORD_BITS)) != 0)
        })
    }

    /// Heap bytes held by the filter.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.words.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_uuids_are_found() {
        let mut bloom = Bloom::with_capacity(1000);
        let uuids: Vec<Uuid> = (0..1000u128).map(|i| Uuid::from_u128(i * 7919)).collect();
        for uuid in &uuids {
            bloom.insert(uuid);
        }
        for uuid in &uuids {
            assert!(bloom.may_contain(uuid), "{uuid}");
        }
    }

    #[test]
    fn sequential_uuids_have_low_false_positives() {
        let mut bloom = Bloom::with_capacity(10_000);
        for i in 0..10_000u128 {
            bloom.insert(&Uuid::from_u128(i));
        }
        let false_positives = (10_000..110_000u128)
            .filter(|i| bloom.may_contain(&Uuid::from_u128(*i)))
            .count();
        // About 0.1 % expected: 100 of 100,000; 0.3 % leaves room for chance.
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 100000"
        );
    }

    #[test]
    fn random_uuids_have_low_false_positives() {
        let mut bloom = Bloom::with_capacity(50_000);
        let uuid = |i: u64| Uuid::from_u64_pair(mix64(i ^ SEED_1), mix64(i ^ SEED_2));
        for i in 0..50_000 {
            bloom.insert(&uuid(i));
        }
        let false_positives = (50_000..250_000)
            .filter(|i| bloom.may_contain(&uuid(*i)))
            .count();
        // About 0.1 % expected: 200 of 200,000; 0.25 % leaves room for chance.
        assert!(
            false_positives < 500,
            "{false_positives} false positives in 200000"
        );
    }

    #[test]
    fn empty_filter_contains_nothing() {
        let bloom = Bloom::with_capacity(0);
        assert_eq!(bloom.bits(), 512);
        assert!(!bloom.may_contain(&Uuid::nil()));
    }

    #[test]
    fn capacity_gives_sixteen_bits_per_entry() {
        let bloom = Bloom::with_capacity(1000);
        // 16,000 bits rounded up to whole 512-bit blocks.
        assert_eq!(bloom.bits(), 16_384);
        assert_eq!(bloom.hashes(), HASHES);
    }
}
