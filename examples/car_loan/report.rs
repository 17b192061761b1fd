//! Output of the job on stdout: a table or JSON lines, one row per month, then a summary.

use std::io::{self, Write};

use crate::args::Thresholds;
use crate::downsample::Downsampled;
use crate::drift::MonthRow;
use crate::rollup_report;

/// Totals and timings of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub predictions: usize,
    /// Predictions in the reference period.
    pub reference_predictions: u64,
    /// The reference period as text.
    pub reference: String,
    /// Size of every file of the store directory after close.
    pub store_bytes: u64,
    /// Seconds spent tracking the predictions and their ground truth, and flushing the store.
    pub ingest_seconds: f64,
    /// Seconds spent preparing the reference, computing every month and storing the figures.
    pub job_seconds: f64,
}

impl Summary {
    /// Returns `None` for an empty store.
    fn bytes_per_prediction(&self) -> Option<f64> {
        (self.predictions > 0).then(|| self.store_bytes as f64 / self.predictions as f64)
    }
}

const NOT_AVAILABLE: &str = "n/a";
/// Width at which the list of flagged figures wraps.
const LINE_WIDTH: usize = 100;
/// Header of the performance columns.
const PERFORMANCE_HEADER: &str = "month    predictions  labeled  roc_auc  accuracy";

/// Writes one line per month: performance, the strongest drift, and the number of drift
/// figures at or above their threshold.
pub fn write_table(
    out: &mut impl Write,
    rows: &[MonthRow],
    thresholds: Thresholds,
) -> io::Result<()> {
    let strongest_width = rows
        .iter()
        .filter_map(|row| row.strongest_drift().map(|(name, _)| name.len()))
        .chain(["strongest_drift".len()])
        .max()
        .unwrap_or_default();
    writeln!(
        out,
        "{PERFORMANCE_HEADER}  {:>9}  {:<strongest_width$}  flagged",
        "max_drift", "strongest_drift"
    )?;
    for row in rows {
        let strongest = row.strongest_drift();
        writeln!(
            out,
            "{:<7}  {:>11}  {:>7}  {:>7}  {:>8}  {:>9}  {:<strongest_width$}  {:>7}",
            row.name,
            text_integer(row.rows),
            text_integer(row.labeled),
            text_fraction(row.roc_auc),
            text_fraction(row.accuracy),
            text_fraction(strongest.map(|(_, value)| value)),
            strongest.map_or(NOT_AVAILABLE, |(name, _)| name),
            row.flagged(thresholds).len(),
        )?;
    }
    Ok(())
}

/// Writes the flagged figures of each month that has some, wrapped at `LINE_WIDTH` columns.
/// Writes nothing when no month has one.
pub fn write_flagged(
    out: &mut impl Write,
    rows: &[MonthRow],
    thresholds: Thresholds,
) -> io::Result<()> {
    let mut heading = true;
    for row in rows {
        let flagged = row.flagged(thresholds);
        if flagged.is_empty() {
            continue;
        }
        if heading {
            writeln!(out, "\nflagged figures")?;
            heading = false;
        }
        let mut line = format!("{:<7}", row.name);
        for (name, value) in flagged {
            let item = format!("  {name} {value:.3}");
            if line.len() + item.len() > LINE_WIDTH && line.trim().len() > 7 {
                writeln!(out, "{line}")?;
                line = " ".repeat(7);
            }
            line.push_str(&item);
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Writes the lines under the table that explain its drift columns.
pub fn write_legend(
    out: &mut impl Write,
    summary: &Summary,
    thresholds: Thresholds,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "drift against the reference {} ({} predictions)",
        summary.reference, summary.reference_predictions
    )?;
    writeln!(
        out,
        "max_drift: the largest KS statistic or Jensen-Shannon distance of the month"
    )?;
    writeln!(
        out,
        "flagged: the figures with KS or Jensen-Shannon at or above {} (--drift-threshold) \
         or PSI at or above {} (--psi-threshold)",
        thresholds.distance, thresholds.psi
    )?;
    writeln!(out, "every figure of every month: --json")
}

pub fn write_summary_text(
    out: &mut impl Write,
    summary: &Summary,
    flagged_months: usize,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "predictions:          {}", summary.predictions)?;
    writeln!(out, "store size:           {} bytes", summary.store_bytes)?;
    let per_prediction = summary
        .bytes_per_prediction()
        .map(|bytes| format!("{bytes:.1}"));
    let per_prediction = per_prediction.as_deref().unwrap_or(NOT_AVAILABLE);
    writeln!(out, "bytes per prediction: {per_prediction}")?;
    writeln!(out, "ingest:               {:.3} s", summary.ingest_seconds)?;
    writeln!(out, "monthly job:          {:.3} s", summary.job_seconds)?;
    writeln!(out, "months flagged:       {flagged_months}")
}

fn text_integer(value: Option<i64>) -> String {
    value.map_or_else(|| NOT_AVAILABLE.to_owned(), |value| value.to_string())
}

fn text_fraction(value: Option<f64>) -> String {
    value.map_or_else(|| NOT_AVAILABLE.to_owned(), |value| format!("{value:.4}"))
}

/// Writes one JSON object per month, one per line: the performance keys, every drift figure
/// under its metric name (`ks:car_value`), the names of the flagged figures and, for a month
/// that `downsampled` rolled up, the figures estimated from its rollups.
pub fn write_json_rows(
    out: &mut impl Write,
    rows: &[MonthRow],
    thresholds: Thresholds,
    downsampled: Option<&Downsampled>,
) -> io::Result<()> {
    for row in rows {
        write!(
            out,
            "{{\"month\": {}, \"rows\": {}, \"labeled\": {}, \"roc_auc\": {}, \"accuracy\": {}",
            json_string(&row.name),
            json_integer(row.rows),
            json_integer(row.labeled),
            json_number(row.roc_auc),
            json_number(row.accuracy),
        )?;
        for (name, value) in &row.drift {
            write!(out, ", {}: {}", json_string(name), json_number(*value))?;
        }
        let flagged: Vec<String> = row
            .flagged(thresholds)
            .iter()
            .map(|(name, _)| json_string(name))
            .collect();
        let estimates = rollup_report::json_month_key(downsampled, &row.name);
        writeln!(out, ", \"flagged\": [{}]{estimates}}}", flagged.join(", "))?;
    }
    Ok(())
}

/// Writes the summary object, with the `downsampled` key when the store was compacted.
pub fn write_summary_json(
    out: &mut impl Write,
    summary: &Summary,
    flagged_months: usize,
    downsampled: Option<&Downsampled>,
) -> io::Result<()> {
    let downsampled = downsampled.map_or_else(String::new, |downsampled| {
        rollup_report::json_summary_key(downsampled, summary.predictions)
    });
    writeln!(
        out,
        "{{\"summary\": {{\"predictions\": {}, \"bytes_per_prediction\": {}, \
         \"ingest_seconds\": {}, \"job_seconds\": {}, \"reference_predictions\": {}, \
         \"flagged_months\": {}{downsampled}}}}}",
        summary.predictions,
        json_number(summary.bytes_per_prediction()),
        json_number(Some(summary.ingest_seconds)),
        json_number(Some(summary.job_seconds)),
        summary.reference_predictions,
        flagged_months,
    )
}

fn json_integer(value: Option<i64>) -> String {
    value.map_or_else(|| "null".to_owned(), |value| value.to_string())
}

/// Formats a float with the shortest text that reads back as the same value. JSON has no NaN
/// or infinity, so those become `null`, as does a missing value.
pub fn json_number(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => value.to_string(),
        _ => "null".to_owned(),
    }
}

/// Quotes `text` as a JSON string, escaping quotes, backslashes and control characters.
pub fn json_string(text: &str) -> String {
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

    const THRESHOLDS: Thresholds = Thresholds {
        distance: 0.1,
        psi: 0.2,
    };

    fn row(roc_auc: Option<f64>) -> MonthRow {
        MonthRow {
            name: "2019-04".to_owned(),
            rows: Some(4955),
            labeled: Some(4955),
            roc_auc,
            accuracy: Some(0.5),
            drift: Vec::new(),
        }
    }

    fn drifting_row() -> MonthRow {
        MonthRow {
            drift: vec![
                ("ks:car_value".to_owned(), Some(0.125)),
                ("wasserstein:car_value".to_owned(), Some(1500.5)),
                ("psi:salary_range".to_owned(), None),
            ],
            ..row(Some(0.9))
        }
    }

    fn summary() -> Summary {
        Summary {
            predictions: 4,
            reference_predictions: 2,
            reference: "[a, b)".to_owned(),
            store_bytes: 10,
            ingest_seconds: 0.5,
            job_seconds: 0.25,
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
        let rows = [row(Some(0.9375)), row(None)];
        let text = output(|out| write_json_rows(out, &rows, THRESHOLDS, None));
        let expected = "{\"month\": \"2019-04\", \"rows\": 4955, \"labeled\": 4955, \
            \"roc_auc\": 0.9375, \"accuracy\": 0.5, \"flagged\": []}\n\
            {\"month\": \"2019-04\", \"rows\": 4955, \"labeled\": 4955, \
            \"roc_auc\": null, \"accuracy\": 0.5, \"flagged\": []}\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_rows_carry_drift_keys() {
        let text = output(|out| write_json_rows(out, &[drifting_row()], THRESHOLDS, None));
        let expected = "{\"month\": \"2019-04\", \"rows\": 4955, \"labeled\": 4955, \
            \"roc_auc\": 0.9, \"accuracy\": 0.5, \"ks:car_value\": 0.125, \
            \"wasserstein:car_value\": 1500.5, \"psi:salary_range\": null, \
            \"flagged\": [\"ks:car_value\"]}\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn table_aligns_columns_and_prints_na() {
        let rows = [row(Some(0.93751)), row(None), drifting_row()];
        let text = output(|out| write_table(out, &rows, THRESHOLDS));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "month    predictions  labeled  roc_auc  accuracy  max_drift  strongest_drift  flagged"
        );
        assert_eq!(
            lines[1],
            "2019-04         4955     4955   0.9375    0.5000        n/a  n/a                    0"
        );
        assert_eq!(
            lines[2],
            "2019-04         4955     4955      n/a    0.5000        n/a  n/a                    0"
        );
        assert_eq!(
            lines[3],
            "2019-04         4955     4955   0.9000    0.5000     0.1250  ks:car_value           1"
        );
    }

    #[test]
    fn flagged_figures_wrap_per_month() {
        let mut drift: Vec<(String, Option<f64>)> = (0..12)
            .map(|i| (format!("jensen_shannon:feature_{i}"), Some(0.5)))
            .collect();
        drift.push(("ks:small".to_owned(), Some(0.01)));
        let rows = [row(None), MonthRow { drift, ..row(None) }];
        let text = output(|out| write_flagged(out, &rows, THRESHOLDS));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[1], "flagged figures");
        assert!(lines[2].starts_with("2019-04  jensen_shannon:feature_0 0.500  "));
        assert!(
            lines[3].starts_with("         jensen_shannon:feature_"),
            "{text}"
        );
        assert!(lines.iter().all(|line| line.len() <= LINE_WIDTH), "{text}");
        assert!(!text.contains("ks:small"));
        assert_eq!(text.matches("jensen_shannon:").count(), 12);
    }

    #[test]
    fn no_flagged_figures_write_nothing() {
        let text = output(|out| write_flagged(out, &[row(Some(0.9))], THRESHOLDS));
        assert_eq!(text, "");
    }

    #[test]
    fn legend_names_thresholds_and_options() {
        let text = output(|out| write_legend(out, &summary(), THRESHOLDS));
        assert!(text.contains("reference [a, b) (2 predictions)"), "{text}");
        assert!(
            text.contains("at or above 0.1 (--drift-threshold)"),
            "{text}"
        );
        assert!(text.contains("at or above 0.2 (--psi-threshold)"), "{text}");
    }

    #[test]
    fn summary_json_is_one_line() {
        let text = output(|out| write_summary_json(out, &summary(), 3, None));
        let expected = "{\"summary\": {\"predictions\": 4, \"bytes_per_prediction\": 2.5, \
            \"ingest_seconds\": 0.5, \"job_seconds\": 0.25, \"reference_predictions\": 2, \
            \"flagged_months\": 3}}\n";
        assert_eq!(text, expected);
    }
}
