//! Encoding of the columnar delayed record (tag 5): the first seq, then the arrays of the
//! columnar batch record without a model. docs/format/wal.md documents the layout.

use super::columns::put_rows;
use super::{DecodeResult, PayloadReader, TAG_DELAYED_COLUMNS, put_varint};
use crate::batch::DelayedColumnBatch;
use crate::error::Result;

/// Appends a columnar batch of delayed metrics.
pub(super) fn put_delayed_columns<const CHECK: bool>(
    out: &mut Vec<u8>,
    batch: &DelayedColumnBatch,
) -> Result<()> {
    out.push(TAG_DELAYED_COLUMNS);
    put_varint(out, batch.first_seq);
    put_rows::<CHECK>(out, &batch.uuids, &batch.timestamps_ms, &batch.metrics)
}

impl PayloadReader<'_> {
    pub(super) fn delayed_columns(&mut self) -> DecodeResult<DelayedColumnBatch> {
        let at = self.position;
        let first_seq = self.varint("seq")?;
        let rows = self.rows(at, first_seq)?;
        Ok(DelayedColumnBatch {
            first_seq,
            uuids: rows.uuids,
            timestamps_ms: rows.timestamps_ms,
            metrics: rows.metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::super::{VALUE_BOOL, decode_records, encode_checked_records, encode_records};
    use super::*;
    use crate::batch::MetricColumn;
    use crate::error::Error;
    use crate::record::{DelayedRecord, LogRecord};
    use crate::value::{MAX_STRING_LEN, Metrics};

    fn labels(first_seq: u64, rows: usize) -> DelayedColumnBatch {
        DelayedColumnBatch {
            first_seq,
            // UUIDs repeat, as labels of one prediction tracked twice in a batch do.
            uuids: (0..rows).map(|i| Uuid::from_u128(i as u128 % 3)).collect(),
            timestamps_ms: (0..rows as i64).map(|i| i64::MAX - i).collect(),
            metrics: vec![
                (
                    "blob".into(),
                    MetricColumn::Bytes((0..rows).map(|i| vec![7; i]).collect()),
                ),
                (
                    "label".into(),
                    MetricColumn::Bool((0..rows).map(|i| i % 2 == 1).collect()),
                ),
                (
                    "loss".into(),
                    MetricColumn::F64((0..rows).map(|i| -(i as f64)).collect()),
                ),
                (
                    "rank".into(),
                    MetricColumn::I64((0..rows as i64).map(|i| i64::MIN + i).collect()),
                ),
                (
                    "reason".into(),
                    MetricColumn::Str((0..rows).map(|i| "ü".repeat(i)).collect()),
                ),
            ],
        }
    }

    fn encode(records: &[LogRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_records(records, &mut out);
        out
    }

    #[test]
    fn batch_round_trips_with_other_records() {
        let row = LogRecord::Delayed(DelayedRecord {
            seq: 1,
            uuid: Uuid::from_u128(9),
            timestamp_ms: 5,
            metrics: Metrics::new().with("label", true),
        });
        let records = vec![
            row,
            LogRecord::DelayedColumns(labels(2, 7)),
            LogRecord::DelayedColumns(labels(u64::MAX - 2, 3)),
        ];
        assert_eq!(decode_records(&encode(&records)), Ok(records));
    }

    #[test]
    fn record_without_metrics_round_trips() {
        let mut batch = labels(4, 2);
        batch.metrics.clear();
        let records = vec![LogRecord::DelayedColumns(batch)];
        assert_eq!(decode_records(&encode(&records)), Ok(records));
    }

    #[test]
    fn layout_matches_format_page() {
        let batch = DelayedColumnBatch {
            first_seq: 300,
            uuids: vec![Uuid::from_u128(0x0102)],
            timestamps_ms: vec![-2],
            metrics: vec![("y".into(), MetricColumn::Bool(vec![true]))],
        };
        let bytes = encode(&[LogRecord::DelayedColumns(batch)]);
        let mut expected = vec![1, TAG_DELAYED_COLUMNS, 0xac, 0x02, 1];
        expected.extend_from_slice(Uuid::from_u128(0x0102).as_bytes());
        expected.extend_from_slice(&(-2i64).to_le_bytes());
        expected.extend_from_slice(&[1, 1, b'y', VALUE_BOOL, 1]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn checked_encoding_matches_unchecked() {
        let records = [LogRecord::DelayedColumns(labels(9, 12))];
        let mut checked = Vec::new();
        encode_checked_records(&records, &mut checked).unwrap();
        assert_eq!(checked, encode(&records));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode(&[LogRecord::DelayedColumns(labels(1, 4))]);
        for len in 0..bytes.len() {
            assert!(
                decode_records(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn batch_without_rows_is_rejected() {
        let mut bytes = vec![1, TAG_DELAYED_COLUMNS, 1, 0];
        bytes.resize(24, 0);
        let error = decode_records(&bytes).unwrap_err();
        assert!(error.contains("at least one row"), "{error}");
    }

    #[test]
    fn last_seq_past_u64_is_rejected() {
        let batch = labels(u64::MAX - 1, 3);
        let error = decode_records(&encode(&[LogRecord::DelayedColumns(batch)])).unwrap_err();
        assert!(error.contains("fits in 64 bits"), "{error}");
    }

    #[test]
    fn checked_encoding_rejects_bad_batches() {
        let mut short = labels(1, 3);
        short.timestamps_ms.pop();
        let mut long_string = labels(1, 1);
        long_string.metrics = vec![(
            "s".into(),
            MetricColumn::Str(vec!["x".repeat(MAX_STRING_LEN + 1)]),
        )];
        for batch in [short, long_string] {
            let records = [LogRecord::DelayedColumns(batch)];
            let result = encode_checked_records(&records, &mut Vec::new());
            assert!(
                matches!(result, Err(Error::InvalidInput { .. })),
                "{result:?}"
            );
        }
    }
}
