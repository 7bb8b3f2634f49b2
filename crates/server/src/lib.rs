//! `homesoc up`: the HTTPS server that receives events from shippers,
//! stores them durably through the workspace's write-ahead log, and
//! answers queries.
//!
//! - [`up`] starts everything and stops it cleanly on SIGINT or SIGTERM.
//! - [`logs_ingestion`] serves Azure Monitor's Logs Ingestion API shape,
//!   with data collection rules from [`config`] and transforms in
//!   [`dcr`]; [`bulk`] serves the Elasticsearch `_bulk` shape.
//! - [`query`] runs KQL for scripts and Kusto clients; [`api`] serves
//!   the incident and rule operations as JSON.
//! - [`syslog`] runs the syslog listeners into the same live store.
//! - [`auth`] checks API keys, passwords and sessions; [`metrics`] counts.
//! - [`ui`] is the web UI under `/ui`.

// Handlers return an early `Response` as their error, as axum's own
// extractors do; boxing it would only add an allocation per request.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod app;
pub mod auth;
pub mod bulk;
pub mod bulk_body;
pub mod config;
pub mod dcr;
pub mod error;
pub mod incident_change;
pub mod logs_ingestion;
pub mod metrics;
pub mod query;
pub mod rule_catalog;
pub mod syslog;
pub mod tls;
pub mod ui;
pub mod up;

pub use error::ServerError;
