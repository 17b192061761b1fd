//! The header of a dump: the directory, the manifest, the lock state and the file list.

use std::fs;
use std::io::{self, Write};

use modelmetrics::manifest::{CompactionRecord, Deletion, Manifest};

use crate::files::{MANIFEST_FILE, describe, stray_reason};
use crate::report::{Dump, describe_error};
use crate::table::{Align, TextTable};
use crate::time;

/// Offset of the u32 format version in `MANIFEST` (docs/format/manifest.md).
const MANIFEST_VERSION_OFFSET: usize = 8;

/// Prints the directory, the manifest decoded from `manifest_bytes`, the lock state and the
/// files. Returns the manifest, or `None` when it is damaged, which is recorded as a problem.
pub fn write_header(
    dump: &mut Dump<impl Write>,
    manifest_bytes: &[u8],
) -> io::Result<Option<Manifest>> {
    let path = fs::canonicalize(&dump.dir).unwrap_or_else(|_| dump.dir.clone());
    writeln!(dump.out, "store: {}", path.display())?;
    let manifest = match Manifest::decode(manifest_bytes, &dump.dir.join(MANIFEST_FILE)) {
        Ok(manifest) => {
            write_manifest(&mut dump.out, &manifest, manifest_bytes)?;
            Some(manifest)
        }
        Err(error) => {
            writeln!(dump.out, "manifest: unreadable")?;
            dump.problem(MANIFEST_FILE, describe_error(&error))?;
            writeln!(
                dump.out,
                "  note: without a manifest, every segment, index run and log file found is \
                 dumped"
            )?;
            None
        }
    };
    crate::lock::write_lock(dump)?;
    write_files(dump, manifest.as_ref())?;
    Ok(manifest)
}

fn write_manifest(out: &mut impl Write, manifest: &Manifest, bytes: &[u8]) -> io::Result<()> {
    let version = bytes
        .get(MANIFEST_VERSION_OFFSET..MANIFEST_VERSION_OFFSET + 4)
        .and_then(|field| field.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    writeln!(out, "manifest: format version {version}")?;
    writeln!(out, "  next file id: {}", manifest.next_file_id)?;
    writeln!(
        out,
        "  wal_start: {} (first log file to replay)",
        manifest.wal_start
    )?;
    writeln!(
        out,
        "  last_seq: {} (largest sequence number in a segment)",
        manifest.last_seq
    )?;
    writeln!(out, "  live segments: {}", id_list(&manifest.segments))?;
    writeln!(out, "  live index runs: {}", id_list(&manifest.index_runs))?;
    writeln!(out, "  live rollup files: {}", id_list(&manifest.rollups))?;
    write_compaction_state(out, manifest)
}

/// Formats ids in their order, a run of three or more consecutive ids as `first-last`, such as
/// `7-308, 5`, or `none`.
fn id_list(ids: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => runs.push((id, id)),
        }
    }
    let mut parts = Vec::new();
    for (first, last) in runs {
        match last - first {
            0 => parts.push(first.to_string()),
            1 => parts.extend([first.to_string(), last.to_string()]),
            _ => parts.push(format!("{first}-{last}")),
        }
    }
    match parts.is_empty() {
        true => "none".to_owned(),
        false => parts.join(", "),
    }
}

/// Prints the compaction state of a version 2 manifest, which a version 1 manifest reads as
/// its defaults: nothing rolled up, nothing deleted, no compaction.
fn write_compaction_state(out: &mut impl Write, manifest: &Manifest) -> io::Result<()> {
    writeln!(
        out,
        "  raw_cutoff_ms: {}",
        cutoff(
            manifest.raw_cutoff_ms,
            "older predictions are rolled up",
            "nothing rolled up"
        )
    )?;
    let tiers = match manifest.tier_cutoffs.is_empty() {
        true => "none: no rollup was merged into a coarser tier".to_owned(),
        false => manifest
            .tier_cutoffs
            .iter()
            .enumerate()
            .map(|(tier, &ms)| format!("tier {tier} below {}", timestamp(ms)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    writeln!(out, "  tier_cutoffs: {tiers}")?;
    writeln!(
        out,
        "  expired_before_ms: {}",
        cutoff(
            manifest.expired_before_ms,
            "older records were deleted by age",
            "nothing deleted by age"
        )
    )?;
    match &manifest.last_compaction {
        Some(record) => write_last_compaction(out, record)?,
        None => writeln!(out, "  last compaction: none")?,
    }
    write_deletions(out, &manifest.deletions)
}

/// Lists the deletions that compaction has not yet removed from the files. Reads already hide
/// what they cover.
fn write_deletions(out: &mut impl Write, deletions: &[Deletion]) -> io::Result<()> {
    if deletions.is_empty() {
        return writeln!(out, "  pending deletions: none");
    }
    writeln!(
        out,
        "  pending deletions: {} (hidden from reads, not yet removed from the files)",
        deletions.len()
    )?;
    for deletion in deletions {
        match deletion {
            Deletion::Prediction { uuid, seq_limit } => {
                writeln!(out, "    prediction {uuid}, tracked up to seq {seq_limit}")?
            }
            Deletion::Model { model, seq_limit } => {
                writeln!(out, "    model {model:?}, tracked up to seq {seq_limit}")?
            }
        }
    }
    Ok(())
}

fn write_last_compaction(out: &mut impl Write, record: &CompactionRecord) -> io::Result<()> {
    writeln!(
        out,
        "  last compaction: finished {}",
        timestamp(record.finished_unix_ms)
    )?;
    writeln!(
        out,
        "    segments: {} read ({} bytes), {} written; files written: {} bytes",
        record.segments_in, record.bytes_in, record.segments_out, record.bytes_out
    )?;
    writeln!(
        out,
        "    predictions rolled up: {}, records deleted by age: {}",
        record.rolled_up, record.expired
    )
}

/// Formats a cutoff timestamp and what it means, or `none` and `unset` when it is
/// `i64::MIN`, the manifest's value for a cutoff never set.
fn cutoff(ms: i64, meaning: &str, unset: &str) -> String {
    match ms {
        i64::MIN => format!("none: {unset}"),
        ms => format!("{}: {meaning}", timestamp(ms)),
    }
}

/// Formats a timestamp in milliseconds and as a UTC date.
fn timestamp(ms: i64) -> String {
    format!("{ms} ({})", time::iso8601(ms))
}

fn write_files(dump: &mut Dump<impl Write>, manifest: Option<&Manifest>) -> io::Result<()> {
    let total: u64 = dump.files.iter().map(|file| file.bytes).sum();
    writeln!(dump.out, "\nfiles: {}, {total} bytes", dump.files.len())?;
    let mut table = TextTable::new(&[
        ("name", Align::Left),
        ("bytes", Align::Right),
        ("kind", Align::Left),
        ("note", Align::Left),
    ]);
    for file in &dump.files {
        table.push(vec![
            file.name.clone(),
            file.bytes.to_string(),
            describe(file.kind),
            stray_reason(file.kind, manifest).unwrap_or("").to_owned(),
        ]);
    }
    table.write(&mut dump.out, "  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_list_joins_consecutive_runs() {
        assert_eq!(id_list(&[]), "none");
        assert_eq!(id_list(&[4]), "4");
        assert_eq!(id_list(&[1, 2]), "1, 2");
        assert_eq!(id_list(&[7, 8, 9, 10, 5]), "7-10, 5");
        assert_eq!(id_list(&[3, 5, 6, 7, 9]), "3, 5-7, 9");
        assert_eq!(id_list(&[u64::MAX, 0, 1, 2]), "18446744073709551615, 0-2");
    }

    #[test]
    fn cutoff_of_unset_value_is_none() {
        assert_eq!(cutoff(i64::MIN, "meaning", "unset"), "none: unset");
        assert_eq!(
            cutoff(0, "older predictions are rolled up", "unset"),
            "0 (1970-01-01T00:00:00.000Z): older predictions are rolled up"
        );
    }
}
