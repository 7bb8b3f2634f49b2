//! Errors of the server crate.

use std::path::PathBuf;

/// An error that stops `homesoc up` or a `homesoc keys` command.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file of the server's state could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `homesoc.toml` is not valid.
    #[error("invalid configuration {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    /// A command-line value is not valid.
    #[error("{0}")]
    Usage(String),
    /// The TLS certificate or key could not be made or loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The workspace failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Rule results or notifications could not be read or settled.
    #[error(transparent)]
    Detect(#[from] detect::DetectError),

    /// The flush at shutdown failed. Nothing is lost: the rows stay in
    /// the write-ahead log.
    #[error(
        "the last flush to the tables failed: {0}; the acknowledged rows stay in the write-ahead log and the next start replays them"
    )]
    FinalFlush(store::StoreError),
    /// The auth file is not valid.
    #[error(
        "invalid auth file {path}: {reason}; restore it from a backup or delete it to start over (all keys are then revoked)"
    )]
    AuthFile { path: PathBuf, reason: String },
    /// No key with this id.
    #[error("no API key with id {0}; list the keys with `homesoc keys list`")]
    UnknownKey(String),
}

pub(crate) fn io_error(path: &std::path::Path, source: std::io::Error) -> ServerError {
    ServerError::Io {
        path: path.to_path_buf(),
        source,
    }
}
