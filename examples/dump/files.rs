//! The files of a store directory: what each one is, and whether the manifest lists it.

use std::fs;
use std::io;
use std::path::Path;

use modelmetrics::index::parse_index_file_name;
use modelmetrics::manifest::Manifest;
use modelmetrics::rollup::parse_rollup_file_name;
use modelmetrics::segment::segment_file_name;
use modelmetrics::wal::wal_file_name;

pub const MANIFEST_FILE: &str = "MANIFEST";
pub const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";
pub const LOCK_FILE: &str = "LOCK";

/// Kind of a directory entry, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Manifest,
    ManifestTmp,
    Lock,
    Segment(u64),
    IndexRun(u64),
    Rollup(u64),
    Log(u64),
    Directory,
    Other,
}

/// One entry of the store directory, as listed when the dump started.
#[derive(Clone, Debug)]
pub struct StoreFile {
    pub name: String,
    pub bytes: u64,
    pub kind: FileKind,
}

/// Lists the entries of `dir` sorted by name. Names that are not UTF-8 are shown lossily and
/// count as other files, and directories count 0 bytes.
pub fn list_files(dir: &Path) -> io::Result<Vec<StoreFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let (kind, bytes) = if metadata.is_dir() {
            (FileKind::Directory, 0)
        } else {
            (classify(&name), metadata.len())
        };
        files.push(StoreFile { name, bytes, kind });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Returns the kind of a file from its name.
pub fn classify(name: &str) -> FileKind {
    match name {
        MANIFEST_FILE => return FileKind::Manifest,
        MANIFEST_TMP_FILE => return FileKind::ManifestTmp,
        LOCK_FILE => return FileKind::Lock,
        _ => {}
    }
    if let Some(id) = parse_index_file_name(name) {
        return FileKind::IndexRun(id);
    }
    if let Some(id) = parse_rollup_file_name(name) {
        return FileKind::Rollup(id);
    }
    let number = |prefix: &str, suffix: &str| -> Option<u64> {
        name.strip_prefix(prefix)?
            .strip_suffix(suffix)?
            .parse()
            .ok()
    };
    // Parsing and formatting again rejects names that the store would not write, such as a
    // `+` sign or fewer digits.
    if let Some(id) = number("seg-", ".seg").filter(|&id| segment_file_name(id) == name) {
        return FileKind::Segment(id);
    }
    if let Some(n) = number("wal-", ".log").filter(|&n| wal_file_name(n) == name) {
        return FileKind::Log(n);
    }
    FileKind::Other
}

/// Reason a segment, index run or rollup file is stray. A writer creates the file of a flush or
/// compaction before the manifest lists it, and a crash can leave it behind.
const NOT_LISTED: &str = "stray: the manifest does not list it (a flush or compaction in \
                          progress, or left by a crash)";

/// Returns why a file is stray, or `None` when the store uses it. Without a manifest no
/// segment, index run, rollup file or log file counts as stray.
pub fn stray_reason(kind: FileKind, manifest: Option<&Manifest>) -> Option<&'static str> {
    match (kind, manifest) {
        (FileKind::Segment(id), Some(m)) if !m.segments.contains(&id) => Some(NOT_LISTED),
        (FileKind::IndexRun(id), Some(m)) if !m.index_runs.contains(&id) => Some(NOT_LISTED),
        (FileKind::Rollup(id), Some(m)) if !m.rollups.contains(&id) => Some(NOT_LISTED),
        (FileKind::Log(n), Some(m)) if n < m.wal_start => {
            Some("stray: numbered below wal_start, so already flushed")
        }
        (FileKind::ManifestTmp, _) => Some("stray: a manifest write that did not finish"),
        (FileKind::Directory, _) => Some("stray: a directory, not a store file"),
        (FileKind::Other, _) => Some("stray: not a store file"),
        _ => None,
    }
}

/// Describes a file in a few words: its kind and id.
pub fn describe(kind: FileKind) -> String {
    match kind {
        FileKind::Manifest => "manifest".to_owned(),
        FileKind::ManifestTmp => "temporary manifest".to_owned(),
        FileKind::Lock => "lock".to_owned(),
        FileKind::Segment(id) => format!("segment {id}"),
        FileKind::IndexRun(id) => format!("index run {id}"),
        FileKind::Rollup(id) => format!("rollup file {id}"),
        FileKind::Log(n) => format!("log file {n}"),
        FileKind::Directory => "directory".to_owned(),
        FileKind::Other => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelmetrics::index::index_file_name;
    use modelmetrics::rollup::rollup_file_name;

    #[test]
    fn classify_recognises_store_files() {
        assert_eq!(classify("MANIFEST"), FileKind::Manifest);
        assert_eq!(classify("LOCK"), FileKind::Lock);
        assert_eq!(classify(&segment_file_name(7)), FileKind::Segment(7));
        assert_eq!(classify(&index_file_name(8)), FileKind::IndexRun(8));
        assert_eq!(classify(&wal_file_name(9)), FileKind::Log(9));
        assert_eq!(classify(&rollup_file_name(10)), FileKind::Rollup(10));
    }

    #[test]
    fn classify_rejects_names_store_never_writes() {
        assert_eq!(classify("seg-7.seg"), FileKind::Other);
        assert_eq!(classify("seg-+0000000000000000007.seg"), FileKind::Other);
        assert_eq!(
            classify("wal-00000000000000000001.log.bak"),
            FileKind::Other
        );
        assert_eq!(classify("rollup-10.mmr"), FileKind::Other);
        assert_eq!(classify("notes.txt"), FileKind::Other);
    }

    #[test]
    fn stray_reason_follows_manifest() {
        let manifest = Manifest {
            next_file_id: 5,
            wal_start: 3,
            last_seq: 0,
            segments: vec![1],
            index_runs: vec![2],
            rollups: vec![6],
            ..Manifest::default()
        };
        let m = Some(&manifest);
        assert_eq!(stray_reason(FileKind::Segment(1), m), None);
        assert!(stray_reason(FileKind::Segment(3), m).is_some());
        assert_eq!(stray_reason(FileKind::IndexRun(2), m), None);
        assert!(stray_reason(FileKind::IndexRun(4), m).is_some());
        assert_eq!(stray_reason(FileKind::Rollup(6), m), None);
        assert!(stray_reason(FileKind::Rollup(7), m).is_some());
        assert_eq!(stray_reason(FileKind::Rollup(7), None), None);
        assert!(stray_reason(FileKind::Log(2), m).is_some());
        assert_eq!(stray_reason(FileKind::Log(3), m), None);
        assert_eq!(stray_reason(FileKind::Segment(3), None), None);
    }
}
