//! Checks of how a column read by `read_columns` stores its values.

#![allow(dead_code)]

use modelmetrics::{Column, ColumnValues, Value};

/// Returns the storage that a column of `values` has: the type of its values when all have
/// one type, "mixed" when they have several, "empty" when none is present.
pub fn expected_storage(values: &[Option<Value>]) -> &'static str {
    let mut types = values.iter().flatten().map(Value::type_name);
    let Some(first) = types.next() else {
        return "empty";
    };
    match types.all(|name| name == first) {
        true => first,
        false => "mixed",
    }
}

/// Returns the storage of `column`, named as `expected_storage` names it.
pub fn storage(column: &Column) -> &'static str {
    match column.values() {
        ColumnValues::Empty => "empty",
        ColumnValues::F64(_) => "f64",
        ColumnValues::I64(_) => "i64",
        ColumnValues::Bool(_) => "bool",
        ColumnValues::Str(_) => "string",
        ColumnValues::Bytes(_) => "bytes",
        ColumnValues::Mixed(_) => "mixed",
    }
}

/// Checks that `column` contains `expected` row by row, in the storage its types call for, with
/// the typed slice and the presence flags agreeing with `get`.
pub fn check_column(column: &Column, expected: &[Option<Value>]) -> Result<(), String> {
    check_values(column, expected)?;
    let (found, wanted) = (storage(column), expected_storage(expected));
    if found != wanted {
        return Err(format!("stored as {found}, expected {wanted}"));
    }
    Ok(())
}

/// Checks that `column` contains `expected` row by row, with the typed slice and the presence
/// flags agreeing with `get`, however it stores them.
pub fn check_values(column: &Column, expected: &[Option<Value>]) -> Result<(), String> {
    if column.len() != expected.len() {
        return Err(format!(
            "{} rows, expected {}",
            column.len(),
            expected.len()
        ));
    }
    let present = expected.iter().filter(|value| value.is_some()).count();
    if column.present_count() != present {
        let count = column.present_count();
        return Err(format!("{count} rows present, expected {present}"));
    }
    if column.all_present() != (present == expected.len()) {
        return Err(format!("all_present is {}", column.all_present()));
    }
    for (row, value) in expected.iter().enumerate() {
        if column.get(row) != *value || column.is_present(row) != value.is_some() {
            return Err(format!(
                "row {row} is {:?}, expected {value:?}",
                column.get(row)
            ));
        }
        if let (Some(Value::F64(v)), Some(slice)) = (value, column.as_f64())
            && slice.get(row).map(|s| s.to_bits()) != Some(v.to_bits())
        {
            return Err(format!("as_f64 of row {row} is not {v}"));
        }
        if let (Some(Value::Bool(v)), Some(slice)) = (value, column.as_bool())
            && slice.get(row) != Some(v)
        {
            return Err(format!("as_bool of row {row} is not {v}"));
        }
    }
    Ok(())
}
