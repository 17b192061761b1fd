//! One temporary directory per fuzzing process, holding the file that each input is written to.
//!
//! Creating a directory per input would dominate the run time, so the directory is created
//! once and each input overwrites the file of the previous one. It is created in `/dev/shm`
//! when that exists, because the write-ahead log target syncs its file and directory on every
//! input, and a sync on tmpfs costs nothing.
//!
//! NOTE: statics are not dropped, so the directory stays in the system's temporary directory
//! after the process exits. It contains one file, the last input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tempfile::TempDir;

static DIR: OnceLock<TempDir> = OnceLock::new();

/// A memory-backed file system on Linux.
const SHARED_MEMORY_DIR: &str = "/dev/shm";

/// Returns this process's scratch directory, creating it on the first call.
pub fn dir() -> &'static Path {
    DIR.get_or_init(|| {
        let shared_memory = Path::new(SHARED_MEMORY_DIR);
        let parent = if shared_memory.is_dir() {
            shared_memory.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        create_in(parent)
    })
    .path()
}

/// Writes `bytes` to the file `name` of the scratch directory, replacing what the previous
/// input left there, and returns the directory.
pub fn write_file(name: &str, bytes: &[u8]) -> &'static Path {
    let dir = dir();
    let path = dir.join(name);
    if let Err(error) = std::fs::write(&path, bytes) {
        panic!(
            "writing the fuzz input to {} failed: {error}",
            path.display()
        );
    }
    dir
}

fn create_in(parent: PathBuf) -> TempDir {
    let created = tempfile::Builder::new()
        .prefix("modelmetrics-fuzz-")
        .tempdir_in(&parent);
    match created {
        Ok(dir) => dir,
        Err(error) => panic!(
            "creating the scratch directory of the fuzz target in {} failed: {error}",
            parent.display()
        ),
    }
}
