//! The lock line of a dump: whether a writer holds `LOCK` now, and which process wrote it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

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

/// Tests the writer's exclusive `flock` by taking a shared one without waiting, and releases
/// it at once.
///
/// NOTE: a `Store::open` that runs between the two calls fails with `Error::Locked`, although
/// no writer has the store open.
fn probe(file: &File) -> LockState {
    // SAFETY: flock takes a valid open descriptor owned by `file` and has no memory effects.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return LockState::Held;
        }
        return LockState::Unknown(error);
    }
    // SAFETY: as above, and the descriptor holds the shared lock taken just now.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    LockState::Free
}
