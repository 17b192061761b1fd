//! The store's background thread: periodic log sync and head flushes by size or age.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::{Inner, flush};
use crate::error::{Error, Result};
use crate::options::Durability;

/// Maximum sleep between two checks of the head.
const MAX_TICK: Duration = Duration::from_secs(1);
/// Shortest sleep between two checks, whatever the sync interval.
const MIN_TICK: Duration = Duration::from_millis(5);
/// Wait before retrying a failed flush, doubled up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);

enum Command {
    /// The head may be full: check now.
    Nudge,
    /// Stop and reply when stopped.
    Stop(Sender<()>),
}

/// The handle of the background thread, owned by the `Store`.
pub(crate) struct Worker {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

impl Worker {
    pub fn start(inner: Arc<Inner>) -> Result<Worker> {
        let (commands, receiver) = bounded(64);
        let dir = inner.dir.clone();
        let thread = std::thread::Builder::new()
            .name("modelmetrics-worker".to_owned())
            .spawn(move || run(&inner, &receiver))
            .map_err(|source| Error::Io {
                operation: "start background thread for",
                path: dir,
                source,
            })?;
        Ok(Worker { commands, thread })
    }

    /// Asks the thread to check the head soon. Returns at once, dropping the request when the
    /// command queue is full.
    pub fn nudge(&self) {
        let _ = self.commands.try_send(Command::Nudge);
    }

    /// Stops the thread and waits for it; reports a panic in it as an error.
    pub fn stop(self) -> Result<()> {
        let (reply, stopped) = bounded(1);
        if self.commands.send(Command::Stop(reply)).is_ok() {
            let _ = stopped.recv();
        }
        self.thread.join().map_err(|_| Error::Poisoned {
            reason: "the background thread panicked".to_owned(),
        })
    }
}

fn run(inner: &Inner, commands: &Receiver<Command>) {
    let tick = match inner.options.durability {
        Durability::Interval(interval) => interval.clamp(MIN_TICK, MAX_TICK),
        Durability::Sync | Durability::Os => MAX_TICK,
    };
    let mut last_sync = Instant::now();
    let mut retry_at: Option<(Instant, Duration)> = None;
    loop {
        match commands.recv_timeout(tick) {
            Ok(Command::Stop(reply)) => {
                let _ = reply.send(());
                return;
            }
            Ok(Command::Nudge) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Durability::Interval(interval) = inner.options.durability
            && last_sync.elapsed() >= interval
        {
            sync_log(inner);
            last_sync = Instant::now();
        }
        if let Some((at, _)) = retry_at
            && Instant::now() < at
        {
            continue;
        }
        if should_flush(inner) {
            retry_at = match flush::flush_if(inner, should_flush) {
                Ok(()) => None,
                Err(e) => {
                    let delay = retry_at.map_or(FIRST_RETRY, |(_, d)| (d * 2).min(MAX_RETRY));
                    log::warn!(
                        "background flush of {} failed, retrying in {delay:?}: {e}",
                        inner.dir.display()
                    );
                    Some((Instant::now() + delay, delay))
                }
            };
        }
    }
}

fn sync_log(inner: &Inner) {
    if inner.poison.lock().is_some() {
        return;
    }
    if let Err(e) = inner.wal.sync() {
        inner.set_poison(&e);
    }
}

/// True when the head is over its size, older than the flush interval, or a failed flush left
/// a frozen head behind. Without the flush lock, a frozen head may also be one that a flush in
/// progress holds.
fn should_flush(inner: &Inner) -> bool {
    if inner.poison.lock().is_some() {
        return false;
    }
    let state = inner.state.read();
    if state.frozen.is_some() {
        return true;
    }
    let head = state.active.read();
    if head.is_empty() {
        return false;
    }
    if head.bytes() >= inner.head_limit() {
        return true;
    }
    let interval = inner.options.flush_interval;
    !interval.is_zero() && head.oldest().is_some_and(|t| t.elapsed() >= interval)
}
