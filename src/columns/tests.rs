use proptest::prelude::*;

use super::{Column, ColumnValues};
use crate::value::Value;

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (0u8..4).prop_map(|v| Some(Value::F64(f64::from(v) / 2.0))),
        (-2i64..2).prop_map(|v| Some(Value::I64(v))),
        any::<bool>().prop_map(|v| Some(Value::Bool(v))),
        "[ab]{0,2}".prop_map(|v| Some(Value::Str(v))),
    ]
}

#[test]
fn push_keeps_one_type_typed() {
    let column: Column = [Some(Value::F64(0.5)), None, Some(Value::F64(2.0))]
        .into_iter()
        .collect();
    assert_eq!(column.as_f64(), Some(&[0.5, 0.0, 2.0][..]));
    assert!(!column.all_present());
    assert!(!column.is_present(1));
    assert!(!column.is_present(3));
    assert_eq!(column.present_count(), 2);
}

#[test]
fn push_of_second_type_turns_mixed() {
    let values = vec![Some(Value::I64(1)), None, Some(Value::Bool(true))];
    let column = Column::from(values.clone());
    assert!(matches!(column.values(), ColumnValues::Mixed(_)));
    assert_eq!(column.as_i64(), None);
    assert_eq!(column.to_values(), values);
}

#[test]
fn set_fills_absent_column() {
    let mut column = Column::absent(3);
    column.set(1, Value::Str("x".into()));
    column.set(5, Value::Str("past the end".into()));
    assert_eq!(column.as_str().map(<[String]>::len), Some(3));
    assert_eq!(
        column.to_values(),
        [None, Some(Value::Str("x".into())), None]
    );
}

#[test]
fn take_from_moves_typed_value() {
    let mut source = Column::from(vec![None, Some(Value::Bool(true))]);
    let mut column = Column::absent(2);
    column.take_from(0, &mut source, 0);
    column.take_from(0, &mut source, 1);
    assert_eq!(column.as_bool(), Some(&[true, false][..]));
    assert_eq!(column.to_values(), [Some(Value::Bool(true)), None]);
}

#[test]
fn normalize_types_mixed_column_of_one_type() {
    let mut column = Column::from(vec![Some(Value::I64(1)), Some(Value::F64(0.5))]);
    column.set(0, Value::F64(1.5));
    assert!(matches!(column.values(), ColumnValues::Mixed(_)));
    column.normalize();
    assert_eq!(column.as_f64(), Some(&[1.5, 0.5][..]));
    assert!(column.all_present());
}

#[test]
fn block_rows_skip_values_before_window() {
    let mut column = Column::default();
    let presence = [true, false, true, true];
    column.extend_block_rows(vec![1i64, 2, 3], Some(&presence), 1..4);
    assert_eq!(column.as_i64(), Some(&[0, 2, 3][..]));
    assert_eq!(
        column.to_values(),
        [None, Some(Value::I64(2)), Some(Value::I64(3))]
    );
}

#[test]
fn block_rows_short_of_values_keep_row_count() {
    let mut column = Column::default();
    column.extend_block_rows(vec![0.5, 1.5], None, 1..4);
    assert_eq!(column.len(), 3);
    assert_eq!(column.to_values(), [Some(Value::F64(1.5)), None, None]);

    let presence = [true, true];
    column.extend_block_rows(vec![true], Some(&presence), 0..3);
    assert_eq!(column.len(), 6);
    assert_eq!(column.get(3), None);
    assert_eq!(column.present_count(), 1);
}

proptest! {
    #[test]
    fn column_ops_match_value_vectors(
        values in prop::collection::vec(value(), 0..40),
        sets in prop::collection::vec((0usize..40, value()), 0..10),
        order in prop::collection::vec(0usize..40, 0..40),
    ) {
        let mut expected = values.clone();
        let mut column = Column::from(values);
        for (row, value) in sets.into_iter().filter_map(|(row, v)| Some((row, v?))) {
            column.set(row, value.clone());
            if let Some(slot) = expected.get_mut(row) {
                *slot = Some(value);
            }
        }
        prop_assert_eq!(column.to_values(), expected.clone());

        let mut order: Vec<usize> = order.into_iter().filter(|row| *row < expected.len()).collect();
        order.sort_unstable();
        order.dedup();
        order.reverse();
        let mut picked_column = column.take_rows(&order);
        let picked: Vec<Option<Value>> = order.iter().map(|&row| expected[row].clone()).collect();
        prop_assert_eq!(picked_column.to_values(), picked.clone());
        picked_column.normalize();
        prop_assert_eq!(&picked_column, &Column::from(picked.clone()));
        prop_assert_eq!(picked_column.present_count(), picked.iter().flatten().count());
    }
}
