//! The syslog and CEF parsers of `crates/ingest`, compiled from their own
//! source files without the rest of the crate.
//!
//! The `ingest` crate depends on the Delta Lake and DataFusion stack, which
//! takes far longer to build with the fuzzer's instrumentation than the
//! parsers themselves. The parser modules depend only on `chrono` and
//! `thiserror`, so they are included here by path; the row mapping
//! (`rows.rs`), which needs the store, is exercised by the random-input
//! test in `crates/ingest/tests/syslog_random_input.rs` instead.

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
