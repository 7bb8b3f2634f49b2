//! EVTX files to `SecurityEvent` and `Event` rows.
//!
//! The `evtx` crate parses chunks on worker threads and renders each record
//! as XML; the workers also read that XML into an [`EventRecord`] and map
//! it to a row: the Security channel to `SecurityEvent`, every other
//! channel (and a record without a channel) to `Event`. The calling thread
//! only appends the rows to Arrow builders. Rows are handed out in Arrow batches of at most `batch_rows`
//! rows per table, so memory stays bounded whatever the file size.
//!
//! The parser settings are those of `evtx_dump` (evtx 0.15) by default:
//! chunk checksums are not enforced, so a chunk with a bad checksum is still
//! read, and chunks past the file header's chunk count are read too. A
//! record or chunk that cannot be parsed costs that record or chunk only.

mod activity;
mod event;
pub mod record;
mod security_event;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ::evtx::err::EvtxError as ParserError;
use ::evtx::{EvtxParser, ParserSettings};
use arrow::record_batch::RecordBatch;
use store::builder::{Row, TableBatchBuilder};
use store::schema::TableDef;
use store::tables::{EVENT, SECURITY_EVENT};

pub use activity::{security_activity, security_event_title};
pub use event::parameter_xml;
pub use record::{DataPair, EventRecord, parse_record_xml, parse_system_time};
pub use security_event::{RESERVED_COLUMNS, logon_type_name};
pub use store::tables::event_level_name;

/// Size of the EVTX file header block.
const FILE_HEADER_SIZE: u64 = 4096;
/// Size of one EVTX chunk.
const CHUNK_SIZE: u64 = 65536;
/// The magic that starts every EVTX file.
const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";

/// Number of failures kept with details in [`EvtxFileStats::failures`];
/// all are counted in `records_failed`.
pub const MAX_DETAILED_FAILURES: usize = 100;

/// Default number of rows per batch and table.
pub const DEFAULT_BATCH_ROWS: usize = 8192;

/// Rows of one table, in the table's storage layout.
#[derive(Debug, Clone)]
pub struct TableBatch {
    pub table: &'static TableDef,
    pub batch: RecordBatch,
}

/// A record, or a chunk, that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// Chunk number in the file, when known.
    pub chunk: Option<u64>,
    /// Record number from the record header, when known.
    pub record_id: Option<u64>,
    pub reason: String,
}

/// Counts and failures from reading one EVTX file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvtxFileStats {
    /// File size in bytes.
    pub bytes: u64,
    /// Records parsed and turned into rows.
    pub records_read: u64,
    /// Rows produced per table name.
    pub rows_per_table: BTreeMap<&'static str, u64>,
    /// Records that failed, plus chunks that failed as a whole (each counts
    /// once, although it may have held many records).
    pub records_failed: u64,
    /// Details of the first [`MAX_DETAILED_FAILURES`] failures.
    pub failures: Vec<RecordFailure>,
}

/// Error that stops a whole file from being read.
#[derive(Debug, thiserror::Error)]
pub enum EvtxError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("not an EVTX file: {}: {reason}", path.display())]
    NotEvtx { path: PathBuf, reason: String },
    #[error("failed to read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("batch consumer failed while reading {}: {source}", path.display())]
    Consumer {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Settings for reading EVTX files into table batches.
#[derive(Debug, Clone)]
pub struct EvtxReader {
    /// Stored in every row's `_hsImportId`.
    pub import_id: String,
    /// Stored in every row's `_hsIngestTicks` (100 ns ticks since the Unix epoch).
    pub ingest_ticks: i64,
    /// Maximum rows per batch and table (at least 1).
    pub batch_rows: usize,
    /// Parser worker threads. 1 parses on the calling thread.
    pub threads: usize,
}

impl EvtxReader {
    /// Creates a reader with [`DEFAULT_BATCH_ROWS`] and 2 worker threads.
    pub fn new(import_id: &str, ingest_ticks: i64) -> EvtxReader {
        EvtxReader {
            import_id: import_id.to_string(),
            ingest_ticks,
            batch_rows: DEFAULT_BATCH_ROWS,
            threads: 2,
        }
    }

    /// Reads every record of the EVTX file at `path` and calls `on_batch`
    /// with each full batch, then with the remaining rows of each table.
    ///
    /// Fails when the file cannot be opened or is not an EVTX file, or when
    /// `on_batch` fails (which stops the read). A truncated file is read as
    /// far as it goes: its last, partial chunk is read as if the missing
    /// bytes were zero, so the records it still contains in full are kept.
    pub fn read<E>(
        &self,
        path: &Path,
        mut on_batch: impl FnMut(TableBatch) -> Result<(), E>,
    ) -> Result<EvtxFileStats, EvtxError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let file = File::open(path).map_err(|source| EvtxError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut input = ZeroPaddedFile::new(file).map_err(|source| EvtxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        check_magic(&mut input, path)?;
        let truncated_chunk =
            truncated_chunk_range(&mut input).map_err(|source| EvtxError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let mut seen_in_truncated_chunk = 0u64;

        let settings = ParserSettings::new()
            .num_threads(self.threads.max(1))
            .indent(false);
        let mut parser = EvtxParser::from_read_seek(input)
            .map_err(|e| EvtxError::NotEvtx {
                path: path.to_path_buf(),
                reason: error_chain(&e),
            })?
            .with_configuration(settings);

        let mut stats = EvtxFileStats {
            bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            ..EvtxFileStats::default()
        };
        let batch_rows = self.batch_rows.max(1);
        let mut security_rows = TableBatchBuilder::new(
            &SECURITY_EVENT,
            &self.import_id,
            self.ingest_ticks,
            batch_rows,
        );
        let mut event_rows =
            TableBatchBuilder::new(&EVENT, &self.import_id, self.ingest_ticks, batch_rows);
        let consumer_error = |source: E| EvtxError::Consumer {
            path: path.to_path_buf(),
            source: source.into(),
        };

        tracing::debug!(path = %path.display(), threads = self.threads, "reading EVTX file");
        for outcome in parser.serialized_records(parse_on_worker) {
            let parsed = match outcome {
                Ok(Parsed::Record(parsed)) => parsed,
                Ok(Parsed::Failed(failure)) => {
                    if let (Some(chunk), Some(id)) = (&truncated_chunk, failure.record_id)
                        && chunk.records.contains(&id)
                    {
                        seen_in_truncated_chunk += 1;
                    }
                    record_failure(&mut stats, failure, path);
                    continue;
                }
                Err(error) => {
                    record_failure(&mut stats, failure_from_parser(&error, None), path);
                    continue;
                }
            };

            if let Some(chunk) = &truncated_chunk
                && chunk.records.contains(&parsed.record_number)
            {
                seen_in_truncated_chunk += 1;
            }
            let builder = if parsed.row.table().name == SECURITY_EVENT.name {
                &mut security_rows
            } else {
                &mut event_rows
            };
            builder
                .append_row(&parsed.row)
                .expect("the mappings always set TimeGenerated");
            stats.records_read += 1;
            *stats
                .rows_per_table
                .entry(builder.table().name)
                .or_default() += 1;
            if builder.len() >= batch_rows {
                let batch = TableBatch {
                    table: builder.table(),
                    batch: builder.finish(),
                };
                on_batch(batch).map_err(consumer_error)?;
            }
        }

        if let Some(chunk) = &truncated_chunk {
            let declared = chunk.records.end() - chunk.records.start() + 1;
            let lost = declared.saturating_sub(seen_in_truncated_chunk);
            if lost > 0 {
                let failure = RecordFailure {
                    chunk: Some(chunk.index),
                    record_id: None,
                    reason: format!(
                        "the file is truncated: {lost} of the {declared} records of its last chunk lie past the end of the file"
                    ),
                };
                // One failure entry stands for all lost records.
                stats.records_failed += lost - 1;
                record_failure(&mut stats, failure, path);
            }
        }

        for builder in [&mut security_rows, &mut event_rows] {
            if !builder.is_empty() {
                let batch = TableBatch {
                    table: builder.table(),
                    batch: builder.finish(),
                };
                on_batch(batch).map_err(consumer_error)?;
            }
        }

        tracing::info!(
            path = %path.display(),
            records = stats.records_read,
            failed = stats.records_failed,
            "read EVTX file"
        );
        Ok(stats)
    }
}

/// Reads the EVTX file at `path` with [`EvtxReader::new`]'s settings and
/// `batch_rows` rows per batch; see [`EvtxReader::read`].
pub fn read_evtx<E>(
    path: &Path,
    import_id: &str,
    ingest_ticks: i64,
    batch_rows: usize,
    on_batch: impl FnMut(TableBatch) -> Result<(), E>,
) -> Result<EvtxFileStats, EvtxError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut reader = EvtxReader::new(import_id, ingest_ticks);
    reader.batch_rows = batch_rows;
    reader.read(path, on_batch)
}

/// Outcome of reading one record on a worker thread.
enum Parsed {
    Record(Box<ParsedRecord>),
    Failed(RecordFailure),
}

struct ParsedRecord {
    /// The record's row in `SecurityEvent` or `Event`.
    row: Row,
    /// The record number from the record header.
    record_number: u64,
}

/// Maps a record to a row of its table: `SecurityEvent` for the Security
/// channel, `Event` for the others. `ticks` is its `TimeGenerated`.
pub fn record_row(record: &EventRecord, ticks: i64) -> Row {
    if record.channel.as_deref() == Some("Security") {
        let mut row = Row::new(&SECURITY_EVENT);
        security_event::append_security_event(&mut row, record, ticks);
        row
    } else {
        let mut row = Row::new(&EVENT);
        event::append_event(&mut row, record, ticks);
        row
    }
}

/// Renders one record as XML, reads its fields and maps them to a row.
/// Runs on the parser's worker threads.
fn parse_on_worker(
    record: ::evtx::err::Result<::evtx::EvtxRecord<'_>>,
) -> ::evtx::err::Result<Parsed> {
    let record = match record {
        Ok(record) => record,
        Err(error) => return Ok(Parsed::Failed(failure_from_parser(&error, None))),
    };
    let record_id = record.event_record_id;
    let header_ticks = i64::try_from(record.timestamp.as_nanosecond() / 100).unwrap_or(0);
    let xml = match record.into_xml() {
        Ok(xml) => xml,
        Err(error) => return Ok(Parsed::Failed(failure_from_parser(&error, Some(record_id)))),
    };
    Ok(match parse_record_xml(&xml.data) {
        Ok(record) => {
            // The record header's write time replaces an unusable `SystemTime`.
            let ticks = parse_system_time(&record.system_time).unwrap_or(header_ticks);
            let row = record_row(&record, ticks);
            Parsed::Record(Box::new(ParsedRecord {
                row,
                record_number: record_id,
            }))
        }
        Err(reason) => Parsed::Failed(RecordFailure {
            chunk: None,
            record_id: Some(record_id),
            reason,
        }),
    })
}

/// Describes a parser error as a failure, with the chunk and record
/// numbers the error names.
fn failure_from_parser(error: &ParserError, record_id: Option<u64>) -> RecordFailure {
    let (chunk, record_id) = match error {
        ParserError::FailedToParseChunk { chunk_id, .. } => (Some(*chunk_id), record_id),
        ParserError::FailedToReadRecordAt { chunk, .. } => (*chunk, record_id),
        ParserError::FailedToParseRecord { record_id, .. } => (None, Some(*record_id)),
        _ => (None, record_id),
    };
    RecordFailure {
        chunk,
        record_id,
        reason: error_chain(error),
    }
}

fn record_failure(stats: &mut EvtxFileStats, failure: RecordFailure, path: &Path) {
    stats.records_failed += 1;
    if stats.failures.len() < MAX_DETAILED_FAILURES {
        tracing::warn!(
            path = %path.display(),
            chunk = failure.chunk,
            record = failure.record_id,
            reason = %failure.reason,
            "skipped unreadable EVTX record"
        );
        stats.failures.push(failure);
    } else {
        tracing::debug!(
            path = %path.display(),
            chunk = failure.chunk,
            record = failure.record_id,
            reason = %failure.reason,
            "skipped unreadable EVTX record"
        );
    }
}

/// Joins an error and its sources with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Fails unless the input starts with the EVTX file magic.
fn check_magic(input: &mut ZeroPaddedFile, path: &Path) -> Result<(), EvtxError> {
    let not_evtx = |reason: String| EvtxError::NotEvtx {
        path: path.to_path_buf(),
        reason,
    };
    if input.len == 0 {
        return Err(not_evtx("the file is empty".to_string()));
    }
    let mut magic = [0u8; 8];
    let available = input.len.min(8) as usize;
    input
        .file
        .read_exact(&mut magic[..available])
        .and_then(|()| input.file.seek(SeekFrom::Start(0)).map(|_| ()))
        .map_err(|source| EvtxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if available < 8 || &magic != FILE_MAGIC {
        return Err(not_evtx(format!(
            "bad magic {:02x?}, expected \"ElfFile\\0\"",
            &magic[..available]
        )));
    }
    Ok(())
}

/// The last chunk of a file that ends inside it, and the record numbers
/// its header declares.
struct TruncatedChunk {
    index: u64,
    records: std::ops::RangeInclusive<u64>,
}

/// Finds the chunk that a truncated file ends in, when its header is still
/// readable, so that the records lost past the end can be counted.
fn truncated_chunk_range(input: &mut ZeroPaddedFile) -> io::Result<Option<TruncatedChunk>> {
    if input.len <= FILE_HEADER_SIZE || (input.len - FILE_HEADER_SIZE).is_multiple_of(CHUNK_SIZE) {
        return Ok(None);
    }
    let index = (input.len - FILE_HEADER_SIZE) / CHUNK_SIZE;
    let start = FILE_HEADER_SIZE + index * CHUNK_SIZE;
    if input.len - start < 24 {
        return Ok(None);
    }
    let mut header = [0u8; 24];
    input.file.seek(SeekFrom::Start(start))?;
    input.file.read_exact(&mut header)?;
    input.file.seek(SeekFrom::Start(0))?;
    if &header[..8] != b"ElfChnk\0" {
        return Ok(None);
    }
    let first = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let last = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    if last < first || last - first > CHUNK_SIZE {
        return Ok(None);
    }
    Ok(Some(TruncatedChunk {
        index,
        records: first..=last,
    }))
}

/// A file that reads as if it were padded with zero bytes to a whole
/// number of chunks. The `evtx` parser skips a chunk it cannot read in
/// full, so without the padding a truncated file would lose every record of
/// its last chunk. With it, records past the cut fail on their own and the
/// ones before it are kept. A file of whole chunks reads unchanged.
struct ZeroPaddedFile {
    file: File,
    /// Real length of the file.
    len: u64,
    /// Length the reader reports: the header plus whole chunks.
    padded_len: u64,
    position: u64,
}

impl ZeroPaddedFile {
    fn new(file: File) -> io::Result<ZeroPaddedFile> {
        let len = file.metadata()?.len();
        let padded_len = if len <= FILE_HEADER_SIZE {
            FILE_HEADER_SIZE
        } else {
            FILE_HEADER_SIZE + (len - FILE_HEADER_SIZE).div_ceil(CHUNK_SIZE) * CHUNK_SIZE
        };
        Ok(ZeroPaddedFile {
            file,
            len,
            padded_len,
            position: 0,
        })
    }
}

impl Read for ZeroPaddedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.padded_len || buf.is_empty() {
            return Ok(0);
        }
        let read = if self.position < self.len {
            let wanted = buf.len().min((self.len - self.position) as usize);
            self.file.seek(SeekFrom::Start(self.position))?;
            self.file.read(&mut buf[..wanted])?
        } else {
            let zeros = buf.len().min((self.padded_len - self.position) as usize);
            buf[..zeros].fill(0);
            zeros
        };
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for ZeroPaddedFile {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let target = match position {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.padded_len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.position = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn zero_padding_reads_file_then_zeros() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
        tmp.write_all(&content).unwrap();
        let mut padded = ZeroPaddedFile::new(File::open(tmp.path()).unwrap()).unwrap();
        assert_eq!(padded.padded_len, FILE_HEADER_SIZE + CHUNK_SIZE);
        let mut all = Vec::new();
        padded.read_to_end(&mut all).unwrap();
        assert_eq!(all.len() as u64, FILE_HEADER_SIZE + CHUNK_SIZE);
        assert_eq!(&all[..5000], &content[..]);
        assert!(all[5000..].iter().all(|&b| b == 0));

        assert_eq!(padded.seek(SeekFrom::End(0)).unwrap(), padded.padded_len);
        padded.seek(SeekFrom::Start(4999)).unwrap();
        let mut two = [9u8; 2];
        padded.read_exact(&mut two).unwrap();
        assert_eq!(two, [content[4999], 0]);
    }
}
