//! The rollup file sections: per file its size, per model and interval the rollups, the
//! predictions they count and their time range, and the rolled-up filters, against which the
//! orphaned delayed rows of the segments are checked.

use std::collections::BTreeMap;
use std::io::{self, Write};

use modelmetrics::rollup::{RolledUpFilter, Rollup, RollupFile, rollup_file_name};

use crate::report::Dump;
use crate::table::{Align, TextTable};
use crate::time;

/// The rollups of one model and interval in a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Group {
    rollups: u64,
    predictions: u64,
    labeled: u64,
    first_start_ms: i64,
    last_end_ms: i64,
}

/// Prints each rollup file of `ids`.
pub fn dump_rollups(dump: &mut Dump<impl Write>, ids: &[u64]) -> io::Result<()> {
    writeln!(dump.out, "\nrollup files: {}", ids.len())?;
    for &id in ids {
        dump_rollup_file(dump, id)?;
    }
    Ok(())
}

fn dump_rollup_file(dump: &mut Dump<impl Write>, id: u64) -> io::Result<()> {
    let name = rollup_file_name(id);
    writeln!(dump.out, "\nrollup file {id}: {name}")?;
    if !dump.was_listed(&name) {
        return dump.missing(&name);
    }

    let file = match RollupFile::open(&dump.dir, id) {
        Ok(file) => file,
        Err(error) => return dump.file_error(&name, &error),
    };
    writeln!(
        dump.out,
        "  {} bytes, {} rollups",
        file.file_bytes(),
        file.rollup_count()
    )?;

    // NOTE: `RollupFile` lists no models or intervals without decoding, so the dump decodes
    // every rollup, which checks each body's checksum too, and keeps all the rollups of a
    // file in memory at once.
    let rollups = match file.all() {
        Ok(rollups) => rollups,
        Err(error) => return dump.file_error(&name, &error),
    };
    let groups = group(&rollups);
    write_groups(&mut dump.out, &groups)?;
    match file.filters() {
        Ok(filters) => check_filters(dump, &filters)?,
        Err(error) => return dump.file_error(&name, &error),
    }
    let predictions: u64 = groups.values().map(|group| group.predictions).sum();
    dump.totals.rollup_predictions += predictions;

    if dump.verify {
        dump.totals.rollup_files_checked += 1;
        writeln!(dump.out, "  verify: OK, every rollup decoded")?;
    }
    Ok(())
}

/// Prints a file's rolled-up filters and marks the orphans that one of them holds.
fn check_filters(dump: &mut Dump<impl Write>, filters: &[RolledUpFilter]) -> io::Result<()> {
    let predictions: u64 = filters.iter().map(|f| f.predictions()).sum();
    let bytes: u64 = filters.iter().map(|f| f.stored_bytes()).sum();
    let range = filters
        .iter()
        .map(|f| (f.oldest_ms(), f.newest_ms()))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    writeln!(
        dump.out,
        "  rolled-up filters: {}, of {predictions} prediction UUIDs in {bytes} bytes, \
         timestamps {} (newest included)",
        filters.len(),
        time::range(range)
    )?;
    for (uuid, rolled_up) in &mut dump.totals.orphans {
        *rolled_up = *rolled_up || filters.iter().any(|f| f.may_contain(uuid));
    }
    Ok(())
}

/// Sums the rollups per (model, interval in ms).
fn group(rollups: &[Rollup]) -> BTreeMap<(&str, i64), Group> {
    let mut groups: BTreeMap<(&str, i64), Group> = BTreeMap::new();
    for rollup in rollups {
        let key = (rollup.model.as_str(), rollup.interval_ms);
        let group = groups.entry(key).or_insert(Group {
            first_start_ms: rollup.start_ms,
            last_end_ms: rollup.end_ms(),
            ..Group::default()
        });
        group.rollups += 1;
        group.predictions += rollup.predictions;
        group.labeled += rollup.labeled;
        group.first_start_ms = group.first_start_ms.min(rollup.start_ms);
        group.last_end_ms = group.last_end_ms.max(rollup.end_ms());
    }
    groups
}

fn write_groups(out: &mut impl Write, groups: &BTreeMap<(&str, i64), Group>) -> io::Result<()> {
    let models: std::collections::BTreeSet<&str> = groups.keys().map(|(model, _)| *model).collect();
    writeln!(out, "  models: {}", models.len())?;
    if groups.is_empty() {
        return Ok(());
    }
    let mut table = TextTable::new(&[
        ("model", Align::Left),
        ("interval", Align::Right),
        ("rollups", Align::Right),
        ("predictions", Align::Right),
        ("labeled", Align::Right),
        ("time range", Align::Left),
    ]);
    for ((model, interval_ms), group) in groups {
        table.push(vec![
            model.to_string(),
            interval_text(*interval_ms),
            group.rollups.to_string(),
            group.predictions.to_string(),
            group.labeled.to_string(),
            time::range(Some((group.first_start_ms, group.last_end_ms))),
        ]);
    }
    table.write(out, "    ")?;
    writeln!(
        out,
        "    time range: from the start of the first rollup to the end of the last, exclusive"
    )
}

/// Formats an interval in milliseconds in the largest unit that divides it: `1d`, `6h`,
/// `5m`, `30s` or `250ms`.
fn interval_text(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| ms > 0 && ms % unit == 0)
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, name)| format!("{}{name}", ms / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_text_picks_largest_unit() {
        assert_eq!(interval_text(86_400_000), "1d");
        assert_eq!(interval_text(21_600_000), "6h");
        assert_eq!(interval_text(300_000), "5m");
        assert_eq!(interval_text(90_000), "90s");
        assert_eq!(interval_text(250), "250ms");
        assert_eq!(interval_text(0), "0ms");
    }

    #[test]
    fn group_sums_per_model_and_interval() {
        let rollup = |model: &str, start_ms: i64, interval_ms: i64| {
            let mut rollup = Rollup::new(model, start_ms, interval_ms).unwrap();
            rollup.predictions = 3;
            rollup.labeled = 2;
            rollup
        };
        let rollups = [
            rollup("a", 0, 1_000),
            rollup("a", 5_000, 1_000),
            rollup("a", 0, 60_000),
            rollup("b", 2_000, 1_000),
        ];
        let groups = group(&rollups);
        assert_eq!(groups.len(), 3);
        let first = &groups[&("a", 1_000)];
        assert_eq!(first.rollups, 2);
        assert_eq!(first.predictions, 6);
        assert_eq!(first.labeled, 4);
        assert_eq!(first.first_start_ms, 0);
        assert_eq!(first.last_end_ms, 6_000);
        assert_eq!(groups[&("b", 1_000)].rollups, 1);
    }
}
