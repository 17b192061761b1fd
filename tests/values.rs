//! Every value type round-trips bit for bit through the head, a segment and a reopen, as an
//! inline, a delayed and an aggregate metric.

mod support;

use modelmetrics::value::{MAX_BYTES_LEN, MAX_STRING_LEN};
use modelmetrics::{Metrics, Options, Store, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{Stage, check_in_stages, read_all, uuid};

const T0: i64 = 1_700_000_000_000;

/// Describes a value for an assert message, floats by their bits.
fn describe(value: &Value) -> String {
    match value {
        Value::F64(v) => format!("f64 {v} bits {:#018x}", v.to_bits()),
        Value::Str(s) if s.len() > 64 => format!("string of {} bytes", s.len()),
        Value::Bytes(b) if b.len() > 64 => format!("bytes of length {}", b.len()),
        other => format!("{other:?}"),
    }
}

/// Tracks `values[i]` as metric `v` of prediction `i`, as a delayed metric of that prediction
/// and as an aggregate metric of window `[i, i + 1)`, then checks that each comes back equal,
/// bit for bit, in every stage. `None` tracks prediction `i` without metrics, and no delayed or
/// aggregate record for it.
fn assert_round_trip(values: &[Option<Value>]) {
    let dir = tempfile::tempdir().unwrap();
    check_in_stages(
        dir.path(),
        &Options::default(),
        |store| track_values(store, values),
        |store, stage| check_values(store, stage, values),
    );
}

fn one_metric(value: &Option<Value>) -> Metrics {
    let mut metrics = Metrics::new();
    if let Some(value) = value {
        metrics.push("v", value.clone());
    }
    metrics
}

fn track_values(store: &Store, values: &[Option<Value>]) {
    for (i, value) in values.iter().enumerate() {
        let metrics = one_metric(value);
        let id = uuid(i as u128);
        store
            .track_metrics("m", id, T0 + i as i64, &metrics)
            .unwrap();
        if value.is_some() {
            store.track_delayed_metrics(id, T0, &metrics).unwrap();
            let start = i as i64;
            store
                .track_aggregate_metrics("m", start, start + 1, &metrics)
                .unwrap();
        }
    }
}

fn check_values(store: &Store, stage: Stage, values: &[Option<Value>]) {
    let rows = read_all(store, "m");
    assert_eq!(rows.len(), values.len(), "{stage:?}");
    let aggregates = support::aggregates_all(store, "m");
    let with_metrics = values.iter().filter(|v| v.is_some()).count();
    assert_eq!(
        aggregates.len(),
        with_metrics,
        "{stage:?}: windows with metrics"
    );
    let mut aggregates = aggregates.iter();
    for (i, (row, expected)) in rows.iter().zip(values).enumerate() {
        let description = expected.as_ref().map_or("no value".to_owned(), describe);
        assert_eq!(row.uuid, uuid(i as u128), "{stage:?} row {i}");
        assert_eq!(
            row.metrics.get("v"),
            expected.as_ref(),
            "{stage:?} inline {i}: {description}"
        );
        assert_eq!(
            row.delayed.get("v"),
            expected.as_ref(),
            "{stage:?} delayed {i}: {description}"
        );
        // A lookup decodes a whole block, so long series look up a sample of their rows.
        if values.len() <= 64 || i % 16 == 0 {
            let found = store.lookup(row.uuid).unwrap().unwrap();
            assert_eq!(
                found.metrics.get("v"),
                expected.as_ref(),
                "{stage:?} lookup {i}: {description}"
            );
            assert_eq!(
                found.delayed.get("v"),
                expected.as_ref(),
                "{stage:?} lookup {i}: {description}"
            );
        }
        if expected.is_some() {
            let aggregate = aggregates.next().unwrap();
            assert_eq!(aggregate.start_ms, i as i64, "{stage:?} aggregate {i}");
            let value = aggregate.metrics.get("v");
            assert_eq!(
                value,
                expected.as_ref(),
                "{stage:?} aggregate {i}: {description}"
            );
        }
    }
}

fn some(values: impl IntoIterator<Item = Value>) -> Vec<Option<Value>> {
    values.into_iter().map(Some).collect()
}

fn float_bits() -> Vec<u64> {
    let one_bits = 1.0f64.to_bits();
    let minus_one_bits = (-1.0f64).to_bits();
    vec![
        0x7ff8_0000_0000_0000, // quiet NaN
        0xfff8_0000_0000_0000, // negative quiet NaN
        0x7ff0_0000_0000_0001, // signalling NaN, smallest payload
        0x7ff4_0000_0000_0000, // signalling NaN
        0x7ff8_dead_beef_0001, // quiet NaN with a payload
        0x7fff_ffff_ffff_ffff, // NaN, every payload bit set
        0xffff_ffff_ffff_ffff,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
        0.0f64.to_bits(),
        1,                     // smallest subnormal
        0x000f_ffff_ffff_ffff, // largest subnormal
        0x8000_0000_0000_0001, // smallest negative subnormal
        f64::MIN_POSITIVE.to_bits(),
        f64::MIN.to_bits(),
        f64::MAX.to_bits(),
        f64::EPSILON.to_bits(),
        one_bits,
        one_bits + 1,
        one_bits - 1,
        minus_one_bits,
        minus_one_bits + 1,
        minus_one_bits - 1,
        std::f64::consts::PI.to_bits(),
        0.1f64.to_bits(),
    ]
}

#[test]
fn special_floats_round_trip_bitwise() {
    let values = float_bits()
        .into_iter()
        .map(|b| Value::F64(f64::from_bits(b)));
    assert_round_trip(&some(values));
}

#[test]
fn float_series_round_trip_bitwise() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut values = Vec::new();
    for i in 0..300 {
        values.push(Value::F64(f64::from_bits(rng.next_u64())));
        values.push(Value::F64(i as f64 * 0.1));
        values.push(Value::F64(1000.0 + (i % 7) as f64));
    }
    for bits in float_bits() {
        values.push(Value::F64(f64::from_bits(bits)));
        values.push(Value::F64(0.5));
    }
    assert_round_trip(&some(values));
}

#[test]
fn integers_round_trip() {
    let mut values: Vec<i64> = vec![i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
    for i in 0..20 {
        values.push(if i % 2 == 0 { i64::MIN } else { i64::MAX });
    }
    values.extend([0, i64::MAX, -1, i64::MIN, 1, 0]);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    values.extend((0..200).map(|_| rng.next_u64() as i64));
    values.extend((0..200).map(|i| 1_000_000 + i * 3));
    assert_round_trip(&some(values.into_iter().map(Value::I64)));
}

#[test]
fn booleans_round_trip() {
    let mut values = vec![true, false, false, true];
    values.extend(std::iter::repeat_n(true, 100));
    values.extend(std::iter::repeat_n(false, 70));
    values.extend((0..100).map(|i| i % 3 == 0));
    assert_round_trip(&some(values.into_iter().map(Value::Bool)));
}

#[test]
fn strings_round_trip() {
    let mut values: Vec<String> = [
        "",
        "a",
        "héllo wörld",
        "日本語のテキスト",
        "🦀👍🏽",
        "e\u{301}",
        "a\0b",
        "مرحبا",
        "\u{feff}bom",
        "line\nbreak\ttab",
    ]
    .map(str::to_owned)
    .to_vec();
    values.push("x".repeat(MAX_STRING_LEN));
    values.push("é".repeat(MAX_STRING_LEN / 2));
    for i in 0..100 {
        values.push(["retail", "corporate", "", "日本"][i % 4].to_owned());
    }
    assert_round_trip(&some(values.into_iter().map(Value::Str)));
}

#[test]
fn bytes_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut mebibyte = vec![0u8; 1 << 20];
    rng.fill_bytes(&mut mebibyte);
    let mut at_limit = vec![0u8; MAX_BYTES_LEN];
    rng.fill_bytes(&mut at_limit);
    let values = vec![
        Vec::new(),
        vec![0],
        vec![0xff; 17],
        mebibyte,
        Vec::new(),
        at_limit,
        b"{\"request\": 1}".to_vec(),
        vec![0; 100_000],
    ];
    assert_round_trip(&some(values.into_iter().map(Value::Bytes)));
}

#[test]
fn one_name_with_many_types() {
    let values = vec![
        Some(Value::F64(1.5)),
        Some(Value::I64(7)),
        Some(Value::Bool(true)),
        Some(Value::Str("seven".to_owned())),
        Some(Value::Bytes(vec![7, 7])),
        None,
        Some(Value::F64(f64::from_bits(0x7ff8_dead_beef_0001))),
        Some(Value::I64(i64::MIN)),
        None,
        Some(Value::Str(String::new())),
        Some(Value::Bytes(Vec::new())),
        Some(Value::Bool(false)),
        Some(Value::F64(-0.0)),
    ];
    assert_round_trip(&values);
}

#[test]
fn integer_floats_stay_floats() {
    let values = vec![
        Some(Value::F64(1.0)),
        Some(Value::I64(1)),
        Some(Value::F64(0.0)),
        Some(Value::I64(0)),
        Some(Value::Bool(true)),
        Some(Value::F64(1.0)),
    ];
    assert_round_trip(&values);
}

#[test]
fn every_type_in_one_record() {
    let mut metrics = Metrics::new();
    for (i, bits) in float_bits().into_iter().enumerate() {
        metrics.push(format!("f{i}"), f64::from_bits(bits));
    }
    for (i, v) in [i64::MIN, -1, 0, 1, i64::MAX].into_iter().enumerate() {
        metrics.push(format!("i{i}"), v);
    }
    metrics.push("t", true);
    metrics.push("f", false);
    metrics.push("s", "日本");
    metrics.push("empty", "");
    metrics.push("b", vec![0u8, 1, 2]);
    metrics.push("nothing", Vec::<u8>::new());
    let dir = tempfile::tempdir().unwrap();
    check_in_stages(
        dir.path(),
        &Options::default(),
        |store| store.track_metrics("m", uuid(1), T0, &metrics).unwrap(),
        |store, stage| {
            let found = store.lookup(uuid(1)).unwrap().unwrap();
            assert_eq!(found.metrics.len(), metrics.len(), "{stage:?}");
            for metric in &metrics {
                let got = found.metrics.get(&metric.name);
                let description = describe(&metric.value);
                assert_eq!(
                    got,
                    Some(&metric.value),
                    "{stage:?} {}: {description}",
                    metric.name
                );
            }
        },
    );
}

#[test]
fn timestamps_at_extremes_round_trip() {
    let timestamps = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let dir = tempfile::tempdir().unwrap();
    check_in_stages(
        dir.path(),
        &Options::default(),
        |store| {
            for (i, ts) in timestamps.iter().enumerate() {
                store
                    .track_metrics("m", uuid(i as u128), *ts, &Metrics::new())
                    .unwrap();
            }
        },
        |store, stage| {
            let rows = read_all(store, "m");
            let found: Vec<i64> = rows.iter().map(|p| p.timestamp_ms).collect();
            // The window [i64::MIN, i64::MAX) cannot hold i64::MAX.
            let expected = &timestamps[..timestamps.len() - 1];
            assert_eq!(found, expected, "{stage:?}");
            for (i, ts) in timestamps.iter().enumerate() {
                let found = store.lookup(uuid(i as u128)).unwrap().unwrap();
                assert_eq!(found.timestamp_ms, *ts, "{stage:?} lookup {i}");
            }
            let last = support::read(store, "m", i64::MAX - 1, i64::MAX);
            assert_eq!(last.len(), 1, "{stage:?}: window [MAX - 1, MAX)");
        },
    );
}
