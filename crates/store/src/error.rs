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
        "the workspace is locked by another import ({path}); wait for it to finish and run the import again"
    )]
    Locked { path: PathBuf },
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
