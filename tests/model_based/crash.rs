//! The simulated crash: a copy of an open store's files, taken while no flush step is half
//! done, is what a crash of the process would leave on disk.
//!
//! The store writes its log through a shared mapping, so the page cache, which a copy reads,
//! contains every record that a call returned for. That is the state a killed process leaves.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

/// File names that the store writes, as docs/format.md lists them.
const MANIFEST_FILE: &str = "MANIFEST";
const LOCK_FILE: &str = "LOCK";
/// Attempts at a copy of a directory that no flush changed meanwhile.
const MAX_COPY_ATTEMPTS: usize = 50;
const COPY_RETRY_DELAY: Duration = Duration::from_millis(5);

/// Copies the files of the open store in `from` into a new directory, leaving out `LOCK`.
///
/// A background flush may run at any time when the head is small or old. Each flush step
/// that changes what an open reads adds or removes a file or replaces the manifest, so the
/// copy is retried until the file names and sizes and the manifest bytes are the same before
/// and after it. A segment or index file that is still being written is not listed yet, and
/// the next open deletes it as a stray. The test is the only writer, so no record is appended
/// during the copy.
pub fn copy_open_store(from: &Path, context: &str) -> TempDir {
    for _ in 0..MAX_COPY_ATTEMPTS {
        let to = tempfile::tempdir().unwrap();
        let Ok(before) = directory_state(from) else {
            continue;
        };
        let copied = copy_files(from, to.path()).is_ok();
        if copied && directory_state(from).is_ok_and(|after| after == before) {
            return to;
        }
        std::thread::sleep(COPY_RETRY_DELAY);
    }
    panic!(
        "{context}: {} changed during each of {MAX_COPY_ATTEMPTS} copies",
        from.display()
    );
}

/// Returns the name and size of each file in `dir`, and the bytes of its manifest.
fn directory_state(dir: &Path) -> io::Result<(BTreeMap<String, u64>, Vec<u8>)> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(name, entry.metadata()?.len());
    }
    let manifest = fs::read(dir.join(MANIFEST_FILE))?;
    Ok((files, manifest))
}

fn copy_files(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() != LOCK_FILE {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
