//! Rollup files: rollups of any models and intervals, written once, with a directory so that
//! a read decodes only the rollups that overlap its window. `docs/format/rollup.md`
//! describes the layout, format version 2, and the rolled-up filters it contains since version 2.
//!
//! A file is opened with plain reads, not a memory map: open reads the header, directory and
//! trailer, and each `read` reads the bodies it decodes with positioned reads. The bodies are
//! small, compressed and decoded into owned rollups anyway, so a map would save no copy, and
//! plain reads need no `unsafe` and cannot fault if another process truncates the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use uuid::Uuid;

use super::Rollup;
use super::directory::{Directory, Entry, decode_directory, encode_directory};
use super::encode::{decode_body, encode_body};
use super::filter::{FilterEntry, MAX_FILTER_WORDS, RolledUpFilter};
use crate::codec::{self, Reader};
use crate::error::{Error, IoContext, Result};
use crate::io::{CreateMode, StoreIo};
use crate::value::MAX_MODEL_LEN;

/// File name extension of rollup files.
pub const ROLLUP_EXTENSION: &str = "mmr";
/// Format version that this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The first version, still read: no rolled-up filters.
pub const FORMAT_VERSION_1: u32 = 1;
/// First bytes of a rollup file.
pub const HEADER_MAGIC: [u8; 8] = *b"MMROLLUP";
/// Bytes 16..24 of the trailer.
pub const TRAILER_MAGIC: [u8; 8] = *b"MMROLEND";
/// Size of the header: magic, version, flags, file id.
pub const HEADER_LEN: usize = 24;
/// Size of the trailer: directory offset, length and CRC, magic, CRC of header and trailer.
pub const TRAILER_LEN: usize = 28;
/// Size of one directory entry.
pub const ENTRY_LEN: usize = 40;
/// Header flag: every body is one zstd frame.
pub const FLAG_ZSTD: u32 = 1;
/// Largest decoded body that a reader accepts, 64 MiB.
pub const MAX_BODY_LEN: usize = 64 << 20;
/// zstd level of the bodies.
const ZSTD_LEVEL: i32 = 3;

/// Returns the file name of rollup file `id`, `rollup-{id:020}.mmr`.
pub fn rollup_file_name(id: u64) -> String {
    format!("rollup-{id:020}.{ROLLUP_EXTENSION}")
}

/// Returns the id of a file named as [`rollup_file_name`] names it, `None` for another name.
pub fn parse_rollup_file_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix("rollup-")?
        .strip_suffix(ROLLUP_EXTENSION)?
        .strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An open rollup file.
#[derive(Debug)]
pub struct RollupFile {
    id: u64,
    path: PathBuf,
    file: File,
    file_bytes: u64,
    zstd: bool,
    directory: Directory,
    /// The rolled-up filters, read and checked on first use.
    filters: Mutex<Option<Arc<Vec<RolledUpFilter>>>>,
}

impl RollupFile {
    /// Writes `rollups` and the rolled-up `filters` into file `id` of `dir` through `io`, syncs
    /// it and opens it.
    ///
    /// An existing file of that name is replaced. On error the partial file is removed (best
    /// effort). Returns `Error::InvalidInput` when two rollups share model, interval and start
    /// (merge them first) or a model name exceeds `MAX_MODEL_LEN` bytes.
    ///
    /// NOTE: the directory is not synced, so the new name survives a power loss only once the
    /// caller syncs `dir`, as the store does when it records the file in its manifest.
    pub(crate) fn write_with(
        io: &dyn StoreIo,
        dir: &Path,
        id: u64,
        rollups: &[Rollup],
        filters: &[RolledUpFilter],
    ) -> Result<RollupFile> {
        let started = Instant::now();
        let path = dir.join(rollup_file_name(id));
        let mut sorted: Vec<&Rollup> = rollups.iter().collect();
        sorted.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        check_rollups(&sorted)?;
        let result = write_file(io, &path, id, &sorted, filters);
        if result.is_err() {
            let _ = io.remove(&path);
        }
        let bytes = result?;
        log::info!(
            "wrote rollup file {}: {} rollups, {} filters, {bytes} bytes in {} ms",
            path.display(),
            rollups.len(),
            filters.len(),
            started.elapsed().as_millis()
        );
        RollupFile::open(dir, id)
    }

    /// Writes `rollups` like `write_with`, through the operating system's file calls.
    pub fn write(
        dir: &Path,
        id: u64,
        rollups: &[Rollup],
        filters: &[RolledUpFilter],
    ) -> Result<RollupFile> {
        Self::write_with(&*crate::io::os_io(), dir, id, rollups, filters)
    }

    /// Opens rollup file `id` of `dir`, checking its header, trailer and directory.
    ///
    /// Returns `Error::Corruption` when a check fails, `Error::UnsupportedVersion` for
    /// another format version.
    pub fn open(dir: &Path, id: u64) -> Result<RollupFile> {
        let path = dir.join(rollup_file_name(id));
        let file = File::open(&path).io_context("open rollup file", &path)?;
        let file_bytes = file
            .metadata()
            .io_context("read metadata of rollup file", &path)?
            .len();

        let minimum = (HEADER_LEN + TRAILER_LEN) as u64;
        if file_bytes < minimum {
            return Err(Error::corruption(
                &path,
                0,
                format!("file has {file_bytes} bytes, fewer than the {minimum} of an empty one"),
            ));
        }

        let header = read_at(&file, &path, 0, HEADER_LEN)?;
        let trailer = read_at(&file, &path, file_bytes - TRAILER_LEN as u64, TRAILER_LEN)?;
        let layout = check_frame(&path, &header, &trailer, file_bytes, id)?;

        let directory = read_at(&file, &path, layout.directory_offset, layout.directory_len)?;
        if crc32fast::hash(&directory) != layout.directory_crc {
            return Err(Error::corruption(
                &path,
                layout.directory_offset,
                "directory checksum mismatch",
            ));
        }
        let directory = decode_directory(&directory, layout.directory_offset, layout.version)
            .map_err(|e| e.into_corruption(&path, layout.directory_offset))?;
        Ok(RollupFile {
            id,
            path,
            file,
            file_bytes,
            zstd: layout.zstd,
            directory,
            filters: Mutex::new(None),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns the size of the file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    pub fn rollup_count(&self) -> usize {
        self.directory.entries.len()
    }

    /// Number of rolled-up filters, and of the predictions they hold, from the directory.
    pub fn filter_counts(&self) -> (usize, u64) {
        let filters = &self.directory.filters;
        let predictions = filters
            .iter()
            .fold(0u64, |n, f| n.saturating_add(f.predictions));
        (filters.len(), predictions)
    }

    /// Reads the rolled-up filters, checking their CRCs, once; later calls share them.
    pub fn filters(&self) -> Result<Arc<Vec<RolledUpFilter>>> {
        let mut loaded = self.filters.lock();
        if let Some(filters) = loaded.as_ref() {
            return Ok(Arc::clone(filters));
        }
        let mut filters = Vec::with_capacity(self.directory.filters.len());
        for entry in &self.directory.filters {
            filters.push(self.load_filter(entry)?);
        }
        let filters = Arc::new(filters);
        *loaded = Some(Arc::clone(&filters));
        Ok(filters)
    }

    /// Returns whether a filter of this file probably contains `uuid`: a prediction of that UUID
    /// was rolled up, or, for about 1 % of other UUIDs, a false positive.
    pub fn may_have_rolled_up(&self, uuid: &Uuid) -> Result<bool> {
        if self.directory.filters.is_empty() {
            return Ok(false);
        }
        Ok(self.filters()?.iter().any(|f| f.may_contain(uuid)))
    }

    fn load_filter(&self, entry: &FilterEntry) -> Result<RolledUpFilter> {
        let stored = read_at(
            &self.file,
            &self.path,
            entry.offset,
            entry.stored_len() as usize,
        )?;
        if crc32fast::hash(&stored) != entry.crc {
            return Err(Error::corruption(
                &self.path,
                entry.offset,
                "rolled-up filter checksum mismatch",
            ));
        }
        Ok(entry.load(&stored))
    }

    /// Reads the rollups of `model`, of any interval, that overlap `[start_ms, end_ms)`,
    /// sorted by (interval_ms, start_ms). Decodes only those.
    pub fn read(&self, model: &str, start_ms: i64, end_ms: i64) -> Result<Vec<Rollup>> {
        let models = &self.directory.models;
        let Ok(model_index) = models.binary_search_by(|m| m.as_str().cmp(model)) else {
            return Ok(Vec::new());
        };
        let overlapping = self.directory.entries.iter().filter(|entry| {
            let entry_end = entry.start_ms.saturating_add(entry.interval_ms);
            entry.model as usize == model_index && entry.start_ms < end_ms && entry_end > start_ms
        });
        overlapping.map(|entry| self.decode(entry)).collect()
    }

    /// Returns the model ids that have rollups in this file, ascending.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.directory.models.iter().map(String::as_str)
    }

    /// Reads every rollup, sorted by (model, interval_ms, start_ms).
    pub fn all(&self) -> Result<Vec<Rollup>> {
        self.directory
            .entries
            .iter()
            .map(|entry| self.decode(entry))
            .collect()
    }

    fn decode(&self, entry: &Entry) -> Result<Rollup> {
        let stored = read_at(&self.file, &self.path, entry.offset, entry.len as usize)?;
        if crc32fast::hash(&stored) != entry.crc {
            return Err(Error::corruption(
                &self.path,
                entry.offset,
                "rollup body checksum mismatch",
            ));
        }
        let raw_len = entry.raw_len as usize;
        let raw = if self.zstd {
            codec::decompress_zstd(&stored, raw_len)
                .map_err(|e| Error::corruption(&self.path, entry.offset, e.reason))?
        } else {
            stored
        };
        if raw.len() != raw_len {
            return Err(Error::corruption(
                &self.path,
                entry.offset,
                format!(
                    "rollup body has {} bytes, the directory says {raw_len}",
                    raw.len()
                ),
            ));
        }
        let body = decode_body(&raw).map_err(|e| {
            let reason = format!("rollup body, at byte {} of it: {}", e.offset, e.reason);
            Error::corruption(&self.path, entry.offset, reason)
        })?;
        let model = self
            .directory
            .models
            .get(entry.model as usize)
            .cloned()
            .unwrap_or_default();
        Ok(Rollup {
            model,
            start_ms: entry.start_ms,
            interval_ms: entry.interval_ms,
            predictions: body.predictions,
            labeled: body.labeled,
            metrics: body.metrics,
            delayed: body.delayed,
            joined: body.joined,
        })
    }
}

fn sort_key(rollup: &Rollup) -> (&str, i64, i64) {
    (&rollup.model, rollup.interval_ms, rollup.start_ms)
}

fn check_rollups(sorted: &[&Rollup]) -> Result<()> {
    for pair in sorted.windows(2) {
        if let [first, second] = pair
            && sort_key(first) == sort_key(second)
        {
            return Err(Error::invalid(
                "rollups",
                format!(
                    "two of model {:?}, interval {} ms, start {} ms",
                    first.model, first.interval_ms, first.start_ms
                ),
                "a file holds one rollup per model, interval and start: merge them first",
            ));
        }
    }
    for rollup in sorted {
        if rollup.model.len() > MAX_MODEL_LEN {
            return Err(Error::invalid(
                "model name",
                format!("of {} bytes", rollup.model.len()),
                format!("model names have at most {MAX_MODEL_LEN} bytes"),
            ));
        }
        if rollup.interval_ms <= 0 || rollup.start_ms.checked_add(rollup.interval_ms).is_none() {
            return Err(Error::invalid(
                "rollup interval",
                format!("{} ms from {} ms", rollup.interval_ms, rollup.start_ms),
                "the interval must be positive and end within the i64 range",
            ));
        }
    }
    Ok(())
}

/// Writes the file and returns its size.
fn write_file(
    io: &dyn StoreIo,
    path: &Path,
    id: u64,
    sorted: &[&Rollup],
    filters: &[RolledUpFilter],
) -> Result<u64> {
    let file = io
        .create(path, CreateMode::Truncate)
        .io_context("create rollup file", path)?;
    let mut out = BufWriter::new(file);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&HEADER_MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&FLAG_ZSTD.to_le_bytes());
    header.extend_from_slice(&id.to_le_bytes());
    out.write_all(&header)
        .io_context("write rollup file", path)?;

    let mut models: Vec<&str> = sorted.iter().map(|r| r.model.as_str()).collect();
    models.dedup();
    let mut entries = Vec::with_capacity(sorted.len());
    let mut offset = HEADER_LEN as u64;
    let mut raw = Vec::new();
    for rollup in sorted {
        raw.clear();
        encode_body(rollup, &mut raw);
        let stored = codec::compress_zstd(&raw, ZSTD_LEVEL);
        let too_large = || {
            Error::invalid(
                "rollup",
                format!("of model {:?} with a {} byte body", rollup.model, raw.len()),
                format!("a rollup body has at most {MAX_BODY_LEN} bytes"),
            )
        };
        if raw.len() > MAX_BODY_LEN {
            return Err(too_large());
        }
        let model = models.binary_search(&rollup.model.as_str()).unwrap_or(0);
        entries.push(Entry {
            model: model as u32,
            interval_ms: rollup.interval_ms,
            start_ms: rollup.start_ms,
            offset,
            len: u32::try_from(stored.len()).map_err(|_| too_large())?,
            raw_len: u32::try_from(raw.len()).map_err(|_| too_large())?,
            crc: crc32fast::hash(&stored),
        });
        out.write_all(&stored)
            .io_context("write rollup file", path)?;
        offset += stored.len() as u64;
    }

    let mut filter_entries = Vec::with_capacity(filters.len());
    for filter in filters {
        if filter.words() > MAX_FILTER_WORDS {
            return Err(Error::invalid(
                "rolled-up filter",
                format!("of {} predictions", filter.predictions()),
                format!(
                    "a filter holds at most {MAX_FILTER_WORDS} words of 64 bits, about {} \
                     predictions: roll up smaller time partitions",
                    MAX_FILTER_WORDS * 64 / super::filter::BITS_PER_ENTRY
                ),
            ));
        }
        let stored = filter.encode_words();
        filter_entries.push(FilterEntry::of(filter, offset, &stored));
        out.write_all(&stored)
            .io_context("write rollup file", path)?;
        offset += stored.len() as u64;
    }

    let directory = encode_directory(&models, &entries, &filter_entries);
    let directory_len = u32::try_from(directory.len()).map_err(|_| {
        Error::invalid(
            "rollup file",
            format!("{} rollups", entries.len()),
            "the directory exceeds 4 GiB: write fewer rollups per file",
        )
    })?;
    let trailer = encode_trailer(&header, offset, directory_len, crc32fast::hash(&directory));
    out.write_all(&directory)
        .io_context("write rollup file", path)?;
    out.write_all(&trailer)
        .io_context("write rollup file", path)?;
    let file = out.into_inner().map_err(|e| e.into_error());
    let mut file = file.io_context("write rollup file", path)?;
    file.sync().io_context("sync rollup file", path)?;
    Ok(offset + directory.len() as u64 + TRAILER_LEN as u64)
}

/// Builds the trailer, whose last field is the CRC of the header and the rest of the trailer.
fn encode_trailer(
    header: &[u8],
    directory_offset: u64,
    directory_len: u32,
    directory_crc: u32,
) -> Vec<u8> {
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(&directory_offset.to_le_bytes());
    trailer.extend_from_slice(&directory_len.to_le_bytes());
    trailer.extend_from_slice(&directory_crc.to_le_bytes());
    trailer.extend_from_slice(&TRAILER_MAGIC);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(&trailer);
    trailer.extend_from_slice(&hasher.finalize().to_le_bytes());
    trailer
}

/// Position and checksum of the directory, from a checked header and trailer.
struct Layout {
    directory_offset: u64,
    directory_len: usize,
    directory_crc: u32,
    zstd: bool,
    version: u32,
}

/// Checks the trailer and then the header, and returns where the directory lies.
fn check_frame(
    path: &Path,
    header: &[u8],
    trailer: &[u8],
    file_bytes: u64,
    id: u64,
) -> Result<Layout> {
    let trailer_offset = file_bytes - TRAILER_LEN as u64;
    let mut layout = check_trailer(path, header, trailer, trailer_offset)?;
    (layout.zstd, layout.version) = check_header(path, header, id)?;

    let directory_end = layout
        .directory_offset
        .checked_add(layout.directory_len as u64);
    if layout.directory_offset < HEADER_LEN as u64 || directory_end != Some(trailer_offset) {
        return Err(Error::corruption(
            path,
            trailer_offset,
            format!(
                "directory of {} bytes at offset {} does not end at the trailer, offset \
                 {trailer_offset}",
                layout.directory_len, layout.directory_offset
            ),
        ));
    }
    Ok(layout)
}

/// Checks the trailer's magic and its CRC, which covers the header too.
fn check_trailer(path: &Path, header: &[u8], trailer: &[u8], offset: u64) -> Result<Layout> {
    let mut fields = Reader::new(trailer);
    let directory_offset = fields.u64_le().unwrap_or(0);
    let directory_len = fields.u32_le().unwrap_or(0);
    let directory_crc = fields.u32_le().unwrap_or(0);
    let magic = fields.bytes(TRAILER_MAGIC.len()).unwrap_or_default();
    let stored_crc = fields.u32_le().unwrap_or(0);

    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(trailer.get(..TRAILER_LEN - 4).unwrap_or_default());
    if magic != TRAILER_MAGIC || hasher.finalize() != stored_crc {
        return Err(Error::corruption(
            path,
            offset,
            "trailer magic or checksum mismatch: the file is not a rollup file or is torn",
        ));
    }
    Ok(Layout {
        directory_offset,
        directory_len: directory_len as usize,
        directory_crc,
        zstd: false,
        version: 0,
    })
}

/// Checks the header's magic, version, flags and file id. Returns whether bodies are zstd
/// frames, and the version.
fn check_header(path: &Path, header: &[u8], id: u64) -> Result<(bool, u32)> {
    let mut fields = Reader::new(header);
    let magic = fields.bytes(HEADER_MAGIC.len()).unwrap_or_default();
    let version = fields.u32_le().unwrap_or(0);
    let flags = fields.u32_le().unwrap_or(0);
    let file_id = fields.u64_le().unwrap_or(0);
    if magic != HEADER_MAGIC {
        return Err(Error::corruption(path, 0, "header magic mismatch"));
    }
    if version != FORMAT_VERSION && version != FORMAT_VERSION_1 {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if flags & !FLAG_ZSTD != 0 {
        return Err(Error::corruption(
            path,
            12,
            format!("unknown header flags {flags:#x}"),
        ));
    }
    if file_id != id {
        return Err(Error::corruption(
            path,
            16,
            format!("file id {file_id} differs from {id} in the file name"),
        ));
    }
    Ok((flags & FLAG_ZSTD != 0, version))
}

fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, offset)
        .io_context("read rollup file", path)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::io::fault::{Fault, FaultyIo};
    use crate::record::Prediction;
    use crate::rollup::{DEFAULT_ALPHA, coarsen, roll_up};
    use crate::value::Metrics;

    const MINUTE: i64 = 60_000;

    fn sample_rollups() -> Vec<Rollup> {
        let predictions = (0..60).map(|i| Prediction {
            model: if i % 3 == 0 { "b".into() } else { "a".into() },
            uuid: Uuid::new_v4(),
            timestamp_ms: i * 20_000 - 5 * MINUTE,
            metrics: Metrics::new()
                .with("score", i as f64 / 60.0)
                .with("country", if i % 2 == 0 { "fr" } else { "de" })
                .with("payload", vec![1u8, 2]),
            delayed: Metrics::new().with("label", i % 4 == 0),
        });
        let fine = roll_up(predictions, 5 * MINUTE, DEFAULT_ALPHA).unwrap();
        let mut rollups = coarsen(&fine, 10 * MINUTE).unwrap();
        rollups.extend(fine);
        rollups
    }

    fn sorted(mut rollups: Vec<Rollup>) -> Vec<Rollup> {
        rollups.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        rollups
    }

    fn is_corruption(result: Result<Vec<Rollup>>) -> bool {
        matches!(result, Err(Error::Corruption { .. }))
    }

    #[test]
    fn file_round_trips_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let rollups = sample_rollups();
        let file = RollupFile::write(dir.path(), 7, &rollups, &[]).unwrap();
        assert_eq!(file.id(), 7);
        assert_eq!(file.rollup_count(), rollups.len());
        let on_disk = std::fs::metadata(dir.path().join(rollup_file_name(7))).unwrap();
        assert_eq!(file.file_bytes(), on_disk.len());
        let reopened = RollupFile::open(dir.path(), 7).unwrap();
        assert_eq!(reopened.all().unwrap(), sorted(rollups));
    }

    #[test]
    fn read_decodes_overlapping_rollups_only() {
        let dir = tempfile::tempdir().unwrap();
        let rollups = sample_rollups();
        let file = RollupFile::write(dir.path(), 1, &rollups, &[]).unwrap();
        let window = file.read("a", 0, 5 * MINUTE).unwrap();
        let keys: Vec<(i64, i64)> = window.iter().map(|r| (r.interval_ms, r.start_ms)).collect();
        assert_eq!(keys, vec![(5 * MINUTE, 0), (10 * MINUTE, 0)]);
        assert!(window.iter().all(|r| r.model == "a"));
        assert!(file.read("missing", 0, i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn empty_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = RollupFile::write(dir.path(), 2, &[], &[]).unwrap();
        assert_eq!(file.rollup_count(), 0);
        assert_eq!(file.all().unwrap(), Vec::new());
        assert_eq!(file.read("a", i64::MIN, i64::MAX).unwrap(), Vec::new());
    }

    fn sample_filters() -> Vec<RolledUpFilter> {
        let first = RolledUpFilter::build((0..50u128).map(|i| (Uuid::from_u128(i), i as i64)));
        let second = RolledUpFilter::build((50..60u128).map(|i| (Uuid::from_u128(i), 100)));
        vec![first.unwrap(), second.unwrap()]
    }

    /// Opens file `id` and reads its rollups and filters.
    fn read_whole(dir: &Path, id: u64) -> Result<Vec<Rollup>> {
        let file = RollupFile::open(dir, id)?;
        file.filters()?;
        file.all()
    }

    #[test]
    fn filters_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let filters = sample_filters();
        let file = RollupFile::write(dir.path(), 8, &sample_rollups(), &filters).unwrap();
        assert_eq!(file.filter_counts(), (2, 60));
        assert_eq!(*file.filters().unwrap(), filters);
        let reopened = RollupFile::open(dir.path(), 8).unwrap();
        assert_eq!(*reopened.filters().unwrap(), filters);
        assert!(reopened.may_have_rolled_up(&Uuid::from_u128(55)).unwrap());
        assert_eq!(reopened.all().unwrap(), file.all().unwrap());
    }

    #[test]
    fn version_1_file_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let rollups: Vec<Rollup> = sample_rollups().into_iter().take(3).collect();
        let file = RollupFile::write(dir.path(), 9, &rollups, &[]).unwrap();
        let path = dir.path().join(rollup_file_name(9));
        let bytes = std::fs::read(&path).unwrap();
        // A version 1 directory is a version 2 one without the filter count at its end.
        let trailer_at = bytes.len() - TRAILER_LEN;
        let directory_at = u64::from_le_bytes(bytes[trailer_at..][..8].try_into().unwrap());
        let directory = &bytes[directory_at as usize..trailer_at - 1];
        let mut old = bytes[..directory_at as usize].to_vec();
        old[8..12].copy_from_slice(&FORMAT_VERSION_1.to_le_bytes());
        old.extend_from_slice(directory);
        let trailer = encode_trailer(
            &old[..HEADER_LEN],
            directory_at,
            directory.len() as u32,
            crc32fast::hash(directory),
        );
        old.extend_from_slice(&trailer);
        std::fs::write(&path, &old).unwrap();

        let reopened = RollupFile::open(dir.path(), 9).unwrap();
        assert_eq!(reopened.all().unwrap(), file.all().unwrap());
        assert_eq!(reopened.filter_counts(), (0, 0));
        assert!(!reopened.may_have_rolled_up(&Uuid::nil()).unwrap());
    }

    #[test]
    fn every_flipped_byte_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let rollups: Vec<Rollup> = sample_rollups().into_iter().take(3).collect();
        RollupFile::write(dir.path(), 3, &rollups, &sample_filters()).unwrap();
        let path = dir.path().join(rollup_file_name(3));
        let original = std::fs::read(&path).unwrap();
        for position in 0..original.len() {
            let mut damaged = original.clone();
            damaged[position] ^= 0x01;
            std::fs::write(&path, &damaged).unwrap();
            let result = read_whole(dir.path(), 3);
            assert!(is_corruption(result), "flipped byte {position}");
        }
    }

    #[test]
    fn every_truncation_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let rollups: Vec<Rollup> = sample_rollups().into_iter().take(2).collect();
        RollupFile::write(dir.path(), 4, &rollups, &sample_filters()).unwrap();
        let path = dir.path().join(rollup_file_name(4));
        let original = std::fs::read(&path).unwrap();
        for len in 0..original.len() {
            std::fs::write(&path, &original[..len]).unwrap();
            let result = read_whole(dir.path(), 4);
            assert!(is_corruption(result), "truncated to {len} bytes");
        }
    }

    #[test]
    fn file_of_other_id_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        RollupFile::write(dir.path(), 5, &[], &[]).unwrap();
        std::fs::rename(
            dir.path().join(rollup_file_name(5)),
            dir.path().join(rollup_file_name(6)),
        )
        .unwrap();
        let result = RollupFile::open(dir.path(), 6).map(|_| Vec::new());
        assert!(is_corruption(result));
    }

    #[test]
    fn duplicate_rollups_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let rollup = Rollup::new("m", 0, MINUTE).unwrap();
        let result = RollupFile::write(dir.path(), 1, &[rollup.clone(), rollup], &[]);
        assert!(matches!(result, Err(Error::InvalidInput { .. })));
    }

    #[test]
    fn failed_write_removes_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let io = FaultyIo::new();
        let rollups = sample_rollups();
        let filters = sample_filters();
        RollupFile::write_with(&io, dir.path(), 1, &rollups, &filters).unwrap();
        let ops = io.ops();
        std::fs::remove_file(dir.path().join(rollup_file_name(1))).unwrap();
        for at in 1..=ops {
            io.arm(at, Fault::NoSpace);
            let result = RollupFile::write_with(&io, dir.path(), 1, &rollups, &filters);
            assert!(result.is_err(), "fault at operation {at}");
            let path = dir.path().join(rollup_file_name(1));
            assert!(!path.exists(), "fault at operation {at} left the file");
        }
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(rollup_file_name(42), "rollup-00000000000000000042.mmr");
        assert_eq!(
            parse_rollup_file_name("rollup-00000000000000000042.mmr"),
            Some(42)
        );
        assert_eq!(parse_rollup_file_name("rollup-42.mmr"), None);
        assert_eq!(parse_rollup_file_name("seg-00000000000000000042.seg"), None);
    }

    #[test]
    fn layout_constants_match_encoders() {
        let trailer = encode_trailer(&[0; HEADER_LEN], 0, 0, 0);
        assert_eq!(trailer.len(), TRAILER_LEN);
        let entry = Entry {
            model: 0,
            interval_ms: 1,
            start_ms: 0,
            offset: HEADER_LEN as u64,
            len: 0,
            raw_len: 0,
            crc: 0,
        };
        let directory = encode_directory(&[], std::slice::from_ref(&entry), &[]);
        assert_eq!(directory.len(), 3 + ENTRY_LEN);
    }
}
