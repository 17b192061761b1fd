//! A metric value borrowed from a decoded window, as `Store::scan_metrics` hands it out.

use crate::value::Value;

/// One metric value that borrows strings and payloads instead of owning them.
///
/// `to_value` copies it into a [`Value`]. Equality compares floats by their bits, as it does
/// for `Value`.
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    F64(f64),
    I64(i64),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    /// Copies the value into an owned [`Value`].
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::Str(v) => Value::Str(v.to_owned()),
            ValueRef::Bytes(v) => Value::Bytes(v.to_vec()),
        }
    }

    /// Returns the value as a float: f64 as it is, i64 converted and bool as 0.0 or 1.0, like
    /// [`Value::as_f64`].
    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::F64(v) => Some(v),
            ValueRef::I64(v) => Some(v as f64),
            ValueRef::Bool(v) => Some(if v { 1.0 } else { 0.0 }),
            ValueRef::Str(_) | ValueRef::Bytes(_) => None,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            ValueRef::I64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            ValueRef::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            ValueRef::Str(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bytes(self) -> Option<&'a [u8]> {
        match self {
            ValueRef::Bytes(v) => Some(v),
            _ => None,
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::F64(v) => ValueRef::F64(*v),
            Value::I64(v) => ValueRef::I64(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Str(v) => ValueRef::Str(v),
            Value::Bytes(v) => ValueRef::Bytes(v),
        }
    }
}

impl PartialEq for ValueRef<'_> {
    fn eq(&self, other: &ValueRef<'_>) -> bool {
        match (self, other) {
            (ValueRef::F64(a), ValueRef::F64(b)) => a.to_bits() == b.to_bits(),
            (ValueRef::I64(a), ValueRef::I64(b)) => a == b,
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a == b,
            (ValueRef::Str(a), ValueRef::Str(b)) => a == b,
            (ValueRef::Bytes(a), ValueRef::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ValueRef<'_> {}

impl PartialEq<Value> for ValueRef<'_> {
    fn eq(&self, other: &Value) -> bool {
        *self == ValueRef::from(other)
    }
}
