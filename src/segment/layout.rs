//! Constants of the segment file format, version 3. docs/format/segment.md describes the bytes.

use crate::batch::MetricColumn;
use crate::codec;
use crate::value::Value;

/// Format version that this build writes. It reads it and `MIN_READ_VERSION`.
pub const FORMAT_VERSION: u32 = 3;
/// Oldest format version that this build reads: version 2, which has no group indexes.
pub const MIN_READ_VERSION: u32 = 2;
/// First format version whose block entries have a group index.
pub const GROUP_INDEX_VERSION: u32 = 3;
/// Last 8 bytes of every segment file.
pub const TRAILER_MAGIC: [u8; 8] = *b"MMSEGEND";
/// First 4 bytes of the footer.
pub const FOOTER_MAGIC: [u8; 4] = *b"MMSF";
/// File name extension of a segment.
pub const SEGMENT_EXTENSION: &str = "seg";

/// Size of the trailer at the end of the file.
pub const TRAILER_LEN: usize = 36;
/// Trailer field offsets, relative to the start of the trailer.
pub const TRAILER_FOOTER_OFFSET: usize = 0;
pub const TRAILER_FOOTER_LEN: usize = 8;
pub const TRAILER_FOOTER_CRC: usize = 12;
/// Offset of the segment id, which `Segment::open` compares with the id in the file name.
pub const TRAILER_SEGMENT_ID: usize = 16;
pub const TRAILER_VERSION: usize = 24;
pub const TRAILER_MAGIC_AT: usize = 28;

/// Maximum number of rows in one block.
pub const BLOCK_ROWS: usize = 4096;
/// Size of one UUID in the UUID column.
pub const UUID_LEN: usize = 16;

/// Chunk flag: the chunk is zstd-compressed, and its descriptor carries the raw length.
pub const FLAG_ZSTD: u8 = 0x01;
/// Flag bits that version 1 defines. A chunk with any other bit set is corrupt.
pub const KNOWN_FLAGS: u8 = FLAG_ZSTD;

/// Model field of a block of orphaned delayed metrics, which belong to no known model.
pub const ORPHAN_MODEL: u64 = 0;

/// The three tables of a segment, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Predictions,
    Delayed,
    Aggregates,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Predictions, Table::Delayed, Table::Aggregates];

    pub fn name(self) -> &'static str {
        match self {
            Table::Predictions => "predictions",
            Table::Delayed => "delayed",
            Table::Aggregates => "aggregates",
        }
    }
}

/// Encoding of a column chunk, as stored in the column directory and in `dump`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Delta-of-delta timestamps.
    Timestamps = 1,
    /// Integers.
    Ints = 2,
    /// Floats, bit-exact. The codec picks a mode (XOR, decimal, binary or raw) per chunk.
    Floats = 3,
    Bools = 4,
    Strings = 5,
    /// zstd-compressed byte strings.
    Blobs = 6,
    /// 16 raw bytes per row, never compressed.
    RawUuid = 7,
}

impl Encoding {
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Returns true for codecs whose first byte is a mode tag, which the footer repeats so that
    /// `dump` can list the modes without reading blocks.
    pub fn has_mode(self) -> bool {
        matches!(
            self,
            Encoding::Timestamps | Encoding::Ints | Encoding::Floats
        )
    }

    /// Returns the name of a mode tag of this encoding, or `None` for a tag that this table
    /// does not know. The codec, not this table, decides which tags are valid.
    pub fn mode_name(self, mode: u8) -> Option<&'static str> {
        match self {
            Encoding::Floats => match mode {
                codec::floats::TAG_RAW => Some("raw"),
                codec::floats::TAG_XOR => Some("xor"),
                codec::floats::TAG_DECIMAL => Some("decimal"),
                codec::floats::TAG_BINARY => Some("binary"),
                _ => None,
            },
            Encoding::Timestamps | Encoding::Ints => int_mode_name(mode),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Timestamps => "timestamps",
            Encoding::Ints => "ints",
            Encoding::Floats => "floats",
            Encoding::Bools => "bools",
            Encoding::Strings => "strings",
            Encoding::Blobs => "blobs",
            Encoding::RawUuid => "raw-uuid",
        }
    }
}

/// Returns the name of an ints codec tag: the difference order in the high nibble, the packing
/// in the low one.
fn int_mode_name(mode: u8) -> Option<&'static str> {
    const NAMES: [[&str; 3]; 3] = [
        ["varint", "frame", "buckets"],
        ["delta-varint", "delta-frame", "delta-buckets"],
        [
            "delta-of-delta-varint",
            "delta-of-delta-frame",
            "delta-of-delta-buckets",
        ],
    ];
    let order = NAMES.get(usize::from(mode >> 4))?;
    order.get(usize::from(mode & 0x0f)).copied()
}

/// Value type of a metric column. A metric name that carries two types has two columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueType {
    F64 = 1,
    I64 = 2,
    Bool = 3,
    Str = 4,
    Bytes = 5,
}

impl ValueType {
    pub fn of(value: &Value) -> ValueType {
        match value {
            Value::F64(_) => ValueType::F64,
            Value::I64(_) => ValueType::I64,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::Str,
            Value::Bytes(_) => ValueType::Bytes,
        }
    }

    /// Returns the type of the values of a columnar batch's metric column.
    pub fn of_column(column: &MetricColumn) -> ValueType {
        match column {
            MetricColumn::F64(_) => ValueType::F64,
            MetricColumn::I64(_) => ValueType::I64,
            MetricColumn::Bool(_) => ValueType::Bool,
            MetricColumn::Str(_) => ValueType::Str,
            MetricColumn::Bytes(_) => ValueType::Bytes,
        }
    }

    pub fn from_id(id: u8) -> Option<ValueType> {
        match id {
            1 => Some(ValueType::F64),
            2 => Some(ValueType::I64),
            3 => Some(ValueType::Bool),
            4 => Some(ValueType::Str),
            5 => Some(ValueType::Bytes),
            _ => None,
        }
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    /// Returns the type name that `Value::type_name` uses.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::F64 => "f64",
            ValueType::I64 => "i64",
            ValueType::Bool => "bool",
            ValueType::Str => "string",
            ValueType::Bytes => "bytes",
        }
    }

    /// Returns the encoding of a metric column of this type, the only one version 1 allows.
    pub fn encoding(self) -> Encoding {
        match self {
            ValueType::F64 => Encoding::Floats,
            ValueType::I64 => Encoding::Ints,
            ValueType::Bool => Encoding::Bools,
            ValueType::Str => Encoding::Strings,
            ValueType::Bytes => Encoding::Blobs,
        }
    }

    /// Returns an upper bound of the decoded bytes of one value, with its share of codec
    /// headers, to bound a chunk's raw length before decompressing it.
    pub fn max_raw_bytes_per_row(self) -> usize {
        match self {
            ValueType::F64 | ValueType::I64 => 2 * 10,
            ValueType::Bool => 2,
            ValueType::Str => crate::value::MAX_STRING_LEN + 10,
            ValueType::Bytes => crate::value::MAX_BYTES_LEN + 10,
        }
    }
}

/// A fixed column: a column that every block of a table has, before its metric columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FixedColumn {
    Seq,
    Timestamp,
    Uuid,
    DelayedTimestamp,
    PredictionTimestamp,
    /// The seq of a resolved delayed record's prediction, which names the prediction in place
    /// of its UUID.
    PredictionSeq,
    Start,
    End,
}

impl FixedColumn {
    pub fn name(self) -> &'static str {
        match self {
            FixedColumn::Seq => "seq",
            FixedColumn::Timestamp => "timestamp",
            FixedColumn::Uuid => "uuid",
            FixedColumn::DelayedTimestamp => "delayed_timestamp",
            FixedColumn::PredictionTimestamp => "prediction_timestamp",
            FixedColumn::PredictionSeq => "prediction_seq",
            FixedColumn::Start => "start",
            FixedColumn::End => "end",
        }
    }

    pub fn encoding(self) -> Encoding {
        match self {
            FixedColumn::Seq | FixedColumn::DelayedTimestamp | FixedColumn::PredictionSeq => {
                Encoding::Ints
            }
            FixedColumn::Uuid => Encoding::RawUuid,
            FixedColumn::Timestamp
            | FixedColumn::PredictionTimestamp
            | FixedColumn::Start
            | FixedColumn::End => Encoding::Timestamps,
        }
    }
}

const PREDICTION_COLUMNS: [FixedColumn; 3] =
    [FixedColumn::Seq, FixedColumn::Timestamp, FixedColumn::Uuid];
const RESOLVED_COLUMNS: [FixedColumn; 3] = [
    FixedColumn::DelayedTimestamp,
    FixedColumn::PredictionTimestamp,
    FixedColumn::PredictionSeq,
];
const ORPHAN_COLUMNS: [FixedColumn; 3] = [
    FixedColumn::Seq,
    FixedColumn::Uuid,
    FixedColumn::DelayedTimestamp,
];
const AGGREGATE_COLUMNS: [FixedColumn; 3] =
    [FixedColumn::Seq, FixedColumn::Start, FixedColumn::End];

/// Returns the fixed columns of a block, in file order. A resolved block of the delayed table
/// names each row's prediction by its timestamp and seq, and an orphan block, whose
/// predictions are unknown, by the prediction UUID.
pub fn fixed_columns(table: Table, orphan: bool) -> &'static [FixedColumn] {
    match table {
        Table::Predictions => &PREDICTION_COLUMNS,
        Table::Delayed if orphan => &ORPHAN_COLUMNS,
        Table::Delayed => &RESOLVED_COLUMNS,
        Table::Aggregates => &AGGREGATE_COLUMNS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_fields_fill_trailer() {
        assert_eq!(TRAILER_FOOTER_LEN, TRAILER_FOOTER_OFFSET + 8);
        assert_eq!(TRAILER_FOOTER_CRC, TRAILER_FOOTER_LEN + 4);
        assert_eq!(TRAILER_SEGMENT_ID, TRAILER_FOOTER_CRC + 4);
        assert_eq!(TRAILER_VERSION, TRAILER_SEGMENT_ID + 8);
        assert_eq!(TRAILER_MAGIC_AT, TRAILER_VERSION + 4);
        assert_eq!(TRAILER_LEN, TRAILER_MAGIC_AT + TRAILER_MAGIC.len());
    }

    #[test]
    fn format_page_matches_constants() {
        use crate::segment::group_index::GROUP_ROWS;

        let page = include_str!("../../docs/format/segment.md");
        let expected = [
            format!("# Segment file, format version {FORMAT_VERSION}"),
            format!("| D + F | {TRAILER_LEN} | trailer |"),
            format!("The last {TRAILER_LEN} bytes of the file."),
            format!("footer length equals the file length minus {TRAILER_LEN}."),
            format!("| {TRAILER_FOOTER_OFFSET} | 8 | u64 | footer offset D |"),
            format!("| {TRAILER_FOOTER_LEN} | 4 | u32 | footer length F |"),
            format!("| {TRAILER_FOOTER_CRC} | 4 | u32 | CRC of the F footer bytes |"),
            format!("| {TRAILER_SEGMENT_ID} | 8 | u64 | segment id, the id in the file name |"),
            format!("| {TRAILER_VERSION} | 4 | u32 | format version, {FORMAT_VERSION} |"),
            format!("| {TRAILER_MAGIC_AT} | 8 | bytes | magic `MMSEGEND` |"),
            "| magic | 4 bytes | `MMSF` |".to_owned(),
            format!("| rows | varint | 1 to {BLOCK_ROWS} |"),
            format!("form groups of {GROUP_ROWS} rows (`GROUP_ROWS`)"),
            "| flags | u8 | bit 0: the chunk is one zstd frame; bits 1 to 7 are zero |".to_owned(),
        ];
        for line in &expected {
            assert!(page.contains(line.as_str()), "the page lacks {line:?}");
        }
        assert_eq!(&TRAILER_MAGIC, b"MMSEGEND");
        assert_eq!(&FOOTER_MAGIC, b"MMSF");
        assert_eq!(FLAG_ZSTD, 1);
    }

    #[test]
    fn format_page_lists_type_and_encoding_ids() {
        let page = include_str!("../../docs/format/segment.md");
        for id in 1..=5 {
            let value_type = ValueType::from_id(id).unwrap();
            let encoding = value_type.encoding();
            let row = format!(
                "| {id} | {} | {}, {} |",
                value_type.name(),
                encoding.id(),
                encoding.name()
            );
            assert!(page.contains(&row), "the page lacks {row:?}");
        }
        let encodings = [
            Encoding::Timestamps,
            Encoding::Ints,
            Encoding::Floats,
            Encoding::Bools,
            Encoding::Strings,
            Encoding::Blobs,
            Encoding::RawUuid,
        ];
        for encoding in encodings {
            let row = format!("| {} | {} |", encoding.id(), encoding.name());
            assert!(page.contains(&row), "the page lacks {row:?}");
        }
    }

    #[test]
    fn format_page_lists_fixed_columns() {
        let page = include_str!("../../docs/format/segment.md");
        let kinds = [
            (Table::Predictions, false),
            (Table::Delayed, false),
            (Table::Delayed, true),
            (Table::Aggregates, false),
        ];
        for (table, orphan) in kinds {
            let names: Vec<String> = fixed_columns(table, orphan)
                .iter()
                .map(|column| column.name().replace('_', " "))
                .collect();
            let cell = format!("| {} |", names.join(", "));
            assert!(page.contains(&cell), "the page lacks {cell:?}");
        }
    }

    #[test]
    fn value_type_ids_round_trip() {
        for id in 0..=255u8 {
            if let Some(value_type) = ValueType::from_id(id) {
                assert_eq!(value_type.id(), id);
            }
        }
        assert_eq!(ValueType::from_id(0), None);
        assert_eq!(ValueType::from_id(6), None);
    }

    #[test]
    fn mode_names_cover_codec_tags() {
        assert_eq!(
            Encoding::Floats.mode_name(codec::floats::TAG_DECIMAL),
            Some("decimal")
        );
        assert_eq!(
            Encoding::Floats.mode_name(codec::floats::TAG_BINARY),
            Some("binary")
        );
        assert_eq!(Encoding::Floats.mode_name(0x40), None);
        assert_eq!(Encoding::Ints.mode_name(0x21), Some("delta-of-delta-frame"));
        assert_eq!(Encoding::Timestamps.mode_name(0x11), Some("delta-frame"));
        assert_eq!(Encoding::Ints.mode_name(0x03), None);
        assert_eq!(Encoding::Ints.mode_name(0x30), None);
        assert_eq!(Encoding::Strings.mode_name(0), None);
    }

    #[test]
    fn orphan_blocks_lack_prediction_timestamp() {
        let orphan = fixed_columns(Table::Delayed, true);
        assert!(!orphan.contains(&FixedColumn::PredictionTimestamp));
        assert!(!orphan.contains(&FixedColumn::PredictionSeq));
        assert!(orphan.contains(&FixedColumn::Uuid));
    }

    #[test]
    fn resolved_blocks_store_prediction_seq_not_uuid() {
        let resolved = fixed_columns(Table::Delayed, false);
        assert!(resolved.contains(&FixedColumn::PredictionTimestamp));
        assert!(resolved.contains(&FixedColumn::PredictionSeq));
        assert!(!resolved.contains(&FixedColumn::Uuid));
        assert_eq!(FixedColumn::PredictionSeq.encoding(), Encoding::Ints);
    }
}
