//! Group commit: threads that wait for their records to be durable share one sync.
//!
//! The first waiter becomes the leader. It syncs everything appended up to that moment, outside
//! every lock, while appends go on. The other waiters sleep on a condition variable and return
//! when the synced position reaches theirs, or become the next leader if it does not.
//!
//! A leader that syncs at once covers only the callers that appended before it, and the callers
//! that the previous sync released append during this sync and wait for the next one. Each
//! caller then waits for two syncs, which caps N threads at about N / 2 times the rate of one.
//! So before it syncs, a leader waits until as many callers wait as the previous sync covered,
//! or for at most the previous sync's duration (and `MAX_GATHER`), whichever comes first. A lone
//! caller waits only for the first sync after a larger group, because its own sync sets the
//! group to 1. The group is counted when the sync starts, and callers that the previous sync
//! covered but that have not returned yet count too, so it can be set too large. That costs
//! one wait, not a lost record.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::LogPosition;
use crate::error::{Error, Result};

/// Maximum time a leader waits for the callers of its group before it syncs.
const MAX_GATHER: Duration = Duration::from_millis(1);

pub(crate) struct GroupCommit {
    state: Mutex<CommitState>,
    sync_done: Condvar,
    /// Signalled when the caller that completes the group starts waiting while a leader
    /// gathers it.
    arrived: Condvar,
    /// Reason of the first failed sync. Once set, the log rejects appends and syncs, because
    /// after a failed fsync the kernel may have dropped the dirty pages, and a retry that
    /// succeeds proves nothing about them.
    poison: OnceLock<String>,
}

struct CommitState {
    /// Every frame that ends at or before this position is durable.
    synced: LogPosition,
    /// True while a leader gathers its group or runs a sync.
    leader_running: bool,
    /// True while a leader waits for the callers of its group.
    gathering: bool,
    /// Callers inside `wait_durable`, the leader included.
    waiters: usize,
    /// Callers inside `wait_durable` when the last sync started: all of them were covered.
    last_group: usize,
    /// Duration of the last sync, which bounds the next leader's wait for its group.
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
                gathering: false,
                waiters: 0,
                last_group: 1,
                last_sync: Duration::ZERO,
                max_gather: MAX_GATHER,
            }),
            sync_done: Condvar::new(),
            arrived: Condvar::new(),
            poison: OnceLock::new(),
        }
    }

    /// Poisons the log with `reason` unless it is poisoned already; returns the error to give.
    pub fn poison(&self, reason: String) -> Error {
        Error::Poisoned {
            reason: self.poison.get_or_init(|| reason).clone(),
        }
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
        let mut state = self.state.lock();
        state.waiters += 1;
        // Only the arrival that completes the group wakes the leader: on a machine with fewer
        // cores than callers, each needless wake costs the leader a context switch.
        if state.gathering && state.waiters >= state.last_group {
            self.arrived.notify_one();
        }
        let result = self.wait_locked(&mut state, pos, sync);
        state.waiters -= 1;
        result
    }

    fn wait_locked(
        &self,
        state: &mut MutexGuard<'_, CommitState>,
        pos: LogPosition,
        sync: &dyn Fn() -> std::result::Result<LogPosition, String>,
    ) -> Result<()> {
        loop {
            self.check_poison()?;
            if state.synced >= pos {
                return Ok(());
            }
            if state.leader_running {
                self.sync_done.wait(state);
                continue;
            }
            let covered = self.lead(state, sync)?;
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
        self.gather(state);
        let group = state.waiters;
        let started = Instant::now();
        let result = MutexGuard::unlocked(state, sync);
        state.last_sync = started.elapsed();
        state.last_group = group;
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

    /// Waits, as the leader, until as many callers wait as the last sync covered, or until
    /// the last sync's duration (at most `max_gather`) has passed. Callers that arrive in the
    /// meantime have appended their frames, so the sync covers them too.
    fn gather(&self, state: &mut MutexGuard<'_, CommitState>) {
        if state.waiters >= state.last_group {
            return;
        }
        let deadline = Instant::now() + state.last_sync.min(state.max_gather);
        state.gathering = true;
        while state.waiters < state.last_group {
            if self.arrived.wait_until(state, deadline).timed_out() {
                break;
            }
        }
        state.gathering = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::thread;

    use super::*;

    /// A log stand-in: `append` moves its end, and `sync` covers the end and counts the syncs.
    #[derive(Default)]
    struct FakeLog {
        end: AtomicU64,
        syncs: AtomicU64,
    }

    impl FakeLog {
        fn append(&self) -> LogPosition {
            position(self.end.fetch_add(1, Ordering::SeqCst) + 1)
        }

        fn sync(&self) -> std::result::Result<LogPosition, String> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(position(self.end.load(Ordering::SeqCst)))
        }
    }

    fn position(offset: u64) -> LogPosition {
        LogPosition { file: 1, offset }
    }

    fn commit_with_group(group: usize, gather: Duration) -> GroupCommit {
        let commit = GroupCommit::new(position(0));
        {
            let mut state = commit.state.lock();
            state.last_group = group;
            state.last_sync = gather;
            state.max_gather = gather;
        }
        commit
    }

    #[test]
    fn leader_waits_for_its_group() {
        let commit = Arc::new(commit_with_group(2, Duration::from_secs(30)));
        let log = Arc::new(FakeLog::default());
        let first = log.append();
        let leader = {
            let (commit, log) = (Arc::clone(&commit), Arc::clone(&log));
            thread::spawn(move || commit.wait_durable(first, &|| log.sync()))
        };
        // Without the gathering, the leader would sync before the second append.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !commit.state.lock().gathering {
            assert!(Instant::now() < deadline, "the leader never gathered");
            thread::yield_now();
        }
        let second = log.append();
        let gathered = Instant::now();
        commit.wait_durable(second, &|| log.sync()).unwrap();
        leader.join().unwrap().unwrap();
        // The arrival that completed the group woke the leader: it did not sleep until its
        // 30 s deadline.
        assert!(gathered.elapsed() < Duration::from_secs(10));
        assert_eq!(log.syncs.load(Ordering::SeqCst), 1);
        assert_eq!(commit.state.lock().last_group, 2);
    }

    #[test]
    fn missing_caller_ends_gathering_at_deadline() {
        let commit = commit_with_group(3, Duration::from_millis(20));
        let log = FakeLog::default();
        let started = Instant::now();
        commit.wait_durable(log.append(), &|| log.sync()).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(log.syncs.load(Ordering::SeqCst), 1);
        // The next leader waits only for the one caller that came.
        assert_eq!(commit.state.lock().last_group, 1);
        assert_eq!(commit.state.lock().waiters, 0);
    }

    #[test]
    fn lone_caller_does_not_gather() {
        let commit = commit_with_group(1, Duration::from_secs(30));
        let log = FakeLog::default();
        for _ in 0..3 {
            commit.wait_durable(log.append(), &|| log.sync()).unwrap();
        }
        assert_eq!(log.syncs.load(Ordering::SeqCst), 3);
        assert!(!commit.state.lock().gathering);
        assert_eq!(commit.state.lock().last_group, 1);
    }

    #[test]
    fn failed_sync_leaves_no_waiter_counted() {
        let commit = commit_with_group(1, Duration::ZERO);
        let failed = commit.wait_durable(position(1), &|| Err("disk gone".to_string()));
        assert!(matches!(failed, Err(Error::Poisoned { .. })));
        assert_eq!(commit.state.lock().waiters, 0);
    }
}
