//! Durable live ingestion: a write-ahead log, a memtable and a background
//! flush to the Delta tables.
//!
//! [`LiveStore::append`] hands a batch to the WAL writer thread, which
//! writes every batch that is waiting as one group and syncs the log once
//! for the group (group commit). Only then does the batch enter the
//! [`Memtable`], where queries through [`crate::catalog::load`] see it, and
//! only then does `append` return: an acknowledged batch is on disk.
//!
//! [`LiveStore::flush`] starts a new WAL segment, writes the memtable's rows
//! of the older segments to Parquet, commits them to each table with the
//! last WAL sequence number as a Delta application transaction
//! ([`LIVE_APP_ID`]), and then deletes the older segments. Recovery
//! ([`LiveStore::open`]) replays the WAL into the memtable, skipping the
//! records that a table's transaction version says it holds already, so
//! no row is lost or stored twice, even when a crash falls between the
//! commits of two tables. A record cut short by a crash fails its checksum
//! and is cut from the log with a warning.

pub mod memtable;
pub mod stats;
pub mod wal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use tokio::sync::{Notify, oneshot};
use tracing::{info, warn};

use crate::error::StoreError;
use crate::files::TableFiles;
use crate::schema::{TableDef, storage_schema};
use crate::tables::ALL_TABLES;
use crate::workspace::Workspace;

pub use memtable::Memtable;
pub use stats::LiveStats;

/// The Delta application id whose version is the last WAL sequence number
/// that a table holds.
pub const LIVE_APP_ID: &str = "homesoc-live";

/// Tuning of a [`LiveStore`].
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Flush at least this often when the memtable holds rows.
    pub flush_interval: Duration,
    /// Flush early once the memtable holds this many rows.
    pub flush_rows: usize,
    /// Refuse new batches ([`StoreError::Overloaded`]) while the memtable
    /// holds this many rows, until a flush catches up.
    pub max_memtable_rows: usize,
    /// Batches written together in one WAL sync at most.
    pub max_group: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            flush_interval: Duration::from_secs(10),
            flush_rows: 1_000_000,
            max_memtable_rows: 4_000_000,
            max_group: 4096,
        }
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// The last WAL sequence number now held by the Delta tables.
    pub last_seq: u64,
    /// Rows committed, over all tables.
    pub rows: usize,
    /// WAL segments deleted.
    pub segments_removed: usize,
}

/// What recovery found in the WAL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Rows replayed into the memtable.
    pub rows: usize,
    /// Records skipped because their table held them already.
    pub skipped_records: usize,
    /// Segments whose torn tail was cut.
    pub torn_segments: usize,
}

enum Request {
    Append {
        table: &'static TableDef,
        batch: RecordBatch,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Start a new segment; replies with the last sequence number written
    /// and the first sequence number of the segment now open.
    Rotate {
        reply: oneshot::Sender<Result<(u64, u64), StoreError>>,
    },
}

/// The live ingestion side of a workspace. See the module docs.
pub struct LiveStore {
    workspace: Workspace,
    wal_folder: PathBuf,
    memtable: Arc<Memtable>,
    stats: Arc<LiveStats>,
    options: LiveOptions,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    flush_lock: tokio::sync::Mutex<()>,
    flush_wanted: Arc<Notify>,
}

impl LiveStore {
    /// Opens the WAL of `workspace`, replays it into a new memtable and
    /// attaches the memtable to the workspace so that catalogs read it.
    /// The caller must hold the workspace's write lock.
    pub async fn open(
        workspace: &Workspace,
        options: LiveOptions,
    ) -> Result<(LiveStore, Recovery), StoreError> {
        let wal_folder = workspace.root().join("wal");
        std::fs::create_dir_all(&wal_folder).map_err(|source| StoreError::Io {
            path: wal_folder.clone(),
            source,
        })?;
        let mut flushed: HashMap<&'static str, u64> = HashMap::new();
        for table in ALL_TABLES {
            flushed.insert(table.name, workspace.live_flushed_seq(table).await?);
        }
        let memtable = Arc::new(Memtable::default());
        let (recovery, max_seq) = replay(&wal_folder, &flushed, &memtable)?;
        if recovery.rows > 0 || recovery.torn_segments > 0 {
            info!(
                rows = recovery.rows,
                skipped_records = recovery.skipped_records,
                torn_segments = recovery.torn_segments,
                "replayed the write-ahead log"
            );
        }

        let next_seq = max_seq + 1;
        let segment = wal::SegmentWriter::create(&wal_folder, next_seq)?;
        let stats = Arc::new(LiveStats::default());
        let flush_wanted = Arc::new(Notify::new());
        let (sender, receiver) = mpsc::channel();
        let writer = WalWriter {
            folder: wal_folder.clone(),
            segment,
            segment_first: next_seq,
            next_seq,
            memtable: memtable.clone(),
            stats: stats.clone(),
            flush_wanted: flush_wanted.clone(),
            flush_rows: options.flush_rows,
            max_group: options.max_group,
        };
        let handle = std::thread::Builder::new()
            .name("homesoc-wal".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| StoreError::Io {
                path: wal_folder.clone(),
                source,
            })?;
        workspace.attach_memtable(memtable.clone());
        Ok((
            LiveStore {
                workspace: workspace.clone(),
                wal_folder,
                memtable,
                stats,
                options,
                requests: Mutex::new(Some(sender)),
                writer: Mutex::new(Some(handle)),
                flush_lock: tokio::sync::Mutex::new(()),
                flush_wanted,
            },
            recovery,
        ))
    }

    /// Counters and the WAL sync latency histogram.
    pub fn stats(&self) -> &Arc<LiveStats> {
        &self.stats
    }

    /// The memtable, for catalogs and tests.
    pub fn memtable(&self) -> &Arc<Memtable> {
        &self.memtable
    }

    /// Writes `batch`, in `table`'s storage schema, to the WAL and returns
    /// its sequence number once the WAL is synced and the rows are in the
    /// memtable. Fails with [`StoreError::DiskFull`] when the disk is full
    /// (nothing of the batch is kept), [`StoreError::Overloaded`] while the
    /// memtable is at its limit, and [`StoreError::Closed`] after
    /// [`LiveStore::close`].
    pub async fn append(
        &self,
        table: &'static TableDef,
        batch: RecordBatch,
    ) -> Result<u64, StoreError> {
        if batch.schema().fields() != storage_schema(table).fields() {
            return Err(StoreError::InvalidBatch {
                table: table.name.to_string(),
                reason: "the columns differ from the storage schema".to_string(),
            });
        }
        let held = self.memtable.rows();
        if held >= self.options.max_memtable_rows {
            self.flush_wanted.notify_one();
            return Err(StoreError::Overloaded { rows: held });
        }
        let mut payload = Vec::with_capacity(batch.get_array_memory_size() / 2 + 256);
        wal::encode_payload(&mut payload, table, &batch)?;
        let (reply, answer) = oneshot::channel();
        self.send(Request::Append {
            table,
            batch,
            payload,
            reply,
        })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let sender = requests.as_ref().ok_or(StoreError::Closed)?;
        sender.send(request).map_err(|_| StoreError::Closed)
    }

    /// Commits the memtable's rows to the Delta tables and deletes the WAL
    /// segments they came from. One flush runs at a time.
    pub async fn flush(&self) -> Result<FlushReport, StoreError> {
        let _one_at_a_time = self.flush_lock.lock().await;
        let (reply, answer) = oneshot::channel();
        self.send(Request::Rotate { reply })?;
        let (last_seq, open_segment) = answer.await.map_err(|_| StoreError::Closed)??;

        let mut report = FlushReport {
            last_seq,
            ..FlushReport::default()
        };
        for (table, batches) in self.memtable.up_to(last_seq) {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let folder = self.workspace.table_path(table.name);
            let spool = self
                .workspace
                .root()
                .join("tmp")
                .join(format!("live-{}", uuid::Uuid::new_v4()));
            let adds = tokio::task::spawn_blocking(move || {
                let mut files = TableFiles::new(table, folder, spool);
                let written = batches
                    .into_iter()
                    .try_for_each(|batch| files.write(batch))
                    .and_then(|()| files.finish());
                match written {
                    Ok(adds) => Ok(adds),
                    Err(err) => {
                        files.discard();
                        Err(err)
                    }
                }
            })
            .await
            .map_err(|join| StoreError::Scan {
                table: table.name.to_string(),
                reason: format!("the flush task failed: {join}"),
            })??;

            // The log segments are deleted after the flush, so the rows must
            // be on disk before that, not only in the page cache.
            let table_folder = self.workspace.table_path(table.name);
            let data_files: Vec<PathBuf> = adds
                .iter()
                .map(|add| table_folder.join(&add.path))
                .collect();
            crate::durable::sync_files(data_files).await?;

            let _no_readers = self.memtable.visibility.write().await;
            self.workspace.commit_live(table, adds, last_seq).await?;
            crate::durable::sync_delta_log(table_folder.join("_delta_log")).await?;
            self.memtable.remove_up_to(table.name, last_seq);
            report.rows += rows;
        }

        for (first_seq, path) in wal::list_segments(&self.wal_folder)? {
            if first_seq < open_segment {
                std::fs::remove_file(&path).map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
                report.segments_removed += 1;
            }
        }
        if report.segments_removed > 0 {
            wal::sync_folder(&self.wal_folder)?;
        }
        self.stats.record_flush(report.rows);
        Ok(report)
    }

    /// Runs the background flush until `shutdown` resolves: every flush
    /// interval, or sooner when the memtable passes its flush size. A
    /// failed flush is logged and retried at the next turn; the rows stay
    /// in the memtable and the WAL meanwhile.
    pub async fn run_flusher(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.options.flush_interval) => {}
                () = self.flush_wanted.notified() => {}
            }
            if self.memtable.rows() == 0 {
                continue;
            }
            let started = Instant::now();
            match self.flush().await {
                Ok(report) => info!(
                    rows = report.rows,
                    last_seq = report.last_seq,
                    segments_removed = report.segments_removed,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "flushed the memtable"
                ),
                Err(err) => {
                    self.stats.record_flush_error();
                    warn!(error = %err, "flush failed; the rows stay in the write-ahead log");
                }
            }
        }
    }

    /// Flushes what the memtable holds and stops the WAL writer. Later
    /// appends fail with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<FlushReport, StoreError> {
        let report = self.flush().await;
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        report
    }
}

/// Reads every segment into the memtable. Returns what was found and the
/// largest sequence number seen, in the WAL or in the tables.
fn replay(
    folder: &Path,
    flushed: &HashMap<&'static str, u64>,
    memtable: &Memtable,
) -> Result<(Recovery, u64), StoreError> {
    let mut recovery = Recovery::default();
    let mut max_seq = flushed.values().copied().max().unwrap_or(0);
    for (_, path) in wal::list_segments(folder)? {
        let contents = wal::read_segment(&path)?;
        if let Some(reason) = &contents.torn {
            warn!(
                path = %path.display(),
                offset = contents.valid_bytes,
                reason = %reason,
                "cut a torn write-ahead log tail; the batch it held was never acknowledged"
            );
            wal::cut_segment(&path, contents.valid_bytes)?;
            recovery.torn_segments += 1;
        }
        for record in contents.records {
            max_seq = max_seq.max(record.seq);
            if record.seq <= flushed.get(record.table.name).copied().unwrap_or(0) {
                recovery.skipped_records += 1;
                continue;
            }
            for batch in record.batches {
                recovery.rows += batch.num_rows();
                memtable.insert(record.table, record.seq, batch);
            }
        }
    }
    Ok((recovery, max_seq))
}

/// The thread that owns the open segment.
struct WalWriter {
    folder: PathBuf,
    segment: wal::SegmentWriter,
    segment_first: u64,
    next_seq: u64,
    memtable: Arc<Memtable>,
    stats: Arc<LiveStats>,
    flush_wanted: Arc<Notify>,
    flush_rows: usize,
    max_group: usize,
}

type Pending = (
    u64,
    &'static TableDef,
    RecordBatch,
    oneshot::Sender<Result<u64, StoreError>>,
);

impl WalWriter {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        let mut bytes = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut rotations = Vec::new();
        while let Ok(first) = requests.recv() {
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append {
                        table,
                        batch,
                        payload,
                        reply,
                    } => {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        wal::frame_payload(&mut bytes, seq, &payload);
                        pending.push((seq, table, batch, reply));
                    }
                    Request::Rotate { reply } => rotations.push(reply),
                }
                if pending.len() < self.max_group && rotations.is_empty() {
                    next = requests.try_recv().ok();
                }
            }
            self.write_group(&mut bytes, &mut pending);
            for reply in rotations.drain(..) {
                let _ = reply.send(self.rotate());
            }
        }
    }

    fn write_group(&mut self, bytes: &mut Vec<u8>, pending: &mut Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        let started = Instant::now();
        let written = self.segment.append_durably(bytes);
        self.stats.record_sync(started.elapsed(), pending.len());
        bytes.clear();
        match written {
            Ok(()) => {
                for (seq, table, batch, reply) in pending.drain(..) {
                    self.memtable.insert(table, seq, batch);
                    let _ = reply.send(Ok(seq));
                }
                if self.memtable.rows() >= self.flush_rows {
                    self.flush_wanted.notify_one();
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batches = pending.len(), "write-ahead log write failed; the batches are refused");
                let disk_full = matches!(&err, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull);
                for (_, _, _, reply) in pending.drain(..) {
                    let failure = if disk_full {
                        StoreError::DiskFull {
                            path: self.folder.clone(),
                        }
                    } else {
                        StoreError::Io {
                            path: self.folder.clone(),
                            source: std::io::Error::other(err.to_string()),
                        }
                    };
                    let _ = reply.send(Err(failure));
                }
            }
        }
    }

    fn rotate(&mut self) -> Result<(u64, u64), StoreError> {
        let last_seq = self.next_seq - 1;
        if !self.segment.is_empty() {
            self.segment = wal::SegmentWriter::create(&self.folder, self.next_seq)?;
            self.segment_first = self.next_seq;
        }
        Ok((last_seq, self.segment_first))
    }
}
