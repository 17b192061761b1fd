//! The body of one rollup in a rollup file: its counts and summaries. The model and interval
//! are in the file's directory. `docs/format/rollup.md` describes the layout.

use std::collections::BTreeMap;

use super::sketch::Sketch;
use super::summary::{CategoryCounts, MAX_CATEGORIES, NumericSummary, Summary};
use super::{LabelGroup, LabelJoin, Rollup};
use crate::codec::{DecodeError, DecodeResult, Reader, put_len_prefixed, put_varint};
use crate::value::{MAX_METRIC_NAME_LEN, MAX_STRING_LEN};

/// Flag of a summary that has a numeric part.
const SUMMARY_NUMERIC: u8 = 1;
/// Flag of a summary that has a categorical part.
const SUMMARY_CATEGORICAL: u8 = 2;
/// Every defined summary flag.
const SUMMARY_FLAGS: u8 = SUMMARY_NUMERIC | SUMMARY_CATEGORICAL;

/// The counts and maps of a rollup, without model and interval.
pub(crate) struct Body {
    pub predictions: u64,
    pub labeled: u64,
    pub metrics: BTreeMap<String, Summary>,
    pub delayed: BTreeMap<String, Summary>,
    pub joined: BTreeMap<String, LabelJoin>,
}

/// Appends the body of `rollup` to `out`.
pub(crate) fn encode_body(rollup: &Rollup, out: &mut Vec<u8>) {
    put_varint(out, rollup.predictions);
    put_varint(out, rollup.labeled);
    put_map(out, &rollup.metrics, put_summary);
    put_map(out, &rollup.delayed, put_summary);
    put_map(out, &rollup.joined, put_label_join);
}

/// Decodes a body that fills `bytes` entirely.
pub(crate) fn decode_body(bytes: &[u8]) -> DecodeResult<Body> {
    let mut reader = Reader::new(bytes);
    let body = Body {
        predictions: reader.varint()?,
        labeled: reader.varint()?,
        metrics: read_map(&mut reader, usize::MAX, read_summary)?,
        delayed: read_map(&mut reader, usize::MAX, read_summary)?,
        joined: read_map(&mut reader, usize::MAX, read_label_join)?,
    };
    reader.check_end()?;
    Ok(body)
}

fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

fn put_map<V>(out: &mut Vec<u8>, map: &BTreeMap<String, V>, put: fn(&mut Vec<u8>, &V)) {
    put_varint(out, map.len() as u64);
    for (key, value) in map {
        put_len_prefixed(out, key.as_bytes());
        put(out, value);
    }
}

fn put_summary(out: &mut Vec<u8>, summary: &Summary) {
    let mut flags = 0;
    if summary.numeric.is_some() {
        flags |= SUMMARY_NUMERIC;
    }
    if summary.categorical.is_some() {
        flags |= SUMMARY_CATEGORICAL;
    }
    out.push(flags);
    if let Some(numeric) = &summary.numeric {
        put_numeric(out, numeric);
    }
    if let Some(categorical) = &summary.categorical {
        put_map(out, &categorical.counts, |out, &count| {
            put_varint(out, count)
        });
        put_varint(out, categorical.other);
    }
    put_varint(out, summary.bytes);
}

fn put_numeric(out: &mut Vec<u8>, numeric: &NumericSummary) {
    put_varint(out, numeric.count);
    put_f64(out, numeric.sum);
    put_f64(out, numeric.sum_sq);
    put_f64(out, numeric.min);
    put_f64(out, numeric.max);
    put_varint(out, numeric.non_finite);
    let sketch = &numeric.sketch;
    put_f64(out, sketch.alpha());
    put_varint(out, sketch.zero_count());
    put_varint(out, sketch.non_finite());
    put_store(out, sketch.negative_store());
    put_store(out, sketch.positive_store());
}

/// Writes the bucket count, the first index as a zigzag varint, then the distance of each
/// further index to the previous one, each index followed by its count.
fn put_store(out: &mut Vec<u8>, store: &BTreeMap<i32, u64>) {
    put_varint(out, store.len() as u64);
    let mut previous: Option<i32> = None;
    for (&index, &count) in store {
        match previous {
            None => crate::codec::put_varint_i64(out, i64::from(index)),
            Some(previous) => put_varint(out, (i64::from(index) - i64::from(previous)) as u64),
        }
        put_varint(out, count);
        previous = Some(index);
    }
}

fn put_label_join(out: &mut Vec<u8>, join: &LabelJoin) {
    put_map(out, &join.values, put_label_group);
    put_label_group(out, &join.other);
}

fn put_label_group(out: &mut Vec<u8>, group: &LabelGroup) {
    put_varint(out, group.predictions);
    put_map(out, &group.metrics, put_numeric);
}

/// Reads a map of at most `max_len` entries whose keys are strictly ascending strings.
fn read_map<V>(
    reader: &mut Reader<'_>,
    max_len: usize,
    read: fn(&mut Reader<'_>) -> DecodeResult<V>,
) -> DecodeResult<BTreeMap<String, V>> {
    // Every entry takes at least one byte, so the count is bounded by the bytes left.
    let len = reader.varint_usize(reader.remaining().min(max_len), "map entry count")?;
    let mut map = BTreeMap::new();
    let mut previous: Option<String> = None;
    for _ in 0..len {
        let key = read_key(reader)?;
        if previous.as_ref().is_some_and(|previous| *previous >= key) {
            return Err(reader.error(format!("map key {key:?} is not in ascending order")));
        }
        let value = read(reader)?;
        previous = Some(key.clone());
        map.insert(key, value);
    }
    Ok(map)
}

fn read_key(reader: &mut Reader<'_>) -> DecodeResult<String> {
    let key = reader.str_len_prefixed()?;
    let max = MAX_METRIC_NAME_LEN.max(MAX_STRING_LEN);
    if key.len() > max {
        return Err(reader.error(format!("key of {} bytes exceeds {max}", key.len())));
    }
    Ok(key.to_owned())
}

fn read_f64(reader: &mut Reader<'_>) -> DecodeResult<f64> {
    reader.u64_le().map(f64::from_bits)
}

fn read_summary(reader: &mut Reader<'_>) -> DecodeResult<Summary> {
    let flags = reader.u8()?;
    if flags & !SUMMARY_FLAGS != 0 {
        return Err(reader.error(format!("unknown summary flags {flags:#04x}")));
    }
    let numeric = if flags & SUMMARY_NUMERIC != 0 {
        Some(read_numeric(reader)?)
    } else {
        None
    };
    let categorical = if flags & SUMMARY_CATEGORICAL != 0 {
        let counts = read_map(reader, MAX_CATEGORIES, |reader| reader.varint())?;
        let other = reader.varint()?;
        Some(CategoryCounts { counts, other })
    } else {
        None
    };
    let bytes = reader.varint()?;
    Ok(Summary {
        numeric,
        categorical,
        bytes,
    })
}

fn read_numeric(reader: &mut Reader<'_>) -> DecodeResult<NumericSummary> {
    let start = reader.position();
    let count = reader.varint()?;
    let sum = read_f64(reader)?;
    let sum_sq = read_f64(reader)?;
    let min = read_f64(reader)?;
    let max = read_f64(reader)?;
    let non_finite = reader.varint()?;

    let alpha = read_f64(reader)?;
    let zero = reader.varint()?;
    let sketch_non_finite = reader.varint()?;
    let (negative, negative_count) = read_store(reader)?;
    let (positive, positive_count) = read_store(reader)?;

    let bucketed = negative_count
        .checked_add(positive_count)
        .and_then(|sum| sum.checked_add(zero));
    if bucketed != Some(count) || sketch_non_finite != non_finite {
        return Err(DecodeError::new(
            start,
            format!(
                "numeric summary counts {count} finite and {non_finite} non-finite values, but \
                 its sketch holds {bucketed:?} and {sketch_non_finite}"
            ),
        ));
    }
    let sketch = Sketch::from_parts(alpha, negative, zero, positive, non_finite)
        .map_err(|error| DecodeError::new(start, error.to_string()))?;

    Ok(NumericSummary {
        count,
        sum,
        sum_sq,
        min,
        max,
        non_finite,
        sketch,
    })
}

/// Reads a store written by `put_store` and returns it with the sum of its counts.
fn read_store(reader: &mut Reader<'_>) -> DecodeResult<(BTreeMap<i32, u64>, u64)> {
    let len = reader.varint_usize(reader.remaining(), "bucket count")?;
    let mut store = BTreeMap::new();
    let mut index: i64 = 0;
    let mut total = 0u64;
    for position in 0..len {
        index = if position == 0 {
            reader.varint_i64()?
        } else {
            let delta = reader.varint()?;
            let next = i64::try_from(delta).ok().and_then(|d| index.checked_add(d));
            match next {
                Some(next) if delta > 0 => next,
                _ => return Err(reader.error(format!("bucket index step {delta} is invalid"))),
            }
        };
        let key = i32::try_from(index)
            .map_err(|_| reader.error(format!("bucket index {index} exceeds the i32 range")))?;
        let count = reader.varint()?;
        if count == 0 {
            return Err(reader.error(format!("bucket {index} is stored with a count of 0")));
        }
        total = total
            .checked_add(count)
            .ok_or_else(|| reader.error("bucket counts overflow u64"))?;
        store.insert(key, count);
    }
    Ok((store, total))
}

fn read_label_join(reader: &mut Reader<'_>) -> DecodeResult<LabelJoin> {
    let values = read_map(reader, MAX_CATEGORIES, read_label_group)?;
    let other = read_label_group(reader)?;
    Ok(LabelJoin { values, other })
}

fn read_label_group(reader: &mut Reader<'_>) -> DecodeResult<LabelGroup> {
    let predictions = reader.varint()?;
    let metrics = read_map(reader, usize::MAX, read_numeric)?;
    Ok(LabelGroup {
        predictions,
        metrics,
    })
}
