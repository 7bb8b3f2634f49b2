//! Syslog over UDP, TCP and TLS into the `Syslog` and `CommonSecurityLog`
//! tables.
//!
//! - [`parse_message`] turns one framed message (RFC 5424, RFC 3164, or
//!   CEF, bare or carried in syslog) into a row.
//! - [`serve_udp`], [`serve_tcp`] and [`serve_tls`] run listeners on
//!   sockets the caller bound, feeding a [`SyslogPipeline`] that batches
//!   rows into a [`crate::sink::RowSink`] and counts every message in
//!   [`SyslogMetrics`].
//!
//! A typical server starts one pipeline and the listeners it wants:
//!
//! ```no_run
//! # async fn run(sink: std::sync::Arc<dyn ingest::sink::RowSink>) -> std::io::Result<()> {
//! use ingest::syslog::{Limits, SyslogPipeline, serve_tcp, serve_udp};
//! use tokio_util::sync::CancellationToken;
//!
//! let shutdown = CancellationToken::new();
//! let (pipeline, batcher) = SyslogPipeline::start(sink, Limits::default(), None);
//! let udp = tokio::net::UdpSocket::bind("127.0.0.1:5514").await?;
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:5514").await?;
//! let udp_task = tokio::spawn(serve_udp(udp, pipeline.clone(), shutdown.clone()));
//! let tcp_task = tokio::spawn(serve_tcp(tcp, pipeline, shutdown.clone()));
//! // ... on SIGTERM:
//! shutdown.cancel();
//! let _ = udp_task.await;
//! let _ = tcp_task.await;
//! // Every pipeline clone is gone now, so the batcher flushes and ends.
//! let _ = batcher.await;
//! # Ok(())
//! # }
//! ```

pub mod cef;
pub mod cef_columns;
pub mod error;
pub mod framing;
pub mod limits;
pub mod listen;
pub mod message;
pub mod metrics;
pub mod pipeline;
pub mod rfc3164;
pub mod rfc5424;
pub mod rows;

pub use error::ParseError;
pub use limits::Limits;
pub use listen::{serve_tcp, serve_tls, serve_udp};
pub use message::{SyslogFormat, SyslogMessage};
pub use metrics::{DropReason, SourceSnapshot, SyslogMetrics, Transport};
pub use pipeline::SyslogPipeline;
pub use rows::{ReceiveContext, TimeGeneratedFrom, parse_message, parse_syslog};
