//! Model-based tests: random sequences of every store operation run against the store and
//! against a plain in-memory model of its documented behaviour, and after every step each
//! read of the store agrees with the model.
//!
//! The sequences mix predictions, delayed metrics (for known and unknown UUIDs, tracked again
//! and joined later), aggregates (tracked again for the same window), reads over any window,
//! lookups, orphans, flushes, syncs, reopens and simulated crashes. Options vary per case: a
//! small head flushed by size, by age or only on request, every durability mode, small log
//! files, and `reject_unknown_predictions`. See `model_based/model.rs` for the semantics the
//! model states and `model_based/crash.rs` for how a crash is simulated.
//!
//! `MM_MODEL_CASES` sets the number of cases (64 by default) and `MM_MODEL_STEPS` the maximum
//! length of a case (40 by default).
//! A failing case is shrunk, and its seed is kept in `tests/model_based_regressions.txt`,
//! which proptest replays first on the next run.

mod support;

#[path = "model_based/crash.rs"]
mod crash;
#[path = "model_based/generate.rs"]
mod generate;
#[path = "model_based/harness.rs"]
mod harness;
#[path = "model_based/model.rs"]
mod model;
#[path = "model_based/regressions.rs"]
mod regressions;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Environment variable that sets the number of cases.
const MODEL_CASES_VAR: &str = "MM_MODEL_CASES";
/// Environment variable that sets the maximum number of steps of a case.
const MODEL_STEPS_VAR: &str = "MM_MODEL_STEPS";
/// Sized so that the file runs well under a minute in a release build on 2 cores: about 7 s
/// on a 2-core virtual machine, measured with `cargo test --release --test model_based`.
const DEFAULT_CASES: u32 = 64;
const DEFAULT_STEPS: usize = 40;
/// Bounds of the search for a smaller failing case, each case being a store's lifetime.
const MAX_SHRINK_ITERS: u32 = 2_000;
const MAX_SHRINK_TIME_MS: u32 = 300_000;

fn env_number<T: std::str::FromStr>(var: &str, default: T) -> T {
    match std::env::var(var) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{var}={text:?} is not a valid number")),
        Err(_) => default,
    }
}

fn max_steps() -> usize {
    env_number(MODEL_STEPS_VAR, DEFAULT_STEPS)
}

fn config() -> Config {
    Config {
        cases: env_number(MODEL_CASES_VAR, DEFAULT_CASES),
        max_shrink_iters: MAX_SHRINK_ITERS,
        max_shrink_time: MAX_SHRINK_TIME_MS,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/model_based_regressions.txt"
        )))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_agrees_with_model(case in generate::case(max_steps())) {
        harness::run(&case.config, &case.ops);
    }
}
