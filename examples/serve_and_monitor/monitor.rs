//! The `monitor` role: reads the served store read-only, scores each window once its labels
//! have had time to arrive, and stores the scores in its own store.

use std::error::Error;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use modelmetrics::{Metrics, ReadOnlyStore, Store, Value};

use crate::{MODEL, now_ms, parse_positive};

/// Age of a window's end before it is scored: labels arrive 500 ms after their prediction.
const LABEL_WAIT_MS: i64 = 1_000;
/// Time to wait for the writer to create the served store.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Scores of one window.
#[derive(Default)]
struct Scores {
    predictions: i64,
    labeled: i64,
    score_sum: f64,
    /// Labelled predictions whose score is on the side of 0.5 that their label is.
    correct: i64,
}

/// Runs the role with the arguments `SERVED_DIR OWN_DIR SECONDS REFRESH_MS`.
pub fn run(arguments: &[String]) -> Result<(), Box<dyn Error>> {
    let [served, own, seconds, refresh_ms] = arguments else {
        return Err(
            "usage: serve_and_monitor monitor SERVED_DIR OWN_DIR SECONDS REFRESH_MS".into(),
        );
    };
    let seconds = parse_positive("SECONDS", seconds)?;
    let window_ms = parse_positive("REFRESH_MS", refresh_ms)? as i64;
    let view = open_when_created(Path::new(served))?;
    let results = Store::open(Path::new(own))?;
    // Runs until the windows of the writer's last second have been scored.
    let deadline = Instant::now() + Duration::from_secs(seconds) + Duration::from_millis(1_500);
    let mut next_start = now_ms() / window_ms * window_ms;
    let mut windows = 0;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(window_ms as u64));
        view.refresh()?;
        while next_start + window_ms <= now_ms() - LABEL_WAIT_MS {
            let end = next_start + window_ms;
            let scores = score_window(&view, next_start, end)?;
            println!("monitor: {}", describe(next_start, end, &scores));
            results.track_aggregate_metrics(MODEL, next_start, end, &scores.metrics())?;
            windows += 1;
            next_start = end;
        }
    }
    results.close()?;
    println!("monitor: stored {windows} windows, closed its store");
    Ok(())
}

/// Opens the served store read-only, waiting for the writer to create it.
fn open_when_created(dir: &Path) -> Result<ReadOnlyStore, Box<dyn Error>> {
    let started = Instant::now();
    loop {
        match Store::open_read_only(dir) {
            Ok(view) => return Ok(view),
            Err(error) if started.elapsed() > OPEN_TIMEOUT => {
                return Err(format!("the served store was not created in time: {error}").into());
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn score_window(view: &ReadOnlyStore, start: i64, end: i64) -> modelmetrics::Result<Scores> {
    let mut scores = Scores::default();
    for prediction in view.read_metrics(MODEL, start, end)? {
        let prediction = prediction?;
        let Some(&Value::F64(score)) = prediction.metrics.get("score") else {
            continue;
        };
        scores.predictions += 1;
        scores.score_sum += score;
        if let Some(&Value::Bool(label)) = prediction.delayed.get("label") {
            scores.labeled += 1;
            scores.correct += i64::from((score >= 0.5) == label);
        }
    }
    Ok(scores)
}

impl Scores {
    fn label_rate(&self) -> f64 {
        self.labeled as f64 / self.predictions.max(1) as f64
    }

    fn mean_score(&self) -> f64 {
        self.score_sum / self.predictions.max(1) as f64
    }

    /// Returns the share of labeled predictions scored right, or `None` without labels.
    fn accuracy(&self) -> Option<f64> {
        (self.labeled > 0).then(|| self.correct as f64 / self.labeled as f64)
    }

    /// Returns the aggregate metrics stored for the window.
    fn metrics(&self) -> Metrics {
        let metrics = Metrics::new()
            .with("predictions", self.predictions)
            .with("labeled", self.labeled)
            .with("label_rate", self.label_rate())
            .with("mean_score", self.mean_score());
        match self.accuracy() {
            Some(accuracy) => metrics.with("accuracy", accuracy),
            None => metrics,
        }
    }
}

/// Formats one output line: the window in UTC and its scores.
fn describe(start: i64, end: i64, scores: &Scores) -> String {
    format!(
        "window {}-{} UTC: {:>5} predictions, {:>5.1} % labeled, mean score {:.3}, \
         accuracy {}",
        clock(start),
        clock(end),
        scores.predictions,
        scores.label_rate() * 100.0,
        scores.mean_score(),
        scores
            .accuracy()
            .map_or("-".to_owned(), |a| format!("{a:.3}"))
    )
}

/// Formats milliseconds since the epoch as the UTC time of day, `HH:MM:SS.mmm`.
fn clock(ms: i64) -> String {
    let of_day = ms.rem_euclid(86_400_000);
    let (seconds, millis) = (of_day / 1_000, of_day % 1_000);
    let (hours, minutes) = (seconds / 3_600, seconds / 60 % 60);
    format!("{hours:02}:{minutes:02}:{:02}.{millis:03}", seconds % 60)
}
