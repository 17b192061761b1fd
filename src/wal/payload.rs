//! Encoding of a frame payload: one batch of `LogRecord`s.
//!
//! docs/format/wal.md documents the layout. Lengths and counts are unsigned LEB128 varints,
//! integers and floats are 8 bytes little-endian, and a float is stored as its raw bits so that
//! NaN payloads and -0.0 round-trip.

mod columns;
mod delayed_columns;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{AggregateRecord, DelayedRecord, LogRecord, PredictionRecord};
use crate::value::{
    MAX_BATCH_LEN, MAX_BYTES_LEN, MAX_METRIC_NAME_LEN, MAX_METRICS_PER_RECORD, MAX_MODEL_LEN,
    MAX_STRING_LEN, Metric, Metrics, Value,
};

const TAG_PREDICTION: u8 = 1;
const TAG_DELAYED: u8 = 2;
const TAG_AGGREGATE: u8 = 3;
/// A columnar batch of predictions, written by format version 2 and later.
const TAG_PREDICTION_COLUMNS: u8 = 4;
/// A columnar batch of delayed metrics, written by format version 3 and later.
const TAG_DELAYED_COLUMNS: u8 = 5;

const VALUE_F64: u8 = 1;
const VALUE_I64: u8 = 2;
const VALUE_BOOL: u8 = 3;
const VALUE_STR: u8 = 4;
const VALUE_BYTES: u8 = 5;

/// Minimum encoded size of any record, used to bound a record count before allocating: an
/// aggregate record with an empty model and no metrics (tag, seq, model length, start, end,
/// metric count). A delayed record needs at least 27 bytes and a prediction 28.
const MIN_RECORD_LEN: usize = 1 + 1 + 1 + 8 + 8 + 1;
/// Minimum encoded size of a metric, used to bound a metric count: name length, value tag and
/// one value byte (a bool with an empty name, which the store rejects but the format allows).
const MIN_METRIC_LEN: usize = 3;
/// Longest LEB128 encoding of a u64.
const MAX_VARINT_LEN: usize = 10;

/// Appends the payload encoding of `records` to `out`. It checks no limit, so `decode_records`
/// rejects a payload with a name or value longer than the limits in `crate::value`.
pub fn encode_records(records: &[LogRecord], out: &mut Vec<u8>) {
    put_varint(out, records.len() as u64);
    for record in records {
        // Without checks, `encode_record` returns no error.
        let _ = encode_record::<false>(record, out);
    }
}

/// Appends the payload encoding of `records` to `out` as `encode_records` does, checking the
/// limits that `decode_records` enforces on the way, so that a batch the log accepts can
/// always be replayed. On error, `out` contains a part of the payload.
pub(crate) fn encode_checked_records(records: &[LogRecord], out: &mut Vec<u8>) -> Result<()> {
    if records.len() > MAX_BATCH_LEN {
        return Err(Error::invalid(
            "batch",
            format!("{} records", records.len()),
            format!("a batch has at most {MAX_BATCH_LEN} records: split it"),
        ));
    }
    put_varint(out, records.len() as u64);
    for record in records {
        encode_record::<true>(record, out)?;
    }
    Ok(())
}

/// Decodes a payload written by `encode_records`. Every length is checked against the bytes
/// left and against the limits in `crate::value`. The error names what was wrong and where.
pub fn decode_records(payload: &[u8]) -> std::result::Result<Vec<LogRecord>, String> {
    let mut reader = PayloadReader {
        bytes: payload,
        position: 0,
    };
    let count = reader.count("record count", MAX_BATCH_LEN, MIN_RECORD_LEN)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(reader.record()?);
    }
    if reader.position != payload.len() {
        return Err(format!(
            "{} bytes follow the last record at payload byte {}",
            payload.len() - reader.position,
            reader.position
        ));
    }
    Ok(records)
}

/// Checks one length. It runs for every metric of every record, so the comparison is inlined
/// and the error is built out of line.
#[inline]
fn check_len(what: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(too_long(what, len, max));
    }
    Ok(())
}

#[cold]
fn too_long(what: &'static str, len: usize, max: usize) -> Error {
    Error::invalid(
        what,
        len.to_string(),
        format!("the write-ahead log stores at most {max}"),
    )
}

/// Appends one record. With `CHECK`, a name or value over its limit returns an error, and
/// without it the checks are compiled out.
fn encode_record<const CHECK: bool>(record: &LogRecord, out: &mut Vec<u8>) -> Result<()> {
    match record {
        LogRecord::Prediction(r) => {
            if CHECK {
                check_len("model", r.model.len(), MAX_MODEL_LEN)?;
            }
            out.push(TAG_PREDICTION);
            put_varint(out, r.seq);
            put_bytes(out, r.model.as_bytes());
            out.extend_from_slice(r.uuid.as_bytes());
            out.extend_from_slice(&r.timestamp_ms.to_le_bytes());
            put_metrics::<CHECK>(out, &r.metrics)
        }
        LogRecord::Delayed(r) => {
            out.push(TAG_DELAYED);
            put_varint(out, r.seq);
            out.extend_from_slice(r.uuid.as_bytes());
            out.extend_from_slice(&r.timestamp_ms.to_le_bytes());
            put_metrics::<CHECK>(out, &r.metrics)
        }
        LogRecord::Aggregate(r) => {
            if CHECK {
                check_len("model", r.model.len(), MAX_MODEL_LEN)?;
            }
            out.push(TAG_AGGREGATE);
            put_varint(out, r.seq);
            put_bytes(out, r.model.as_bytes());
            out.extend_from_slice(&r.start_ms.to_le_bytes());
            out.extend_from_slice(&r.end_ms.to_le_bytes());
            put_metrics::<CHECK>(out, &r.metrics)
        }
        LogRecord::PredictionColumns(b) => columns::put_columns::<CHECK>(out, b),
        LogRecord::DelayedColumns(b) => delayed_columns::put_delayed_columns::<CHECK>(out, b),
    }
}

fn put_metrics<const CHECK: bool>(out: &mut Vec<u8>, metrics: &Metrics) -> Result<()> {
    if CHECK {
        check_len("metric count", metrics.len(), MAX_METRICS_PER_RECORD)?;
    }
    put_varint(out, metrics.len() as u64);
    for metric in metrics {
        if CHECK {
            check_len("metric name", metric.name.len(), MAX_METRIC_NAME_LEN)?;
        }
        put_bytes(out, metric.name.as_bytes());
        match &metric.value {
            Value::F64(v) => {
                out.push(VALUE_F64);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            Value::I64(v) => {
                out.push(VALUE_I64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Bool(v) => {
                out.extend_from_slice(&[VALUE_BOOL, u8::from(*v)]);
            }
            Value::Str(s) => {
                if CHECK {
                    check_len("string value", s.len(), MAX_STRING_LEN)?;
                }
                out.push(VALUE_STR);
                put_bytes(out, s.as_bytes());
            }
            Value::Bytes(b) => {
                if CHECK {
                    check_len("bytes value", b.len(), MAX_BYTES_LEN)?;
                }
                out.push(VALUE_BYTES);
                put_bytes(out, b);
            }
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Cursor over a payload. Every method fails with a message instead of reading past the end.
struct PayloadReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

type DecodeResult<T> = std::result::Result<T, String>;

impl<'a> PayloadReader<'a> {
    fn record(&mut self) -> DecodeResult<LogRecord> {
        let at = self.position;
        match self.byte("record tag")? {
            TAG_PREDICTION => Ok(LogRecord::Prediction(PredictionRecord {
                seq: self.varint("seq")?,
                model: self.string("model", MAX_MODEL_LEN)?,
                uuid: self.uuid()?,
                timestamp_ms: self.fixed_i64("timestamp")?,
                metrics: self.metrics()?,
            })),
            TAG_DELAYED => Ok(LogRecord::Delayed(DelayedRecord {
                seq: self.varint("seq")?,
                uuid: self.uuid()?,
                timestamp_ms: self.fixed_i64("timestamp")?,
                metrics: self.metrics()?,
            })),
            TAG_AGGREGATE => Ok(LogRecord::Aggregate(AggregateRecord {
                seq: self.varint("seq")?,
                model: self.string("model", MAX_MODEL_LEN)?,
                start_ms: self.fixed_i64("window start")?,
                end_ms: self.fixed_i64("window end")?,
                metrics: self.metrics()?,
            })),
            TAG_PREDICTION_COLUMNS => Ok(LogRecord::PredictionColumns(self.columns()?)),
            TAG_DELAYED_COLUMNS => Ok(LogRecord::DelayedColumns(self.delayed_columns()?)),
            tag => Err(format!("unknown record tag {tag} at payload byte {at}")),
        }
    }

    fn metrics(&mut self) -> DecodeResult<Metrics> {
        let count = self.count("metric count", MAX_METRICS_PER_RECORD, MIN_METRIC_LEN)?;
        let mut metrics = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.string("metric name", MAX_METRIC_NAME_LEN)?;
            let value = self.value()?;
            metrics.push(Metric { name, value });
        }
        Ok(Metrics(metrics))
    }

    fn value(&mut self) -> DecodeResult<Value> {
        let at = self.position;
        match self.byte("value tag")? {
            VALUE_F64 => Ok(Value::F64(f64::from_bits(self.fixed_u64("f64 value")?))),
            VALUE_I64 => Ok(Value::I64(self.fixed_i64("i64 value")?)),
            VALUE_BOOL => match self.byte("bool value")? {
                0 => Ok(Value::Bool(false)),
                1 => Ok(Value::Bool(true)),
                other => Err(format!(
                    "bool value {other} at payload byte {at} is not 0 or 1"
                )),
            },
            VALUE_STR => Ok(Value::Str(self.string("string value", MAX_STRING_LEN)?)),
            VALUE_BYTES => Ok(Value::Bytes(
                self.length_prefixed("bytes value", MAX_BYTES_LEN)?.to_vec(),
            )),
            tag => Err(format!("unknown value tag {tag} at payload byte {at}")),
        }
    }

    /// Reads a count and checks it against `max` and against the bytes left, given that each
    /// item takes at least `min_item_len` bytes.
    fn count(&mut self, what: &str, max: usize, min_item_len: usize) -> DecodeResult<usize> {
        let at = self.position;
        let count = self.varint(what)?;
        let left = self.bytes.len() - self.position;
        let fits = usize::try_from(count)
            .ok()
            .filter(|&n| n <= max && n <= left / min_item_len);
        fits.ok_or_else(|| {
            format!(
                "{what} {count} at payload byte {at} is over the limit of {max} \
                 or needs more than the {left} bytes left"
            )
        })
    }

    fn string(&mut self, what: &str, max_len: usize) -> DecodeResult<String> {
        let at = self.position;
        let bytes = self.length_prefixed(what, max_len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("{what} at payload byte {at} is not valid UTF-8"))
    }

    fn length_prefixed(&mut self, what: &str, max_len: usize) -> DecodeResult<&'a [u8]> {
        let at = self.position;
        let len = self.varint(what)?;
        match usize::try_from(len).ok().filter(|&n| n <= max_len) {
            Some(len) => self.take(len, what),
            None => Err(format!(
                "{what} length {len} at payload byte {at} is over the limit of {max_len}"
            )),
        }
    }

    fn uuid(&mut self) -> DecodeResult<Uuid> {
        let bytes = self.take(16, "uuid")?;
        Uuid::from_slice(bytes).map_err(|e| format!("invalid uuid: {e}"))
    }

    fn fixed_i64(&mut self, what: &str) -> DecodeResult<i64> {
        Ok(self.fixed_u64(what)? as i64)
    }

    fn fixed_u64(&mut self, what: &str) -> DecodeResult<u64> {
        let bytes = self.take(8, what)?;
        let array: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("{what} is not 8 bytes"))?;
        Ok(u64::from_le_bytes(array))
    }

    fn byte(&mut self, what: &str) -> DecodeResult<u8> {
        let bytes = self.take(1, what)?;
        bytes
            .first()
            .copied()
            .ok_or_else(|| format!("{what} is missing"))
    }

    fn varint(&mut self, what: &str) -> DecodeResult<u64> {
        let at = self.position;
        let mut value = 0u64;
        for index in 0..MAX_VARINT_LEN {
            let byte = self.byte(what)?;
            let bits = u64::from(byte & 0x7f);
            if index == MAX_VARINT_LEN - 1 && bits > 1 {
                break;
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("{what} at payload byte {at} is not a valid varint"))
    }

    fn take(&mut self, len: usize, what: &str) -> DecodeResult<&'a [u8]> {
        let end = self.position.saturating_add(len);
        let Some(bytes) = self.bytes.get(self.position..end) else {
            return Err(format!(
                "{what} at payload byte {} needs {len} bytes, {} are left",
                self.position,
                self.bytes.len() - self.position
            ));
        };
        self.position = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn all_values() -> Metrics {
        Metrics::new()
            .with("nan", f64::from_bits(0x7ff8_0000_dead_beef))
            .with("negative_zero", -0.0)
            .with("infinity", f64::INFINITY)
            .with("negative_infinity", f64::NEG_INFINITY)
            .with("smallest_subnormal", f64::from_bits(1))
            .with("i64_min", i64::MIN)
            .with("i64_max", i64::MAX)
            .with("true", true)
            .with("false", false)
            .with("empty_string", "")
            .with("unicode_ünïcødé_名前", "価格帯 🚗 ↔ Ω")
            .with("bytes", vec![0u8, 255, 7])
            .with("empty_bytes", Vec::<u8>::new())
    }

    fn every_kind() -> Vec<LogRecord> {
        vec![
            LogRecord::Prediction(PredictionRecord {
                seq: 0,
                model: "modèle-🚗".into(),
                uuid: uuid(1),
                timestamp_ms: i64::MIN,
                metrics: all_values(),
            }),
            LogRecord::Prediction(PredictionRecord {
                seq: u64::MAX,
                model: "m".into(),
                uuid: uuid(2),
                timestamp_ms: i64::MAX,
                metrics: Metrics::new(),
            }),
            LogRecord::Delayed(DelayedRecord {
                seq: 300,
                uuid: uuid(3),
                timestamp_ms: -1,
                metrics: all_values(),
            }),
            LogRecord::Delayed(DelayedRecord {
                seq: 301,
                uuid: Uuid::nil(),
                timestamp_ms: 0,
                metrics: Metrics::new(),
            }),
            LogRecord::Aggregate(AggregateRecord {
                seq: 1 << 40,
                model: "fraud".into(),
                start_ms: i64::MIN,
                end_ms: i64::MAX,
                metrics: all_values(),
            }),
        ]
    }

    fn encode(records: &[LogRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_records(records, &mut out);
        out
    }

    #[test]
    fn every_kind_and_value_round_trips() {
        let records = every_kind();
        let decoded = decode_records(&encode(&records)).unwrap();
        assert_eq!(decoded, records);
    }

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let records = every_kind();
        let decoded = decode_records(&encode(&records)).unwrap();
        let LogRecord::Prediction(p) = &decoded[0] else {
            panic!("first record is not a prediction");
        };
        let nan = p.metrics.get("nan").unwrap();
        assert!(matches!(nan, Value::F64(v) if v.to_bits() == 0x7ff8_0000_dead_beef));
        let zero = p.metrics.get("negative_zero").unwrap();
        assert!(matches!(zero, Value::F64(v) if v.to_bits() == (-0.0f64).to_bits()));
    }

    #[test]
    fn empty_batch_round_trips() {
        let decoded = decode_records(&encode(&[])).unwrap();
        assert!(decoded.is_empty());
    }

    #[test]
    fn varint_round_trips_at_boundaries() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = PayloadReader {
                bytes: &out,
                position: 0,
            };
            assert_eq!(reader.varint("value"), Ok(value));
            assert_eq!(reader.position, out.len());
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bytes = [0xff; 11];
        let mut reader = PayloadReader {
            bytes: &bytes,
            position: 0,
        };
        assert!(reader.varint("value").is_err());
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode(&every_kind());
        for len in 0..bytes.len() {
            assert!(
                decode_records(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&every_kind());
        bytes.push(0);
        assert!(decode_records(&bytes).is_err());
    }

    #[test]
    fn huge_record_count_is_rejected() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, u64::MAX);
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("record count"), "{error}");
    }

    #[test]
    fn string_over_limit_is_rejected() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 1);
        bytes.push(TAG_AGGREGATE);
        put_varint(&mut bytes, 1);
        put_bytes(&mut bytes, &vec![b'm'; MAX_MODEL_LEN + 1]);
        bytes.extend_from_slice(&[0; 17]);
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("model length"), "{error}");
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut records = every_kind();
        records.truncate(1);
        let mut bytes = encode(&records);
        let model_at = bytes.windows(2).position(|w| w == "mo".as_bytes()).unwrap();
        bytes[model_at] = 0xff;
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("UTF-8"), "{error}");
    }

    #[test]
    fn bool_other_than_zero_or_one_is_rejected() {
        let record = LogRecord::Delayed(DelayedRecord {
            seq: 1,
            uuid: uuid(1),
            timestamp_ms: 1,
            metrics: Metrics::new().with("flag", true),
        });
        let mut bytes = encode(&[record]);
        *bytes.last_mut().unwrap() = 2;
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("bool"), "{error}");
    }

    #[test]
    fn unknown_record_tag_is_rejected() {
        let mut bytes = vec![1, 9];
        bytes.extend_from_slice(&[0; MIN_RECORD_LEN]);
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("record tag 9"), "{error}");
    }

    #[test]
    fn checked_encoding_rejects_long_model() {
        let record = LogRecord::Aggregate(AggregateRecord {
            seq: 1,
            model: "m".repeat(MAX_MODEL_LEN + 1),
            start_ms: 0,
            end_ms: 1,
            metrics: Metrics::new(),
        });
        let result = encode_checked_records(&[record], &mut Vec::new());
        assert!(matches!(result, Err(Error::InvalidInput { .. })));
    }

    #[test]
    fn checked_encoding_matches_unchecked() {
        let mut checked = Vec::new();
        encode_checked_records(&every_kind(), &mut checked).unwrap();
        let mut unchecked = Vec::new();
        encode_records(&every_kind(), &mut unchecked);
        assert_eq!(checked, unchecked);
    }
}
