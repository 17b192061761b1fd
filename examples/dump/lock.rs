//! The lock line of a dump: whether a writer holds `LOCK` now, and which process wrote it.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;

use crate::files::LOCK_FILE;
use crate::report::Dump;

/// State of the advisory lock on `LOCK` at the moment of the dump.
enum LockState {
    Held,
    Free,
    Unknown(io::Error),
}

/// Prints whether a writer holds the store's lock, with the process id that `LOCK` contains.
/// `LOCK` keeps the id of the last writer after that writer closes the store, so the id alone
/// does not tell whether the store is open.
pub fn write_lock(dump: &mut Dump<impl Write>) -> io::Result<()> {
    let path = dump.dir.join(LOCK_FILE);
    let line = match File::open(&path) {
        Ok(file) => describe(probe(&file), &read_holder(&path)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => "free (no LOCK file)".to_owned(),
        Err(error) => format!("unknown: opening LOCK failed: {error}"),
    };
    writeln!(dump.out, "lock: {line}")
}

fn describe(state: LockState, holder: &str) -> String {
    match state {
        LockState::Held => format!("held by {holder}"),
        LockState::Free => format!("free (last holder {holder})"),
        LockState::Unknown(error) => format!("unknown: testing the lock failed: {error}"),
    }
}

/// Returns `process N` for the id in `LOCK`, or what the file contains instead.
fn read_holder(path: &std::path::Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid}"),
            Err(_) => format!("an unknown process, LOCK contains {:?}", text.trim()),
        },
        Err(error) => format!("an unknown process, reading LOCK failed: {error}"),
    }
}

/// Returns whether a process has an `flock` on `file`, from the kernel's table in
/// `/proc/locks`. Reading the table takes no lock, so the dump never makes a writer's open fail.
fn probe(file: &File) -> LockState {
    let inode = match file.metadata() {
        Ok(metadata) => metadata.ino(),
        Err(error) => return LockState::Unknown(error),
    };
    match std::fs::read_to_string(PROC_LOCKS) {
        Ok(table) if holds_flock(&table, inode) => LockState::Held,
        Ok(_) => LockState::Free,
        Err(error) => LockState::Unknown(error),
    }
}

const PROC_LOCKS: &str = "/proc/locks";

/// Returns whether a line of `/proc/locks` is an `flock` on inode `inode`. A line reads
/// `1: FLOCK  ADVISORY  WRITE 23188 fe:00:10028837 0 EOF`, where the sixth field is the
/// device's major and minor number and the inode. Only the inode is compared: on overlay file
/// systems the device of the lock can differ from the one `stat` reports.
fn holds_flock(table: &str, inode: u64) -> bool {
    table.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let is_flock = fields.get(1) == Some(&"FLOCK");
        let lock_inode = fields
            .get(5)
            .and_then(|id| id.rsplit(':').next())
            .and_then(|n| n.parse::<u64>().ok());
        is_flock && lock_inode == Some(inode)
    })
}

#[cfg(test)]
mod tests {
    use super::holds_flock;

    #[test]
    fn flock_found_by_inode() {
        let table = "1: FLOCK  ADVISORY  WRITE 23188 fe:00:10028837 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 99 fe:00:42 0 EOF\n";
        assert!(holds_flock(table, 10028837));
        assert!(
            !holds_flock(table, 42),
            "a POSIX lock is not the writer's flock"
        );
        assert!(!holds_flock(table, 7));
    }
}
