//! Where live sources hand their rows: the [`RowSink`] trait, and
//! [`WorkspaceSink`], which commits each batch to the workspace's Delta
//! tables.

use std::future::Future;
use std::pin::Pin;

use store::Workspace;
use store::builder::{Row, TableBatchBuilder};
use store::schema::TableDef;

/// Why a sink did not store a batch. In both cases none of the batch's
/// rows were stored.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink cannot take rows now (disk full, shutting down); a later
    /// batch may succeed.
    #[error("the sink is unavailable: {reason}")]
    Unavailable { reason: String },
    /// Storing the batch failed.
    #[error("the sink failed to store {rows} rows of {table}: {reason}")]
    Failed {
        table: &'static str,
        rows: usize,
        reason: String,
    },
}

/// The future a [`RowSink`] returns.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// A destination for rows from live sources.
///
/// Sources call [`RowSink::write_rows`] with one table's rows at a time and
/// wait for the result before they count the rows as accepted. The trait is
/// object safe, so a server can share one `Arc<dyn RowSink>` among sources.
pub trait RowSink: Send + Sync {
    /// Stores rows of one table. Every row belongs to `table` and has its
    /// `TimeGenerated` set.
    ///
    /// Returns `Ok` only once every row is durably stored, meaning it survives
    /// a crash of the process. Returns an error when none of the rows were
    /// stored. A sink must not store part of a batch and return an error.
    fn write_rows<'a>(&'a self, table: &'static TableDef, rows: Vec<Row>) -> SinkFuture<'a>;
}

/// A sink that commits each batch to the workspace's Delta table as one
/// Delta commit, recorded as an import with a new random id.
///
/// A Delta commit per batch suits low rates and tests; at high rates the
/// small files call for compaction. The server's write-ahead log is the
/// sink meant for `homesoc up`.
#[derive(Debug, Clone)]
pub struct WorkspaceSink {
    workspace: Workspace,
    source: String,
}

impl WorkspaceSink {
    /// Creates a sink that writes to `workspace`, recording `source` (such
    /// as `syslog`) as each commit's source.
    pub fn new(workspace: Workspace, source: impl Into<String>) -> WorkspaceSink {
        WorkspaceSink {
            workspace,
            source: source.into(),
        }
    }

    async fn write(&self, table: &'static TableDef, rows: Vec<Row>) -> Result<(), SinkError> {
        let row_count = rows.len();
        let failed = |reason: String| SinkError::Failed {
            table: table.name,
            rows: row_count,
            reason,
        };
        let import_id = format!("{}-{}", self.source, uuid::Uuid::new_v4());
        let mut import = self.workspace.begin_import(&import_id, &self.source);

        // Encoding Parquet blocks, so it runs off the async threads.
        let import = tokio::task::spawn_blocking(move || {
            let ingest_ticks = now_ticks();
            let mut builder = TableBatchBuilder::new(table, &import_id, ingest_ticks, rows.len());
            for row in &rows {
                builder.append_row(row).map_err(|err| err.to_string())?;
            }
            import
                .write(table, builder.finish())
                .map_err(|err| err.to_string())?;
            import.finish_files().map_err(|err| err.to_string())?;
            Ok::<_, String>(import)
        })
        .await
        .map_err(|err| failed(err.to_string()))?
        .map_err(failed)?;

        import
            .commit()
            .await
            .map_err(|err| failed(err.to_string()))?;
        Ok(())
    }
}

impl RowSink for WorkspaceSink {
    fn write_rows<'a>(&'a self, table: &'static TableDef, rows: Vec<Row>) -> SinkFuture<'a> {
        Box::pin(self.write(table, rows))
    }
}

/// Returns the current time in 100 ns ticks since the Unix epoch.
pub fn now_ticks() -> i64 {
    let now = chrono::Utc::now();
    now.timestamp() * 10_000_000 + i64::from(now.timestamp_subsec_nanos() / 100)
}
