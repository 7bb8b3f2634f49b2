//! The syslog listeners of `homesoc up`: UDP, TCP and TLS sockets that
//! feed one [`SyslogPipeline`], whose rows go to the live store's
//! write-ahead log like every other source's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingest::sink::{RowSink, SinkError, SinkFuture, now_ticks};
use ingest::syslog::{Limits, SyslogMetrics, SyslogPipeline, serve_tcp, serve_tls, serve_udp};
use store::StoreError;
use store::builder::{Row, TableBatchBuilder};
use store::live::LiveStore;
use store::schema::TableDef;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::SyslogConfig;
use crate::error::ServerError;

/// A [`RowSink`] that appends to the live store: the rows are durable in
/// the write-ahead log and queryable when `write_rows` returns `Ok`.
pub struct LiveSink {
    live: Arc<LiveStore>,
    /// Recorded as `_ImportId` prefix of the batches, such as `syslog`.
    source: &'static str,
}

impl LiveSink {
    /// Creates a sink that appends to `live`, naming batches after `source`.
    pub fn new(live: Arc<LiveStore>, source: &'static str) -> LiveSink {
        LiveSink { live, source }
    }

    async fn write(&self, table: &'static TableDef, rows: Vec<Row>) -> Result<(), SinkError> {
        let row_count = rows.len();
        let batch_id = format!("{}-{}", self.source, uuid::Uuid::new_v4());
        let mut builder = TableBatchBuilder::new(table, &batch_id, now_ticks(), row_count);
        for row in &rows {
            builder.append_row(row).map_err(|err| SinkError::Failed {
                table: table.name,
                rows: row_count,
                reason: err.to_string(),
            })?;
        }
        match self.live.append(table, builder.finish()).await {
            Ok(_) => Ok(()),
            Err(
                err @ (StoreError::DiskFull { .. }
                | StoreError::Overloaded { .. }
                | StoreError::Closed),
            ) => Err(SinkError::Unavailable {
                reason: err.to_string(),
            }),
            Err(err) => Err(SinkError::Failed {
                table: table.name,
                rows: row_count,
                reason: err.to_string(),
            }),
        }
    }
}

impl RowSink for LiveSink {
    fn write_rows<'a>(&'a self, table: &'static TableDef, rows: Vec<Row>) -> SinkFuture<'a> {
        Box::pin(self.write(table, rows))
    }
}

/// The addresses to listen on, after command-line flags override the
/// configuration file.
#[derive(Debug, Clone, Default)]
pub struct SyslogAddresses {
    pub udp: Option<String>,
    pub tcp: Option<String>,
    pub tls: Option<String>,
}

impl SyslogAddresses {
    /// Returns whether no listener is configured.
    pub fn is_empty(&self) -> bool {
        self.udp.is_none() && self.tcp.is_none() && self.tls.is_none()
    }
}

/// Running listeners and the batching task behind them.
pub struct SyslogListeners {
    metrics: Arc<SyslogMetrics>,
    shutdown: CancellationToken,
    listeners: Vec<JoinHandle<()>>,
    batcher: JoinHandle<()>,
    /// The bound addresses, for the start-up message and tests.
    pub bound: Vec<(&'static str, SocketAddr)>,
}

impl SyslogListeners {
    /// Returns the listeners' counters, to render at `/metrics`.
    pub fn metrics(&self) -> Arc<SyslogMetrics> {
        self.metrics.clone()
    }

    /// Stops accepting, waits for open connections to hand on the frames
    /// they read, and waits until every parsed row reached the live store.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for listener in self.listeners {
            let _ = listener.await;
        }
        // The listeners held the last pipeline clones, so the batcher now
        // flushes what it holds and ends.
        let _ = self.batcher.await;
        info!("syslog listeners stopped");
    }
}

/// Binds every configured socket, then starts the listeners. Fails before
/// starting anything when an address is invalid or cannot be bound.
///
/// `tls` gives the PEM certificate chain and key that the TLS listener
/// serves; it is needed only when `addresses.tls` is set.
pub async fn start(
    addresses: &SyslogAddresses,
    settings: &SyslogConfig,
    allow_remote: bool,
    tls: Option<(PathBuf, PathBuf)>,
    live: Arc<LiveStore>,
) -> Result<SyslogListeners, ServerError> {
    let udp = match &addresses.udp {
        Some(text) => {
            let address = parse_address("--syslog-udp", text, allow_remote)?;
            let socket = tokio::net::UdpSocket::bind(address)
                .await
                .map_err(|err| bind_error("UDP", text, err))?;
            Some(socket)
        }
        None => None,
    };
    let tcp = match &addresses.tcp {
        Some(text) => {
            let address = parse_address("--syslog-tcp", text, allow_remote)?;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| bind_error("TCP", text, err))?;
            Some(listener)
        }
        None => None,
    };
    let tls_listener = match &addresses.tls {
        Some(text) => {
            let address = parse_address("--syslog-tls", text, allow_remote)?;
            let (cert, key) = tls.ok_or_else(|| {
                ServerError::Usage("the syslog TLS listener needs a certificate".to_string())
            })?;
            let config = server_config(&cert, &key)?;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| bind_error("TLS", text, err))?;
            Some((listener, config))
        }
        None => None,
    };

    let mut limits = Limits::default();
    if let Some(bytes) = settings.max_message_bytes {
        limits.max_message_bytes = bytes;
    }
    if let Some(connections) = settings.max_connections {
        limits.max_connections = connections;
    }
    let host = hostname();
    let sink: Arc<dyn RowSink> = Arc::new(LiveSink::new(live, "syslog"));
    let (pipeline, batcher) = SyslogPipeline::start(sink, limits, host);
    let shutdown = CancellationToken::new();
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    if let Some(socket) = udp {
        if let Ok(address) = socket.local_addr() {
            bound.push(("udp", address));
        }
        listeners.push(tokio::spawn(serve_udp(
            socket,
            pipeline.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(listener) = tcp {
        if let Ok(address) = listener.local_addr() {
            bound.push(("tcp", address));
        }
        listeners.push(tokio::spawn(serve_tcp(
            listener,
            pipeline.clone(),
            shutdown.clone(),
        )));
    }
    if let Some((listener, config)) = tls_listener {
        if let Ok(address) = listener.local_addr() {
            bound.push(("tls", address));
        }
        listeners.push(tokio::spawn(serve_tls(
            listener,
            config,
            pipeline.clone(),
            shutdown.clone(),
        )));
    }
    let metrics = pipeline.metrics();
    drop(pipeline);
    Ok(SyslogListeners {
        metrics,
        shutdown,
        listeners,
        batcher,
        bound,
    })
}

fn parse_address(flag: &str, text: &str, allow_remote: bool) -> Result<SocketAddr, ServerError> {
    let address: SocketAddr = text.parse().map_err(|_| {
        ServerError::Usage(format!(
            "invalid syslog address {text} ({flag}); use IP:PORT such as 127.0.0.1:5514"
        ))
    })?;
    if !address.ip().is_loopback() && !allow_remote {
        return Err(ServerError::Usage(format!(
            "syslog address {address} accepts messages from other machines; pass --allow-remote to confirm, or listen on 127.0.0.1"
        )));
    }
    Ok(address)
}

fn bind_error(transport: &str, address: &str, err: std::io::Error) -> ServerError {
    let hint = match err.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE, so use a port such as 5514"
        }
        std::io::ErrorKind::AddrInUse => "; another program listens there, so pick another port",
        _ => "",
    };
    ServerError::Usage(format!(
        "cannot listen for syslog over {transport} on {address}: {err}{hint}"
    ))
}

/// Builds the TLS settings of the syslog listener from PEM files.
fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let tls_error = |path: &Path, reason: String| {
        ServerError::Tls(format!("cannot load {}: {reason}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| tls_error(cert, err.to_string()))?;
    if chain.is_empty() {
        return Err(tls_error(cert, "the file holds no certificate".to_string()));
    }
    let private_key =
        PrivateKeyDer::from_pem_file(key).map_err(|err| tls_error(key, err.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ServerError::Tls(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|err| tls_error(cert, err.to_string()))?;
    Ok(Arc::new(config))
}

/// The name of this machine, for `CollectorHostName`.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}
