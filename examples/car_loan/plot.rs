//! The SVG chart of `--plot`: ROC AUC and the strongest drift per month on one axis from 0 to
//! 1, the drift threshold, and a band behind each flagged month. Written by hand, without a
//! plotting crate.

use std::io::{self, Write};

use crate::args::Thresholds;
use crate::drift::MonthRow;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 500.0;
/// The plot area, in SVG user units from the top left corner.
const LEFT: f64 = 80.0;
const RIGHT: f64 = 750.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 400.0;
/// Horizontal grid lines and y-axis labels, every tenth.
const Y_TICKS: u32 = 10;
/// Maximum number of month labels on the x axis. With more months, every n-th month gets one.
const MAX_X_LABELS: usize = 36;

const AUC_COLOR: &str = "#1f77b4";
const DRIFT_COLOR: &str = "#ff7f0e";
const THRESHOLD_COLOR: &str = "#d62728";
const FLAG_COLOR: &str = "#fde0dd";

/// Writes the chart of `rows` as a standalone SVG document, with `subtitle` under the title.
pub fn write_svg(
    out: &mut impl Write,
    rows: &[MonthRow],
    thresholds: Thresholds,
    subtitle: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">"
    )?;
    writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")?;
    write_flag_bands(out, rows, thresholds)?;
    write_axes(out, rows)?;
    write_titles(out, subtitle)?;
    write_threshold(out, thresholds.distance)?;

    let auc: Vec<Option<(String, f64)>> = rows
        .iter()
        .map(|row| Some((format!("{} roc_auc", row.name), row.roc_auc?)))
        .collect();
    write_series(out, &auc, AUC_COLOR, Marker::Circle)?;

    let drift: Vec<Option<(String, f64)>> = rows
        .iter()
        .map(|row| {
            let (name, value) = row.strongest_drift()?;
            Some((format!("{} {name}", row.name), value))
        })
        .collect();
    write_series(out, &drift, DRIFT_COLOR, Marker::Square)?;

    write_legend(out, thresholds.distance)?;
    writeln!(out, "</svg>")
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
}

/// Returns the x of the centre of month `index` of `count`.
fn x_of(index: usize, count: usize) -> f64 {
    LEFT + (index as f64 + 0.5) * (RIGHT - LEFT) / count.max(1) as f64
}

/// Returns the y of `value`, clamped to [0, 1].
fn y_of(value: f64) -> f64 {
    BOTTOM - value.clamp(0.0, 1.0) * (BOTTOM - TOP)
}

fn write_flag_bands(
    out: &mut impl Write,
    rows: &[MonthRow],
    thresholds: Thresholds,
) -> io::Result<()> {
    let band = (RIGHT - LEFT) / rows.len().max(1) as f64;
    for (index, row) in rows.iter().enumerate() {
        let flagged = row.flagged(thresholds);
        if flagged.is_empty() {
            continue;
        }
        let names: Vec<&str> = flagged.iter().map(|(name, _)| *name).collect();
        writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{band:.1}\" height=\"{}\" \
             fill=\"{FLAG_COLOR}\" shape-rendering=\"crispEdges\">\
             <title>{} flagged: {}</title></rect>",
            x_of(index, rows.len()) - band / 2.0,
            BOTTOM - TOP,
            escape(&row.name),
            escape(&names.join(", "))
        )?;
    }
    Ok(())
}

fn write_axes(out: &mut impl Write, rows: &[MonthRow]) -> io::Result<()> {
    for tick in 0..=Y_TICKS {
        let value = f64::from(tick) / f64::from(Y_TICKS);
        let y = y_of(value);
        writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{RIGHT}\" y2=\"{y:.1}\" stroke=\"#dddddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.1}</text>",
            LEFT - 8.0,
            y + 4.0
        )?;
    }
    writeln!(
        out,
        "<polyline points=\"{LEFT},{TOP} {LEFT},{BOTTOM} {RIGHT},{BOTTOM}\" fill=\"none\" \
         stroke=\"black\"/>"
    )?;
    let step = rows.len().div_ceil(MAX_X_LABELS).max(1);
    for (index, row) in rows.iter().enumerate().step_by(step) {
        let x = x_of(index, rows.len());
        writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{BOTTOM}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"end\" \
             transform=\"rotate(-45 {x:.1} {})\">{}</text>",
            BOTTOM + 5.0,
            BOTTOM + 18.0,
            BOTTOM + 18.0,
            escape(&row.name)
        )?;
    }
    Ok(())
}

/// Writes the title, `subtitle` under it, and the labels of both axes.
fn write_titles(out: &mut impl Write, subtitle: &str) -> io::Result<()> {
    let center_x = (LEFT + RIGHT) / 2.0;
    let middle_y = (TOP + BOTTOM) / 2.0;
    writeln!(
        out,
        "<text x=\"{center_x}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">\
         car_loan: ROC AUC and strongest drift per month</text>\n\
         <text x=\"{center_x}\" y=\"50\" text-anchor=\"middle\" fill=\"#555555\">{}</text>\n\
         <text x=\"{center_x}\" y=\"{}\" text-anchor=\"middle\">month (UTC)</text>\n\
         <text x=\"22\" y=\"{middle_y}\" text-anchor=\"middle\" \
         transform=\"rotate(-90 22 {middle_y})\">ROC AUC, KS statistic or Jensen-Shannon distance\
         </text>",
        escape(subtitle),
        HEIGHT - 20.0
    )
}

fn write_threshold(out: &mut impl Write, threshold: f64) -> io::Result<()> {
    let y = y_of(threshold);
    writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{RIGHT}\" y2=\"{y:.1}\" \
         stroke=\"{THRESHOLD_COLOR}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
    )
}

/// Draws a line through the months that have a value, broken where one has none, with a
/// marker at each value and its tooltip text before the value.
fn write_series(
    out: &mut impl Write,
    values: &[Option<(String, f64)>],
    color: &str,
    marker: Marker,
) -> io::Result<()> {
    let points: Vec<Option<(f64, f64)>> = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let (_, value) = value.as_ref()?;
            Some((x_of(index, values.len()), y_of(*value)))
        })
        .collect();
    for run in points.split(Option::is_none).filter(|run| run.len() > 1) {
        let coordinates: Vec<String> = run
            .iter()
            .flatten()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            coordinates.join(" ")
        )?;
    }
    for (value, point) in values.iter().zip(&points) {
        let (Some((tooltip, value)), Some((x, y))) = (value, point) else {
            continue;
        };
        let shape = match marker {
            Marker::Circle => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\""),
            Marker::Square => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\"",
                x - 3.5,
                y - 3.5
            ),
        };
        writeln!(
            out,
            "{shape} fill=\"{color}\"><title>{} {value:.4}</title>{}",
            escape(tooltip),
            match marker {
                Marker::Circle => "</circle>",
                Marker::Square => "</rect>",
            }
        )?;
    }
    Ok(())
}

fn write_legend(out: &mut impl Write, threshold: f64) -> io::Result<()> {
    let x = RIGHT + 20.0;
    let entries = [
        format!(
            "<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"{AUC_COLOR}\" stroke-width=\"2\"/>\
             <circle cx=\"12\" cy=\"0\" r=\"3.5\" fill=\"{AUC_COLOR}\"/>"
        ),
        format!(
            "<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"{DRIFT_COLOR}\" \
             stroke-width=\"2\"/>\
             <rect x=\"8.5\" y=\"-3.5\" width=\"7\" height=\"7\" fill=\"{DRIFT_COLOR}\"/>"
        ),
        format!(
            "<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"{THRESHOLD_COLOR}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
        ),
        format!("<rect x=\"0\" y=\"-7\" width=\"24\" height=\"14\" fill=\"{FLAG_COLOR}\"/>"),
    ];
    let labels = [
        "ROC AUC".to_owned(),
        "strongest drift (KS or JS)".to_owned(),
        format!("drift threshold ({threshold})"),
        "month flagged".to_owned(),
    ];
    for (index, (entry, label)) in entries.iter().zip(labels).enumerate() {
        let y = TOP + 10.0 + 24.0 * index as f64;
        writeln!(
            out,
            "<g transform=\"translate({x} {y})\">{entry}<text x=\"32\" y=\"4\">{}</text></g>",
            escape(&label)
        )?;
    }
    Ok(())
}

/// Escapes the characters that XML text and attribute values reserve.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, roc_auc: Option<f64>, ks: Option<f64>) -> MonthRow {
        MonthRow {
            name: name.to_owned(),
            rows: Some(1),
            labeled: Some(1),
            roc_auc,
            accuracy: None,
            drift: vec![("ks:x".to_owned(), ks)],
        }
    }

    fn svg(rows: &[MonthRow]) -> String {
        let thresholds = Thresholds {
            distance: 0.1,
            psi: 0.2,
        };
        let mut out = Vec::new();
        write_svg(&mut out, rows, thresholds, "against <ref>").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn chart_is_one_svg_document() {
        let text = svg(&[row("2019-01", Some(0.9), Some(0.05))]);
        assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(text.trim_end().ends_with("</svg>"));
        assert!(text.contains(">2019-01</text>"));
        assert!(text.contains("ROC AUC"));
        assert!(text.contains("drift threshold (0.1)"));
        assert!(text.contains(">against &lt;ref&gt;</text>"));
    }

    #[test]
    fn missing_value_breaks_the_line() {
        let rows = [
            row("a", Some(0.9), Some(0.01)),
            row("b", Some(0.8), None),
            row("c", None, Some(0.02)),
            row("d", Some(0.7), Some(0.03)),
        ];
        let text = svg(&rows);
        // ROC AUC: a-b joined, d alone. Drift: a alone, c-d joined.
        assert_eq!(
            text.matches(&format!("stroke=\"{AUC_COLOR}\" stroke-width=\"2\"/>"))
                .count(),
            2
        );
        assert_eq!(text.matches("<polyline points=").count(), 3);
    }

    #[test]
    fn flagged_month_gets_a_band() {
        let text = svg(&[
            row("a", Some(0.9), Some(0.5)),
            row("b", Some(0.9), Some(0.01)),
        ]);
        assert_eq!(text.matches("flagged: ks:x</title>").count(), 1);
    }

    #[test]
    fn values_map_into_plot_area() {
        assert_eq!(y_of(0.0), BOTTOM);
        assert_eq!(y_of(1.0), TOP);
        assert_eq!(y_of(7.0), TOP);
        assert_eq!(x_of(0, 2), LEFT + (RIGHT - LEFT) / 4.0);
    }

    #[test]
    fn escape_replaces_reserved_characters() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
