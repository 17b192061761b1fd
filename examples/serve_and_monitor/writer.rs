//! The `writer` role: a model server that tracks predictions from several threads, and a
//! labelling thread that tracks the ground truth of most of them half a second later.

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Metrics, Options, Store, Uuid};

use crate::{MODEL, now_ms, parse_positive};

/// Threads that serve predictions.
const SERVING_THREADS: u64 = 4;
/// Pause of a serving thread after each prediction, so that the example ingests a few
/// thousand predictions per second instead of all the machine can take.
const PAUSE: Duration = Duration::from_millis(1);
/// Time between a prediction and its label.
const LABEL_DELAY: Duration = Duration::from_millis(500);
/// Head size of the served store: small, so that the monitor also reads segments that the
/// writer flushed while it ran.
const HEAD_SIZE_BYTES: usize = 1 << 20;

/// A label to track once `due` has come.
struct PendingLabel {
    uuid: Uuid,
    label: bool,
    due: Instant,
}

/// Runs the role with the arguments `DIR SECONDS`.
pub fn run(arguments: &[String]) -> Result<(), Box<dyn Error>> {
    let [dir, seconds] = arguments else {
        return Err("usage: serve_and_monitor writer DIR SECONDS".into());
    };
    let seconds = parse_positive("SECONDS", seconds)?;
    let options = Options::default().head_size_bytes(HEAD_SIZE_BYTES);
    let store = Arc::new(Store::open_with(Path::new(dir), options)?);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (pending, labels) = channel();
    let labeller = {
        let store = Arc::clone(&store);
        thread::spawn(move || track_labels(&store, &labels))
    };
    let servers: Vec<_> = (0..SERVING_THREADS)
        .map(|_| {
            let (store, pending) = (Arc::clone(&store), pending.clone());
            thread::spawn(move || serve(&store, &pending, deadline))
        })
        .collect();
    drop(pending);
    let mut predictions = 0;
    for server in servers {
        predictions += server.join().map_err(|_| "a serving thread panicked")??;
    }
    let labeled = labeller
        .join()
        .map_err(|_| "the labelling thread panicked")??;
    store.close()?;
    println!("writer: tracked {predictions} predictions and {labeled} labels, closed the store");
    Ok(())
}

/// Tracks predictions until `deadline` and queues the label of 4 in 5; returns the count.
fn serve(
    store: &Store,
    pending: &Sender<PendingLabel>,
    deadline: Instant,
) -> modelmetrics::Result<u64> {
    let mut count = 0;
    while Instant::now() < deadline {
        let uuid = Uuid::new_v4();
        // The UUID's random bits stand in for the model: a score, and a label that agrees with
        // the score more often than not.
        let bits = uuid.as_u128();
        let score = (bits & 0xffff) as f64 / 65_535.0;
        let label = ((bits >> 16) & 0xffff) as f64 / 65_535.0 < score;
        let segment = if bits >> 32 & 1 == 0 {
            "retail"
        } else {
            "business"
        };
        let metrics = Metrics::new().with("score", score).with("segment", segment);
        store.track_metrics(MODEL, uuid, now_ms(), &metrics)?;
        count += 1;
        if !(bits >> 40).is_multiple_of(5) {
            let due = Instant::now() + LABEL_DELAY;
            // The receiver lives until the labelling thread returns, and it returns early only
            // on an error, which `run` reports once the serving threads are done.
            let _ = pending.send(PendingLabel { uuid, label, due });
        }
        thread::sleep(PAUSE);
    }
    Ok(count)
}

/// Tracks each queued label when it is due, until every serving thread has stopped; returns
/// the count.
fn track_labels(store: &Store, labels: &Receiver<PendingLabel>) -> modelmetrics::Result<u64> {
    let mut count = 0;
    loop {
        let next = match labels.recv_timeout(Duration::from_millis(100)) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(count),
        };
        thread::sleep(next.due.saturating_duration_since(Instant::now()));
        let metrics = Metrics::new().with("label", next.label);
        store.track_delayed_metrics(next.uuid, now_ms(), &metrics)?;
        count += 1;
    }
}
