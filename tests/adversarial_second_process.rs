//! A second process opens the directory of a store that this process is writing to and
//! flushing: its open fails with `Error::Locked` naming this process, and it changes nothing in
//! the directory, not even the process id in `LOCK`. Once this process closes the store, the
//! second process opens it and reads every acknowledged record.
//!
//! The test runs this test binary again as the second process: `second_process_child` does
//! nothing unless `CHILD_DIR_VAR` is set. It prints one `result ...` line.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use modelmetrics::{Error, Options, Store};
use support::{ALL_END, ALL_START, list_files, metric, uuid};

const CHILD_DIR_VAR: &str = "MODELMETRICS_TEST_SECOND_DIR";
const CHILD_TEST: &str = "second_process_child";
const MODEL: &str = "shared";
const T0: i64 = 1_700_000_000_000;
/// Opens tried by the second process while this one writes.
const LOCKED_ATTEMPTS: usize = 3;

fn options() -> Options {
    Options::default()
        .head_size_bytes(Options::MIN_HEAD_SIZE_BYTES)
        .wal_file_size(Options::MIN_WAL_FILE_SIZE)
}

/// The second process: opens the store and prints what happened.
#[test]
fn second_process_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    match Store::open_with(&dir, options()) {
        Ok(store) => {
            let rows = store.read_metrics(MODEL, ALL_START, ALL_END).unwrap();
            let rows: Vec<_> = rows.collect::<Result<_, _>>().unwrap();
            let count = rows.len();
            store.close().unwrap();
            println!("result opened {count}");
        }
        Err(Error::Locked { holder, .. }) => println!("result locked {holder}"),
        Err(other) => println!("result failed {other}"),
    }
}

/// Runs the second process on `dir` and returns its `result` line without the prefix.
fn run_second_process(dir: &Path) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD_TEST,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_DIR_VAR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "second process: {status}: {stderr}");
    let line = stdout
        .lines()
        .find_map(|line| line.find("result ").map(|at| &line[at + 7..]));
    line.unwrap_or_else(|| panic!("no result line in {stdout:?}, stderr {stderr:?}"))
        .to_owned()
}

#[test]
fn second_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_with(dir.path(), options()).unwrap());
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, acked, stop) = (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&stop));
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                let payload = metric("payload", vec![n as u8; 256]);
                store
                    .track_metrics(MODEL, uuid(n), T0 + n as i64, &payload)
                    .unwrap();
                n += 1;
                acked.store(n as u64, Ordering::Release);
                if n.is_multiple_of(100) {
                    store.flush().unwrap();
                }
            }
        })
    };
    while acked.load(Ordering::Acquire) < 50 {
        thread::sleep(Duration::from_millis(1));
    }

    let pid = std::process::id().to_string();
    for attempt in 0..LOCKED_ATTEMPTS {
        let result = run_second_process(dir.path());
        assert!(result.starts_with("locked "), "attempt {attempt}: {result}");
        assert!(
            result.contains(&pid),
            "attempt {attempt}: {result:?} does not name {pid}"
        );
        let lock = std::fs::read_to_string(dir.path().join("LOCK")).unwrap();
        assert_eq!(lock.trim(), pid, "attempt {attempt}: LOCK was rewritten");
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let before = list_files(dir.path());
    let result = run_second_process(dir.path());
    assert!(result.starts_with("locked "), "idle store: {result}");
    assert_eq!(
        list_files(dir.path()),
        before,
        "a locked-out open changed the directory"
    );

    let written = acked.load(Ordering::Acquire);
    store.close().unwrap();
    drop(store);
    let result = run_second_process(dir.path());
    assert_eq!(result, format!("opened {written}"), "open after close");
}
