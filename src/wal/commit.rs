//! Group commit: threads that wait for their records to be durable share one sync.
//!
//! One caller at a time, the leader, syncs everything appended up to that moment, outside every
//! lock, while appends go on. The other callers sleep on a condition variable. When the sync
//! ends, the leader wakes them all at once, and each returns if the synced position reaches its
//! own.
//!
//! A leader that syncs at once covers only the callers that appended before it, and the callers
//! that the previous sync released append during this sync and wait for the next one. Each
//! caller then waits for two syncs, which caps N threads at about N / 2 times the rate of one.
//! So a sync waits for a group. Its size is the number of callers inside `wait_durable` when the
//! last sync ended, those it covered and those that arrived during it, and it counts the callers
//! that arrived since the last sync started. The caller that completes the group runs the sync
//! itself, so no sleeping thread has to be woken for it. The first caller of a group stops
//! waiting for the rest after the last sync's duration (at most `MAX_GATHER`) and runs the sync.
//! A lone caller thus syncs at once, and callers that do not come back cost the others at most
//! one such wait, never a lost record.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::LogPosition;
use crate::error::{Error, Result};

/// Maximum time the first caller of a group waits for the rest before it syncs.
const MAX_GATHER: Duration = Duration::from_millis(1);

/// The group commit of one log. It uses the standard library's mutex and condition variable
/// rather than parking_lot's, so that a finished sync wakes its whole group at once. On Linux,
/// `std::sync::Condvar::notify_all` wakes every waiter with one futex call. parking_lot 0.13
/// moves the waiters to the mutex's queue instead and wakes the next one only when the previous
/// one unlocks.
pub(crate) struct GroupCommit {
    state: Mutex<CommitState>,
    sync_done: Condvar,
    /// Reason of the first failed sync. Once set, the log rejects appends and syncs, because
    /// after a failed fsync the kernel may have dropped the dirty pages, and a retry that
    /// succeeds proves nothing about them.
    poison: OnceLock<String>,
}

type StateGuard<'a> = MutexGuard<'a, CommitState>;

struct CommitState {
    /// Every frame that ends at or before this position is durable.
    synced: LogPosition,
    /// True while a leader runs a sync.
    leader_running: bool,
    /// When the first caller of an incomplete group stops waiting for the rest and syncs.
    /// `None` while no caller waits for a group.
    gather_deadline: Option<Instant>,
    /// Callers inside `wait_durable`, the leader included.
    waiters: usize,
    /// Calls of `wait_durable` so far.
    arrivals: u64,
    /// `arrivals` when the last sync started. Callers that arrived later may need the next
    /// sync, while those that arrived before and have not returned yet do not.
    arrivals_at_last_sync: u64,
    /// Callers that the next sync waits for: those inside `wait_durable`, the leader
    /// included, when the last sync ended, whether it covered them or not.
    expected_group: usize,
    /// Duration of the last sync, which bounds the wait of a group's first caller.
    last_sync: Duration,
    /// Maximum wait for a group, `MAX_GATHER` except in tests.
    max_gather: Duration,
}

impl GroupCommit {
    pub fn new(synced: LogPosition) -> Self {
        GroupCommit {
            state: Mutex::new(CommitState {
                synced,
                leader_running: false,
                gather_deadline: None,
                waiters: 0,
                arrivals: 0,
                arrivals_at_last_sync: 0,
                expected_group: 1,
                last_sync: Duration::ZERO,
                max_gather: MAX_GATHER,
            }),
            sync_done: Condvar::new(),
            poison: OnceLock::new(),
        }
    }

    /// Poisons the log with `reason` unless it is poisoned already, and wakes the waiters to
    /// fail them too. Returns the error to give.
    pub fn poison(&self, reason: String) -> Error {
        // Setting the poison under the lock keeps a waiter from checking it just before it is
        // set and sleeping through the notification.
        let state = self.lock();
        let reason = self.poison.get_or_init(|| reason).clone();
        drop(state);
        self.sync_done.notify_all();
        Error::Poisoned { reason }
    }

    /// Returns `Error::Poisoned` once a sync has failed.
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
        let mut state = self.lock();
        state.waiters += 1;
        state.arrivals += 1;
        loop {
            let done = match self.check_poison() {
                Err(error) => Some(Err(error)),
                Ok(()) if state.synced >= pos => Some(Ok(())),
                Ok(()) => None,
            };
            if let Some(result) = done {
                state.waiters -= 1;
                return result;
            }
            if state.leader_running {
                state = self
                    .sync_done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let now = Instant::now();
            if state.group_complete() || state.gather_deadline.is_some_and(|d| d <= now) {
                return self.lead(state, pos, sync);
            }
            state = self.wait_for_group(state, now);
        }
    }

    /// Sleeps until a sync ends, or, for the first caller of an incomplete group, until the
    /// group's deadline: the last sync's duration, at most `max_gather`, from `now`. Only that
    /// caller sets a timeout, so the others are woken once, by the sync that covers them.
    fn wait_for_group<'a>(&'a self, mut state: StateGuard<'a>, now: Instant) -> StateGuard<'a> {
        if state.gather_deadline.is_some() {
            return self
                .sync_done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let deadline = now + state.last_sync.min(state.max_gather);
        state.gather_deadline = Some(deadline);
        // A sync that starts meanwhile clears the deadline, and the caller then waits for it.
        // The poison ends the wait at once.
        while state.gather_deadline == Some(deadline)
            && !state.leader_running
            && self.poison.get().is_none()
        {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            state = match self.sync_done.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state
    }

    /// Locks the state. The code that holds the lock does not panic, short of an `Instant`
    /// overflow, so a lock poisoned anyway is taken as it is.
    fn lock(&self) -> StateGuard<'_> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `sync` as the leader with the lock released, publishes the result, wakes the
    /// waiters and ends the leader's own wait for `pos`.
    fn lead(
        &self,
        mut state: StateGuard<'_>,
        pos: LogPosition,
        sync: &dyn Fn() -> std::result::Result<LogPosition, String>,
    ) -> Result<()> {
        state.leader_running = true;
        state.gather_deadline = None;
        state.arrivals_at_last_sync = state.arrivals;
        drop(state);

        let started = Instant::now();
        let result = sync();
        let elapsed = started.elapsed();

        let mut state = self.lock();
        state.last_sync = elapsed;
        state.expected_group = state.waiters;
        state.leader_running = false;
        state.waiters -= 1;
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
        let waiting = state.waiters > 0;
        drop(state);
        // Waking after the unlock lets each waiter take the lock at once instead of sleeping
        // on it again. A waiter finds the new position or the poison. Every waiter counts
        // itself under the lock before it sleeps, so with none counted there is none to wake.
        if waiting {
            self.sync_done.notify_all();
        }

        let covered = outcome?;
        if covered < pos {
            return Err(Error::invalid(
                "log position",
                format!("{pos:?}"),
                format!("the log ends at {covered:?}: wait only for positions from append"),
            ));
        }
        Ok(())
    }
}

impl CommitState {
    /// Returns true when the callers that arrived since the last sync started are as many as
    /// the group that the next sync waits for.
    fn group_complete(&self) -> bool {
        let arrived = self.arrivals - self.arrivals_at_last_sync;
        arrived >= self.expected_group as u64
    }
}

#[cfg(test)]
mod tests;
