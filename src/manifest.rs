//! The `MANIFEST` file: which segments and index runs are live, and where log replay starts.
//!
//! The byte layout is in docs/format/manifest.md. A new manifest is written to `MANIFEST.tmp`,
//! synced, renamed over `MANIFEST` and the directory is synced, so a crash leaves either the old
//! or the new manifest, never a mix.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::io::{self, CreateMode, StoreIo};
use crate::rollup::rollup_file_name;

pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
pub(crate) const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";
pub(crate) const MAGIC: [u8; 8] = *b"MMMANIFS";
pub(crate) const VERSION: u32 = 2;
/// The first version, read for compatibility: segments ascending by id, no compaction state.
pub(crate) const VERSION_1: u32 = 1;
/// Magic, version, payload length.
pub(crate) const HEADER_LEN: usize = 8 + 4 + 4;
/// CRC32 of header and payload.
pub(crate) const TRAILER_LEN: usize = 4;
/// Upper bound on the number of segments or index runs, to bound allocation on open.
const MAX_FILES: u64 = 1 << 24;

/// A failed `Manifest::store`, split by whether the new manifest replaced the old one.
#[derive(Debug)]
pub enum ManifestError {
    /// The old manifest is still in force; files that only the new one lists may be removed.
    BeforeRename(Error),
    /// The new manifest is in place but its directory entry may not be durable.
    AfterRename(Error),
}

impl From<ManifestError> for Error {
    fn from(error: ManifestError) -> Error {
        match error {
            ManifestError::BeforeRename(e) | ManifestError::AfterRename(e) => e,
        }
    }
}

/// A deletion that reads apply at once and compaction has not yet applied to every file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Deletion {
    /// The prediction with this UUID and its delayed records, tracked up to `seq_limit`.
    Prediction { uuid: uuid::Uuid, seq_limit: u64 },
    /// Every prediction, delayed record of those, aggregate and rollup of this model, tracked
    /// up to `seq_limit`.
    Model { model: String, seq_limit: u64 },
}

impl Deletion {
    pub fn seq_limit(&self) -> u64 {
        match self {
            Deletion::Prediction { seq_limit, .. } | Deletion::Model { seq_limit, .. } => {
                *seq_limit
            }
        }
    }
}

/// Kind byte of a deletion entry.
const DELETION_PREDICTION: u8 = 1;
const DELETION_MODEL: u8 = 2;
/// Maximum length of a deletion entry's target, a bound on the allocation when decoding.
const MAX_DELETION_NAME: usize = 1 << 16;

/// The figures of the last compaction, kept in the manifest for `dump`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionRecord {
    /// Wall-clock end of the compaction, ms since the Unix epoch.
    pub finished_unix_ms: i64,
    /// Segments read and segments written.
    pub segments_in: u64,
    pub segments_out: u64,
    /// Bytes of the segments read and of the files written.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Predictions rolled up and records deleted by age.
    pub rolled_up: u64,
    pub expired: u64,
}

/// The live state of a store's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Next id for a new segment or index run file.
    pub next_file_id: u64,
    /// First write-ahead log file to replay: earlier files are flushed into segments.
    pub wal_start: u64,
    /// Largest sequence number stored in a segment.
    pub last_seq: u64,
    /// Live segment ids in data order, oldest first: a later segment contains later delayed
    /// records. Ascending after flushes; a compacted segment takes the place of its inputs.
    pub segments: Vec<u64>,
    /// Live index run ids, ascending.
    pub index_runs: Vec<u64>,
    /// Live rollup file ids, ascending.
    pub rollups: Vec<u64>,
    /// Predictions with a timestamp below this are rolled up, not kept raw. `i64::MIN` when
    /// nothing was rolled up.
    pub raw_cutoff_ms: i64,
    /// For rollup tier `i` (of `Retention::tiers`), the timestamp below which its rollups were
    /// merged into tier `i + 1`. Shorter than the tier list while no rollup reached a tier.
    pub tier_cutoffs: Vec<i64>,
    /// Records with a timestamp below this were deleted by age. `i64::MIN` when none were.
    pub expired_before_ms: i64,
    /// The last compaction that changed files, if any.
    pub last_compaction: Option<CompactionRecord>,
    /// Deletions that reads apply and compaction has not finished, oldest first.
    pub deletions: Vec<Deletion>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            next_file_id: 0,
            wal_start: 0,
            last_seq: 0,
            segments: Vec::new(),
            index_runs: Vec::new(),
            rollups: Vec::new(),
            raw_cutoff_ms: i64::MIN,
            tier_cutoffs: Vec::new(),
            expired_before_ms: i64::MIN,
            last_compaction: None,
            deletions: Vec::new(),
        }
    }
}

impl Manifest {
    pub fn new_store() -> Manifest {
        Manifest {
            next_file_id: 1,
            wal_start: 1,
            ..Manifest::default()
        }
    }

    /// Returns the names of the immutable files this manifest lists: segments, index runs and
    /// rollup files. Log files are not included: they are listed from `wal_start` on.
    pub fn live_files(&self) -> Vec<String> {
        let segments = self
            .segments
            .iter()
            .map(|&id| crate::segment::segment_file_name(id));
        let runs = self
            .index_runs
            .iter()
            .map(|&id| crate::index::index_file_name(id));
        let rollups = self.rollups.iter().map(|&id| rollup_file_name(id));
        segments.chain(runs).chain(rollups).collect()
    }

    /// Reads `DIR/MANIFEST`; `Ok(None)` when it does not exist.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).io_context("read", &path),
        };
        Manifest::decode(&bytes, &path).map(Some)
    }

    /// Writes the manifest atomically: temporary file, sync, sync of the directory, rename,
    /// sync of the directory. The first directory sync makes the files that the new manifest
    /// lists, created since the last sync, durable before the manifest can name them.
    ///
    /// A failure before the rename leaves the old manifest in force and removes the temporary
    /// file. A failure after it (`ManifestError::AfterRename`) leaves the new manifest in
    /// place but maybe not durable, so the caller must keep every file it lists.
    pub fn store(&self, dir: &Path) -> std::result::Result<(), ManifestError> {
        self.store_with(&*io::os_io(), dir)
    }

    /// Writes the manifest like `store`, through `io`.
    pub(crate) fn store_with(
        &self,
        io: &dyn StoreIo,
        dir: &Path,
    ) -> std::result::Result<(), ManifestError> {
        let tmp = dir.join(MANIFEST_TMP_FILE);
        let path = dir.join(MANIFEST_FILE);
        if let Err(e) = self.write_temp(io, &tmp) {
            if let Err(remove) = io.remove(&tmp)
                && remove.kind() != std::io::ErrorKind::NotFound
            {
                log::warn!("removing {} failed: {remove}", tmp.display());
            }
            return Err(ManifestError::BeforeRename(e));
        }
        io.rename(&tmp, &path)
            .io_context("rename manifest into", &path)
            .map_err(ManifestError::BeforeRename)?;
        io.sync_dir(dir)
            .io_context("sync directory", dir)
            .map_err(ManifestError::AfterRename)
    }

    fn write_temp(&self, io: &dyn StoreIo, tmp: &Path) -> Result<()> {
        let mut file = io
            .create(tmp, CreateMode::Truncate)
            .io_context("create", tmp)?;
        file.write_all(&self.encode()).io_context("write", tmp)?;
        file.sync().io_context("sync", tmp)?;
        let dir = tmp.parent().unwrap_or(Path::new("."));
        io.sync_dir(dir).io_context("sync directory", dir)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut payload =
            Vec::with_capacity(40 + 8 * (self.segments.len() + self.index_runs.len()));
        payload.extend_from_slice(&self.next_file_id.to_le_bytes());
        payload.extend_from_slice(&self.wal_start.to_le_bytes());
        payload.extend_from_slice(&self.last_seq.to_le_bytes());
        for ids in [&self.segments, &self.index_runs, &self.rollups] {
            payload.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                payload.extend_from_slice(&id.to_le_bytes());
            }
        }
        payload.extend_from_slice(&self.raw_cutoff_ms.to_le_bytes());
        payload.extend_from_slice(&(self.tier_cutoffs.len() as u64).to_le_bytes());
        for cutoff in &self.tier_cutoffs {
            payload.extend_from_slice(&cutoff.to_le_bytes());
        }
        payload.extend_from_slice(&self.expired_before_ms.to_le_bytes());
        let record = self.last_compaction.unwrap_or_default();
        payload.push(u8::from(self.last_compaction.is_some()));
        for field in [
            record.finished_unix_ms as u64,
            record.segments_in,
            record.segments_out,
            record.bytes_in,
            record.bytes_out,
            record.rolled_up,
            record.expired,
        ] {
            payload.extend_from_slice(&field.to_le_bytes());
        }
        payload.extend_from_slice(&(self.deletions.len() as u64).to_le_bytes());
        for deletion in &self.deletions {
            let (kind, target): (u8, &[u8]) = match deletion {
                Deletion::Prediction { uuid, .. } => (DELETION_PREDICTION, uuid.as_bytes()),
                Deletion::Model { model, .. } => (DELETION_MODEL, model.as_bytes()),
            };
            payload.push(kind);
            payload.extend_from_slice(&deletion.seq_limit().to_le_bytes());
            payload.extend_from_slice(&(target.len() as u32).to_le_bytes());
            payload.extend_from_slice(target);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let corrupt = |offset: usize, reason: &str| Error::corruption(path, offset as u64, reason);
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt(0, "file is shorter than a manifest header"));
        }
        if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(corrupt(0, "bad magic: not a modelmetrics manifest"));
        }
        let version = read_u32(bytes, 8);
        if version != VERSION && version != VERSION_1 {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found: version,
                supported: VERSION,
            });
        }
        let payload_len = read_u32(bytes, 12) as usize;
        if HEADER_LEN + payload_len + TRAILER_LEN != bytes.len() {
            return Err(corrupt(12, "payload length does not match the file size"));
        }
        let crc_at = HEADER_LEN + payload_len;
        let covered = bytes.get(..crc_at).unwrap_or_default();
        if crc32fast::hash(covered) != read_u32(bytes, crc_at) {
            return Err(corrupt(crc_at, "checksum mismatch"));
        }

        let mut reader = FieldReader {
            bytes: covered,
            at: HEADER_LEN,
            path,
        };
        let next_file_id = reader.u64()?;
        let wal_start = reader.u64()?;
        let last_seq = reader.u64()?;
        let segments = reader.ids()?;
        let index_runs = reader.ids()?;
        let mut manifest = Manifest {
            next_file_id,
            wal_start,
            last_seq,
            segments,
            index_runs,
            ..Manifest::default()
        };
        if version == VERSION {
            reader.compaction_state(&mut manifest)?;
        }
        if reader.at != crc_at {
            return Err(corrupt(reader.at, "trailing bytes after the last field"));
        }
        manifest.check(path, version)?;
        Ok(manifest)
    }

    /// Checks the invariants: every id below `next_file_id` and used once; index run and
    /// rollup ids ascending; segment ids ascending in a version 1 manifest.
    fn check(&self, path: &Path, version: u32) -> Result<()> {
        let corrupt = |reason: &str| Error::corruption(path, HEADER_LEN as u64, reason);
        let mut all: Vec<u64> = Vec::new();
        for ids in [&self.segments, &self.index_runs, &self.rollups] {
            if ids.iter().any(|&id| id >= self.next_file_id) {
                return Err(corrupt("a file id is not below next_file_id"));
            }
            all.extend_from_slice(ids);
        }
        for ids in [&self.index_runs, &self.rollups] {
            if !ids.is_sorted_by(|a, b| a < b) {
                return Err(corrupt("index run or rollup file ids are not ascending"));
            }
        }
        if version == VERSION_1 && !self.segments.is_sorted_by(|a, b| a < b) {
            return Err(corrupt(
                "segment ids of a version 1 manifest are not ascending",
            ));
        }
        all.sort_unstable();
        if all.windows(2).any(|pair| pair.first() == pair.get(1)) {
            return Err(corrupt("a file id is listed twice"));
        }
        Ok(())
    }
}

struct FieldReader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl FieldReader<'_> {
    fn u64(&mut self) -> Result<u64> {
        let end = self.at + 8;
        let Some(slice) = self.bytes.get(self.at..end) else {
            return Err(Error::corruption(
                self.path,
                self.at as u64,
                "manifest ends inside a field",
            ));
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(slice);
        self.at = end;
        Ok(u64::from_le_bytes(word))
    }

    fn i64(&mut self) -> Result<i64> {
        self.u64().map(|word| word as i64)
    }

    fn u8(&mut self) -> Result<u8> {
        let Some(&byte) = self.bytes.get(self.at) else {
            return Err(Error::corruption(
                self.path,
                self.at as u64,
                "manifest ends inside a field",
            ));
        };
        self.at += 1;
        Ok(byte)
    }

    /// Reads the fields that version 2 adds after the index run ids.
    fn compaction_state(&mut self, manifest: &mut Manifest) -> Result<()> {
        manifest.rollups = self.ids()?;
        manifest.raw_cutoff_ms = self.i64()?;
        manifest.tier_cutoffs = self.ids()?.into_iter().map(|w| w as i64).collect();
        manifest.expired_before_ms = self.i64()?;
        let present = self.u8()?;
        let record = CompactionRecord {
            finished_unix_ms: self.i64()?,
            segments_in: self.u64()?,
            segments_out: self.u64()?,
            bytes_in: self.u64()?,
            bytes_out: self.u64()?,
            rolled_up: self.u64()?,
            expired: self.u64()?,
        };
        manifest.last_compaction = match present {
            0 if record == CompactionRecord::default() => None,
            0 => {
                let reason = "no last compaction is flagged, but its fields are not zero";
                return Err(Error::corruption(self.path, self.at as u64, reason));
            }
            1 => Some(record),
            other => {
                let reason = format!("last-compaction flag is {other}, not 0 or 1");
                return Err(Error::corruption(self.path, self.at as u64, reason));
            }
        };
        manifest.deletions = self.deletions()?;
        Ok(())
    }

    fn deletions(&mut self) -> Result<Vec<Deletion>> {
        let count = self.u64()?;
        // Each entry takes at least 13 bytes plus its target.
        let available = (self.bytes.len().saturating_sub(self.at) / 13) as u64;
        if count > available {
            let reason = format!("deletion count {count} exceeds the manifest's size");
            return Err(Error::corruption(self.path, self.at as u64, reason));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = self.at as u64;
            let kind = self.u8()?;
            let seq_limit = self.u64()?;
            let len = self.u32()? as usize;
            if len > MAX_DELETION_NAME {
                let reason = format!("deletion target of {len} bytes is too long");
                return Err(Error::corruption(self.path, at, reason));
            }
            let path = self.path;
            let target = self.slice(len)?;
            let corrupt = |reason: &str| Error::corruption(path, at, reason);
            out.push(match kind {
                DELETION_PREDICTION => {
                    let uuid = uuid::Uuid::from_slice(target)
                        .map_err(|_| corrupt("a prediction deletion names no 16-byte UUID"))?;
                    Deletion::Prediction { uuid, seq_limit }
                }
                DELETION_MODEL => {
                    let model = std::str::from_utf8(target)
                        .map_err(|_| corrupt("a model deletion names a model that is not UTF-8"))?;
                    Deletion::Model {
                        model: model.to_owned(),
                        seq_limit,
                    }
                }
                _ => return Err(corrupt("unknown deletion kind")),
            });
        }
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes = self.slice(4)?;
        let mut word = [0u8; 4];
        word.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(word))
    }

    fn slice(&mut self, len: usize) -> Result<&[u8]> {
        let end = self.at.saturating_add(len);
        let Some(slice) = self.bytes.get(self.at..end) else {
            return Err(Error::corruption(
                self.path,
                self.at as u64,
                "manifest ends inside a field",
            ));
        };
        self.at = end;
        Ok(slice)
    }

    fn ids(&mut self) -> Result<Vec<u64>> {
        let count = self.u64()?;
        let available = (self.bytes.len().saturating_sub(self.at) / 8) as u64;
        if count > MAX_FILES || count > available {
            return Err(Error::corruption(
                self.path,
                self.at as u64,
                format!("file count {count} exceeds the manifest's size"),
            ));
        }
        (0..count).map(|_| self.u64()).collect()
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(slice) = bytes.get(at..at + 4) {
        word.copy_from_slice(slice);
    }
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            next_file_id: 9,
            wal_start: 4,
            last_seq: 1234,
            segments: vec![1, 5, 3],
            index_runs: vec![2, 8],
            rollups: vec![6],
            raw_cutoff_ms: -5,
            tier_cutoffs: vec![-86_400_000],
            expired_before_ms: -9_000_000_000,
            last_compaction: Some(CompactionRecord {
                finished_unix_ms: 1_700_000_000_000,
                segments_in: 4,
                segments_out: 2,
                bytes_in: 4096,
                bytes_out: 1024,
                rolled_up: 77,
                expired: 5,
            }),
            deletions: vec![
                Deletion::Prediction {
                    uuid: uuid::Uuid::from_u128(7),
                    seq_limit: 1000,
                },
                Deletion::Model {
                    model: "churn".to_owned(),
                    seq_limit: 1200,
                },
            ],
        }
    }

    #[test]
    fn manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        sample().store(dir.path()).unwrap();
        let loaded = Manifest::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded, sample());
        assert!(!dir.path().join(MANIFEST_TMP_FILE).exists());
    }

    #[test]
    fn missing_manifest_loads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Manifest::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let bytes = sample().encode();
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let result = Manifest::decode(&damaged, Path::new("MANIFEST"));
            assert!(result.is_err(), "flip at {at} was accepted");
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..len], Path::new("MANIFEST")).is_err());
        }
    }

    #[test]
    fn unordered_index_runs_are_rejected() {
        let mut manifest = sample();
        manifest.index_runs = vec![8, 2];
        let bytes = manifest.encode();
        assert!(Manifest::decode(&bytes, Path::new("MANIFEST")).is_err());
    }

    #[test]
    fn an_id_listed_twice_is_rejected() {
        let mut manifest = sample();
        manifest.rollups = vec![5];
        let bytes = manifest.encode();
        assert!(Manifest::decode(&bytes, Path::new("MANIFEST")).is_err());
    }

    /// Encodes the fields of a version 1 manifest, as earlier builds wrote it.
    fn version_1_bytes(manifest: &Manifest) -> Vec<u8> {
        let mut payload = Vec::new();
        for word in [manifest.next_file_id, manifest.wal_start, manifest.last_seq] {
            payload.extend_from_slice(&word.to_le_bytes());
        }
        for ids in [&manifest.segments, &manifest.index_runs] {
            payload.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                payload.extend_from_slice(&id.to_le_bytes());
            }
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION_1.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn version_1_manifest_still_loads() {
        let manifest = Manifest {
            next_file_id: 9,
            wal_start: 4,
            last_seq: 12,
            segments: vec![1, 3, 5],
            index_runs: vec![2, 8],
            ..Manifest::default()
        };
        let loaded = Manifest::decode(&version_1_bytes(&manifest), Path::new("MANIFEST"));
        assert_eq!(loaded.unwrap(), manifest);
    }

    #[test]
    fn version_1_unordered_segments_are_rejected() {
        let manifest = Manifest {
            next_file_id: 9,
            segments: vec![5, 3],
            ..Manifest::default()
        };
        let loaded = Manifest::decode(&version_1_bytes(&manifest), Path::new("MANIFEST"));
        assert!(loaded.is_err());
    }
}
