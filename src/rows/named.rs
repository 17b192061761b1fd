//! The columns of one slice paired with their metric names, and the search of a name among
//! them.

use crate::columns::Column;

/// A metric's column in a slice, with its name and the name's first bytes as one word.
#[derive(Clone, Copy, Debug)]
pub(super) struct NamedColumn<'a> {
    pub name: &'a str,
    /// The first 8 bytes of `name`, zero-padded: equal words and lengths settle a name of up
    /// to 8 bytes without comparing bytes.
    prefix: u64,
    pub column: &'a Column,
}

impl<'a> NamedColumn<'a> {
    pub fn new(name: &'a str, column: &'a Column) -> NamedColumn<'a> {
        NamedColumn {
            name,
            prefix: prefix(name),
            column,
        }
    }

    #[inline]
    fn is_named(&self, name: &str, name_prefix: u64) -> bool {
        self.name.len() == name.len()
            && self.prefix == name_prefix
            && (name.len() <= 8 || self.name.as_bytes().get(8..) == name.as_bytes().get(8..))
    }
}

/// Columns up to this count are searched in order, comparing lengths and first words, which
/// settles most names without comparing bytes. Longer lists are searched by bisection.
const LINEAR_SEARCH_MAX: usize = 8;

/// Returns the column named `name` among `columns`, which are sorted by name.
///
/// Inlined into a caller that passes a literal name, the name's word is computed at compile
/// time, and a search costs a few comparisons per column.
#[inline]
pub(super) fn find<'a>(columns: &[NamedColumn<'a>], name: &str) -> Option<&'a Column> {
    if columns.len() <= LINEAR_SEARCH_MAX {
        let name_prefix = prefix(name);
        let found = columns.iter().find(|c| c.is_named(name, name_prefix));
        return found.map(|c| c.column);
    }
    let found = columns.binary_search_by(|c| c.name.cmp(name));
    columns.get(found.ok()?).map(|c| c.column)
}

#[inline]
fn prefix(name: &str) -> u64 {
    let mut word = [0u8; 8];
    for (slot, byte) in word.iter_mut().zip(name.as_bytes()) {
        *slot = *byte;
    }
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_sharing_prefix_or_length() {
        let names = ["a", "feature_1", "feature_2", "feature_20", "score", "z\0"];
        let columns: Vec<Column> = (0..names.len()).map(|_| Column::default()).collect();
        let named: Vec<NamedColumn<'_>> = names
            .iter()
            .zip(&columns)
            .map(|(name, column)| NamedColumn::new(name, column))
            .collect();
        for (name, column) in names.iter().zip(&columns) {
            let found = find(&named, name).expect("present name");
            assert!(std::ptr::eq(found, column), "{name} found another column");
        }
        for missing in ["", "feature_", "feature_3", "feature_200", "z", "scores"] {
            assert!(find(&named, missing).is_none(), "{missing:?} found");
        }
    }

    #[test]
    fn bisects_long_lists() {
        let names: Vec<String> = (0..40).map(|i| format!("metric_{i:03}")).collect();
        let columns: Vec<Column> = (0..names.len()).map(|_| Column::default()).collect();
        let named: Vec<NamedColumn<'_>> = names
            .iter()
            .zip(&columns)
            .map(|(name, column)| NamedColumn::new(name, column))
            .collect();
        for (name, column) in names.iter().zip(&columns) {
            assert!(std::ptr::eq(find(&named, name).unwrap(), column));
        }
        assert!(find(&named, "metric_040").is_none());
    }
}
