//! The `LOCK` file that keeps a second writer out of a store directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

pub(crate) const LOCK_FILE: &str = "LOCK";

/// An exclusive `flock` on `DIR/LOCK`, held for the life of a writable store.
///
/// The file contains the process id of the holder, so a second opener can name it. `flock` locks
/// belong to the open file description, so a second `Store::open` in the same process is
/// rejected too. The kernel drops the lock when the process dies, so a crashed writer never
/// leaves the directory locked.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        // A link named `LOCK` points to a file of someone else, which the pid below would
        // overwrite, so the open fails on it instead (ELOOP).
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .io_context("open lock file", &path)?;
        // SAFETY: flock takes a valid open descriptor owned by `file` and has no memory effects.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                    holder: describe_holder(&mut file),
                });
            }
            return Err(err).io_context("lock", &path);
        }
        file.set_len(0).io_context("truncate lock file", &path)?;
        file.seek(SeekFrom::Start(0))
            .io_context("seek lock file", &path)?;
        writeln!(file, "{}", std::process::id()).io_context("write lock file", &path)?;
        Ok(DirLock { file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // SAFETY: as in `acquire`; unlocking a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn describe_holder(file: &mut File) -> String {
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return "another process".to_owned();
    }
    match text.trim().parse::<u32>() {
        Ok(pid) if pid == std::process::id() => format!("process {pid} (this process)"),
        Ok(pid) => format!("process {pid}"),
        Err(_) => "another process".to_owned(),
    }
}
