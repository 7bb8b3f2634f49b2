//! Parquet data files of one import, written straight into a table's folder.
//!
//! An import's rows go to Parquet files under the table's partition folders
//! (`_hsDate=YYYY-MM-DD/`) as they arrive, encoded on the calling thread.
//! No Delta log entry refers to them until the import commits, so readers
//! never see part of an import. [`TableFiles::finish`] closes the files and
//! returns one Delta `add` action per file, with the row count and the
//! statistics that Delta readers prune files with.
//!
//! Rows of one day are encoded into that day's open Parquet file. At most
//! [`MAX_OPEN_FILES`] such files are open per table, because each keeps a row
//! group in progress in memory. A new day closes the least recently written one,
//! which suits logs in time order. Rows of a day whose file was closed
//! before (logs that jump between days) go to a spool instead: one Arrow
//! IPC file per table in the workspace's `tmp` folder, with an index of
//! which batches hold which day. The spool costs no memory, and at the end
//! each spooled day is read back and encoded into one Parquet file. So
//! memory stays bounded whatever the order of the rows, and each day gets
//! at most two files per import (more only past [`TARGET_FILE_BYTES`]).
//!
//! NOTE: files are not synced to disk before the commit that refers to
//! them, as delta-rs does not sync its log files either: an import survives
//! a crash of homesoc, not a power loss.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, StringArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::file::statistics::Statistics;
use deltalake::parquet::schema::types::ColumnPath;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::schema::{DATE_COLUMN, TableDef, storage_schema};

/// Parquet files open at once per table, each with a row group in
/// progress of up to [`ROW_GROUP_BYTES`].
pub const MAX_OPEN_FILES: usize = 4;

/// Encoded bytes of a row group in progress after which it is written out.
pub const ROW_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// Rows read back from the spool are gathered into batches of this many
/// rows before encoding, since spooled batches can be small.
const SPOOL_READ_ROWS: usize = 8192;

/// Bytes in a data file after which it is closed and a new one started.
pub const TARGET_FILE_BYTES: usize = 256 * 1024 * 1024;

/// Write buffer of each open file.
const FILE_BUFFER_BYTES: usize = 64 * 1024;

/// Columns that hold whole XML documents: min/max statistics and
/// dictionaries over them cost most of the Parquet encoding time and never
/// prune a query, so they are written without either.
const DOCUMENT_COLUMNS: &[&str] = &[
    "EventData",
    "ParameterXml",
    "RenderedDescription",
    "Message",
];

/// Parquet settings for stored rows: Snappy compression, statistics per
/// column chunk (enough for file and row-group pruning) instead of per page,
/// and row groups bounded by [`ROW_GROUP_BYTES`].
fn writer_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES));
    for column in DOCUMENT_COLUMNS {
        let path = ColumnPath::from(*column);
        builder = builder
            .set_column_statistics_enabled(path.clone(), EnabledStatistics::None)
            .set_column_dictionary_enabled(path, false);
    }
    builder.build()
}

/// One day's Parquet file being written.
struct OpenFile {
    date: String,
    /// Path relative to the table folder, as the `add` action names it.
    relative: String,
    writer: ArrowWriter<BufWriter<File>>,
    /// Value of [`TableFiles::clock`] at the last write.
    last_write: u64,
}

/// A table's spool: one Arrow IPC file, and which of its batches hold
/// which day.
struct Spool {
    path: PathBuf,
    writer: FileWriter<BufWriter<File>>,
    batches: usize,
    days: BTreeMap<String, Vec<usize>>,
}

/// The data files of one table in one import.
pub struct TableFiles {
    table: &'static TableDef,
    folder: PathBuf,
    /// Folder of the spool file, created with the file.
    spool_folder: PathBuf,
    /// The table's storage schema, which batches come in.
    schema: SchemaRef,
    /// The storage schema without the partition column.
    file_schema: SchemaRef,
    /// Index of the partition column in the storage schema.
    date_index: usize,
    /// Indices of the storage schema's columns that go into the files.
    file_columns: Vec<usize>,
    properties: WriterProperties,
    open: Vec<OpenFile>,
    /// Days whose Parquet file was closed while rows kept coming.
    closed_days: BTreeSet<String>,
    spool: Option<Spool>,
    /// Files closed so far, as `add` actions.
    closed: Vec<Add>,
    /// Every data file created and not yet handed out by [`finish`], for
    /// [`discard`].
    ///
    /// [`finish`]: TableFiles::finish
    /// [`discard`]: TableFiles::discard
    created: Vec<String>,
    clock: u64,
}

impl TableFiles {
    /// Starts writing `table`'s rows into files under `folder`, the table's
    /// Delta folder, spooling to `spool_folder` when needed. Both folders
    /// are created when first used.
    pub fn new(table: &'static TableDef, folder: PathBuf, spool_folder: PathBuf) -> TableFiles {
        let schema = storage_schema(table);
        let date_index = schema
            .index_of(DATE_COLUMN)
            .expect("every storage schema has the partition column");
        let file_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| i != date_index)
            .collect();
        let file_schema = Arc::new(
            schema
                .project(&file_columns)
                .expect("projection indices come from the schema"),
        );
        TableFiles {
            table,
            folder,
            spool_folder,
            schema,
            file_schema,
            date_index,
            file_columns,
            properties: writer_properties(),
            open: Vec::new(),
            closed_days: BTreeSet::new(),
            spool: None,
            closed: Vec::new(),
            created: Vec::new(),
            clock: 0,
        }
    }

    /// Writes a batch in the table's storage schema, split by day.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(self.invalid_batch("the columns differ from the storage schema"));
        }
        let dates = batch
            .column(self.date_index)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| self.invalid_batch("the partition column is not text"))?;
        if dates.null_count() > 0 {
            return Err(self.invalid_batch("the partition column has nulls"));
        }
        let rows = batch
            .project(&self.file_columns)
            .map_err(|e| self.invalid_batch(&e.to_string()))?;
        let first = dates.value(0);
        if dates.iter().all(|d| d == Some(first)) {
            return self.write_day(first, &rows);
        }
        let mut days: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (row, date) in dates.iter().enumerate() {
            let date = date.expect("no nulls, checked above");
            days.entry(date).or_default().push(row as u32);
        }
        for (date, indices) in days {
            let part = take_record_batch(&rows, &UInt32Array::from(indices))
                .map_err(|e| self.invalid_batch(&e.to_string()))?;
            self.write_day(date, &part)?;
        }
        Ok(())
    }

    /// Routes one day's rows to its open file, its spool, or a new file.
    fn write_day(&mut self, date: &str, rows: &RecordBatch) -> Result<(), StoreError> {
        self.clock += 1;
        if let Some(position) = self.open.iter().position(|f| f.date == date) {
            return self.write_open(position, rows);
        }
        if self.closed_days.contains(date) {
            return self.spool(date, rows);
        }
        if self.open.len() >= MAX_OPEN_FILES {
            let oldest = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, f)| f.last_write)
                .map(|(i, _)| i)
                .expect("MAX_OPEN_FILES is above zero");
            let file = self.open.swap_remove(oldest);
            self.closed_days.insert(file.date.clone());
            self.close(file)?;
        }
        let file = self.create(date)?;
        self.open.push(file);
        self.write_open(self.open.len() - 1, rows)
    }

    fn write_open(&mut self, position: usize, rows: &RecordBatch) -> Result<(), StoreError> {
        let file = &mut self.open[position];
        file.last_write = self.clock;
        let path = self.folder.join(&file.relative);
        file.writer
            .write(rows)
            .map_err(|e| parquet_error(&path, e))?;
        if file.writer.bytes_written() + file.writer.in_progress_size() >= TARGET_FILE_BYTES {
            // The day's next rows start a new file.
            let file = self.open.swap_remove(position);
            self.close(file)?;
        }
        Ok(())
    }

    /// Appends one day's rows to the spool.
    fn spool(&mut self, date: &str, rows: &RecordBatch) -> Result<(), StoreError> {
        if self.spool.is_none() {
            std::fs::create_dir_all(&self.spool_folder).map_err(|source| StoreError::Io {
                path: self.spool_folder.clone(),
                source,
            })?;
            let path = self.spool_folder.join(format!("{}.arrow", self.table.name));
            let file = File::create(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let writer = FileWriter::try_new(
                BufWriter::with_capacity(FILE_BUFFER_BYTES, file),
                &self.file_schema,
            )
            .map_err(|e| arrow_error(&path, e))?;
            self.spool = Some(Spool {
                path,
                writer,
                batches: 0,
                days: BTreeMap::new(),
            });
        }
        let spool = self.spool.as_mut().expect("spool created above");
        spool
            .writer
            .write(rows)
            .map_err(|e| arrow_error(&spool.path, e))?;
        spool
            .days
            .entry(date.to_string())
            .or_default()
            .push(spool.batches);
        spool.batches += 1;
        Ok(())
    }

    fn create(&mut self, date: &str) -> Result<OpenFile, StoreError> {
        let partition = format!("{DATE_COLUMN}={date}");
        let relative = format!("{partition}/part-{}.snappy.parquet", uuid::Uuid::new_v4());
        let folder = self.folder.join(&partition);
        std::fs::create_dir_all(&folder).map_err(|source| StoreError::Io {
            path: folder.clone(),
            source,
        })?;
        let path = self.folder.join(&relative);
        let file = File::create(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        self.created.push(relative.clone());
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(FILE_BUFFER_BYTES, file),
            self.file_schema.clone(),
            Some(self.properties.clone()),
        )
        .map_err(|e| parquet_error(&path, e))?;
        Ok(OpenFile {
            date: date.to_string(),
            relative,
            writer,
            last_write: self.clock,
        })
    }

    /// Finishes a Parquet file and records its `add` action.
    fn close(&mut self, mut file: OpenFile) -> Result<(), StoreError> {
        let path = self.folder.join(&file.relative);
        let metadata = file.writer.finish().map_err(|e| parquet_error(&path, e))?;
        let io_error = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let buffered = file.writer.inner_mut();
        std::io::Write::flush(buffered).map_err(io_error)?;
        let size = buffered.get_ref().metadata().map_err(io_error)?.len();
        let stats = file_stats(&self.file_schema, &metadata);
        let modification_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.closed.push(Add {
            path: file.relative,
            partition_values: HashMap::from([(DATE_COLUMN.to_string(), Some(file.date))]),
            size: size as i64,
            modification_time,
            data_change: true,
            stats: Some(stats.to_string()),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        });
        Ok(())
    }

    /// Encodes the spooled rows into one Parquet file per day (more past
    /// [`TARGET_FILE_BYTES`]) and deletes the spool.
    fn drain_spool(&mut self, spool: Spool) -> Result<(), StoreError> {
        let Spool {
            path,
            mut writer,
            days,
            ..
        } = spool;
        writer.finish().map_err(|e| arrow_error(&path, e))?;
        drop(writer);
        let input = File::open(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let mut reader =
            FileReader::try_new_buffered(input, None).map_err(|e| arrow_error(&path, e))?;
        for (date, batches) in days {
            let mut file = self.create(&date)?;
            let mut gathered: Vec<RecordBatch> = Vec::new();
            let mut gathered_rows = 0;
            let last = batches.len() - 1;
            for (position, index) in batches.into_iter().enumerate() {
                reader.set_index(index).map_err(|e| arrow_error(&path, e))?;
                let batch = reader
                    .next()
                    .transpose()
                    .map_err(|e| arrow_error(&path, e))?
                    .ok_or_else(|| StoreError::Io {
                        path: path.clone(),
                        source: std::io::Error::other(format!("spooled batch {index} is missing")),
                    })?;
                gathered_rows += batch.num_rows();
                gathered.push(batch);
                if gathered_rows < SPOOL_READ_ROWS && position < last {
                    continue;
                }
                let rows = concat_batches(&self.file_schema, &gathered)
                    .map_err(|e| arrow_error(&path, e))?;
                gathered.clear();
                gathered_rows = 0;
                let target = self.folder.join(&file.relative);
                file.writer
                    .write(&rows)
                    .map_err(|e| parquet_error(&target, e))?;
                if file.writer.bytes_written() + file.writer.in_progress_size() >= TARGET_FILE_BYTES
                    && position < last
                {
                    let next = self.create(&date)?;
                    self.close(std::mem::replace(&mut file, next))?;
                }
            }
            self.close(file)?;
        }
        std::fs::remove_file(&path).map_err(|source| StoreError::Io { path, source })
    }

    /// Closes every open file, encodes the spool, and returns the `add`
    /// actions of all files written, in the order they were closed. After
    /// an error, call [`discard`](TableFiles::discard).
    pub fn finish(&mut self) -> Result<Vec<Add>, StoreError> {
        while let Some(file) = self.open.pop() {
            self.close(file)?;
        }
        if let Some(spool) = self.spool.take() {
            self.drain_spool(spool)?;
        }
        remove_spool_folder(&self.spool_folder);
        self.created.clear();
        Ok(std::mem::take(&mut self.closed))
    }

    /// Deletes every data file created and not handed out by
    /// [`finish`](TableFiles::finish), and the spool. Used when an import is
    /// abandoned, so that no unreferenced file stays behind.
    pub fn discard(mut self) {
        self.open.clear();
        self.spool = None;
        for relative in std::mem::take(&mut self.created) {
            let path = self.folder.join(relative);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot remove an uncommitted data file");
                }
            }
        }
        remove_spool_folder(&self.spool_folder);
    }

    fn invalid_batch(&self, reason: &str) -> StoreError {
        StoreError::InvalidBatch {
            table: self.table.name.to_string(),
            reason: reason.to_string(),
        }
    }
}

fn remove_spool_folder(folder: &Path) {
    if folder.exists()
        && let Err(err) = std::fs::remove_dir_all(folder)
    {
        tracing::warn!(path = %folder.display(), error = %err, "cannot remove the import's spool folder");
    }
}

fn arrow_error(path: &Path, error: arrow::error::ArrowError) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(error),
    }
}

fn parquet_error(path: &Path, error: deltalake::parquet::errors::ParquetError) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(error),
    }
}

/// Builds a file's Delta statistics: the row count, the null count of each
/// column with statistics, and the minimum and maximum of each integer
/// column. Text columns get no minimum or maximum, since Delta readers
/// would compare them as truncated strings.
fn file_stats(schema: &SchemaRef, metadata: &ParquetMetaData) -> Value {
    let rows: i64 = metadata.row_groups().iter().map(|g| g.num_rows()).sum();
    let mut min_values = Map::new();
    let mut max_values = Map::new();
    let mut null_count = Map::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let mut nulls = Some(0u64);
        let mut range: Option<(i64, i64)> = None;
        let mut has_range = matches!(field.data_type(), DataType::Int32 | DataType::Int64);
        for group in metadata.row_groups() {
            let Some(statistics) = group.column(index).statistics() else {
                nulls = None;
                has_range = false;
                break;
            };
            nulls = nulls.zip(statistics.null_count_opt()).map(|(a, b)| a + b);
            let group_range = match statistics {
                Statistics::Int32(s) => s
                    .min_opt()
                    .zip(s.max_opt())
                    .map(|(a, b)| (i64::from(*a), i64::from(*b))),
                Statistics::Int64(s) => s.min_opt().copied().zip(s.max_opt().copied()),
                _ => None,
            };
            match group_range {
                Some((low, high)) => {
                    range = Some(range.map_or((low, high), |(a, b)| (a.min(low), b.max(high))));
                }
                // A row group of nulls only has no range; the others decide.
                None if statistics.null_count_opt() == Some(group.num_rows() as u64) => {}
                None => has_range = false,
            }
        }
        let name = field.name().clone();
        if let Some(nulls) = nulls {
            null_count.insert(name.clone(), json!(nulls));
        }
        if has_range && let Some((low, high)) = range {
            min_values.insert(name.clone(), json!(low));
            max_values.insert(name, json!(high));
        }
    }
    json!({
        "numRecords": rows,
        "minValues": min_values,
        "maxValues": max_values,
        "nullCount": null_count,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::Int32Array;
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use kql::KqlType;

    use super::*;
    use crate::builder::TableBatchBuilder;
    use crate::schema::{ColumnDef, TIME_TICKS_COLUMN};

    static TEST_TABLE: TableDef = TableDef {
        name: "TestTable",
        columns: &[
            ColumnDef {
                name: "EventID",
                ty: KqlType::Int,
            },
            ColumnDef {
                name: "Computer",
                ty: KqlType::String,
            },
            ColumnDef {
                name: "TimeGenerated",
                ty: KqlType::Datetime,
            },
        ],
    };

    /// 2024-01-01T00:00:00Z in ticks since the Unix epoch.
    const DAY0: i64 = 17_040_672_000_000_000;
    const TICKS_PER_DAY: i64 = 864_000_000_000;

    /// Builds a batch with one row per `(day, event id)`, at noon of the day.
    fn batch(rows: &[(i64, i32)]) -> RecordBatch {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "import", 0, rows.len());
        for &(day, event_id) in rows {
            builder.set_int(0, event_id);
            builder.set_string(1, "PC01");
            builder.set_time_generated(DAY0 + day * TICKS_PER_DAY + TICKS_PER_DAY / 2);
            builder.finish_row().unwrap();
        }
        builder.finish()
    }

    /// Reads every file of `adds` back into event ids per partition day.
    fn read_back(folder: &Path, adds: &[Add]) -> BTreeMap<String, Vec<i32>> {
        let mut days: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for add in adds {
            let date = add.partition_values[DATE_COLUMN].clone().unwrap();
            let file = File::open(folder.join(&add.path)).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let ids = batch
                    .column_by_name("EventID")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .unwrap();
                days.entry(date.clone()).or_default().extend(ids.values());
            }
        }
        days
    }

    fn stats(add: &Add) -> Value {
        serde_json::from_str(add.stats.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn writes_one_file_per_day_with_stats() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("table");
        let mut files = TableFiles::new(&TEST_TABLE, folder.clone(), dir.path().join("spool"));
        files.write(batch(&[(0, 1), (0, 2), (1, 3)])).unwrap();
        files.write(batch(&[(1, 4), (1, 5)])).unwrap();
        let adds = files.finish().unwrap();

        assert_eq!(adds.len(), 2, "{adds:?}");
        let days = read_back(&folder, &adds);
        assert_eq!(days["2024-01-01"], vec![1, 2]);
        assert_eq!(days["2024-01-02"], vec![3, 4, 5]);
        for add in &adds {
            assert!(add.path.starts_with("_hsDate=2024-01-0"), "{}", add.path);
            assert_eq!(
                add.size as u64,
                std::fs::metadata(folder.join(&add.path)).unwrap().len()
            );
            let stats = stats(add);
            let rows = stats["numRecords"].as_i64().unwrap();
            assert_eq!(rows, if add.path.contains("01-01") { 2 } else { 3 });
            assert_eq!(stats["nullCount"]["EventID"], 0);
            assert!(stats["minValues"]["EventID"].as_i64().unwrap() >= 1);
            assert!(
                stats["minValues"][TIME_TICKS_COLUMN].as_i64().unwrap()
                    <= stats["maxValues"][TIME_TICKS_COLUMN].as_i64().unwrap()
            );
            assert!(stats["minValues"].get("Computer").is_none());
        }
        assert!(!dir.path().join("spool").exists());
    }

    #[test]
    fn spools_returning_days() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("table");
        let spool = dir.path().join("spool");
        let mut files = TableFiles::new(&TEST_TABLE, folder.clone(), spool.clone());
        // Three rounds over more days than files may stay open, as in a
        // file whose chunks come from many days in turn.
        let days = MAX_OPEN_FILES as i64 + 3;
        let mut expected: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        let mut event_id = 0;
        for _round in 0..3 {
            for day in 0..days {
                event_id += 1;
                files.write(batch(&[(day, event_id)])).unwrap();
                let date = format!("2024-01-{:02}", day + 1);
                expected.entry(date).or_default().push(event_id);
            }
        }
        assert!(spool.exists(), "rows of returning days are spooled");
        let adds = files.finish().unwrap();

        let mut written = read_back(&folder, &adds);
        for ids in written.values_mut() {
            ids.sort();
        }
        assert_eq!(written, expected);
        let mut files_per_day: BTreeMap<&str, usize> = BTreeMap::new();
        for add in &adds {
            *files_per_day
                .entry(add.partition_values[DATE_COLUMN].as_deref().unwrap())
                .or_default() += 1;
        }
        assert!(files_per_day.values().all(|&n| n <= 2), "{files_per_day:?}");
        assert!(!spool.exists(), "the spool is deleted after encoding");
    }

    #[test]
    fn discard_removes_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("table");
        let spool = dir.path().join("spool");
        let mut files = TableFiles::new(&TEST_TABLE, folder.clone(), spool.clone());
        for round in 0..2 {
            for day in 0..(MAX_OPEN_FILES as i64 + 1) {
                files.write(batch(&[(day, round)])).unwrap();
            }
        }
        assert!(spool.exists());
        files.discard();
        let left: Vec<_> = walk(&folder);
        assert!(left.is_empty(), "{left:?}");
        assert!(!spool.exists());
    }

    fn walk(folder: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn rejects_a_batch_of_another_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = TableFiles::new(
            &crate::tables::EVENT,
            dir.path().join("table"),
            dir.path().join("spool"),
        );
        let err = files.write(batch(&[(0, 1)])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("Event"), "{message}");
        assert!(message.contains("storage schema"), "{message}");
    }
}
