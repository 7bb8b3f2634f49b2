//! Errors of the store crate.

use std::path::PathBuf;

/// An error while reading or writing the workspace.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation on the workspace failed.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process is writing to the workspace.
    #[error(
        "the workspace is locked by another import or a running `homesoc up` ({path}); wait for the import to finish, or send events to the server instead, and try again"
    )]
    Locked { path: PathBuf },
    /// The disk holding the write-ahead log is full; the batch was not kept.
    #[error("the disk holding {path} is full; free space and send the batch again")]
    DiskFull { path: PathBuf },
    /// The memtable holds as many rows as it may until a flush catches up.
    #[error("live ingestion is behind ({rows} rows wait for the flush); retry shortly")]
    Overloaded { rows: usize },
    /// Live ingestion was shut down.
    #[error("live ingestion is shut down")]
    Closed,
    /// The workspace path cannot be turned into a file URL.
    #[error("invalid workspace path {path}: use an absolute path to a local folder")]
    InvalidPath { path: PathBuf },
    /// A batch handed to the store does not have the table's storage layout.
    #[error("rows for table {table} do not match its storage layout: {reason}")]
    InvalidBatch { table: String, reason: String },
    /// The scan plan of a table could not be built; a bug in homesoc.
    #[error("cannot build the scan of table {table}: {reason}")]
    Scan { table: String, reason: String },
    /// A Delta Lake operation on one table failed.
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
}

impl StoreError {
    pub(crate) fn delta(table: &str, source: deltalake::DeltaTableError) -> StoreError {
        StoreError::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}
