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

pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
pub(crate) const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";
pub(crate) const MAGIC: [u8; 8] = *b"MMMANIFS";
pub(crate) const VERSION: u32 = 1;
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

/// The live state of a store's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Next id for a new segment or index run file.
    pub next_file_id: u64,
    /// First write-ahead log file to replay: earlier files are flushed into segments.
    pub wal_start: u64,
    /// Largest sequence number stored in a segment.
    pub last_seq: u64,
    /// Live segment ids, ascending.
    pub segments: Vec<u64>,
    /// Live index run ids, ascending.
    pub index_runs: Vec<u64>,
}

impl Manifest {
    pub fn new_store() -> Manifest {
        Manifest {
            next_file_id: 1,
            wal_start: 1,
            last_seq: 0,
            segments: Vec::new(),
            index_runs: Vec::new(),
        }
    }

    /// Returns the names of the immutable files this manifest lists: segments, index runs and
    /// rollup files. Log files are not included: they are listed from `wal_start` on.
    pub fn live_files(&self) -> Vec<String> {
        let segments = self.segments.iter().map(|&id| crate::segment::segment_file_name(id));
        let runs = self.index_runs.iter().map(|&id| crate::index::index_file_name(id));
        segments.chain(runs).collect()
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

    /// Writes the manifest atomically: temporary file, sync, rename, sync of the directory.
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
        file.sync().io_context("sync", tmp)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut payload =
            Vec::with_capacity(40 + 8 * (self.segments.len() + self.index_runs.len()));
        payload.extend_from_slice(&self.next_file_id.to_le_bytes());
        payload.extend_from_slice(&self.wal_start.to_le_bytes());
        payload.extend_from_slice(&self.last_seq.to_le_bytes());
        for ids in [&self.segments, &self.index_runs] {
            payload.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                payload.extend_from_slice(&id.to_le_bytes());
            }
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
        if version != VERSION {
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
        if reader.at != crc_at {
            return Err(corrupt(reader.at, "trailing bytes after the file lists"));
        }
        let manifest = Manifest {
            next_file_id,
            wal_start,
            last_seq,
            segments,
            index_runs,
        };
        manifest.check(path)?;
        Ok(manifest)
    }

    /// Checks the invariants: ids ascending, unique and below `next_file_id`.
    fn check(&self, path: &Path) -> Result<()> {
        for ids in [&self.segments, &self.index_runs] {
            let ascending = ids.is_sorted_by(|a, b| a < b);
            let below_next = ids.iter().all(|&id| id < self.next_file_id);
            if !ascending || !below_next {
                return Err(Error::corruption(
                    path,
                    HEADER_LEN as u64,
                    "file ids are not ascending or not below next_file_id",
                ));
            }
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
            segments: vec![1, 3, 5],
            index_runs: vec![2, 8],
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
    fn unordered_ids_are_rejected() {
        let mut manifest = sample();
        manifest.segments = vec![5, 3];
        let bytes = manifest.encode();
        assert!(Manifest::decode(&bytes, Path::new("MANIFEST")).is_err());
    }
}
