//! The index run section: one line per UUID index run.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use modelmetrics::Uuid;
use modelmetrics::index::{EntryKind, IndexRun, UuidSource, index_file_name};
use modelmetrics::segment::{Segment, segment_file_name};

use crate::report::{Dump, ratio};
use crate::table::{Align, TextTable};

/// Prints a table of the index runs of `ids`, and with `--verify` checks every page of each.
/// Problems are printed after the table.
pub fn dump_index_runs(dump: &mut Dump<impl Write>, ids: &[u64]) -> io::Result<()> {
    writeln!(dump.out, "\nindex runs: {}", ids.len())?;
    if ids.is_empty() {
        return Ok(());
    }
    let mut columns = vec![
        ("id", Align::Right),
        ("file", Align::Left),
        ("entries", Align::Right),
        ("file bytes", Align::Right),
        ("bytes/entry", Align::Right),
        ("bits/entry", Align::Right),
        ("segments", Align::Right),
        ("memory bytes", Align::Right),
    ];
    if dump.verify {
        columns.push(("verify", Align::Left));
    }
    let mut table = TextTable::new(&columns);
    let mut failures = Vec::new();
    let mut segments = OpenSegments::default();
    for &id in ids {
        let name = index_file_name(id);
        let (cells, failure) = run_cells(dump, id, &name, &mut segments);
        table.push([vec![id.to_string(), name.clone()], cells].concat());
        failures.extend(failure.map(|error| (name, error)));
    }
    table.write(&mut dump.out, "  ")?;
    writeln!(
        dump.out,
        "  bits/entry: width of one packed entry (segment slot, kind, row); the UUIDs are in \
         the segments\n  memory bytes: heap held by an open run (bloom filter, fences, segment \
         table, page-check bits)"
    )?;
    for (name, failure) in failures {
        match failure {
            Failure::Missing => dump.missing(&name)?,
            Failure::Error(error) => dump.file_error(&name, &error)?,
        }
    }
    Ok(())
}

enum Failure {
    Missing,
    Error(modelmetrics::Error),
}

/// Segments opened to verify index runs, by id. The index entries point into them.
#[derive(Default)]
struct OpenSegments(BTreeMap<u64, Arc<Segment>>);

impl UuidSource for OpenSegments {
    fn uuid_at(&self, segment: u64, kind: EntryKind, row: u32) -> modelmetrics::Result<Uuid> {
        let Some(found) = self.0.get(&segment) else {
            let name = segment_file_name(segment);
            let reason = "a UUID index entry points into this segment, which is not open: \
                          the manifest does not list it or it failed to open";
            return Err(modelmetrics::Error::Corruption {
                file: PathBuf::from(name),
                offset: 0,
                reason: reason.to_owned(),
            });
        };
        match kind {
            EntryKind::Prediction => found.uuid_at(row),
            EntryKind::Delayed => found.orphan_uuid_at(row),
        }
    }
}

/// Returns the cells of run `id` after its id and name, and what failed, if anything.
/// `segments` caches the segments opened to verify runs. A segment that fails to open is left
/// out, so the runs that point into it fail their check.
fn run_cells(
    dump: &mut Dump<impl Write>,
    id: u64,
    name: &str,
    segments: &mut OpenSegments,
) -> (Vec<String>, Option<Failure>) {
    if !dump.was_listed(name) {
        return (vec!["missing".to_owned()], Some(Failure::Missing));
    }
    let run = match IndexRun::open(&dump.dir, id) {
        Ok(run) => run,
        Err(error) => return (vec!["cannot open".to_owned()], Some(Failure::Error(error))),
    };
    let info = run.info();
    let mut cells = vec![
        info.entries.to_string(),
        info.file_bytes.to_string(),
        ratio(info.file_bytes, info.entries),
        run.entry_bits().to_string(),
        run.segments().len().to_string(),
        run.memory_bytes().to_string(),
    ];
    if !dump.verify {
        return (cells, None);
    }
    dump.totals.index_runs_checked += 1;
    for &segment in run.segments() {
        if !segments.0.contains_key(&segment)
            && let Ok(opened) = Segment::open(&dump.dir, segment)
        {
            segments.0.insert(segment, Arc::new(opened));
        }
    }
    match run.verify(segments) {
        Ok(()) => {
            cells.push("OK".to_owned());
            (cells, None)
        }
        Err(error) => {
            cells.push("damaged".to_owned());
            (cells, Some(Failure::Error(error)))
        }
    }
}
