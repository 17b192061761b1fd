//! The header of a dump: the directory, the manifest, the lock holder and the file list.

use std::fs;
use std::io::{self, Write};

use modelmetrics::manifest::Manifest;

use crate::files::{LOCK_FILE, MANIFEST_FILE, describe, stray_reason};
use crate::report::{Dump, describe_error};
use crate::table::{Align, TextTable};

/// Offset of the u32 format version in `MANIFEST` (docs/format/manifest.md).
const MANIFEST_VERSION_OFFSET: usize = 8;

/// Prints the directory, the manifest decoded from `manifest_bytes`, the lock holder and the
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
    write_lock(dump)?;
    write_files(dump, manifest.as_ref())?;
    Ok(manifest)
}

fn write_manifest(out: &mut impl Write, manifest: &Manifest, bytes: &[u8]) -> io::Result<()> {
    let version = bytes
        .get(MANIFEST_VERSION_OFFSET..MANIFEST_VERSION_OFFSET + 4)
        .and_then(|field| field.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    let ids = |ids: &[u64]| match ids.is_empty() {
        true => "none".to_owned(),
        false => ids
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
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
    writeln!(out, "  live segments: {}", ids(&manifest.segments))?;
    writeln!(out, "  live index runs: {}", ids(&manifest.index_runs))
}

/// Prints the process id that `LOCK` names. The dump does not take the lock, so it cannot tell
/// whether that process still holds it.
fn write_lock(dump: &mut Dump<impl Write>) -> io::Result<()> {
    let path = dump.dir.join(LOCK_FILE);
    let holder = match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid} (if still running)"),
            Err(_) => format!("unknown: LOCK holds {:?}", text.trim()),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => "none: no LOCK file".to_owned(),
        Err(error) => format!("unknown: reading LOCK failed: {error}"),
    };
    writeln!(dump.out, "lock holder: {holder}")
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
