//! Group commit: threads that wait for their records to be durable share one sync.
//!
//! The first waiter becomes the leader. It syncs everything appended up to that moment, outside
//! every lock, while appends go on. The other waiters sleep on a condition variable and return
//! when the synced position reaches theirs, or become the next leader if it does not.

use std::sync::OnceLock;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::LogPosition;
use crate::error::{Error, Result};

pub(crate) struct GroupCommit {
    state: Mutex<CommitState>,
    sync_done: Condvar,
    /// Reason of the first failed sync. Once set, the log rejects appends and syncs, because
    /// after a failed fsync the kernel may have dropped the dirty pages, and a retry that
    /// succeeds proves nothing about them.
    poison: OnceLock<String>,
}

struct CommitState {
    /// Every frame that ends at or before this position is durable.
    synced: LogPosition,
    /// True while a leader runs a sync.
    leader_running: bool,
}

impl GroupCommit {
    pub fn new(synced: LogPosition) -> Self {
        GroupCommit {
            state: Mutex::new(CommitState {
                synced,
                leader_running: false,
            }),
            sync_done: Condvar::new(),
            poison: OnceLock::new(),
        }
    }

    /// Returns `Error::Poisoned` once a sync has failed.
    /// Poisons the log with `reason` unless it is poisoned already; returns the error to give.
    pub fn poison(&self, reason: String) -> Error {
        Error::Poisoned {
            reason: self.poison.get_or_init(|| reason).clone(),
        }
    }

    pub fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Returns once every frame ending at or before `pos` is durable. `sync` makes everything
    /// appended so far durable and returns the position it covered, or the reason it failed.
    pub fn wait_durable(
        &self,
        pos: LogPosition,
        sync: &dyn Fn() -> std::result::Result<LogPosition, String>,
    ) -> Result<()> {
        let mut state = self.state.lock();
        loop {
            self.check_poison()?;
            if state.synced >= pos {
                return Ok(());
            }
            if state.leader_running {
                self.sync_done.wait(&mut state);
                continue;
            }
            let covered = self.lead(&mut state, sync)?;
            if covered < pos {
                return Err(Error::invalid(
                    "log position",
                    format!("{pos:?}"),
                    format!("the log ends at {covered:?}: wait only for positions from append"),
                ));
            }
        }
    }

    /// Runs `sync` as the leader with the lock released, then publishes the result.
    fn lead(
        &self,
        state: &mut MutexGuard<'_, CommitState>,
        sync: &dyn Fn() -> std::result::Result<LogPosition, String>,
    ) -> Result<LogPosition> {
        state.leader_running = true;
        let result = MutexGuard::unlocked(state, sync);
        state.leader_running = false;
        let outcome = match result {
            Ok(covered) => {
                state.synced = state.synced.max(covered);
                Ok(covered)
            }
            Err(reason) => {
                let reason = self.poison.get_or_init(|| reason).clone();
                Err(Error::Poisoned { reason })
            }
        };
        // Waiters wake once this guard is released, and find the new position or the poison.
        self.sync_done.notify_all();
        outcome
    }
}
