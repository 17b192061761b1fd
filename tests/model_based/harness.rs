//! Runs a case: applies each operation to the store and to the model, checks the operation's
//! own result, then checks that every read of the store agrees with the model.

use std::fmt::Debug;
use std::path::Path;

use modelmetrics::{
    NewAggregate, NewDelayed, NewPrediction, Prediction, Result, Store, Uuid, Value,
};
use tempfile::TempDir;

use crate::crash::copy_open_store;
use crate::generate::{
    AggregateInput, DelayedInput, METRIC_NAMES, Op, PredictionInput, StoreConfig, UuidRef,
};
use crate::model::{Model, Outcome};
use crate::support::{ALL_END, ALL_START};

/// Characters of a value that a failure message shows.
const MAX_SHOWN_CHARS: usize = 1_500;

/// Runs `ops` on a new store, checking after each step, then closes and reopens the store and
/// checks once more.
pub fn run(config: &StoreConfig, ops: &[Op]) {
    let mut harness = Harness::open(config);
    for (step, op) in ops.iter().enumerate() {
        let context = format!("step {step} {op:?}");
        harness.apply(op, &context);
        harness.check_reads(&context);
    }
    harness.reopen("final reopen");
    harness.check_reads("after the final reopen");
    let closed = harness.store.close();
    assert!(closed.is_ok(), "final close failed: {closed:?}");
}

/// Which form of a `track_*` call an operation uses.
#[derive(Clone, Copy)]
enum CallForm {
    Single,
    Batch,
}

struct Harness {
    config: StoreConfig,
    /// The store's directory. `Op::Crash` replaces it with a copy.
    dir: TempDir,
    store: Store,
    model: Model,
}

impl Harness {
    fn open(config: &StoreConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), config.options()).unwrap();
        Harness {
            config: config.clone(),
            dir,
            store,
            model: Model::new(config.reject_unknown_predictions),
        }
    }

    fn apply(&mut self, op: &Op, context: &str) {
        match op {
            Op::Track(input) => self.track(std::slice::from_ref(input), CallForm::Single, context),
            Op::TrackBatch(inputs) => self.track(inputs, CallForm::Batch, context),
            Op::TrackDelayed(input) => {
                self.track_delayed(std::slice::from_ref(input), CallForm::Single, context)
            }
            Op::TrackDelayedBatch(inputs) => self.track_delayed(inputs, CallForm::Batch, context),
            Op::TrackAggregate(input) => {
                self.track_aggregates(std::slice::from_ref(input), CallForm::Single, context)
            }
            Op::TrackAggregateBatch(inputs) => {
                self.track_aggregates(inputs, CallForm::Batch, context)
            }
            Op::Read {
                model,
                start_ms,
                end_ms,
            } => self.check_read(self.config.model_id(*model), *start_ms, *end_ms, context),
            Op::ReadAggregates {
                model,
                start_ms,
                end_ms,
            } => self.check_read_aggregates(
                self.config.model_id(*model),
                *start_ms,
                *end_ms,
                context,
            ),
            Op::Lookup(uuid) => self.check_lookup(self.resolve(*uuid), context),
            Op::Orphans => self.check_orphans(context),
            Op::Flush => assert_ok(self.store.flush(), "flush", context),
            Op::Sync => assert_ok(self.store.sync(), "sync", context),
            Op::Reopen => self.reopen(context),
            Op::Crash => self.crash(context),
            Op::Compact => {
                let compacted = self.store.compact();
                assert!(
                    compacted.is_ok(),
                    "{context}: compact failed: {compacted:?}"
                );
            }
        }
    }

    fn track(&mut self, inputs: &[PredictionInput], form: CallForm, context: &str) {
        let batch: Vec<_> = inputs.iter().map(|i| self.new_prediction(i)).collect();
        let expected = self.model.track(&batch);
        let result = match (form, batch.as_slice()) {
            (CallForm::Single, [p]) => {
                self.store
                    .track_metrics(&p.model, p.uuid, p.timestamp_ms, &p.metrics)
            }
            _ => self.store.track_metrics_batch(&batch),
        };
        assert_outcome(&result, &expected, context);
    }

    fn track_delayed(&mut self, inputs: &[DelayedInput], form: CallForm, context: &str) {
        let batch: Vec<_> = inputs.iter().map(|i| self.new_delayed(i)).collect();
        let expected = self.model.track_delayed(&batch);
        let result = match (form, batch.as_slice()) {
            (CallForm::Single, [d]) => {
                self.store
                    .track_delayed_metrics(d.uuid, d.timestamp_ms, &d.metrics)
            }
            _ => self.store.track_delayed_metrics_batch(&batch),
        };
        assert_outcome(&result, &expected, context);
    }

    fn track_aggregates(&mut self, inputs: &[AggregateInput], form: CallForm, context: &str) {
        let batch: Vec<_> = inputs.iter().map(|i| self.new_aggregate(i)).collect();
        let expected = self.model.track_aggregates(&batch);
        let result = match (form, batch.as_slice()) {
            (CallForm::Single, [a]) => self
                .store
                .track_aggregate_metrics(&a.model, a.start_ms, a.end_ms, &a.metrics),
            _ => self.store.track_aggregate_metrics_batch(&batch),
        };
        assert_outcome(&result, &expected, context);
    }

    /// Checks every read against the model: all predictions and aggregates of each model, the
    /// orphans, and a lookup of every UUID the case has used.
    fn check_reads(&self, context: &str) {
        for model in self.config.model_ids() {
            self.check_read(model, ALL_START, ALL_END, context);
            self.check_read_aggregates(model, ALL_START, ALL_END, context);
        }
        self.check_orphans(context);
        for uuid in self.model.uuids().into_iter().chain(UuidRef::pool()) {
            self.check_lookup(uuid, context);
        }
    }

    fn check_read(&self, model: &str, start_ms: i64, end_ms: i64, context: &str) {
        let actual = read_window(&self.store, model, start_ms, end_ms);
        let call = format!("read_metrics({model:?}, {start_ms}, {end_ms})");
        match self.model.read(model, start_ms, end_ms) {
            Ok(expected) => {
                let actual = unwrap(actual, &call, context);
                assert_same_list(&actual, &expected, &call, context);
                self.check_columns(model, (start_ms, end_ms), &expected, context);
            }
            Err(outcome) => {
                assert_outcome(&actual, &outcome, &format!("{context}: {call}"));
                let columns = self.store.read_columns(model, (start_ms, end_ms), &[], &[]);
                let call = format!("read_columns({model:?}, ({start_ms}, {end_ms}))");
                assert_outcome(&columns, &outcome, &format!("{context}: {call}"));
            }
        }
    }

    /// Checks that `read_columns` of every metric name returns the rows of `expected` in the
    /// same order, each inline and delayed value in its column.
    fn check_columns(
        &self,
        model: &str,
        window: (i64, i64),
        expected: &[Prediction],
        context: &str,
    ) {
        let call = format!("read_columns({model:?}, {window:?})");
        // Every name, and the first one a second time.
        let names: Vec<&str> = METRIC_NAMES
            .iter()
            .chain(&METRIC_NAMES[..1])
            .copied()
            .collect();
        let names = &names[..];
        let columns = unwrap(
            self.store.read_columns(model, window, names, names),
            &call,
            context,
        );
        let uuids: Vec<Uuid> = expected.iter().map(|p| p.uuid).collect();
        let timestamps: Vec<i64> = expected.iter().map(|p| p.timestamp_ms).collect();
        assert_eq!(columns.uuids, uuids, "{context}: {call} UUIDs");
        assert_eq!(
            columns.timestamps, timestamps,
            "{context}: {call} timestamps"
        );
        for (column, name) in columns.metrics.iter().zip(names) {
            let values: Vec<Option<Value>> = expected
                .iter()
                .map(|p| p.metrics.get(name).cloned())
                .collect();
            let read = column.to_values();
            assert_eq!(read, values, "{context}: {call} inline {name:?}");
        }
        for (column, name) in columns.delayed.iter().zip(names) {
            let values: Vec<Option<Value>> = expected
                .iter()
                .map(|p| p.delayed.get(name).cloned())
                .collect();
            let read = column.to_values();
            assert_eq!(read, values, "{context}: {call} delayed {name:?}");
        }
    }

    fn check_read_aggregates(&self, model: &str, start_ms: i64, end_ms: i64, context: &str) {
        let actual = self.store.read_aggregate_metrics(model, start_ms, end_ms);
        let call = format!("read_aggregate_metrics({model:?}, {start_ms}, {end_ms})");
        match self.model.read_aggregates(model, start_ms, end_ms) {
            Ok(expected) => {
                let actual = unwrap(actual, &call, context);
                assert_same_list(&actual, &expected, &call, context);
            }
            Err(outcome) => assert_outcome(&actual, &outcome, &format!("{context}: {call}")),
        }
    }

    fn check_lookup(&self, uuid: Uuid, context: &str) {
        let call = format!("lookup({uuid})");
        let actual = unwrap(self.store.lookup(uuid), &call, context);
        let expected = self.model.lookup(uuid);
        assert!(
            actual == expected,
            "{context}: {call} differs\nstore: {}\nmodel: {}",
            shown(&actual),
            shown(&expected)
        );
    }

    fn check_orphans(&self, context: &str) {
        let call = "orphaned_delayed_metrics()";
        let actual = unwrap(self.store.orphaned_delayed_metrics(), call, context);
        assert_same_list(&actual, &self.model.orphans(), call, context);
    }

    /// Closes the store twice, checks that it then rejects calls, and opens the directory
    /// again.
    fn reopen(&mut self, context: &str) {
        assert_ok(self.store.close(), "close", context);
        assert_ok(self.store.close(), "second close", context);
        let after_close = self.store.lookup(UuidRef::Pool(0).fixed());
        assert!(
            matches!(after_close, Err(modelmetrics::Error::Closed)),
            "{context}: lookup after close returned {after_close:?}, expected Error::Closed"
        );
        self.store = open_store(self.dir.path(), &self.config, context);
    }

    /// Simulates a crash of the process: copies the files of the open store, as the page cache
    /// contains them, and continues with a store opened on the copy. The model stays as it is,
    /// because the copy must contain every record of every call that returned.
    fn crash(&mut self, context: &str) {
        let copy = copy_open_store(self.dir.path(), context);
        let reopened = open_store(copy.path(), &self.config, context);
        let crashed = std::mem::replace(&mut self.store, reopened);
        // Closing the original writes only to its own directory, which is deleted next.
        drop(crashed);
        self.dir = copy;
    }

    fn resolve(&self, uuid: UuidRef) -> Uuid {
        match uuid {
            UuidRef::Tracked(n) => self
                .model
                .tracked_uuid(usize::from(n))
                .unwrap_or_else(|| uuid.fixed()),
            UuidRef::Pool(_) | UuidRef::Fresh(_) => uuid.fixed(),
        }
    }

    fn new_prediction(&self, input: &PredictionInput) -> NewPrediction {
        NewPrediction {
            model: self.config.model_id(input.model).to_owned(),
            uuid: self.resolve(input.uuid),
            timestamp_ms: input.timestamp_ms,
            metrics: input.metrics.to_metrics(),
        }
    }

    fn new_delayed(&self, input: &DelayedInput) -> NewDelayed {
        NewDelayed {
            uuid: self.resolve(input.uuid),
            timestamp_ms: input.timestamp_ms,
            metrics: input.metrics.to_metrics(),
        }
    }

    fn new_aggregate(&self, input: &AggregateInput) -> NewAggregate {
        NewAggregate {
            model: self.config.model_id(input.model).to_owned(),
            start_ms: input.start_ms,
            end_ms: input.end_ms,
            metrics: input.metrics.to_metrics(),
        }
    }
}

fn open_store(dir: &Path, config: &StoreConfig, context: &str) -> Store {
    Store::open_with(dir, config.options())
        .unwrap_or_else(|e| panic!("{context}: opening {} failed: {e}", dir.display()))
}

fn read_window(store: &Store, model: &str, start_ms: i64, end_ms: i64) -> Result<Vec<Prediction>> {
    store.read_metrics(model, start_ms, end_ms)?.collect()
}

fn assert_outcome<T>(result: &Result<T>, expected: &Outcome, context: &str) {
    let actual = Outcome::of(result, context);
    assert_eq!(&actual, expected, "{context}: outcome of the call");
}

fn assert_ok(result: Result<()>, call: &str, context: &str) {
    if let Err(e) = result {
        panic!("{context}: {call} failed: {e}");
    }
}

fn unwrap<T>(result: Result<T>, call: &str, context: &str) -> T {
    result.unwrap_or_else(|e| panic!("{context}: {call} failed: {e}"))
}

/// Asserts that two lists are equal, naming the first entry that differs.
fn assert_same_list<T: PartialEq + Debug>(actual: &[T], expected: &[T], call: &str, context: &str) {
    if actual == expected {
        return;
    }
    let differing = actual.iter().zip(expected).position(|(a, e)| a != e);
    match differing {
        Some(i) => panic!(
            "{context}: {call} differs at entry {i} of {} (the model has {})\n\
             store: {}\nmodel: {}",
            actual.len(),
            expected.len(),
            shown(&actual[i]),
            shown(&expected[i])
        ),
        None => panic!(
            "{context}: {call} returned {} entries, the model has {}\nstore: {}\nmodel: {}",
            actual.len(),
            expected.len(),
            shown(&actual.get(expected.len())),
            shown(&expected.get(actual.len()))
        ),
    }
}

/// Formats a value for a failure message, cut to `MAX_SHOWN_CHARS` characters.
fn shown<T: Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    let count = text.chars().count();
    if count <= MAX_SHOWN_CHARS {
        return text;
    }
    let head: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    format!("{head}... ({count} characters)")
}
