//! String column codec: a dictionary of the distinct values, then one id per row.
//!
//! # Layout
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 1 to 10 | varint | `count`, the number of distinct values |
//! | then | varies | `count` len-prefixed UTF-8 strings | the dictionary, in order of first appearance |
//! | then | `ceil(n * w / 8)` | bit stream | `n` ids of `w = ceil(log2(count))` bits each, LSB first |
//!
//! Id `i` names dictionary entry `i`. A block of one distinct value has `w = 0`, so its ids
//! take no bytes. Invariants that the decoder checks: `count <= n`, `count > 0` when `n > 0`,
//! every entry is valid UTF-8, every id is below `count`, and the padding bits of the last
//! byte are zero. Entries are distinct when the encoder writes them, but the decoder accepts
//! duplicates.

use std::collections::HashMap;

use super::bits::{BitReader, BitWriter, bit_width, packed_len};
use super::{DecodeError, DecodeResult, Reader, decode_atomically, put_len_prefixed, put_varint};

/// A decoded block that still borrows its strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dictionary<'a> {
    /// Distinct values in order of first appearance.
    pub entries: Vec<&'a str>,
    /// One index into `entries` per row.
    pub ids: Vec<u32>,
}

impl<'a> Dictionary<'a> {
    /// Returns the value of row `row`, or `None` past the last row.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        let id = *self.ids.get(row)?;
        self.entries.get(id as usize).copied()
    }
}

/// Appends the encoding of `values`.
pub fn encode(values: &[&str], out: &mut Vec<u8>) {
    let mut positions: HashMap<&str, u64> = HashMap::new();
    let mut entries: Vec<&str> = Vec::new();
    let ids: Vec<u64> = values
        .iter()
        .map(|&value| {
            *positions.entry(value).or_insert_with(|| {
                entries.push(value);
                entries.len() as u64 - 1
            })
        })
        .collect();
    put_varint(out, entries.len() as u64);
    for entry in &entries {
        put_len_prefixed(out, entry.as_bytes());
    }
    let width = id_width(entries.len());
    let mut writer = BitWriter::new(out);
    for id in ids {
        writer.write(id, width);
    }
    writer.finish();
}

/// Appends exactly `n` strings decoded from `bytes`, which must be one whole encoding.
///
/// NOTE: each row gets its own `String`, so a block of `n` rows that repeat one long entry
/// allocates `n` times its length. [`decode_dictionary`] avoids the copies.
pub fn decode(bytes: &[u8], n: usize, out: &mut Vec<String>) -> DecodeResult<()> {
    let dictionary = decode_dictionary(bytes, n)?;
    decode_atomically(out, |out| {
        super::try_reserve(out, n, 0)?;
        for row in 0..n {
            let value = dictionary.get(row).unwrap_or_default();
            out.push(value.to_owned());
        }
        Ok(())
    })
}

/// Decodes a block of `n` rows without copying its strings.
pub fn decode_dictionary(bytes: &[u8], n: usize) -> DecodeResult<Dictionary<'_>> {
    let mut reader = Reader::new(bytes);
    let entries = read_entries(&mut reader, n)?;
    let width = id_width(entries.len());
    let Some(len) = packed_len(n, width) else {
        return Err(reader.error(format!("{n} ids of {width} bits overflow usize")));
    };
    let base = reader.position();
    let mut bits = BitReader::new(reader.bytes(len)?, base);
    reader.check_end()?;
    let mut ids = Vec::new();
    super::try_reserve(&mut ids, n, base)?;
    for row in 0..n {
        let id = bits.read(width)?;
        if id >= entries.len() as u64 {
            return Err(bits.error(format!(
                "row {row} names dictionary entry {id} but the dictionary has {}",
                entries.len()
            )));
        }
        ids.push(id as u32);
    }
    bits.check_end()?;
    Ok(Dictionary { entries, ids })
}

fn read_entries<'a>(reader: &mut Reader<'a>, n: usize) -> DecodeResult<Vec<&'a str>> {
    let max = n.min(reader.remaining()).min(u32::MAX as usize);
    let count = reader.varint_usize(max, "dictionary size")?;
    if count == 0 && n > 0 {
        return Err(DecodeError::new(
            0,
            format!("empty dictionary for {n} rows"),
        ));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(reader.str_len_prefixed()?);
    }
    Ok(entries)
}

/// Returns the bits of an id for a dictionary of `count` entries: `ceil(log2(count))`.
fn id_width(count: usize) -> u32 {
    bit_width(count.saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{assert_garbage_handled, assert_prefixes_rejected, corrupt};
    use proptest::prelude::*;

    fn encoded(values: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    fn round_trip(values: &[&str]) -> Vec<u8> {
        let bytes = encoded(values);
        let mut decoded = vec!["kept".to_string()];
        decode(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(decoded[0], "kept");
        assert_eq!(&decoded[1..], values);
        bytes
    }

    #[test]
    fn empty_block_is_one_byte() {
        assert_eq!(round_trip(&[]), vec![0]);
    }

    #[test]
    fn single_value_has_no_id_bits() {
        let bytes = round_trip(&["50k-100k"; 1000]);
        assert_eq!(bytes.len(), 1 + 1 + 8);
    }

    #[test]
    fn ids_follow_first_appearance() {
        let values = ["b", "a", "b", "c"];
        let bytes = encoded(&values);
        let dictionary = decode_dictionary(&bytes, 4).unwrap();
        assert_eq!(dictionary.entries, vec!["b", "a", "c"]);
        assert_eq!(dictionary.ids, vec![0, 1, 0, 2]);
        assert_eq!(dictionary.get(3), Some("c"));
        assert_eq!(dictionary.get(4), None);
    }

    #[test]
    fn ids_use_log2_bits() {
        assert_eq!(id_width(1), 0);
        assert_eq!(id_width(2), 1);
        assert_eq!(id_width(3), 2);
        assert_eq!(id_width(4), 2);
        assert_eq!(id_width(5), 3);
        assert_eq!(id_width(65_536), 16);
    }

    #[test]
    fn empty_long_and_unicode_strings_round_trip() {
        let long = "x".repeat(100_000);
        round_trip(&[
            "",
            &long,
            "",
            "Gr\u{fc}\u{df}e",
            "\u{1f600}\u{200d}",
            "\0",
            &long,
        ]);
    }

    #[test]
    fn many_distinct_values_round_trip() {
        let owned: Vec<String> = (0..3000)
            .map(|i| format!("category-{}", i % 1500))
            .collect();
        let values: Vec<&str> = owned.iter().map(String::as_str).collect();
        round_trip(&values);
    }

    #[test]
    fn id_past_dictionary_is_rejected() {
        let mut bytes = encoded(&["a", "b", "c"]);
        let last = bytes.len() - 1;
        bytes[last] = 0b11_11_00;
        let error = decode(&bytes, 3, &mut Vec::new()).unwrap_err();
        assert!(error.reason.contains("dictionary entry 3"), "{error}");
    }

    #[test]
    fn dictionary_larger_than_rows_is_rejected() {
        let bytes = encoded(&["a", "b"]);
        assert!(decode(&bytes, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn empty_dictionary_for_rows_is_rejected() {
        assert!(decode(&[0], 5, &mut Vec::new()).is_err());
    }

    #[test]
    fn invalid_utf8_entry_is_rejected() {
        assert!(decode(&[1, 1, 0xff], 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn huge_row_count_is_rejected() {
        let bytes = encoded(&["a"]);
        assert!(decode(&bytes, usize::MAX, &mut Vec::new()).is_err());
    }

    #[test]
    fn prefixes_are_rejected() {
        let blocks: [&[&str]; 4] = [
            &[],
            &["one"],
            &["a", "", "b", "a", "\u{e9}t\u{e9}"],
            &[""; 9],
        ];
        for values in blocks {
            let bytes = encoded(values);
            assert_prefixes_rejected(&bytes, |prefix, out| decode(prefix, values.len(), out));
        }
    }

    proptest! {
        #[test]
        fn any_strings_round_trip(values in proptest::collection::vec(".{0,12}", 0..100)) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            round_trip(&values);
        }

        #[test]
        fn categories_round_trip(ids in proptest::collection::vec(0usize..5, 0..200)) {
            let names = ["low", "medium", "high", "", "\u{4e2d}"];
            let values: Vec<&str> = ids.iter().map(|&i| names[i]).collect();
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
            values in proptest::collection::vec("[a-c]{0,3}", 0..100),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        ) {
            let mut bytes = encoded(&values.iter().map(String::as_str).collect::<Vec<_>>());
            corrupt(&mut bytes, &flips);
            assert_garbage_handled(&bytes, values.len(), |bytes, out| decode(bytes, values.len(), out));
        }
    }
}
