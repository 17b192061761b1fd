//! Output of the job on stdout: a table or JSON lines, one row per month, then a summary.

use std::io::{self, Write};

use modelmetrics::{Aggregate, Value};

use crate::calendar::Month;

/// The aggregate metrics of one month as the job stored them.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthRow {
    pub month: Month,
    pub rows: Option<i64>,
    pub labeled: Option<i64>,
    pub roc_auc: Option<f64>,
    pub accuracy: Option<f64>,
}

impl MonthRow {
    pub fn from_aggregate(aggregate: &Aggregate) -> MonthRow {
        let integer = |name| match aggregate.metrics.get(name) {
            Some(Value::I64(value)) => Some(*value),
            _ => None,
        };
        let float = |name| aggregate.metrics.get(name).and_then(Value::as_f64);
        MonthRow {
            month: Month::containing(aggregate.start_ms),
            rows: integer("rows"),
            labeled: integer("labeled"),
            roc_auc: float("roc_auc"),
            accuracy: float("accuracy"),
        }
    }
}

/// Totals and timings of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub predictions: usize,
    /// Size of every file of the store directory after close.
    pub store_bytes: u64,
    /// Seconds spent tracking the predictions and their ground truth, and flushing the store.
    pub ingest_seconds: f64,
    /// Seconds spent scoring every month and tracking the scores.
    pub job_seconds: f64,
}

impl Summary {
    /// Returns `None` for an empty store.
    fn bytes_per_prediction(&self) -> Option<f64> {
        (self.predictions > 0).then(|| self.store_bytes as f64 / self.predictions as f64)
    }
}

const NOT_AVAILABLE: &str = "n/a";

pub fn write_table(out: &mut impl Write, rows: &[MonthRow]) -> io::Result<()> {
    writeln!(
        out,
        "{:<7}  {:>11}  {:>7}  {:>7}  {:>8}",
        "month", "predictions", "labeled", "roc_auc", "accuracy"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<7}  {:>11}  {:>7}  {:>7}  {:>8}",
            row.month.to_string(),
            text_integer(row.rows),
            text_integer(row.labeled),
            text_fraction(row.roc_auc),
            text_fraction(row.accuracy),
        )?;
    }
    Ok(())
}

pub fn write_summary_text(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "predictions:          {}", summary.predictions)?;
    writeln!(out, "store size:           {} bytes", summary.store_bytes)?;
    let per_prediction = summary
        .bytes_per_prediction()
        .map(|bytes| format!("{bytes:.1}"));
    let per_prediction = per_prediction.as_deref().unwrap_or(NOT_AVAILABLE);
    writeln!(out, "bytes per prediction: {per_prediction}")?;
    writeln!(out, "ingest:               {:.3} s", summary.ingest_seconds)?;
    writeln!(out, "monthly job:          {:.3} s", summary.job_seconds)
}

fn text_integer(value: Option<i64>) -> String {
    value.map_or_else(|| NOT_AVAILABLE.to_owned(), |value| value.to_string())
}

fn text_fraction(value: Option<f64>) -> String {
    value.map_or_else(|| NOT_AVAILABLE.to_owned(), |value| format!("{value:.4}"))
}

/// Writes one JSON object per month, one per line.
pub fn write_json_rows(out: &mut impl Write, rows: &[MonthRow]) -> io::Result<()> {
    for row in rows {
        writeln!(
            out,
            "{{\"month\": {}, \"rows\": {}, \"labeled\": {}, \"roc_auc\": {}, \"accuracy\": {}}}",
            json_string(&row.month.to_string()),
            json_integer(row.rows),
            json_integer(row.labeled),
            json_number(row.roc_auc),
            json_number(row.accuracy),
        )?;
    }
    Ok(())
}

pub fn write_summary_json(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "{{\"summary\": {{\"predictions\": {}, \"bytes_per_prediction\": {}, \
         \"ingest_seconds\": {}, \"job_seconds\": {}}}}}",
        summary.predictions,
        json_number(summary.bytes_per_prediction()),
        json_number(Some(summary.ingest_seconds)),
        json_number(Some(summary.job_seconds)),
    )
}

fn json_integer(value: Option<i64>) -> String {
    value.map_or_else(|| "null".to_owned(), |value| value.to_string())
}

/// Formats a float with the shortest text that reads back as the same value. JSON has no NaN
/// or infinity, so those become `null`, as does a missing value.
fn json_number(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => value.to_string(),
        _ => "null".to_owned(),
    }
}

/// Quotes `text` as a JSON string, escaping quotes, backslashes and control characters.
fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if u32::from(c) < 0x20 => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(roc_auc: Option<f64>) -> MonthRow {
        MonthRow {
            month: Month {
                year: 2019,
                month: 4,
            },
            rows: Some(4955),
            labeled: Some(4955),
            roc_auc,
            accuracy: Some(0.5),
        }
    }

    fn output(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_string_escapes_special_characters() {
        assert_eq!(json_string("2019-04"), "\"2019-04\"");
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string("\n\u{1}é"), "\"\\n\\u0001é\"");
    }

    #[test]
    fn json_number_writes_null_when_missing() {
        assert_eq!(json_number(None), "null");
        assert_eq!(json_number(Some(f64::NAN)), "null");
        assert_eq!(json_number(Some(0.1)), "0.1");
        assert_eq!(json_number(Some(1.0)), "1");
    }

    #[test]
    fn json_rows_one_object_per_line() {
        let text = output(|out| write_json_rows(out, &[row(Some(0.9375)), row(None)]));
        let expected = "{\"month\": \"2019-04\", \"rows\": 4955, \"labeled\": 4955, \
            \"roc_auc\": 0.9375, \"accuracy\": 0.5}\n\
            {\"month\": \"2019-04\", \"rows\": 4955, \"labeled\": 4955, \
            \"roc_auc\": null, \"accuracy\": 0.5}\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn table_aligns_columns_and_prints_na() {
        let text = output(|out| write_table(out, &[row(Some(0.93751)), row(None)]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "month    predictions  labeled  roc_auc  accuracy");
        assert_eq!(lines[1], "2019-04         4955     4955   0.9375    0.5000");
        assert_eq!(lines[2], "2019-04         4955     4955      n/a    0.5000");
    }

    #[test]
    fn summary_json_is_one_line() {
        let summary = Summary {
            predictions: 4,
            store_bytes: 10,
            ingest_seconds: 0.5,
            job_seconds: 0.25,
        };
        let text = output(|out| write_summary_json(out, &summary));
        let expected = "{\"summary\": {\"predictions\": 4, \"bytes_per_prediction\": 2.5, \
            \"ingest_seconds\": 0.5, \"job_seconds\": 0.25}}\n";
        assert_eq!(text, expected);
    }
}
