//! The figures of a run and the summary of several runs.

use super::*;

pub(crate) fn figures(run: &CatchUp, stages: &Staged, predictions: f64) -> Vec<(String, f64)> {
    let mut rows = writer_figures(run);
    rows.extend(step_figures(stages));
    rows.extend(size_figures(run, stages, predictions));
    rows
}

pub(crate) fn writer_figures(run: &CatchUp) -> Vec<(String, f64)> {
    let compacting = &run.compaction.latencies;
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
        let (alone, during) = (run.alone.quantile_us(q), compacting.quantile_us(q));
        rows.push((format!("writer {name} alone, µs"), alone));
        rows.push((format!("writer {name} during compaction, µs"), during));
        rows.push((format!("writer {name} during / alone"), during / alone));
        let after = run.alone_after.quantile_us(q);
        rows.push((format!("writer {name} alone after compaction, µs"), after));
    }
    let calls = |latencies: &Latencies| latencies.sorted.len() as f64;
    rows.push(("writer calls alone".into(), calls(&run.alone)));
    rows.push(("writer calls during compaction".into(), calls(compacting)));
    let slow = |latencies: &Latencies| latencies.slow_calls() as f64;
    rows.push(("calls > 1 ms alone".into(), slow(&run.alone)));
    rows.push(("calls > 1 ms during compaction".into(), slow(compacting)));
    rows.push((
        "calls > 1 ms alone after compaction".into(),
        slow(&run.alone_after),
    ));
    rows.push(("catch-up compaction, s".into(), run.compaction.seconds));
    rows.push((
        "catch-up compaction steps".into(),
        f64::from(run.compaction.steps),
    ));
    rows.push(("index runs before catch-up".into(), run.index_runs.0 as f64));
    rows.push(("index runs after catch-up".into(), run.index_runs.1 as f64));
    rows
}

pub(crate) fn step_figures(stages: &Staged) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = Vec::new();
    let kinds = [
        ("merge", stages.merge),
        ("roll-up", stages.roll_up),
        ("coarsen", stages.coarsen),
    ];
    for (kind, step) in kinds {
        rows.push((format!("{kind}: steps"), f64::from(step.steps)));
        rows.push((format!("{kind}: s"), step.seconds));
        rows.push((format!("{kind}: records read/s"), step.read_per_second()));
        rows.push((
            format!("{kind}: records written/s"),
            step.written_per_second(),
        ));
    }
    rows
}

pub(crate) fn size_figures(run: &CatchUp, stages: &Staged, predictions: f64) -> Vec<(String, f64)> {
    let per = |bytes: u64, count: f64| bytes as f64 / count;
    let megabytes = |bytes: &DiskBytes| total(bytes) as f64 / 1e6;
    let rolled = stages.rolled_up as f64;
    vec![
        ("MB on disk before catch-up".into(), megabytes(&run.before)),
        ("MB on disk after catch-up".into(), megabytes(&run.after)),
        (
            "segment B/prediction, small segments".into(),
            per(run.before.segments, predictions),
        ),
        (
            "index B/prediction, small segments".into(),
            per(run.before.index, predictions),
        ),
        (
            "segment B/prediction, merged".into(),
            per(stages.merged.segments, predictions),
        ),
        (
            "index B/prediction, merged".into(),
            per(stages.merged.index, predictions),
        ),
        ("predictions rolled up".into(), rolled),
        (
            "rollup B/prediction, 5-minute".into(),
            per(stages.rolled_up_bytes.rollups, rolled),
        ),
        (
            "rollup B/prediction, coarsened".into(),
            per(stages.coarsened.rollups, rolled),
        ),
    ]
}

pub(crate) fn total(bytes: &DiskBytes) -> u64 {
    bytes.segments + bytes.index + bytes.rollups
}

/// Prints one row per figure: each run, then the median and the spread (max - min) / median.
pub(crate) fn print_summary(runs: &[Vec<(String, f64)>]) {
    let Some(first) = runs.first() else {
        return;
    };
    let run_columns: String = (1..=runs.len()).map(|i| format!(" run {i} |")).collect();
    println!("| figure |{run_columns} median | spread |");
    println!("|---|{}---:|---:|", "---:|".repeat(runs.len()));
    for (row, (name, _)) in first.iter().enumerate() {
        let mut values: Vec<f64> = runs
            .iter()
            .filter_map(|run| run.get(row))
            .map(|r| r.1)
            .collect();
        let cells: String = values
            .iter()
            .map(|v| format!(" {} |", format_value(*v)))
            .collect();
        values.sort_by(f64::total_cmp);
        let median = values.get(values.len() / 2).copied().unwrap_or(f64::NAN);
        let spread = values
            .last()
            .zip(values.first())
            .map_or(f64::NAN, |(hi, lo)| hi - lo);
        let spread_percent = 100.0 * spread / median;
        println!(
            "| {name} |{cells} {} | {spread_percent:.0} % |",
            format_value(median)
        );
    }
}

pub(crate) fn format_value(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
