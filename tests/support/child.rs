//! Runs this test binary again as a child process that runs one test of the file in a child
//! mode, selected by an environment variable that the test checks.
//!
//! Include it with `#[path = "support/child.rs"] mod child;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A child process with its output lines arriving on a channel.
pub struct ChildProcess {
    pub child: Child,
    /// The child's stdin; dropping it sends end of file.
    pub stdin: Option<ChildStdin>,
    /// Lines of the child's stdout, without the test harness's own text.
    pub lines: Receiver<String>,
    stderr: JoinHandle<String>,
}

/// Starts this test binary running only `test`, with the environment variables `vars`. Lines
/// that the child prints with `prefix` arrive on `lines` with the prefix removed.
pub fn spawn(test: &str, vars: &[(&str, String)], prefix: &'static str) -> ChildProcess {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (sender, lines) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness may print its own text on the same line before the child's.
            if let Some(at) = line.find(prefix) {
                let _ = sender.send(line[at + prefix.len()..].to_owned());
            }
        }
    });
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    ChildProcess {
        child,
        stdin,
        lines,
        stderr,
    }
}

impl ChildProcess {
    /// Waits up to `timeout` for the line `expected`, skipping other lines, and fails the test
    /// if it does not come.
    pub fn expect_line(&self, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == expected => return,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no line {expected:?} in {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("child exited before {expected:?}"),
            }
        }
    }

    /// Closes stdin, waits for the child and returns its status and stderr.
    pub fn wait(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        (status, stderr)
    }
}
