//! Figures of a run, the markdown table with ratios and targets, and the median of several runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::measure::{BenchResult, Latency};

pub const INGEST: &str = "w1_ingest_per_s";
pub const INGEST_CLOSED: &str = "w1_ingest_closed_per_s";
pub const SINGLE_DEFAULT: &str = "w1b_default";
pub const SINGLE_DURABLE: &str = "w1b_durable";
pub const WRITE_FDATASYNC: &str = "write_fdatasync";
pub const OVERWRITE_FDATASYNC: &str = "overwrite_fdatasync";
pub const DURABLE_1: &str = "durable_1_thread_per_s";
pub const DURABLE_16: &str = "durable_16_threads_per_s";
pub const DURABLE_SCALING: &str = "durable_scaling";
pub const DELAYED: &str = "w2_delayed_per_s";
pub const READ_HOUR: &str = "w3_hour_rows_per_s";
pub const READ_DAY: &str = "w3_day_rows_per_s";
pub const READ_HOUR_VISITED: &str = "w3_hour_visited_per_s";
pub const READ_DAY_VISITED: &str = "w3_day_visited_per_s";
pub const READ_HOUR_SELECTED: &str = "w3_hour_selected_per_s";
pub const READ_DAY_SELECTED: &str = "w3_day_selected_per_s";
pub const READ_HOUR_SCORES: &str = "w3_hour_scores_per_s";
pub const READ_DAY_SCORES: &str = "w3_day_scores_per_s";
pub const AGGREGATE_READS: &str = "w4_reads_per_s";
pub const BYTES_W1: &str = "bytes_per_prediction_w1";
pub const BYTES_W1_W2: &str = "bytes_per_prediction_w1_w2";
pub const BYTES_CAR_LOAN: &str = "bytes_per_prediction_car_loan";

/// Figures of one store (or of the baseline) by key.
#[derive(Clone, Debug, Default)]
pub struct Figures(BTreeMap<String, f64>);

impl Figures {
    pub fn set(&mut self, key: &str, value: f64) {
        self.0.insert(key.to_owned(), value);
    }

    pub fn set_latency(&mut self, key: &str, latency: Latency) {
        self.set(&format!("{key}_p50_us"), latency.p50_us);
        self.set(&format!("{key}_p99_us"), latency.p99_us);
        self.set(&format!("{key}_p999_us"), latency.p999_us);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).copied()
    }
}

/// The figures of both stores and of the `write()` + `fdatasync()` baseline.
#[derive(Clone, Debug, Default)]
pub struct Results {
    pub ours: Figures,
    pub sqlite: Figures,
    pub baseline: Figures,
}

const STORES: [&str; 3] = ["modelmetrics", "sqlite", "baseline"];

impl Results {
    fn store(&self, name: &str) -> Option<&Figures> {
        match name {
            "modelmetrics" => Some(&self.ours),
            "sqlite" => Some(&self.sqlite),
            "baseline" => Some(&self.baseline),
            _ => None,
        }
    }

    fn store_mut(&mut self, name: &str) -> Option<&mut Figures> {
        match name {
            "modelmetrics" => Some(&mut self.ours),
            "sqlite" => Some(&mut self.sqlite),
            "baseline" => Some(&mut self.baseline),
            _ => None,
        }
    }

    /// Writes the figures as `store,key,value` lines.
    pub fn write_csv(&self, path: &Path) -> BenchResult<()> {
        let mut text = String::from("store,key,value\n");
        for name in STORES {
            for (key, value) in self.store(name).map(|f| &f.0).into_iter().flatten() {
                writeln!(text, "{name},{key},{value}")?;
            }
        }
        fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()).into())
    }

    fn read_csv(path: &Path) -> BenchResult<Results> {
        let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let mut results = Results::default();
        for line in text.lines().skip(1) {
            let mut fields = line.split(',');
            let (Some(store), Some(key), Some(value)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("{}: invalid line {line:?}", path.display()).into());
            };
            let figures = results
                .store_mut(store)
                .ok_or_else(|| format!("{}: unknown store {store:?}", path.display()))?;
            figures.set(key, value.parse()?);
        }
        Ok(results)
    }
}

/// Whether a larger or a smaller value is better, and how to print it.
#[derive(Clone, Copy)]
enum Unit {
    PerSecond,
    Micros,
    Bytes,
    Factor,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSecond | Unit::Factor)
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::PerSecond => thousands(value),
            Unit::Micros => significant(value),
            Unit::Bytes => format!("{value:.1}"),
            Unit::Factor => format!("{}×", significant(value)),
        }
    }
}

/// The target of a figure, checked on the modelmetrics value.
#[derive(Clone, Copy)]
enum Target {
    None,
    /// modelmetrics is at least this many times better than SQLite.
    RatioAtLeast(f64),
    /// The modelmetrics value is below this.
    Below(f64),
    /// The modelmetrics value is at most this value.
    AtMost(f64),
    /// The modelmetrics value is at least this value.
    AtLeast(f64),
    /// The modelmetrics value is at most this factor times the baseline's value of the key.
    WithinBaseline(f64, &'static str),
}

/// Source of a line's values: both stores, or the baseline alone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Stores,
    Baseline,
}

struct Line {
    label: &'static str,
    key: &'static str,
    unit: Unit,
    source: Source,
    target: Target,
}

const fn line(label: &'static str, key: &'static str, unit: Unit, target: Target) -> Line {
    Line {
        label,
        key,
        unit,
        source: Source::Stores,
        target,
    }
}

const fn baseline(label: &'static str, key: &'static str) -> Line {
    Line {
        label,
        key,
        unit: Unit::Micros,
        source: Source::Baseline,
        target: Target::None,
    }
}

const LINES: &[Line] = &[
    line(
        "W1 ingest, predictions/s",
        INGEST,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W1 ingest and close, predictions/s",
        INGEST_CLOSED,
        Unit::PerSecond,
        Target::None,
    ),
    line(
        "W1b default, p50 µs",
        "w1b_default_p50_us",
        Unit::Micros,
        Target::Below(1.0),
    ),
    line(
        "W1b default, p99 µs",
        "w1b_default_p99_us",
        Unit::Micros,
        Target::Below(5.0),
    ),
    line(
        "W1b default, p99.9 µs",
        "w1b_default_p999_us",
        Unit::Micros,
        Target::None,
    ),
    line(
        "W1b durable, p50 µs",
        "w1b_durable_p50_us",
        Unit::Micros,
        Target::WithinBaseline(1.2, "write_fdatasync_p50_us"),
    ),
    line(
        "W1b durable, p99 µs",
        "w1b_durable_p99_us",
        Unit::Micros,
        Target::None,
    ),
    line(
        "W1b durable, p99.9 µs",
        "w1b_durable_p999_us",
        Unit::Micros,
        Target::None,
    ),
    baseline("write+fdatasync 100 B, p50 µs", "write_fdatasync_p50_us"),
    baseline("write+fdatasync 100 B, p99 µs", "write_fdatasync_p99_us"),
    baseline(
        "overwrite+fdatasync 100 B, p50 µs",
        "overwrite_fdatasync_p50_us",
    ),
    baseline(
        "overwrite+fdatasync 100 B, p99 µs",
        "overwrite_fdatasync_p99_us",
    ),
    line(
        "durable, 1 thread, calls/s",
        DURABLE_1,
        Unit::PerSecond,
        Target::None,
    ),
    line(
        "durable, 16 threads, calls/s",
        DURABLE_16,
        Unit::PerSecond,
        Target::None,
    ),
    line(
        "durable, 16 threads / 1 thread",
        DURABLE_SCALING,
        Unit::Factor,
        Target::AtLeast(8.0),
    ),
    line(
        "W2 delayed, records/s",
        DELAYED,
        Unit::PerSecond,
        Target::RatioAtLeast(10.0),
    ),
    line(
        "W3 1-hour window, rows/s",
        READ_HOUR,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 last day, rows/s",
        READ_DAY,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 1-hour window, rows visited, rows/s",
        READ_HOUR_VISITED,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 last day, rows visited, rows/s",
        READ_DAY_VISITED,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 1-hour window, score and label rows visited, rows/s",
        READ_HOUR_SELECTED,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 last day, score and label rows visited, rows/s",
        READ_DAY_SELECTED,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 1-hour window, score and label columns, rows/s",
        READ_HOUR_SCORES,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W3 last day, score and label columns, rows/s",
        READ_DAY_SCORES,
        Unit::PerSecond,
        Target::RatioAtLeast(30.0),
    ),
    line(
        "W4 aggregate reads/s",
        AGGREGATE_READS,
        Unit::PerSecond,
        Target::RatioAtLeast(1.0),
    ),
    line(
        "bytes/prediction, W1",
        BYTES_W1,
        Unit::Bytes,
        Target::AtMost(36.0),
    ),
    line(
        "bytes/prediction, W1+W2",
        BYTES_W1_W2,
        Unit::Bytes,
        Target::None,
    ),
    line(
        "bytes/prediction, car loan",
        BYTES_CAR_LOAN,
        Unit::Bytes,
        Target::AtMost(40.0),
    ),
];

/// Returns how many times better modelmetrics is than SQLite: above 1 when it is better.
fn ratio(unit: Unit, ours: f64, sqlite: f64) -> f64 {
    if unit.higher_is_better() {
        ours / sqlite
    } else {
        sqlite / ours
    }
}

/// Returns the target's text and whether modelmetrics meets it.
fn check(
    target: Target,
    ours: f64,
    ratio: Option<f64>,
    results: &Results,
) -> (String, Option<bool>) {
    match target {
        Target::None => (String::new(), None),
        Target::RatioAtLeast(min) => (format!("≥ {min}×"), ratio.map(|r| r >= min)),
        Target::Below(max) => (format!("< {max} µs"), Some(ours < max)),
        Target::AtMost(max) => (format!("≤ {max}"), Some(ours <= max)),
        Target::AtLeast(min) => (format!("≥ {min}×"), Some(ours >= min)),
        Target::WithinBaseline(factor, key) => match results.baseline.get(key) {
            Some(base) => (
                format!(
                    "≤ {factor} × write+fdatasync = {}",
                    significant(factor * base)
                ),
                Some(ours <= factor * base),
            ),
            None => (format!("≤ {factor} × write+fdatasync"), None),
        },
    }
}

/// Returns the markdown table: figure | modelmetrics | SQLite | ratio | target | met.
pub fn table(results: &Results) -> String {
    let mut text = String::from(
        "| figure | modelmetrics | SQLite | ratio | target | met |\n\
         |---|---:|---:|---:|---|---|\n",
    );
    for line in LINES {
        let (ours, sqlite) = match line.source {
            Source::Stores => (results.ours.get(line.key), results.sqlite.get(line.key)),
            Source::Baseline => (results.baseline.get(line.key), None),
        };
        let Some(ours) = ours else {
            continue;
        };
        let ratio = sqlite.map(|s| ratio(line.unit, ours, s));
        let (target, met) = check(line.target, ours, ratio, results);
        let show = |v: Option<f64>| v.map_or("—".to_owned(), |v| line.unit.format(v));
        let met = match met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "",
        };
        let ratio_text = match (line.unit, ratio) {
            (Unit::Factor, _) | (_, None) => "—".to_owned(),
            (_, Some(r)) => format!("{}×", significant(r)),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {ratio_text} | {target} | {met} |",
            line.label,
            show(Some(ours)),
            show(sqlite),
        );
    }
    text
}

/// Returns the table of min–max per figure over several runs.
fn spread_table(runs: &[Results]) -> String {
    let mut text =
        String::from("| figure | modelmetrics min–max | SQLite min–max |\n|---|---:|---:|\n");
    for line in LINES {
        let range = |pick: fn(&Results) -> &Figures| {
            let values: Vec<f64> = runs.iter().filter_map(|r| pick(r).get(line.key)).collect();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if values.is_empty() {
                "—".to_owned()
            } else {
                format!("{} – {}", line.unit.format(min), line.unit.format(max))
            }
        };
        let (ours, sqlite) = match line.source {
            Source::Stores => (range(|r| &r.ours), range(|r| &r.sqlite)),
            Source::Baseline => (range(|r| &r.baseline), "—".to_owned()),
        };
        let _ = writeln!(text, "| {} | {ours} | {sqlite} |", line.label);
    }
    text
}

/// Returns the per-key median of each store's figures over `runs`.
fn median(runs: &[Results]) -> Results {
    let mut out = Results::default();
    for name in STORES {
        let mut keys: Vec<&String> = runs
            .iter()
            .filter_map(|r| r.store(name))
            .flat_map(|f| f.0.keys())
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.store(name)?.get(key))
                .collect();
            values.sort_by(f64::total_cmp);
            let middle = values.len() / 2;
            let value = if values.len() % 2 == 1 {
                values[middle]
            } else {
                (values[middle - 1] + values[middle]) / 2.0
            };
            if let Some(figures) = out.store_mut(name) {
                figures.set(key, value);
            }
        }
    }
    out
}

/// Prints the table of medians and the spread table of the runs saved in `files`.
pub fn summarize(files: &[PathBuf]) -> BenchResult<()> {
    let runs = files
        .iter()
        .map(|f| Results::read_csv(f))
        .collect::<BenchResult<Vec<_>>>()?;
    println!(
        "Medians of {} runs:\n\n{}",
        runs.len(),
        table(&median(&runs))
    );
    println!("Spread over the runs:\n\n{}", spread_table(&runs));
    Ok(())
}

/// Formats with thousands separators and no decimals.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Formats with three significant digits, without exponent.
fn significant(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}
