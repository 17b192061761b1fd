//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the store returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller passed a value outside the documented limits; nothing was written.
    #[error("invalid {what} {value}: {reason}")]
    InvalidInput {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// `track_metrics` was called with a prediction UUID that the store already holds.
    #[error(
        "prediction {uuid} is already stored: a prediction UUID is tracked once, \
         use track_delayed_metrics to add metrics to it"
    )]
    DuplicatePrediction { uuid: Uuid },

    /// `track_delayed_metrics` named a prediction UUID that the store does not hold, and
    /// `Options::reject_unknown_predictions` is set.
    #[error(
        "prediction {uuid} not found: track the prediction first, or clear \
         Options::reject_unknown_predictions to keep such metrics as orphans"
    )]
    UnknownPrediction { uuid: Uuid },

    /// Another process, or another `Store` in this process, has the directory open for writing.
    #[error(
        "store {} is locked for writing by {holder}: close that store first, \
         or wait for that process to exit",
        dir.display()
    )]
    Locked { dir: PathBuf, holder: String },

    /// A file of the store failed a checksum or a structural check.
    #[error("corrupt file {} at offset {offset}: {reason}", file.display())]
    Corruption {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A file was written by a format version this build does not read.
    #[error(
        "file {} has format version {found}, this build reads version {supported}: \
         open it with a matching version of modelmetrics",
        file.display()
    )]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },

    /// An I/O call failed.
    #[error("{operation} {} failed: {source}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An earlier write or sync failed, so the store no longer accepts writes.
    #[error(
        "the store rejects writes after an earlier failure ({reason}): \
         close it and open it again to recover from its files"
    )]
    Poisoned { reason: String },

    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl Error {
    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn corruption(file: &Path, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// Returns true when the error comes from a full disk or an exhausted quota.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ),
            _ => false,
        }
    }
}

/// Adds the operation and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io_context(self, operation: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io_context(self, operation: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            operation,
            path: path.to_path_buf(),
            source,
        })
    }
}
