//! The store's compaction thread: runs `compact` at the configured interval.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::{Inner, compact};
use crate::error::{Error, Result};

/// Maximum wait after failed compactions, doubled from the check interval.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The handle of the compaction thread, owned by the `Store`.
pub(crate) struct Compactor {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Compactor {
    /// Starts the thread, or returns `None` when the options disable it.
    pub fn start(inner: Arc<Inner>) -> Result<Option<Compactor>> {
        if !inner.options.compaction.enabled {
            return Ok(None);
        }
        let (stop, stopped) = bounded(1);
        let dir = inner.dir.clone();
        let thread = std::thread::Builder::new()
            .name("modelmetrics-compaction".to_owned())
            .spawn(move || run(&inner, &stopped))
            .map_err(|source| Error::Io {
                operation: "start compaction thread for",
                path: dir,
                source,
            })?;
        Ok(Some(Compactor { stop, thread }))
    }

    /// Stops the thread, waiting for a running step to finish, and reports a panic in it.
    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| Error::Poisoned {
            reason: "the compaction thread panicked".to_owned(),
        })
    }
}

fn run(inner: &Inner, stop: &Receiver<()>) {
    let interval = inner
        .options
        .compaction
        .check_interval
        .max(Duration::from_millis(10));
    let mut wait = interval;
    loop {
        match stop.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if inner.poison.lock().is_some() {
            continue;
        }
        wait = match compact::compact(inner) {
            Ok(_) => interval,
            Err(e) => {
                let next = (wait * 2).min(MAX_BACKOFF.max(interval));
                log::warn!(
                    "compaction of {} failed, next try in {next:?}: {e}",
                    inner.dir.display()
                );
                next
            }
        };
    }
}
