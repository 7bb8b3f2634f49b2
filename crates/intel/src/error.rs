//! The error type of the intel crate.

use std::path::PathBuf;

/// Why reading, fetching or storing threat intelligence failed.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The feed source could not be read: a network failure after every
    /// retry, a refused connection or a missing local file.
    #[error(
        "cannot fetch {location}: {reason}; check the URL or path and that the server is reachable"
    )]
    Fetch { location: String, reason: String },

    /// The TLS handshake with the server failed. `fix` names the setting
    /// or check that resolves it.
    #[error("cannot fetch {location}: TLS failed: {reason}; {fix}")]
    Tls {
        location: String,
        reason: String,
        fix: &'static str,
    },

    /// The server answered with a status other than 200 or 304.
    #[error(
        "{location} answered HTTP {status}; check the feed URL, or try again later if the server is failing"
    )]
    HttpStatus { location: String, status: u16 },

    /// The server rejected the credentials (HTTP 401 or 403).
    #[error(
        "{location} returned HTTP {status}: the server rejected the credentials; check the feed's user and its password file or environment variable"
    )]
    Unauthorized { location: String, status: u16 },

    /// The source returned an HTML page where a feed was expected, which is
    /// what error and login pages look like.
    #[error("{location} returned an HTML page, not a feed; check the feed URL")]
    HtmlPage { location: String },

    /// Feed content that does not have the expected format.
    #[error("invalid {what} from {location}: {reason}")]
    InvalidContent {
        what: &'static str,
        location: String,
        reason: String,
    },

    /// A CSV feed whose rows do not have the configured value column.
    #[error(
        "no row of {location} has column {column} (rows have at most {max_columns} columns); set the feed's value column with --value-column"
    )]
    MissingCsvColumn {
        location: String,
        column: usize,
        max_columns: usize,
    },

    /// A feed configuration that cannot be used.
    #[error("invalid feed configuration: {0}")]
    InvalidConfig(String),

    /// No feed has this name.
    #[error("no feed is named {name:?}; run `homesoc intel feeds list` to see the names")]
    UnknownFeed { name: String },

    /// A file of the workspace's intel folder could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file of the workspace's intel folder is not valid JSON.
    #[error("cannot parse {path}: {source}; fix or remove the file")]
    StateFile {
        path: PathBuf,
        source: serde_json::Error,
    },

    /// Writing or reading a table failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),

    /// DataFusion failed while reading the indicator table.
    #[error("cannot read table {table}: {source}")]
    Query {
        table: &'static str,
        source: datafusion::error::DataFusionError,
    },

    /// A bug: a blocking task panicked or an invariant broke.
    #[error("internal error: {0}")]
    Internal(String),
}
