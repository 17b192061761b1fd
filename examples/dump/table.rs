//! Plain-text tables with aligned columns.

use std::io::{self, Write};

/// Alignment of a column: text to the left, numbers to the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table built row by row, then written with each column as wide as its widest cell.
pub struct TextTable {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Row>,
}

enum Row {
    Cells(Vec<String>),
    /// A line of text between rows, which does not widen the columns.
    Note(String),
}

impl TextTable {
    pub fn new(columns: &[(&'static str, Align)]) -> TextTable {
        TextTable {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Missing cells print empty, and cells beyond the header are dropped.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(Row::Cells(row));
    }

    /// Adds a line of text between rows.
    pub fn push_note(&mut self, note: String) {
        self.rows.push(Row::Note(note));
    }

    /// Writes the header and the rows, each line starting with `indent`.
    pub fn write(&self, out: &mut impl Write, indent: &str) -> io::Result<()> {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().filter_map(|row| match row {
                    Row::Cells(cells) => cells.get(i),
                    Row::Note(_) => None,
                });
                let header = self.columns.get(i).map_or(0, |(name, _)| name.len());
                cells
                    .map(|cell| cell.chars().count())
                    .fold(header, usize::max)
            })
            .collect();
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        self.write_line(out, indent, &widths, &header)?;
        for row in &self.rows {
            match row {
                Row::Cells(cells) => self.write_line(out, indent, &widths, cells)?,
                Row::Note(note) => writeln!(out, "{indent}{note}")?,
            }
        }
        Ok(())
    }

    fn write_line(
        &self,
        out: &mut impl Write,
        indent: &str,
        widths: &[usize],
        cells: &[String],
    ) -> io::Result<()> {
        let mut line = String::from(indent);
        for (i, ((_, align), width)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).map_or("", String::as_str);
            if i > 0 {
                line.push_str("  ");
            }
            match align {
                Align::Left => line.push_str(&format!("{cell:<width$}")),
                Align::Right => line.push_str(&format!("{cell:>width$}")),
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_widest_cell() {
        let mut table = TextTable::new(&[("name", Align::Left), ("rows", Align::Right)]);
        table.push(vec!["predictions".to_owned(), "7".to_owned()]);
        table.push(vec!["delayed".to_owned(), "12345".to_owned()]);
        let mut out = Vec::new();
        table.write(&mut out, "  ").unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  name          rows");
        assert_eq!(lines[1], "  predictions      7");
        assert_eq!(lines[2], "  delayed      12345");
    }

    #[test]
    fn notes_do_not_widen_columns() {
        let mut table = TextTable::new(&[("name", Align::Left), ("rows", Align::Right)]);
        table.push(vec!["a".to_owned(), "1".to_owned()]);
        table.push_note("a note much wider than the columns".to_owned());
        let mut out = Vec::new();
        table.write(&mut out, "").unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "a        1");
        assert_eq!(lines[2], "a note much wider than the columns");
    }
}
