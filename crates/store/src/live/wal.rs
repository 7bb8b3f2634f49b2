//! The write-ahead log of live ingestion: segment files of checksummed
//! records, each holding one batch of rows for one table.
//!
//! A segment is `wal/<first sequence number, 20 digits>.log`. A record is
//!
//! ```text
//! payload length (u32 LE) | CRC-32 of sequence and payload (u32 LE)
//! | sequence number (u64 LE) | payload
//! payload = table name length (u8) | table name | Arrow IPC stream
//! ```
//!
//! Sequence numbers grow by one per record across segments. A record whose
//! checksum does not match, or that ends early, is a torn write: reading
//! stops there and [`read_segment`] reports the offset so that the caller
//! can cut the file.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::error::StoreError;
use crate::schema::TableDef;
use crate::tables::ALL_TABLES;

/// Bytes before a record's payload.
const HEADER_BYTES: usize = 16;

/// Largest payload a record may have; a longer length field is corruption.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// One decoded record.
#[derive(Debug)]
pub struct WalRecord {
    pub seq: u64,
    pub table: &'static TableDef,
    pub batches: Vec<RecordBatch>,
}

/// What reading one segment found.
#[derive(Debug)]
pub struct SegmentContents {
    pub records: Vec<WalRecord>,
    /// Where the valid records end.
    pub valid_bytes: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub torn: Option<String>,
}

/// Returns the path of the segment whose first record is `first_seq`.
pub fn segment_path(folder: &Path, first_seq: u64) -> PathBuf {
    folder.join(format!("{first_seq:020}.log"))
}

/// Lists the segments in `folder` by first sequence number, oldest first.
pub fn list_segments(folder: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = std::fs::read_dir(folder).map_err(|source| io_error(folder, source))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| io_error(folder, source))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if let Ok(first_seq) = stem.parse::<u64>() {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Encodes the payload of a record (table name and Arrow IPC stream) into
/// `out`. Callers encode on their own thread, so that the WAL writer only
/// frames and writes.
pub fn encode_payload(
    out: &mut Vec<u8>,
    table: &TableDef,
    batch: &RecordBatch,
) -> Result<(), StoreError> {
    let name = table.name.as_bytes();
    out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name);
    let mut writer = StreamWriter::try_new(&mut *out, &batch.schema())
        .map_err(|e| invalid(table, &e.to_string()))?;
    writer
        .write(batch)
        .map_err(|e| invalid(table, &e.to_string()))?;
    writer
        .finish()
        .map_err(|e| invalid(table, &e.to_string()))?;
    drop(writer);
    if out.len() > MAX_RECORD_BYTES {
        return Err(invalid(
            table,
            &format!(
                "the batch encodes to {} bytes, more than the record limit of {MAX_RECORD_BYTES}; send smaller batches",
                out.len()
            ),
        ));
    }
    Ok(())
}

/// Appends one record, the header and `payload`, to `out`.
pub fn frame_payload(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let seq_bytes = seq.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq_bytes);
    hasher.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&seq_bytes);
    out.extend_from_slice(payload);
}

/// Encodes one whole record into `out`.
pub fn encode_record(
    out: &mut Vec<u8>,
    seq: u64,
    table: &TableDef,
    batch: &RecordBatch,
) -> Result<(), StoreError> {
    let mut payload = Vec::new();
    encode_payload(&mut payload, table, batch)?;
    frame_payload(out, seq, &payload);
    Ok(())
}

/// Reads every valid record of a segment, stopping at the first torn or
/// corrupt one.
pub fn read_segment(path: &Path) -> Result<SegmentContents, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|source| io_error(path, source))?;
    let mut records = Vec::new();
    let mut offset = 0usize;
    let torn = loop {
        if offset == bytes.len() {
            break None;
        }
        match decode_at(&bytes, offset) {
            Ok((record, next)) => {
                records.push(record);
                offset = next;
            }
            Err(reason) => break Some(reason),
        }
    };
    Ok(SegmentContents {
        records,
        valid_bytes: offset as u64,
        torn,
    })
}

/// Decodes the record at `offset`, returning it and the next offset, or
/// why the bytes there are not a valid record.
fn decode_at(bytes: &[u8], offset: usize) -> Result<(WalRecord, usize), String> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes of a record header at the end",
            rest.len()
        ));
    }
    let payload_len = u32::from_le_bytes(rest[0..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap_or_default());
    if payload_len > MAX_RECORD_BYTES || rest.len() < HEADER_BYTES + payload_len {
        return Err(format!(
            "a record of {payload_len} bytes does not fit in the {} bytes left",
            rest.len() - HEADER_BYTES
        ));
    }
    let checked = &rest[8..HEADER_BYTES + payload_len];
    if crc32fast::hash(checked) != crc {
        return Err("checksum mismatch".to_string());
    }
    let seq = u64::from_le_bytes(rest[8..16].try_into().unwrap_or_default());
    let payload = &rest[HEADER_BYTES..HEADER_BYTES + payload_len];
    let name_len = *payload.first().ok_or("empty payload")? as usize;
    let name = payload
        .get(1..1 + name_len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or("bad table name")?;
    let table = ALL_TABLES
        .iter()
        .find(|t| t.name == name)
        .copied()
        .ok_or_else(|| format!("unknown table {name}"))?;
    let reader = StreamReader::try_new(&payload[1 + name_len..], None)
        .map_err(|e| format!("bad Arrow stream: {e}"))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad Arrow stream: {e}"))?;
    Ok((
        WalRecord {
            seq,
            table,
            batches,
        },
        offset + HEADER_BYTES + payload_len,
    ))
}

/// An open segment that records are appended to.
pub struct SegmentWriter {
    path: PathBuf,
    file: File,
    len: u64,
}

impl SegmentWriter {
    /// Creates a new, empty segment and syncs its folder so that the file
    /// survives a crash.
    pub fn create(folder: &Path, first_seq: u64) -> Result<SegmentWriter, StoreError> {
        let path = segment_path(folder, first_seq);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|source| io_error(&path, source))?;
        sync_folder(folder)?;
        Ok(SegmentWriter { path, file, len: 0 })
    }

    /// Bytes written to the segment.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` (whole records) and syncs them to disk. On failure the
    /// segment is cut back to its previous length, so that no partial record
    /// stays behind, and the error is returned.
    pub fn append_durably(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                if let Err(cut) = self.file.set_len(self.len).and_then(|()| {
                    use std::io::Seek as _;
                    self.file
                        .seek(std::io::SeekFrom::Start(self.len))
                        .map(|_| ())
                }) {
                    tracing::error!(path = %self.path.display(), error = %cut, "cannot cut a failed WAL write; recovery will cut it by checksum");
                }
                Err(io_error(&self.path, source))
            }
        }
    }
}

/// Cuts a segment to `len` bytes and syncs it.
pub fn cut_segment(path: &Path, len: u64) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_len(len).and_then(|()| file.sync_all()))
        .map_err(|source| io_error(path, source))
}

/// Syncs a folder so that file creations and removals in it are durable.
pub fn sync_folder(folder: &Path) -> Result<(), StoreError> {
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io_error(folder, source))
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(table: &TableDef, reason: &str) -> StoreError {
    StoreError::InvalidBatch {
        table: table.name.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::TableBatchBuilder;
    use crate::tables::SECURITY_EVENT;

    fn batch(rows: usize) -> RecordBatch {
        let mut builder = TableBatchBuilder::new(&SECURITY_EVENT, "test", 0, rows);
        let computer = SECURITY_EVENT.column_index("Computer").unwrap();
        for i in 0..rows {
            builder.set_time_generated(17_000_000_000_000_000 + i as i64);
            builder.set_string(computer, &format!("host{i}"));
            builder.finish_row().unwrap();
        }
        builder.finish()
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SegmentWriter::create(dir.path(), 1).unwrap();
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 1, &SECURITY_EVENT, &batch(3)).unwrap();
        encode_record(&mut bytes, 2, &SECURITY_EVENT, &batch(2)).unwrap();
        writer.append_durably(&bytes).unwrap();
        let whole = read_segment(&segment_path(dir.path(), 1)).unwrap();
        assert_eq!(whole.records.len(), 2);
        assert_eq!(whole.records[1].seq, 2);
        assert_eq!(whole.records[0].batches[0].num_rows(), 3);
        assert!(whole.torn.is_none());

        // Cut the last record in the middle, as a crash during a write does.
        let path = segment_path(dir.path(), 1);
        cut_segment(&path, writer.len() - 5).unwrap();
        let torn = read_segment(&path).unwrap();
        assert_eq!(torn.records.len(), 1);
        assert!(torn.torn.is_some());

        // Flip a byte inside the first record: its checksum fails.
        let mut data = std::fs::read(&path).unwrap();
        data[40] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let corrupt = read_segment(&path).unwrap();
        assert_eq!(corrupt.records.len(), 0);
        assert_eq!(corrupt.torn.as_deref(), Some("checksum mismatch"));
    }
}
