//! Command-line options.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: car_loan [--dir DIR] [--data DIR] [--json]

Replays 100,000 synthetic car-loan predictions into a modelmetrics store, tracks their ground
truth as delayed metrics, scores each calendar month (ROC AUC and accuracy) into aggregate
metrics, and prints the scores with the store's size and timings.

Options:
  --dir DIR    store directory, new or empty, kept after the run
               (default: a temporary directory, removed at exit)
  --data DIR   directory of the synthetic_car_loan_*.csv files
               (default: examples/data/car_loan of this crate)
  --json       print one JSON object per line: one per month, then a summary
  -h, --help   print this help and exit
";

/// Options of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// Store directory; `None` for a temporary one.
    pub dir: Option<PathBuf>,
    pub data: PathBuf,
    pub json: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
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
    };
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        let text = argument.to_string_lossy();
        let (name, inline_value) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (text.as_ref(), None),
        };
        let mut value = || match inline_value {
            Some(value) if !value.is_empty() => Ok(PathBuf::from(value)),
            Some(_) => Err(format!("option {name} needs a non-empty value")),
            None => arguments
                .next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("option {name} needs a value")),
        };
        match name {
            "--dir" => args.dir = Some(value()?),
            "--data" => args.data = value()?,
            "--json" | "-h" | "--help" if inline_value.is_some() => {
                return Err(format!("option {name} takes no value"));
            }
            "--json" => args.json = true,
            "-h" | "--help" => return Ok(Command::Help),
            _ if name.starts_with('-') => return Err(format!("unknown option {name}")),
            _ => {
                return Err(format!(
                    "unexpected argument {text:?}: the job takes options only"
                ));
            }
        }
    }
    Ok(Command::Run(args))
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
    }

    #[test]
    fn parse_args_reads_every_option() {
        let expected = Command::Run(Args {
            dir: Some(PathBuf::from("/tmp/store")),
            data: PathBuf::from("data"),
            json: true,
        });
        assert_eq!(
            parse(&["--dir", "/tmp/store", "--json", "--data", "data"]),
            Ok(expected.clone())
        );
        assert_eq!(
            parse(&["--json", "--dir=/tmp/store", "--data=data"]),
            Ok(expected)
        );
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
        ] {
            assert!(parse(arguments).is_err(), "{arguments:?} was accepted");
        }
    }
}
