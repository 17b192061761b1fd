//! Reads of many values of one bit width, eight at a time.
//!
//! Eight values of `W` bits take exactly `W` bytes. So when the first of eight values starts
//! on a byte boundary, every group of eight that follows does too, and value `j` of a group
//! lies at the same byte and bit offsets in each group. With `W` a constant, those offsets
//! are constants, and reading a value takes one load, one shift and one mask.

/// The bytes loaded for one group: a value that starts at byte `j * W / 8 <= 49` of the group
/// ends in the 8 bytes from there, for `W` up to 56.
const GROUP_LOAD: usize = 64;

/// Reads values of `width` bits from `bytes`, starting at byte `first_byte`, which must be the
/// start of a value, into `out` in groups of eight, while the 64 bytes from a group's start
/// lie inside `bytes`. Returns how many values it read: a multiple of 8, and 0 for a width of
/// 0 or above 56, because a wider value can span 9 bytes.
pub fn read_groups<T>(
    bytes: &[u8],
    first_byte: usize,
    width: u32,
    out: &mut [T],
    map: &impl Fn(u64) -> T,
) -> usize {
    macro_rules! by_width {
        ($($w:literal)*) => {
            match width {
                $($w => read_groups_of::<$w, T>(bytes, first_byte, out, map),)*
                _ => 0,
            }
        };
    }
    by_width!(
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56
    )
}

fn read_groups_of<const W: usize, T>(
    bytes: &[u8],
    first_byte: usize,
    out: &mut [T],
    map: &impl Fn(u64) -> T,
) -> usize {
    let mask = (1u64 << W) - 1;
    let mut byte = first_byte;
    let mut read = 0;
    for group in out.chunks_exact_mut(8) {
        let Some(load) = bytes.get(byte..byte + GROUP_LOAD) else {
            break;
        };
        let Ok(load) = <&[u8; GROUP_LOAD]>::try_from(load) else {
            break;
        };
        let Ok(group) = <&mut [T; 8]>::try_from(group) else {
            break;
        };
        for (j, slot) in group.iter_mut().enumerate() {
            let bit = j * W;
            let at = bit / 8;
            let word = load
                .get(at..at + 8)
                .and_then(|word| <[u8; 8]>::try_from(word).ok())
                .map_or(0, u64::from_le_bytes);
            *slot = map((word >> (bit % 8)) & mask);
        }
        byte += W;
        read += 8;
    }
    read
}
