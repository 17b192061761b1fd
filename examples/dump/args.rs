//! Command-line arguments of the dump.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: dump [--verify] [--all-frames] DIR

Prints what the modelmetrics store in DIR contains: the manifest with its compaction state,
every file with its size, each segment (rows, blocks, time range, models, columns), each UUID
index run, each rollup file (rollups per model and interval, with their time range) and each
write-ahead log file with its frames, and whether a writer holds the lock. Files that the
manifest does not list are marked as stray. The dump only reads: it writes no byte and tests
the lock without keeping it, so it can run while a writer has the store open.

Options:
  --verify       also decode every block of every segment and check every page of every
                 index run (log frames and rollups are decoded and checked in every dump)
  --all-frames   list every frame of each log file (default: the first 20 and the last 5)
  -h, --help     print this help and exit

Exit status: 0 when no file is damaged, 1 when a file is damaged or missing, or DIR contains
no store, 2 on invalid arguments.
";

/// Action that the arguments select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Dump(Args),
    Help,
}

/// Options of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub dir: PathBuf,
    pub verify: bool,
    pub all_frames: bool,
}

/// Parses the arguments after the program name. The error message names the argument at fault.
pub fn parse_args(arguments: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut dir = None;
    let mut verify = false;
    let mut all_frames = false;
    let mut options_ended = false;
    for argument in arguments {
        let text = argument.to_string_lossy();
        match text.as_ref() {
            "--" if !options_ended => options_ended = true,
            "--verify" if !options_ended => verify = true,
            "--all-frames" if !options_ended => all_frames = true,
            "-h" | "--help" if !options_ended => return Ok(Command::Help),
            option if option.starts_with('-') && !options_ended => {
                return Err(format!("unknown option {option}"));
            }
            _ if dir.is_some() => {
                return Err(format!(
                    "unexpected argument {text:?}: the dump takes one store directory"
                ));
            }
            _ => dir = Some(PathBuf::from(argument)),
        }
    }
    let dir = dir.ok_or("missing store directory: pass the directory of a store as DIR")?;
    Ok(Command::Dump(Args {
        dir,
        verify,
        all_frames,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(arguments: &[&str]) -> Result<Command, String> {
        parse_args(arguments.iter().map(OsString::from))
    }

    #[test]
    fn parse_args_reads_every_option() {
        let expected = Command::Dump(Args {
            dir: PathBuf::from("store"),
            verify: true,
            all_frames: true,
        });
        assert_eq!(parse(&["--verify", "store", "--all-frames"]), Ok(expected));
    }

    #[test]
    fn parse_args_defaults_to_plain_dump() {
        let expected = Command::Dump(Args {
            dir: PathBuf::from("store"),
            verify: false,
            all_frames: false,
        });
        assert_eq!(parse(&["store"]), Ok(expected));
    }

    #[test]
    fn parse_args_takes_dash_directory_after_separator() {
        let Ok(Command::Dump(args)) = parse(&["--", "-store"]) else {
            panic!("expected a dump");
        };
        assert_eq!(args.dir, PathBuf::from("-store"));
    }

    #[test]
    fn parse_args_help_wins() {
        assert_eq!(parse(&["store", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn parse_args_rejects_bad_arguments() {
        for arguments in [&[][..], &["--bogus", "store"], &["a", "b"], &["-x"]] {
            assert!(parse(arguments).is_err(), "{arguments:?} was accepted");
        }
    }
}
