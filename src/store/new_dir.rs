//! The check that a directory without a `MANIFEST` may become a new store.

use std::fs;
use std::path::Path;

use super::lock::LOCK_FILE;
use super::open::is_data_file;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{MANIFEST_FILE, MANIFEST_TMP_FILE};
use crate::wal;

/// Number of foreign names that the error message lists.
const NAMES_SHOWN: usize = 2;

/// Directory that `mkfs.ext4` creates at the root of a file system, for `fsck`.
const LOST_AND_FOUND: &str = "lost+found";

/// Rejects `dir` when it has no `MANIFEST` and contains an entry that the store never writes.
///
/// The store's own names pass, so a directory left by a crash during the first open (`LOCK`
/// alone, or with `MANIFEST.tmp`) still opens. A directory with segment, index or rollup files
/// passes whatever else it contains, because the manifest check that follows reports it as a
/// store whose manifest is missing.
pub(super) fn check_new_store_dir(dir: &Path) -> Result<()> {
    if dir.join(MANIFEST_FILE).exists() {
        return Ok(());
    }
    let mut foreign = Vec::new();
    let mut has_data_files = false;
    for entry in fs::read_dir(dir).io_context("list store directory", dir)? {
        let entry = entry.io_context("list store directory", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type().ok();
        let is_file = file_type.is_some_and(|t| t.is_file());
        let is_dir = file_type.is_some_and(|t| t.is_dir());
        has_data_files |= is_file && is_data_file(&name);
        // The root of an ext2/3/4 file system always contains `lost+found`, and a store on a
        // disk of its own is opened there.
        if is_dir && name == LOST_AND_FOUND {
            continue;
        }
        if !(is_file && is_store_file_name(&name)) {
            foreign.push(name);
        }
    }
    if foreign.is_empty() || has_data_files {
        return Ok(());
    }
    foreign.sort();
    Err(Error::invalid(
        "store directory",
        dir.display().to_string(),
        format!(
            "it contains no MANIFEST file but contains {}, so it is neither a modelmetrics \
             store nor empty. Open the store in an empty or new directory",
            describe_names(&foreign)
        ),
    ))
}

/// Returns whether the store writes files of this name into its directory.
fn is_store_file_name(name: &str) -> bool {
    name == LOCK_FILE
        || name == MANIFEST_TMP_FILE
        || wal::parse_file_name(name).is_some()
        || is_data_file(name)
}

/// Lists the first names of `sorted` and counts the rest, as in `"a.csv", "b.txt" and 3 more`.
fn describe_names(sorted: &[String]) -> String {
    let shown: Vec<String> = sorted
        .iter()
        .take(NAMES_SHOWN)
        .map(|name| format!("{name:?}"))
        .collect();
    let rest = sorted.len().saturating_sub(NAMES_SHOWN);
    match rest {
        0 => shown.join(" and "),
        _ => format!("{} and {rest} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_files(dir: &Path, names: &[&str]) {
        for name in names {
            fs::write(dir.join(name), b"x").unwrap();
        }
    }

    #[test]
    fn empty_directory_passes() {
        let dir = tempfile::tempdir().unwrap();
        check_new_store_dir(dir.path()).unwrap();
    }

    #[test]
    fn first_open_leftovers_pass() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[LOCK_FILE, MANIFEST_TMP_FILE]);
        check_new_store_dir(dir.path()).unwrap();
    }

    #[test]
    fn store_with_manifest_passes_with_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[MANIFEST_FILE, "notes.txt"]);
        check_new_store_dir(dir.path()).unwrap();
    }

    #[test]
    fn segment_beside_foreign_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let segment = crate::segment::segment_file_name(1);
        write_files(dir.path(), &[segment.as_str(), "notes.txt"]);
        check_new_store_dir(dir.path()).unwrap();
    }

    #[test]
    fn foreign_file_is_rejected_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[LOCK_FILE, "train.csv"]);
        let text = check_new_store_dir(dir.path()).unwrap_err().to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("\"train.csv\""), "{text}");
        assert!(!text.contains("LOCK"), "{text}");
        assert!(text.contains("empty or new directory"), "{text}");
    }

    #[test]
    fn foreign_directory_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("LOCK")).unwrap();
        let text = check_new_store_dir(dir.path()).unwrap_err().to_string();
        assert!(text.contains("\"LOCK\""), "{text}");
    }

    #[test]
    fn file_system_root_passes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(LOST_AND_FOUND)).unwrap();
        check_new_store_dir(dir.path()).unwrap();
    }

    #[test]
    fn lost_and_found_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[LOST_AND_FOUND]);
        assert!(check_new_store_dir(dir.path()).is_err());
    }

    #[test]
    fn many_foreign_files_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &["d.txt", "a.txt", "c.txt", "b.txt"]);
        let text = check_new_store_dir(dir.path()).unwrap_err().to_string();
        assert!(text.contains("\"a.txt\", \"b.txt\" and 2 more"), "{text}");
    }
}
