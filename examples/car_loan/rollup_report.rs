//! Output of `--downsample-reference`: the figures estimated from rollups next to the exact
//! ones, and the store's size before and after compaction.

use std::io::{self, Write};
use std::time::Duration;

use modelmetrics::jobs::calendar::format_timestamp;

use crate::downsample::{Downsampled, FigureEstimate, MonthEstimates};
use crate::report::{json_number, json_string};

const NOT_AVAILABLE: &str = "n/a";

/// Writes the rolled-up months as a table of one line per figure, then the count of exact
/// figures within their bound and the store's size before and after compaction.
pub fn write_text(
    out: &mut impl Write,
    downsampled: &Downsampled,
    predictions: usize,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "rolled up at {} by {} compaction step{} ({:.3} s): the predictions before {}",
        interval_text(downsampled.interval),
        downsampled.compaction_steps,
        if downsampled.compaction_steps == 1 {
            ""
        } else {
            "s"
        },
        downsampled.compaction_seconds,
        format_timestamp(downsampled.raw_cutoff_ms),
    )?;
    writeln!(
        out,
        "estimate ± bound: from the month's rollups; exact: the job's figure before compaction"
    )?;
    writeln!(
        out,
        "KS statistics compare the month's rollups with the rollups of the reference period"
    )?;
    writeln!(
        out,
        "month    rollups  predictions  figure                    exact  estimate     bound     \
         error  within"
    )?;
    for month in &downsampled.months {
        write_month(out, month)?;
    }
    let (checked, within) = downsampled.within_bound();
    writeln!(
        out,
        "exact figures within their bound: {within} of {checked}"
    )?;
    writeln!(out)?;
    for (moment, bytes) in [
        ("before compaction", downsampled.bytes_before),
        ("after compaction", downsampled.bytes_after),
    ] {
        writeln!(
            out,
            "store size {moment:<18} {bytes} bytes, {} bytes per prediction",
            per_prediction(bytes, predictions)
                .map_or_else(|| NOT_AVAILABLE.to_owned(), |b| format!("{b:.1}"))
        )?;
    }
    Ok(())
}

fn write_month(out: &mut impl Write, month: &MonthEstimates) -> io::Result<()> {
    for (i, figure) in month.figures.iter().enumerate() {
        let (name, rollups, predictions) = match i {
            0 => (
                month.name.as_str(),
                month.rollups.to_string(),
                month.predictions.to_string(),
            ),
            _ => ("", String::new(), String::new()),
        };
        writeln!(
            out,
            "{name:<7}  {rollups:>7}  {predictions:>11}  {:<23}  {}",
            figure.name,
            figure_cells(figure)
        )?;
    }
    Ok(())
}

/// Formats the exact figure, the estimate, its bound, the distance between the two and
/// whether the exact figure lies within the bound.
fn figure_cells(figure: &FigureEstimate) -> String {
    let exact = figure
        .exact
        .map_or_else(|| NOT_AVAILABLE.to_owned(), |value| format!("{value:.4}"));
    let Ok(estimate) = figure.estimate else {
        return format!("{exact:>6}  {NOT_AVAILABLE:>8}");
    };
    let error = figure
        .exact
        .map(|exact| format!("{:.4}", (exact - estimate.value).abs()));
    let within = match figure.within_bound() {
        Some(true) => "yes",
        Some(false) => "NO",
        None => NOT_AVAILABLE,
    };
    format!(
        "{exact:>6}  {:>8.4}  ± {:.4}  {:>8}  {within:>6}",
        estimate.value,
        estimate.bound,
        error.as_deref().unwrap_or(NOT_AVAILABLE),
    )
}

/// Formats an interval in the largest unit that divides it: `1h`, `5m` or `30s`.
pub fn interval_text(interval: Duration) -> String {
    let seconds = interval.as_secs();
    match seconds {
        s if s > 0 && s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        s if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn per_prediction(bytes: u64, predictions: usize) -> Option<f64> {
    (predictions > 0).then(|| bytes as f64 / predictions as f64)
}

/// Returns the `"estimates"` key of a month's JSON object, with a leading `, `, or an empty
/// string when the month was not rolled up. Each figure is an object of `estimate` and
/// `bound`, or `null` when the rollups leave it undefined.
pub fn json_month_key(downsampled: Option<&Downsampled>, month: &str) -> String {
    let Some(estimates) = downsampled.and_then(|d| d.months.iter().find(|m| m.name == month))
    else {
        return String::new();
    };
    let mut fields = vec![
        format!("\"rollups\": {}", estimates.rollups),
        format!("\"predictions\": {}", estimates.predictions),
    ];
    for figure in &estimates.figures {
        let value = match figure.estimate {
            Ok(estimate) => format!(
                "{{\"estimate\": {}, \"bound\": {}}}",
                json_number(Some(estimate.value)),
                json_number(Some(estimate.bound))
            ),
            Err(_) => "null".to_owned(),
        };
        fields.push(format!("{}: {value}", json_string(&figure.name)));
    }
    format!(", \"estimates\": {{{}}}", fields.join(", "))
}

/// Returns the `"downsampled"` key of the summary's JSON object, with a leading `, `.
pub fn json_summary_key(downsampled: &Downsampled, predictions: usize) -> String {
    let (checked, within) = downsampled.within_bound();
    format!(
        ", \"downsampled\": {{\"rollup_interval_ms\": {}, \"raw_cutoff_ms\": {}, \
         \"compaction_steps\": {}, \"compaction_seconds\": {}, \
         \"bytes_per_prediction_before_compaction\": {}, \
         \"bytes_per_prediction_after_compaction\": {}, \"figures_checked\": {checked}, \
         \"figures_within_bound\": {within}}}",
        downsampled.interval.as_millis(),
        downsampled.raw_cutoff_ms,
        downsampled.compaction_steps,
        json_number(Some(downsampled.compaction_seconds)),
        json_number(per_prediction(downsampled.bytes_before, predictions)),
        json_number(per_prediction(downsampled.bytes_after, predictions)),
    )
}

#[cfg(test)]
mod tests {
    use modelmetrics::eval::Undefined;
    use modelmetrics::rollup::Estimate;

    use super::*;

    fn downsampled() -> Downsampled {
        Downsampled {
            interval: Duration::from_secs(3_600),
            raw_cutoff_ms: 1_541_030_400_000,
            compaction_steps: 2,
            compaction_seconds: 0.5,
            bytes_before: 400,
            bytes_after: 100,
            months: vec![MonthEstimates {
                name: "2018-01".to_owned(),
                rollups: 744,
                predictions: 5_120,
                figures: vec![
                    FigureEstimate {
                        name: "roc_auc".to_owned(),
                        exact: Some(0.97),
                        estimate: Ok(Estimate {
                            value: 0.9701,
                            bound: 0.0025,
                        }),
                    },
                    FigureEstimate {
                        name: "ks:car_value".to_owned(),
                        exact: Some(0.5),
                        estimate: Ok(Estimate {
                            value: 0.25,
                            bound: 0.125,
                        }),
                    },
                    FigureEstimate {
                        name: "ks:loan_length".to_owned(),
                        exact: None,
                        estimate: Err(Undefined::EmptyWindow),
                    },
                ],
            }],
        }
    }

    fn output(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn interval_text_picks_largest_unit() {
        assert_eq!(interval_text(Duration::from_secs(3_600)), "1h");
        assert_eq!(interval_text(Duration::from_secs(300)), "5m");
        assert_eq!(interval_text(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn text_marks_figures_outside_bound() {
        let text = output(|out| write_text(out, &downsampled(), 4));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[5],
            "2018-01      744         5120  roc_auc                  0.9700    0.9701  ± 0.0025    \
             0.0001     yes"
        );
        assert!(lines[6].ends_with("0.2500      NO"), "{text}");
        assert!(lines[7].ends_with("n/a       n/a"), "{text}");
        assert!(
            text.contains("exact figures within their bound: 1 of 2"),
            "{text}"
        );
        assert!(
            text.contains("after compaction   100 bytes, 25.0 bytes per prediction"),
            "{text}"
        );
    }

    #[test]
    fn json_month_key_only_for_rolled_up_months() {
        let downsampled = downsampled();
        assert_eq!(json_month_key(Some(&downsampled), "2019-01"), "");
        assert_eq!(json_month_key(None, "2018-01"), "");
        let key = json_month_key(Some(&downsampled), "2018-01");
        let expected = ", \"estimates\": {\"rollups\": 744, \"predictions\": 5120, \
            \"roc_auc\": {\"estimate\": 0.9701, \"bound\": 0.0025}, \
            \"ks:car_value\": {\"estimate\": 0.25, \"bound\": 0.125}, \"ks:loan_length\": null}";
        assert_eq!(key, expected);
    }

    #[test]
    fn json_summary_key_counts_bounds() {
        let key = json_summary_key(&downsampled(), 4);
        assert!(key.contains("\"rollup_interval_ms\": 3600000"), "{key}");
        assert!(
            key.contains("\"bytes_per_prediction_before_compaction\": 100"),
            "{key}"
        );
        assert!(
            key.contains("\"bytes_per_prediction_after_compaction\": 25"),
            "{key}"
        );
        assert!(
            key.contains("\"figures_checked\": 2, \"figures_within_bound\": 1"),
            "{key}"
        );
    }
}
