//! Tests of group commit against a log stand-in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};

use super::*;

/// A log stand-in: `append` moves its end, and `sync` covers the end, counts the syncs and
/// notes the thread that ran the last one.
#[derive(Default)]
struct FakeLog {
    end: AtomicU64,
    syncs: AtomicU64,
    synced_by: Mutex<Option<ThreadId>>,
}

impl FakeLog {
    fn append(&self) -> LogPosition {
        position(self.end.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn sync(&self) -> std::result::Result<LogPosition, String> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        *self.synced_by.lock().unwrap() = Some(thread::current().id());
        Ok(position(self.end.load(Ordering::SeqCst)))
    }

    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }
}

fn position(offset: u64) -> LogPosition {
    LogPosition { file: 1, offset }
}

fn commit_with_group(group: usize, gather: Duration) -> GroupCommit {
    let commit = GroupCommit::new(position(0));
    {
        let mut state = commit.lock();
        state.expected_group = group;
        state.last_sync = gather;
        state.max_gather = gather;
    }
    commit
}

/// Waits until `condition` holds for the commit state, for at most 10 s.
fn wait_until(commit: &GroupCommit, what: &str, condition: impl Fn(&CommitState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition(&commit.lock()) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::yield_now();
    }
}

#[test]
fn last_arrival_of_group_runs_sync() {
    let commit = Arc::new(commit_with_group(2, Duration::from_secs(30)));
    let log = Arc::new(FakeLog::default());
    let first = log.append();
    let waiter = {
        let (commit, log) = (Arc::clone(&commit), Arc::clone(&log));
        thread::spawn(move || commit.wait_durable(first, &|| log.sync()))
    };
    // Without the group, the first caller would sync before the second append.
    wait_until(&commit, "the first caller waits for its group", |state| {
        state.gather_deadline.is_some()
    });
    let second = log.append();
    let arrived = Instant::now();
    commit.wait_durable(second, &|| log.sync()).unwrap();
    waiter.join().unwrap().unwrap();

    // The second caller completed the group and synced both frames without waking the
    // first caller for it, long before the first caller's 30 s deadline.
    assert!(arrived.elapsed() < Duration::from_secs(10));
    assert_eq!(log.syncs(), 1);
    assert_eq!(*log.synced_by.lock().unwrap(), Some(thread::current().id()));
    assert_eq!(commit.lock().synced, second);
}

#[test]
fn missing_caller_ends_gathering_at_deadline() {
    let commit = commit_with_group(3, Duration::from_millis(20));
    let log = FakeLog::default();
    let started = Instant::now();
    commit.wait_durable(log.append(), &|| log.sync()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(log.syncs(), 1);
    // The next sync waits only for the one caller that came.
    let state = commit.lock();
    assert_eq!(state.expected_group, 1);
    assert_eq!(state.waiters, 0);
    assert_eq!(state.gather_deadline, None);
}

#[test]
fn lone_caller_does_not_gather() {
    let commit = commit_with_group(1, Duration::from_secs(30));
    let log = FakeLog::default();
    for _ in 0..3 {
        commit.wait_durable(log.append(), &|| log.sync()).unwrap();
    }
    assert_eq!(log.syncs(), 3);
    assert_eq!(commit.lock().gather_deadline, None);
    assert_eq!(commit.lock().expected_group, 1);
}

#[test]
fn group_counts_callers_arriving_during_sync() {
    let commit = Arc::new(commit_with_group(1, Duration::from_secs(30)));
    let log = Arc::new(FakeLog::default());
    let first = log.append();
    // The first sync covers only the first frame, and ends once a second caller waits.
    let first_sync = || {
        wait_until(&commit, "a second caller waits", |state| state.waiters == 2);
        log.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(first)
    };
    thread::scope(|scope| {
        let leader = scope.spawn(|| commit.wait_durable(first, &first_sync));
        wait_until(&commit, "the first sync runs", |state| state.leader_running);
        let second = log.append();
        let expected = AtomicU64::new(0);
        let second_sync = || {
            expected.store(commit.lock().expected_group as u64, Ordering::SeqCst);
            log.sync()
        };
        commit.wait_durable(second, &second_sync).unwrap();
        leader.join().unwrap().unwrap();
        // Both callers were inside `wait_durable` when the first sync ended.
        assert_eq!(expected.load(Ordering::SeqCst), 2);
    });
    assert_eq!(log.syncs(), 2);
}

#[test]
fn sync_releases_whole_group() {
    const CALLERS: usize = 8;
    let commit = commit_with_group(CALLERS, Duration::from_secs(30));
    let log = FakeLog::default();
    let appended = Barrier::new(CALLERS);
    thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                scope.spawn(|| {
                    let pos = log.append();
                    appended.wait();
                    commit.wait_durable(pos, &|| log.sync())
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap().unwrap();
        }
    });
    assert_eq!(log.syncs(), 1);
    let state = commit.lock();
    assert_eq!(state.waiters, 0);
    assert_eq!(state.synced, position(CALLERS as u64));
}

#[test]
fn failed_sync_fails_every_caller_it_covered() {
    const CALLERS: usize = 4;
    let commit = commit_with_group(CALLERS, Duration::from_secs(30));
    let log = FakeLog::default();
    let failing_sync = || {
        log.syncs.fetch_add(1, Ordering::SeqCst);
        Err("disk gone".to_string())
    };
    let appended = Barrier::new(CALLERS);
    let results: Vec<_> = thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                scope.spawn(|| {
                    let pos = log.append();
                    appended.wait();
                    commit.wait_durable(pos, &failing_sync)
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(log.syncs(), 1);
    for result in results {
        assert!(matches!(result, Err(Error::Poisoned { reason }) if reason == "disk gone"));
    }
    assert_eq!(commit.lock().waiters, 0);
}

#[test]
fn poison_wakes_callers_of_incomplete_group() {
    let commit = commit_with_group(3, Duration::from_secs(30));
    let log = FakeLog::default();
    let started = Instant::now();
    thread::scope(|scope| {
        let callers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| commit.wait_durable(log.append(), &|| log.sync())))
            .collect();
        wait_until(&commit, "both callers wait", |state| state.waiters == 2);
        commit.poison("retired file failed".to_string());
        for caller in callers {
            assert!(matches!(
                caller.join().unwrap(),
                Err(Error::Poisoned { .. })
            ));
        }
    });
    // Neither caller slept until the 30 s deadline, and neither synced.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(log.syncs(), 0);
}

#[test]
fn failed_sync_leaves_no_waiter_counted() {
    let commit = commit_with_group(1, Duration::ZERO);
    let failed = commit.wait_durable(position(1), &|| Err("disk gone".to_string()));
    assert!(matches!(failed, Err(Error::Poisoned { .. })));
    assert_eq!(commit.lock().waiters, 0);
}
