//! The contract that every column codec of `modelmetrics::codec` promises, checked on one
//! input: `decode` appends exactly `n` values on success and leaves `out` as it was on error,
//! and what it decodes encodes back to bytes that decode to the same values.

use std::fmt::Debug;

use modelmetrics::codec::DecodeResult;

/// One column codec, as the targets pass it to `check`.
pub struct Codec<T> {
    /// Appends `n` values decoded from the bytes to the vector.
    pub decode: fn(&[u8], usize, &mut Vec<T>) -> DecodeResult<()>,
    /// Appends the encoding of the values to the byte vector.
    pub encode: fn(&[T], &mut Vec<u8>),
    /// A value that `check` puts in `out` before decoding, to see that `decode` keeps it.
    pub sentinel: T,
    /// Whether two decoded columns contain the same values (bit patterns, for floats).
    pub same: fn(&[T], &[T]) -> bool,
}

/// Decodes `encoding` as `n` values and asserts the codec contract. Panics on a breach, which
/// libFuzzer reports as a crash.
pub fn check<T: Clone + Debug>(codec: &Codec<T>, encoding: &[u8], n: usize) {
    let mut out = vec![codec.sentinel.clone()];
    let result = (codec.decode)(encoding, n, &mut out);
    let first = out.first().map(std::slice::from_ref).unwrap_or_default();
    let sentinel_intact = (codec.same)(first, std::slice::from_ref(&codec.sentinel));
    assert!(
        sentinel_intact,
        "decode changed the values that `out` held before it"
    );
    if let Err(error) = result {
        assert_eq!(out.len(), 1, "decode failed ({error}) but appended values");
        assert!(
            error.offset <= encoding.len(),
            "decode error offset {} is past the {}-byte input",
            error.offset,
            encoding.len()
        );
        return;
    }
    let values = out.get(1..).unwrap_or_default();
    assert_eq!(
        values.len(),
        n,
        "decode succeeded but did not append n values"
    );
    check_round_trip(codec, values);
}

/// Asserts that `values` encode to bytes that decode back to the same values.
fn check_round_trip<T: Clone + Debug>(codec: &Codec<T>, values: &[T]) {
    let mut encoded = Vec::new();
    (codec.encode)(values, &mut encoded);
    let mut decoded = Vec::new();
    if let Err(error) = (codec.decode)(&encoded, values.len(), &mut decoded) {
        panic!("re-encoded values fail to decode: {error}");
    }
    assert!(
        (codec.same)(values, &decoded),
        "re-encoded values decode to other values"
    );
}

/// `Codec::same` for types whose equality is exact.
pub fn same_values<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a == b
}
