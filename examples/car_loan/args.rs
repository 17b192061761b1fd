//! Command-line options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::job::{REFERENCE_END_MS, REFERENCE_START_MS};

pub const USAGE: &str = "\
Usage: car_loan [--dir DIR] [--data DIR] [--json] [--plot FILE]
                [--drift-threshold X] [--psi-threshold X]
                [--downsample-reference [--rollup-interval INTERVAL]]

Replays 100,000 synthetic car-loan predictions into a modelmetrics store, tracks their ground
truth as delayed metrics, and runs a monitoring job over each calendar month: ROC AUC and
accuracy (at a score of 0.5), and drift of every feature and of the score against the reference
period [2018-01-01T00:00Z, 2018-10-30T18:00Z). The job stores its figures as aggregate metrics;
the program reads them back and prints them with the store's size and timings.

Drift figures: the Kolmogorov-Smirnov statistic and the Wasserstein distance of each numeric
feature; the chi-square statistic, the Jensen-Shannon distance (base 2) and the PSI of each
categorical feature. The table flags a month when a figure reaches a threshold below.
Wasserstein distances (in the unit of each feature) and chi-square statistics (which grow with
the number of predictions) are never flagged.

Options:
  --dir DIR              store directory, new or empty, kept after the run
                         (default: a temporary directory, removed at exit)
  --data DIR             directory of the synthetic_car_loan_*.csv files
                         (default: examples/data/car_loan of this crate)
  --json                 print one JSON object per line: one per month, then a summary
  --plot FILE            write an SVG chart of ROC AUC and the strongest drift per month
  --drift-threshold X    flag a KS statistic or Jensen-Shannon distance at or above X,
                         a number in [0, 1] (default: 0.1)
  --psi-threshold X      flag a PSI at or above X, a number of 0 or more (default: 0.2)
  --downsample-reference
                         after the job, compact the store with a retention policy that
                         replaces the predictions before 2018-11-01T00:00Z (the reference
                         period and the rest of its last month) by rollups. Then print,
                         for each rolled-up month, ROC AUC, accuracy and the KS statistic of
                         each numeric feature estimated from the rollups (estimate ± bound)
                         next to the exact figure the job stored before compaction, and the
                         store's bytes per prediction before and after compaction. With
                         --json, these are the keys \"estimates\" of each rolled-up month and
                         \"downsampled\" of the summary
  --rollup-interval INTERVAL
                         length of one rollup with --downsample-reference: a number
                         followed by s, m or h that divides 6 hours, so that rollups end
                         at the reference's end (default: 6h; at 1h the rollups take more
                         space than the predictions they replace)
  -h, --help             print this help and exit
";

/// Default of `--drift-threshold`.
pub const DEFAULT_DRIFT_THRESHOLD: f64 = 0.1;
/// Default of `--rollup-interval`: the longest interval that divides the reference bounds. The
/// size of a rollup grows slowly with the predictions it counts (on the car-loan data, about
/// 850 bytes at 1 hour and 1,060 at 6 hours), so longer intervals save more space.
pub const DEFAULT_ROLLUP_INTERVAL: Duration = Duration::from_secs(6 * 3_600);
/// Default of `--psi-threshold`: the common rule of thumb for the PSI reads a value above 0.2
/// as a significant shift.
pub const DEFAULT_PSI_THRESHOLD: f64 = 0.2;

/// Options of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// Store directory; `None` for a temporary one.
    pub dir: Option<PathBuf>,
    pub data: PathBuf,
    pub json: bool,
    /// SVG file to write, or `None` for no chart.
    pub plot: Option<PathBuf>,
    pub thresholds: Thresholds,
    /// Rollup interval of `--downsample-reference`, or `None` to keep every prediction raw.
    pub downsample: Option<Duration>,
}

/// Levels at which a drift figure flags its month.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// For the KS statistic and the Jensen-Shannon distance, both in [0, 1].
    pub distance: f64,
    pub psi: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Run(Args),
    Help,
}

/// Parses the arguments after the program name. Options take their value as the next argument
/// or after `=` (`--dir=DIR`). The error message names the argument at fault.
pub fn parse_args(arguments: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = Args {
        dir: None,
        data: default_data_dir(),
        json: false,
        plot: None,
        thresholds: Thresholds {
            distance: DEFAULT_DRIFT_THRESHOLD,
            psi: DEFAULT_PSI_THRESHOLD,
        },
        downsample: None,
    };
    let mut downsample = false;
    let mut rollup_interval = None;
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        let text = argument.to_string_lossy();
        let (name, inline_value) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (text.as_ref(), None),
        };
        let mut value = || match inline_value {
            Some(value) if !value.is_empty() => Ok(OsString::from(value)),
            Some(_) => Err(format!("option {name} needs a non-empty value")),
            None => arguments
                .next()
                .ok_or_else(|| format!("option {name} needs a value")),
        };
        match name {
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--data" => args.data = PathBuf::from(value()?),
            "--plot" => args.plot = Some(PathBuf::from(value()?)),
            "--drift-threshold" => args.thresholds.distance = parse_threshold(name, value()?, 1.0)?,
            "--psi-threshold" => args.thresholds.psi = parse_threshold(name, value()?, f64::MAX)?,
            "--rollup-interval" => rollup_interval = Some(parse_interval(name, value()?)?),
            "--json" | "--downsample-reference" | "-h" | "--help" if inline_value.is_some() => {
                return Err(format!("option {name} takes no value"));
            }
            "--json" => args.json = true,
            "--downsample-reference" => downsample = true,
            "-h" | "--help" => return Ok(Command::Help),
            _ if name.starts_with('-') => return Err(format!("unknown option {name}")),
            _ => {
                return Err(format!(
                    "unexpected argument {text:?}: the job takes options only"
                ));
            }
        }
    }
    args.downsample = match (downsample, rollup_interval) {
        (true, interval) => Some(interval.unwrap_or(DEFAULT_ROLLUP_INTERVAL)),
        (false, None) => None,
        (false, Some(_)) => {
            return Err("option --rollup-interval needs --downsample-reference".to_owned());
        }
    };
    Ok(Command::Run(args))
}

/// Parses a rollup interval such as `30s`, `5m` or `1h`. The interval must divide both
/// bounds of the reference period, so that no rollup spans its end.
fn parse_interval(name: &str, value: OsString) -> Result<Duration, String> {
    let text = value.to_string_lossy();
    let invalid = || {
        format!(
            "invalid value {text:?} for {name}: expected a number followed by s, m or h that \
             divides 6 hours, such as 5m or 1h"
        )
    };
    let split = text.len().saturating_sub(1);
    let (number, unit) = (
        text.get(..split).unwrap_or(""),
        text.get(split..).unwrap_or(""),
    );
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        _ => return Err(invalid()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_seconds))
        .filter(|&seconds| seconds > 0)
        .ok_or_else(invalid)?;
    let interval_ms = i64::try_from(seconds.saturating_mul(1_000)).map_err(|_| invalid())?;
    let aligned = REFERENCE_START_MS % interval_ms == 0 && REFERENCE_END_MS % interval_ms == 0;
    if !aligned {
        return Err(invalid());
    }
    Ok(Duration::from_secs(seconds))
}

/// Parses a threshold in `[0, max]`.
fn parse_threshold(name: &str, value: OsString, max: f64) -> Result<f64, String> {
    let text = value.to_string_lossy();
    match text.parse::<f64>() {
        Ok(threshold) if (0.0..=max).contains(&threshold) => Ok(threshold),
        _ if max == 1.0 => Err(format!(
            "invalid value {text:?} for {name}: expected a number from 0 to 1"
        )),
        _ => Err(format!(
            "invalid value {text:?} for {name}: expected a finite number of 0 or more"
        )),
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/car_loan")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(arguments: &[&str]) -> Result<Command, String> {
        parse_args(arguments.iter().map(OsString::from))
    }

    #[test]
    fn parse_args_defaults() {
        let Ok(Command::Run(args)) = parse(&[]) else {
            panic!("expected a run");
        };
        assert_eq!(args.dir, None);
        assert!(args.data.ends_with("examples/data/car_loan"));
        assert!(!args.json);
        assert_eq!(args.plot, None);
        assert_eq!(args.thresholds.distance, DEFAULT_DRIFT_THRESHOLD);
        assert_eq!(args.thresholds.psi, DEFAULT_PSI_THRESHOLD);
        assert_eq!(args.downsample, None);
    }

    #[test]
    fn parse_args_reads_every_option() {
        let expected = Command::Run(Args {
            dir: Some(PathBuf::from("/tmp/store")),
            data: PathBuf::from("data"),
            json: true,
            plot: Some(PathBuf::from("chart.svg")),
            thresholds: Thresholds {
                distance: 0.05,
                psi: 0.5,
            },
            downsample: Some(Duration::from_secs(300)),
        });
        let separate = [
            "--dir",
            "/tmp/store",
            "--json",
            "--data",
            "data",
            "--plot",
            "chart.svg",
            "--drift-threshold",
            "0.05",
            "--psi-threshold",
            "0.5",
            "--downsample-reference",
            "--rollup-interval",
            "5m",
        ];
        assert_eq!(parse(&separate), Ok(expected.clone()));
        let inline = [
            "--json",
            "--dir=/tmp/store",
            "--data=data",
            "--plot=chart.svg",
            "--drift-threshold=0.05",
            "--psi-threshold=0.5",
            "--rollup-interval=5m",
            "--downsample-reference",
        ];
        assert_eq!(parse(&inline), Ok(expected));
    }

    #[test]
    fn downsample_reference_defaults_to_six_hours() {
        let Ok(Command::Run(args)) = parse(&["--downsample-reference"]) else {
            panic!("expected a run");
        };
        assert_eq!(args.downsample, Some(DEFAULT_ROLLUP_INTERVAL));
    }

    #[test]
    fn rollup_interval_must_divide_reference_bounds() {
        let interval = |text: &str| parse_interval("--rollup-interval", OsString::from(text));
        assert_eq!(interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(interval("6h"), Ok(Duration::from_secs(6 * 3_600)));
        assert!(interval("12h").is_err(), "the reference ends at 18:00");
        assert!(interval("7m").is_err());
    }

    #[test]
    fn parse_args_help_wins() {
        assert_eq!(parse(&["--json", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn parse_args_rejects_bad_arguments() {
        for arguments in [
            &["--bogus"][..],
            &["--dir"],
            &["--dir="],
            &["--json=yes"],
            &["store"],
            &["-x"],
            &["--plot"],
            &["--drift-threshold", "1.5"],
            &["--drift-threshold", "-0.1"],
            &["--drift-threshold", "NaN"],
            &["--psi-threshold", "inf"],
            &["--psi-threshold", "abc"],
            &["--downsample-reference=yes"],
            &["--rollup-interval", "1h"],
            &["--downsample-reference", "--rollup-interval", "7m"],
            &["--downsample-reference", "--rollup-interval", "1d"],
            &["--downsample-reference", "--rollup-interval", "0h"],
            &["--downsample-reference", "--rollup-interval", "h"],
            &["--downsample-reference", "--rollup-interval", "-1h"],
            &[
                "--downsample-reference",
                "--rollup-interval",
                "99999999999999999999h",
            ],
        ] {
            assert!(parse(arguments).is_err(), "{arguments:?} was accepted");
        }
    }
}
