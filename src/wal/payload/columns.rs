//! Encoding of the columnar batch record (tag 4): the rows' fields as arrays, then one array
//! per metric. The columnar delayed record (tag 5) shares the arrays. docs/format/wal.md
//! documents the layout.

use uuid::Uuid;

use super::{
    DecodeResult, MAX_BYTES_LEN, MAX_STRING_LEN, PayloadReader, TAG_PREDICTION_COLUMNS, VALUE_BOOL,
    VALUE_BYTES, VALUE_F64, VALUE_I64, VALUE_STR, check_len, put_bytes, put_varint,
};
use crate::batch::{ColumnBatch, MetricColumn};
use crate::error::{Error, Result};
use crate::value::{MAX_BATCH_LEN, MAX_METRIC_NAME_LEN, MAX_METRICS_PER_RECORD, MAX_MODEL_LEN};

/// Appends a columnar batch: the fields of its rows as arrays, then one array per metric.
pub(super) fn put_columns<const CHECK: bool>(out: &mut Vec<u8>, batch: &ColumnBatch) -> Result<()> {
    if CHECK {
        check_len("model", batch.model.len(), MAX_MODEL_LEN)?;
    }
    out.push(TAG_PREDICTION_COLUMNS);
    put_varint(out, batch.first_seq);
    put_bytes(out, batch.model.as_bytes());
    put_rows::<CHECK>(out, &batch.uuids, &batch.timestamps_ms, &batch.metrics)
}

/// Appends the arrays that follow the header of a columnar record, of predictions or of
/// delayed metrics: the row count, the UUIDs, the timestamps, then one array per metric.
pub(super) fn put_rows<const CHECK: bool>(
    out: &mut Vec<u8>,
    uuids: &[Uuid],
    timestamps_ms: &[i64],
    metrics: &[(String, MetricColumn)],
) -> Result<()> {
    if CHECK {
        check_len("batch", uuids.len(), MAX_BATCH_LEN)?;
        check_len("metric count", metrics.len(), MAX_METRICS_PER_RECORD)?;
        check_column_lengths(uuids.len(), timestamps_ms, metrics)?;
    }
    put_varint(out, uuids.len() as u64);
    out.reserve(uuids.len() * (16 + 8));
    for uuid in uuids {
        out.extend_from_slice(uuid.as_bytes());
    }
    for timestamp in timestamps_ms {
        out.extend_from_slice(&timestamp.to_le_bytes());
    }
    put_varint(out, metrics.len() as u64);
    for (name, column) in metrics {
        if CHECK {
            check_len("metric name", name.len(), MAX_METRIC_NAME_LEN)?;
        }
        put_bytes(out, name.as_bytes());
        put_column::<CHECK>(out, column)?;
    }
    Ok(())
}

/// Rejects a batch whose arrays differ in length, which the layout cannot represent.
fn check_column_lengths(
    rows: usize,
    timestamps_ms: &[i64],
    metrics: &[(String, MetricColumn)],
) -> Result<()> {
    let columns = metrics.iter().map(|(_, column)| column.len());
    let mismatch = std::iter::once(timestamps_ms.len())
        .chain(columns)
        .find(|&len| len != rows);
    match mismatch {
        Some(len) => Err(Error::invalid(
            "metric column",
            format!("{len} values for {rows} prediction UUIDs"),
            "give every column one value per prediction UUID",
        )),
        None => Ok(()),
    }
}

fn put_column<const CHECK: bool>(out: &mut Vec<u8>, column: &MetricColumn) -> Result<()> {
    match column {
        MetricColumn::F64(values) => {
            out.push(VALUE_F64);
            out.reserve(values.len() * 8);
            for v in values {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        MetricColumn::I64(values) => {
            out.push(VALUE_I64);
            out.reserve(values.len() * 8);
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        MetricColumn::Bool(values) => {
            out.push(VALUE_BOOL);
            out.extend(values.iter().map(|&v| u8::from(v)));
        }
        MetricColumn::Str(values) => {
            out.push(VALUE_STR);
            for v in values {
                if CHECK {
                    check_len("string value", v.len(), MAX_STRING_LEN)?;
                }
                put_bytes(out, v.as_bytes());
            }
        }
        MetricColumn::Bytes(values) => {
            out.push(VALUE_BYTES);
            for v in values {
                if CHECK {
                    check_len("bytes value", v.len(), MAX_BYTES_LEN)?;
                }
                put_bytes(out, v);
            }
        }
    }
    Ok(())
}

/// The arrays of a columnar record, as `put_rows` writes them.
pub(super) struct Rows {
    pub uuids: Vec<Uuid>,
    pub timestamps_ms: Vec<i64>,
    pub metrics: Vec<(String, MetricColumn)>,
}

impl PayloadReader<'_> {
    pub(super) fn columns(&mut self) -> DecodeResult<ColumnBatch> {
        let at = self.position;
        let first_seq = self.varint("seq")?;
        let model = self.string("model", MAX_MODEL_LEN)?;
        let rows = self.rows(at, first_seq)?;
        Ok(ColumnBatch {
            first_seq,
            model,
            uuids: rows.uuids,
            timestamps_ms: rows.timestamps_ms,
            metrics: rows.metrics,
        })
    }

    /// Reads the arrays of the columnar record that starts at payload byte `at` with the
    /// sequence number `first_seq`.
    pub(super) fn rows(&mut self, at: usize, first_seq: u64) -> DecodeResult<Rows> {
        // Each row takes its UUID and timestamp.
        let rows = self.count("row count", MAX_BATCH_LEN, 16 + 8)?;
        if rows == 0 || first_seq.checked_add(rows as u64 - 1).is_none() {
            return Err(format!(
                "columnar batch at payload byte {at} has {rows} rows from seq {first_seq}: \
                 a batch has at least one row and its last seq fits in 64 bits"
            ));
        }

        let uuids = self
            .take(rows * 16, "uuids")?
            .chunks_exact(16)
            .map(|bytes| Uuid::from_slice(bytes).unwrap_or_default())
            .collect();
        let timestamps_ms = self.fixed_array(rows, "timestamps", |v| v as i64)?;

        // Each metric takes at least a name length, a value tag and one byte per row.
        let count = self.count("metric count", MAX_METRICS_PER_RECORD, 2 + rows)?;
        let mut metrics = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.string("metric name", MAX_METRIC_NAME_LEN)?;
            metrics.push((name, self.column(rows)?));
        }
        Ok(Rows {
            uuids,
            timestamps_ms,
            metrics,
        })
    }

    fn column(&mut self, rows: usize) -> DecodeResult<MetricColumn> {
        let at = self.position;
        match self.byte("value tag")? {
            VALUE_F64 => Ok(MetricColumn::F64(self.fixed_array(
                rows,
                "f64 values",
                f64::from_bits,
            )?)),
            VALUE_I64 => Ok(MetricColumn::I64(self.fixed_array(
                rows,
                "i64 values",
                |v| v as i64,
            )?)),
            VALUE_BOOL => {
                let bytes = self.take(rows, "bool values")?;
                match bytes.iter().position(|&b| b > 1) {
                    Some(row) => Err(format!(
                        "bool value of row {row} after payload byte {at} is not 0 or 1"
                    )),
                    None => Ok(MetricColumn::Bool(bytes.iter().map(|&b| b == 1).collect())),
                }
            }
            VALUE_STR => {
                let values = (0..rows).map(|_| self.string("string value", MAX_STRING_LEN));
                Ok(MetricColumn::Str(values.collect::<DecodeResult<_>>()?))
            }
            VALUE_BYTES => {
                let values = (0..rows).map(|_| {
                    let bytes = self.length_prefixed("bytes value", MAX_BYTES_LEN)?;
                    Ok(bytes.to_vec())
                });
                Ok(MetricColumn::Bytes(values.collect::<DecodeResult<_>>()?))
            }
            tag => Err(format!("unknown value tag {tag} at payload byte {at}")),
        }
    }

    /// Reads `rows` values of 8 bytes, little-endian, converted by `convert`.
    fn fixed_array<T>(
        &mut self,
        rows: usize,
        what: &str,
        convert: impl Fn(u64) -> T,
    ) -> DecodeResult<Vec<T>> {
        let bytes = self.take(rows.saturating_mul(8), what)?;
        let values = bytes.chunks_exact(8).map(|chunk| {
            let mut array = [0u8; 8];
            array.copy_from_slice(chunk);
            convert(u64::from_le_bytes(array))
        });
        Ok(values.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_records, encode_checked_records, encode_records};
    use super::*;
    use crate::record::LogRecord;

    fn every_type(first_seq: u64, rows: usize) -> ColumnBatch {
        let n = rows as u128;
        ColumnBatch {
            first_seq,
            model: "modèle".into(),
            uuids: (0..n).map(|i| Uuid::from_u128(i + 1)).collect(),
            timestamps_ms: (0..rows as i64).map(|i| i64::MIN + i).collect(),
            metrics: vec![
                (
                    "blob".into(),
                    MetricColumn::Bytes((0..rows).map(|i| vec![i as u8; i]).collect()),
                ),
                (
                    "flag".into(),
                    MetricColumn::Bool((0..rows).map(|i| i % 2 == 0).collect()),
                ),
                (
                    "n".into(),
                    MetricColumn::I64((0..rows as i64).map(|i| i64::MAX - i).collect()),
                ),
                ("score".into(), MetricColumn::F64(special_floats(rows))),
                (
                    "text".into(),
                    MetricColumn::Str((0..rows).map(|i| "é".repeat(i)).collect()),
                ),
            ],
        }
    }

    fn special_floats(rows: usize) -> Vec<f64> {
        let specials = [
            f64::from_bits(0x7ff8_0000_dead_beef),
            -0.0,
            f64::INFINITY,
            1.5,
        ];
        (0..rows).map(|i| specials[i % specials.len()]).collect()
    }

    fn encode(batch: ColumnBatch) -> Vec<u8> {
        let mut out = Vec::new();
        encode_records(&[LogRecord::PredictionColumns(batch)], &mut out);
        out
    }

    /// Returns the payload of a one-record frame: count 1, tag 4, then `body`, padded with
    /// zeros to the minimum size of a record, which the record count is checked against.
    fn payload(body: &[u8]) -> Vec<u8> {
        let mut out = vec![1, TAG_PREDICTION_COLUMNS];
        out.extend_from_slice(body);
        out.resize(out.len().max(24), 0);
        out
    }

    /// Returns the body of a batch up to its row count: seq 1 and model "m".
    fn header(rows: u64) -> Vec<u8> {
        let mut out = vec![1, 1, b'm'];
        put_varint(&mut out, rows);
        out
    }

    #[test]
    fn batch_round_trips_bit_for_bit() {
        let records = vec![LogRecord::PredictionColumns(every_type(u64::MAX - 4, 5))];
        let mut bytes = Vec::new();
        encode_records(&records, &mut bytes);
        assert_eq!(decode_records(&bytes), Ok(records));
    }

    #[test]
    fn checked_encoding_matches_unchecked() {
        let records = [LogRecord::PredictionColumns(every_type(9, 12))];
        let mut checked = Vec::new();
        encode_checked_records(&records, &mut checked).unwrap();
        assert_eq!(checked, encode(every_type(9, 12)));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode(every_type(1, 4));
        for len in 0..bytes.len() {
            assert!(
                decode_records(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn batch_without_rows_is_rejected() {
        let error = decode_records(&payload(&header(0))).unwrap_err();
        assert!(error.contains("at least one row"), "{error}");
    }

    #[test]
    fn last_seq_past_u64_is_rejected() {
        let mut batch = every_type(u64::MAX - 1, 3);
        batch.metrics.clear();
        let error = decode_records(&encode(batch)).unwrap_err();
        assert!(error.contains("fits in 64 bits"), "{error}");
    }

    #[test]
    fn row_count_larger_than_payload_is_rejected() {
        let mut body = header(1_000);
        body.extend_from_slice(&[0; 24 * 999 + 1]);
        let error = decode_records(&payload(&body)).unwrap_err();
        assert!(error.contains("row count 1000"), "{error}");
        let error = decode_records(&payload(&header(u64::MAX))).unwrap_err();
        assert!(error.contains("row count"), "{error}");
    }

    #[test]
    fn row_count_over_batch_limit_is_rejected() {
        let rows = MAX_BATCH_LEN as u64 + 1;
        let mut body = header(rows);
        body.resize(body.len() + 24 * rows as usize + 1, 0);
        let error = decode_records(&payload(&body)).unwrap_err();
        assert!(error.contains("over the limit of 100000"), "{error}");
    }

    #[test]
    fn column_count_larger_than_payload_is_rejected() {
        let mut body = header(2);
        body.extend_from_slice(&[0; 48]);
        // Three columns of two rows need at least 3 * (2 + 2) bytes, and 11 follow.
        body.push(3);
        body.extend_from_slice(&[1, b'a', VALUE_BOOL, 0, 1, 1, b'b', VALUE_BOOL, 0, 1, 0]);
        let error = decode_records(&payload(&body)).unwrap_err();
        assert!(error.contains("metric count 3"), "{error}");
    }

    #[test]
    fn bool_other_than_zero_or_one_is_rejected() {
        let mut body = header(2);
        body.extend_from_slice(&[0; 48]);
        body.extend_from_slice(&[1, 1, b'a', VALUE_BOOL, 1, 2]);
        let error = decode_records(&payload(&body)).unwrap_err();
        assert!(error.contains("row 1"), "{error}");
    }

    #[test]
    fn unknown_value_tag_is_rejected() {
        let mut body = header(1);
        body.extend_from_slice(&[0; 24]);
        body.extend_from_slice(&[1, 1, b'a', 9, 0]);
        let error = decode_records(&payload(&body)).unwrap_err();
        assert!(error.contains("unknown value tag 9"), "{error}");
    }

    #[test]
    fn checked_encoding_rejects_columns_of_other_lengths() {
        let mut batch = every_type(1, 3);
        batch.timestamps_ms.pop();
        let records = [LogRecord::PredictionColumns(batch)];
        let result = encode_checked_records(&records, &mut Vec::new());
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn checked_encoding_rejects_long_string() {
        let mut batch = every_type(1, 1);
        batch.metrics = vec![(
            "s".into(),
            MetricColumn::Str(vec!["x".repeat(MAX_STRING_LEN + 1)]),
        )];
        let records = [LogRecord::PredictionColumns(batch)];
        let result = encode_checked_records(&records, &mut Vec::new());
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{result:?}"
        );
    }
}
