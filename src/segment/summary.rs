//! A description of a segment built from its footer alone, for `dump` and for logs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::segment::Segment;
use crate::segment::footer::{BlockDir, ChunkRef};
use crate::segment::layout::{
    Encoding, FORMAT_VERSION, FixedColumn, Table, ValueType, fixed_columns,
};

/// Rows, blocks and time range of a table, or of one model's rows in a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowsSummary {
    pub rows: u64,
    pub blocks: u64,
    /// Minimum and maximum of the time the blocks are indexed by: the prediction timestamp for
    /// predictions and resolved delayed records, the delayed timestamp for orphans, and the
    /// minimum start and maximum end for aggregate records.
    pub time_range: Option<(i64, i64)>,
}

impl RowsSummary {
    fn add(&mut self, block: &BlockDir) {
        self.rows += u64::from(block.rows);
        self.blocks += 1;
        self.time_range = Some(match self.time_range {
            None => (block.min_ts, block.max_ts),
            Some((min, max)) => (min.min(block.min_ts), max.max(block.max_ts)),
        });
    }
}

/// The rows of one model in each table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelSummary {
    pub model: String,
    pub predictions: RowsSummary,
    /// Resolved delayed records whose prediction belongs to this model.
    pub delayed: RowsSummary,
    pub aggregates: RowsSummary,
}

/// Storage of one column of one table, summed over its blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSummary {
    /// `predictions`, `delayed` or `aggregates`.
    pub table: &'static str,
    /// A metric name, or the name of a fixed column such as `seq` or `timestamp`.
    pub name: String,
    pub metric: bool,
    /// Value type: a `Value::type_name` for metric columns, else `u64`, `i64` or `uuid`.
    pub value_type: &'static str,
    /// The codec.
    pub encoding: &'static str,
    /// Chunks per codec mode, such as `("xor", 12)`, for codecs that pick a mode per chunk;
    /// `"unknown"` counts tags that this build has no name for.
    pub modes: Vec<(&'static str, u64)>,
    pub chunks: u64,
    /// Chunks that zstd made smaller and that are stored compressed.
    pub zstd_chunks: u64,
    /// Bytes in the file.
    pub stored_bytes: u64,
    /// Bytes after zstd decompression, before the codec.
    pub raw_bytes: u64,
    /// Rows that have a value.
    pub rows_present: u64,
}

/// Description of a segment's contents, built from its footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub id: u64,
    pub path: PathBuf,
    pub file_bytes: u64,
    pub format_version: u32,
    /// Union of the time ranges of all blocks.
    pub time_range: Option<(i64, i64)>,
    pub predictions: RowsSummary,
    /// Delayed records whose prediction was known when the segment was written.
    pub delayed: RowsSummary,
    /// Delayed records whose prediction was unknown then.
    pub orphans: RowsSummary,
    pub aggregates: RowsSummary,
    /// Models in ascending order.
    pub models: Vec<ModelSummary>,
    /// Per table, the fixed columns, then the metric columns in directory order.
    pub columns: Vec<ColumnSummary>,
}

impl Segment {
    /// Describes the segment from its footer, without reading any block.
    pub fn summary(&self) -> SegmentSummary {
        let mut summary = SegmentSummary {
            id: self.id,
            path: self.path.clone(),
            file_bytes: self.file_bytes(),
            format_version: FORMAT_VERSION,
            time_range: self.footer.time_range,
            predictions: RowsSummary::default(),
            delayed: RowsSummary::default(),
            orphans: RowsSummary::default(),
            aggregates: RowsSummary::default(),
            models: self
                .footer
                .models
                .iter()
                .map(|model| ModelSummary {
                    model: model.clone(),
                    ..ModelSummary::default()
                })
                .collect(),
            columns: Vec::new(),
        };
        for table in Table::ALL {
            for block in &self.footer.table(table).blocks {
                summary.add_block(table, block);
            }
            summary.columns.extend(self.column_summaries(table));
        }
        summary
    }

    fn column_summaries(&self, table: Table) -> Vec<ColumnSummary> {
        let dir = self.footer.table(table);
        // Orphan and resolved blocks of the delayed table have different fixed columns, so
        // each column is keyed by what it is rather than by its position in a block.
        let mut columns: BTreeMap<ColumnKey, (Encoding, ColumnSummary)> = BTreeMap::new();
        for block in &dir.blocks {
            let fixed = fixed_columns(table, block.model.is_none());
            for (position, chunk) in dir.block_chunks(block).iter().enumerate() {
                let key = match fixed.get(position) {
                    Some(column) => ColumnKey::Fixed(*column),
                    None => ColumnKey::Metric(chunk.column),
                };
                let (encoding, summary) = columns.entry(key).or_insert_with(|| match key {
                    ColumnKey::Fixed(column) => fixed_summary(table, column),
                    ColumnKey::Metric(_) => self.metric_summary(table, chunk),
                });
                summary.add(*encoding, chunk);
            }
        }
        columns.into_values().map(|(_, summary)| summary).collect()
    }

    fn metric_summary(&self, table: Table, chunk: &ChunkRef) -> (Encoding, ColumnSummary) {
        // The footer parser checked that every chunk's column is in the directory.
        let def = self.footer.columns.get(chunk.column as usize);
        let value_type = def.map_or(ValueType::Bytes, |def| def.value_type);
        let summary = ColumnSummary {
            name: def.map(|def| def.name.clone()).unwrap_or_default(),
            metric: true,
            ..empty_summary(table, value_type.name(), value_type.encoding())
        };
        (value_type.encoding(), summary)
    }
}

/// Identity of a column of a table in `Segment::summary`. Fixed columns sort first, in
/// `FixedColumn` order, then metric columns by directory id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ColumnKey {
    Fixed(FixedColumn),
    Metric(u32),
}

impl SegmentSummary {
    fn add_block(&mut self, table: Table, block: &BlockDir) {
        let model = block.model.and_then(|m| self.models.get_mut(m as usize));
        match (table, model) {
            (Table::Predictions, Some(model)) => model.predictions.add(block),
            (Table::Delayed, Some(model)) => model.delayed.add(block),
            (Table::Aggregates, Some(model)) => model.aggregates.add(block),
            _ => {}
        }
        let total = match (table, block.model) {
            (Table::Predictions, _) => &mut self.predictions,
            (Table::Delayed, Some(_)) => &mut self.delayed,
            (Table::Delayed, None) => &mut self.orphans,
            (Table::Aggregates, _) => &mut self.aggregates,
        };
        total.add(block);
    }
}

impl ColumnSummary {
    fn add(&mut self, encoding: Encoding, chunk: &ChunkRef) {
        self.chunks += 1;
        self.zstd_chunks += u64::from(chunk.is_zstd());
        self.stored_bytes += chunk.len;
        self.raw_bytes += chunk.raw_len;
        self.rows_present += u64::from(chunk.present);
        if !encoding.has_mode() {
            return;
        }
        let mode = encoding.mode_name(chunk.mode).unwrap_or("unknown");
        match self.modes.iter_mut().find(|(name, _)| *name == mode) {
            Some((_, count)) => *count += 1,
            None => self.modes.push((mode, 1)),
        }
    }
}

fn fixed_summary(table: Table, column: FixedColumn) -> (Encoding, ColumnSummary) {
    let value_type = match column {
        FixedColumn::Seq | FixedColumn::PredictionSeq => "u64",
        FixedColumn::Uuid => "uuid",
        _ => "i64",
    };
    let summary = ColumnSummary {
        name: column.name().to_owned(),
        ..empty_summary(table, value_type, column.encoding())
    };
    (column.encoding(), summary)
}

fn empty_summary(table: Table, value_type: &'static str, encoding: Encoding) -> ColumnSummary {
    ColumnSummary {
        table: table.name(),
        name: String::new(),
        metric: false,
        value_type,
        encoding: encoding.name(),
        modes: Vec::new(),
        chunks: 0,
        zstd_chunks: 0,
        stored_bytes: 0,
        raw_bytes: 0,
        rows_present: 0,
    }
}
