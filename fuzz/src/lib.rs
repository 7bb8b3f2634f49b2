//! The syslog and CEF parsers of `crates/ingest` and, with the `engine`
//! feature, the shipper body parsing of `crates/server`, compiled from
//! their own source files without the rest of those crates.
//!
//! The `ingest` crate depends on the Delta Lake and DataFusion stack, which
//! takes far longer to build with the fuzzer's instrumentation than the
//! parsers themselves. The parser modules depend only on `chrono` and
//! `thiserror`, so they are included here by path; the row mapping
//! (`rows.rs`), which needs the store, is exercised by the random-input
//! test in `crates/ingest/tests/syslog_random_input.rs` instead.
//!
//! The server crate pulls in the HTTP and TLS stack, so the `shipper_json`
//! target includes only `bulk_body.rs` and `dcr.rs` and depends on the
//! `engine`, `store` and `ingest` crates, which `kql_plan` builds anyway.

#![allow(dead_code)]

#[path = "../../crates/ingest/src/syslog/cef.rs"]
pub mod cef;
#[path = "../../crates/ingest/src/syslog/error.rs"]
pub mod error;
#[path = "../../crates/ingest/src/syslog/framing.rs"]
pub mod framing;
#[path = "../../crates/ingest/src/syslog/message.rs"]
pub mod message;
#[path = "../../crates/ingest/src/syslog/metrics.rs"]
pub mod metrics;
#[path = "../../crates/ingest/src/syslog/rfc3164.rs"]
pub mod rfc3164;
#[path = "../../crates/ingest/src/syslog/rfc5424.rs"]
pub mod rfc5424;

/// The module path that `error.rs` names its metrics by.
pub mod syslog {
    pub use super::{message, metrics};
}

#[cfg(feature = "engine")]
#[path = "../../crates/server/src/bulk_body.rs"]
pub mod bulk_body;
#[cfg(feature = "engine")]
#[path = "../../crates/server/src/dcr.rs"]
pub mod dcr;

/// The fields of the server's `StreamConfig` that `dcr.rs` reads. A field
/// renamed in the server breaks this build, which is the intent.
#[cfg(feature = "engine")]
pub mod config {
    use std::collections::BTreeMap;

    pub struct StreamConfig {
        pub name: String,
        pub table: String,
        pub transform_kql: String,
        pub columns: BTreeMap<String, String>,
    }
}
