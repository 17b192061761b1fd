//! Metric values, metric lists and the limits that every `track_*` call checks.

use std::collections::HashSet;
use std::fmt;

use foldhash::fast::RandomState;

use crate::error::{Error, Result};

/// Maximum length of a model id, in bytes of UTF-8.
pub const MAX_MODEL_LEN: usize = 256;
/// Maximum length of a metric name, in bytes of UTF-8.
pub const MAX_METRIC_NAME_LEN: usize = 256;
/// Maximum number of metrics in one record.
pub const MAX_METRICS_PER_RECORD: usize = 1024;
/// Maximum length of a string value, in bytes of UTF-8.
pub const MAX_STRING_LEN: usize = 64 * 1024;
/// Maximum length of a bytes value.
pub const MAX_BYTES_LEN: usize = 4 * 1024 * 1024;
/// Maximum number of records in one batch call.
pub const MAX_BATCH_LEN: usize = 100_000;
/// Maximum encoded size of one record: its metrics, names and values together.
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// One metric value.
///
/// Floats round-trip bit for bit, so NaN payloads, infinities and `-0.0` come back as written.
/// Equality compares floats by their bits for the same reason.
#[derive(Clone, Debug)]
pub enum Value {
    F64(f64),
    I64(i64),
    Bool(bool),
    /// A category, such as a salary range or a country code.
    Str(String),
    /// An opaque payload, such as the JSON of a request; stored compressed.
    Bytes(Vec<u8>),
}

impl Value {
    /// Returns the type name used in error messages and in `dump`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::F64(_) => "f64",
            Value::I64(_) => "i64",
            Value::Bool(_) => "bool",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
        }
    }

    /// Returns the value as a float: f64 as it is, i64 converted and bool as 0.0 or 1.0.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::I64(v) => Some(*v as f64),
            Value::Bool(v) => Some(if *v { 1.0 } else { 0.0 }),
            Value::Str(_) | Value::Bytes(_) => None,
        }
    }

    /// Returns the string of a `Value::Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Returns the integer of a `Value::I64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// Returns the flag of a `Value::Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// Returns the payload of a `Value::Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Returns the number of payload bytes, used to size the head.
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Value::F64(_) | Value::I64(_) => 8,
            Value::Bool(_) => 1,
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::F64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::F64(f64::from(v))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I64(i64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::I64(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

/// One named metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub value: Value,
}

impl Metric {
    /// Returns a metric named `name` with `value`.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Metric {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// An ordered list of metrics with distinct names.
///
/// ```
/// use modelmetrics::Metrics;
/// let metrics = Metrics::new().with("score", 0.93).with("segment", "retail");
/// assert_eq!(metrics.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics(pub Vec<Metric>);

impl Metrics {
    /// Returns an empty list.
    pub fn new() -> Self {
        Metrics(Vec::new())
    }

    /// Appends a metric and returns the list, for building a list in one expression.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.push(name, value);
        self
    }

    /// Appends a metric.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.0.push(Metric::new(name, value));
    }

    /// Returns the value of the metric named `name`, if the list has one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|m| m.name == name).map(|m| &m.value)
    }

    /// Returns the number of metrics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the metrics in list order.
    pub fn iter(&self) -> std::slice::Iter<'_, Metric> {
        self.0.iter()
    }

    /// Sorts the metrics by name, the order in which reads return them.
    pub(crate) fn sort_by_name(&mut self) {
        if self.0.len() < 2 {
            return;
        }
        // Comparing the first bytes inline settles a pair of names that differ there without a
        // call to memcmp. The order is that of `str::cmp`.
        self.0.sort_by(|a, b| {
            let (a, b) = (a.name.as_bytes(), b.name.as_bytes());
            a.first().cmp(&b.first()).then_with(|| a.cmp(b))
        });
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub(crate) fn upsert(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|m| m.name == name) {
            Some(metric) => metric.value = value,
            None => self.0.push(Metric {
                name: name.to_owned(),
                value,
            }),
        }
    }
}

impl IntoIterator for Metrics {
    type Item = Metric;
    type IntoIter = std::vec::IntoIter<Metric>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Metrics {
    type Item = &'a Metric;
    type IntoIter = std::slice::Iter<'a, Metric>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<N: Into<String>, V: Into<Value>> FromIterator<(N, V)> for Metrics {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Metrics(iter.into_iter().map(|(n, v)| Metric::new(n, v)).collect())
    }
}

/// Checks a model id against the limits.
pub(crate) fn validate_model(model: &str) -> Result<()> {
    if model.is_empty() {
        return Err(Error::invalid(
            "model",
            "\"\"",
            "a model id must not be empty",
        ));
    }
    if model.len() > MAX_MODEL_LEN {
        return Err(Error::invalid(
            "model",
            preview(model),
            format!(
                "a model id is at most {MAX_MODEL_LEN} bytes, this one has {}",
                model.len()
            ),
        ));
    }
    if has_control_char(model) {
        return Err(Error::invalid(
            "model",
            preview(model),
            "a model id must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a window: `start_ms < end_ms`.
pub(crate) fn validate_window(start_ms: i64, end_ms: i64) -> Result<()> {
    if end_ms <= start_ms {
        return Err(Error::invalid(
            "end_ms",
            end_ms.to_string(),
            format!("a window needs end_ms > start_ms, and start_ms is {start_ms}"),
        ));
    }
    Ok(())
}

/// Checks the metrics of one record: count, names, duplicates, value sizes and total size.
pub(crate) fn validate_metrics(metrics: &Metrics) -> Result<()> {
    if metrics.len() > MAX_METRICS_PER_RECORD {
        return Err(Error::invalid(
            "metrics",
            format!("{} metrics", metrics.len()),
            format!("a record has at most {MAX_METRICS_PER_RECORD} metrics"),
        ));
    }
    let mut total = 0usize;
    for (position, metric) in metrics.iter().enumerate() {
        validate_metric_name(&metric.name)?;
        validate_value(&metric.name, &metric.value)?;
        total += metric.name.len() + metric.value.payload_len();
        // Records carry a handful of metrics, so a scan of the earlier names is cheaper than
        // building a hash set for every record. Long lists use a set below.
        if metrics.len() <= SMALL_METRIC_LIST {
            let earlier = metrics.0.get(..position).unwrap_or_default();
            if earlier.iter().any(|m| m.name == metric.name) {
                return Err(duplicate_name(&metric.name));
            }
        }
    }
    if metrics.len() > SMALL_METRIC_LIST {
        let mut seen = HashSet::with_capacity_and_hasher(metrics.len(), RandomState::default());
        for metric in metrics {
            if !seen.insert(metric.name.as_str()) {
                return Err(duplicate_name(&metric.name));
            }
        }
    }
    if total > MAX_RECORD_BYTES {
        return Err(Error::invalid(
            "metrics",
            format!("{total} bytes"),
            format!("one record is at most {MAX_RECORD_BYTES} bytes of names and values"),
        ));
    }
    Ok(())
}

/// Length up to which `validate_metrics` finds duplicate names by scanning.
const SMALL_METRIC_LIST: usize = 32;

pub(crate) fn duplicate_name(name: &str) -> Error {
    Error::invalid(
        "metric name",
        preview(name),
        "the name appears twice in one call: pass each metric once",
    )
}

pub(crate) fn validate_metric_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(
            "metric name",
            "\"\"",
            "a metric name must not be empty",
        ));
    }
    if name.len() > MAX_METRIC_NAME_LEN {
        return Err(Error::invalid(
            "metric name",
            preview(name),
            format!(
                "a metric name is at most {MAX_METRIC_NAME_LEN} bytes, this one has {}",
                name.len()
            ),
        ));
    }
    if has_control_char(name) {
        return Err(Error::invalid(
            "metric name",
            preview(name),
            "a metric name must not contain control characters",
        ));
    }
    Ok(())
}

/// Returns true when `text` contains a character that `char::is_control` accepts. Printable
/// ASCII, the common case for names, passes in one pass over the bytes without decoding.
fn has_control_char(text: &str) -> bool {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    text.chars().any(char::is_control)
}

fn validate_value(name: &str, value: &Value) -> Result<()> {
    match value {
        Value::Str(s) => validate_string_len(name, s.len()),
        Value::Bytes(b) => validate_bytes_len(name, b.len()),
        _ => Ok(()),
    }
}

/// Checks the length of a string value of the metric `name`.
pub(crate) fn validate_string_len(name: &str, len: usize) -> Result<()> {
    if len > MAX_STRING_LEN {
        return Err(Error::invalid(
            "string value",
            format!("{len} bytes in metric {}", preview(name)),
            format!("a string value is at most {MAX_STRING_LEN} bytes: store longer text as bytes"),
        ));
    }
    Ok(())
}

/// Checks the length of a bytes value of the metric `name`.
pub(crate) fn validate_bytes_len(name: &str, len: usize) -> Result<()> {
    if len > MAX_BYTES_LEN {
        return Err(Error::invalid(
            "bytes value",
            format!("{len} bytes in metric {}", preview(name)),
            format!("a bytes value is at most {MAX_BYTES_LEN} bytes"),
        ));
    }
    Ok(())
}

/// Quotes a user string for an error message, cut to 80 characters.
pub(crate) fn preview(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(MAX_CHARS).collect();
    format!("{head:?}... ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_check_matches_char_is_control() {
        let mut checked = 0;
        for code in (0..=0x2FFFu32).chain([0xFEFF, 0x1_F697, 0x10_FFFF]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            for text in [c.to_string(), format!("ab{c}"), format!("{c}é")] {
                assert_eq!(
                    has_control_char(&text),
                    c.is_control(),
                    "U+{code:04X} in {text:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 3 * 0x2000);
    }

    #[test]
    fn sort_by_name_orders_like_str_cmp() {
        let names = [
            "tenure", "", "ab", "a", "é", "Z", "b", "aa", "名前", "a\u{0}",
        ];
        let mut metrics: Metrics = names.iter().map(|n| (*n, 1i64)).collect();
        metrics.sort_by_name();
        let mut expected = names.to_vec();
        expected.sort();

        let sorted: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn control_check_passes_plain_names() {
        assert!(!has_control_char("score"));
        assert!(!has_control_char(""));
        assert!(!has_control_char("価格帯_ünïcødé"));
        assert!(has_control_char("tab\there"));
        assert!(has_control_char("c1\u{85}"));
    }
}
