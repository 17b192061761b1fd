//! The store's index merge thread: merges index runs after background flushes, so that the
//! flush thread goes straight back to flushing.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, after, bounded, never, select_biased};

use super::Inner;
use super::index_merge::{self, Merged};
use crate::error::{Error, Result};

/// Wait before planning again when a compaction or another merge has taken `index_lock`.
const BUSY_RETRY: Duration = Duration::from_millis(100);
/// Wait before retrying a failed merge, doubled up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The queue of merge requests. A request that finds one queued is dropped, because one merge
/// pass merges every group of runs that the policy selects.
pub(crate) struct MergeRequests {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

impl MergeRequests {
    pub fn new() -> MergeRequests {
        let (sender, receiver) = bounded(1);
        MergeRequests { sender, receiver }
    }

    /// Asks the merge thread to plan a merge soon. Returns at once.
    pub fn nudge(&self) {
        let _ = self.sender.try_send(());
    }
}

/// The handle of the index merge thread, owned by the `Store`.
pub(crate) struct IndexMerger {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl IndexMerger {
    /// Starts the thread. It merges nothing until the first request, so a store that opens
    /// with runs left unmerged by `close` or a crash merges them after its first flush.
    pub fn start(inner: Arc<Inner>) -> Result<IndexMerger> {
        let (stop, stopped) = bounded(1);
        let dir = inner.dir.clone();
        let thread = std::thread::Builder::new()
            .name("modelmetrics-index-merge".to_owned())
            .spawn(move || run(&inner, &stopped))
            .map_err(|source| Error::Io {
                operation: "start index merge thread for",
                path: dir,
                source,
            })?;
        Ok(IndexMerger { stop, thread })
    }

    /// Stops the thread, waiting for a running merge to finish, and reports a panic in it.
    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| Error::Poisoned {
            reason: "the index merge thread panicked".to_owned(),
        })
    }
}

/// When the thread plans its next merge.
struct Schedule {
    /// A merge is requested and not yet run.
    pending: bool,
    /// No merge starts before this instant, set after a failure or a busy index.
    not_before: Instant,
    /// The wait after the last failure, while merges keep failing.
    backoff: Option<Duration>,
}

impl Schedule {
    /// Returns a channel that fires when the pending merge is due, or never.
    fn timer(&self) -> Receiver<Instant> {
        if !self.pending {
            return never();
        }
        after(self.not_before.saturating_duration_since(Instant::now()))
    }

    /// Records the outcome of a merge pass and schedules the next one if needed.
    fn record(&mut self, inner: &Inner, outcome: Result<Merged>) {
        let now = Instant::now();
        match outcome {
            Ok(Merged::Done) => {
                self.pending = false;
                self.backoff = None;
            }
            Ok(Merged::Busy) => self.not_before = now + BUSY_RETRY,
            Err(e) => {
                let delay = self.backoff.map_or(FIRST_RETRY, |d| (d * 2).min(MAX_RETRY));
                log::warn!(
                    "index merge of {} failed, retrying in {delay:?}: {e}",
                    inner.dir.display()
                );
                self.backoff = Some(delay);
                self.not_before = now + delay;
            }
        }
    }
}

fn run(inner: &Inner, stop: &Receiver<()>) {
    let mut schedule = Schedule {
        pending: false,
        not_before: Instant::now(),
        backoff: None,
    };
    loop {
        let timer = schedule.timer();
        // Biased towards `stop`, so that a pending stop wins over a due merge.
        select_biased! {
            recv(stop) -> _ => return,
            recv(inner.merge_requests.receiver) -> _ => {
                schedule.pending = true;
                continue;
            }
            recv(timer) -> _ => {}
        }
        // A poisoned store must not write a manifest, so its runs stay until it is reopened.
        if inner.poison.lock().is_some() {
            schedule.pending = false;
            continue;
        }
        let outcome = index_merge::merge_index_runs(inner);
        // A merge cancelled by `close` is not a failure to retry: `close` is stopping the thread.
        if matches!(outcome, Err(Error::Closed)) {
            return;
        }
        schedule.record(inner, outcome);
    }
}
