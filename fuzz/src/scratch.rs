//! One temporary directory per fuzzing process, holding the file that each input is written to.
//!
//! Creating a directory per input would dominate the run time, so the directory is created
//! once and each input overwrites the file of the previous one.
//!
//! NOTE: statics are not dropped, so the directory stays in the system's temporary directory
//! after the process exits. It holds one file, the last input.

use std::path::Path;
use std::sync::OnceLock;

use tempfile::TempDir;

static DIR: OnceLock<TempDir> = OnceLock::new();

/// Returns this process's scratch directory, creating it on the first call.
pub fn dir() -> &'static Path {
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("modelmetrics-fuzz-")
            .tempdir()
            .expect("creating the scratch directory of the fuzz target failed")
    })
    .path()
}

/// Writes `bytes` to the file `name` of the scratch directory, replacing what the previous
/// input left there, and returns the directory.
pub fn write_file(name: &str, bytes: &[u8]) -> &'static Path {
    let dir = dir();
    let path = dir.join(name);
    if let Err(error) = std::fs::write(&path, bytes) {
        panic!("writing the fuzz input to {} failed: {error}", path.display());
    }
    dir
}
