//! A small tmpfs mounted for one test, and a filler file that takes its free space, so that
//! the store meets a real full disk (`ENOSPC`).
//!
//! Mounting needs root (or `CAP_SYS_ADMIN`). When it cannot mount, `Tmpfs::mount` prints why and
//! returns `None`, so that a test run without that right skips the test with a message. As root
//! the test runs and asserts.
//!
//! Include it with `#[path = "support/tmpfs.rs"] mod tmpfs;`.

#![allow(dead_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Allocation unit of tmpfs: one page of 4 KiB on x86-64 Linux.
const PAGE: u64 = 4096;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
pub struct Tmpfs {
    mount_point: PathBuf,
    /// The directory that contains the mount point, removed after `Drop` unmounts.
    _root: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_bytes` bytes, or returns `None` after printing why the test is
    /// skipped (not root, or the mount failed).
    pub fn mount(size_bytes: u64, test: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no arguments and no memory effects.
        if unsafe { libc::geteuid() } != 0 {
            println!("SKIPPED {test}: mounting a tmpfs needs root");
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let mount_point = root.path().join("mnt");
        std::fs::create_dir(&mount_point).unwrap();
        let target = CString::new(mount_point.as_os_str().as_bytes()).unwrap();
        let data = CString::new(format!("size={size_bytes}")).unwrap();
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            println!("SKIPPED {test}: mounting a tmpfs on {mount_point:?} failed: {error}");
            return None;
        }
        Some(Tmpfs {
            mount_point,
            _root: root,
        })
    }

    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Returns the bytes that a new file can still allocate.
    pub fn free_bytes(&self) -> u64 {
        free_bytes(&self.mount_point)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.mount_point.as_os_str().as_bytes()).unwrap();
        // SAFETY: `target` is a NUL-terminated path that outlives the call. MNT_DETACH lets the
        // unmount succeed while a file of a leaked store is still mapped.
        let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            eprintln!("unmounting {:?} failed: {error}", self.mount_point);
        }
    }
}

/// Returns the bytes available to an unprivileged file in the file system of `path`.
pub fn free_bytes(path: &Path) -> u64 {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs writes only into `stats`, which is valid for writes.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    assert_eq!(
        rc,
        0,
        "statvfs {path:?}: {}",
        std::io::Error::last_os_error()
    );
    stats.f_bavail as u64 * stats.f_frsize as u64
}

/// A file that takes free space of a file system, deleted on `remove` or drop.
pub struct Filler {
    path: PathBuf,
    file: Option<File>,
}

impl Filler {
    /// Creates `path` and allocates space until at most `leave_bytes` bytes stay free.
    pub fn leaving(path: &Path, leave_bytes: u64) -> Filler {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap();
        let mut filler = Filler {
            path: path.to_path_buf(),
            file: Some(file),
        };
        let dir = path.parent().unwrap();
        let free = free_bytes(dir);
        let take = free.saturating_sub(leave_bytes) / PAGE * PAGE;
        if take > 0 {
            filler.grow(take).unwrap();
        }
        filler
    }

    /// Creates `path` and allocates every free page.
    pub fn taking_all(path: &Path) -> Filler {
        let mut filler = Filler::leaving(path, 0);
        filler.take_rest();
        filler
    }

    /// Allocates pages until the file system has none left.
    pub fn take_rest(&mut self) {
        for chunk in [1 << 20, 64 << 10, PAGE] {
            while self.grow(chunk).is_ok() {}
        }
    }

    /// Returns the bytes allocated to the file.
    pub fn len(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().len()
    }

    /// Extends the file by `bytes` allocated bytes.
    fn grow(&mut self, bytes: u64) -> std::io::Result<()> {
        let file = self.file.as_ref().unwrap();
        let start = file.metadata()?.len();
        // SAFETY: posix_fallocate reads only its integer arguments, and the descriptor belongs
        // to `file`, which outlives the call.
        let rc = unsafe {
            libc::posix_fallocate(file.as_raw_fd(), start as libc::off_t, bytes as libc::off_t)
        };
        match rc {
            0 => Ok(()),
            code => Err(std::io::Error::from_raw_os_error(code)),
        }
    }

    /// Deletes the file, giving its space back.
    pub fn remove(mut self) {
        self.delete();
    }

    fn delete(&mut self) {
        if self.file.take().is_some() {
            std::fs::remove_file(&self.path).unwrap();
        }
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
            self.file = None;
        }
    }
}
