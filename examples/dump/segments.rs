//! The segment sections: rows, blocks and time ranges per table and model, and the columns.

use std::io::{self, Write};

use modelmetrics::segment::{
    ColumnSummary, RowsSummary, Segment, SegmentSummary, segment_file_name,
};

use crate::report::{Dump, ratio};
use crate::table::{Align, TextTable};
use crate::time;

/// Prints each segment of `ids`, and with `--verify` decodes every block of each.
pub fn dump_segments(dump: &mut Dump<impl Write>, ids: &[u64]) -> io::Result<()> {
    writeln!(dump.out, "\nsegments: {}", ids.len())?;
    for &id in ids {
        dump_segment(dump, id)?;
    }
    Ok(())
}

fn dump_segment(dump: &mut Dump<impl Write>, id: u64) -> io::Result<()> {
    let name = segment_file_name(id);
    writeln!(dump.out, "\nsegment {id}: {name}")?;
    if !dump.was_listed(&name) {
        return dump.missing(&name);
    }
    let segment = match Segment::open(&dump.dir, id) {
        Ok(segment) => segment,
        Err(error) => return dump.file_error(&name, &error),
    };
    let summary = segment.summary();
    write_overview(&mut dump.out, &segment, &summary)?;
    write_tables(&mut dump.out, &summary)?;
    write_models(&mut dump.out, &summary)?;
    write_columns(&mut dump.out, &summary)?;
    dump.totals.segment_predictions += summary.predictions.rows;
    if summary.orphans.rows > 0 {
        match segment.orphans() {
            Ok(orphans) => {
                let uuids = orphans.iter().map(|o| (o.record.uuid, false));
                dump.totals.orphans.extend(uuids);
            }
            Err(error) => dump.file_error(&name, &error)?,
        }
    }
    if dump.verify {
        dump.totals.segments_checked += 1;
        match segment.verify() {
            Ok(()) => writeln!(dump.out, "  verify: OK, every block decoded")?,
            Err(error) => dump.file_error(&name, &error)?,
        }
    }
    Ok(())
}

fn write_overview(
    out: &mut impl Write,
    segment: &Segment,
    summary: &SegmentSummary,
) -> io::Result<()> {
    let data = segment.footer_offset();
    writeln!(
        out,
        "  {} bytes: {data} of column chunks, {} of footer and trailer; format version {}",
        summary.file_bytes,
        summary.file_bytes.saturating_sub(data),
        summary.format_version
    )?;
    writeln!(out, "  time range: {}", time::range(summary.time_range))
}

fn write_tables(out: &mut impl Write, summary: &SegmentSummary) -> io::Result<()> {
    let mut table = rows_table("table");
    let tables = [
        ("predictions", &summary.predictions),
        ("delayed", &summary.delayed),
        ("orphans", &summary.orphans),
        ("aggregates", &summary.aggregates),
    ];
    for (name, rows) in tables {
        table.push(rows_cells(&[name], rows));
    }
    table.write(out, "  ")
}

fn write_models(out: &mut impl Write, summary: &SegmentSummary) -> io::Result<()> {
    writeln!(out, "  models: {}", summary.models.len())?;
    if summary.models.is_empty() {
        return Ok(());
    }
    let mut table = TextTable::new(&[
        ("model", Align::Left),
        ("table", Align::Left),
        ("rows", Align::Right),
        ("blocks", Align::Right),
        ("time range", Align::Left),
    ]);
    for model in &summary.models {
        let tables = [
            ("predictions", &model.predictions),
            ("delayed", &model.delayed),
            ("aggregates", &model.aggregates),
        ];
        for (name, rows) in tables.into_iter().filter(|(_, rows)| rows.rows > 0) {
            table.push(rows_cells(&[&model.model, name], rows));
        }
    }
    table.write(out, "    ")
}

fn rows_table(first: &'static str) -> TextTable {
    TextTable::new(&[
        (first, Align::Left),
        ("rows", Align::Right),
        ("blocks", Align::Right),
        ("time range", Align::Left),
    ])
}

fn rows_cells(names: &[&str], rows: &RowsSummary) -> Vec<String> {
    let mut cells: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    cells.push(rows.rows.to_string());
    cells.push(rows.blocks.to_string());
    cells.push(time::range(rows.time_range));
    cells
}

fn write_columns(out: &mut impl Write, summary: &SegmentSummary) -> io::Result<()> {
    writeln!(
        out,
        "  columns: {} ([name] is a fixed column, other names are metrics)",
        summary.columns.len()
    )?;
    let mut table = TextTable::new(&[
        ("table", Align::Left),
        ("column", Align::Left),
        ("type", Align::Left),
        ("encoding", Align::Left),
        ("modes", Align::Left),
        ("chunks", Align::Right),
        ("zstd", Align::Right),
        ("stored bytes", Align::Right),
        ("raw bytes", Align::Right),
        ("bytes/row", Align::Right),
        ("rows present", Align::Right),
    ]);
    for column in &summary.columns {
        table.push(column_cells(column, table_rows(summary, column.table)));
    }
    table.write(out, "    ")
}

fn column_cells(column: &ColumnSummary, table_rows: u64) -> Vec<String> {
    let name = match column.metric {
        true => column.name.clone(),
        false => format!("[{}]", column.name),
    };
    let modes: Vec<String> = column
        .modes
        .iter()
        .map(|(mode, chunks)| format!("{mode} {chunks}"))
        .collect();
    vec![
        column.table.to_owned(),
        name,
        column.value_type.to_owned(),
        column.encoding.to_owned(),
        if modes.is_empty() {
            "-".to_owned()
        } else {
            modes.join(", ")
        },
        column.chunks.to_string(),
        column.zstd_chunks.to_string(),
        column.stored_bytes.to_string(),
        column.raw_bytes.to_string(),
        ratio(column.stored_bytes, table_rows),
        column.rows_present.to_string(),
    ]
}

/// Returns the rows of the table that `ColumnSummary::table` names; the delayed table contains
/// the orphans too.
fn table_rows(summary: &SegmentSummary, table: &str) -> u64 {
    match table {
        "predictions" => summary.predictions.rows,
        "delayed" => summary.delayed.rows + summary.orphans.rows,
        "aggregates" => summary.aggregates.rows,
        _ => 0,
    }
}
