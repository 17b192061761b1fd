//! The directory of a rollup file: the model names, one entry per rollup body and, from format
//! version 2 on, one entry per rolled-up filter. `docs/format/rollup.md` describes the layout.

use super::file::{ENTRY_LEN, HEADER_LEN, MAX_BODY_LEN};
use super::filter::{FILTER_ENTRY_LEN, FilterEntry};
use crate::codec::{DecodeError, Reader, put_len_prefixed, put_varint};
use crate::value::MAX_MODEL_LEN;

/// One directory entry: where the body of one rollup lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) model: u32,
    pub(crate) interval_ms: i64,
    pub(crate) start_ms: i64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) raw_len: u32,
    pub(crate) crc: u32,
}

/// The contents of a directory.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// Model names, ascending; entries name them by index.
    pub(crate) models: Vec<String>,
    /// Sorted by (model, interval_ms, start_ms).
    pub(crate) entries: Vec<Entry>,
    /// In file order, after the bodies.
    pub(crate) filters: Vec<FilterEntry>,
}

/// Encodes the model names, the entries, then the filter entries (format version 2).
pub(crate) fn encode_directory(
    models: &[&str],
    entries: &[Entry],
    filters: &[FilterEntry],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN + 16);
    put_varint(&mut out, models.len() as u64);
    for model in models {
        put_len_prefixed(&mut out, model.as_bytes());
    }
    put_varint(&mut out, entries.len() as u64);
    for entry in entries {
        out.extend_from_slice(&entry.model.to_le_bytes());
        out.extend_from_slice(&entry.interval_ms.to_le_bytes());
        out.extend_from_slice(&entry.start_ms.to_le_bytes());
        out.extend_from_slice(&entry.offset.to_le_bytes());
        out.extend_from_slice(&entry.len.to_le_bytes());
        out.extend_from_slice(&entry.raw_len.to_le_bytes());
        out.extend_from_slice(&entry.crc.to_le_bytes());
    }
    put_varint(&mut out, filters.len() as u64);
    for filter in filters {
        filter.encode(&mut out);
    }
    out
}

/// Decodes the directory of a file of format `version` that starts at `directory_offset`, and
/// checks that its entries are sorted and that bodies, then filters, tile the file from the
/// header to the directory. A version 1 directory lists no filters.
pub(crate) fn decode_directory(
    bytes: &[u8],
    directory_offset: u64,
    version: u32,
) -> Result<Directory, DecodeError> {
    let mut reader = Reader::new(bytes);
    let model_count = reader.varint_usize(reader.remaining(), "model count")?;
    let mut models: Vec<String> = Vec::new();
    for _ in 0..model_count {
        let model = reader.str_len_prefixed()?;
        if model.len() > MAX_MODEL_LEN {
            return Err(reader.error(format!("model name of {} bytes", model.len())));
        }
        if models.last().is_some_and(|last| last.as_str() >= model) {
            return Err(reader.error(format!("model {model:?} is not in ascending order")));
        }
        models.push(model.to_owned());
    }
    let entry_count = reader.varint_usize(reader.remaining() / ENTRY_LEN, "entry count")?;
    let mut entries: Vec<Entry> = Vec::with_capacity(entry_count);
    let mut next_offset = HEADER_LEN as u64;
    for _ in 0..entry_count {
        let entry = read_entry(&mut reader)?;
        check_entry(&reader, &entry, entries.last(), models.len(), next_offset)?;
        next_offset = entry.offset + u64::from(entry.len);
        entries.push(entry);
    }
    let mut filters = Vec::new();
    if version >= 2 {
        let count = reader.varint_usize(reader.remaining() / FILTER_ENTRY_LEN, "filter count")?;
        for _ in 0..count {
            let filter = FilterEntry::decode(&mut reader, next_offset)?;
            next_offset = filter.offset + filter.stored_len();
            filters.push(filter);
        }
    }
    reader.check_end()?;
    if next_offset != directory_offset {
        return Err(reader.error(format!(
            "bodies and filters end at offset {next_offset}, but the directory starts at \
             {directory_offset}"
        )));
    }
    Ok(Directory {
        models,
        entries,
        filters,
    })
}

fn read_entry(reader: &mut Reader<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry {
        model: reader.u32_le()?,
        interval_ms: reader.i64_le()?,
        start_ms: reader.i64_le()?,
        offset: reader.u64_le()?,
        len: reader.u32_le()?,
        raw_len: reader.u32_le()?,
        crc: reader.u32_le()?,
    })
}

fn check_entry(
    reader: &Reader<'_>,
    entry: &Entry,
    previous: Option<&Entry>,
    model_count: usize,
    expected_offset: u64,
) -> Result<(), DecodeError> {
    let fail = |reason: String| {
        Err(DecodeError::new(
            reader.position().saturating_sub(ENTRY_LEN),
            reason,
        ))
    };
    if entry.model as usize >= model_count {
        return fail(format!(
            "model index {} of {model_count} models",
            entry.model
        ));
    }
    if entry.interval_ms <= 0 || entry.start_ms.checked_add(entry.interval_ms).is_none() {
        return fail(format!(
            "interval of {} ms from {} ms",
            entry.interval_ms, entry.start_ms
        ));
    }
    let key = (entry.model, entry.interval_ms, entry.start_ms);
    if previous.is_some_and(|p| (p.model, p.interval_ms, p.start_ms) >= key) {
        return fail("entry is not in ascending (model, interval, start) order".into());
    }
    if entry.offset != expected_offset {
        return fail(format!(
            "body at offset {}, expected {expected_offset}",
            entry.offset
        ));
    }
    if entry.raw_len as usize > MAX_BODY_LEN {
        return fail(format!(
            "body of {} bytes exceeds {MAX_BODY_LEN}",
            entry.raw_len
        ));
    }
    Ok(())
}
