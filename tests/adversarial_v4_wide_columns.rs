//! `read_columns` on flushed integer columns whose values span every bit width from 1 to 64,
//! read through windows that start and end at odd rows, so the in-place range decode starts
//! at many bit offsets within a byte. Boolean and float columns ride along. Every window must
//! return the tracked values, and the same rows as `read_metrics`.

use modelmetrics::{Compaction, Metrics, NewPrediction, Options, Store, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod support;

const ROWS: i64 = 300;
const T0: i64 = 1_700_000_000_000;
/// Window bounds as row numbers: odd and even starts, ends inside the block and at its end.
const WINDOWS: [(i64, i64); 7] = [
    (0, ROWS),
    (1, ROWS),
    (3, 11),
    (7, 100),
    (13, 14),
    (101, 299),
    (255, ROWS),
];

fn options() -> Options {
    Options::default().compaction(Compaction {
        enabled: false,
        ..Compaction::default()
    })
}

fn model(width: u32) -> String {
    format!("width-{width}")
}

/// Returns the integers of a column of `width` bits, one per row: `base` plus a random offset
/// below `2^width`, with offset 0 at row 0 and the maximum at row 1, so that the column needs
/// exactly `width` bits.
fn values(width: u32) -> Vec<i64> {
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let base = i64::MIN / 3 + i64::from(width);
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(width));
    (0..ROWS)
        .map(|row| {
            let offset = match row {
                0 => 0,
                1 => mask,
                _ => rng.random::<u64>() & mask,
            };
            base.wrapping_add(offset as i64)
        })
        .collect()
}

fn predictions(width: u32) -> Vec<NewPrediction> {
    let ints = values(width);
    (0..ROWS)
        .map(|row| NewPrediction {
            model: model(width),
            uuid: modelmetrics::Uuid::from_u128((u128::from(width) << 64) | (row as u128 + 1)),
            timestamp_ms: T0 + row,
            metrics: Metrics::new()
                .with("int", ints[row as usize])
                .with("flag", row % 3 == 1)
                .with("float", row as f64 * 0.5),
        })
        .collect()
}

fn check_window(store: &Store, width: u32, (first, end): (i64, i64)) {
    let context = format!("width {width}, rows {first}..{end}");
    let window = (T0 + first, T0 + end);
    let columns = store
        .read_columns(&model(width), window, &["int", "flag", "float"], &[])
        .unwrap();
    let expected = &values(width)[first as usize..end as usize];
    let ints: Vec<Option<Value>> = expected.iter().map(|v| Some(Value::I64(*v))).collect();
    assert_eq!(
        columns.metrics[0].to_values(),
        ints,
        "{context}: int column"
    );
    let flags: Vec<Option<Value>> = (first..end)
        .map(|row| Some(Value::Bool(row % 3 == 1)))
        .collect();
    assert_eq!(
        columns.metrics[1].to_values(),
        flags,
        "{context}: flag column"
    );
    let floats: Vec<Option<Value>> = (first..end)
        .map(|row| Some(Value::F64(row as f64 * 0.5)))
        .collect();
    assert_eq!(
        columns.metrics[2].to_values(),
        floats,
        "{context}: float column"
    );

    let rows = support::read(store, &model(width), window.0, window.1);
    let uuids: Vec<_> = rows.iter().map(|p| p.uuid).collect();
    assert_eq!(
        columns.uuids, uuids,
        "{context}: rows differ from read_metrics"
    );
}

#[test]
fn every_width_reads_back_in_windows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), options()).unwrap();
    for width in 1..=64 {
        store.track_metrics_batch(&predictions(width)).unwrap();
    }
    store.flush().unwrap();
    for width in 1..=64 {
        for window in WINDOWS {
            check_window(&store, width, window);
        }
    }
    store.close().unwrap();
}
